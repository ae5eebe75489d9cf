"""Calibrate a detector's sensitivity for a target false-alarm rate, on synthetic streams.

A stationary stream is `length` standard normal values (what a standardised stream is when
nothing changed); a regime switch adds `shift` standard deviations to its mean from the
middle on. The false-alarm rate is the share of stationary streams that raise any alarm;
the delay is counted in observations after the switch. `calibrate` walks a detector's
sensitivity from strict to loose and keeps the loosest value whose false-alarm rate stays
within the target: that is the value shipped in conf/drift/<option>.yaml.

    python -m thunes.drift.calibrate --target 0.05 --seeds 100
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thunes.drift.detectors import Adwin, Ddm, Detector, Kswin, PageHinkley
from thunes.drift.monitor import DriftMonitor

LENGTH = 1000
SHIFT = 1.0
_STREAM = "trade_return"
_KNOWN = {_STREAM: [0.0, 1.0]}  # the synthetic streams are standardised already


@dataclass(frozen=True)
class Rates:
    false_alarm: float  # share of stationary streams with an alarm
    detected: float  # share of switching streams with an alarm after the switch
    median_delay: float  # observations after the switch, among the detected
    max_delay: float

    def __str__(self) -> str:
        return (
            f"false alarms {self.false_alarm:.1%}, detected {self.detected:.0%}, "
            f"delay median {self.median_delay:g} max {self.max_delay:g}"
        )


def first_alarm(detector: Detector, values: np.ndarray) -> int | None:
    """Where the first alarm is raised on `values` (one stream, one symbol), or None."""
    monitor = DriftMonitor(detector)
    for i, value in enumerate(values.tolist()):
        if monitor.observe(_STREAM, "", value, i) is not None:
            return i
    return None


def stream(seed: int, length: int = LENGTH, shift: float = 0.0) -> np.ndarray:
    """Standard normal values; from `length // 2` on, `shift` added to the mean."""
    values = np.random.default_rng(seed).standard_normal(length)
    values[length // 2 :] += shift
    return values


def rates(
    detector: Detector, seeds: int, length: int = LENGTH, shift: float = SHIFT, seed_base: int = 0
) -> Rates:
    """`detector` (watching trade_return, standardised) on `seeds` streams of each kind."""
    first = range(seed_base, seed_base + seeds)
    stationary = [first_alarm(detector, stream(s, length)) for s in first]
    switch = length // 2
    delays = []
    for s in first:
        at = first_alarm(detector, stream(10_000 + s, length, shift))
        if at is not None and at >= switch:
            delays.append(at - switch)
    return Rates(
        false_alarm=sum(a is not None for a in stationary) / seeds,
        detected=len(delays) / seeds,
        median_delay=statistics.median(delays) if delays else float("nan"),
        max_delay=max(delays) if delays else float("nan"),
    )


# Each option's sensitivity, from strict to loose, and how to build it at a value.
SCALES: dict[str, tuple[str, Sequence[float], Callable[[float], Detector]]] = {
    "adwin": (
        "delta",
        (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1),
        lambda v: Adwin(delta=v, clock=1, grace_period=10, streams=[_STREAM], reference=_KNOWN),
    ),
    "page_hinkley": (
        "threshold",
        (40.0, 30.0, 25.0, 20.0, 16.0, 13.0, 10.0, 8.0),
        lambda v: PageHinkley(
            threshold=v,
            delta=0.25,
            min_instances=30,
            alpha=0.9999,
            streams=[_STREAM],
            reference=_KNOWN,
        ),
    ),
    "kswin": (
        "alpha",
        (1e-4, 1e-3, 3e-3, 0.01, 0.03),
        lambda v: Kswin(
            alpha=v, window_size=100, stat_size=30, seed=7, streams=[_STREAM], reference=_KNOWN
        ),
    ),
    "ddm": (
        "drift_threshold",
        (6.0, 5.0, 4.5, 4.0, 3.5, 3.0, 2.5),
        lambda v: Ddm(
            warm_start=30,
            warning_threshold=2.0,
            drift_threshold=v,
            flag_z=1.0,
            streams=[_STREAM],
            reference=_KNOWN,
        ),
    ),
}


def calibrate(
    option: str, target: float, seeds: int, report: Callable[[str], Any] = print
) -> tuple[float, Rates]:
    """The loosest value of `option`'s sensitivity whose false-alarm rate is <= `target`."""
    key, values, build = SCALES[option]
    chosen: tuple[float, Rates] | None = None
    for value in values:
        measured = rates(build(value), seeds)
        report(f"{option} {key}={value:g}: {measured}")
        if measured.false_alarm > target:
            break
        chosen = (value, measured)
    if chosen is None:
        raise ValueError(f"{option}: even {key}={values[0]:g} exceeds {target:.1%} false alarms")
    return chosen


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("options", nargs="*", default=list(SCALES))
    args = parser.parse_args(argv)
    for option in args.options:
        value, measured = calibrate(option, args.target, args.seeds)
        print(f"=> drift={option} {SCALES[option][0]}: {value:g} ({measured})")


if __name__ == "__main__":
    main()
