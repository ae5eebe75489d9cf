"""tracking=none: keep nothing beyond the run folder."""

from __future__ import annotations

from thunes.tracking.base import RunRecord


class NullTracker:
    def log_run(self, record: RunRecord) -> str | None:
        return None
