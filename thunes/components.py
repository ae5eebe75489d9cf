"""Build the object graph that the composed config describes, one `_target_` per group."""

from __future__ import annotations

from dataclasses import dataclass

from hydra.utils import instantiate
from omegaconf import DictConfig

from thunes.data.sources import CandleSource
from thunes.domain.market import Market
from thunes.drift.monitors import NoDriftMonitor
from thunes.exchange.base import Exchange
from thunes.execution.filters import OrderFilters
from thunes.notify.notifiers import Notifier
from thunes.portfolio.sizing import Sizer
from thunes.risk.limits import RiskLimits
from thunes.strategy.base import Strategy
from thunes.strategy.events import EventStrategy
from thunes.tracking.base import Tracker


@dataclass(frozen=True)
class Components:
    exchange: Exchange
    market: Market
    data: CandleSource
    strategy: Strategy | EventStrategy
    filters: OrderFilters
    sizer: Sizer
    risk: RiskLimits
    notifier: Notifier
    tracker: Tracker
    drift: NoDriftMonitor
    cash: float


def build(cfg: DictConfig) -> Components:
    """Instantiate every group. Construction touches no network and places no order."""

    def make(group: str) -> object:
        return instantiate(cfg[group], _convert_="all")

    return Components(
        exchange=make("exchange"),  # type: ignore[arg-type]
        market=make("symbol"),  # type: ignore[arg-type]
        data=make("data"),  # type: ignore[arg-type]
        strategy=make("strategy"),  # type: ignore[arg-type]
        filters=make("filters"),  # type: ignore[arg-type]
        sizer=make("sizing"),  # type: ignore[arg-type]
        risk=make("risk"),  # type: ignore[arg-type]
        notifier=make("notifier"),  # type: ignore[arg-type]
        tracker=make("tracking"),  # type: ignore[arg-type]
        drift=make("drift"),  # type: ignore[arg-type]
        cash=float(cfg.cash),
    )
