"""The drift detectors `drift=<option>` names: what to watch, what to do on an alarm, and one
River detector per watched stream and symbol, built from the option's calibrated values
(`python -m thunes.drift.calibrate` measured them; River's defaults are not used).

Each stream is standardised before a detector sees it (thunes/drift/monitor.py): a
continuous detector (ADWIN, Page-Hinkley, KSWIN) takes z, a binary one (DDM) takes a flag,
the loss flag itself or |z| > `flag_z`. River is imported only when a detector is built.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Protocol

from thunes.errors import ConfigError

STREAMS = ("trade_return", "loss", "slippage", "spread", "volatility")
"""trade_return: each closed trade's return; loss: 1 for a losing trade; slippage: a taker
fill's price against the decision's close, beyond the model's slippage; spread: the book's
relative spread, averaged over `window` quotes; volatility: log of the realised volatility
of `window` bars' log returns (windows that do not overlap)."""
ACTIONS = ("notify", "mlflow", "pause", "resweep")
"""notify: a `drift` event; mlflow: a run per alarm; pause: no new buys until resumed;
resweep: a re-optimisation request on recent data written beside the state (never run)."""


def from_trades(path: str) -> dict[str, tuple[float, float]]:
    """A reference backtest's per-trade figures (its trades.csv): the mean and standard
    deviation of its closed trades' returns, and its loss rate."""
    import pandas as pd

    trades = pd.read_csv(path)
    returns = trades.loc[trades["exit_reason"] != "open", "return"].astype(float)
    if len(returns) < 2:
        raise ConfigError(f"drift.reference_trades: {path} has {len(returns)} closed trades")
    rate = float((returns < 0).mean())
    return {
        "trade_return": (float(returns.mean()), float(returns.std())),
        "loss": (rate, math.sqrt(rate * (1 - rate))),
    }


class RiverDetector(Protocol):
    @property
    def drift_detected(self) -> bool: ...

    def update(self, x: float) -> None: ...


class Detector:
    """The settings every option shares; `make()` builds a fresh River detector."""

    name: ClassVar[str] = "none"

    def __init__(
        self,
        streams: list[str] | None = None,
        actions: list[str] | None = None,
        reference: dict[str, list[float]] | None = None,
        reference_trades: str | None = None,
        warmup: int = 30,
        window: int = 24,
        resweep_days: int = 90,
    ) -> None:
        self.streams = tuple(streams or ())
        self.actions = tuple(actions or ())
        given = {k: (float(v[0]), float(v[1])) for k, v in (reference or {}).items()}
        self.reference = (from_trades(reference_trades) if reference_trades else {}) | given
        self.warmup, self.window = warmup, window
        self.resweep_days = resweep_days

    def params(self) -> dict[str, Any]:
        """The detector's own values (what a saved state must match to be resumed)."""
        return {}

    def fed(self, stream: str, value: float, z: float) -> float:
        """What the detector takes: z (a binary detector takes a flag)."""
        return z

    def make(self) -> RiverDetector:
        raise NotImplementedError(f"drift={self.name} builds no detector")

    def signature(self) -> str:
        """What a saved state was built with: another detector or stream set starts afresh."""
        own = ", ".join(f"{k}={v}" for k, v in sorted(self.params().items()))
        return f"{self.name}({own}) streams={','.join(self.streams)} window={self.window}"


class NoDrift(Detector):
    """drift=none: nothing is watched."""

    def __init__(self) -> None:
        super().__init__()


class Adwin(Detector):
    """ADWIN: two sub-windows whose means differ by more than chance at confidence `delta`."""

    name = "adwin"

    def __init__(self, delta: float, clock: int, grace_period: int, **common: Any) -> None:
        super().__init__(**common)
        self.delta, self.clock, self.grace_period = delta, clock, grace_period

    def params(self) -> dict[str, Any]:
        return {"delta": self.delta, "clock": self.clock, "grace_period": self.grace_period}

    def make(self) -> RiverDetector:
        from river.drift import ADWIN

        return ADWIN(delta=self.delta, clock=self.clock, grace_period=self.grace_period)


class PageHinkley(Detector):
    """Page-Hinkley: the cumulative deviation from the running mean beyond `threshold` (in
    standard deviations, since its input is z)."""

    name = "page_hinkley"

    def __init__(
        self, threshold: float, delta: float, min_instances: int, alpha: float, **common: Any
    ) -> None:
        super().__init__(**common)
        self.threshold, self.delta = threshold, delta
        self.min_instances, self.alpha = min_instances, alpha

    def params(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "delta": self.delta,
            "min_instances": self.min_instances,
            "alpha": self.alpha,
        }

    def make(self) -> RiverDetector:
        from river.drift import PageHinkley as River

        return River(
            min_instances=self.min_instances,
            delta=self.delta,
            threshold=self.threshold,
            alpha=self.alpha,
        )


class Kswin(Detector):
    """KSWIN: a Kolmogorov-Smirnov test of the last `stat_size` values against older ones
    in a `window_size` window, at level `alpha`: a change of shape, not only of mean."""

    name = "kswin"

    def __init__(
        self, alpha: float, window_size: int, stat_size: int, seed: int, **common: Any
    ) -> None:
        super().__init__(**common)
        self.alpha, self.window_size, self.stat_size, self.seed = (
            alpha,
            window_size,
            stat_size,
            seed,
        )

    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "window_size": self.window_size,
            "stat_size": self.stat_size,
            "seed": self.seed,
        }

    def make(self) -> RiverDetector:
        from river.drift import KSWIN

        return KSWIN(
            alpha=self.alpha, window_size=self.window_size, stat_size=self.stat_size, seed=self.seed
        )


class Ddm(Detector):
    """DDM: the rate of bad outcomes (a loss, or |z| > flag_z) rising `drift_threshold`
    standard deviations above its lowest. A rare flag breaks it: a run of clean values sets
    its lowest rate to 0, and the next flag alarms; hence flag_z about 1, not 2 or 3."""

    name = "ddm"

    def __init__(
        self,
        warm_start: int,
        warning_threshold: float,
        drift_threshold: float,
        flag_z: float,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.warm_start, self.flag_z = warm_start, flag_z
        self.warning_threshold, self.drift_threshold = warning_threshold, drift_threshold

    def params(self) -> dict[str, Any]:
        return {
            "warm_start": self.warm_start,
            "warning_threshold": self.warning_threshold,
            "drift_threshold": self.drift_threshold,
            "flag_z": self.flag_z,
        }

    def fed(self, stream: str, value: float, z: float) -> float:
        return value if stream == "loss" else float(abs(z) > self.flag_z)

    def make(self) -> RiverDetector:
        from river.drift.binary import DDM

        return DDM(
            warm_start=self.warm_start,
            warning_threshold=self.warning_threshold,
            drift_threshold=self.drift_threshold,
        )
