"""Trials in this process, without composing the whole config again for each one.

Hydra's basic launcher re-reads and re-merges every YAML file of the composition for every
job: 100 to 120 ms a trial here, more than the backtest itself. A trial of a sweep differs
from the one before only in the values of the swept keys, so this launcher composes the first
job the standard way and, for the next ones, assigns the new values to that config in place
(typed nodes still check each value). Anything else, such as a config group chosen per
trial (`strategy=choice(sma_cross,dca)`), takes Hydra's full composition, as before.
Callbacks, `HydraConfig` and the job's return follow Hydra's contract; the job folder is
not created, as a trial writes nothing of its own.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


class Template:
    """A composed job config and the same without its `hydra` node, updated in place."""

    def __init__(self, config: DictConfig, overrides: Sequence[str]) -> None:
        self.config = config
        self.task = copy.deepcopy(config)
        with read_write(self.task), open_dict(self.task):
            del self.task["hydra"]
        self.choices = dict(config.hydra.runtime.choices)
        self.lines = {o.key_or_group: o.input_line for o in parse_overrides(overrides)}
        """Each key's override as this config holds it now: one unchanged is not set again."""
        # The sweep's folder: `${now:...}` is cached by Hydra, so it is one for the sweep.
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()

    def accepts(self, overrides: list[Override]) -> bool:
        """True when these overrides only change values of keys this template has."""
        if {o.key_or_group for o in overrides} != self.lines.keys():
            return False
        for override in overrides:
            key = override.key_or_group
            if override.input_line == self.lines[key]:
                continue
            if key in self.choices:  # a config group: fine only if it stays the same option
                if override.get_value_element_as_str() != self.choices[key]:
                    return False
            elif not self._plain_change(override):
                return False
        return True

    def _plain_change(self, override: Override) -> bool:
        """A new value for a key the config has, not an addition, deletion or sweep, nor a
        mapping: Hydra merges one into the composed value, which this config no longer holds
        (a list replaces the old one whole, as in Hydra)."""
        return (
            override.type == OverrideType.CHANGE
            and not override.is_sweep_override()
            and OmegaConf.select(self.task, override.key_or_group, default=_ABSENT) is not _ABSENT
            and not isinstance(override.value(), dict)
        )

    def apply(self, overrides: list[Override], lines: Sequence[str], num: int) -> None:
        """Set the values that changed since the last trial, as Hydra sets them (merged: a
        list of mappings becomes typed nodes, `notifier.urls=[{url: ...}]`)."""
        for override in overrides:
            key = override.key_or_group
            if override.input_line == self.lines[key] or key in self.choices:
                continue
            value = override.value()
            OmegaConf.update(self.task, key, value, merge=True)
            with read_write(self.config):
                OmegaConf.update(self.config, key, value, merge=True)
            self.lines[key] = override.input_line
        with read_write(self.config.hydra), open_dict(self.config.hydra):
            self.config.hydra.job.id = num
            self.config.hydra.job.num = num
            self.config.hydra.overrides.task = list(lines)


_ABSENT = object()
_PARSER = OverridesParser.create()


@functools.lru_cache(maxsize=4096)
def _parsed(line: str) -> Override:
    (override,) = _PARSER.parse_overrides([line])
    return override


def parse_overrides(lines: Sequence[str]) -> list[Override]:
    """Hydra's parser takes ~0.5 ms a line; a sweep's lines repeat (a value per axis)."""
    return [_parsed(line) for line in lines]


class InProcessLauncher:
    """The logic of the `thunes` Hydra launcher (hydra_plugins/thunes_sweep)."""

    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.template: Template | None = None
        self._published: DictConfig | None = None
        self._hydra_view: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        return [
            self._run(list(lines), initial_job_idx + i) for i, lines in enumerate(job_overrides)
        ]

    def _job_config(self, lines: list[str], num: int) -> Template:
        assert self.config is not None and self.hydra_context is not None
        overrides = parse_overrides(lines)
        if self.template is None or not self.template.accepts(overrides):
            config = self.hydra_context.config_loader.load_sweep_config(self.config, lines)
            with open_dict(config):
                config.hydra.job.id = num
                config.hydra.job.num = num
            self.template = Template(config, lines)
        else:
            self.template.apply(overrides, lines, num)
        return self.template

    def _publish(self, config: DictConfig, lines: list[str], num: int, output_dir: str) -> None:
        """`HydraConfig.get()` for the job. Hydra's copy of the hydra node is made once per
        template (14 ms each); later jobs only update the job's number, folder and
        overrides in it (given, not read back: each read of the config costs ~0.1 ms)."""
        if self._published is not config:
            HydraConfig.instance().set_config(config)
            self._published = config
            self._hydra_view = HydraConfig.instance().cfg
            return
        HydraConfig.instance().cfg = self._hydra_view
        view: Any = HydraConfig.get()
        with read_write(view):
            view.job.id = num
            view.job.num = num
            view.runtime.output_dir = output_dir
            view.overrides.task = lines

    def _run(self, lines: list[str], num: int) -> JobReturn:
        assert self.hydra_context is not None and self.task_function is not None
        template = self._job_config(lines, num)
        config = template.config
        output_dir = str(template.sweep_dir / str(config.hydra.sweep.subdir))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = output_dir
        previous = HydraConfig.instance().cfg
        self._publish(config, lines, num, output_dir)
        callbacks = self.hydra_context.callbacks
        try:
            ret = JobReturn(overrides=lines, cfg=template.task, working_dir=os.getcwd())
            callbacks.on_job_start(config=config, task_function=self.task_function)
            try:
                ret.return_value = self.task_function(template.task)
                ret.status = JobStatus.COMPLETED
            except Exception as error:  # the sweeper records it as a failed trial
                ret.return_value = error
                ret.status = JobStatus.FAILED
            ret.task_name = JobRuntime.instance().get("name")
            callbacks.on_job_end(config=config, job_return=ret)
            return ret
        finally:
            HydraConfig.instance().cfg = previous
