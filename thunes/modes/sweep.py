"""mode=sweep: a trial of an Optuna study inside a multirun, or the whole grid in one run.

`thunes -m +sweep=sma` runs each trial as a job of this mode (thunes/sweep/trial.py).
`thunes +sweep=sma sweep.engine=grid` runs every combination here, in one process. With no
preset (`thunes mode=sweep sweep.engine=grid`) the space is the preset of the strategy.
"""

from __future__ import annotations

from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from thunes.errors import ConfigError
from thunes.sweep.space import declared

PRESET_OF = {"sma_cross": "sma"}
"""A strategy's preset in conf/sweep/ when its name differs from the strategy's."""


def _with_preset(cfg: DictConfig) -> tuple[DictConfig, dict[str, str]]:
    """The task config and the space, from the preset named after the strategy if needed."""
    hydra = HydraConfig.get()
    params = hydra.sweeper.get("params")
    if params:
        return cfg, declared(params)
    strategy = str(hydra.runtime.choices.get("strategy"))
    preset = PRESET_OF.get(strategy, strategy)
    composed = compose(
        config_name="config",
        overrides=[*hydra.overrides.task, f"+sweep={preset}"],
        return_hydra_config=True,
    )
    space = declared(composed.hydra.sweeper.params)
    with open_dict(composed):
        del composed["hydra"]
    return composed, space


def run(cfg: DictConfig, trial: bool) -> object:
    """One trial's outcome when this run is a job of a multirun, else the whole grid's."""
    if trial:
        from thunes.sweep.trial import evaluate

        return evaluate(cfg)
    if cfg.sweep.engine != "grid":
        raise ConfigError(
            "sweep.engine=optuna runs its trials as a Hydra multirun: "
            "thunes -m +sweep=sma (presets in conf/sweep/)"
        )
    from thunes.sweep import grid

    task, space = _with_preset(cfg)
    return grid.run(task, space, Path(HydraConfig.get().runtime.output_dir))
