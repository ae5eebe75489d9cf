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
