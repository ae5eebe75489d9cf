"""The bench's STRATEGIES section: every strategy's backtest path, warm, against bare references.

    python -m tests.benchmarks.strategies sma --warmup 1 --repeats 7     # one group, as run.py
    python -m tests.benchmarks.strategies profile --case replay_sma      # cProfile of one path

Groups, each measured in ONE fresh process (so its peak RSS is its own), warm (after the
check and the warm-ups), the best CPU time of N repeats (bench() says why), the paths of a
group alternating:
- sma: SMA 10/50 over 44,000 sim 1h bars, by the vectorbt fast path (risk=none, fees on top:
  the product takes that path only then, see fees_on_top) and by the event engine over
  precomputed signals (default risk), against bare vectorbt (MA.run + from_signals, no stats);
- dca, grid: the event engine (default risk), each against a plain numba loop of its rule
  (tests/benchmarks/bare_loops.py: no filters, no risk, so not the same fills);
- scalper: 1,000,000 sim book ticks through the tick engine, against a plain numba loop;
- portfolio: SMA on BTC, ETH and SOL through one wallet and one risk engine, against BTC alone;
- replay: `mode=replay`'s SMA (the strategy's newest decision from its rolling window at
  every bar), DCA and grid (their numba rules called bar by bar and fill by fill from
  Python, as live will), and the scalper's per-tick `on_tick`, as events per second;
- sweep: the sweep's batch evaluator (thunes/engine/signal_sweep.py) over every third of
  10,000 SMA (fast, slow) pairs in chunks of 250 columns, default risk, decisions computed
  per chunk from each distinct average once, against vectorbt's from_signals over every 20th
  of the same pairs (combinations per CPU second, every core's share; the wall rate beside,
  as both use every core): a slice of the whole, so that best of 3 costs what one run did.
Each path mirrors thunes/backtest/choice.py stage by stage (signals, engine, portfolio: up to
the vectorbt portfolio, no stats), and the check (full plan) compares its fills with the
product's own `choice.backtest`/`replay` on the same data: a path that drifts from the
product shows as "!= product" instead of timing something else silently.

Peak memory: one more run per path after the timed ones, with the heap trimmed (malloc_trim)
and the high-water mark reset (clear_refs, as workers.py does) first, so its peak over the RSS
before it is the memory that run needs. The timed runs themselves only collect garbage first.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import functools
import gc
import importlib
import json
import os
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import yaml
from rich.table import Table

from tests.benchmarks.meter import CpuMeter
from tests.benchmarks.workers import MARKER, current_rss_bytes, peak_rss_bytes, reset_peak_rss

MODULE = "tests.benchmarks.strategies"
REPO = Path(__file__).resolve().parents[2]
BARS, TICKS = 44_000, 1_000_000
SIM_START, TICKS_START = "2020-01-01", "2024-03-01"  # conf/data/sim.yaml, sim_ticks.yaml
TIMEFRAME, TICK_TIMEFRAME = "1h", "100ms"
SYMBOLS = ("btcusdt", "ethusdt", "solusdt")  # conf/symbol/*.yaml
WARM_BARS, WARM_TICKS = 2_000, 10_000  # replay's (and --quick's) warm-ups and checks run on so much
GOAL_SECONDS = {"sma_vectorbt": 0.05, "sma_event": 0.05, "dca": 0.05, "grid": 0.2, "scalper": 2.0}
REFERENCE = {
    "sma_vectorbt": "bare_vectorbt",
    "sma_event": "bare_vectorbt",
    "dca": "bare_dca",
    "grid": "bare_grid",
    "scalper": "bare_scalper",
}
GOAL_PORTFOLIO_RATIO = 3.0  # 3 symbols / 1 symbol
GOAL_REPLAY_EVENTS = 100_000  # SMA replay, events (bars) per second
GOAL_SWEEP_COMBOS = 1_000  # SMA combinations per second through the batch evaluator
SWEEP_PAIRS = [(fast, fast + gap) for fast in range(2, 102) for gap in range(4, 104)]
SWEEP_CHUNK = 250  # columns per call
SWEEP_TIMED, SWEEP_REFERENCE = SWEEP_PAIRS[::3], SWEEP_PAIRS[::20]  # the pairs each path runs
NOISY_CORES = 0.25  # as run.py: others using more cores than this during a group: flagged
NOISY_SPREAD = 1.2  # a path's median run over its best: more, and the runs were disturbed
_MB = 1024 * 1024

Json = dict[str, Any]
FillKey = tuple[str, int, str, float, float]  # symbol, bar, side, price, amount
Result = list[FillKey] | int  # a THUNES path's fills, or a reference's fill count


# -- the plan (run.py's side) ---------------------------------------------------------------
@dataclass(frozen=True)
class StrategyPlan:
    warmup: int  # warm-up runs of every path, after the check
    repeats: int  # timed runs of each path: sma, dca, grid, scalper
    portfolio_repeats: int
    replay_repeats: int
    sweep_repeats: int
    on_tick_ticks: int  # ticks fed to the scalper's per-tick on_tick
    check: bool  # check each path's fills against the product's entry point first
    warm_bars: int  # warm the candle paths up on this many bars (0: on all of them)
    memory: bool  # one more run per backtest path, for its peak RSS


FULL = StrategyPlan(1, 15, 9, 5, 3, 200_000, True, 0, True)
QUICK = StrategyPlan(1, 1, 1, 1, 1, 50_000, False, WARM_BARS, False)
GROUPS = ("sma", "dca", "grid", "scalper", "portfolio", "replay", "sweep")


# -- timing and machine ---------------------------------------------------------------------
class Laps:
    """Stage times of one run, on two clocks: `lap(name)` closes the stage that began at the
    previous lap (a name lapped again adds up). `stages`: the process's CPU seconds (every
    thread's: numba's parallel loops count each core's share); `walls`: wall seconds."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.walls: dict[str, float] = {}
        self.last, self.last_wall = time.process_time(), time.perf_counter()

    def lap(self, name: str) -> None:
        now, wall = time.process_time(), time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + now - self.last
        self.walls[name] = self.walls.get(name, 0.0) + wall - self.last_wall
        self.last, self.last_wall = now, wall


