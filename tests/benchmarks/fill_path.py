"""The fill path's workloads, for an A/B of two commits: best-of-N CPU time
(`time.process_time`) and a hash of each one's output (equity, fills, skipped orders), so
that a change claimed to keep every result shows it did.

    NUMBA_NUM_THREADS=1 python -m tests.benchmarks.fill_path [workload ...] [--n N]

Run it in each commit's tree (its own numba cache), back to back: only ratios count on a
shared machine. Workloads: the batch evaluator on the first 500 grid-sweep pairs (fast 2-6:
many fills) and on 500 spread over the 10,000; the compiled backtest of SMA, DCA and grid;
their replay (per event) on 20,000 bars; the scalper's batch loop on 300,000 sim ticks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tests.benchmarks import strategies as S


def _h(*parts: Any) -> str:
    m = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            m.update(np.ascontiguousarray(p).tobytes())
        else:
            m.update(repr(p).encode())
    return m.hexdigest()[:16]


def batch(s: S.Setup, frame: pd.DataFrame, pairs: list[tuple[int, int]]) -> Callable[[], str]:
    from thunes.engine.signal_sweep import signal_equity_batch

    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    o, h, lo, c = (frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    entries, exits = S.sweep_decisions(c, pairs, {})
    btc = s.markets["btcusdt"]

    def run() -> str:
        r = signal_equity_batch(
            times, o, h, lo, c, entries, exits, fees=s.exchange.fees,
            slippage=s.exchange.slippage, filters=btc.filters, sizer=s.sizer,
            cash=s.cash, risk=s.default_risk,
        )  # fmt: skip
        return _h(r.equity, r.fills)

    return run


def portfolio(s: S.Setup, name: str, frame: pd.DataFrame, whole: bool) -> Callable[[], str]:
    from thunes.data.candles import as_columns
    from thunes.engine.lane import Lane
    from thunes.engine.replay import PortfolioEngine
    from thunes.engine.sim_broker import SimBroker, Wallet
    from thunes.risk.engine import RiskEngine
    from thunes.strategy.signal_runner import as_event_strategy

    make, _ = S.factory(name)
    fees, slip, btc = s.exchange.fees, s.exchange.slippage, s.markets["btcusdt"]

    def run() -> str:
        runner = as_event_strategy(make(), as_columns(frame) if whole else None)
        risk = RiskEngine(s.default_risk, fees.taker)
        wallet = Wallet(s.cash)
        lane = Lane(runner, SimBroker(fees, slip, btc.filters, s.sizer, wallet, risk), frame)
        done = PortfolioEngine([lane], batch=whole).run()
        fills = [r.fills for r in done.lanes]
        return _h(done.equity, fills, [r.skipped for r in done.lanes])

    return run


def ticks(s: S.Setup, frame: pd.DataFrame) -> Callable[[], str]:
    from thunes.engine.tick_engine import TickEngine
    from thunes.risk.engine import RiskEngine

    make, _ = S.factory("scalper")
    fees, btc = s.exchange.fees, s.markets["btcusdt"]

    def run() -> str:
        risk = RiskEngine(s.default_risk, fees.taker)
        engine = TickEngine(make(), fees, btc.filters, s.cash, risk)
        r = engine.run_ticks(frame)
        return _h(r.equity, r.fills, r.skipped)

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--n", type=int, default=3)
    args = ap.parse_args()
    s = S.setup()
    frame = S.candles(s, "BTC/USDT")
    replay_bars = frame.iloc[:20_000]
    work: dict[str, Callable[[], Callable[[], str]]] = {
        "batch_first500": lambda: batch(s, frame, S.SWEEP_PAIRS[:500]),
        "batch_spread500": lambda: batch(s, frame, S.SWEEP_PAIRS[::20]),
        "backtest_sma": lambda: portfolio(s, "sma_cross", frame, True),
        "backtest_dca": lambda: portfolio(s, "dca", frame, True),
        "backtest_grid": lambda: portfolio(s, "grid", frame, True),
        "replay_sma": lambda: portfolio(s, "sma_cross", replay_bars, False),
        "replay_dca": lambda: portfolio(s, "dca", replay_bars, False),
        "replay_grid": lambda: portfolio(s, "grid", replay_bars, False),
        "scalper_batch": lambda: ticks(s, S.book_ticks(s, "BTC/USDT", 300_000)),
    }
    out = {}
    for name in args.names or list(work):
        fn = work[name]()
        digest = fn()  # warm (compiles or loads the cache)
        best = float("inf")
        for _ in range(args.n):
            t = time.process_time()
            d = fn()
            best = min(best, time.process_time() - t)
            assert d == digest, (name, d, digest)
        out[name] = {"cpu_s": round(best, 4), "hash": digest}
        print(json.dumps({name: out[name]}), flush=True)


if __name__ == "__main__":
    main()
