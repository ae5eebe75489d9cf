"""A tradable market and the exchange filters every order must pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketFilters:
    """Binance-style PRICE_FILTER, LOT_SIZE and (MIN_)NOTIONAL values."""

    tick_size: float
    step_size: float
    min_qty: float
    min_notional: float


@dataclass(frozen=True, slots=True)
class Market:
    """A spot symbol in ccxt's unified form ('BTC/USDT') with its filters."""

    symbol: str
    filters: MarketFilters

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]


@dataclass(frozen=True, slots=True)
class Fees:
    """A venue's fee rates as fractions of notional (0.001 is 0.1%), and how they are paid.

    `from_received`: the venue takes the fee from what an order receives, base on a buy
    and quote on a sell (Binance's way, unless BNB pays); a buy of 1 BTC then leaves
    0.999 BTC to sell. Otherwise the fee is paid on top in quote, as textbooks and
    vectorbt charge it.
    """

    maker: float
    taker: float
    from_received: bool


def as_fees(fees: Fees | Mapping[str, float | bool]) -> Fees:
    """Fees from the config's `exchange.fees` node (maker, taker, from_received)."""
    if isinstance(fees, Fees):
        return fees
    return Fees(float(fees["maker"]), float(fees["taker"]), bool(fees["from_received"]))


@dataclass(frozen=True, slots=True)
class VenueFilters:
    """The venue's filters beyond MarketFilters, which ccxt's unified market drops.

    Binance names: MARKET_LOT_SIZE (market_*), NOTIONAL (notional bounds, whether they bind
    market orders, and the average-price window a market order's notional is priced on),
    PERCENT_PRICE_BY_SIDE (a limit price's band around that average, per side),
    MAX_NUM_ORDERS (every order open on the symbol, stops included, whoever placed them) and
    MAX_NUM_ALGO_ORDERS (stop orders only). A filter the venue does not list is neutral:
    0 minimums, infinite maximums, a 0 step, `max_num_*` 0 for no cap. `order_types`: the
    types the symbol takes (Binance's names; empty: not said).
    """

    status: str
    """TRADING, or HALT / BREAK when new orders are refused."""
    market_min_qty: float
    market_max_qty: float
    market_step_size: float
    min_notional: float
    max_notional: float
    apply_min_to_market: bool
    apply_max_to_market: bool
    avg_price_mins: int
    bid_multiplier_up: float
    bid_multiplier_down: float
    ask_multiplier_up: float
    ask_multiplier_down: float
    max_num_orders: int
    max_num_algo_orders: int = 0
    order_types: tuple[str, ...] = ()
