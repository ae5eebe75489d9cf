"""`thunes mode=paper exchange=binance`: the venue's markets are read again every
`live.markets_every_s`, as a venue session's are, so a filter the venue changes mid-session
reaches the simulated broker's venue check: what the venue would now refuse, paper refuses
too, with the venue's reason."""

from __future__ import annotations

import threading
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


def _tighten_after_fills(server: FakeBinance, attached: list[Ops], done: threading.Event) -> None:
    """Once the session has filled a buy, the venue caps a market order's quantity."""
    while not done.wait(0.1):
        books = attached[0].engine.books() if attached else []
        if books and books[0][1].fills:
            market = server.markets["BTCUSDT"]
            market.spec = replace(market.spec, market_max_qty=TIGHT)
            return


def test_a_filter_the_venue_changes_reaches_papers_venue_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attached = attached_ops(monkeypatch)
    done = threading.Event()
    with FakeBinance(start_ms=T0, speed=SPEED, tick_s=0.02) as server:
        tighten = threading.Thread(target=_tighten_after_fills, args=(server, attached, done))
        tighten.start()
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
            tighten.join()
        read = len(server.requests_to("/api/v3/exchangeInfo"))
    assert code == 0
    (ops,) = attached
    (_, broker, _), *_ = ops.engine.books()
    capped = [s.reason for s in broker.skipped if "MARKET_LOT_SIZE" in s.reason]
    assert broker.fills, broker.skipped  # the buys before the change filled
    assert capped and all(f"over the maximum {float(TIGHT):.10g}" in r for r in capped), capped
    assert read >= 3  # at start, and again by the job (not only once)
