"""Measurements that need a fresh process of their own; `tests.benchmarks.run` starts them.

    python -m tests.benchmarks.workers inprocess --bars 44000 --warmup 3 --repeats 7
    python -m tests.benchmarks.workers scale --bars 1000000 --repeats 3

Each prints its result as one `BENCH_JSON {...}` line on stdout. NUMBA_CACHE_DIR comes from
the environment the orchestrator sets, so every worker shares its warm kernel cache.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MARKER = "BENCH_JSON "
FAST, SLOW = 10, 50
FEES, SLIPPAGE, CASH, QUOTE_PER_ENTRY = 0.001, 0.0005, 1000.0, 100.0
SIM_START = "2020-01-01"  # the default config's window starts here
_MB = 1024 * 1024


# -- memory --------------------------------------------------------------------------------
def peak_rss_bytes() -> int:
    """The process's peak resident set (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    """The resident set right now, from /proc (0 where there is no /proc)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


def reset_peak_rss() -> bool:
    """Reset the peak-RSS high-water mark (Linux clear_refs 5); False if not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- data ----------------------------------------------------------------------------------
def sim_candles(bars: int) -> pd.DataFrame:
    """`bars` simulated 1h BTC/USDT candles from the embedded simulator, from 2020-01-01."""
    from thunes.exchange.sim import SimExchange

    start_ms = int(pd.Timestamp(SIM_START, tz="UTC").value // 1_000_000)
    candles = SimExchange().candles("BTC/USDT", "1h", start_ms, start_ms + bars * 3_600_000)
    if len(candles) != bars:
        raise RuntimeError(f"the simulator served {len(candles)} bars, not {bars}")
    return candles


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """y_t = phi y_{t-1} + shocks_t from 0, by a log2(n)-pass doubling scan."""
    y, lag = shocks.copy(), 1
    while lag < len(y):
        y[lag:] += phi**lag * y[:-lag]  # the product is a temporary: reads the previous pass
        lag *= 2
    return y


def random_walk_candles(bars: int, seed: int = 7) -> pd.DataFrame:
    """1h OHLCV with o/h/l/c consistent and on a 0.01 tick: a mean-reverting log random walk."""
    rng = np.random.default_rng(seed)
    sigma = 0.65 * math.sqrt(1 / 8766)  # 65% annual volatility per 1h bar
    phi = 0.5 ** (1 / 17_532)  # log price reverts to 20,000 with a two-year half-life
    close = np.round(20_000.0 * np.exp(_ar1(sigma * rng.standard_normal(bars), phi)), 2)
    open_ = np.concatenate(([20_000.0], close[:-1]))
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    wick = np.abs(rng.standard_normal((2, bars))) * (sigma / 2)
    high = np.maximum(np.round(top * np.exp(wick[0]), 2), top)
    low = np.minimum(np.round(bottom * np.exp(-wick[1]), 2), bottom)
    volume = np.round(rng.lognormal(0.0, 0.5, bars), 5)
    index = pd.date_range("2000-01-01", periods=bars, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


# -- the two paths ---------------------------------------------------------------------------
class ThunesPath:
    """THUNES's own backtest path: strategy.signals, VectorbtBacktester.run, both tables."""

    def __init__(self) -> None:
        from thunes.backtest.engine import VectorbtBacktester
        from thunes.data.candles import as_columns
        from thunes.domain.market import Fees, MarketFilters
        from thunes.portfolio.sizing import FixedQuote
        from thunes.reporting.tables import summary_stats, trades_table
        from thunes.strategy.sma_cross import SmaCross

        btc = MarketFilters(tick_size=0.01, step_size=1e-5, min_qty=1e-5, min_notional=5.0)
        self.strategy = SmaCross(FAST, SLOW, "sma", None, None, None)
        self.backtester = VectorbtBacktester(
            Fees(FEES, FEES, from_received=False), SLIPPAGE, btc, FixedQuote(QUOTE_PER_ENTRY), CASH
        )
        self.as_columns = as_columns
        self.summary_stats, self.trades_table = summary_stats, trades_table

    def __call__(self, candles: pd.DataFrame) -> tuple[dict[str, float], int]:
        """Seconds per stage (and 'total'), and the number of trades."""
        t0 = time.perf_counter()
        signals = self.strategy.signals(self.as_columns(candles))  # as mode=backtest does
        t1 = time.perf_counter()
        result = self.backtester.run(candles, "1h", signals)
        t2 = time.perf_counter()
        stats = self.summary_stats(result)
        t3 = time.perf_counter()
        self.trades_table(result)
        t4 = time.perf_counter()
        stages = {"signals": t1 - t0, "run": t2 - t1, "stats": t3 - t2, "trades": t4 - t3}
        return {**stages, "total": t4 - t0}, int(stats["trades"])


