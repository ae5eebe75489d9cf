"""The stand-in's market: symbols and their filters, an accelerated clock, and a price path.

Prices follow candles (given rows, or a seeded random walk): inside a candle the price moves
open -> low -> high -> close on a rising candle and open -> high -> low -> close on a falling
one, a third of the candle each. Ticks, the book, trades through limits and forming klines are
all read from that one path, so what a stream shows and what fills always agree.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

INTERVAL_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
MINUTE = 60_000
GENERATED_HISTORY = 1_000
"""Generated markets start this many 1m candles before the clock, for REST back-fills."""
GENERATED_CHUNK = 1_440


ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
"""What Binance's spot symbols list in exchangeInfo's orderTypes."""


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol's exchangeInfo filters, as Binance's decimal strings."""

    symbol: str
    base: str
    quote: str
    tick_size: str = "0.01000000"
    step_size: str = "0.00001000"
    min_qty: str = "0.00001000"
    max_qty: str = "9000.00000000"
    min_notional: str = "5.00000000"
    max_notional: str = "9000000.00000000"
    market_min_qty: str = "0.00000000"
    market_max_qty: str = "100.00000000"
    market_step_size: str = "0.00000000"
    multiplier_up: str = "5"
    multiplier_down: str = "0.2"
    avg_price_mins: int = 5
    max_num_orders: int = 200
    max_num_algo_orders: int = 5
    start_price: float = 20_000.0
    order_types: tuple[str, ...] = ORDER_TYPES


DEFAULT_SYMBOLS = (
    SymbolSpec("BTCUSDT", "BTC", "USDT"),
    SymbolSpec(
        "ETHUSDT", "ETH", "USDT", step_size="0.00010000", min_qty="0.00010000", start_price=1_500.0
    ),
)


