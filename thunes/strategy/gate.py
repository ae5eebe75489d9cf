"""Long-only spot, one position per symbol: which decisions become orders.

Both engines step through decisions with this one gate, so they agree on which signals act:
an entry acts only when flat, an exit only when holding, and a bar that says both does
nothing. The gate tracks the *intended* position: an entry the venue then rejects (under
min notional) still counts as taken until the next exit, in both engines alike. It is a
numba function so that the compiled loops and the per-event runner share it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

NONE, ENTER, EXIT = range(3)  # actions


@njit(cache=True, inline="always")
def gate(entry: bool, exit: bool, holding: bool) -> tuple[int, bool]:
    """(action, whether the position is held after it)."""
    if entry == exit:
        return NONE, holding
    if entry and not holding:
        return ENTER, True
    if exit and holding:
        return EXIT, False
    return NONE, holding


@njit(cache=True)
def alternating(
    entries: npt.NDArray[np.bool_], exits: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The decisions that act, bar by bar through the gate."""
    kept_entries, kept_exits = np.zeros_like(entries), np.zeros_like(exits)
    holding = False
    for bar in range(len(entries)):
        action, holding = gate(entries[bar], exits[bar], holding)
        kept_entries[bar], kept_exits[bar] = action == ENTER, action == EXIT
    return kept_entries, kept_exits
