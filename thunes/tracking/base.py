"""What a tracker records for one job, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class RunRecord:
    """Params are the flattened, redacted config; artifacts are every file in `artifact_dir`."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifact_dir: Path
    artifact_names: tuple[str, ...] = field(default=())


class Tracker(Protocol):
    def start_run(self, name: str, tags: dict[str, str]) -> str | None:
        """Open a run that others nest under (a sweep's parent); its id, or None."""
        ...

    def log_run(
        self, record: RunRecord, run_id: str | None = None, parent_id: str | None = None
    ) -> str | None:
        """Record and close the run (`run_id`'s, or a new one nested under `parent_id`);
        return where to find it, or None when nothing is kept."""
        ...

    def end_run(self, run_id: str, status: str, why: str) -> None:
        """Close a run that will not be completed (a sweep stopped by an error or Ctrl-C):
        `status` FAILED or KILLED, `why` kept with it, rather than RUNNING forever."""
        ...
