"""A real venue through ccxt: the only module in THUNES that imports ccxt."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from thunes.domain.market import Fees, MarketFilters, VenueFilters, as_fees
from thunes.errors import ConfigError, ExchangeError, one_line
from thunes.exchange.binance_filters import parse_binance_filters
from thunes.exchange.ccxt_orders import Book, CcxtOrders
from thunes.exchange.latency import RestLatency

log = logging.getLogger(__name__)
T = TypeVar("T")

_LOCAL_OPTIONS = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}
"""What a local stand-in serves: spot markets only, no currency or margin endpoints (sapi)."""

_VENUE_OPTIONS = {"adjustForTimeDifference": True}
"""On a venue, signed requests carry the exchange's clock (measured at load_markets), not the
host's, which may drift out of Binance's recvWindow (-1021). Not by default on a `base_url`:
an accelerated stand-in's clock (its /time) is its market's, not the one it checks
signatures against."""


@dataclass(frozen=True)
class KeyCheck:
    """What one network said of the configured key (for the live guard)."""

    accepted: bool
    """False: the network refused the key (Binance -2015/-2014/-2008, an authentication
    error), as a key of the other network, a deleted key or a wrong IP is refused."""
    restrictions: Mapping[str, Any] | None = None
    """What the venue says the key may do (Binance's apiRestrictions); None: it does not say."""
    refusal: str = ""
    """The venue's one-line answer when it refused the key."""


class CcxtExchange:
    """ccxt's unified client behind the Exchange protocol, with retries and one-line errors."""

    needs_network = True
    max_candles_per_call = 1000

    def __init__(
        self,
        *,
        exchange_id: str,
        fees: Fees | Mapping[str, float | bool],
        slippage: float,
        sandbox: bool = False,
        base_url: str | None = None,
        twin_url: str | None = None,
        options: dict[str, Any] | None = None,
        api_key_env: str | None = None,
        secret_env: str | None = None,
        max_retries: int = 5,
        retry_backoff_s: float = 1.0,
        timeout_ms: int = 10_000,
    ) -> None:
        import ccxt  # lazily: importing ccxt costs ~0.3 s that backtests never need

        if exchange_id not in ccxt.exchanges:
            raise ConfigError(f"exchange.exchange_id: ccxt has no exchange {exchange_id!r}")
        self.name = exchange_id
        self.fees = as_fees(fees)
        self.slippage = slippage
        self._max_retries = max_retries
        self._backoff_s = retry_backoff_s
        self._ccxt = ccxt
        self._retryable = (
            ccxt.RateLimitExceeded,
            ccxt.DDoSProtection,
            ccxt.RequestTimeout,
            ccxt.NetworkError,
        )

        config: dict[str, Any] = {
            "timeout": timeout_ms,
            "enableRateLimit": True,
            "options": {**(_LOCAL_OPTIONS if base_url else _VENUE_OPTIONS), **(options or {})},
        }
        # Keys are read where set; market data needs none (paper on a venue's candles), and
        # the first call that trades names the variable that is missing.
        named = {
            "apiKey": ("exchange.api_key_env", api_key_env),
            "secret": ("exchange.secret_env", secret_env),
        }
        self._missing = [
            f"{key}: environment variable {variable} is not set"
            for field, (key, variable) in named.items()
            if variable and not _secret(variable, config, field)
        ]
        self.keys_from = " and ".join(
            f"{variable} ({key})" for key, variable in named.values() if variable
        )
        """Where the key pair comes from, for a message about a refused key: never the keys."""
        self._config, self._base_url, self._twin_url = config, base_url, twin_url
        self.sandbox = sandbox
        """Whether this is the venue's test network (Binance's spot testnet): play money."""
        self._client = self._new_client(ccxt)
        self.latency: RestLatency | None = RestLatency()
        """The REST round trips of the client every call goes through (orders included)."""
        self._client.fetch = self.latency.timed(self._client.fetch, ccxt.NetworkError)

    def _new_client(self, module: Any, twin: bool = False) -> Any:
        """A client of `module` (ccxt or ccxt.pro) with this exchange's settings and URLs;
        `twin`: on the other network (the testnet for a mainnet, and back)."""
        # Copied: ccxt mutates its options, which must not leak between clients.
        client = getattr(module, self.name)(copy.deepcopy(self._config))
        if self.sandbox != twin:
            client.set_sandbox_mode(True)
        base_url = self._twin_url if twin else self._base_url
        if base_url:
            client.urls["api"] = rebase_urls(client.urls["api"], base_url)
        return client

    @property
    def client(self) -> Any:
        """The REST client, for the order calls (ccxt_orders.CcxtOrders): keys required."""
        self._require_keys()
        return self._client

    def private_client(self) -> Any:
        """A new ccxt.pro client for the account's own streams: keys required."""
        self._require_keys()
        return self.stream_client()

    def _require_keys(self) -> None:
        if self._missing:
            raise ConfigError(self._missing[0])

    def check_key(self, twin: bool = False) -> KeyCheck | None:
        """Whether this network accepts the key, and what the venue says it may do (Binance's
        GET /sapi/v1/account/apiRestrictions; its testnet has no /sapi, nor other venues:
        there a signed balance read only tells that the key is accepted). `twin`: ask the
        other network (testnet for mainnet, and back); None when there is none to ask (a
        `base_url` without `twin_url`) or it cannot be reached. Reads only, never trades."""
        self._require_keys()
        if twin and self._base_url and not self._twin_url:
            return None
        client = self._new_client(self._ccxt, twin) if twin else self._client
        says = "sapi" in client.urls["api"] and hasattr(client, "sapi_get_account_apirestrictions")
        try:
            self._call("load_markets", client.load_markets)  # the venue's clock, to sign on
            if says:
                answer = self._call("key", client.sapi_get_account_apirestrictions)
                return KeyCheck(True, dict(answer))
            self._call("key", client.fetch_balance)
            return KeyCheck(True)
        except ExchangeError as error:
            if isinstance(error.__cause__, self._ccxt.AuthenticationError):
                return KeyCheck(False, refusal=one_line(error))
            if twin:  # the other network cannot tell: neither proof nor refusal
                log.warning("%s: the other network did not answer: %s", self.name, error)
                return None
            raise

    def stream_client(self) -> Any:
        """A new ccxt.pro client (websockets) with the same keys, options and base URL.

        One per use: public and private streams on separate instances, so that resetting one
        after a stall does not drop the other.
        """
        import ccxt.pro

        return self._new_client(ccxt.pro)

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since_ms: int, limit: int
    ) -> list[list[float]]:
        rows = self._call(
            "fetch_ohlcv", lambda: self._client.fetch_ohlcv(symbol, timeframe, since_ms, limit)
        )
        return [list(row) for row in rows]

    def milliseconds(self) -> int:
        """The server's clock when the venue exposes it: local clocks drift."""
        if self._client.has.get("fetchTime"):
            try:
                return int(self._client.fetch_time())
            except self._ccxt.BaseError as exc:
                log.warning(
                    "%s fetch_time failed, using the local clock: %s", self.name, one_line(exc)
                )
        return int(time.time() * 1000)

    def refresh_markets(self) -> None:
        """Read the venue's markets again (statuses, filters, order types), for a periodic
        job: `market_filters` and `venue_filters` answer from what it read. A symbol that
        was halted and trades again shows it here."""
        self._call("load_markets", lambda: self._client.load_markets(True))

    def market_filters(self, symbol: str) -> MarketFilters:
        self._call("load_markets", self._client.load_markets)
        market = self._call("market", lambda: self._client.market(symbol))
        precision, limits = market["precision"], market["limits"]
        return MarketFilters(
            tick_size=self._step(precision.get("price")),
            step_size=self._step(precision.get("amount")),
            min_qty=float(limits["amount"].get("min") or 0.0),
            min_notional=float(limits["cost"].get("min") or 0.0),
        )

    def venue_filters(self, symbol: str) -> VenueFilters:
        """Binance's raw filters that the unified market drops, from `market['info']`."""
        self._call("load_markets", self._client.load_markets)
        market = self._call("market", lambda: self._client.market(symbol))
        return parse_binance_filters(market["info"])

    def book(self, symbol: str) -> Book:
        """Best bid/ask and the average price, read with no key: what a paper session
        checks the venue's raw filters against (engine/venue_check.py)."""
        return CcxtOrders(self._client).book(symbol)

    def _step(self, precision: float | None) -> float:
        """ccxt precision as a step: a tick already (TICK_SIZE mode) or a count of decimals."""
        if precision is None:
            return 0.0
        if self._client.precisionMode == self._ccxt.DECIMAL_PLACES:
            return float(10.0**-precision)
        return float(precision)

    def _call(self, call: str, request: Callable[[], T]) -> T:
        """Retry transient failures with exponential back-off; map the rest to ExchangeError."""
        attempt = 0
        while True:
            try:
                return request()
            except self._retryable as exc:
                attempt += 1
                if attempt > self._max_retries:
                    raise ExchangeError(
                        f"{self.name} {call}: failed after {attempt} attempts: {one_line(exc)}"
                    ) from exc
                delay = self._backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "%s %s: %s; retry %d/%d in %.2fs",
                    self.name,
                    call,
                    one_line(exc),
                    attempt,
                    self._max_retries,
                    delay,
                )
                time.sleep(delay)
            except self._ccxt.BaseError as exc:
                raise ExchangeError(f"{self.name} {call}: {one_line(exc)}") from exc


def _secret(variable: str, config: dict[str, Any], field: str) -> bool:
    """A credential from the environment into ccxt's `config`; only its variable's name ever
    appears in messages. False if the variable is not set."""
    value = os.environ.get(variable)
    if value:
        config[field] = value
    return bool(value)


def rebase_urls(urls: Any, base: str) -> Any:
    """Point every URL at `base`'s host, keeping paths: nothing leaves for the venue.

    REST URLs take `base`'s scheme; websocket ones its websocket twin (http -> ws,
    https -> wss). A path in `base` prefixes every path, for a gateway under a sub-path.
    """
    if isinstance(urls, dict):
        return {key: rebase_urls(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and urlsplit(urls).netloc:
        target, parts = urlsplit(base), urlsplit(urls)
        scheme = target.scheme
        if parts.scheme in ("ws", "wss"):
            scheme = "wss" if target.scheme == "https" else "ws"
        path = target.path.rstrip("/") + parts.path
        return urlunsplit(parts._replace(scheme=scheme, netloc=target.netloc, path=path))
    return urls
