"""The PostgreSQL server the shared-Optuna-storage tests run against.

`.ci/run` starts a throw-away server (`.ci/postgres.sh`) and exports its SQLAlchemy URL as
THUNES_TEST_POSTGRES_URL. In CI a missing URL fails the test: a storage test that silently
skips there proves nothing. Locally it skips, saying how to get a server.
"""

from __future__ import annotations

import os

import pytest

ENV_VAR = "THUNES_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def postgres_url() -> str:
    """The test server's URL (postgresql+psycopg://...); fails in CI, skips locally, if unset."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return url
    if _in_ci():
        pytest.fail(
            f"{ENV_VAR} is not set, but CI is: .ci/run must start the PostgreSQL test server "
            "(.ci/postgres.sh) before the tests; PostgreSQL tests never skip in CI",
            pytrace=False,
        )
    pytest.skip(
        f'{ENV_VAR} is not set: run `eval "$(bash .ci/postgres.sh start)"` first, '
        "or the whole suite with `bash .ci/run`"
    )
