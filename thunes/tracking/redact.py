"""Secrets never leave the process: redact them from anything logged or saved."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(r"key|secret|token|password|passphrase|chat_id|url", re.IGNORECASE)
REDACTED = "***"


def redact(node: Any) -> Any:
    """A copy of a plain (dict/list) config with every secret-looking key's value masked."""
    if isinstance(node, dict):
        return {
            key: REDACTED if _SECRET_KEY.search(str(key)) and value is not None else redact(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [redact(item) for item in node]
    return node


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys to string values, as MLflow params want them."""
    if isinstance(node, dict):
        flat: dict[str, str] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): str(node)}
