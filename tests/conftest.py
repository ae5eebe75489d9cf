"""Fixtures shared across the test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.binance import FakeBinance


@pytest.fixture
def binance_server() -> Iterator[FakeBinance]:
    """A started Binance-spot stand-in on 127.0.0.1; its `url` goes to CcxtExchange(base_url=)."""
    with FakeBinance() as server:
        yield server


@pytest.fixture(autouse=True)
def _own_secrets() -> Iterator[None]:
    """Each test's secrets are its own: the redaction remembers them for the process's life,
    and a secret of one test (a URL's path) would mask words in the next one's output."""
    from thunes.tracking import redact

    known = redact._known
    yield
    redact._known = known
