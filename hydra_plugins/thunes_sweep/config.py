"""The `hydra/sweeper=thunes` and `hydra/launcher=thunes` options and their schemas."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TPESamplerConf:
    """Optuna's TPE with its current defaults (the plugin's config spells out arguments
    that Optuna 4 deprecated); multivariate, so related windows are learnt together."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10
    multivariate: bool = True


@dataclass
class ThunesSweeperConf:
    """hydra-optuna-sweeper's keys, with `n_trials` the study's size (resumable)."""

    _target_: str = "hydra_plugins.thunes_sweep.sweeper.ThunesSweeper"
    sampler: Any = field(default_factory=TPESamplerConf)
    storage: str | None = "sqlite:///experiments/sweeps/optuna.db"
    study_name: str | None = None  # None: the preset's name and a fingerprint of the setup
    n_trials: int = 50
    n_jobs: int = 1
    max_failure_rate: float = 0.0
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class ThunesLauncherConf:
    _target_: str = "hydra_plugins.thunes_sweep.launcher.ThunesLauncher"


ConfigStore.instance().store(
    group="hydra/sweeper", name="thunes", node=ThunesSweeperConf, provider="thunes"
)
ConfigStore.instance().store(
    group="hydra/launcher", name="thunes", node=ThunesLauncherConf, provider="thunes"
)