def trim_heap() -> bool:
    """Hand the allocator's free memory back to the OS (glibc malloc_trim), so that a run's
    peak RSS over the RSS before it is the memory the run needs, not what it reuses."""
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0) >= 0)
    except (OSError, AttributeError):
        return False


# -- configuration, from conf/ as Hydra would build it ---------------------------------------
def conf(group: str, name: str) -> Json:
    node = dict(yaml.safe_load((REPO / "conf" / group / f"{name}.yaml").read_text()))
    node.pop("defaults", None)
    return node


def _target(node: Json) -> tuple[Callable[..., Any], Json]:
    """The class a `_target_` node names, and its arguments (nested targets built)."""
    module, _, name = node["_target_"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    args = {k: build(v) if isinstance(v, dict) and "_target_" in v else v for k, v in node.items()}
    args.pop("_target_")
    return cls, args


def build(node: Json) -> Any:
    cls, args = _target(node)
    return cls(**args)


def factory(name: str) -> tuple[Callable[[], Any], Json]:
    """A fresh strategy per call (they hold state), from conf/strategy/<name>.yaml."""
    cls, args = _target(conf("strategy", name))
    return functools.partial(cls, **args), args


@dataclass(frozen=True)
class Setup:
    """What every path shares: the simulator, the markets, the sizer, the risk limits."""

    exchange: Any  # SimExchange
    markets: dict[str, Any]  # conf symbol name -> Market
    sizer: Any
    default_risk: Any  # RiskLimits
    no_risk: Any
    cash: float


def setup() -> Setup:
    root = yaml.safe_load((REPO / "conf" / "config.yaml").read_text())
    return Setup(
        exchange=build(conf("exchange", "sim")),
        markets={name: build(conf("symbol", name)) for name in SYMBOLS},
        sizer=build(conf("sizing", "fixed_quote")),
        default_risk=build(conf("risk", "default")),
        no_risk=build(conf("risk", "none")),
        cash=float(root["cash"]),
    )


def fees_on_top(s: Setup) -> Setup:
    """The simulator with its fees paid on top in quote (`exchange.fees.from_received=false`).

    The default sim takes Binance's fee out of what an order receives (base on a buy), which
    vectorbt cannot model, so choice.backtest runs the event engine there even at risk=none
    (needs_event_engine); a buy of 0.01244 BTC then sells 0.01242. The vectorbt path is timed
    and checked under the fees the product would run it with."""
    node = conf("exchange", "sim")
    node["fees"] = {**node["fees"], "from_received": False}
    return replace(s, exchange=build(node))


def _ms(date: str) -> int:
    return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)


def candles(s: Setup, symbol: str, bars: int = BARS) -> pd.DataFrame:
    start = _ms(SIM_START)
    frame = s.exchange.candles(symbol, TIMEFRAME, start, start + bars * 3_600_000).iloc[:bars]
    if len(frame) != bars:
        raise RuntimeError(f"the simulator served {len(frame)} {symbol} bars, not {bars}")
    return cast(pd.DataFrame, frame)


def book_ticks(s: Setup, symbol: str, n: int) -> pd.DataFrame:
    frame = s.exchange.book_ticks(symbol, _ms(TICKS_START), n)
    if len(frame) != n:
        raise RuntimeError(f"the simulator served {len(frame)} ticks, not {n}")
    return cast(pd.DataFrame, frame)


def candle_set(frame: pd.DataFrame, timeframe: str) -> Any:
    from thunes.data.candles import GapReport
    from thunes.data.sources import CandleSet

    return CandleSet(frame, timeframe, GapReport(0, 0, 0, None), "keep", "bench", "sim")


def components(s: Setup, make: Callable[[], Any], markets: list[Any], risk: Any) -> Any:
    """A Components for the product's own choice.backtest/replay (no data, no tracker)."""
    from thunes.components import Components
    from thunes.execution.filters import ExchangeFilters

    nothing: Any = None
    return Components(
        exchange=s.exchange,
        markets=markets,
        data=nothing,
        strategies=[make() for _ in markets],
        filters=ExchangeFilters(),
        sizer=s.sizer,
        risk=risk,
        notifier=nothing,
        tracker=nothing,
        drift=nothing,
        cash=s.cash,
    )


def keys(fills: list[Any]) -> list[FillKey]:
    return [(f.symbol, int(f.bar), str(f.side), float(f.price), float(f.amount)) for f in fills]


# -- THUNES's paths, stage by stage as thunes/backtest/choice.py runs them -------------------
Run = Callable[[Laps], Result]


def vectorbt_path(s: Setup, market: Any, make: Callable[[], Any], frame: pd.DataFrame) -> Run:
    """choice.backtest's fast path: signals once, then VectorbtBacktester.run."""
    from thunes.backtest.engine import VectorbtBacktester
    from thunes.data.candles import as_columns

    fees, slippage = s.exchange.fees, s.exchange.slippage

    def run(laps: Laps) -> Result:
        signals = make().signals(as_columns(frame))
        laps.lap("signals")
        backtester = VectorbtBacktester(fees, slippage, market.filters, s.sizer, s.cash)
        result = backtester.run(frame, TIMEFRAME, signals)
        laps.lap("run")
        return keys(result.fills)

    return run


