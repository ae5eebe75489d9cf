"""Binance's error answers: HTTP status plus {"code": ..., "msg": ...}, with its own wording."""

from __future__ import annotations

RATE_LIMIT_MSG = (
    "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)
UNKNOWN_STATUS_MSG = (
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown."
)


class BinanceApiError(Exception):
    """A Binance error answer: HTTP status plus {"code": ..., "msg": ...}."""

    def __init__(self, status: int, code: int, msg: str, page: str | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg = status, code, msg
        self.page = page
        """An HTML page sent instead of the JSON body, as a failing gateway answers."""


def filter_failure(name: str) -> BinanceApiError:
    return BinanceApiError(400, -1013, f"Filter failure: {name}")


def rejected(msg: str) -> BinanceApiError:
    """-2010 NEW_ORDER_REJECTED, e.g. insufficient balance or a duplicate client order id."""
    return BinanceApiError(400, -2010, msg)


def missing(name: str) -> BinanceApiError:
    return BinanceApiError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid(name: str) -> BinanceApiError:
    return BinanceApiError(400, -1100, f"Illegal characters found in parameter '{name}'.")


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
MARKET_CLOSED = "Market is closed."
WOULD_TRIGGER = "Stop price would trigger immediately."
NO_SUCH_ORDER = BinanceApiError(400, -2013, "Order does not exist.")
UNKNOWN_ORDER = BinanceApiError(400, -2011, "Unknown order sent.")
INVALID_SYMBOL = BinanceApiError(400, -1121, "Invalid symbol.")
BAD_API_KEY_FORMAT = BinanceApiError(401, -2014, "API-key format invalid.")
BAD_API_KEY = BinanceApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = BinanceApiError(400, -1022, "Signature for this request is not valid.")
OUTSIDE_RECV_WINDOW = BinanceApiError(
    400, -1021, "Timestamp for this request is outside of the recvWindow."
)
