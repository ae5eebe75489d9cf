"""SIMULATED market data: THUNES's embedded default venue, offline and keyless.

Nothing served here is real. Every candle and book tick is regenerated from `seed`, so a config
naming the simulator runs anywhere, identically, with no download, network or API key.

Model, per (symbol, timeframe), for a bar of dt years and sigma^2 = annual_volatility^2 dt:
- log-volatility v = sum of three AR(1) layers (half-lives 5 h, 4 d, 60 d);
  sigma_t = sigma exp(v_t - var v), so E[sigma_t^2] = sigma^2: volatility clusters;
- return r_t = sigma_t * unit-variance Student-t(5) + rare Poisson jumps: fat tails;
- log price x_t = m + (1 - k)(x_{t-1} - m) + r_t: no drift, mild mean reversion (half-life
  2 years) to m = log(start price), so a decade stays in a plausible range;
- open = previous close; high/low are exact Brownian-bridge extremes between open and close;
- volume (base units) rises with sigma_t and |r_t|, times lognormal noise.
Prices sit on the tick grid, volumes on the step grid. Each timeframe is its own path (a 4h
candle is not four 1h candles). Book ticks: the mid is a Brownian bridge between consecutive 1h
closes (ticks pass through every 1h open), with a spread of >= 1 tick, geometric in ticks.

Determinism: noise is drawn in fixed blocks (of bars, or one hour of ticks), each from a
generator seeded by sha256(seed, symbol, timeframe, block), and every transform is causal from
`origin`: a value never depends on the window, page or process that asks for it.

Seeking: a block of bars needs only the four AR(1) states the block before it ended in. Those
states are checkpointed per block under `<cache root>/sim/` (a few bytes per block, keyed on
this file and numpy), so a window late in the path generates its own blocks only: the last
1m candles of a decade cost one block, not the decade's 300 (~5 s). A start without the
checkpoint walks the states from origin once, without building the bars it skips.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from thunes.domain.market import Fees, MarketFilters, as_fees
from thunes.domain.ticks import BookTick
from thunes.domain.timeframes import timeframe_ms, utc_minute, utc_ms
from thunes.errors import ConfigError, DataError
from thunes.exchange.base import OhlcvRow
from thunes.exchange.latency import RestLatency
from thunes.paths import cache_root

if TYPE_CHECKING:
    import pandas as pd

_YEAR_MS = 365.25 * 86_400_000
_HOUR_MS = 3_600_000
_BLOCK = 1 << 14  # bars per noise block
_CACHE_BYTES = 600_000_000  # generated blocks kept in memory (1m since 2017 is ~250 MB)
_DEFAULT_PRICES = {"BTC": 20_000.0, "ETH": 1_500.0, "SOL": 40.0}
_NU = 5.0  # Student-t degrees of freedom
_VOL_LAYERS = ((0.2, 0.45), (4.0, 0.35), (60.0, 0.4))  # (half-life in days, sd of log-vol)
_JUMPS_PER_YEAR, _JUMP_SD = 12.0, 0.045  # jump size sd, as a multiple of annual volatility
_REVERSION_HALF_LIFE_Y = 2.0
_VOLUME_PER_DAY = 6e8  # typical daily volume, in quote units at the start price
_VOL_LOAD = (0.4, 0.25, 0.7)  # log volume loads on log-vol, |innovation|, noise
_COLUMNS = ["open", "high", "low", "close", "volume"]
_TICK_COLUMNS = ["bid", "bid_size", "ask", "ask_size"]
_MODEL = hashlib.sha256(Path(__file__).read_bytes() + np.__version__.encode()).hexdigest()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _rng(*key: object) -> np.random.Generator:
    """A generator keyed by a stable hash (never hash()): same key, same stream, any process."""
    digest = hashlib.sha256("|".join(map(str, key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _ar1(shocks: np.ndarray, phi: float, y_prev: float) -> np.ndarray:
    """y_t = phi y_{t-1} + shocks_t from y_{-1} = y_prev, by a log2(n)-pass doubling scan.

    Plain numpy on purpose: scipy.signal.lfilter would do, but takes ~0.7 s to import.
    """
    y, lag = shocks.copy(), 1
    while lag < len(y):
        y[lag:] += phi**lag * y[:-lag]  # the product is a temporary: reads the previous pass
        lag *= 2
    return y + phi ** np.arange(1, len(y) + 1) * y_prev


def _grid(values: np.ndarray, unit: float) -> np.ndarray:
    """Round to a power-of-ten `unit` as a decimal (1212.361, not 1212.3609999999999)."""
    return np.round(values, -round(math.log10(unit)))


def _utc_ms(ms: np.ndarray) -> pd.DatetimeIndex:
    """Epoch ms as the candle index every THUNES frame uses: UTC, ns, named 'timestamp'."""
    import pandas as pd  # the batch faces only: a paper run streams rows (fetch_ohlcv)

    return pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True), name="timestamp").as_unit("ns")


class SimExchange:
    """A seeded market simulator: the Exchange protocol plus batch and streaming faces."""

    name: str = "sim"
    needs_network: bool = False
    max_candles_per_call: int = 1_000_000
    latency: RestLatency | None = None  # no network: no round trip to show

    def __init__(
        self,
        seed: int = 7,
        fees: Fees | Mapping[str, float | bool] | None = None,
        slippage: float = 0.0005,
        origin: str = "2017-01-01",
        annual_volatility: float = 0.65,
        start_prices: Mapping[str, float] | None = None,
    ) -> None:
        self.seed = int(seed)
        self.fees = Fees(0.001, 0.001, True) if fees is None else as_fees(fees)
        self.slippage = float(slippage)
        self.origin, self.origin_ms = str(origin), utc_ms(str(origin))
        self.annual_volatility = float(annual_volatility)
        prices = {k: float(v) for k, v in (start_prices or {}).items()}
        self.start_prices = {**_DEFAULT_PRICES, **prices}
        self._blocks: dict[tuple[str, str, int], np.ndarray] = {}  # least recently used first
        self._starts: dict[tuple[str, str], list[np.ndarray]] = {}  # each block's start state
        self.clock: Callable[[], int] = _wall_ms  # a paper run swaps in its market clock

    # -- Exchange protocol -------------------------------------------------------------------
    def milliseconds(self) -> int:
        """Now on `clock` (the real wall clock unless a paper run's market clock replaced
        it), so history reaches now and the forming candle is withheld."""
        return self.clock()

    def market_filters(self, symbol: str) -> MarketFilters:
        """Binance-like filters, scaled to the asset's start price (BTC: tick 0.01, step 1e-5)."""
        price = self._start_price(symbol)
        tick = min(0.01, 10.0 ** (math.floor(math.log10(price)) - 6))
        step = 10.0 ** math.floor(math.log10(0.2 / price))
        return MarketFilters(tick_size=tick, step_size=step, min_qty=step, min_notional=5.0)

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> list[OhlcvRow]:
        """Closed candles opening at or after `since_ms`, oldest first, at most `limit`."""
        first, tf, i0, i1 = self._window(symbol, timeframe, since_ms, None)
        i1 = min(i1, i0 + max(0, limit))
        rows = self._rows(symbol, timeframe, i0, i1)[:, :5].tolist()
        times = (first + tf * np.arange(i0, i1, dtype=np.int64)).tolist()
        return [[t, *row] for t, row in zip(times, rows, strict=True)]

    # -- batch and streaming faces ---------------------------------------------------------
    def candles(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int | None = None
    ) -> pd.DataFrame:
        """Closed candles opening in [start_ms, end_ms) (end None: up to now), indexed by open."""
        import pandas as pd

        first, tf, i0, i1 = self._window(symbol, timeframe, start_ms, end_ms)
        rows = self._rows(symbol, timeframe, i0, i1)[:, :5]
        index = _utc_ms(first + tf * np.arange(i0, i1, dtype=np.int64))
        return pd.DataFrame(rows, index=index, columns=_COLUMNS, dtype="float64", copy=True)

    def stream_bars(
        self, symbol: str, timeframe: str, start_ms: int, live: bool = False
    ) -> Iterator[OhlcvRow]:
        """The closed candles of fetch_ohlcv one at a time; `live` waits for each new close."""
        since = start_ms
        while True:
            page = self.fetch_ohlcv(symbol, timeframe, since, 10_000)
            yield from page
            if page:
                since = int(page[-1][0]) + 1
            elif not live:
                return
            else:
                first, tf, i0, _ = self._window(symbol, timeframe, since, None)
                time.sleep(max(0.0, (first + (i0 + 1) * tf - self.milliseconds()) / 1000))

    def book_ticks(self, symbol: str, start_ms: int, n: int, step_ms: int = 100) -> pd.DataFrame:
        """Up to `n` best bid/ask ticks every `step_ms` from `start_ms`, none at or after now."""
        import pandas as pd

        if step_ms <= 0 or _HOUR_MS % step_ms:
            raise ConfigError(f"sim: tick step_ms={step_ms} must divide one hour (3600000 ms)")
        first, *_ = self._window(symbol, "1h", start_ms, None)
        t0 = max(first, -(-start_ms // step_ms) * step_ms)
        n = max(0, min(n, -(-(self.milliseconds() - t0) // step_ms)))
        if n == 0:
            empty = {c: np.empty(0) for c in _TICK_COLUMNS}
            return pd.DataFrame(empty, index=_utc_ms(np.empty(0, np.int64)))
        per_hour, filters = _HOUR_MS // step_ms, self.market_filters(symbol)
        h0, skip = divmod(t0 - first, _HOUR_MS)
        h1 = (t0 + (n - 1) * step_ms - first) // _HOUR_MS + 1
        hours = self._rows(symbol, "1h", h0, h1)
        draws = [self._tick_draws(symbol, step_ms, h, per_hour) for h in range(h0, h1)]
        z, spread, q_bid, q_ask = (np.stack(d) for d in zip(*draws, strict=True))
        walk = np.cumsum(z, axis=1) * (hours[:, 5:6] / math.sqrt(per_hour))
        frac = np.arange(1, per_hour + 1) / per_hour
        log_ret = np.log(hours[:, 3:4] / hours[:, 0:1])
        bridge = walk - frac * walk[:, -1:] + frac * log_ret  # pinned at the hour's close
        log_mid = np.concatenate([np.zeros((len(hours), 1)), bridge[:, :-1]], axis=1)
        sl = slice(skip // step_ms, skip // step_ms + n)
        mid = (hours[:, 0:1] * np.exp(log_mid)).ravel()[sl]
        width = spread.ravel()[sl]
        tick, step = filters.tick_size, filters.step_size
        bid_ticks = np.floor(mid / tick) - (width - 1) // 2
        bid, ask = (_grid(k * tick, tick) for k in (bid_ticks, bid_ticks + width))
        bid_size, ask_size = (
            _grid(np.maximum(2e4 * np.exp(q.ravel()[sl]) / mid, step), step) for q in (q_bid, q_ask)
        )
        return pd.DataFrame(
            dict(zip(_TICK_COLUMNS, (bid, bid_size, ask, ask_size), strict=True)),
            index=_utc_ms(t0 + step_ms * np.arange(n, dtype=np.int64)),
        )

    def stream_book_ticks(
        self, symbol: str, start_ms: int, step_ms: int = 100, live: bool = False
    ) -> Iterator[BookTick]:
        """book_ticks one at a time, an hour per batch; `live` waits for each new tick."""
        since = start_ms
        while True:
            batch = self.book_ticks(symbol, since, _HOUR_MS // step_ms, step_ms)
            times = (cast("pd.DatetimeIndex", batch.index).asi8 // 1_000_000).tolist()
            for t, (b, bs, a, as_) in zip(times, batch.itertuples(index=False), strict=True):
                yield BookTick(t, b, bs, a, as_)
            if times:
                since = times[-1] + step_ms
            elif not live:
                return
            else:
                next_tick = -(-since // step_ms) * step_ms
                time.sleep(max(1, next_tick - self.milliseconds() + 1) / 1000)

    # -- the model ---------------------------------------------------------------------------
    def _start_price(self, symbol: str) -> float:
        return float(self.start_prices.get(symbol.split("/")[0], 100.0))

    def _window(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int | None
    ) -> tuple[int, int, int, int]:
        """(first open, bar ms, i0, i1): the closed bars opening in [start_ms, end_ms)."""
        if start_ms < self.origin_ms:
            asked = utc_minute(start_ms)
            raise DataError(
                f"sim: no simulated {symbol} history before origin {self.origin} (asked {asked}); "
                "set exchange.origin earlier or start later"
            )
        tf = timeframe_ms(timeframe)
        offset = 4 * 86_400_000 if timeframe == "1w" else 0  # weeks open on Monday
        first = -(-(self.origin_ms - offset) // tf) * tf + offset
        closed = max(0, (self.milliseconds() - first) // tf)
        i0 = max(0, -(-(start_ms - first) // tf))
        i1 = closed if end_ms is None else min(closed, max(0, -(-(end_ms - first) // tf)))
        return first, tf, i0, max(i0, i1)

    def _rows(self, symbol: str, timeframe: str, i0: int, i1: int) -> np.ndarray:
        """Columns open, high, low, close, volume, sigma of bars [i0, i1), from their blocks."""
        b0 = i0 // _BLOCK
        blocks = [self._bars(symbol, timeframe, b) for b in range(b0, -(-i1 // _BLOCK))]
        rows = np.concatenate(blocks) if blocks else np.empty((0, 6))
        while len(self._blocks) > len(blocks) and self._held() > _CACHE_BYTES:
            del self._blocks[next(iter(self._blocks))]  # least recently used
        return rows[i0 - b0 * _BLOCK : i1 - b0 * _BLOCK]

    def _held(self) -> int:
        return sum(rows.nbytes for rows in self._blocks.values())

    def _bars(self, symbol: str, timeframe: str, block: int) -> np.ndarray:
        """One block of bars, kept (most recently used last)."""
        key = (symbol, timeframe, block)
        rows = self._blocks.pop(key, None)
        if rows is None:
            rows = self._block(symbol, timeframe, block, self._start(symbol, timeframe, block))
        self._blocks[key] = rows
        return rows

    def _start(self, symbol: str, timeframe: str, block: int) -> np.ndarray:
        """The AR(1) states block `block` starts from: known, checkpointed, or walked to from
        the last known one (each block's noise and states only, no bars)."""
        starts = self._starts.setdefault((symbol, timeframe), [np.zeros(len(_VOL_LAYERS) + 1)])
        if len(starts) <= block:
            file = self._checkpoint(symbol, timeframe)
            with suppress(OSError, ValueError):
                saved = np.load(file, allow_pickle=False)
                if saved.ndim == 2 and saved.shape[1] == len(starts[0]) and len(saved) > 0:
                    starts[len(starts) :] = list(saved[len(starts) :])
            if len(starts) <= block:
                while len(starts) <= block:
                    starts.append(self._walk(symbol, timeframe, len(starts) - 1, starts[-1])[1])
                with suppress(OSError):
                    _save(file, np.stack(starts))
        return starts[block]

    def _checkpoint(self, symbol: str, timeframe: str) -> Path:
        """The file of this path's block starts: its name covers every input of the model."""
        key = (_MODEL, self.seed, symbol, timeframe, self.origin_ms, self.annual_volatility)
        name = hashlib.sha256(repr((*key, self._start_price(symbol))).encode()).hexdigest()
        return cache_root() / "sim" / f"{name[:32]}.npy"

    def _walk(
        self, symbol: str, timeframe: str, block: int, state: np.ndarray
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """A block's causal core from its start `state`: (noise u_high, u_low, noise, log-vol
        v, sigma, z, log price x) and the states it ends in, which start the next block."""
        end = np.empty_like(state)
        dt = timeframe_ms(timeframe) / _YEAR_MS
        jump_var = _JUMPS_PER_YEAR * _JUMP_SD**2  # share of variance carried by jumps
        sigma = self.annual_volatility * math.sqrt(dt * (1 - jump_var))
        t, jumps, u_high, u_low, noise, *shocks = self._bar_draws(
            symbol, timeframe, block, _JUMPS_PER_YEAR * dt
        )
        v = np.zeros(_BLOCK)
        for i, ((half_life_days, sd), shock) in enumerate(zip(_VOL_LAYERS, shocks, strict=True)):
            phi = 0.5 ** (dt * 365.25 / half_life_days)
            layer = _ar1(shock * (sd * math.sqrt(1 - phi * phi)), phi, state[i])
            v += layer
            end[i] = layer[-1]
        sig = sigma * np.exp(v - sum(sd * sd for _, sd in _VOL_LAYERS))
        z = t * math.sqrt((_NU - 2) / _NU)
        r = sig * z + jumps * (_JUMP_SD * self.annual_volatility)
        m = math.log(self._start_price(symbol))
        deviation = _ar1(r, 0.5 ** (dt / _REVERSION_HALF_LIFE_Y), state[-1])
        end[-1] = deviation[-1]
        return (u_high, u_low, noise, v, sig, z, m + deviation), end

    def _block(self, symbol: str, timeframe: str, block: int, state: np.ndarray) -> np.ndarray:
        """One block of bars from the AR(1) states the previous block ended in."""
        (u_high, u_low, noise, v, sig, z, x), end = self._walk(symbol, timeframe, block, state)
        starts = self._starts[(symbol, timeframe)]
        if len(starts) == block + 1:
            starts.append(end)
        dt = timeframe_ms(timeframe) / _YEAR_MS
        m = math.log(self._start_price(symbol))
        prev = np.concatenate(([m + state[-1]], x[:-1]))
        b, var = x - prev, sig * sig
        high = prev + 0.5 * (b + np.sqrt(b * b - 2 * var * np.log(u_high)))
        low = prev + 0.5 * (b - np.sqrt(b * b - 2 * var * np.log(u_low)))
        log_volume = _VOL_LOAD[0] * v + _VOL_LOAD[1] * np.abs(z) + _VOL_LOAD[2] * noise - m
        volume = _VOLUME_PER_DAY * dt * 365.25 * np.exp(log_volume)
        filters = self.market_filters(symbol)
        tick, step = filters.tick_size, filters.step_size
        o, h, lo, c = (_grid(np.maximum(np.exp(a), tick), tick) for a in (prev, high, low, x))
        volume = _grid(np.maximum(volume, step), step)
        return np.column_stack((o, h, lo, c, volume, sig))

    def _bar_draws(self, symbol: str, timeframe: str, block: int, lam: float) -> list[np.ndarray]:
        rng, n = _rng(self.seed, symbol, timeframe, block), _BLOCK
        return [
            rng.standard_t(_NU, n),
            np.sqrt(rng.poisson(lam, n)) * rng.standard_normal(n),
            1.0 - rng.random(n),
            1.0 - rng.random(n),
            rng.standard_normal(n),
            *(rng.standard_normal(n) for _ in _VOL_LAYERS),
        ]

    def _tick_draws(self, symbol: str, step_ms: int, hour: int, n: int) -> list[np.ndarray]:
        rng = _rng(self.seed, symbol, "ticks", step_ms, hour)
        return [rng.standard_normal(n), rng.geometric(0.75, n), *rng.normal(0, 0.8, (2, n))]


def _save(file: Path, starts: np.ndarray) -> None:
    """Write whole or not at all: a reader never sees half a file, whoever writes beside it."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            np.save(out, starts, allow_pickle=False)
        os.replace(tmp, file)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
