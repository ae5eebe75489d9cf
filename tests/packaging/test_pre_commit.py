"""The pre-commit hooks, run for real on a throw-away copy of the repository.

The copy is a fresh git repository holding the tracked files (and new, not ignored ones);
the project's .venv is linked into it, and pre-commit's own environments are cached in
.cache/pre-commit (built from the package registry the first time).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.repo import BIN, ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def pre_commit(repo: Path, *args: str, skip: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(ROOT / ".cache" / "pre-commit"),
        "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"),
        # mypy checks every file's hash against its cache: a warm cache is only faster.
        "MYPY_CACHE_DIR": str(ROOT / ".cache" / "mypy-pre-commit"),
        "SKIP": skip,
    }
    return subprocess.run(
        [str(BIN / "pre-commit"), "run", "--color=never", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=1800,  # a whole mypy run, cold, on a loaded machine
        check=False,
        env=env,
    )


def hook_results(output: str) -> dict[str, str]:
    """{hook name: Passed|Failed|Skipped} from pre-commit's report."""
    return {
        m.group(1).strip(): m.group(2)
        for m in re.finditer(r"^(.+?)\.{3,}(?:\([^)]*\))?(Passed|Failed|Skipped)$", output, re.M)
    }


def listed(*args: str) -> list[str]:
    """The checkout's files `git ls-files` names that exist in the work tree."""
    out = subprocess.run(
        ["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    repo = tmp_path_factory.mktemp("repo")
    for name in listed("--cached", "--others", "--exclude-standard"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    (repo / ".venv").symlink_to(ROOT / ".venv")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "add", "-f", *listed("--cached"))  # tracked despite .gitignore: as committed
    yield repo


def test_every_hook_is_local_and_pinned() -> None:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    assert {repo["repo"] for repo in config["repos"]} == {"local"}
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    for hook in hooks:
        for requirement in hook.get("additional_dependencies", []):
            assert re.fullmatch(r"[\w-]+==[\w.]+", requirement), requirement
        if hook["language"] == "system":
            assert hook["entry"].startswith(".venv/bin/"), hook["id"]
    ids = {hook["id"] for hook in hooks}
    assert {
        "ruff-check",
        "ruff-format",
        "mypy",
        "compose-every-config",
        "check-yaml",
        "check-toml",
        "end-of-file-fixer",
        "trailing-whitespace",
        "check-added-large-files",
        "forbid-env-files",
        "detect-private-key",
        "detect-secrets",
        "detect-secrets-tests",
    } <= ids


@pytest.mark.slow
def test_a_clean_copy_passes_every_hook(copy: Path) -> None:
    # mypy is `make lint`'s (and the ci workflow's) to run: cold, it alone took minutes here.
    out = pre_commit(copy, "--all-files", skip="mypy")
    assert out.returncode == 0, out.stdout[-4000:]
    results = hook_results(out.stdout)
    assert results["compose every config option"] == "Passed"
    assert results["detect secrets"] == results["detect secrets in tests"] == "Passed"


def planted(copy: Path, name: str, text: str) -> Iterator[str]:
    path = copy / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(copy, "add", "-f", name)
    yield name
    git(copy, "rm", "-q", "--cached", name)
    path.unlink()


@pytest.fixture
def api_key_in_a_file(copy: Path) -> Iterator[str]:
    key = secrets.token_hex(32)  # the shape of a Binance key: 64 characters
    yield from planted(
        copy, "deploy/settings.yaml", f"exchange: binance\napi_key: {key}\nsecret: {key[::-1]}\n"
    )


@pytest.fixture
def api_key_in_a_test(copy: Path) -> Iterator[str]:
    yield from planted(copy, "tests/test_leak.py", f'KEY = "{secrets.token_hex(32)}"\n')


@pytest.fixture
def dot_env(copy: Path) -> Iterator[str]:
    yield from planted(copy, ".env", "BINANCE_API_KEY=abc\n")


@pytest.fixture
def private_key(copy: Path) -> Iterator[str]:
    armour = "-----{} OPENSSH PRIVATE KEY-----"  # split, so that this file holds no key
    body = secrets.token_urlsafe(48)
    yield from planted(
        copy, "deploy/id_ed25519", f"{armour.format('BEGIN')}\n{body}\n{armour.format('END')}\n"
    )


def test_an_api_key_in_a_file_is_refused(copy: Path, api_key_in_a_file: str) -> None:
    out = pre_commit(copy, "--files", api_key_in_a_file)
    assert out.returncode != 0
    assert hook_results(out.stdout)["detect secrets"] == "Failed"
    assert api_key_in_a_file in out.stdout


def test_tests_may_hold_fake_passwords_but_not_a_real_looking_key(
    copy: Path, api_key_in_a_test: str
) -> None:
    out = pre_commit(copy, "--files", api_key_in_a_test)
    assert out.returncode != 0
    assert hook_results(out.stdout)["detect secrets in tests"] == "Failed"


def test_a_dot_env_file_is_refused(copy: Path, dot_env: str) -> None:
    out = pre_commit(copy, "--files", dot_env)
    assert out.returncode != 0
    assert hook_results(out.stdout)["forbid .env files"] == "Failed"


def test_a_private_key_is_refused(copy: Path, private_key: str) -> None:
    out = pre_commit(copy, "--files", private_key)
    assert out.returncode != 0
    assert hook_results(out.stdout)["detect private keys"] == "Failed"


@pytest.mark.slow
def test_a_config_option_that_does_not_compose_is_refused(copy: Path) -> None:
    option = copy / "conf" / "strategy" / "sma_cross.yaml"
    original = option.read_text()
    option.write_text(original + "fsat: 3\n")  # a key no strategy has
    try:
        out = pre_commit(copy, "--files", "conf/strategy/sma_cross.yaml")
    finally:
        option.write_text(original)
    assert out.returncode != 0
    results = hook_results(out.stdout)
    assert results["check yaml"] == "Passed"
    assert results["compose every config option"] == "Failed"
