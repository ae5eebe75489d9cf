"""Real ccxt and ccxt.pro clients aimed at the Binance stand-in, as a config would aim them."""

from __future__ import annotations

from typing import Any

import ccxt
import ccxt.pro

from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from thunes.exchange.ccxt_exchange import rebase_urls

SYMBOL = "BTC/USDT"
LOCAL = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


def client_config(**extra: Any) -> dict[str, Any]:
    return {"apiKey": API_KEY, "secret": SECRET, "options": dict(LOCAL), **extra}


def rest_client(server: FakeBinance, **extra: Any) -> Any:
    """ccxt's sync Binance client on the stand-in, keyed for its account."""
    client = ccxt.binance(client_config(**extra))
    client.urls["api"] = rebase_urls(client.urls["api"], server.url)
    return client


def stream_client(server: FakeBinance, **extra: Any) -> Any:
    """ccxt.pro's Binance client on the stand-in (REST and websockets)."""
    client = ccxt.pro.binance(client_config(**extra))
    client.urls["api"] = rebase_urls(client.urls["api"], server.url)
    return client
