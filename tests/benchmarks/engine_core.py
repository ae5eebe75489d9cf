"""The sweep's compiled engine alone, comparable across commits: `signal_equity_batch` on
fixed SMA-cross decisions over a seeded random walk (44,000 1h bars), fees on top (so the
same inputs mean the same thing before fees could be taken from what is received).
Prints the best CPU time of one call, NRT allocations per fill, and hashes of the equity
and fill counts: two commits agree when the hashes do.

    # at any commit: a worktree of it, run with its code first on the path
    git worktree add --detach /tmp/at-8258846 8258846
    cd /tmp/at-8258846 && NUMBA_NUM_THREADS=1 NUMBA_NRT_STATS=1 PYTHONPATH=$PWD \\
        /path/to/.venv/bin/python /path/to/tests/benchmarks/engine_core.py --columns 100

CPU time (not wall) and one thread, because the machine is shared; `--perf-map` writes
/tmp/perf-<pid>.map at the end, so that `perf record -e cpu-clock -- ...` then `perf
report --sort dso,sym` names the numba functions (and numba's NRT_incref/NRT_decref).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import time
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
BARS = 44_000


def _sma(x: Floats, w: int) -> Floats:
    c = np.cumsum(np.concatenate([[0.0], x]))
    out = np.full(len(x), np.nan)
    out[w - 1 :] = (c[w:] - c[:-w]) / w
    return out


def _crossed_above(a: Floats, b: Floats) -> npt.NDArray[np.bool_]:
    above = a > b
    out = np.zeros(len(a), np.bool_)
    out[1:] = above[1:] & ~above[:-1] & ~np.isnan(a[:-1]) & ~np.isnan(b[:-1])
    return out


def market() -> tuple[npt.NDArray[np.int64], Floats, Floats, Floats, Floats]:
    """(times, open, high, low, close) of a seeded random walk: the same at every commit."""
    rng = np.random.default_rng(0)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.008, BARS)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.004, BARS))
    high, low = np.maximum(open_, close) * (1 + wick), np.minimum(open_, close) * (1 - wick)
    times = (1_600_000_000_000 + 3_600_000 * np.arange(BARS)).astype(np.int64)
    return times, open_, high, low, close


def decisions(close: Floats, columns: int) -> tuple[npt.NDArray[np.bool_], ...]:
    """(entries, exits), n x columns, of SMA crosses, each run a contiguous row."""
    pairs = [(f, s) for f in range(5, 100, 5) for s in range(20, 400, 10) if f < s][::3]
    pairs = (pairs * (columns // len(pairs) + 1))[:columns]
    avg = {w: _sma(close, w) for w in {w for p in pairs for w in p}}
    entries = np.stack([_crossed_above(avg[f], avg[s]) for f, s in pairs]).T
    exits = np.stack([_crossed_above(avg[s], avg[f]) for f, s in pairs]).T
    return entries, exits


def settings(risk: str) -> dict[str, Any]:
    """The call's keywords, built with whatever fields this commit's classes have."""
    from thunes.domain.market import Fees, MarketFilters
    from thunes.portfolio.sizing import FixedQuote
    from thunes.risk.limits import RiskLimits

    on_top = "from_received" in {f.name for f in dataclasses.fields(Fees)}
    fees = Fees(0.001, 0.001, False) if on_top else Fees(0.001, 0.001)  # type: ignore[call-arg]
    limits = (
        RiskLimits(5.0, 20.0, 3, 60.0, True)
        if risk == "default"
        else RiskLimits(float("inf"), float("inf"), 1_000_000, 0.0, False)
    )
    return dict(
        fees=fees,
        slippage=0.0005,
        filters=MarketFilters(0.01, 0.00001, 0.00001, 5.0),
        sizer=FixedQuote(100.0),
        cash=1000.0,
        risk=limits,
    )


def _allocations() -> int:
    from numba.core.runtime import rtsys

    return int(rtsys.get_allocation_stats().alloc)  # 0 unless NUMBA_NRT_STATS=1


def _perf_map() -> None:
    """/tmp/perf-<pid>.map of every numba symbol this process loaded (each one's extent:
    up to the next one)."""
    from numba.core.registry import cpu_target

    engine = cpu_target.target_context.codegen()._engine
    found = sorted((engine.get_function_address(name), name) for name in engine._defined_symbols)
    found = [(address, name) for address, name in found if address]
    ends = [address for address, _ in found[1:]] + [found[-1][0] + 4096]
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as out:
        for (address, name), end in zip(found, ends, strict=True):
            out.write(f"{address:x} {min(end - address, 1 << 20):x} {name}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--risk", choices=("default", "none"), default="default")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--perf-map", action="store_true")
    args = parser.parse_args()
    from thunes.engine.signal_sweep import signal_equity_batch

    times, open_, high, low, close = market()
    entries, exits = decisions(close, args.columns)
    keywords = settings(args.risk)

    def call(e: npt.NDArray[np.bool_], x: npt.NDArray[np.bool_]) -> Any:
        return signal_equity_batch(times, open_, high, low, close, e, x, **keywords)

    call(entries[:, :1].copy(), exits[:, :1].copy())  # compiled, or loaded from the cache
    before = _allocations()
    result = call(entries, exits)
    allocations = _allocations() - before
    best = float("inf")
    for _ in range(args.repeats):
        start = time.process_time()
        result = call(entries, exits)
        best = min(best, time.process_time() - start)
    equity, fills = np.ascontiguousarray(result.equity), int(result.fills.sum())
    print(
        f"columns={args.columns} risk={args.risk} best_cpu={best:.3f}s fills={fills} "
        f"allocations/fill={allocations / max(fills, 1):.2f} "
        f"equity={hashlib.sha256(equity.tobytes()).hexdigest()[:16]} "
        f"fills={hashlib.sha256(result.fills.tobytes()).hexdigest()[:16]}"
    )
    if args.perf_map:
        _perf_map()


if __name__ == "__main__":
    main()
