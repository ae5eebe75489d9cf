"""The operator's tools a `thunes` run attaches, caught for a test to read after the run."""

from __future__ import annotations

from typing import Any

import pytest

import thunes.ops
from thunes.ops.attach import Ops


def attached_ops(monkeypatch: pytest.MonkeyPatch) -> list[Ops]:
    """The list every `thunes.ops.attach` of this test appends its `Ops` to."""
    attached: list[Ops] = []
    attach = thunes.ops.attach

    def spy(*args: Any, **kwargs: Any) -> Ops:
        attached.append(attach(*args, **kwargs))
        return attached[-1]

    monkeypatch.setattr(thunes.ops, "attach", spy)
    return attached
