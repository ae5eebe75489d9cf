"""The `thunes` launcher: trials run in this process (logic: thunes/sweep/launcher.py)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from thunes.sweep.launcher import InProcessLauncher


class ThunesLauncher(Launcher):
    def __init__(self) -> None:
        self.impl = InProcessLauncher()

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        return self.impl.launch(job_overrides, initial_job_idx)
