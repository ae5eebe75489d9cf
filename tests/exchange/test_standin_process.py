"""The stand-in in a process of its own (`python -m tests.fakes.binance`), as phase 6 runs
three of them: the real ccxt client trades on it, its symbols keep their filters across the
process boundary, and its tally at the stop counts what it answered."""

from __future__ import annotations

import ccxt
import pytest

from tests.exchange.conftest import T0
from tests.exchange.standin import rest_client
from tests.fakes.binance import SymbolSpec
from tests.fakes.binance.process import StandinProcess

SOL = SymbolSpec(
    "SOLUSDT", "SOL", "USDT", step_size="0.01000000", min_qty="0.01000000", start_price=100.0
)


def test_a_standin_process_serves_its_symbols_filters_and_tallies_at_its_stop() -> None:
    with StandinProcess((SOL,), start_ms=T0, balances={"USDT": "1000"}) as venue:
        client = rest_client(venue)  # type: ignore[arg-type]  # a url is all it reads
        client.create_order("SOL/USDT", "market", "buy", 0.5)
        with pytest.raises(ccxt.BadRequest, match="-1013"):  # NOTIONAL: 3 USDT, under 5
            client.create_order("SOL/USDT", "market", "buy", 0.03)
        with pytest.raises(ccxt.InvalidOrder, match=r"precision of 0\.01"):  # its step, in
            client.create_order("SOL/USDT", "market", "buy", 0.001)  # the markets ccxt read
    tally = venue.tally
    assert tally is not None
    assert (tally.orders, tally.trades, tally.by_symbol) == (1, 1, {"SOLUSDT": 1})
    assert tally.errors == {-1013: 1}
    assert tally.cpu_s > 0
