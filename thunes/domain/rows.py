"""Orders as numba code reads them: one float64 row per order or command.

Strategies' rules write their intents as such rows (`put`), the risk rules write their
reactions the same way, and the compiled broker keeps its book in them. A field that is
not given is NaN. Codes are plain floats, so a row fits one float64 array.

Every float64 layout of the compiled core names its fields with an `IntEnum` of its own
(`OrderRow` here; `VenueRow`, `LaneRow`, `LogRow`, `RiskRow`, and each strategy's vector):
numba folds a member to its integer, so `row[OrderRow.PRICE]` compiles to what `row[2]`
does, and no name stands for two layouts.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt
from numba import njit

from thunes.domain.tags import FIXED, KILL_TAG, MAX_LOSS_TAG

Vec = npt.NDArray[np.float64]


class OrderRow(IntEnum):
    """An order's fields. AMOUNT, QUOTE NaN: not given; FROM: the first bar it may fill
    in; ID: its number in its lane (a client order id's sequence number), given by the
    broker when it is placed; FILLED: how much of it has filled (the rest of an order
    filling in parts: AMOUNT)."""

    SIDE = 0
    TYPE = 1
    PRICE = 2
    AMOUNT = 3
    QUOTE = 4
    TAG = 5
    FROM = 6
    ID = 7
    FILLED = 8


ORDER = len(OrderRow)  # fields of a row
MARKET, LIMIT, STOP, CANCEL = range(4)  # TYPE; CANCEL: a command, never in a book
SELL, BUY = 0.0, 1.0  # SIDE
MAX_LOSS_CODE, KILL_CODE = FIXED.index(MAX_LOSS_TAG), FIXED.index(KILL_TAG)


@njit(cache=True)
def put(
    out: Vec,
    n: int,
    side: float,
    type_: int,
    price: float,
    amount: float,
    quote: float,
    tag: int,
) -> int:
    """Write an order (or cancel command) as row n of `out`; returns n + 1."""
    row = out[n]
    row[OrderRow.SIDE], row[OrderRow.TYPE], row[OrderRow.PRICE] = side, type_, price
    row[OrderRow.AMOUNT], row[OrderRow.QUOTE], row[OrderRow.TAG] = amount, quote, tag
    row[OrderRow.FROM], row[OrderRow.ID], row[OrderRow.FILLED] = 0.0, 0.0, 0.0
    return n + 1
