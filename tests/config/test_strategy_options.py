"""What a strategy option brings with it: its data, and its values from one place only."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hydra.utils import get_class
from omegaconf import MISSING, OmegaConf

from tests.config.compose import composed, group_options
from thunes.config.schema import SCHEMAS
from thunes.config.validate import validate
from thunes.paths import CONF_DIR

STRATEGIES = [option for group, option in group_options() if group == "strategy"]
TICKS = "thunes.data.tick_sources."


def test_the_scalper_runs_on_simulated_book_ticks_by_name_alone() -> None:
    with composed("strategy=scalper") as cfg:
        validate(cfg)
        assert cfg.data._target_ == TICKS + "SimTickSource"


@pytest.mark.parametrize(
    "overrides",
    [
        ["strategy=scalper", "data=tick_file", "data.path=ticks.parquet"],
        ["data=tick_file", "data.path=ticks.parquet", "strategy=scalper"],
    ],
)
def test_data_on_the_command_line_wins_over_the_strategy_s(overrides: list[str]) -> None:
    with composed(*overrides) as cfg:
        validate(cfg)
        assert (cfg.data._target_, cfg.data.path) == (TICKS + "FileTickSource", "ticks.parquet")


def test_the_scalper_sweep_and_replay_get_the_ticks_too() -> None:
    for overrides in (["+sweep=scalper"], ["mode=replay", "strategy=scalper"]):
        with composed(*overrides) as cfg:
            validate(cfg)
            assert cfg.data._target_ == TICKS + "SimTickSource"


@pytest.mark.parametrize("option", [s for s in STRATEGIES if s != "scalper"])
def test_a_candle_strategy_keeps_the_default_candles(option: str) -> None:
    with composed() as default:
        candles = default.data
    with composed(f"strategy={option}") as cfg:
        assert cfg.data == candles


@pytest.mark.parametrize("option", STRATEGIES)
def test_a_strategy_s_values_are_in_its_yaml_alone(option: str) -> None:
    """conf/strategy/<option>.yaml sets every parameter; its schema only types and checks
    them, and its class takes them all, with no default of its own that could drift."""
    schema = SCHEMAS[f"schema_strategy_{option}"]
    fields = {f.name: f.default for f in dataclasses.fields(schema) if f.name != "_target_"}
    assert all(default is MISSING for default in fields.values()), fields
    yaml = OmegaConf.load(CONF_DIR / "strategy" / f"{option}.yaml")
    assert set(yaml) - {"defaults", "_target_"} == set(fields)
    parameters = inspect.signature(get_class(yaml._target_)).parameters
    assert set(parameters) == set(fields)
    assert all(p.default is inspect.Parameter.empty for p in parameters.values())
