"""What the engine did lately, for the terminal view: every order sent and fill heard, as
the kernel's recorder hears them (before the broker or the strategy acts on them), passed
on to the state's recorder (thunes/live/persist.py) first."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from thunes.domain.orders import CancelOrders, Command, Fill, OrderEvent
from thunes.domain.timeframes import utc_minute
from thunes.engine.kernel import Recorder
from thunes.feeds.clock import MarketClock


class Activity:
    """The last `keep` lines; `echo` prints each as it comes (no view), `then` records it."""

    def __init__(
        self,
        clock: MarketClock,
        keep: int = 8,
        echo: Callable[[str], None] | None = None,
        then: Recorder | None = None,
    ) -> None:
        self.clock, self.echo, self.then = clock, echo, then
        self.lines: deque[str] = deque(maxlen=keep)
        self.sent = self.fills = 0

    def sending(self, symbol: str, command: Command) -> None:
        if self.then is not None:
            self.then.sending(symbol, command)
        self.sent += 1
        if isinstance(command, CancelOrders):
            self._say(f"{symbol} cancel {command.tag or 'all'}")
            return
        size = (
            f"{command.quote:g} quote"
            if command.quote is not None
            else ("all" if command.amount is None else f"{command.amount:g}")
        )
        at = "" if command.price is None else f" @ {command.price:,.2f}"
        what = f"{command.side.value} {command.type.value} {size}{at}"
        self._say(f"{symbol} order {what} [{command.tag}]")

    def filled(self, fill: Fill) -> None:
        if self.then is not None:
            self.then.filled(fill)
        self.fills += 1
        self._say(
            f"{fill.symbol} FILL {fill.side.value} {fill.amount:g} @ {fill.price:,.2f} "
            f"fee {fill.fee:.4g} [{fill.tag}]"
        )

    def event(self, symbol: str, event: OrderEvent) -> None:
        if self.then is not None:
            self.then.event(symbol, event)

    def _say(self, line: str) -> None:
        line = f"{utc_minute(self.clock.now_ms())}  {line}"
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)
