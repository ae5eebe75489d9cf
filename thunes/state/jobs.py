"""The run's periodic jobs (reconciliation, the markets refresh, the daily report) on its
event loop, by APScheduler 3: a job that overruns its interval is skipped, never run twice
at once (max_instances=1), runs it missed collapse into one (coalesce), and an exception is
logged and counted, never fatal: the next run comes as planned. APScheduler is imported by
the first `Jobs()`: a session with no periodic job (paper on the simulator) never loads it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from thunes.errors import one_line

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Jobs:
    """Add jobs, then `start()` inside the running loop; `shutdown()` at the end."""

    def __init__(self) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self._scheduler.add_listener(self._overran, EVENT_JOB_MAX_INSTANCES)
        self.runs: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()  # runs dropped because the last one was running

    def every(self, name: str, seconds: float, job: Job, at_once: bool = False) -> None:
        """Run `job` every `seconds` (first at once when `at_once`, else after a period)."""
        first = {"next_run_time": datetime.now(UTC)} if at_once else {}
        self._add(name, job, "interval", seconds=seconds, **first)

    def daily(self, name: str, job: Job, hour: int = 0, minute: int = 0) -> None:
        """Run `job` once a day at `hour`:`minute` UTC."""
        self._add(name, job, "cron", hour=hour, minute=minute)

    def _add(self, name: str, job: Job, trigger: str, **when: object) -> None:
        async def guarded() -> None:
            self.runs[name] += 1
            try:
                await job()
            except Exception as error:  # a job's failure is reported, not fatal
                self.failures[name] += 1
                log.error("job %s failed: %s", name, one_line(error), exc_info=error)

        self._scheduler.add_job(guarded, trigger, id=name, name=name, **when)

    def _overran(self, event: JobExecutionEvent) -> None:
        self.skipped[event.job_id] += 1
        log.warning("job %s is still running: this run is skipped", event.job_id)

    def next_run(self, name: str) -> datetime | None:
        """When `name` runs next (None: not scheduled, or not started), for a status view."""
        job = self._scheduler.get_job(name)
        return getattr(job, "next_run_time", None)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop; a job still running is cancelled."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
