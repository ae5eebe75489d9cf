"""Drift monitors watch a stream of values (returns, errors) for a change of regime."""

from __future__ import annotations


class NoDriftMonitor:
    """Never reports drift."""

    def update(self, value: float) -> bool:
        return False
