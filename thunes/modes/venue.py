"""A session on a real venue through ccxt: `thunes mode=paper exchange=binance_testnet` (real
orders, play money) and `thunes mode=live exchange=binance live.confirm=true` (real money).
The engine is paper's and replay's (LiveEngine, Kernel); only the broker differs: one
ExchangeBroker per symbol on one account.

Start-up, in this order, each failure one line: the key in the environment (exit 2), every
symbol listed and TRADING (exit 2), one signed call (a refused key: exit 2; an unreachable
exchange: exit 1), the `preflight` (mode=live's guard), the account's lock and state file
(another account's: exit 2, untouched), then a reconciliation before any strategy runs:
our open orders adopted by client-id prefix, foreign ones flagged, recovered fills booked,
and a balance nothing explains pauses entries (saying why) until `live.resume=true`.

Running: the engine steps on closed candles; each step is checkpointed (venue_state.py)
and then the brokers do their network work (send, cancel, poll), again every
`live.work_every_s`, never during a step. The private stream hands fills and order news to
the brokers (REST stays the truth). APScheduler jobs, never overlapping: reconciliation
every `live.reconcile_every_s`, the markets read again every `live.markets_every_s`, a
daily report at `live.report_hour` UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

from omegaconf import DictConfig
from rich.console import Console

from thunes import ops
from thunes.components import Components, build
from thunes.domain.orders import ClientIds, Fill
from thunes.domain.timeframes import DAY_MS, span_ms, utc_minute
from thunes.engine.exchange_broker import ExchangeBroker
from thunes.engine.lane import Lane
from thunes.engine.venue_ledger import Wallet
from thunes.errors import ConfigError, ExchangeError, one_line
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_orders import CcxtOrders, KeyRefused
from thunes.feeds.ccxt_feed import CcxtFeed
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import CandleClosed, MarketEvent
from thunes.feeds.link import Resilience
from thunes.live.activity import Activity
from thunes.live.alerts import notifying
from thunes.live.engine import LiveEngine
from thunes.live.venue_state import VenueState
from thunes.live.view import summary
from thunes.modes.paper import _what
from thunes.notify.events import Event, Kind
from thunes.risk.engine import RiskEngine
from thunes.state.account import Account
from thunes.state.jobs import Jobs
from thunes.state.lock import AccountLock
from thunes.state.reconcile import Plan
from thunes.state.store import StateStore
from thunes.strategy.signal_runner import as_event_strategy

log = logging.getLogger(__name__)


class Preflight(Protocol):
    """mode=live's guard (thunes/modes/guard.py `LiveGuard`) at the session's two moments."""

    def admit(self) -> None:
        """After the venue answered a signed call, before the account is locked and anything
        read or sent: the confirmation and the key's permissions. It raises to refuse."""

    def announce(
        self, store: StateStore, balances: dict[str, float], echo: Callable[[str], None]
    ) -> None:
        """Under the account's lock, before the reconciliation: what is at stake, printed
        and written to the state."""


_TRADES_BACK_MS = DAY_MS  # a reconciliation reads the account's trades this far back


