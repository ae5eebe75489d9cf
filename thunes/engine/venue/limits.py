"""The exchange broker's settings: its timings, its breaker and its margins."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerLimits:
    """`check_after_s`: an order at work is looked up once it is that old since its last
    news (and a refused protective stop tried again); `breaker_after`: consecutive
    rejections that trip the breaker, which refuses orders for `breaker_pause_s`; `edge`:
    the raw filters' margin (binance_checks); `stop_limit_offset`: a STOP_LOSS_LIMIT's
    limit under its stop, as a fraction (used where the symbol has no STOP_LOSS);
    `foreign_every_s`: how often the symbol's open orders are read to count the ones
    placed by others; `fee_price_every_s`: how long a fee asset's price is used;
    `sell_unprotected`: sell a position whose stop cannot rest, rather than pause buys."""

    check_after_s: float = 5.0
    breaker_after: int = 3
    breaker_pause_s: float = 300.0
    edge: float = 0.002
    stop_limit_offset: float = 0.01
    foreign_every_s: float = 30.0
    fee_price_every_s: float = 60.0
    sell_unprotected: bool = False
