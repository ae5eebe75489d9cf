"""Periodic jobs: an overrunning job never overlaps itself, and a failing one is logged and
runs again, while the others go on."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from thunes.state.jobs import Jobs


async def _run(jobs: Jobs, seconds: float) -> None:
    jobs.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        jobs.shutdown()


def test_a_job_that_overruns_never_runs_twice_at_once() -> None:
    running, most = 0, 0

    async def slow() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.25)  # 5 periods
        running -= 1

    jobs = Jobs()
    jobs.every("reconcile", 0.05, slow, at_once=True)
    asyncio.run(_run(jobs, 1.0))
    assert most == 1
    assert 3 <= jobs.runs["reconcile"] <= 5  # one run per 0.25 s, not one per 0.05 s
    assert jobs.skipped["reconcile"] >= 5


def test_a_failing_job_is_logged_and_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    ticks = 0

    async def broken() -> None:
        raise ConnectionError("exchange\nunreachable")

    async def tick() -> None:
        nonlocal ticks
        ticks += 1

    jobs = Jobs()
    jobs.every("markets", 0.05, broken, at_once=True)
    jobs.every("report", 0.05, tick, at_once=True)
    with caplog.at_level(logging.ERROR, logger="thunes.state.jobs"):
        asyncio.run(_run(jobs, 0.4))
    assert jobs.failures["markets"] == jobs.runs["markets"] >= 3  # it ran again and again
    assert ticks >= 3 and jobs.failures["report"] == 0
    assert "job markets failed: exchange unreachable" in caplog.messages


def test_the_daily_report_is_planned_for_the_next_utc_time() -> None:
    async def report() -> None:
        pass

    async def check() -> datetime | None:
        jobs = Jobs()
        jobs.daily("report", report, hour=0, minute=5)
        jobs.start()
        try:
            return jobs.next_run("report")
        finally:
            jobs.shutdown()

    before = datetime.now(UTC)
    planned = asyncio.run(check())
    assert planned is not None and (planned.hour, planned.minute, planned.second) == (0, 5, 0)
    assert before < planned <= before + timedelta(days=1)
