"""Named fault-injection scenarios that only a venue can show (issue 11), on the Binance
stand-in (tests/fakes/binance/) through the real ccxt and ccxt.pro clients: the exchange
broker driven as a session drives it (its private stream and its timer), or a whole
venue session (`thunes mode=paper exchange=binance_testnet`). The paper broker's
scenarios are in test_scenarios.py.

1. a 5xx while the protective stop is placed: booked but unanswered, or refused;
2. a partial fill, then the private stream cut between the parts;
3. a clock skew (-1021) on the stop's placement: resynced and sent once more, or rejected;
4. SIGKILL mid-order, then a restart: tests/live/test_venue_crash.py (no client id sent
   twice, the venue's trades are the fills stored, the position is what the venue holds);
5. a losing streak to the daily limit, then a restart of the session;
6. the order-rate limit, and the UTC midnight rollover while halted.
Beside 1: a position whose base a resting take-profit holds (no stop can rest) is held to
the max loss by the broker's watch: at once, after a partial fill, after a restart.

Each asserts what applies of what a user relies on: no client order id sent twice, the
venue's trades are the fills booked (each once, by trade id), the position booked is what
the exchange holds, exactly one protective stop rests for what is held (or the broker
says it is unprotected and buys nothing), zero new buys after a kill-switch trip,
cool-downs obeyed, and the day's loss never beyond its limit by more than one trade's
max loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.exchange.conftest import MINUTE, T0, steady_then_dip
from tests.execution.test_exchange_broker import Desk, buy, keys, limit
from tests.execution.test_exchange_broker_stops import SPEC, desk, expected_stop, max_loss
from tests.fakes.binance import FakeBinance
from tests.feeds.test_user_feed import session, until, wired
from tests.live.venue import T0 as VENUE_T0
from tests.live.venue import (
    held,
    held_until_warm,
    in_lockstep,
    keyed,
    open_stops,
    resent,
    session_args,
    standin,
    state_file,
    stored,
)
from thunes.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.exchange_broker import ExchangeBroker
from thunes.feeds.link import Resilience
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits

__all__ = ["keys"]  # the autouse fixture that puts the stand-in's keys in the environment
PATIENCE = 60.0  # seconds a stream-driven step may take on a loaded machine


def protected(d: Desk, broker: ExchangeBroker) -> None:
    """The venue's side of the promises: nothing sent twice, its trades are the fills
    booked, it holds the position booked, and one stop rests for all of it, at the rule's
    price."""
    server = d.server
    assert resent(server) == [] and server.stats.duplicate_client_ids == []
    trades = sorted(t.trade_id for t in server.account.trades)
    assert sorted(f.trade_id for f in d.store.fills()) == trades
    assert sorted(f.trade_id for f in broker.fills) == trades
    assert held(server) == pytest.approx(broker.holdings, abs=1e-12)
    [stop] = open_stops(server)
    assert (stop.type, float(stop.qty)) == ("STOP_LOSS", pytest.approx(broker.position))
    assert float(stop.stop_price) == expected_stop(broker)
    assert broker.unprotected == ""


# ---- 1. a 5xx while the protective stop is being placed ---------------------------------


def test_a_stop_booked_but_answered_5xx_is_found_by_client_id_not_placed_twice(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        d.server.faults.lose_order_replies(1, after=1)  # the buy answered, the stop's lost
        broker = d.send(buy(50.0))
        assert d.server.stats.errors[-1007] == 1
        stop_id = broker.stop.client_id if broker.stop else ""
        looked_up = [r for r in d.server.requests_to("/api/v3/order") if r.method == "GET"]
        assert [r.params["origClientOrderId"] for r in looked_up] == [stop_id]
        for _ in range(3):  # later work places no second stop
            d.clock.now += 10
            broker.pump()
        protected(d, broker)
        assert len([o for o in d.server.account.orders.values() if o.is_stop]) == 1


def test_a_stop_refused_with_a_5xx_says_unprotected_buys_nothing_then_rests(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        d.server.faults.server_error_next("/api/v3/order", after=1)  # the stop's: 502
        broker = d.send(buy(50.0))  # the stop looked up by client id: -2013, never placed
        assert open_stops(d.server) == [] and broker.position > 0
        assert broker.unprotected.startswith("BTC/USDT: the position (0.49945) has no stop")
        broker.submit(buy(20.0), 0)
        assert broker.skipped[-1].reason == f"entries paused: {broker.unprotected}"
        d.clock.now += 10  # tried again after check_after_s
        broker.pump()
        protected(d, broker)
        orders = d.server.stats.orders
        d.send(buy(20.0))  # entries resume once the stop rests
        assert d.server.stats.orders > orders and broker.skipped[-1].reason.startswith(
            "entries paused"
        )
        d.clock.now += 10
        broker.pump()
        protected(d, broker)  # re-sized to the new position


def _take_profits(d: Desk) -> list[str]:
    """The statuses of the strategy's sell limits on the venue."""
    return [o.status for o in d.server.account.orders.values() if o.side == "SELL" and o.price]


