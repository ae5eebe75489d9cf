"""Turn Hydra's and OmegaConf's multi-line composition errors into one line naming the key."""

from __future__ import annotations

import dataclasses
import difflib
import re

from omegaconf.errors import OmegaConfBaseException

from thunes.tracking.redact import scrub

_UNKNOWN_KEY = re.compile(r"Key '([^']+)' not in|Key '([^']+)' is not in struct")


def _omegaconf_cause(error: BaseException) -> OmegaConfBaseException | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OmegaConfBaseException) and getattr(seen, "full_key", None):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(error: BaseException) -> str:
    return next(
        (line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__
    )


def explain(error: BaseException) -> str:
    """`strategy.fsat: unknown key; did you mean fast? allowed: fast, slow` and the like,
    with any secret the process knows masked (a value quoted from a resolved config)."""
    return scrub(_explain(error))


def _explain(error: BaseException) -> str:
    cause = _omegaconf_cause(error)
    if cause is None:
        text = str(error).split("Config search path")[0]  # Hydra appends its search path
        return " ".join(line.strip() for line in text.splitlines() if line.strip())
    key = str(cause.full_key)
    schema = getattr(cause, "object_type", None)
    unknown = _UNKNOWN_KEY.search(str(cause))
    if unknown and dataclasses.is_dataclass(schema):
        name = unknown.group(1) or unknown.group(2)
        fields = [f.name for f in dataclasses.fields(schema) if not f.name.startswith("_")]
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"{key}: unknown key; {hint}allowed: {', '.join(fields)}"
    return f"{key}: {_first_line(cause)}"
