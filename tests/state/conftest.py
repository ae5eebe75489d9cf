"""A state store on a temporary directory, and the fills and orders its tests trade."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from thunes.domain.orders import ClientIds, Fill, OrderIntent, OrderType, Side
from thunes.state.account import Account
from thunes.state.store import StateStore

ACCOUNT = Account.of("binance", "main", "live", "an-api-key-never-stored")
IDS = ClientIds("a1b2c3", "grid", "BTC/USDT")
BUY = OrderIntent(Side.BUY, OrderType.LIMIT, amount=0.5, price=100.0, tag="grid:1")


def make_fill(
    order_id: str, trade_id: int, side: Side = Side.BUY, amount: float = 0.5, **kw: object
) -> Fill:
    values: dict = {"price": 100.0, "fee": 0.05, "symbol": "BTC/USDT", "time_ms": 1_000}
    values.update(kw)
    return Fill(
        bar=0,
        side=side,
        amount=amount,
        order_id=order_id,
        trade_id=trade_id,
        **values,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(tmp_path, ACCOUNT)
    yield opened
    opened.close()
