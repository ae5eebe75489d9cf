"""What every engine returns (vectorbt, event, tick), for the reports, plots and trackers."""

from __future__ import annotations

from dataclasses import dataclass, field

import vectorbt as vbt

from thunes.domain.orders import Fill, Side, SkippedOrder


@dataclass(frozen=True)
class BacktestResult:
    """Everything a report, a plot or a tracker needs from one run, whichever engine ran it."""

    portfolio: vbt.Portfolio
    fills: list[Fill]
    skipped: list[SkippedOrder]
    risk_fired: dict[str, int] = field(default_factory=dict)
    strategy_report: dict[str, float] = field(default_factory=dict)
    levels: list[float] = field(default_factory=list)

    @property
    def skipped_entries(self) -> int:
        return sum(order.side is Side.BUY for order in self.skipped)

    @property
    def skipped_exits(self) -> int:
        return sum(order.side is Side.SELL for order in self.skipped)
