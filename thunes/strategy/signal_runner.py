"""A signal strategy, run event by event: entries and exits through the gate, plus its
optional stop-loss, take-profit and trailing stop as resting orders.

In replay the decision comes from the rolling window; in a backtest it may come from the
signals computed once over the whole history. The rules are the same `signals` either
way, which is what the parity tests check.
"""

from __future__ import annotations

from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.events import Account, Bar, EventStrategy
from thunes.strategy.gate import Action, PositionGate

EXIT_TAG = "exit"


class SignalRunner(EventStrategy):
    def __init__(self, strategy: Strategy, precomputed: Signals | None = None) -> None:
        self.strategy = strategy
        self.precomputed = precomputed
        self.gate = PositionGate()
        self.peak = 0.0
        self.trail_stop = 0.0

    @property
    def warmup(self) -> int:
        return self.strategy.warmup

    def _decision(self, bar: Bar, window: Columns) -> tuple[bool, bool]:
        if self.precomputed is not None:
            return bool(self.precomputed.entries[bar.index]), bool(
                self.precomputed.exits[bar.index]
            )
        signals = self.strategy.signals(window)
        return bool(signals.entries[-1]), bool(signals.exits[-1])

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[OrderIntent]:
        intents = self._trail(bar) if account.position > 0 else []
        action = self.gate.step(*self._decision(bar, window))
        if action is Action.ENTER:
            intents.append(OrderIntent(Side.BUY, OrderType.MARKET, tag="entry"))
        elif action is Action.EXIT:
            intents += [
                OrderIntent.cancel(EXIT_TAG),
                OrderIntent(Side.SELL, OrderType.MARKET, tag=EXIT_TAG),
            ]
        return intents

    def _trail(self, bar: Bar) -> list[OrderIntent]:
        trailing = self.strategy.trailing_stop
        self.peak = max(self.peak, bar.high)
        if trailing is None or self.peak * (1 - trailing) <= self.trail_stop:
            return []
        self.trail_stop = self.peak * (1 - trailing)
        return [
            OrderIntent.cancel(f"{EXIT_TAG}:trailing"),
            OrderIntent(
                Side.SELL, OrderType.STOP, price=self.trail_stop, tag=f"{EXIT_TAG}:trailing"
            ),
        ]

    def on_fill(self, fill: Fill, account: Account) -> list[OrderIntent]:
        if fill.side is Side.SELL:
            if account.position <= 0:
                self.gate.holding = False  # a stop, target or risk exit closed it
                return [OrderIntent.cancel(EXIT_TAG)]
            return []
        rules = self.strategy
        self.peak, self.trail_stop = fill.price, 0.0
        intents: list[OrderIntent] = []
        if rules.stop_loss is not None:
            intents.append(
                OrderIntent(
                    Side.SELL,
                    OrderType.STOP,
                    price=fill.price * (1 - rules.stop_loss),
                    tag=f"{EXIT_TAG}:stop_loss",
                )
            )
        if rules.take_profit is not None:
            intents.append(
                OrderIntent(
                    Side.SELL,
                    OrderType.LIMIT,
                    price=fill.price * (1 + rules.take_profit),
                    tag=f"{EXIT_TAG}:take_profit",
                )
            )
        if rules.trailing_stop is not None:
            self.trail_stop = fill.price * (1 - rules.trailing_stop)
            intents.append(
                OrderIntent(
                    Side.SELL, OrderType.STOP, price=self.trail_stop, tag=f"{EXIT_TAG}:trailing"
                )
            )
        return intents


def as_event_strategy(
    strategy: Strategy | EventStrategy, history: Columns | None = None
) -> EventStrategy:
    """Any strategy as the event engine drives it. With `history` (a backtest), a signal
    strategy decides once over all of it; without (replay), from its rolling window."""
    if isinstance(strategy, EventStrategy):
        return strategy
    return SignalRunner(strategy, None if history is None else strategy.signals(history))