class Session:
    """One account on one venue, for `mode` (paper on a testnet, or live)."""

    def __init__(self, cfg: DictConfig, parts: Components, mode: str) -> None:
        if not isinstance(parts.exchange, CcxtExchange):
            raise ConfigError("exchange: a venue session needs a ccxt exchange (binance...)")
        self.cfg, self.parts, self.mode = cfg, parts, mode
        self.exchange: CcxtExchange = parts.exchange
        self.symbols = [m.symbol for m in parts.markets]
        self.speed = float(cfg.paper.speed)
        if self.speed <= 0:
            raise ConfigError(
                f"paper.speed: {self.speed:g} (as fast as possible) needs a simulated market;"
                " a venue runs at its own pace (1, or a stand-in's speed)"
            )
        self.console = Console()
        self.brokers: dict[str, ExchangeBroker] = {}
        self.lock = asyncio.Lock()  # a step, the brokers' work and a job: one at a time
        self.kick = asyncio.Event()  # a step queued intents: work now
        self.orders: CcxtOrders | None = None
        self.quote = ""
        self.mismatch_told = ""  # the pause a reconciliation's mismatch last notified

    @property
    def account_exchange(self) -> str:
        """The venue as an account names it: a testnet's account is not the venue's."""
        return (
            f"{self.exchange.name}_testnet"
            if self.cfg.exchange.get("sandbox")
            else (self.exchange.name)
        )

    # --- start-up ---------------------------------------------------------------------

    def api_key(self) -> str:
        """The key from the environment, or one line naming the variables to set."""
        variables = [self.cfg.exchange.get("api_key_env"), self.cfg.exchange.get("secret_env")]
        if not all(variables):
            raise ConfigError(
                "exchange.api_key_env and exchange.secret_env: a session that sends orders"
                " needs the names of the environment variables holding the key pair"
            )
        missing = [str(v) for v in variables if not os.environ.get(str(v))]
        if missing:
            raise ConfigError(
                f"exchange: mode={self.mode} on {self.account_exchange} sends orders and needs"
                f" an API key: set {' and '.join(missing)} in the environment"
                " (.env.example lists them)"
            )
        return os.environ[str(variables[0])]

    def check_markets(self) -> None:
        """Every symbol listed and trading (one public call: an unreachable venue fails
        here, with one line)."""
        self.exchange.refresh_markets()
        listed = self.exchange.client.markets or {}
        for symbol in self.symbols:
            if symbol not in listed:
                raise ConfigError(f"symbol.symbol: {self.account_exchange} does not list {symbol}")
            status = self.exchange.venue_filters(symbol).status
            if status != "TRADING":
                raise ConfigError(
                    f"symbol.symbol: {symbol} is {status} on {self.account_exchange}, not"
                    " TRADING: it takes no orders now"
                )
        quotes = {symbol.partition("/")[2] for symbol in self.symbols}
        if len(quotes) != 1:
            raise ConfigError(f"symbols: one account's quote is shared, these have {quotes}")
        (self.quote,) = quotes

    def check_key(self) -> dict[str, float]:
        """One signed call: the account's balances, or one line saying the key failed."""
        self.orders = CcxtOrders(self.exchange.client)
        try:
            return self.orders.balances()
        except ExchangeError as error:
            kind = ConfigError if isinstance(error, KeyRefused) else ExchangeError
            raise kind(  # a refused key is the config's to fix (exit 2), a lost call is not
                f"{self.account_exchange}: the signed call failed ({one_line(error)});"
                f" check the key in {self.exchange.keys_from}"
            ) from None

    # --- reconciliation -------------------------------------------------------------------

    def reconcile(self, store: StateStore, prefixes: list[str], since_ms: int) -> Plan:
        """Bring the store to the exchange's truth, and the brokers (while they run) to
        the store's: the fills recovered booked, the pauses set."""
        assert self.orders is not None
        names: dict[str, str] = {}
        for broker in self.brokers.values():
            names.update(broker.client_ids)
        snap = self.orders.snapshot(self.symbols, since_ms, store.orders(), names)
        plan = store.reconcile(snap, self.symbols, prefixes, snap.time_ms)
        for order in plan.adopt:
            self.console.print(f"reconcile: adopted our open order {order.client_id}")
        for order in plan.foreign:
            self.console.print(
                f"reconcile: {order.symbol} has an open order not ours ({order.client_id}):"
                " left alone"
            )
        unbooked = store.unbooked()
        for broker in self.brokers.values():
            broker.book_recovered(unbooked, at_start=False)
        paused = "; ".join(store.pauses())
        for broker in self.brokers.values():
            broker.paused = paused
        if plan.mismatches and paused != self.mismatch_told:
            self.mismatch_told = paused  # told once, until the reason changes
            self.parts.notifier.publish(Event(Kind.RECONCILE_MISMATCH, f"entries paused: {paused}"))
        if plan.mismatches:
            self.console.print(
                f"reconcile: entries paused, the balances do not add up: {paused}; once"
                " you know why, start with live.resume=true",
                highlight=False,
            )
        return plan

    # --- the run ----------------------------------------------------------------------

    def run(self, preflight: Preflight | None) -> None:
        api_key = self.api_key()
        self.check_markets()
        balances = self.check_key()
        if preflight is not None:
            preflight.admit()
        self.preflight = preflight
        account = Account.of(self.account_exchange, str(self.cfg.state.account), self.mode, api_key)
        directory = Path(str(self.cfg.state.dir))
        with AccountLock(directory, account), notifying(self.parts.notifier):
            store = StateStore.open(directory, account, durable=bool(self.cfg.state.durable))
            try:
                self._run(store, balances)
            finally:
                store.close()

    def _run(self, store: StateStore, balances: dict[str, float]) -> None:
        cfg, parts = self.cfg, self.parts
        if self.preflight is not None:
            self.preflight.announce(store, balances, print)  # whole lines: kept as printed
        timeframe = str(cfg.data.timeframe)
        state = VenueState(store, _what(cfg, parts, timeframe))
        if cfg.live.resume:
            store.resume()
            self.console.print("live.resume: the pauses are lifted")
        run_id = state.run_id or secrets.token_hex(3)
        ids = {
            m.symbol: ClientIds(run_id, type(s).__name__, m.symbol)
            for m, s in zip(parts.markets, parts.strategies, strict=True)
        }
        prefixes = [i.prefix for i in ids.values()]
        now_ms = self.exchange.milliseconds()
        last = state.last_ms
        since = (now_ms if last is None else min(last, now_ms)) - _TRADES_BACK_MS
        self.reconcile(store, prefixes, since)  # no broker yet: booked once they are built
        assert self.orders is not None
        balances = self.orders.balances()  # after the reconciliation: what it booked included
        risk = RiskEngine(parts.risk, self.exchange.fees.taker, self.symbols)
        wallet = Wallet(float(balances.get(self.quote, 0.0)))
        lanes = []
        for market, strategy in zip(parts.markets, parts.strategies, strict=True):
            symbol = market.symbol
            broker = ExchangeBroker(
                self.orders,
                store,
                ids[symbol],
                self.exchange.fees,
                self.exchange.market_filters(symbol),
                self.exchange.venue_filters(symbol),
                parts.sizer,
                wallet,
                risk,
            )
            self.brokers[symbol] = broker
            lanes.append(Lane(as_event_strategy(strategy, None), broker, None, symbol))
        unbooked = store.unbooked()
        for broker in self.brokers.values():
            broker.book_recovered(unbooked, at_start=True)
            broker.paused = "; ".join(store.pauses())
        from thunes.exchange.ccxt_stream import CcxtStream  # ccxt.pro: only for a session

        # the venue's time, after the import: the clock runs from here (a resumed session's
        # feed reads on from its last close, and the closes due by its end are stepped)
        clock = MarketClock(self.exchange.milliseconds(), self.speed)
        resilience = Resilience(reconnect_clock="market") if self.speed > 1 else None

        feed = CcxtFeed(
            self.exchange,
            CcxtStream(self.exchange),
            self.symbols,
            timeframe,
            clock,
            resilience=resilience,
            since_ms=last,
        )
        started = state.started_ms or clock.start_ms
        until = None if cfg.paper.duration is None else started + span_ms(cfg.paper.duration)
        activity = self.activity = Activity(clock, echo=self.console.print, then=state)
        self.risk = risk
        engine = LiveEngine(
            lanes,
            _Turns(feed, self.lock, self._work_due),
            until,
            recorder=activity,
            stepped=self._stepped,
        )
        self._state = state
        if state.attach(self.brokers, engine.kernel, risk, run_id, started):
            after = utc_minute(last or 0)
            self.console.print(f"{self.mode}: resuming {store.path} after {after} UTC")
        ops.attach(engine, risk, parts, cfg, store.path)  # as paper: alerts, drift, metrics, API
        title = (
            f"{self.mode.upper()} {', '.join(self.symbols)} {timeframe} "
            f"{type(parts.strategy).__name__} on {self.account_exchange} (real orders;"
            f" {balances.get(self.quote, 0.0):g} {self.quote})"
        )
        if cfg.paper.once:
            engine.once()
            self._pump_all()
        else:
            self.console.print(f"{title}: reconciled; waiting for the next close. Ctrl-C stops.")
            asyncio.run(self._session(engine, store, prefixes))
        self._pump_all()  # what the last step queued leaves; cancels confirmed
        for line in summary(engine, activity, risk):
            self.console.print(line, highlight=False)
        for symbol, broker in self.brokers.items():
            for w in broker.working:
                self.console.print(
                    f"{symbol}: still at work {w.order.side.value} {w.order.type.value}"
                    f" {w.size:g} @ {w.order.price or 0:,.2f} [{w.order.tag}] ({w.client_id})",
                    highlight=False,
                )
        self.console.print(
            f"feed: {feed.health.describe()}; {_behind(engine, feed.tf)}", highlight=False
        )
        self.console.print(f"state saved in {store.path}: the next start resumes it")

    def _stepped(self, close_ms: int) -> None:
        self._state.stepped(close_ms)
        self.kick.set()

    def _pump_all(self) -> None:
        """Each broker's network work (blocking: run off the loop, between steps)."""
        for symbol, broker in self.brokers.items():
            try:
                broker.pump()
            except ExchangeError as error:
                log.warning("%s: broker work failed, tried again: %s", symbol, one_line(error))

    async def _work_due(self) -> None:
        """The brokers' work, if a step has queued some (the caller holds the lock)."""
        if self.kick.is_set():
            self.kick.clear()
            await asyncio.to_thread(self._pump_all)

    async def _work(self) -> None:
        every = float(self.cfg.live.work_every_s)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.kick.wait(), every)
            self.kick.clear()
            async with self.lock:
                await asyncio.to_thread(self._pump_all)

    async def _session(self, engine: LiveEngine, store: StateStore, prefixes: list[str]) -> None:
        """The engine until it stops (Ctrl-C, SIGTERM, paper.duration), with the brokers'
        work, the private stream and the jobs beside it."""
        from thunes.exchange.ccxt_user_stream import CcxtUserStream
        from thunes.feeds.user_feed import UserFeed, ended_to

        live = self.cfg.live
        user = UserFeed(
            CcxtUserStream(self.exchange, self.symbols),
            self._report,
            on_orders=ended_to(self._recheck),
            on_resume=self._recheck,
            clock=engine.feed.clock,
        )

        async def reconcile() -> None:
            async with self.lock:
                since = engine.now_ms - _TRADES_BACK_MS
                await asyncio.to_thread(self.reconcile, store, prefixes, since)

        async def markets() -> None:
            async with self.lock:
                await asyncio.to_thread(self._refresh_markets)

        async def report() -> None:
            for line in summary(engine, self.activity, self.risk):
                self.console.print(f"daily report: {line}", highlight=False)

        jobs = Jobs()
        jobs.every("reconcile", float(live.reconcile_every_s), reconcile)
        jobs.every("markets", float(live.markets_every_s), markets)
        jobs.daily("report", report, hour=int(live.report_hour))
        task = asyncio.ensure_future(engine.run())
        helpers = [asyncio.ensure_future(self._work()), user.start()]
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop, task.cancel)
        jobs.start()
        try:
            await task
        finally:
            jobs.shutdown()
            for stop in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(stop)
            helpers[0].cancel()
            await asyncio.gather(helpers[0], return_exceptions=True)
            await user.stop()

    def _report(self, fills: list[Fill]) -> None:
        for broker in self.brokers.values():
            broker.report(fills)

    def _recheck(self, client_ids: Iterable[str] | None = None) -> None:
        wanted = None if client_ids is None else list(client_ids)
        for broker in self.brokers.values():
            broker.recheck(wanted)

    def _refresh_markets(self) -> None:
        self.exchange.refresh_markets()
        for symbol, broker in self.brokers.items():
            broker.refresh(
                self.exchange.market_filters(symbol), self.exchange.venue_filters(symbol)
            )


