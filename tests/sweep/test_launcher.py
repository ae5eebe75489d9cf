"""The in-process launcher sets a trial's values in place of composing the config again:
the result must be the config Hydra would have composed."""

from __future__ import annotations

import pytest
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


def test_a_list_of_mappings_and_an_interpolation_are_set_as_hydra_sets_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THUNES_TEST_HOOK", "json://user:FAKEpassw0rd-launch@127.0.0.1:9/x")
    urls = "notifier.urls=[{url:'${oc.env:THUNES_TEST_HOOK}',tag:ops,min_level:info}]"
    common = ["+sweep=sma", "data=sim", "notifier=apprise", urls]
    first = [*common, "strategy.fast=10", "strategy.slow=50"]
    with composed(*first, with_hydra=True) as config:
        template = Template(config, first)
    for fast, urls_line in ((25, urls), (30, urls.replace("tag:ops", "tag:phone"))):
        lines = [*common[:3], urls_line, f"strategy.fast={fast}", "strategy.slow=120"]
        overrides = parse_overrides(lines)
        assert template.accepts(overrides)
        template.apply(overrides, lines, num=fast)
        with composed(*lines) as expected:
            assert OmegaConf.to_container(template.task) == OmegaConf.to_container(expected)
    (entry,) = template.task.notifier.urls
    assert entry.tag == "phone" and entry.url == "json://user:FAKEpassw0rd-launch@127.0.0.1:9/x"


def test_a_changed_mapping_takes_hydras_full_composition() -> None:
    """Hydra merges a mapping into the value the files composed, which a trial's config
    no longer holds after an earlier trial changed it."""
    first = [*FIRST, "notifier=apprise", "notifier.events={trade_opened:off}"]
    with composed(*first, with_hydra=True) as config:
        template = Template(config, first)
    lines = [*FIRST, "notifier=apprise", "notifier.events={order_skipped:off}"]
    assert not template.accepts(parse_overrides(lines))
    assert template.accepts(parse_overrides(first))  # the same mapping: nothing to set
