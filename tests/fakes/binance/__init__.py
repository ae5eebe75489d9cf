"""A Binance-spot stand-in on 127.0.0.1 that the REAL ccxt and ccxt.pro clients talk to.

Responses copy Binance's shapes, HTTP statuses and error bodies, so ccxt's own parsing and
error mapping are exercised, not mocked.

    with FakeBinance(symbols, start_ms=T0, speed=600, balances={"USDT": "1000"}) as server:
        exchange = CcxtExchange(exchange_id="binance", base_url=server.url, ...)  # keys:
        # API_KEY / SECRET, through the environment variables named in the config
        server.set_candles("BTCUSDT", "1m", rows)  # else a seeded random walk, 1m
        server.clock.pin(ms) / server.clock.run(start_ms, speed)
        server.clock.lockstep(60_000, 1.5)  # the market waits for its client: at most 1.5
        # candles past the last close it reports with server.clock.stepped(close_ms)
        # (tests/live/venue.py's in_lockstep reads it from a session's state file)
        server.set_status("BTCUSDT", "HALT")
        server.faults.drop_every = 5; server.faults.stalled = True; server.close_sockets()
        server.faults.rate_limit_next(1, "/api/v3/order", retry_after_s=2)
        server.faults.server_error_next("/api/v3/account")
        server.faults.lose_order_replies(1, after=1)  # the second new order: booked, unanswered
        server.credentials.clock_offset_ms = 30_000  # -1021 on signed calls (host clock)
        server.credentials.restrictions = key_restrictions(enableWithdrawals=True)  # the
        # key's permissions, as GET /sapi/v1/account/apiRestrictions answers them
        server.skew_clock(30_000)  # the venue's clock (its /time too) 30 s ahead
        server.stats.orders, .trades, .errors[-1013], .duplicate_client_ids
        server.account.orders / .trades / .balances; server.requests_to("/api/v3/klines")
"""

from tests.fakes.binance.auth import API_KEY, SECRET, key_restrictions
from tests.fakes.binance.errors import BinanceApiError
from tests.fakes.binance.market import SymbolSpec, make_rows
from tests.fakes.binance.server import FakeBinance

__all__ = [
    "API_KEY",
    "SECRET",
    "BinanceApiError",
    "FakeBinance",
    "SymbolSpec",
    "key_restrictions",
    "make_rows",
]
