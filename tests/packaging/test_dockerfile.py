"""The Dockerfile: hadolint-clean, multi-stage, non-root, healthcheck on the control API."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.packaging.repo import BIN, ROOT, ops_default


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions((ROOT / "Dockerfile").read_text()):
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def test_hadolint_finds_nothing() -> None:
    out = hadolint(ROOT / "Dockerfile")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == ""


def test_hadolint_refuses_an_unpinned_root_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    out = hadolint(bad)
    assert out.returncode != 0
    assert "DL3007" in out.stdout and "DL3013" in out.stdout


def test_builder_installs_with_uv_and_runtime_copies_only_the_app() -> None:
    builder, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert any(w == "RUN" and "uv sync --no-dev" in r for w, r in builder)
    copies = [r for w, r in runtime if w == "COPY"]
    assert copies and all("--from=builder" in r for r in copies)
    assert not any(w == "RUN" and "uv " in r for w, r in runtime)


def test_runs_as_an_unprivileged_user() -> None:
    users = [r for w, r in stages()[-1] if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_healthcheck_asks_the_control_api_for_health() -> None:
    checks = [r for w, r in stages()[-1] if w == "HEALTHCHECK"]
    assert len(checks) == 1
    port = ops_default("api_port", 8765)
    assert f"http://127.0.0.1:{port}/health" in checks[0]
    assert re.search(r"--start-period=\d+s", checks[0])


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".venv", "experiments", "mlruns", "state", ".git"} <= ignored