class MarketClock:
    """Market time = start + speed x real time elapsed, or a pinned instant; in lockstep
    (`lockstep`), never more than a lead past the candles a client has read."""

    def __init__(self, start_ms: int | None = None, speed: float = 1.0) -> None:
        self.pinned_ms: int | None = None
        self.ceiling_ms: int | None = None
        """In lockstep: the market waits here until its client steps on (see `lockstep`)."""
        self._lead: tuple[int, float] = (MINUTE, 0.0)
        self._rebase = threading.Lock()
        self.run(start_ms, speed)

    def run(self, start_ms: int | None = None, speed: float = 1.0) -> None:
        """Let time flow from `start_ms` (default: now) at `speed` market seconds a second."""
        self.start_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
        self.speed = speed
        self._origin = time.monotonic()
        self.pinned_ms = None

    def pin(self, now_ms: int) -> None:
        """Stop time at `now_ms` (a test can then make the last candle still forming)."""
        self.pinned_ms = int(now_ms)

    def lockstep(self, interval_ms: int, lead: float) -> None:
        """From now on the market waits for its client instead of the wall clock: it runs at
        its speed, but no further than `lead` candles of `interval_ms` past the last close
        the client has stepped (`stepped`; before the first, the open of the candle now
        forming). On a loaded machine the market then waits for the session, and the
        orders a step decides still meet the candles they were decided on."""
        self._lead = (interval_ms, lead)
        self.ceiling_ms = None
        self.stepped(self.now_ms() // interval_ms * interval_ms)

    def stepped(self, close_ms: int) -> None:
        """The client has stepped every close up to `close_ms`: in lockstep, the market may
        run `lead` candles past it."""
        step, lead = self._lead
        if lead:
            ceiling = close_ms + int(lead * step)
            self.ceiling_ms = max(self.ceiling_ms or ceiling, ceiling)

    def now_ms(self) -> int:
        if self.pinned_ms is not None:
            return self.pinned_ms
        with self._rebase:
            now = self.start_ms + int(self.speed * (time.monotonic() - self._origin) * 1000)
            if self.ceiling_ms is not None and now > self.ceiling_ms:
                # the market waits: it resumes from here, not from where the wall clock is
                self.start_ms, self._origin = self.ceiling_ms, time.monotonic()
                return self.ceiling_ms
            return now


class RandomWalk:
    """Seeded candles, generated chunk by chunk as the clock needs them."""

    def __init__(self, start_ms: int, step_ms: int, price: float, seed: int, vol: float) -> None:
        self._rng = np.random.default_rng(seed)
        self._next_ms, self._step, self._close, self._vol = start_ms, step_ms, price, vol

    def take(self, count: int) -> list[list[float]]:
        rng, vol = self._rng, self._vol
        closes = self._close * np.cumprod(1 + rng.normal(0, vol, count))
        opens = np.concatenate(([self._close], closes[:-1]))
        wick = np.abs(rng.normal(0, vol / 2, (2, count))) * opens
        highs = np.maximum(opens, closes) + wick[0]
        lows = np.minimum(opens, closes) - wick[1]
        volumes = rng.uniform(1, 100, count)
        starts = self._next_ms + self._step * np.arange(count)
        self._next_ms += self._step * count
        self._close = float(np.round(closes[-1], 2))
        return [
            [float(t), round(o, 2), round(h, 2), round(lo, 2), round(c, 2), round(v, 5)]
            for t, o, h, lo, c, v in zip(starts, opens, highs, lows, closes, volumes, strict=True)
        ]


def make_rows(
    start_ms: int, count: int, step_ms: int, *, skip: Iterable[int] = (), seed: int = 0
) -> list[list[float]]:
    """`count` consistent random-walk candles from `start_ms`; indices in `skip` left out."""
    skipped = set(skip)
    rows = RandomWalk(start_ms, step_ms, 20_000.0, seed, 0.01).take(count)
    return [row for i, row in enumerate(rows) if i not in skipped]


def _path_points(row: Sequence[float], step_ms: int) -> list[tuple[float, float]]:
    """(time, price) corners of one candle's path."""
    open_ms, o, h, lo, c = row[:5]
    first, second = (lo, h) if c >= o else (h, lo)
    return [
        (open_ms, o),
        (open_ms + step_ms / 3, first),
        (open_ms + 2 * step_ms / 3, second),
        (open_ms + step_ms, c),
    ]


class SymbolMarket:
    """One symbol: its filters and status, the candles served, and the price path read from them."""

    def __init__(self, spec: SymbolSpec, clock: MarketClock, seed: int) -> None:
        self.spec = spec
        self.status = "TRADING"
        self.order_types = spec.order_types
        self._clock = clock
        self._tables: dict[str, list[list[float]]] = {}
        start = clock.now_ms() // MINUTE * MINUTE - GENERATED_HISTORY * MINUTE
        self._walk: RandomWalk | None = RandomWalk(start, MINUTE, spec.start_price, seed, 0.001)
        self._path = self._walk.take(GENERATED_HISTORY + GENERATED_CHUNK)
        self._step = MINUTE
        self._opens = [row[0] for row in self._path]

    def set_candles(self, interval: str, rows: Iterable[Sequence[float]]) -> None:
        """Serve these [open_ms, o, h, l, c, v] rows; the finest interval given drives the price."""
        table = sorted((list(row) for row in rows), key=lambda row: row[0])
        self._tables[interval] = table
        finest = min(self._tables, key=INTERVAL_MS.__getitem__)
        self._walk = None
        self._path, self._step = self._tables[finest], INTERVAL_MS[finest]
        self._opens = [row[0] for row in self._path]

    def _extend_to(self, now_ms: int) -> None:
        while self._walk is not None and self._opens[-1] < now_ms:
            rows = self._walk.take(GENERATED_CHUNK)
            self._path.extend(rows)
            self._opens.extend(row[0] for row in rows)

    def price(self, t_ms: float) -> float:
        """The path's price at `t_ms`, on the symbol's tick."""
        return self._on_tick(self._raw_price(t_ms))

    def _on_tick(self, price: float) -> float:
        tick = float(self.spec.tick_size)
        return round(round(price / tick) * tick, 8)

    def _raw_price(self, t_ms: float) -> float:
        self._extend_to(int(t_ms))
        if not self._path:
            return self.spec.start_price
        i = bisect.bisect_right(self._opens, t_ms) - 1
        if i < 0:
            return float(self._path[0][1])
        points = _path_points(self._path[i], self._step)
        if t_ms >= points[-1][0]:
            return float(points[-1][1])
        for (t0, p0), (t1, p1) in itertools.pairwise(points):
            if t_ms <= t1:
                return float(p0 + (p1 - p0) * (t_ms - t0) / (t1 - t0))
        return float(points[-1][1])  # pragma: no cover - the loop always returns

    def extremes(self, t0: float, t1: float) -> tuple[float, float]:
        """Lowest and highest price the path touches between t0 and t1."""
        prices = [self._raw_price(t0), self._raw_price(t1)]
        first = max(bisect.bisect_right(self._opens, t0) - 1, 0)
        last = bisect.bisect_right(self._opens, t1)
        for row in self._path[first:last]:
            prices.extend(p for t, p in _path_points(row, self._step) if t0 < t < t1)
        return self._on_tick(min(prices)), self._on_tick(max(prices))

    def crossing(
        self, t0: float, t1: float, level: float, falls: bool
    ) -> tuple[float, float] | None:
        """When and at what price the path first reaches `level` between t0 and t1, falling
        to it (`falls`) or rising: the level itself, or beyond it where the path jumps (a
        gap between one candle's close and the next one's open); None if it does not."""
        points = [(t0, self._raw_price(t0))]
        first = max(bisect.bisect_right(self._opens, t0) - 1, 0)
        for row in self._path[first : bisect.bisect_right(self._opens, t1)]:
            points.extend((t, p) for t, p in _path_points(row, self._step) if t0 < t < t1)
        points.append((t1, self._raw_price(t1)))

        def beyond(price: float) -> bool:
            return price <= level if falls else price >= level

        if beyond(points[0][1]):
            return t0, self._on_tick(points[0][1])
        for (ta, pa), (tb, pb) in itertools.pairwise(points):
            if beyond(pb):
                if tb > ta:
                    return ta + (tb - ta) * (pa - level) / (pa - pb), level
                return tb, self._on_tick(pb)
        return None

    def book(self, now_ms: int) -> tuple[float, float]:
        """Best bid and ask: the path's price, and one tick above."""
        tick = Decimal(self.spec.tick_size)
        bid = Decimal(repr(self.price(now_ms)))
        return float(bid), float(bid + tick)

    def avg_price(self, now_ms: int) -> float:
        """Binance's avgPrice, taken as the path's mean over the last avgPriceMins minutes."""
        mins = self.spec.avg_price_mins
        return sum(self.price(now_ms - k * MINUTE) for k in range(mins)) / mins

    def klines(
        self, interval: str, now_ms: int, start: int | None, end: int | None, limit: int
    ) -> list[list[Any]]:
        """Binance's klines answer: closed candles, and the forming one as it stands now."""
        self._extend_to(now_ms)
        step = INTERVAL_MS[interval]
        table = self._tables.get(interval)
        if table is None:
            table = _aggregate(self._path, self._step, step) if step >= self._step else []
        rows = [
            row
            for row in table
            if row[0] <= now_ms
            and (start is None or row[0] >= start)
            and (end is None or row[0] <= end)
        ]
        # Binance pages forward from startTime, otherwise it answers the most recent rows.
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [kline(self.candle_at(row, step, now_ms), step) for row in rows]

    def candle_at(self, row: Sequence[float], step_ms: int, now_ms: int) -> list[float]:
        """The row itself once closed; while forming, what the path has traced so far."""
        if now_ms >= row[0] + step_ms:
            return list(row)
        low, high = self.extremes(row[0], now_ms)
        share = (now_ms - row[0]) / step_ms
        return [row[0], self.price(row[0]), high, low, self.price(now_ms), row[5] * share]

    def candle(self, interval: str, open_ms: int, now_ms: int) -> list[float]:
        """The `interval` candle opening at `open_ms` as it stands at `now_ms` (for streams)."""
        step = INTERVAL_MS[interval]
        until = min(now_ms, open_ms + step)
        low, high = self.extremes(open_ms, until)
        first = bisect.bisect_left(self._opens, open_ms)
        volume = sum(row[5] for row in self._path[first : bisect.bisect_left(self._opens, until)])
        return [open_ms, self.price(open_ms), high, low, self.price(until), volume]


def _aggregate(
    rows: Sequence[Sequence[float]], step_ms: int, interval_ms: int
) -> list[list[float]]:
    """Candles of `interval_ms` from finer ones: first open, extremes, last close, summed volume."""
    if interval_ms == step_ms:
        return [list(row) for row in rows]
    out: list[list[float]] = []
    for row in rows:
        open_ms = row[0] // interval_ms * interval_ms
        if out and out[-1][0] == open_ms:
            last = out[-1]
            last[2], last[3], last[4] = max(last[2], row[2]), min(last[3], row[3]), row[4]
            last[5] += row[5]
        else:
            out.append([open_ms, *row[1:6]])
    return out


def kline(row: Sequence[float], interval_ms: int) -> list[Any]:
    """Binance's 12-field kline: prices and volumes as decimal strings."""
    open_ms, o, h, lo, c, v = row[:6]
    return [
        int(open_ms),
        f"{o:.8f}",
        f"{h:.8f}",
        f"{lo:.8f}",
        f"{c:.8f}",
        f"{v:.8f}",
        int(open_ms) + interval_ms - 1,
        f"{v * c:.8f}",
        100,
        f"{v / 2:.8f}",
        f"{v * c / 2:.8f}",
        "0",
    ]


def symbol_info(spec: SymbolSpec, status: str) -> dict[str, Any]:
    """One entry of exchangeInfo['symbols'], shaped like Binance's (2024+) answer."""
    return {
        "symbol": spec.symbol,
        "status": status,
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(spec.order_types),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": spec.tick_size,
                "maxPrice": "1000000.00000000",
                "tickSize": spec.tick_size,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec.min_qty,
                "maxQty": spec.max_qty,
                "stepSize": spec.step_size,
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": spec.market_min_qty,
                "maxQty": spec.market_max_qty,
                "stepSize": spec.market_step_size,
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": spec.multiplier_up,
                "bidMultiplierDown": spec.multiplier_down,
                "askMultiplierUp": spec.multiplier_up,
                "askMultiplierDown": spec.multiplier_down,
                "avgPriceMins": spec.avg_price_mins,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": spec.min_notional,
                "applyMinToMarket": True,
                "maxNotional": spec.max_notional,
                "applyMaxToMarket": False,
                "avgPriceMins": spec.avg_price_mins,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": spec.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": spec.max_num_algo_orders},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
