"""Fixtures shared across the test suite."""

from __future__ import annotations

import logging
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


@pytest.fixture(autouse=True)
def _own_logging() -> Iterator[None]:
    """Each test's logging is its own: a run in this process (a sweep's Hydra logging config
    `disabled` turns off every logger that exists) must not silence the next test's session."""
    loggers = logging.Logger.manager.loggerDict
    off = {n for n, lg in loggers.items() if isinstance(lg, logging.Logger) and lg.disabled}
    yield
    for name, logger in list(loggers.items()):
        if isinstance(logger, logging.Logger) and name not in off:
            logger.disabled = False
