"""Several symbols on one venue account, one risk engine: each exchange broker works on its
own symbol's lane of the risk rules (cool-down, last price), as the simulated brokers do,
and the notional limits count what every symbol of the account has committed. On the
Binance stand-in through the REAL ccxt client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.exchange.conftest import MINUTE, T0, steady_then_dip
from tests.execution.test_exchange_broker import FEE, SELL_ALL, Desk, buy, keys, limit
from tests.execution.test_exchange_broker_stops import SPEC
from tests.fakes.binance import FakeBinance, SymbolSpec
from thunes.domain.orders import ClientIds
from thunes.engine.exchange_broker import ExchangeBroker
from thunes.engine.venue_ledger import Wallet
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits

__all__ = ["keys"]  # the autouse fixture that puts the stand-in's keys in the environment

ETH = SymbolSpec(
    "ETHUSDT", "ETH", "USDT", step_size="0.00010000", min_qty="0.00010000", start_price=3000.0
)
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def eth_candles() -> list[list[float]]:
    """ETH flat at 3000, all the while BTC dips from 100 to 90."""
    return [[T0 + i * MINUTE, 3000.0, 3000.0, 3000.0, 3000.0, 10.0] for i in range(20)]


@contextmanager
def two_symbols(
    tmp_path: Path, limits: RiskLimits
) -> Iterator[tuple[Desk, RiskEngine, ExchangeBroker, ExchangeBroker]]:
    """BTC and ETH brokers on one account (1000 USDT) and one risk engine told the run's
    symbols, as a venue session builds them; the market at minute 5 (BTC at 100)."""
    with FakeBinance([SPEC, ETH], start_ms=T0, balances={"USDT": "1000"}) as server:
        server.set_candles("BTCUSDT", "1m", steady_then_dip())
        server.set_candles("ETHUSDT", "1m", eth_candles())
        server.clock.pin(T0 + 5 * MINUTE)
        d = Desk(server, tmp_path)
        risk, wallet = RiskEngine(limits, FEE, SYMBOLS), Wallet(1000.0)
        btc = d.start(risk, cash=wallet)
        eth = d.start(risk, ClientIds("run001", "test", "ETH/USDT"), wallet)
        try:
            yield d, risk, btc, eth
        finally:
            d.store.close()


def at(minute: int, d: Desk, btc: ExchangeBroker, eth: ExchangeBroker) -> None:
    """Both brokers at the engine's market time, marked at their own last price."""
    d.server.clock.pin(T0 + minute * MINUTE)
    btc.at(T0 + minute * MINUTE, 100.0 if minute < 10 else 90.0)
    eth.at(T0 + minute * MINUTE, 3000.0)


def test_a_loss_on_one_symbol_cools_down_only_its_buys_under_symbol_scope(
    tmp_path: Path,
) -> None:
    limits = RiskLimits(1e9, 1e9, 10, 60.0, False, cooldown_scope="symbol")
    with two_symbols(tmp_path, limits) as (d, risk, btc, eth):
        at(5, d, btc, eth)
        btc.submit(buy(50.0), 0)
        btc.pump()
        at(12, d, btc, eth)  # BTC at 90 now: its exit loses
        btc.submit(SELL_ALL, 1)
        btc.pump()
        assert btc.position == 0.0 and btc.fills[-1].price == 90.0
        btc.submit(buy(50.0), 0)
        eth.submit(buy(50.0), 0)
        eth.pump()
        assert [s.reason for s in btc.skipped] == ["cooldown"]
        assert eth.skipped == [] and eth.position > 0
        state = risk.state()
        assert state["cooldown_until_ms.BTC/USDT"] == T0 + 72 * MINUTE
        assert state["cooldown_until_ms.ETH/USDT"] == -1.0
        restarted = RiskEngine(limits, FEE, SYMBOLS)  # a crash right after the fill's booking
        restarted.restore(d.store.risk())
        assert restarted.state()["cooldown_until_ms.BTC/USDT"] == T0 + 72 * MINUTE
        at(73, d, btc, eth)  # an hour after the loss: BTC buys again
        btc.submit(buy(50.0), 1)
        btc.pump()
        assert len(btc.skipped) == 1 and btc.position > 0


def test_each_symbols_fat_finger_guard_measures_from_its_own_price(tmp_path: Path) -> None:
    limits = RiskLimits(1e9, 1e9, 10, 0.0, False, max_price_deviation_pct=10.0)
    with two_symbols(tmp_path, limits) as (d, risk, btc, eth):
        at(5, d, btc, eth)  # BTC marked at 100, then ETH at 3000
        btc.submit(limit(150.0, 0.1), 0)  # 50% over BTC's price
        eth.submit(limit(2990.0, 0.01, tag="eth"), 0)  # under ETH's: it rests
        assert [s.reason for s in btc.skipped] == ["max_price_deviation"]
        assert eth.skipped == []
        assert risk.fired["max_price_deviation"] == 1


def test_the_notional_limits_count_every_symbol_of_the_account(tmp_path: Path) -> None:
    limits = RiskLimits(
        1e9, 1e9, 10, 0.0, False, max_position_notional=80.0, max_total_notional=120.0
    )
    with two_symbols(tmp_path, limits) as (d, risk, btc, eth):
        at(5, d, btc, eth)
        btc.submit(buy(60.0), 0)
        btc.pump()
        btc.submit(buy(30.0), 1)  # 60 + 30 on BTC: over its 80
        btc.pump()
        eth.submit(limit(2990.0, 0.02, tag="eth"), 1)  # 60 + 59.8 at work: within 120
        eth.pump()
        eth.submit(buy(10.0), 2)  # 60 + 59.8 + 10: over the account's 120
        eth.pump()
        assert [s.reason for s in btc.skipped] == ["max_notional"]
        assert [s.reason for s in eth.skipped] == ["max_notional"]
        assert len(eth.working) == 1 and d.server.stats.orders == 2
        assert risk.fired["max_notional"] == 2
        assert btc.ledger.cost == pytest.approx(60.0)
