"""A signal strategy, run event by event: entries and exits through the gate, plus its
optional stop-loss, take-profit and trailing stop as resting orders.

In replay the decision comes from the rolling window; in a backtest it may come from the
signals computed once over the whole history. The rules are the same `signals` either
way, which is what the parity tests check; the orders they lead to are signal_rules.py's,
which the compiled batch loop (thunes/engine/batch_loop.py) runs too.
"""

from __future__ import annotations

import numpy as np

from thunes.domain import rows as c
from thunes.domain.orders import Command, Fill, Side
from thunes.strategy import signal_rules as rules
from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.compiled import as_intents
from thunes.strategy.events import Account, Bar, CompiledRules, EventStrategy


class SignalRunner(EventStrategy):
    def __init__(self, strategy: Strategy, precomputed: Signals | None = None) -> None:
        self.strategy = strategy
        self.precomputed = precomputed
        self.state = rules.runner_vector(
            strategy.stop_loss, strategy.take_profit, strategy.trailing_stop
        )
        self.out = np.zeros((rules.MAX_INTENTS, c.ORDER))

    @property
    def warmup(self) -> int:
        return self.strategy.warmup

    def compiled(self) -> CompiledRules | None:
        """Only over decisions computed once: the loop cannot call `decide` per bar."""
        if self.precomputed is None:
            return None
        return CompiledRules(self.state, len(self.out), self.precomputed)

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        decided = self.precomputed
        if decided is None:
            entry, exit_ = self.strategy.decide(window)
        else:
            entry, exit_ = bool(decided.entries[bar.index]), bool(decided.exits[bar.index])
        n = rules.on_bar(bar.high, account.position, entry, exit_, self.state, self.out)
        return as_intents(self.out[:n]) if n else []

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        buy = fill.side is Side.BUY
        n = rules.on_fill(buy, fill.price, fill.tradable, account.position, self.state, self.out)
        return as_intents(self.out[:n]) if n else []


def as_event_strategy(
    strategy: Strategy | EventStrategy, history: Columns | None = None
) -> EventStrategy:
    """Any strategy as the event engine drives it. With `history` (a backtest), a signal
    strategy decides once over all of it; without (replay), from its rolling window."""
    if isinstance(strategy, EventStrategy):
        return strategy
    return SignalRunner(strategy, None if history is None else strategy.signals(history))