def event_path(
    s: Setup,
    markets: list[Any],
    make: Callable[[], Any],
    frames: list[pd.DataFrame],
    risk_limits: Any,
    whole_history: bool,
) -> Run:
    """choice._event: one wallet, one risk engine, a lane per symbol, PortfolioEngine, then
    the fills as a vectorbt portfolio. `whole_history`: signals precomputed (backtest), else
    evaluated on the rolling window at every bar (replay)."""
    from thunes.backtest.assembly import assemble
    from thunes.data.candles import as_columns
    from thunes.engine.lane import Lane
    from thunes.engine.replay import PortfolioEngine
    from thunes.engine.sim_broker import SimBroker, Wallet
    from thunes.risk.engine import RiskEngine
    from thunes.strategy.signal_runner import as_event_strategy

    fees, slippage = s.exchange.fees, s.exchange.slippage
    symbols = [m.symbol for m in markets]

    def run(laps: Laps) -> Result:
        runners = [
            as_event_strategy(make(), as_columns(frame) if whole_history else None)
            for frame in frames
        ]
        laps.lap("signals")
        risk = RiskEngine(risk_limits, fees.taker)
        wallet = Wallet(s.cash)
        lanes = [
            Lane(runner, SimBroker(fees, slippage, m.filters, s.sizer, wallet, risk), frame)
            for runner, m, frame in zip(runners, markets, frames, strict=True)
        ]
        done = PortfolioEngine(lanes, batch=whole_history).run()
        laps.lap("engine")
        result = assemble(
            done, dict(zip(symbols, frames, strict=True)), runners, risk, TIMEFRAME, s.cash
        )
        laps.lap("portfolio")
        return keys(result.fills)

    return run


def ticks_path(
    s: Setup, market: Any, make: Callable[[], Any], frame: pd.DataFrame, per_event: bool
) -> Run:
    """choice.ticks: the tick engine over the whole frame (backtest: one compiled loop) or
    one BookTick at a time through on_tick (replay), then the portfolio and the report."""
    from thunes.backtest.assembly import assemble_ticks
    from thunes.backtest.choice import feed_ticks
    from thunes.engine.tick_engine import TickEngine
    from thunes.risk.engine import RiskEngine

    fees, symbol = s.exchange.fees, market.symbol

    def run(laps: Laps) -> Result:
        strategy = make()
        risk = RiskEngine(s.default_risk, fees.taker)
        engine = TickEngine(strategy, fees, market.filters, s.cash, risk)
        done = feed_ticks(engine, frame, per_event)
        laps.lap("engine")
        result = assemble_ticks(done, frame, symbol, strategy, risk, TICK_TIMEFRAME, s.cash)
        laps.lap("portfolio")
        return keys(result.fills)

    return run