def _under_take_profit(d: Desk) -> tuple[ExchangeBroker, float]:
    """A buy of 50 USDT, then a DCA's take-profit at 110 resting for all of it; the broker
    and the position's max-loss level."""
    broker = d.send(buy(50.0))
    level = expected_stop(broker)
    d.send(OrderIntent(Side.SELL, OrderType.LIMIT, price=110.0, tag="dca:take_profit"))
    return broker, level


def test_a_position_under_a_resting_take_profit_is_still_held_to_the_max_loss(
    tmp_path: Path,
) -> None:
    # a DCA take-profit rests for the whole base: no base is left for a stop on the venue
    # (Binance spot shares one only in an OCO), so the broker watches the max-loss level on
    # the feed's prices; through it, the take-profit is withdrawn, its cancel confirmed
    # (a lost cancel reply is no confirmation), then the position is sold at market
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        broker, level = _under_take_profit(d)
        assert open_stops(d.server) == [] and _take_profits(d) == ["NEW"]
        assert broker.unprotected == ""  # guarded by the watch: entries are not paused
        broker.at(T0 + 6 * MINUTE, level + 0.01)  # above the level: nothing moves
        broker.pump()
        assert _take_profits(d) == ["NEW"] and [f.tag for f in broker.fills] == ["entry"]

        d.server.clock.pin(T0 + 11 * MINUTE)  # the dip to 90, through the max-loss level
        d.server.faults.fail_next("/api/v3/order", 1, 503, -1007, "Timeout waiting for reply")
        broker.at(T0 + 11 * MINUTE, 90.0)  # the feed's price
        broker.pump()  # the take-profit's cancel goes unanswered: nothing sold yet
        assert _take_profits(d) == ["NEW"] and [f.tag for f in broker.fills] == ["entry"]
        assert d.server.stats.errors[-1007] == 1
        d.clock.now += 10
        broker.pump()  # asked again, confirmed; then sold
        assert _take_profits(d) == ["CANCELED"]
        assert [f.tag for f in broker.fills] == ["entry", MAX_LOSS_TAG]
        assert broker.position == 0.0 and held(d.server) == pytest.approx(broker.holdings)
        [entry, exit_] = broker.fills
        paid, got = entry.price * entry.amount, exit_.price * exit_.amount - exit_.fee
        loss = paid - got - broker.holdings * exit_.price  # the fee's dust is held, at 90
        assert 5.0 < loss <= 5.0 + (level - exit_.price) * exit_.amount + 1e-9  # its gap
        assert resent(d.server) == [] and d.server.stats.duplicate_client_ids == []
        assert OrderStatus.CANCELED in [e.status for e in broker.events if e.tag.startswith("dca")]


def test_a_restart_under_a_resting_take_profit_watches_the_max_loss_level_again(
    tmp_path: Path,
) -> None:
    # the store holds no protective stop (none could rest): the restarted broker takes the
    # max-loss level from the rules and the position it holds, not from a stop record
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        broker, level = _under_take_profit(d)
        d.broker = again = d.start(max_loss(5.0))  # a restart on the same store
        assert again.position == broker.position and len(again.working) == 1
        d.server.clock.pin(T0 + 11 * MINUTE)
        again.at(T0 + 11 * MINUTE, level)  # at the level: the stop rule's trigger
        again.pump()
        again.pump()
        assert _take_profits(d) == ["CANCELED"] and again.position == 0.0
        assert [f.tag for f in again.fills] == [MAX_LOSS_TAG]
        assert resent(d.server) == [] and d.server.stats.duplicate_client_ids == []


