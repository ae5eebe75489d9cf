"""Where THUNES's own files live, wherever it is started from."""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
