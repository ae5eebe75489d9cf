"""tracking=none: keep nothing beyond the run folder."""

from __future__ import annotations

from thunes.tracking.base import RunRecord


class NullTracker:
    def start_run(self, name: str, tags: dict[str, str]) -> str | None:
        return None

    def log_run(
        self, record: RunRecord, run_id: str | None = None, parent_id: str | None = None
    ) -> str | None:
        return None

    def end_run(self, run_id: str, status: str, why: str) -> None:
        return None
