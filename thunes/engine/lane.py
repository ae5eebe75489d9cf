"""One symbol as the event engine runs it: what both of its faces (per event, compiled)
take, so neither imports the other; and the lanes a config describes, built once for
replay, paper and live alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from thunes.domain.orders import ClientIds
from thunes.engine.sim_broker import SimBroker, Wallet
from thunes.engine.tick_engine import TickEngine
from thunes.errors import ConfigError
from thunes.execution.broker import Broker
from thunes.risk.engine import RiskEngine
from thunes.strategy.events import EventStrategy
from thunes.strategy.scalper import Scalper
from thunes.strategy.signal_runner import as_event_strategy

if TYPE_CHECKING:
    import pandas as pd

    from thunes.components import Components
    from thunes.execution.filters import FloatArray


@dataclass
class Lane:
    """One symbol: its candles (a replay's whole history; None for a live run, whose
    candles come from its feed), its own strategy instance and its broker."""

    strategy: EventStrategy
    broker: Broker
    candles: pd.DataFrame | None
    symbol: str = ""

    def history(self) -> pd.DataFrame:
        """Its candles, for a run over them (replay, backtest)."""
        if self.candles is None:
            raise ValueError(f"lane {self.symbol}: a live lane has no candles to run over")
        return self.candles


def simulated_lanes(
    parts: Components,
    frames: Sequence[pd.DataFrame | None],
    whole_history: bool,
    run_id: str | None = None,
) -> tuple[list[Lane], RiskEngine]:
    """A lane per configured symbol: its strategy as the event engine drives it, a simulated
    broker on one shared wallet, one risk engine. `whole_history`: a signal strategy decides
    once over all of `frames` (a backtest); otherwise from its rolling window (replay, paper).
    `run_id` names the orders (a paper session's client ids); None: the simulator's."""
    symbols = [market.symbol for market in parts.markets]
    risk = RiskEngine(parts.risk, parts.exchange.fees.taker, symbols)
    wallet = Wallet(parts.cash)
    lanes = []
    for strategy, market, frame in zip(parts.strategies, parts.markets, frames, strict=True):
        runner = as_event_strategy(strategy, _columns(frame) if whole_history else None)
        broker = SimBroker(
            parts.exchange.fees,
            parts.exchange.slippage,
            parts.filters.for_market(market),
            parts.sizer,
            wallet,
            risk,
            None if run_id is None else ClientIds(run_id, type(strategy).__name__, market.symbol),
        )
        lanes.append(Lane(runner, broker, frame, market.symbol))
    return lanes, risk


def _columns(frame: pd.DataFrame | None) -> dict[str, FloatArray]:
    from thunes.data.candles import as_columns  # pandas: a backtest's, not a live run's

    assert frame is not None, "a strategy deciding over the whole history reads it"
    return as_columns(frame)


def simulated_ticks(parts: Components, run_id: str | None = None) -> tuple[TickEngine, RiskEngine]:
    """The tick scalper's engine on one symbol, for a backtest, a replay or a live feed's
    book ticks alike; `run_id` names its orders as `simulated_lanes`'."""
    strategy = parts.strategy
    if len(parts.markets) > 1 or not isinstance(strategy, Scalper):
        raise ConfigError("the tick engine runs strategy=scalper on one symbol")
    risk = RiskEngine(parts.risk, parts.exchange.fees.taker, [parts.market.symbol])
    market = parts.market
    ids = None if run_id is None else ClientIds(run_id, type(strategy).__name__, market.symbol)
    engine = TickEngine(
        strategy, parts.exchange.fees, parts.filters.for_market(market), parts.cash, risk, ids
    )
    return engine, risk
