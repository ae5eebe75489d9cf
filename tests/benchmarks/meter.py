"""How much CPU other processes used while the bench measured: its interference."""

from __future__ import annotations

import bisect
import os
import resource
import threading
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


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds process `pid` has used, every thread and its reaped children (None: gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the name, which may hold spaces
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


class CpuTrace:
    """One process's CPU time sampled against the wall clock from a thread, so that a stretch
    of its run (a study's trials, a grid's evaluation: known by wall timestamps) is charged the
    CPU it used, not the wall time that other processes' turns on a shared core inflate."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (epoch seconds, CPU seconds)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._sample, args=(pid,), daemon=True)
        self._thread.start()

    def _sample(self, pid: int) -> None:
        while not self._done.is_set():
            now, cpu = time.time(), tree_cpu_seconds(pid)
            if cpu is None:
                return
            self.samples.append((now, cpu))
            self._done.wait(self.interval)

    def stop(self, final_cpu: float | None = None) -> None:
        """Stop sampling; `final_cpu`: the process's total from wait4, as of now."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if final_cpu is not None:
            self.samples.append((time.time(), final_cpu))

    def at(self, when: float) -> float:
        """CPU seconds used by wall time `when`, interpolated between the samples around it."""
        times = [t for t, _ in self.samples]
        if not times:
            raise ValueError("no CPU samples")
        i = bisect.bisect_left(times, when)
        if i == 0:
            return self.samples[0][1]
        if i == len(times):
            return self.samples[-1][1]
        (t0, c0), (t1, c1) = self.samples[i - 1], self.samples[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1

    def between(self, start: float, end: float) -> float:
        return self.at(end) - self.at(start)
