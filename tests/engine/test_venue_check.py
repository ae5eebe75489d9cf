"""Paper on a ccxt venue refuses what the venue would, with the exchange broker's line: the
simulated broker and the exchange broker call one venue check (engine/venue_check.py) on
the same filters and prices, and a backtest (no venue filters) never asks it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.run import run_thunes
from tests.config.compose import composed
from tests.exchange.conftest import T0
from tests.execution.test_exchange_broker import IDS, Desk, buy, desk_on, limit, rising
from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from thunes.components import build
from thunes.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from thunes.engine import venue_check
from thunes.engine.lane import simulated_lanes
from thunes.engine.sim_broker import SimBroker
from thunes.engine.venue_check import VenueCheck
from thunes.exchange.ccxt_orders import Book, StatusUnknown
from thunes.modes.paper import on_venue
from thunes.portfolio.sizing import FixedQuote

NOW_MS = T0 + 12 * 60_000  # the rising market's minute 12: average 96, ask 100.01


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_KEY", API_KEY)
    monkeypatch.setenv("STANDIN_SECRET", SECRET)


@pytest.fixture
def rise(tmp_path: Path) -> Iterator[Desk]:
    with desk_on(tmp_path, rising(), 12) as desk:
        yield desk


def paper_broker(desk: Desk, checked: bool = True) -> SimBroker:
    """A simulated broker on the desk's venue, as paper on that exchange builds it (the
    exchange's filters and, `checked`, its raw filters and prices); 1000 USDT as the desk."""
    exchange, limits = desk.exchange, desk.limits
    broker = SimBroker(
        exchange.fees, 0.0, exchange.market_filters(IDS.symbol), FixedQuote(20.0), 1000.0, ids=IDS
    )
    if checked:
        broker.venue_check = VenueCheck(
            exchange.venue_filters(IDS.symbol),
            partial(exchange.book, IDS.symbol),
            limits.edge,
            limits.stop_limit_offset,
        )
    broker.at(NOW_MS, 100.0)
    return broker


def refusals(broker: SimBroker, *intents: OrderIntent) -> list[str]:
    for intent in intents:
        broker.submit(intent)
    return [s.reason for s in broker.skipped]


@pytest.mark.parametrize(
    "intent",
    [
        buy(5.1),  # 5.0995 at the ask passes min notional; at the average (96), 4.895 does not
        OrderIntent(Side.BUY, OrderType.MARKET, amount=2.0),  # over MARKET_LOT_SIZE's 1
        limit(19.1, 0.3),  # under PERCENT_PRICE_BY_SIDE's band
        limit(481.0, 0.011),  # over it
    ],
)
def test_paper_on_the_venue_refuses_a_raw_filter_breach_with_the_exchange_brokers_line(
    rise: Desk, intent: OrderIntent
) -> None:
    sent = rise.send(intent)
    paper = paper_broker(rise)
    said = refusals(paper, intent)
    assert len(said) == 1 and said == [s.reason for s in sent.skipped]
    assert said[0].split(":")[0] in ("NOTIONAL", "MARKET_LOT_SIZE", "PERCENT_PRICE_BY_SIDE")
    assert [e.status for e in paper.events] == [OrderStatus.REJECTED]
    assert paper.events[0].reason == said[0]
    assert paper.resting == [] and not paper.committed  # nothing accepted, nothing to fill
    assert rise.server.stats.errors[-1013] == 0


def test_a_backtest_without_venue_filters_accepts_those_orders_as_before(rise: Desk) -> None:
    backtest = paper_broker(rise, checked=False)
    assert refusals(backtest, buy(5.1), limit(19.1, 0.3)) == []
    assert [e.status for e in backtest.events] == [OrderStatus.NEW, OrderStatus.NEW]


def test_max_num_orders_counts_the_paper_brokers_resting_orders(rise: Desk) -> None:
    """MAX_NUM_ORDERS is known to the raw check only: the fourth limit is refused by both
    brokers with the same line."""
    four = [limit(90.0 + i, 0.06) for i in range(4)]
    sent = rise.send(*four)
    paper = paper_broker(rise)
    said = refusals(paper, *four)
    assert said == [s.reason for s in sent.skipped] == ["MAX_NUM_ORDERS: 3 orders open, at most 3"]
    assert len(paper.resting) == 3


