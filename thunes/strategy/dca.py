"""Dollar-cost averaging: a base buy, safety buys on drops or on a clock, one take-profit.

A cycle opens with a market buy of `quote_amount` at a close. Safety buys follow, each
`volume_multiplier` times the quote of the buy before it, at most `max_safety_orders` of
them: when a close is `drop_pct` below the last buy's fill price, or `every_bars` bars
after the close that decided the last buy (either one, when both are set). After every buy,
and every part of one, the take-profit, a sell limit for the whole position at the average
entry plus `take_profit_pct`, is withdrawn and placed again. A buy filled in parts counts
once, and its fill price is the volume-weighted price of its parts. The cycle ends when the
position is gone: sold by the take-profit (completed) or by anyone else, such as the risk
engine's stop (stopped). The next cycle opens at the first close after that.

State moves only on fills: a buy the broker or the risk engine skipped is asked for again
at the next close, for as long as its condition holds. The rules are numba functions
(dca_rules.py) that the compiled engine loop runs too; this class is their face.
"""

from __future__ import annotations

import numpy as np

from thunes.domain import rows as c
from thunes.domain.orders import Command, Fill, Side
from thunes.domain.tags import TAGS
from thunes.strategy import dca_rules as r
from thunes.strategy.base import Columns
from thunes.strategy.compiled import as_intents
from thunes.strategy.dca_rules import DcaRow
from thunes.strategy.events import Account, Bar, CompiledRules, EventStrategy

BASE_TAG = "dca:base"
SAFETY_TAG = "dca:safety"
TAKE_PROFIT_TAG = "dca:take_profit"


class Dca(EventStrategy):
    """Buys into a fall in growing steps and sells the lot a little above its average."""

    def __init__(
        self,
        *,
        quote_amount: float,
        take_profit_pct: float,
        every_bars: int | None,
        drop_pct: float | None,
        volume_multiplier: float,
        max_safety_orders: int,
    ) -> None:
        if every_bars is None and drop_pct is None:
            raise ValueError("Dca needs every_bars, drop_pct or both to place safety buys")
        self.quote_amount = quote_amount
        self.take_profit_pct = take_profit_pct
        self.every_bars = every_bars
        self.drop_pct = drop_pct
        self.volume_multiplier = volume_multiplier
        self.max_safety_orders = max_safety_orders
        safety = [TAGS.code(f"{SAFETY_TAG}:{n}") for n in range(1, max_safety_orders + 1)]
        self.state = np.zeros(DcaRow.SAFETY_CODES + len(safety))
        self.state[: DcaRow.SAFETY_N] = [
            r.DCA,
            quote_amount,
            take_profit_pct,
            np.nan if every_bars is None else every_bars,
            np.nan if drop_pct is None else drop_pct,
            volume_multiplier,
            max_safety_orders,
            TAGS.code(BASE_TAG),
            TAGS.code(TAKE_PROFIT_TAG),
        ]
        self.state[DcaRow.SAFETY_CODES :] = safety
        self.out = np.zeros((r.MAX_INTENTS, c.ORDER))

    @property
    def cycles_completed(self) -> int:
        """Cycles closed by the take-profit."""
        return int(self.state[DcaRow.COMPLETED])

    @property
    def cycles_stopped(self) -> int:
        """Cycles closed by anyone else (risk stop, kill switch)."""
        return int(self.state[DcaRow.STOPPED])

    @property
    def peak_committed_quote(self) -> float:
        """The most one cycle took from the cash, fees in."""
        return float(self.state[DcaRow.PEAK_COMMITTED])

    @property
    def average_entry(self) -> float | None:
        """Volume-weighted fill price of the current cycle's buys (fees out), which a
        partial sale leaves as it is; None when flat."""
        amount = float(self.state[DcaRow.AMOUNT])
        return float(self.state[DcaRow.SPENT]) / amount if amount > 0 else None

    def compiled(self) -> CompiledRules:
        return CompiledRules(self.state, len(self.out))

    def report(self, last_price: float) -> dict[str, float]:
        return {
            "dca_average_entry": self.average_entry or float("nan"),
            "dca_cycles_completed": self.cycles_completed,
            "dca_cycles_stopped": self.cycles_stopped,
            "dca_peak_committed_quote": self.peak_committed_quote,
        }

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        n = r.on_bar(bar.index, bar.close, self.state, self.out)
        return as_intents(self.out[:n]) if n else []

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        buy, tag = fill.side is Side.BUY, TAGS.code(fill.tag)
        n = r.on_fill(
            buy, fill.price, fill.tradable, fill.fee, tag, account.position, self.state, self.out
        )
        return as_intents(self.out[:n]) if n else []
