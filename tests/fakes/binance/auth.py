"""Signed requests as Binance checks them: API key, HMAC-SHA256 signature, timestamp window."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.binance import errors
from tests.fakes.binance.errors import BinanceApiError

API_KEY = "standin-api-key"
SECRET = "standin-secret"


def key_restrictions(**changes: bool) -> dict[str, Any]:
    """Binance's GET /sapi/v1/account/apiRestrictions answer for a key made to trade spot:
    it reads and trades, cannot withdraw, and has no IP restriction (until `changes` say)."""
    answer: dict[str, Any] = {
        "ipRestrict": False,
        "createTime": 1_704_067_200_000,
        "enableReading": True,
        "enableWithdrawals": False,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": True,
        "enablePortfolioMarginTrading": False,
    }
    answer.update(changes)
    return answer


@dataclass
class Credentials:
    """The one account's key pair, and the venue's clock offset against the host's.

    Timestamps are checked against the host's real clock (plus `clock_offset_ms`), not the
    accelerated market clock: set the offset to make a client's clock look wrong (-1021).
    """

    api_key: str = API_KEY
    secret: str = SECRET
    clock_offset_ms: int = 0
    restrictions: dict[str, Any] = field(default_factory=key_restrictions)
    """What the key may do, as apiRestrictions answers: a test sets e.g.
    `server.credentials.restrictions = key_restrictions(enableWithdrawals=True)`."""

    def check_rest(self, api_key: str | None, total_params: str, params: Mapping[str, str]) -> None:
        """A signed REST call: the signature covers the query string followed by the body."""
        payload = "&".join(p for p in total_params.split("&") if not p.startswith("signature="))
        self._check(api_key, payload, params)

    def check_ws(self, params: Mapping[str, Any]) -> None:
        """A signed WebSocket API request: the signature covers its params sorted by name,
        each value as its JSON text (booleans `true`/`false`)."""
        payload = "&".join(
            f"{k}={json.dumps(v) if isinstance(v, bool) else v}"
            for k, v in sorted(params.items())
            if k != "signature"
        )
        self._check(params.get("apiKey"), payload, params)

    def _check(self, api_key: str | None, payload: str, params: Mapping[str, Any]) -> None:
        if not api_key:
            raise errors.BAD_API_KEY_FORMAT
        if api_key != self.api_key:
            raise errors.BAD_API_KEY
        if "timestamp" not in params:
            raise errors.missing("timestamp")
        recv_window = int(params.get("recvWindow", 5000))
        if recv_window > 60_000:
            raise BinanceApiError(400, -1131, "recvWindow must be less than 60000.")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(params.get("signature", ""))):
            raise errors.BAD_SIGNATURE
        now = int(time.time() * 1000) + self.clock_offset_ms
        timestamp = int(params["timestamp"])
        if timestamp > now + 1000 or now - timestamp > recv_window:
            raise errors.OUTSIDE_RECV_WINDOW
