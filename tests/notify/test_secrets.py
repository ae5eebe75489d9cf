"""A notification URL's secret parts are masked in every log line from the moment a notifier
reads it, and nothing else is: the masking holds for the whole process, so an ordinary word
of a URL's path, masked, would vanish from every unrelated line too."""

from __future__ import annotations

import logging

import pytest

from thunes.notify.secrets import guard
from thunes.tracking.redact import REDACTED

TOKEN = "918273645:FAKEtgTOKEN-secrets-q9"
USER = "FAKEuser-secrets"  # the login, as the password: a credential
PASSWORD = "FAKEpw-secrets-3k"
QUERY_TOKEN = "FAKEqtok-secrets-77"
PING = "0f3c2a9e-1b7d-4c5e-9a2f-3d4e5f6a7b8c"
URLS = [
    f"tgram://{TOKEN}/4242?silent=yes",
    f"json://{USER}:{PASSWORD}@127.0.0.1:9/alerts/trading?token={QUERY_TOKEN}&format=markdown",
    f"https://hc-ping.com/{PING}",  # no Apprise plugin reads it (ops.ping_url)
]


def test_only_the_secret_parts_of_a_url_are_masked_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard(URLS)
    log = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG):
        log.debug('"POST /bot%s/sendMessage HTTP/1.1" 200 None', TOKEN)
        log.debug("json post as %s:%s, query token=%s", USER, PASSWORD, QUERY_TOKEN)
        log.debug("ping %s then %s", PING, TOKEN.split(":")[1])  # a token's secret half alone
        log.debug("alerts on trading desk, format markdown, silent, to hc-ping.com")
    text = caplog.text
    for secret in (TOKEN, TOKEN.split(":")[1], USER, PASSWORD, QUERY_TOKEN, PING):
        assert secret not in text
    assert f"/bot{REDACTED}/sendMessage" in text
    assert f"ping {REDACTED} then {REDACTED}" in text
    assert "alerts on trading desk, format markdown, silent, to hc-ping.com" in text
