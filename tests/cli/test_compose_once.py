"""A single run composes its config once (cli._composed_once): that holds only while no
config file sets `hydra.mode`, which would make the mode the config's, not the command's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.run import run_thunes
from thunes.paths import CONF_DIR


def test_no_config_file_sets_the_hydra_mode() -> None:
    files = sorted(Path(CONF_DIR).rglob("*.yaml"))
    nodes = [yaml.safe_load(f.read_text()) or {} for f in files]
    assert files and not [f for f, n in zip(files, nodes, strict=True) if _mode(n)]


def _mode(node: dict[str, object]) -> object:
    hydra = node.get("hydra")
    return isinstance(hydra, dict) and hydra.get("mode")


def test_a_single_run_composes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    loads = []
    load = ConfigLoaderImpl.load_configuration

    def counted(self: ConfigLoaderImpl, *args: object, **kwargs: object) -> object:
        loads.append(args)
        return load(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", counted)
    args = ["mode=paper", "paper.speed=0", "paper.start=2024-03-01", "paper.duration=1h"]
    args += ["data.timeframe=1h", "paper.view=false", f"state.dir={tmp_path}"]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    assert len(loads) == 1
    assert "paper.duration reached" in " ".join(capsys.readouterr().out.split())
