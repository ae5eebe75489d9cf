"""How much CPU other processes used while the bench measured: its interference."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

Json = dict[str, Any]


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot, from /proc/stat (None without it)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds this bench and every process it has reaped have used."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class CpuMeter:
    """How much CPU processes other than this bench used over a span: its interference."""

    def __init__(self) -> None:
        self.wall, self.busy, self.own = (
            time.perf_counter(),
            machine_busy_seconds(),
            own_cpu_seconds(),
        )

    def stop(self) -> Json:
        wall = time.perf_counter() - self.wall
        busy, own = machine_busy_seconds(), own_cpu_seconds() - self.own
        if busy is None or self.busy is None:
            return {"wall_seconds": wall, "own_cpu_seconds": own, "foreign_cores": None}
        foreign = max(0.0, busy - self.busy - own)
        return {
            "wall_seconds": wall,
            "own_cpu_seconds": own,
            "foreign_cpu_seconds": foreign,
            "foreign_cores": foreign / wall if wall > 0 else 0.0,
        }
