"""The in-process launcher sets a trial's values in place of composing the config again:
the result must be the config Hydra would have composed."""

from __future__ import annotations

from omegaconf import OmegaConf

from tests.config.compose import composed
from thunes.sweep.launcher import Template, parse_overrides

FIRST = ["+sweep=sma", "data=sim", "strategy.fast=10", "strategy.slow=50"]


def test_a_trial_set_in_place_equals_the_config_hydra_composes() -> None:
    with composed(*FIRST, with_hydra=True) as first:
        template = Template(first, FIRST)
    lines = ["+sweep=sma", "data=sim", "strategy.fast=25", "strategy.slow=120"]
    overrides = parse_overrides(lines)
    assert template.accepts(overrides)
    template.apply(overrides, lines, num=7)
    with composed(*lines) as expected:
        assert OmegaConf.to_container(template.task, resolve=True) == OmegaConf.to_container(
            expected, resolve=True
        )
    assert template.config.hydra.job.num == 7
    assert list(template.config.hydra.overrides.task) == lines
    assert template.config.strategy.fast == 25  # the copy with `hydra` follows too


def test_anything_but_new_values_takes_hydras_full_composition() -> None:
    with composed(*FIRST, with_hydra=True) as first:
        template = Template(first, FIRST)
    for lines in (
        ["+sweep=sma", "data=csv", "strategy.fast=10", "strategy.slow=50"],  # another option
        ["+sweep=sma", "data=sim", "strategy.fast=10", "+strategy.extra=1"],  # a new key
        ["+sweep=sma", "data=sim", "strategy.fast=10"],  # other keys
    ):
        assert not template.accepts(parse_overrides(lines)), lines