def sweep_decisions(
    close: np.ndarray, pairs: list[tuple[int, int]], averages: dict[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's (entries, exits) columns, each distinct average computed once (`averages`
    keeps them across chunks), as a sweep would."""
    from thunes.strategy.indicators import crossed_above, sma

    for window in {w for pair in pairs for w in pair} - averages.keys():
        averages[window] = sma(close, window)
    # a run per row, viewed as columns: signal_equity_batch reads each run contiguously
    entries = np.stack([crossed_above(averages[f], averages[w]) for f, w in pairs]).T
    exits = np.stack([crossed_above(averages[w], averages[f]) for f, w in pairs]).T
    return entries, exits


def sweep_path(
    s: Setup, market: Any, frame: pd.DataFrame, pairs: list[tuple[int, int]], risk: Any
) -> Callable[[Laps], np.ndarray]:
    """signal_equity_batch over `pairs` in chunks: the equity columns, side by side."""
    from thunes.engine.signal_sweep import signal_equity_batch

    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    o, h, lo, c = (frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))

    def run(laps: Laps) -> np.ndarray:
        averages: dict[int, np.ndarray] = {}
        out, buffer = [], None
        for first in range(0, len(pairs), SWEEP_CHUNK):
            entries, exits = sweep_decisions(c, pairs[first : first + SWEEP_CHUNK], averages)
            laps.lap("signals")
            equity = signal_equity_batch(
                times, o, h, lo, c, entries, exits, fees=s.exchange.fees,
                slippage=s.exchange.slippage, filters=market.filters, sizer=s.sizer,
                cash=s.cash, risk=risk,
                out=buffer if buffer is not None and buffer.shape == entries.shape else None,
            ).equity  # fmt: skip
            out.append(equity[-1].copy())  # what a sweep keeps: here, the final equity
            buffer = equity
            laps.lap("engine")
        return np.concatenate(out)

    return run


def sweep_check(s: Setup, frame: pd.DataFrame) -> tuple[Callable[[], Result], ...]:
    """(product, path) for three pairs: choice.backtest's portfolio.value() and the batch
    evaluator's columns, per bar, the path's values snapped onto the product's within 1e-9
    (vectorbt marks the account from its order records, the engine as it goes)."""
    from thunes.strategy.sma_cross import SmaCross

    btc, pairs = s.markets["btcusdt"], SWEEP_PAIRS[:: len(SWEEP_PAIRS) // 3][:3]
    data = [candle_set(frame, TIMEFRAME)]

    def product_values() -> list[float]:
        from thunes.backtest import choice

        values = []
        for fast, slow in pairs:
            parts = components(
                s,
                lambda f=fast, w=slow: SmaCross(f, w, "sma", None, None, None),
                [btc],
                s.default_risk,
            )
            values += choice.backtest(parts, data).portfolio.value().tolist()
        return values

    def path_values() -> list[float]:
        times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
        cols = [frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close")]
        entries, exits = sweep_decisions(cols[3], pairs, {})
        from thunes.engine.signal_sweep import signal_equity_batch

        equity = signal_equity_batch(
            times, *cols, entries, exits, fees=s.exchange.fees, slippage=s.exchange.slippage,
            filters=btc.filters, sizer=s.sizer, cash=s.cash, risk=s.default_risk,
        ).equity  # fmt: skip
        mine, theirs = equity.T.ravel().tolist(), product_values()
        return [p if abs(m - p) <= 1e-9 * abs(p) else m for m, p in zip(mine, theirs, strict=True)]

    return product_values, path_values


# -- the bare references -------------------------------------------------------------------
def bare_vectorbt(s: Setup, sma: Json, frame: pd.DataFrame) -> Run:
    """The vectorbt calls a user would write for the SMA cross: MA.run, from_signals, no stats."""
    import vectorbt as vbt

    index = pd.DatetimeIndex(frame.index).tz_localize(None)
    close = pd.Series(frame["close"].to_numpy(), index=index)
    fees, slippage = s.exchange.fees.taker, s.exchange.slippage

    def run(laps: Laps) -> Result:
        fast, slow = vbt.MA.run(close, sma["fast"]), vbt.MA.run(close, sma["slow"])
        entries, exits = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
        laps.lap("signals")
        pf = vbt.Portfolio.from_signals(
            close, entries, exits, fees=fees, slippage=slippage, freq=TIMEFRAME
        )
        laps.lap("from_signals")
        return int(pf.orders.count())

    return run


def bare_dca(s: Setup, dca: Json, frame: pd.DataFrame) -> Run:
    from tests.benchmarks.bare_loops import dca_loop

    if dca.get("drop_pct") is None:
        raise RuntimeError("the bare DCA loop needs drop_pct")

    def run(laps: Laps) -> Result:
        o, h, c = (frame[k].to_numpy(np.float64) for k in ("open", "high", "close"))
        laps.lap("arrays")
        fills, _ = dca_loop(
            o,
            h,
            c,
            float(dca["quote_amount"]),
            float(dca["drop_pct"]),
            float(dca.get("volume_multiplier", 1.0)),
            int(dca.get("max_safety_orders", 0)),
            float(dca["take_profit_pct"]),
            s.exchange.fees.taker,
        )
        laps.lap("loop")
        return int(fills)

    return run


def bare_grid(s: Setup, grid: Json, frame: pd.DataFrame) -> Run:
    from tests.benchmarks.bare_loops import grid_loop

    if not grid.get("relative", False):
        raise RuntimeError("the bare grid loop lays relative bounds")

    def run(laps: Laps) -> Result:
        h, lo, c = (frame[k].to_numpy(np.float64) for k in ("high", "low", "close"))
        laps.lap("arrays")
        fills, _ = grid_loop(
            h,
            lo,
            c,
            float(grid["lower"]),
            float(grid["upper"]),
            int(grid.get("levels", 11)),
            grid.get("spacing", "arithmetic") == "geometric",
            float(grid.get("quote_per_level", 20.0)),
            float(grid.get("stop_below") or 1.0),  # none: a stop at 0, never reached
            s.exchange.fees.maker,
        )
        laps.lap("loop")
        return int(fills)

    return run


def bare_scalper(s: Setup, scalper: Json, market: Any, frame: pd.DataFrame) -> Run:
    from tests.benchmarks.bare_loops import scalper_loop

    tick = market.filters.tick_size

    def run(laps: Laps) -> Result:
        times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
        bid, bid_size, ask, ask_size = (
            frame[k].to_numpy(np.float64) for k in ("bid", "bid_size", "ask", "ask_size")
        )
        laps.lap("arrays")
        fills, _ = scalper_loop(
            times,
            bid,
            bid_size,
            ask,
            ask_size,
            float(scalper["imbalance_threshold"]),
            float(scalper["take_profit_ticks"]) * tick,
            float(scalper["stop_loss_ticks"]) * tick,
            float(scalper["max_hold_ms"]),
            float(scalper["quote_amount"]),
            s.exchange.fees.taker,
        )
        laps.lap("loop")
        return int(fills)

    return run


def bare_vectorbt_sweep(s: Setup, frame: pd.DataFrame, pairs: list[tuple[int, int]]) -> Run:
    """vectorbt's from_signals over the same decision columns, chunk by chunk, no stats."""
    import vectorbt as vbt

    index = pd.DatetimeIndex(frame.index).tz_localize(None)
    close = pd.Series(frame["close"].to_numpy(), index=index)
    fees, slippage = s.exchange.fees.taker, s.exchange.slippage

    def run(laps: Laps) -> Result:
        done = 0
        averages: dict[int, np.ndarray] = {}
        for first in range(0, len(pairs), SWEEP_CHUNK):
            chunk = pairs[first : first + SWEEP_CHUNK]
            entries, exits = sweep_decisions(close.to_numpy(), chunk, averages)
            laps.lap("signals")
            pf = vbt.Portfolio.from_signals(
                close, entries, exits, fees=fees, slippage=slippage, freq=TIMEFRAME
            )
            done += pf.value().shape[1]
            laps.lap("from_signals")
        return done

    return run


# -- the groups ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One measured path: its run, what one run processes, a cheaper warm-up, and a check."""

    name: str
    run: Run
    events: int = 0  # bars (or ticks) one run processes, for a rate; 0: none
    warm: Run | None = None  # the warm-up run (default: run)
    check: tuple[Callable[[], Result], Callable[[], Result]] | None = None  # (product, path)
    memory: bool = True  # one more run, for its peak RSS
    parallel: bool = False  # numba's parallel loops carry it: its wall rate beside the CPU one


def _product(parts: Any, data: list[Any], replay: bool = False) -> Callable[[], Result]:
    """The product's own entry point on the same data: choice.backtest (or replay)."""
    from thunes.backtest import choice

    def call() -> Result:
        result = (choice.replay if replay else choice.backtest)(parts, data)
        return keys(result.fills)

    return call


def _mine(run: Run) -> Callable[[], Result]:
    return lambda: run(Laps())


def sma_group(s: Setup, opts: argparse.Namespace) -> list[Case]:
    make, params = factory("sma_cross")
    btc = s.markets["btcusdt"]
    frame = candles(s, btc.symbol)
    few, cut = frame.iloc[: opts.warm_bars], opts.warm_bars > 0
    data = [candle_set(frame, TIMEFRAME)]
    on_top = fees_on_top(s)
    fast = vectorbt_path(on_top, btc, make, frame)
    event = event_path(s, [btc], make, [frame], s.default_risk, whole_history=True)
    return [
        Case(
            "sma_vectorbt",
            fast,
            BARS,
            warm=vectorbt_path(on_top, btc, make, few) if cut else None,
            check=(_product(components(on_top, make, [btc], s.no_risk), data), _mine(fast)),
        ),
        Case(
            "sma_event",
            event,
            BARS,
            warm=event_path(s, [btc], make, [few], s.default_risk, True) if cut else None,
            check=(_product(components(s, make, [btc], s.default_risk), data), _mine(event)),
        ),
        Case(
            "bare_vectorbt",
            bare_vectorbt(s, params, frame),
            warm=bare_vectorbt(s, params, few) if cut else None,
        ),
    ]


Builder = Callable[[Setup, argparse.Namespace], list[Case]]


def _event_group(name: str, bare: Callable[[Setup, Json, pd.DataFrame], Run]) -> Builder:
    def group(s: Setup, opts: argparse.Namespace) -> list[Case]:
        make, params = factory(name)
        btc = s.markets["btcusdt"]
        frame = candles(s, btc.symbol)
        few, cut = frame.iloc[: opts.warm_bars], opts.warm_bars > 0
        path = event_path(s, [btc], make, [frame], s.default_risk, whole_history=True)
        parts = components(s, make, [btc], s.default_risk)
        return [
            Case(
                name,
                path,
                BARS,
                warm=event_path(s, [btc], make, [few], s.default_risk, True) if cut else None,
                check=(_product(parts, [candle_set(frame, TIMEFRAME)]), _mine(path)),
            ),
            Case(
                f"bare_{name}", bare(s, params, frame), warm=bare(s, params, few) if cut else None
            ),
        ]

    return group


def scalper_group(s: Setup, opts: argparse.Namespace) -> list[Case]:
    make, params = factory("scalper")
    btc = s.markets["btcusdt"]
    frame = book_ticks(s, btc.symbol, TICKS)
    path = ticks_path(s, btc, make, frame, per_event=False)
    parts = components(s, make, [btc], s.default_risk)
    return [
        Case(
            "scalper",
            path,
            TICKS,
            check=(_product(parts, [candle_set(frame, TICK_TIMEFRAME)]), _mine(path)),
        ),
        Case("bare_scalper", bare_scalper(s, params, btc, frame)),
    ]


def portfolio_group(s: Setup, opts: argparse.Namespace) -> list[Case]:
    make, _ = factory("sma_cross")
    markets = [s.markets[name] for name in SYMBOLS]
    frames = [candles(s, m.symbol) for m in markets]
    few = [f.iloc[: opts.warm_bars] for f in frames]
    cases = []
    for name, n in (("portfolio_3", 3), ("portfolio_1", 1)):
        path = event_path(s, markets[:n], make, frames[:n], s.default_risk, whole_history=True)
        warm = event_path(s, markets[:n], make, few[:n], s.default_risk, whole_history=True)
        parts = components(s, make, markets[:n], s.default_risk)
        data = [candle_set(f, TIMEFRAME) for f in frames[:n]]
        check = (_product(parts, data), _mine(path))
        cases.append(Case(name, path, BARS * n, warm if opts.warm_bars else None, check))
    return cases


def replay_group(s: Setup, opts: argparse.Namespace) -> list[Case]:
    sma, _ = factory("sma_cross")
    scalper, _ = factory("scalper")
    btc = s.markets["btcusdt"]
    frame, ticks = candles(s, btc.symbol), book_ticks(s, btc.symbol, opts.on_tick_ticks)
    few, few_ticks = frame.iloc[:WARM_BARS], ticks.iloc[:WARM_TICKS]
    warm_sma = event_path(s, [btc], sma, [few], s.default_risk, whole_history=False)
    warm_ticks = ticks_path(s, btc, scalper, few_ticks, per_event=True)
    sma_parts = components(s, sma, [btc], s.default_risk)
    few_set = [candle_set(few, TIMEFRAME)]
    tick_parts = components(s, scalper, [btc], s.default_risk)
    return [
        Case(
            "replay_sma",
            event_path(s, [btc], sma, [frame], s.default_risk, whole_history=False),
            BARS,
            warm=warm_sma,
            memory=False,
            check=(
                _product(sma_parts, [candle_set(few, TIMEFRAME)], replay=True),
                _mine(warm_sma),
            ),
        ),
        *(
            Case(
                f"replay_{name}",
                event_path(s, [btc], make, [frame], s.default_risk, whole_history=False),
                BARS,
                warm=event_path(s, [btc], make, [few], s.default_risk, whole_history=False),
                memory=False,
                check=(
                    _product(components(s, make, [btc], s.default_risk), few_set, replay=True),
                    _mine(event_path(s, [btc], make, [few], s.default_risk, False)),
                ),
            )
            for name, make in (("dca", factory("dca")[0]), ("grid", factory("grid")[0]))
        ),
        Case(
            "scalper_on_tick",
            ticks_path(s, btc, scalper, ticks, per_event=True),
            len(ticks),
            warm=warm_ticks,
            memory=False,
            check=(
                _product(tick_parts, [candle_set(few_ticks, TICK_TIMEFRAME)], replay=True),
                _mine(warm_ticks),
            ),
        ),
    ]


def sweep_group(s: Setup, opts: argparse.Namespace) -> list[Case]:
    btc = s.markets["btcusdt"]
    frame = candles(s, btc.symbol)
    path = sweep_path(s, btc, frame, SWEEP_TIMED, s.default_risk)
    few = sweep_path(s, btc, frame, SWEEP_PAIRS[:8], s.default_risk)
    reference = SWEEP_REFERENCE
    return [
        Case(
            "sweep",
            lambda laps: len(path(laps)),
            len(SWEEP_TIMED),
            warm=lambda laps: len(few(laps)),
            check=sweep_check(s, frame) if opts.check else None,
            memory=False,
            parallel=True,
        ),
        Case(
            "bare_vectorbt_sweep",
            bare_vectorbt_sweep(s, frame, reference),
            len(reference),
            warm=bare_vectorbt_sweep(s, frame, SWEEP_PAIRS[:8]),
            memory=False,
            parallel=True,
        ),
    ]


BUILDERS: dict[str, Builder] = {
    "sma": sma_group,
    "dca": _event_group("dca", bare_dca),
    "grid": _event_group("grid", bare_grid),
    "scalper": scalper_group,
    "portfolio": portfolio_group,
    "replay": replay_group,
    "sweep": sweep_group,
}
CASE_GROUP = {
    "sma_vectorbt": "sma",
    "sma_event": "sma",
    "bare_vectorbt": "sma",
    "dca": "dca",
    "bare_dca": "dca",
    "grid": "grid",
    "bare_grid": "grid",
    "scalper": "scalper",
    "bare_scalper": "scalper",
    "portfolio_3": "portfolio",
    "portfolio_1": "portfolio",
    "replay_sma": "replay",
    "replay_dca": "replay",
    "replay_grid": "replay",
    "scalper_on_tick": "replay",
    "sweep": "sweep",
    "bare_vectorbt_sweep": "sweep",
}


# -- the worker: one group in this process ---------------------------------------------------
def _count(result: Result) -> int:
    return result if isinstance(result, int) else len(result)


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def _bests(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: min(s[key] for s in samples) for key in samples[0]}


def _checks(cases: list[Case]) -> Json:
    """Each path's fills against the product's own entry point on the same data."""
    checks: Json = {}
    for case in cases:
        if case.check is not None:
            product, mine = (call() for call in case.check)
            checks[case.name] = {
                "matches_product": product == mine,
                "product_fills": _count(product),
                "path_fills": _count(mine),
            }
    return checks


def _memory(case: Case) -> Json:
    """One more run, for memory only: the heap trimmed and the high-water mark reset first,
    so the peak over the RSS before it is what this run needs on top of what is live."""
    gc.collect()
    trimmed = trim_heap()
    resettable = reset_peak_rss()
    before = current_rss_bytes()
    case.run(Laps())
    peak = peak_rss_bytes()
    return {
        "peak_delta_mb": max(0, peak - before) / _MB,  # RSS counters move in batches: >= 0
        "peak_rss_mb": peak / _MB,
        "heap_trimmed": trimmed,
        "peak_resettable": resettable,
    }


def bench(cases: list[Case], warmup: int, repeats: int, check: bool, memory: bool) -> Json:
    """Check, warm up, `repeats` alternating timed runs, then one memory run per path.

    A path's figure is its best (least) CPU time over the runs, each stage's too: on this
    kind of shared virtual machine the same code runs in a fast and a slow state that flip
    within one process (the slow one ~1.5x, the bare loops' tiny compiled kernels untouched,
    so a ratio to them cannot cancel it), and other processes' turns on the CPU land in the
    wall clock. A slowdown never makes a run faster, so the best run is the one the machine
    disturbed least; the medians, CPU and wall, stay in the JSON, and `spread` (median over
    best) says how disturbed the runs were. The paths of a group alternate, so a path and its
    reference meet the same states.

    Timed runs only collect garbage first: trimming the heap before them would add the page
    faults of a fresh heap to every run (20% of the vectorbt paths' time, measured).
    """
    checks = _checks(cases) if check else {}
    for _ in range(warmup):
        for case in cases:
            (case.warm or case.run)(Laps())
    gc.collect()
    setup_rss, setup_peak = current_rss_bytes(), peak_rss_bytes()
    samples: dict[str, list[Laps]] = {c.name: [] for c in cases}
    fills: dict[str, int] = {}
    meter = CpuMeter()
    for _ in range(repeats):
        for case in cases:
            gc.collect()
            laps = Laps()
            fills[case.name] = _count(case.run(laps))
            samples[case.name].append(laps)
    interference = meter.stop()
    peaks = {case.name: _memory(case) for case in cases if memory and case.memory}
    out: Json = {}
    for case in cases:
        cpu = [sum(laps.stages.values()) for laps in samples[case.name]]
        wall = [sum(laps.walls.values()) for laps in samples[case.name]]
        best, stages = min(cpu), _bests([laps.stages for laps in samples[case.name]])
        entry: Json = {
            "seconds": best,  # the figure: best CPU time of the path
            "stages": stages,  # each stage's best CPU time
            "cpu_median": statistics.median(cpu),
            "spread": statistics.median(cpu) / best if best > 0 else None,
            "cpu_samples": cpu,
            "wall_median": statistics.median(wall),
            "wall_samples": wall,
            "wall_stages_median": _medians([laps.walls for laps in samples[case.name]]),
            "fills": fills[case.name],
            "peak_delta_mb": None,
            **peaks.get(case.name, {}),
            **checks.get(case.name, {}),
        }
        if case.events:
            walls = entry["wall_stages_median"]
            entry |= {
                "events": case.events,
                "events_per_second": case.events / stages.get("engine", best),  # the engine
                "events_per_second_path": case.events / best,
                "rate_clock": "cpu, best",
            }
            if case.parallel:  # what a user sees on this machine's cores
                wall = walls.get("engine", entry["wall_median"])
                entry["events_per_second_wall"] = case.events / wall
        out[case.name] = entry
    return {
        "cases": out,
        "setup_rss_mb": setup_rss / _MB,  # imports, data and warm-ups done
        "setup_peak_rss_mb": setup_peak / _MB,  # the process's peak until then
        "interference": interference,  # over the timed runs
    }


def _config(s: Setup) -> Json:
    """What the paths ran with, as built from conf/: a changed default shows in the JSON."""
    ex = s.exchange
    return {
        "exchange": {"seed": ex.seed, "fees": repr(ex.fees), "slippage": ex.slippage},
        "filters": {m.symbol: repr(m.filters) for m in s.markets.values()},
        "sizer": repr(s.sizer),
        "default_risk": repr(s.default_risk),
        "cash": s.cash,
        "strategies": {n: factory(n)[1] for n in ("sma_cross", "dca", "grid", "scalper")},
    }


def run_group(group: str, opts: argparse.Namespace) -> Json:
    started = time.perf_counter()
    s = setup()
    cases = BUILDERS[group](s, opts)
    ready = time.perf_counter()
    result = bench(cases, opts.warmup, opts.repeats, opts.check, opts.memory)
    return {
        "group": group,
        "warmup": opts.warmup,
        "repeats": opts.repeats,
        "setup_seconds": ready - started,  # imports, data, compile-free set-up
        "bench_seconds": time.perf_counter() - ready,
        "config": _config(s),
        **result,
    }


def profile(case_name: str, opts: argparse.Namespace, top: int = 25) -> None:
    """Warm one path once, then print where one run of it spends its time."""
    s = setup()
    case = next(c for c in BUILDERS[CASE_GROUP[case_name]](s, opts) if c.name == case_name)
    case.run(Laps())
    profiler = cProfile.Profile()
    laps = Laps()
    profiler.enable()
    case.run(laps)
    profiler.disable()
    print(f"{case_name}: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in laps.stages.items()))
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kind", choices=(*GROUPS, "profile"))
    parser.add_argument("--warmup", type=int, default=FULL.warmup)
    parser.add_argument("--repeats", type=int, default=FULL.repeats)
    parser.add_argument("--on-tick-ticks", type=int, default=FULL.on_tick_ticks)
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--warm-bars", type=int, default=0, help="0: warm up on all bars")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--case", choices=sorted(CASE_GROUP), help="for profile")
    opts = parser.parse_args(argv)
    if opts.kind == "profile":
        if opts.case is None:
            parser.error("profile needs --case")
        profile(opts.case, opts)
        return
    print(MARKER + json.dumps(run_group(opts.kind, opts)), flush=True)
    os._exit(0)  # skip the interpreter's teardown of vectorbt & co: under a second, unmeasured


# -- the orchestrator's side (run.py) ---------------------------------------------------------
def describe(plan: StrategyPlan) -> str:
    return (
        f"{len(GROUPS)} groups ({', '.join(GROUPS)}), a fresh process each, "
        f"{plan.warmup} warm-ups{f' on {plan.warm_bars:,} bars' if plan.warm_bars else ''}, "
        f"best CPU time of {plan.repeats} "
        f"(portfolio {plan.portfolio_repeats}, replay {plan.replay_repeats}, "
        f"sweep {plan.sweep_repeats})"
        + (", fills checked against choice.backtest/replay" if plan.check else "")
        + (", one more run per path for its peak RSS" if plan.memory else ", no memory runs")
    )


def group_args(group: str, plan: StrategyPlan) -> list[str]:
    repeats = {
        "portfolio": plan.portfolio_repeats,
        "replay": plan.replay_repeats,
        "sweep": plan.sweep_repeats,
    }
    warmup = 1 if group in repeats else plan.warmup  # their runs are the long ones
    return [
        group,
        f"--warmup={min(warmup, plan.warmup)}",
        f"--repeats={repeats.get(group, plan.repeats)}",
        f"--on-tick-ticks={plan.on_tick_ticks}",
        "--check" if plan.check else "--no-check",
        f"--warm-bars={plan.warm_bars}",
        "--memory" if plan.memory else "--no-memory",
    ]


def measure(
    plan: StrategyPlan,
    run_worker: Callable[[list[str]], Json],
    before: Callable[[], object] | None = None,
    log: Callable[[str], object] = print,
) -> Json:
    """Every group in its own worker process; a failing group is recorded, the rest go on."""
    groups: dict[str, Json] = {}
    errors: dict[str, str] = {}
    for group in GROUPS:
        if before is not None:
            before()
        try:
            groups[group] = run_worker(group_args(group, plan))
        except RuntimeError as error:  # run.py's BenchError among them
            log(f"[red]strategies: {group} failed[/]: {error}")
            errors[group] = str(error)
    return summarise(groups, errors)


def summarise(groups: dict[str, Json], errors: dict[str, str]) -> Json:
    """Per measurement: time, peak RSS delta, reference, ratio and goal (met or missed)."""
    cases = {
        name: {**case, "group": g}
        for g, res in groups.items()
        for name, case in res["cases"].items()
    }
    results: Json = {}
    for name, goal_s in GOAL_SECONDS.items():
        if name not in cases:
            continue
        case, ref = cases[name], cases.get(REFERENCE[name])
        results[name] = {
            "seconds": case["seconds"],
            "stages": case["stages"],
            "spread": case["spread"],
            "wall_median": case["wall_median"],
            "peak_delta_mb": case["peak_delta_mb"],
            "fills": case["fills"],
            "matches_product": case.get("matches_product"),
            "reference": REFERENCE[name],
            "reference_seconds": ref["seconds"] if ref else None,
            "reference_fills": ref["fills"] if ref else None,
            "ratio": case["seconds"] / ref["seconds"] if ref else None,
            "goal_seconds": goal_s,
            "met": case["seconds"] < goal_s,
        }
    three, one = cases.get("portfolio_3"), cases.get("portfolio_1")
    if three and one:
        ratio = three["seconds"] / one["seconds"]
        results["portfolio"] = {
            "seconds": three["seconds"],
            "stages": three["stages"],
            "spread": three["spread"],
            "wall_median": three["wall_median"],
            "peak_delta_mb": three["peak_delta_mb"],
            "one_symbol_seconds": one["seconds"],
            "one_symbol_peak_delta_mb": one["peak_delta_mb"],
            "fills": three["fills"],
            "matches_product": three.get("matches_product"),
            "ratio": ratio,
            "goal_ratio": GOAL_PORTFOLIO_RATIO,
            "met": ratio < GOAL_PORTFOLIO_RATIO,
        }
    for name, source, goal in (
        ("replay_sma", "replay_sma", GOAL_REPLAY_EVENTS),
        ("replay_dca", "replay_dca", None),
        ("replay_grid", "replay_grid", None),
        ("sweep", "sweep", GOAL_SWEEP_COMBOS),
        ("sweep_vectorbt", "bare_vectorbt_sweep", None),
        ("scalper_on_tick", "scalper_on_tick", None),
    ):
        if source not in cases:
            continue
        case = cases[source]
        results[name] = {
            "events": case["events"],
            "events_per_second": case["events_per_second"],
            "engine_seconds": case["events"] / case["events_per_second"],
            "path_seconds": case["events"] / case["events_per_second_path"],
            "clock": case["rate_clock"],
            "wall_events_per_second": case.get("events_per_second_wall"),
            "spread": case["spread"],
            "peak_delta_mb": case["peak_delta_mb"],
            "from": source,
        }
        if goal is not None:
            results[name] |= {"goal": goal, "met": case["events_per_second"] >= goal}
    return {"bars": BARS, "ticks": TICKS, "results": results, "groups": groups, "errors": errors}


# -- the report ----------------------------------------------------------------------------
def _s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if abs(seconds) < 0.001:
        return f"{seconds * 1e6:.0f} us"
    return f"{seconds * 1000:.1f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def _mb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb:.1f} MB"


def _met(row: Json) -> str:
    if "met" not in row:
        return "[dim]info[/]"
    return "[green]met[/]" if row["met"] else "[red]MISSED[/]"


def _noise(res: Json, name: str) -> str:
    group = CASE_GROUP.get(name)
    cores = res["groups"].get(group, {}).get("interference", {}).get("foreign_cores")
    if cores is None:
        return "?"
    return f"[red]{cores:.2f}[/]" if cores > NOISY_CORES else f"{cores:.2f}"


def _checked(row: Json) -> str:
    match = row.get("matches_product")
    return "" if match is None else (" [green]=[/]" if match else " [red]!= product[/]")


LABELS = {
    "sma_vectorbt": "sma_cross, vectorbt\n(risk=none, fees on top)",
    "sma_event": "sma_cross, event engine",
    "dca": "dca, event engine",
    "grid": "grid, event engine",
    "scalper": "scalper, run_ticks, 1M ticks",
}
REF_LABELS = {
    "bare_vectorbt": "bare vectorbt",
    "bare_dca": "numba loop",
    "bare_grid": "numba loop",
    "bare_scalper": "numba loop",
}
RATES = (
    ("replay_sma", "replay sma_cross 10/50\n(its window, every bar)", "bars/s"),
    ("replay_dca", "replay dca\n(its rules, bar by bar)", "bars/s"),
    ("replay_grid", "replay grid\n(its rules, bar by bar)", "bars/s"),
    ("scalper_on_tick", "replay scalper, on_tick", "ticks/s"),
    ("sweep", "sweep: every 3rd sma_cross pair\nthrough signal_equity_batch (engine)", "pairs/s"),
    ("sweep_vectorbt", "sweep reference: vectorbt\nfrom_signals, every 20th pair", "pairs/s"),
)


def _spread(row: Json) -> str:
    spread = row.get("spread")
    if spread is None:
        return "-"
    return f"[yellow]{spread:.2f}[/]" if spread > NOISY_SPREAD else f"{spread:.2f}"


def table(res: Json) -> Table:
    table = Table(
        title=f"6. Strategies, warm: {res['bars']:,} sim 1h bars, {res['ticks']:,} ticks; "
        "one fresh process per group",
        caption="times: a path's best CPU time over its runs, alternating with its reference's "
        "in the same process (the machine flips between a fast and a ~1.5x slower state; a "
        "slowdown never makes a run faster); spread: median run over best (yellow: "
        f"> {NOISY_SPREAD}); CPU of every thread, so the SMA paths' and the sweep's parallel "
        "loops count each core's share (the sweep rows: pairs per CPU second, their wall "
        "rate on this machine's cores, median, beside). sma_cross's vectorbt row runs with "
        "fees paid on top in quote (exchange.fees.from_received=false), the only fees the "
        "product takes its vectorbt path with. Event "
        "engines run the default risk limits; = : same fills as the product's "
        "choice.backtest/replay; peak RSS: one more run's peak over the RSS before it, "
        "heap trimmed (- : not measured, as in --quick)",
    )
    columns = ("measurement", "THUNES", "spread", "peak RSS", "reference", "ratio", "goal")
    for column in (*columns, "status", "others'"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    rows = res["results"]
    for name, label in LABELS.items():
        row = rows.get(name)
        if not row:
            continue
        ratio = row["ratio"]
        table.add_row(
            label + _checked(row),
            _s(row["seconds"]),
            _spread(row),
            _mb(row["peak_delta_mb"]),
            f"{_s(row['reference_seconds'])}\n{REF_LABELS[row['reference']]}",
            "-" if ratio is None else f"{ratio:,.1f}x",
            f"< {_s(row['goal_seconds'])}",
            _met(row),
            _noise(res, name),
        )
    row = rows.get("portfolio")
    if row:
        table.add_row(
            "portfolio: sma_cross, BTC+ETH+SOL\none wallet, one risk engine" + _checked(row),
            _s(row["seconds"]),
            _spread(row),
            _mb(row["peak_delta_mb"]),
            f"{_s(row['one_symbol_seconds'])}\nBTC alone",
            f"{row['ratio']:.2f}x",
            f"< {row['goal_ratio']:.0f}x",
            _met(row),
            _noise(res, "portfolio_3"),
        )
    for name, label, unit in RATES:
        row = rows.get(name)
        if not row:
            continue
        wall = row.get("wall_events_per_second")
        table.add_row(
            label,
            f"{row['events_per_second']:,.0f}\n{unit}"
            + ("" if wall is None else f"\n(wall {wall:,.0f})"),
            _spread(row),
            _mb(row["peak_delta_mb"]),
            f"{row['events']:,} in\n{_s(row['engine_seconds'])}",
            "-",
            f">= {row['goal']:,}" if "goal" in row else "-",
            _met(row),
            _noise(res, row["from"]),
        )
    return table


def notes(res: Json) -> list[str]:
    """One line per measured path: its stages, fills and peak RSS; then what went wrong."""
    lines = []
    for group in res["groups"].values():
        for name, case in group["cases"].items():
            stages = ", ".join(f"{k} {_s(v)}" for k, v in case["stages"].items())
            peak = case.get("peak_rss_mb")
            process = "" if peak is None else f"; process peak {peak:.0f} MB"
            lines.append(
                f"  6. {name:15} best CPU: {stages}; median CPU {_s(case['cpu_median'])}, "
                f"wall {_s(case['wall_median'])}; {case['fills']:,} fills{process}"
            )
            if case.get("matches_product") is False:
                lines.append(
                    f"     [red]{name}: {case['path_fills']} fills, but the product's "
                    f"choice entry point gives {case['product_fills']}[/]"
                )
            if case.get("peak_resettable") is False or case.get("heap_trimmed") is False:
                lines.append(f"     [yellow]{name}: peak RSS not resettable or heap not trimmed[/]")
    for group, error in res["errors"].items():
        lines.append(f"  6. [red]{group} failed[/]: {error.splitlines()[-1] if error else ''}")
    return lines


if __name__ == "__main__":
    main()
