"""A tradable market and the exchange filters every order must pass."""

from __future__ import annotations

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
    """A venue's fee rates as fractions of notional (0.001 is 0.1%)."""

    maker: float
    taker: float
