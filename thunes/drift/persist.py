"""A drift monitor's state beside the account's state file (`<state>.drift.pickle`), so a
restart resumes its detectors, baselines and windows rather than learning again. Written
whole to a temporary file, then renamed: a crash leaves the last complete state. The file
is the bot's own (a pickle is trusted only there); one of another detector or stream set
is not resumed into: that run starts afresh and overwrites it.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from thunes.drift.detectors import Detector
from thunes.drift.monitor import DriftMonitor


def state_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".drift.pickle")


def load(path: Path, detector: Detector) -> DriftMonitor:
    """The saved monitor of this same detector, or a fresh one."""
    if path.exists():
        with path.open("rb") as saved:
            monitor = pickle.load(saved)
        if isinstance(monitor, DriftMonitor) and monitor.signature == detector.signature():
            monitor.detector = detector  # its actions may have changed: the config's own
            return monitor
    return DriftMonitor(detector)


def save(path: Path, monitor: DriftMonitor) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        pickle.dump(monitor, out, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)
