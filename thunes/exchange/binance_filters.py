"""Binance's raw symbol filters (exchangeInfo's `filters`) as a typed VenueFilters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from thunes.domain.market import VenueFilters


def parse_binance_filters(symbol_info: Mapping[str, Any]) -> VenueFilters:
    """One exchangeInfo symbol entry (ccxt's `market['info']`) to VenueFilters."""
    by_type = {f["filterType"]: f for f in symbol_info.get("filters", [])}
    lot = by_type.get("MARKET_LOT_SIZE", {})
    notional = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL", {})
    band = by_type.get("PERCENT_PRICE_BY_SIDE", {})
    return VenueFilters(
        status=str(symbol_info.get("status", "TRADING")),
        market_min_qty=_number(lot, "minQty", 0.0),
        market_max_qty=_number(lot, "maxQty", math.inf),
        market_step_size=_number(lot, "stepSize", 0.0),
        min_notional=_number(notional, "minNotional", 0.0),
        max_notional=_number(notional, "maxNotional", math.inf),
        # MIN_NOTIONAL (the older filter) names its switch applyToMarket.
        apply_min_to_market=bool(
            notional.get("applyMinToMarket", notional.get("applyToMarket", False))
        ),
        apply_max_to_market=bool(notional.get("applyMaxToMarket", False)),
        avg_price_mins=int(notional.get("avgPriceMins", band.get("avgPriceMins", 0))),
        bid_multiplier_up=_number(band, "bidMultiplierUp", math.inf),
        bid_multiplier_down=_number(band, "bidMultiplierDown", 0.0),
        ask_multiplier_up=_number(band, "askMultiplierUp", math.inf),
        ask_multiplier_down=_number(band, "askMultiplierDown", 0.0),
        max_num_orders=int(by_type.get("MAX_NUM_ORDERS", {}).get("maxNumOrders", 0)),
        max_num_algo_orders=int(by_type.get("MAX_NUM_ALGO_ORDERS", {}).get("maxNumAlgoOrders", 0)),
        order_types=tuple(str(t) for t in symbol_info.get("orderTypes", ())),
    )


def _number(entry: Mapping[str, Any], key: str, default: float) -> float:
    return float(entry[key]) if key in entry else default
