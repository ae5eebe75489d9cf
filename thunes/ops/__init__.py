"""Operating a running session: metrics, logs, a dead-man's switch, the control API."""

from thunes.ops.attach import attach

__all__ = ["attach"]