class BarePath:
    """The vectorbt calls a user would write by hand for the same SMA crossover."""

    def __init__(self) -> None:
        import vectorbt as vbt

        self.vbt = vbt

    def __call__(self, close: pd.Series) -> tuple[dict[str, float], int]:
        """Seconds per stage (and 'total'), and the number of trades."""
        vbt = self.vbt
        t0 = time.perf_counter()
        fast, slow = vbt.MA.run(close, FAST), vbt.MA.run(close, SLOW)
        entries, exits = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
        t1 = time.perf_counter()
        pf = vbt.Portfolio.from_signals(
            close, entries, exits, fees=FEES, slippage=SLIPPAGE, freq="1h"
        )
        t2 = time.perf_counter()
        stats = pf.stats()
        t3 = time.perf_counter()
        stages = {"signals": t1 - t0, "from_signals": t2 - t1, "stats": t3 - t2}
        return {**stages, "total": t3 - t0}, int(stats["Total Trades"])


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def _timed_import() -> float:
    start = time.perf_counter()
    import vectorbt  # noqa: F401

    import thunes.backtest.engine
    import thunes.reporting.tables  # noqa: F401

    return time.perf_counter() - start


# -- workers ---------------------------------------------------------------------------------
def inprocess(bars: int, warmup: int, repeats: int) -> dict[str, Any]:
    """THUNES's path vs the bare vectorbt calls, warm, alternating, median of `repeats`."""
    import_seconds = _timed_import()
    candles = sim_candles(bars)
    close = pd.Series(
        candles["close"].to_numpy(), index=pd.DatetimeIndex(candles.index).tz_localize(None)
    )
    thunes, bare = ThunesPath(), BarePath()
    first: dict[str, float] = {}
    for i in range(warmup):
        for name, run in (("thunes", lambda: thunes(candles)), ("bare", lambda: bare(close))):
            seconds, _ = run()
            if i == 0:
                first[name] = seconds["total"]
    samples: dict[str, list[dict[str, float]]] = {"thunes": [], "bare": []}
    trades: dict[str, int] = {}
    for _ in range(repeats):
        for name, run in (("thunes", lambda: thunes(candles)), ("bare", lambda: bare(close))):
            gc.collect()
            seconds, trades[name] = run()
            samples[name].append(seconds)
    return {
        "bars": bars,
        "warmup": warmup,
        "repeats": repeats,
        "import_seconds": import_seconds,
        "first_call_seconds": first,
        **{
            name: {
                "median": statistics.median(s["total"] for s in runs),
                "stages_median": _medians(runs),
                "samples": [s["total"] for s in runs],
                "trades": trades[name],
            }
            for name, runs in samples.items()
        },
    }


def scale(bars: int, repeats: int) -> dict[str, Any]:
    """Time and peak memory of THUNES's path on `bars` random-walk candles, in this process."""
    _timed_import()
    thunes = ThunesPath()
    tiny = random_walk_candles(2_000, seed=1)
    for _ in range(2):
        thunes(tiny)
    del tiny
    gc.collect()
    can_reset = reset_peak_rss()
    base_peak, base_rss = peak_rss_bytes(), current_rss_bytes()
    baseline = base_rss if can_reset else base_peak

    candles = random_walk_candles(bars)
    gc.collect()
    data_rss, data_peak = current_rss_bytes(), peak_rss_bytes()
    frame_bytes = int(candles.memory_usage(deep=True).sum())
    can_reset = can_reset and reset_peak_rss()

    samples: list[dict[str, float]] = []
    trades = 0
    for _ in range(repeats):
        gc.collect()
        seconds, trades = thunes(candles)
        samples.append(seconds)
    run_peak = peak_rss_bytes()
    median = statistics.median(s["total"] for s in samples)
    # With a resettable high-water mark, the peak is the backtest's (process holding the
    # candles); the generator's temporaries are reported apart. Without, the overall peak.
    peak = run_peak if can_reset else max(data_peak, run_peak)
    delta = peak - baseline
    result: dict[str, Any] = {
        "bars": bars,
        "repeats": repeats,
        "seconds": median,
        "stages_median": _medians(samples),
        "samples": [s["total"] for s in samples],
        "trades": trades,
        "us_per_bar": median / bars * 1e6,
        "baseline_rss_mb": baseline / _MB,
        "candles_frame_mb": frame_bytes / _MB,
        "candles_rss_delta_mb": (data_rss - baseline) / _MB,
        "datagen_peak_delta_mb": (data_peak - baseline) / _MB,
        "peak_delta_mb": delta / _MB,
        "bytes_per_bar": delta / bars,
        "peak_excludes_datagen": can_reset,
    }
    if can_reset:
        result["backtest_only_peak_delta_mb"] = (run_peak - data_rss) / _MB
        result["backtest_only_bytes_per_bar"] = (run_peak - data_rss) / bars
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("inprocess", "scale"))
    parser.add_argument("--bars", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.kind == "inprocess":
        result = inprocess(args.bars, args.warmup, args.repeats)
    else:
        result = scale(args.bars, args.repeats)
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
