"""The sweeps bench charges a stretch of a process's run the CPU it used, not its wall time."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.benchmarks.meter import CpuTrace
from tests.benchmarks.run import run_process

CHILD = """
import json, time
asleep = time.time(); time.sleep(0.6)
spin = time.time(); cpu = time.process_time()
while time.process_time() - cpu < 0.6:
    pass
print(json.dumps({"asleep": asleep, "spin": spin, "end": time.time()}))
"""


def test_a_sleeping_stretch_costs_no_cpu_and_a_busy_one_its_cpu(tmp_path: Path) -> None:
    trace = CpuTrace(interval=0.01)
    run = run_process([sys.executable, "-c", CHILD], tmp_path, dict(os.environ), trace=trace)
    marks = json.loads(run.stdout)
    assert trace.between(marks["asleep"] + 0.05, marks["spin"] - 0.05) < 0.1
    assert abs(trace.between(marks["spin"], marks["end"]) - 0.6) < 0.2
    assert run.cpu_seconds >= 0.6  # the whole process, from wait4
