"""Every option of every group composes, passes validation and instantiates."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.config.compose import composed, group_options
from thunes.config.validate import GROUPS, validate
from thunes.sweep.space import distributions


def test_every_group_has_options() -> None:
    found = {group for group, _ in group_options()}
    assert set(GROUPS) <= found


@pytest.mark.parametrize(("group", "option"), group_options())
def test_option_composes_validates_and_instantiates(
    group: str, option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "BINANCE_API_KEY",
        "BINANCE_API_SECRET",
        "BINANCE_TESTNET_API_KEY",
        "BINANCE_TESTNET_API_SECRET",
        "TELEGRAM_CHAT_ID",
    ):
        monkeypatch.setenv(name, "not-a-real-key")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:not-a-real-token")
    extra = {  # what an option needs beside it to make a whole, valid bot
        ("data", "csv"): ["data.path=candles.csv"],
        ("data", "tick_file"): ["data.path=ticks.parquet", "strategy=scalper"],
        ("data", "sim_ticks"): ["strategy=scalper"],
        ("notifier", "apprise"): ["notifier.urls=[{url:'json://127.0.0.1:9/hook'}]"],
    }.get((group, option), [])
    if group == "sweep":  # a preset is added to the defaults, and names a search space
        with composed(f"+sweep={option}", with_hydra=True) as cfg:
            validate(cfg)
            assert cfg.mode.name == "sweep"
            if option != "base":
                swept, _ = distributions(dict(cfg.hydra.sweeper.params))
                assert swept and all(OmegaConf.select(cfg, key) is not None for key in swept)
        return
    if group == "profile":  # a profile is added to the defaults, over every group
        with composed(f"+profile={option}") as cfg:
            validate(cfg)
            assert cfg.profile.name == option
        return
    with composed(f"{group}={option}", *extra) as cfg:
        validate(cfg)
        if group == "experiment":
            nodes = [cfg[g] for g in GROUPS if "_target_" in cfg[g]]
        elif group == "mode":
            assert cfg.mode.name == option
            return
        else:
            nodes = [cfg[group]]
        for node in nodes:
            built = instantiate(node, _convert_="all")
            assert type(built).__name__ == node._target_.rsplit(".", 1)[1]