def test_a_take_profit_filled_in_part_while_watched_leaves_the_rest_held_to_the_max_loss(
    tmp_path: Path,
) -> None:
    # a part of the take-profit fills: the position shrinks and the rules move its max-loss
    # level (lower: less is held for the same 5 USDT); the rest of the take-profit still
    # holds all that is left, so the watch goes on, at the new level, not the old one
    flat = [[T0 + i * MINUTE, 100.0, 100.0, 100.0, 100.0, 10.0] for i in range(10)]
    spike = [[T0 + 10 * MINUTE, 100.0, 102.0, 100.0, 100.0, 10.0]]  # 102 at 40 s, 101 at 50 s
    fall = [[T0 + i * MINUTE, 80.0, 80.0, 80.0, 80.0, 10.0] for i in range(11, 20)]
    with desk(tmp_path, candles=flat + spike + fall, risk=max_loss(5.0)) as d:
        d.server.account.fill_cap = Decimal("0.2")  # a resting order fills 0.2 at a time
        broker = d.send(buy(50.0))
        first_level = expected_stop(broker)
        d.send(OrderIntent(Side.SELL, OrderType.LIMIT, price=101.0, tag="dca:take_profit"))
        d.server.clock.pin(T0 + 10 * MINUTE + 50_000)  # up through 101 once: 0.2 of it fills
        d.clock.now += 10
        broker.pump()  # looked up: the part booked
        assert [(f.tag, f.amount) for f in broker.fills][1:] == [("dca:take_profit", 0.2)]
        assert broker.position == pytest.approx(0.29945) and open_stops(d.server) == []
        level = expected_stop(broker)
        assert level < first_level - 5  # re-sized by the rules
        broker.at(T0 + 10 * MINUTE + 50_000, (level + first_level) / 2)  # under the old level
        broker.pump()
        assert broker.fills[-1].tag != MAX_LOSS_TAG and _take_profits(d) == ["PARTIALLY_FILLED"]
        d.server.clock.pin(T0 + 11 * MINUTE)  # down to 80, through the new level
        broker.at(T0 + 11 * MINUTE, 80.0)
        broker.pump()
        assert _take_profits(d) == ["CANCELED"]
        assert [(f.tag, f.amount) for f in broker.fills][2:] == [(MAX_LOSS_TAG, 0.29945)]
        assert broker.position == 0.0 and held(d.server) == pytest.approx(broker.holdings)
        assert resent(d.server) == [] and d.server.stats.duplicate_client_ids == []


def test_the_order_rate_limit_and_a_midnight_rollover_while_halted_on_the_venue(
    tmp_path: Path,
) -> None:
    # the venue's broker asks the same rules as the simulator's: a third order in one
    # market minute is refused here, never sent; a halted day refuses buys until the next
    # UTC day of the market's clock, when the first buy leaves again
    limits = RiskLimits(5.0, 20.0, 10, 0.0, False, max_orders_per_minute=2)
    risk = RiskEngine(limits, 0.001)
    with desk(tmp_path, risk=risk) as d:
        broker = d.broker

        def buys() -> int:
            return len([o for o in d.server.account.orders.values() if o.side == "BUY"])

        broker.at(T0 + 5 * MINUTE, 100.0)
        for _ in range(3):
            d.send(buy(20.0))
        assert buys() == 2
        assert [s.reason for s in broker.skipped] == ["max_orders_per_minute"]
        risk.halted_day = T0 // 86_400_000  # tripped today (kill_switch off: HALTED)
        broker.at(T0 + 23 * 60 * MINUTE, 100.0)  # 23:00, still the halted day
        d.send(buy(20.0))
        assert broker.skipped[-1].reason == "kill_switch" and buys() == 2
        broker.at(T0 + 24 * 60 * MINUTE + 1, 100.0)  # the next UTC day: active again
        assert risk.trading(T0 + 24 * 60 * MINUTE + 1) == "active"
        d.send(buy(20.0))
        assert buys() == 3 and len(broker.skipped) == 2
        assert resent(d.server) == [] and d.server.stats.duplicate_client_ids == []


# ---- 2. a partial fill, then a disconnect -----------------------------------------------


