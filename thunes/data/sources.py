"""Where candles come from (data group): the exchange, the simulator, or a file.

Every source ends the same way: validation, the configured gap policy, and a report of
the gaps whatever the policy, so a backtest never hides what its data looked like.
A source is built with every run; pandas (thunes.data.candles) loads when it loads
candles, which a paper or live run never asks of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from thunes.data.store import CandleStore
from thunes.domain.market import Fees, Market
from thunes.domain.timeframes import timeframe_ms, utc_ms
from thunes.errors import DataError
from thunes.exchange.base import Exchange

if TYPE_CHECKING:
    import pandas as pd

    from thunes.data.candles import GapPolicy, GapReport


@dataclass(frozen=True)
class CandleSet:
    """Validated candles plus what a report and a tracker must say about them."""

    frame: pd.DataFrame
    timeframe: str
    gaps: GapReport
    gap_policy: str
    fingerprint: str
    origin: str


def _ms(date: str | None) -> int | None:
    return None if date is None else utc_ms(date)


def fetch_in_one_call(
    exchange: Exchange, symbol: str, timeframe: str, since_ms: int, until_ms: int | None
) -> pd.DataFrame:
    """Closed candles from a venue that serves any range at once (the simulator)."""
    from thunes.data.candles import drop_forming, rows_to_frame

    until_ms = until_ms or exchange.milliseconds()
    limit = (until_ms - since_ms) // timeframe_ms(timeframe) + 1
    rows = exchange.fetch_ohlcv(symbol, timeframe, since_ms, limit)
    return drop_forming(rows_to_frame(rows), timeframe, exchange.milliseconds())


class _CandleWindow:
    def __init__(self, timeframe: str, since: str | None, until: str | None, gaps: GapPolicy):
        self.timeframe = timeframe
        self.since = since
        self.until = until
        self.gaps: GapPolicy = gaps

    def _finish(self, frame: pd.DataFrame, symbol: str, origin: str) -> CandleSet:
        import pandas as pd

        from thunes.data.candles import apply_gap_policy, fingerprint, validate_candles

        if self.since is not None:
            frame = frame[frame.index >= pd.Timestamp(self.since, tz="UTC")]
        if self.until is not None:
            frame = frame[frame.index < pd.Timestamp(self.until, tz="UTC")]
        if frame.empty:
            raise DataError(
                f"no {symbol} {self.timeframe} candles from {origin} between "
                f"{self.since or 'the start'} and {self.until or 'now'}"
            )
        validate_candles(frame, self.timeframe)
        frame, report = apply_gap_policy(frame, self.timeframe, self.gaps)
        return CandleSet(frame, self.timeframe, report, self.gaps, fingerprint(frame), origin)


class ExchangeCandleSource(_CandleWindow):
    """Candles from the configured venue; a network venue's are cached and resumed."""

    def __init__(
        self,
        timeframe: str,
        since: str | None,
        until: str | None,
        gaps: GapPolicy,
        cache_dir: str,
    ) -> None:
        super().__init__(timeframe, since, until, gaps)
        self.store = CandleStore(Path(cache_dir))

    def load(self, exchange: Exchange, market: Market, progress: bool = True) -> CandleSet:
        since_ms, until_ms = _ms(self.since) or 0, _ms(self.until)
        if exchange.needs_network:
            from thunes.data.download import download_candles

            frame = download_candles(
                exchange,
                self.store,
                market.symbol,
                self.timeframe,
                since_ms,
                until_ms,
                progress=progress,
            )
        else:
            frame = fetch_in_one_call(exchange, market.symbol, self.timeframe, since_ms, until_ms)
        return self._finish(frame, market.symbol, exchange.name)


class SimCandleSource(_CandleWindow):
    """Simulated candles whatever the exchange group says."""

    def __init__(
        self, seed: int, timeframe: str, since: str | None, until: str | None, gaps: GapPolicy
    ) -> None:
        super().__init__(timeframe, since, until, gaps)
        self.seed = seed

    def load(self, exchange: Exchange, market: Market, progress: bool = True) -> CandleSet:
        from thunes.exchange.sim import SimExchange

        simulator = SimExchange(seed=self.seed, fees=Fees(0.0, 0.0, False), slippage=0.0)
        frame = fetch_in_one_call(
            simulator, market.symbol, self.timeframe, _ms(self.since) or 0, _ms(self.until)
        )
        return self._finish(frame, market.symbol, f"{simulator.name} (seed {self.seed})")


class FileCandleSource(_CandleWindow):
    """A user's own candles: CSV or parquet with timestamp, open, high, low, close, volume."""

    def __init__(
        self, path: str, timeframe: str, since: str | None, until: str | None, gaps: GapPolicy
    ) -> None:
        super().__init__(timeframe, since, until, gaps)
        self.path = Path(path)

    def load(self, exchange: Exchange, market: Market, progress: bool = True) -> CandleSet:
        from thunes.data.candles import read_candle_file

        return self._finish(read_candle_file(self.path), market.symbol, str(self.path))


CandleSource = ExchangeCandleSource | SimCandleSource | FileCandleSource
