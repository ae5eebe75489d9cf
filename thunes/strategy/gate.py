"""Long-only spot, one position per symbol: which decisions become orders.

Both engines step through decisions with this one gate, so they agree on which signals act:
an entry acts only when flat, an exit only when holding, and a bar that says both does
nothing. The gate tracks the *intended* position: an entry the venue then rejects (under
min notional) still counts as taken until the next exit, in both engines alike.
"""

from __future__ import annotations

from enum import Enum


class Action(Enum):
    NONE = 0
    ENTER = 1
    EXIT = 2


class PositionGate:
    def __init__(self) -> None:
        self.holding = False

    def step(self, entry: bool, exit: bool) -> Action:
        if entry == exit:
            return Action.NONE
        if entry and not self.holding:
            self.holding = True
            return Action.ENTER
        if exit and self.holding:
            self.holding = False
            return Action.EXIT
        return Action.NONE
