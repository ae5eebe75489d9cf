"""numba's cache, keyed on the sources: an edited callee is compiled anew, an unchanged
package is loaded from the cache, and old folders do not pile up; numba's first load
leaves scipy.linalg and the registries only a compile reads unimported."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from thunes.jit_cache import PACKAGE, cache_folder

CALLEE = "from numba import njit\n\n@njit(cache=True)\ndef step(x):\n    return x + {}\n"
CALLER = (
    "from numba import njit\nfrom tiny.callee import step\n\n"
    "@njit(cache=True)\ndef run(x):\n    return step(x) * 2\n"
)
# numba is imported first, as vectorbt does before thunes: the keying must still hold
RUN = """
import json, os, sys
from pathlib import Path
import numba
if sys.argv[1] == "keyed":
    from thunes.jit_cache import key_numba_cache
    key_numba_cache(Path("tiny").resolve())
from tiny.caller import run
value = run(1)
hits = sum(run.stats.cache_hits.values())
print(json.dumps({"value": value, "hits": hits, "folder": os.environ["NUMBA_CACHE_DIR"]}))
"""

BLAS = """
import json, sys
import numpy as np
import thunes
from numba import njit
import numba.np.arraymath
from tiny.caller import run
run(1)
before = "scipy.linalg" in sys.modules
@njit
def product(a, b):
    return np.dot(a, b)
dot = product(np.arange(3.0), np.arange(3.0) + 1)
print(json.dumps({"before": before, "dot": dot,
                  "blas": numba.np.arraymath._HAVE_BLAS, "after": "scipy.linalg" in sys.modules}))
"""

# a cached function that allocates (numba's runtime), then a compile needing the registries
LEAN = """
import json, sys
import numpy as np
import thunes
from numba import njit
from tiny.ramp import ramp
total = int(ramp(5).sum())
lean = "numba.np.arraymath" not in sys.modules
@njit
def middle(a):
    return np.median(a)
print(json.dumps({"total": total, "lean": lean, "hits": sum(ramp.stats.cache_hits.values()),
                  "median": middle(np.arange(5.0))}))
"""
RAMP = """import numpy as np
from numba import njit

@njit(cache=True)
def ramp(n):
    return np.arange(n) * 2
"""


def _tiny_package(root: Path, increment: int) -> None:
    package = root / "tiny"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "caller.py").write_text(CALLER)
    (package / "callee.py").write_text(CALLEE.format(increment))
    (package / "ramp.py").write_text(RAMP)


def _run(root: Path, mode: str, cache: Path, code: str = RUN) -> dict[str, object]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", code, mode], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_an_edited_callee_is_compiled_anew_and_an_unchanged_package_is_reused(
    tmp_path: Path,
) -> None:
    _tiny_package(tmp_path, 1)
    keyed, plain = tmp_path / "keyed", tmp_path / "plain"
    first = _run(tmp_path, "keyed", keyed)
    again = _run(tmp_path, "keyed", keyed)
    assert first["value"] == again["value"] == 4
    assert again["folder"] == first["folder"]
    assert list(Path(str(first["folder"])).rglob("caller.run-*.nbi"))
    assert (first["hits"], again["hits"]) == (0, 1)  # compiled once, then loaded
    assert _run(tmp_path, "plain", plain)["value"] == 4

    _tiny_package(tmp_path, 10)  # only the callee's file changes
    edited = _run(tmp_path, "keyed", keyed)
    assert edited["value"] == 22
    assert edited["folder"] != first["folder"]
    # numba alone keeps the caller's cached code, with the old callee inlined
    assert _run(tmp_path, "plain", plain)["value"] == 4


def test_the_folder_changes_with_any_source_and_only_with_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    package = tmp_path / "thunes"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    folder = cache_folder(package)
    assert folder == cache_folder(PACKAGE)
    assert folder.parent == tmp_path / "cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(folder))  # a child process inherits it
    assert cache_folder(package) == folder

    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
    (package / "notes.txt").write_text("not a source")
    os.utime(package / "engine" / "broker_core.py")  # touched, same content
    assert cache_folder(package) == folder

    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        content = source.read_bytes()
        source.write_bytes(content + b"\n")
        assert cache_folder(package) != folder, source
        source.write_bytes(content)
    assert cache_folder(package) == folder
    (package / "engine" / "new_rules.py").write_text("")
    assert cache_folder(package) != folder


def _stale(base: Path, name: str, last_used: float) -> Path:
    folder = base / f"thunes-{name:0>16}"
    folder.mkdir(parents=True)
    (folder / "f-1.py312.nbi").write_bytes(b"")
    os.utime(folder, (last_used, last_used))
    return folder


def test_old_folders_are_pruned_but_the_newest_other_and_those_in_use(tmp_path: Path) -> None:
    base = tmp_path / "numba"
    oldest, old, held, newest = (
        _stale(base, name, 1e9 + i) for i, name in enumerate(("a", "b", "c", "d"))
    )
    (base / "someone-elses").mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(base)}
    lock = os.open(held, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_SH)  # a running process on other sources
    try:
        starts = [
            subprocess.Popen([sys.executable, "-c", "import thunes"], env=env) for _ in range(4)
        ]
        assert [start.wait() for start in starts] == [0] * 4
    finally:
        os.close(lock)
    assert sorted(path.name for path in base.iterdir()) == sorted(
        [cache_folder(PACKAGE).name, held.name, newest.name, "someone-elses"]
    )
    assert not oldest.exists() and not old.exists()


def test_numbas_first_load_imports_scipy_linalg_only_once_a_function_needs_blas(
    tmp_path: Path,
) -> None:
    """Compiled, then loaded from the cache: neither imports scipy.linalg (~0.7 s) for
    numba's BLAS probe; a function using BLAS still compiles, with BLAS."""
    _tiny_package(tmp_path, 1)
    for _ in ("compiled", "cached"):
        seen = _run(tmp_path, "", tmp_path / "cache", BLAS)
        assert seen == {"before": False, "dot": 8.0, "blas": True, "after": True}


def test_a_cached_load_imports_no_registry_and_a_later_compile_still_finds_them(
    tmp_path: Path,
) -> None:
    """A paper start loads its compiled code from the cache: that load skips the registries
    (~0.25 s) that only compiling reads; the cached code still allocates arrays, and a
    function compiled afterwards still finds every registry it needs."""
    _tiny_package(tmp_path, 1)
    compiled = _run(tmp_path, "", tmp_path / "cache", LEAN)
    cached = _run(tmp_path, "", tmp_path / "cache", LEAN)
    assert compiled == {"total": 20, "lean": False, "hits": 0, "median": 2.0}
    assert cached == {"total": 20, "lean": True, "hits": 1, "median": 2.0}
