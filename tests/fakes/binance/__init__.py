"""A Binance-spot stand-in on 127.0.0.1 that the REAL ccxt and ccxt.pro clients talk to.

Responses copy Binance's shapes, HTTP statuses and error bodies, so ccxt's own parsing and
error mapping are exercised, not mocked. Start it with `with FakeBinance(...) as server:`,
point a client at `server.url` (CcxtExchange's `base_url`), sign with `API_KEY`/`SECRET`.
"""

from tests.fakes.binance.auth import API_KEY, SECRET
from tests.fakes.binance.errors import BinanceApiError
from tests.fakes.binance.market import SymbolSpec, make_rows
from tests.fakes.binance.server import FakeBinance

__all__ = ["API_KEY", "SECRET", "BinanceApiError", "FakeBinance", "SymbolSpec", "make_rows"]
