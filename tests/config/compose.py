"""Compose THUNES configs in-process, the way `thunes` does, for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from thunes.config.schema import register_schemas
from thunes.paths import CONF_DIR


@contextmanager
def composed(*overrides: str, with_hydra: bool = False) -> Iterator[DictConfig]:
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield compose(
            config_name="config", overrides=list(overrides), return_hydra_config=with_hydra
        )


def group_options() -> list[tuple[str, str]]:
    """Every (group, option) pair that has a YAML file under conf/."""
    return sorted(
        (path.parent.name, path.stem)
        for path in CONF_DIR.glob("*/*.yaml")
        if path.parent.name not in ("hydra",)
    )
