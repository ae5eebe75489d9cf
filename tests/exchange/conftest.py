"""A stand-in market whose price path a test controls: candles given, the clock pinned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.binance import FakeBinance, SymbolSpec

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE = 60_000
BTC = SymbolSpec("BTCUSDT", "BTC", "USDT", max_num_orders=3)


def steady_then_dip() -> list[list[float]]:
    """1m candles: flat at 100 for ten minutes, one candle dipping to 90, then flat at 90."""
    flat = [[T0 + i * MINUTE, 100.0, 100.0, 100.0, 100.0, 10.0] for i in range(10)]
    dip = [[T0 + 10 * MINUTE, 100.0, 100.0, 90.0, 90.0, 10.0]]
    after = [[T0 + i * MINUTE, 90.0, 90.0, 90.0, 90.0, 10.0] for i in range(11, 20)]
    return flat + dip + after


@pytest.fixture
def market() -> Iterator[FakeBinance]:
    """BTCUSDT at 100 (bid 100, ask 100.01) at T0 + 5 min; the price dips to 90 at minute 10."""
    with FakeBinance([BTC], start_ms=T0, balances={"USDT": "1000", "BTC": "1"}) as server:
        server.set_candles("BTCUSDT", "1m", steady_then_dip())
        server.clock.pin(T0 + 5 * MINUTE)
        yield server