def _behind(engine: LiveEngine, tf_ms: int) -> str:
    """How far the steps were behind the market clock when the session stopped: the closes
    due by then and never stepped (read late or still queued), unlike `missing` (closes the
    exchange never had)."""
    last = engine.health.last_event_ms
    if last is None:
        return "no close stepped"
    behind = max(0, (engine.stopped_ms - last) // tf_ms)
    return f"last close stepped {utc_minute(last)} UTC, {behind} close(s) behind at the stop"


class _Turns:
    """The feed, each event handed over under the session's lock: a step (the engine's,
    synchronous) never runs while a broker's work (on a thread) does; and `between()`
    first, so the orders a step decided leave before the next candle is stepped (candles
    back-filled after a reconnect come in a burst: without it a strategy would decide
    again on each before its last order was even sent)."""

    def __init__(
        self, feed: CcxtFeed, lock: asyncio.Lock, between: Callable[[], Awaitable[None]]
    ) -> None:
        self.feed, self.lock, self.between = feed, lock, between
        self.symbols, self.timeframe, self.clock = feed.symbols, feed.timeframe, feed.clock
        self.health = feed.health  # the link, as the operator's tools read it

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        return self.feed.history(symbol, bars)

    async def __aiter__(self) -> AsyncIterator[MarketEvent]:
        async for event in self.feed:
            async with self.lock:
                await self.between()
                yield event


def run(cfg: DictConfig, mode: str, preflight: Preflight | None = None) -> None:
    """A venue session for `mode` ("paper" on a testnet, "live"); `preflight`: see above."""
    Session(cfg, build(cfg), mode).run(preflight)
