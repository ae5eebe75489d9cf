"""What an event-engine run hands back, whichever face (per event or compiled) ran it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from thunes.domain.orders import Fill, SkippedOrder
from thunes.execution.filters import FloatArray


@dataclass(frozen=True)
class ReplayResult:
    """One symbol's orders; `equity` is the whole account's, at each of this symbol's bars."""

    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: FloatArray


@dataclass(frozen=True)
class PortfolioRun:
    timeline: npt.NDArray[np.int64]  # every timestamp (ms) at which some symbol has a bar
    equity: FloatArray  # the account's equity at each timeline step
    lanes: list[ReplayResult]
