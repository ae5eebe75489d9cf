"""The `thunes` sweeper: Optuna, or the exhaustive grid, by `sweep.engine`.

The logic is in thunes/sweep/optuna_engine.py and thunes/sweep/grid.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class ThunesSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: DictConfig | None,
    ) -> None:
        # study_name and params are read from the config, where the callback reads them too
        self.sampler = sampler
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config: DictConfig = config
        self.hydra_context = hydra_context
        self.launcher: Launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> Any:
        try:
            return self._sweep(arguments)
        except BaseException as error:  # Hydra will not call on_multirun_end
            from thunes.sweep.callbacks import SweepReport

            context = self.hydra_context
            for callback in context.callbacks.callbacks if context else []:
                if isinstance(callback, SweepReport):
                    callback.abandon(self.config, error)
            raise

    def _sweep(self, arguments: list[str]) -> Any:
        from thunes.config.validate import validate
        from thunes.sweep.trial import task_part

        validate(task_part(self.config))  # before a study or a folder is made
        if self.config.sweep.engine == "grid":
            from thunes.sweep import grid
            from thunes.sweep.space import declared

            task = task_part(self.config)
            params = declared(self.config.hydra.sweeper.params, arguments)
            return grid.run(task, params, Path(str(self.config.hydra.sweep.dir)))
        from thunes.sweep.optuna_engine import OptunaEngine

        engine = OptunaEngine(
            self.config,
            self.launcher,
            self.sampler,
            self.storage,
            self.n_trials,
            self.n_jobs,
            self.max_failure_rate,
        )
        return engine.run()