def test_a_partial_fill_then_a_disconnect_books_every_fill_once_and_resizes_the_stop(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        d.server.account.fill_cap = Decimal("0.3")  # a resting order fills 0.3 at a time
        broker = d.send(limit(95.0, 0.5))
        feed = wired(d)

        async def part_then_cut() -> None:
            d.server.clock.pin(T0 + 10 * MINUTE + 35_000)  # down through 95: 0.3 fills
            await until(lambda: [float(o.qty) for o in open_stops(d.server)] == [0.2997], PATIENCE)
            d.server.faults.stalled = True  # the link is cut: what was on the wire is lost
            d.server.close_sockets()
            await until(lambda: feed.health.state != "connected", PATIENCE)
            d.server.clock.pin(T0 + 10 * MINUTE + 36_000)  # the rest fills meanwhile
            d.server.faults.stalled = False
            await until(
                lambda: (
                    feed.health.state == "connected"
                    and [float(o.qty) for o in open_stops(d.server)] == [0.4995]
                )
            )

        session(d, feed, part_then_cut)
        assert [f.amount for f in broker.fills] == [0.3, 0.2]
        assert feed.health.delivered == 1 and feed.health.reconnects >= 1  # one read back
        assert broker.position == pytest.approx(0.4995)
        protected(d, broker)


# ---- 3. a clock skew (-1021) while the stop is placed -----------------------------------


@contextmanager
def _venue_clock(tmp_path: Path) -> Iterator[tuple[Desk, int]]:
    """A desk under max_loss(5) whose stand-in market runs in real time, as a venue's: its
    clock (GET /api/v3/time) is the one it checks signatures against, so that a client
    that measures it again signs on it. The candles are tests/exchange/conftest.py's,
    shifted so that now is minute 5 (at 100); with them, when the dip to 90 opens."""
    with FakeBinance([SPEC], balances={"USDT": "1000"}) as server:
        shift = server.clock.now_ms() // MINUTE * MINUTE - (T0 + 5 * MINUTE)
        rows = [[row[0] + shift, *row[1:]] for row in steady_then_dip()]
        server.set_candles("BTCUSDT", "1m", rows)
        d = Desk(server, tmp_path)
        d.broker = d.start(max_loss(5.0))
        try:
            yield d, T0 + 10 * MINUTE + shift
        finally:
            d.store.close()


def _jump(server: FakeBinance, to_ms: int, signatures_ahead_ms: int = 0) -> None:
    """The venue's clock jumps to `to_ms` (its market, and the clock it checks signatures
    against, plus `signatures_ahead_ms` for the latter): a client that does not measure it
    again is outside the recvWindow (-1021)."""
    server.skew_clock(server.credentials.clock_offset_ms + to_ms - server.clock.now_ms())
    server.credentials.clock_offset_ms += signatures_ahead_ms


def _stop_posts(server: FakeBinance) -> list[tuple[str, int]]:
    return [
        (r.params["newClientOrderId"], r.status)
        for r in server.requests_to("/api/v3/order")
        if r.method == "POST" and "stopPrice" in r.params
    ]


QUIET = Resilience(stall_s=60.0, connect_s=30.0)  # no probe: the stream only listens


def _filled_as_the_clock_jumps(
    d: Desk, dip_ms: int, done: Callable[[], bool], signatures_ahead_ms: int = 0
) -> list[tuple[str, int]]:
    """A resting buy filled as the venue's clock jumps (see `_jump`), its fill brought by
    the private stream, the protective stop then placed by the timer's work: the session
    runs until `done`. The stop's POSTs, (client id, HTTP status)."""
    d.send(limit(95.0, 0.5))
    feed = wired(d, QUIET, orders=False)

    async def fill_then_skew() -> None:
        await d.broker.work()  # the look-ups the subscription asked for: done
        _jump(d.server, dip_ms + 36_000, signatures_ahead_ms)  # through 95: filled
        await until(done, PATIENCE)

    session(d, feed, fill_then_skew)
    return _stop_posts(d.server)


def test_a_minus_1021_on_the_stop_is_resynced_and_sent_once_more_under_its_id(
    tmp_path: Path,
) -> None:
    with _venue_clock(tmp_path) as (d, dip_ms):
        posts = _filled_as_the_clock_jumps(d, dip_ms, lambda: len(open_stops(d.server)) == 1)
        [(stop_id, refused), (again, placed)] = posts
        assert (again, refused, placed) == (stop_id, 400, 200)
        assert d.server.stats.errors[-1021] == 1
        protected(d, d.broker)


def test_a_minus_1021_the_resync_cannot_cure_leaves_the_stop_unplaced_and_buys_paused(
    tmp_path: Path,
) -> None:
    with _venue_clock(tmp_path) as (d, dip_ms):
        broker = d.broker
        posts = _filled_as_the_clock_jumps(d, dip_ms, lambda: broker.unprotected != "", 30_000)
        [(stop_id, refused), (again, refused_again)] = posts
        assert (again, refused, refused_again) == (stop_id, 400, 400)  # rejected, not doubled
        assert open_stops(d.server) == [] and "recvWindow" in broker.unprotected
        broker.submit(buy(20.0), 0)
        assert broker.skipped[-1].reason == f"entries paused: {broker.unprotected}"
        d.server.credentials.clock_offset_ms -= 30_000  # the venue's clock agrees again
        d.clock.now += 10  # the stop is tried again after check_after_s
        broker.pump()
        assert broker.fills[-1].tag != MAX_LOSS_TAG
        protected(d, broker)


# ---- 5. a losing streak to the daily limit on the venue, then a restart ------------------

STREAK_SPEED = 30.0  # a 1m candle every 2 s
STREAK = ("strategy=sma_cross", "strategy.fast=2", "strategy.slow=3")
"""Enters on the close after an up candle, exits on the close after a down one (market
orders of 100 USDT, sent after the step)."""
STREAK_LIMITS = ("risk.max_daily_loss=6", "risk.cooldown_minutes=1")
"""Two ~4 USDT losses trip the kill-switch (max_loss_per_trade stays 5: its stop, ~5%
under a buy, is never reached)."""


def _streak(server: FakeBinance) -> None:
    """Flat 1m candles (one price each): 100 until the session's first close, then three
    candles 1 up and three 3.8% down, over and over, so that an order leaving up to two
    candles late still fills at its price. Entry signals at the closes of minutes 1, 7, 13
    (a buy at the next candle's ask), exits at 4 and 10 (a sell 3.8% lower): the loss at
    11 trips the daily limit, and the entry at 13 is refused."""
    server.clock.pin(VENUE_T0)  # the session starts at VENUE_T0, whatever the host's pace
    start = VENUE_T0 // MINUTE * MINUTE
    prices, low = [100.0] * 11, 100.0
    for _ in range(4):
        up = low + 1
        low = round(up * 0.962, 2)
        prices += [up] * 3 + [low] * 3
    rows = [[start + (k - 10) * MINUTE, p, p, p, p, 10.0] for k, p in enumerate(prices)]
    server.set_candles("BTCUSDT", "1m", rows)


def _losses(server: FakeBinance) -> list[tuple[int, float]]:
    """(time, the day's realised PnL after it) for each sell on the venue, from its trades:
    quote paid and received, fees in; the base's fee, kept from a buy, is sold with none."""
    flow, out = 0.0, []
    for t in server.account.trades:
        quote = float(t.price * t.qty)
        if t.side == "BUY":
            flow -= quote
        else:
            flow += quote - float(t.commission)
            out.append((t.time_ms, flow))
    return out


def _risk(state: Path) -> dict[str, float]:
    db = sqlite3.connect(state_file(state))
    try:
        return {field: value for field, value in db.execute("SELECT field, value FROM risk")}
    finally:
        db.close()


def test_a_losing_streak_trips_the_kill_switch_on_the_venue_and_a_restart_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed(monkeypatch)
    state = tmp_path / "state"
    # the market waits for the session (in_lockstep): never more than 1.5 candles past its
    # last close stepped, so the orders a step decides leave (before the next step) within
    # the two candles that keep their price, however loaded the machine
    with standin(STREAK_SPEED) as server, in_lockstep(server, state, MINUTE, 1.5):
        _streak(server)
        args = session_args(server, state, *STREAK_LIMITS, duration="13m", strategy=STREAK)
        with held_until_warm(server):
            assert run_thunes(args, monkeypatch, tmp_path) == 0, capsys.readouterr().out
        losses = _losses(server)
        assert len(losses) == 2, capsys.readouterr().out
        trip = losses[1][0]
        assert losses[1][1] <= -6.0 < losses[0][1]  # the second loss trips the daily limit
        first = _risk(state)
        assert first["fired.kill_switch_trips"] == 1
        assert first["halted_day"] == trip // 86_400_000

        args = session_args(server, state, *STREAK_LIMITS, duration="15m", strategy=STREAK)
        with held_until_warm(server):  # restarted the same day: its entry signal at 13
            assert run_thunes(args, monkeypatch, tmp_path) == 0, capsys.readouterr().out
        out = capsys.readouterr().out
        assert "resuming" in out, out
        again = _risk(state)
        assert again["halted_day"] == first["halted_day"]
        assert again["fired.kill_switch"] > first["fired.kill_switch"], out  # refused
        buys = sorted(o.time_ms for o in server.account.orders.values() if o.side == "BUY")
        assert len(buys) == 2 and buys[-1] < trip  # zero buys reached the venue after it
        assert buys[1] >= losses[0][0] + MINUTE  # the cool-down after the first loss
        assert -_losses(server)[-1][1] <= 6.0 + 5.0  # the daily limit, plus one trade's
        assert resent(server) == [] and server.stats.duplicate_client_ids == []
        _, fills = stored(state)
        assert sorted(t for _, t in fills) == sorted(t.trade_id for t in server.account.trades)
