"""numba's on-disk cache, keyed on THUNES's sources so that it never runs stale code.

numba's `cache=True` stamps a compiled function with its own file only: a cached loop keeps
the old code of every callee it inlined, and the module constants it froze, after their
files change. So numba caches into `<base>/thunes-<hash>`, the hash covering every `.py`
under thunes/ (2 ms at import, measured); base is NUMBA_CACHE_DIR as the user set it, else
`$THUNES_CACHE_DIR/numba`, else `.cache/numba` under the working folder. Child processes
inherit the keyed NUMBA_CACHE_DIR and recognise it by its name. The folders of older
sources are pruned, all but the newest other one (switching between two branches stays
warm), and never one a running process holds (a shared lock on it).

`defer_blas_probe`: numba's first cached load (or compile) imports numba.np.arraymath, whose
BLAS probe imports scipy.linalg (~1 s, with numpy.f2py) to set a flag that only np.correlate
and np.convolve read; THUNES's compiled code uses no BLAS. The probe answers "is scipy
installed" instead, without importing it: scipy loads when a BLAS function is compiled.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
from contextlib import suppress
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

from thunes.paths import cache_root

if TYPE_CHECKING:
    from importlib.abc import Loader

PACKAGE = Path(__file__).resolve().parent
FOLDER = re.compile(r"thunes-[0-9a-f]{16}")
TRASH = ".thunes-trash-"
_held: dict[Path, int] = {}  # the locks' descriptors, open for the life of the process


def sources_hash(package: Path = PACKAGE) -> str:
    """A digest of every `.py` under `package`: its path and content, in a fixed order."""
    top, files = str(package), []
    for root, folders, names in os.walk(top):
        folders[:] = [name for name in folders if name != "__pycache__"]
        files += [os.path.join(root, name) for name in names if name.endswith(".py")]
    digest = hashlib.blake2b(digest_size=8)
    for file in sorted(files):
        with open(file, "rb") as handle:
            content = handle.read()
        digest.update(f"{file.removeprefix(top)}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def cache_base() -> Path:
    """The folder the user gave numba's cache; a parent's keyed folder means its base."""
    given = os.environ.get("NUMBA_CACHE_DIR")
    if not given:
        return cache_root() / "numba"
    path = Path(given).absolute()
    return path.parent if FOLDER.fullmatch(path.name) else path


def cache_folder(package: Path = PACKAGE) -> Path:
    """Where numba caches what it compiles from `package` as its sources are now."""
    return cache_base() / f"thunes-{sources_hash(package)}"


def key_numba_cache(package: Path = PACKAGE) -> Path:
    """Point numba at `cache_folder`, hold it and prune stale ones; the folder."""
    folder = cache_folder(package)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    config = sys.modules.get("numba.core.config")
    if config is not None:  # imported already (vectorbt imports numba): it read the old value
        config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]
    try:
        _hold(folder)
        _prune(folder)
    except OSError:  # a read-only base: numba falls back to its own folders, as before
        pass
    return folder


def _hold(folder: Path) -> None:
    """A shared lock on `folder` for this process's life (pruners skip it); its time marks
    its last use."""
    while folder not in _held:
        folder.mkdir(parents=True, exist_ok=True)
        with suppress(FileNotFoundError):  # moved away by a pruner meanwhile: made again
            lock = os.open(folder, os.O_RDONLY)
            fcntl.flock(lock, fcntl.LOCK_SH)
            if _is_at(lock, folder):
                os.utime(folder)
                _held[folder] = lock
            else:
                os.close(lock)


def _is_at(lock: int, folder: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(lock), os.stat(folder))
    except FileNotFoundError:
        return False


def _prune(folder: Path) -> None:
    """Delete the siblings of `folder` but the newest other, skipping those held. Each is
    renamed away first, so two processes pruning at once never delete the same folder."""
    siblings = [path for path in folder.parent.iterdir() if FOLDER.fullmatch(path.name)]
    others = sorted((path for path in siblings if path != folder), key=_last_used)
    for stale in others[:-1]:
        # held by a running process, or taken by another pruner first: left alone
        with suppress(BlockingIOError, FileNotFoundError):
            lock = os.open(stale, os.O_RDONLY)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                stale.rename(stale.with_name(f"{TRASH}{os.getpid()}-{stale.name}"))
            finally:
                os.close(lock)
    for trash in folder.parent.glob(f"{TRASH}*"):  # also those of a pruner that was killed
        shutil.rmtree(trash, ignore_errors=True)


def _last_used(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except FileNotFoundError:  # taken by another pruner: oldest
        return 0.0


class _BlasProbe:
    """Loads numba.np.arraymath with its import-time BLAS probe (`_HAVE_BLAS`) asking
    whether scipy is installed rather than importing scipy.linalg; the real probe,
    `numba.np.linalg.ensure_blas`, still runs when a BLAS function is compiled. A finder
    and a loader by its methods: importlib.abc would cost ~0.1 s more to import."""

    def __init__(self) -> None:
        self._loader: Loader | None = None

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "numba.np.arraymath":
            return None
        sys.meta_path.remove(self)  # once
        spec = importlib.machinery.PathFinder.find_spec(name, path)  # type: ignore[arg-type]
        if spec is None or spec.loader is None:
            return spec
        self._loader, spec.loader = spec.loader, cast("Loader", self)
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        assert self._loader is not None
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        from numba.np import linalg

        assert self._loader is not None
        probe = getattr(linalg, "ensure_blas", None)
        if probe is None:  # a numba without this probe: load the module as it is
            self._loader.exec_module(module)
            return
        linalg.ensure_blas = _scipy_installed
        try:
            self._loader.exec_module(module)
        finally:
            linalg.ensure_blas = probe
            module.__dict__["ensure_blas"] = probe  # arraymath's own name, for any later call
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader


def _scipy_installed() -> None:
    if importlib.util.find_spec("scipy") is None:
        raise ImportError("scipy is not installed")


def defer_blas_probe() -> None:
    """Install `_BlasProbe` before numba.np.arraymath is imported (else: nothing to do)."""
    if "numba.np.arraymath" not in sys.modules:
        sys.meta_path.insert(0, _BlasProbe())