def test_both_brokers_ask_the_one_venue_check(rise: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule changed in the shared check changes both brokers' answers at once."""
    monkeypatch.setattr(venue_check, "raw_refusal", lambda *_, **__: "the venue says no")
    intent = limit(95.0, 0.06)
    assert [s.reason for s in rise.send(intent).skipped] == ["the venue says no"]
    assert refusals(paper_broker(rise), intent) == ["the venue says no"]


def test_an_order_the_market_filters_refuse_gets_preparations_line_on_both(rise: Desk) -> None:
    """Under LOT_SIZE and out of the price band: preparation speaks first, on both."""
    intent = limit(19.1, 0.0000001)
    said = refusals(paper_broker(rise), intent)
    assert said == [s.reason for s in rise.send(intent).skipped]
    assert not said[0].startswith("PERCENT_PRICE_BY_SIDE")


def test_paper_on_binance_builds_its_brokers_on_the_venues_filters(rise: Desk) -> None:
    """`thunes mode=paper exchange=binance`: the lanes paper builds trade on the exchange's
    filters and refuse, with the exchange broker's line, what its raw filters would."""
    with composed("mode=paper", "exchange=binance", f"exchange.base_url={rise.server.url}") as cfg:
        parts = build(cfg)
    parts, checks = on_venue(parts)
    assert parts.markets[0].filters == rise.exchange.market_filters(IDS.symbol)
    lanes, _ = simulated_lanes(parts, [pd.DataFrame()], False, "p1")
    broker = lanes[0].broker
    assert isinstance(broker, SimBroker)
    broker.venue_check = checks[0]
    broker.at(NOW_MS, 100.0)
    broker.submit(buy(5.1))
    assert [s.reason for s in broker.skipped] == [s.reason for s in rise.send(buy(5.1)).skipped]
    assert broker.skipped[0].reason.startswith("NOTIONAL: 4.895")


def test_paper_with_filters_none_asks_no_venue(rise: Desk) -> None:
    """filters=none: no filters at all, the venue's raw ones neither (nothing is read)."""
    url = f"exchange.base_url={rise.server.url}"
    with composed("mode=paper", "exchange=binance", url, "filters=none") as cfg:
        parts = build(cfg)
    unchanged, checks = on_venue(parts)
    assert checks == [None] and unchanged is parts


def test_a_paper_grid_on_binance_rests_only_the_levels_the_venues_price_band_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`thunes mode=paper exchange=binance strategy=grid strategy.lower=-0.9`: the levels
    under PERCENT_PRICE_BY_SIDE's band (0.2 x the average price) are refused here, as
    Binance would refuse them; the others rest, and nothing reaches the venue."""
    with FakeBinance(start_ms=T0 + 30_000, speed=60.0, tick_s=0.02) as server:
        code = run_thunes(
            [
                "mode=paper",
                "exchange=binance",
                f"exchange.base_url={server.url}",
                "paper.speed=60",
                "paper.duration=3m",
                "paper.view=false",
                "strategy=grid",
                "strategy.lower=-0.9",
                "tracking=none",
                f"state.dir={tmp_path / 'state'}",
            ],
            monkeypatch,
            tmp_path,
        )
        assert server.stats.orders == 0
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert code == 0, out
    sent = [
        float(p.replace(",", "")) for p in re.findall(r"order buy limit 15 quote @ ([\d,.]+)", out)
    ]
    resting = [float(p.replace(",", "")) for p in re.findall(r"buy limit [\d.]+ @ ([\d,.]+)", out)]
    assert len(sent) == 10 and 0 < len(resting) < len(sent), out
    close = max(sent) / 1.1  # the grid's top level is 10% over the first close
    cut = sorted(sent)[: len(sent) - len(resting)]  # the lowest levels, and only those
    kept = zip(sorted(resting), sorted(sent)[len(cut) :], strict=True)
    assert all(abs(p - q) < 0.02 for p, q in kept)  # as sent, less the tick's rounding
    assert all(p < 0.25 * close for p in cut)  # under the band, at the average price's 0.2


def test_unread_venue_prices_hold_the_order_back_until_a_book_was_read(rise: Desk) -> None:
    """The network lies: with no book read yet an order is refused and says why (never
    sent unchecked); once one was read, a failed read keeps it."""
    exchange, reads = rise.exchange, []

    def flaky() -> Book:
        reads.append(1)
        if len(reads) in (1, 3):
            raise StatusUnknown("avg price: timed out")
        return exchange.book(IDS.symbol)

    paper = paper_broker(rise)
    assert paper.venue_check is not None
    paper.venue_check.read_book = flaky
    said = refusals(paper, limit(19.1, 0.3))
    assert said == [
        "the venue's prices could not be read (avg price: timed out): refused unchecked"
    ]
    for minute in (13, 14):  # read, then a failed read: the last book stands
        paper.at(NOW_MS + (minute - 12) * 60_000, 100.0)
        paper.submit(limit(19.1, 0.3))
    assert len(reads) == 3
    assert [s.reason.split(":")[0] for s in paper.skipped[1:]] == ["PERCENT_PRICE_BY_SIDE"] * 2
