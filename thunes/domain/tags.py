"""Order tags as the compiled engines keep them: a number per distinct tag string.

One book for the whole process, so a code means the same tag in every broker and every
strategy. The risk engine's tags and a signal strategy's come first, at fixed codes that
numba code uses (`rows.MAX_LOSS_CODE`, `rows.KILL_CODE`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_LOSS_TAG = "risk:max_loss"  # the risk engine's protective stop
KILL_TAG = "risk:kill_switch"  # the kill-switch's flattening sell
ENTRY_TAG = "entry"
EXIT_TAG = "exit"  # a signal strategy's exit; its stops' tags start with it
STOP_LOSS_TAG = "exit:stop_loss"
TAKE_PROFIT_TAG = "exit:take_profit"
TRAILING_TAG = "exit:trailing"
FIXED = (MAX_LOSS_TAG, KILL_TAG, ENTRY_TAG, EXIT_TAG, STOP_LOSS_TAG, TAKE_PROFIT_TAG, TRAILING_TAG)


class TagBook:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        self._masks: dict[str, npt.NDArray[np.bool_]] = {}
        for tag in FIXED:
            self.code(tag)

    def code(self, tag: str) -> int:
        code = self._codes.get(tag)
        if code is None:
            code = self._codes[tag] = len(self.names)
            self.names.append(tag)
        return code

    def prefixed(self, prefix: str) -> npt.NDArray[np.bool_]:
        """Which codes name a tag that starts with `prefix` (what a cancel withdraws)."""
        mask = self._masks.get(prefix)
        if mask is None or len(mask) < len(self.names):
            mask = np.array([name.startswith(prefix) for name in self.names], dtype=np.bool_)
            self._masks[prefix] = mask
        return mask

    def prefix_table(self) -> npt.NDArray[np.bool_]:
        """`prefixed` of every tag at once, row by the cancelling tag's code."""
        names = self.names
        return np.array([[b.startswith(a) for b in names] for a in names], dtype=np.bool_)


TAGS = TagBook()
