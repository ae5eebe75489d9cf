"""`thunes mode=paper exchange=binance`: the venue's markets are read again every
`live.markets_every_s`, as a venue session's are, so a filter the venue changes mid-session
reaches the simulated broker: its venue check (what the venue would now refuse, paper
refuses too, with the venue's reason) and its order preparation (a new tick size)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.fakes.binance import FakeBinance
from tests.live.venue import DCA_EVERY_BAR, T0
from tests.ops.spy import attached_ops
from thunes.ops.attach import Ops

SPEED = 6.0  # a 1m candle every 10 s: a loaded machine keeps up
TIGHT = "0.00010000"  # MARKET_LOT_SIZE's maxQty: a 10 USDT market buy (0.0005 BTC) is over it


COARSE = "10.00000000"  # PRICE_FILTER's tickSize after the change (0.01 before)


def _change_after_fills(
    server: FakeBinance, change: Callable[[FakeBinance], None], attached: list[Ops]
) -> threading.Event:
    """Once the session has filled a buy, the venue changes a filter (`change`); set the
    event returned to stop waiting."""
    done = threading.Event()

    def wait() -> None:
        while not done.wait(0.1):
            books = attached[0].engine.books() if attached else []
            if books and books[0][1].fills:
                change(server)
                return

    threading.Thread(target=wait, daemon=True).start()
    return done


def _cap_market_orders(server: FakeBinance) -> None:
    market = server.markets["BTCUSDT"]
    market.spec = replace(market.spec, market_max_qty=TIGHT)


def _coarser_tick(server: FakeBinance) -> None:
    market = server.markets["BTCUSDT"]
    market.spec = replace(market.spec, tick_size=COARSE)


def _paper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[FakeBinance], None]
) -> tuple[int, Ops, int]:
    """A DCA paper session on the stand-in's markets, the venue changing a filter once it
    has filled a buy: its exit code, its ops (engine) and how often it read the markets."""
    attached = attached_ops(monkeypatch)
    with FakeBinance(start_ms=T0, speed=SPEED, tick_s=0.02) as server:
        done = _change_after_fills(server, change, attached)
        try:
            code = run_thunes(
                [
                    "mode=paper",
                    "exchange=binance",
                    f"exchange.base_url={server.url}",
                    f"paper.speed={SPEED:g}",
                    "paper.duration=8m",
                    "paper.view=false",
                    *DCA_EVERY_BAR,
                    "tracking=none",
                    "live.markets_every_s=2",
                    f"state.dir={tmp_path / 'state'}",
                ],
                monkeypatch,
                tmp_path,
            )
        finally:
            done.set()
        read = len(server.requests_to("/api/v3/exchangeInfo"))
    (ops,) = attached
    return code, ops, read


def test_a_filter_the_venue_changes_reaches_papers_venue_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, ops, read = _paper(tmp_path, monkeypatch, _cap_market_orders)
    assert code == 0
    (_, broker, _), *_ = ops.engine.books()
    capped = [s.reason for s in broker.skipped if "MARKET_LOT_SIZE" in s.reason]
    assert broker.fills, broker.skipped  # the buys before the change filled
    assert capped and all(f"over the maximum {float(TIGHT):.10g}" in r for r in capped), capped
    assert read >= 3  # at start, and again by the job (not only once)


def test_a_tick_size_the_venue_changes_binds_papers_next_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DCA's take-profit is placed again after each buy: once the venue's tick is 10,
    the one resting is priced on it (it was on 0.01 before), and no order is refused for it."""
    code, ops, _ = _paper(tmp_path, monkeypatch, _coarser_tick)
    assert code == 0
    (_, broker, _), *_ = ops.engine.books()
    assert len(broker.fills) >= 3, broker.skipped  # buys after the change filled too
    [take_profit] = [o for o in broker.open_orders() if o.tag == "dca:take_profit"]
    on_tick = round(take_profit.price / float(COARSE)) * float(COARSE)
    assert take_profit.price == pytest.approx(on_tick, abs=1e-9), take_profit
    assert not broker.skipped, broker.skipped
