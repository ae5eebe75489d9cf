"""Secrets come from the environment only: a `.env` file where thunes runs is read into it at
start (never over a variable already set), and the config names variables (`api_key_env:
BINANCE_API_KEY`) or interpolates them (`${oc.env:TELEGRAM_BOT_TOKEN}`), never values.

Every value that may be secret is handed to the process's redaction (tracking/redact.py)
before anything can print, log or save it: variables whose names say key, secret, token,
password..., every variable the config refers to, and every value `${oc.env:...}` reads,
when it reads it (Hydra prints `--cfg job --resolve` before any code of ours runs)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.resolvers import oc

from thunes.tracking.redact import remember

DOTENV = ".env"
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|KEY|SECRET|TOKEN|PASS(?:WORD|WD|PHRASE)?|CREDENTIALS?|AUTH|"
    r"WEBHOOK|URL|URI|DSN|CHAT_ID)(?:_|$)",
    re.IGNORECASE,
)
"""A word of the name (CURL_CA_BUNDLE holds no URL)."""
_INTERPOLATED = re.compile(r"\$\{oc\.env:\s*([A-Za-z_][A-Za-z0-9_]*)")


def load_dotenv(directory: Path) -> Path | None:
    """Read `directory/.env` into the environment if it exists (set variables win); the
    file read, or None."""
    path = directory / DOTENV
    if not path.is_file():
        return None
    from dotenv import load_dotenv as load

    load(path, override=False)
    return path


def secret_names(env: Mapping[str, str]) -> set[str]:
    """Variables whose names say they hold a secret (BINANCE_API_KEY, TELEGRAM_BOT_TOKEN,
    NOTIFY_URL...)."""
    return {name for name in env if _SECRET_NAME.search(name)}


def referenced(cfg: DictConfig) -> set[str]:
    """Variables the config refers to: by name (`*_env` keys) or as ${oc.env:NAME}."""
    names: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str):
            names.update(_INTERPOLATED.findall(node))
            if key.endswith("_env"):
                names.add(node)

    walk(OmegaConf.to_container(cfg, resolve=False))
    return names


def protect(cfg: DictConfig | None = None, env: Mapping[str, str] | None = None) -> None:
    """Hand every possibly secret value of the environment (and those `cfg` refers to) to
    the redaction, which masks it from then on."""
    env = os.environ if env is None else env
    names = secret_names(env) | (referenced(cfg) if cfg is not None else set())
    remember(env[name].strip() for name in names if name in env)


def _env(key: str, *default: Any) -> Any:
    """OmegaConf's `oc.env`, the value it reads from the environment remembered as a secret."""
    value = oc.env(key, *default)
    if key in os.environ:
        remember([os.environ[key].strip()])
    return value


def remember_interpolated() -> None:
    """From now on, whatever resolves `${oc.env:NAME}` (a job, a printed config, an error
    quoting a value) leaves NAME's value known to the redaction; the value itself is unchanged."""
    OmegaConf.register_new_resolver("oc.env", _env, replace=True)
