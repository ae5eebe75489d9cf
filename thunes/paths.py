"""Where THUNES's own files live, wherever it is started from."""

import os
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def cache_root() -> Path:
    """What THUNES may rebuild at any time: `$THUNES_CACHE_DIR`, else `.cache` under the
    working folder."""
    return Path(os.environ.get("THUNES_CACHE_DIR", Path.cwd() / ".cache")).absolute()
