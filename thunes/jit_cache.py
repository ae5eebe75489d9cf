"""numba's on-disk cache, keyed on THUNES's sources so that it never runs stale code.

numba's `cache=True` stamps a compiled function with its own file only: a cached loop keeps
the old code of every callee it inlined, and the module constants it froze, after their
files change. So numba caches into `<base>/thunes-<hash>`, the hash covering every `.py`
under thunes/ (2 ms at import, measured); base is NUMBA_CACHE_DIR as the user set it, else
`$THUNES_CACHE_DIR/numba`, else `.cache/numba` under the working folder. Child processes
inherit the keyed NUMBA_CACHE_DIR and recognise it by its name. The folders of older
sources are pruned, all but the newest other one (switching between two branches stays
warm), and never one a running process holds (a shared lock on it).

`lighten_numba`: numba's first cached load refreshes its target context, which imports every
lowering registry; one of them, numba.np.arraymath, probes BLAS by importing scipy.linalg
(~1 s, with numpy.f2py) to set a flag that only np.correlate and np.convolve read. Neither
is needed to run code loaded from the cache, and THUNES's compiled code uses no BLAS: the
cached load skips the refresh (a compile still does it), and the probe asks "is scipy
installed" instead, scipy loading when a BLAS function is compiled.
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

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


class _AroundImport:
    """Runs one module's import inside `around(module)`, the first time it is imported. A
    finder and a loader by its methods: importlib.abc would cost ~0.1 s more to import."""

    def __init__(self, name: str, around: Callable[[ModuleType], AbstractContextManager[None]]):
        self._name = name
        self._around = around
        self._loader: Loader | None = None

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != self._name:
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
        assert self._loader is not None
        try:
            with self._around(module):
                self._loader.exec_module(module)
        finally:
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader


def _hook(name: str, around: Callable[[ModuleType], AbstractContextManager[None]]) -> None:
    """`around` the import of `name`, or at once if it is imported already."""
    module = sys.modules.get(name)
    if module is None:
        sys.meta_path.insert(0, _AroundImport(name, around))
    else:
        with around(module):
            pass


@contextmanager
def _probing_scipy_only(arraymath: ModuleType) -> Iterator[None]:
    """numba.np.arraymath's import-time BLAS probe (`_HAVE_BLAS`) asks whether scipy is
    installed rather than importing scipy.linalg; the real probe,
    `numba.np.linalg.ensure_blas`, still runs when a BLAS function is compiled."""
    from numba.np import linalg

    probe = getattr(linalg, "ensure_blas", None)
    if probe is None or "_HAVE_BLAS" in vars(arraymath):  # another numba, or probed already
        yield
        return
    linalg.ensure_blas = _scipy_installed
    try:
        yield
    finally:
        linalg.ensure_blas = probe
        arraymath.__dict__["ensure_blas"] = probe  # arraymath's own name, for any later call


def _scipy_installed() -> None:
    if importlib.util.find_spec("scipy") is None:
        raise ImportError("scipy is not installed")


@contextmanager
def _loading_lean(caching: ModuleType) -> Iterator[None]:
    """numba's `Cache.load_overload` loads without first refreshing the target context."""
    yield
    cache = getattr(caching, "Cache", None)
    needs = ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")
    if cache is not None and all(hasattr(cache, name) for name in needs):  # else: as it is
        cache.load_overload = _load_overload


def _load_overload(self: Any, sig: Any, target_context: Any) -> Any:
    """numba's own, less its `target_context.refresh()`: that imports and installs every
    lowering and typing registry (array math, linalg, random, typed containers...; ~0.25 s
    of a paper start, measured), which only compiling reads, and numba's compiler refreshes
    the contexts itself. Native code loaded from the cache needs only numba's runtime."""
    from numba.core.runtime import rtsys

    rtsys.initialize(target_context)
    with self._guard_against_spurious_io_errors():
        return self._load_overload(sig, target_context)


def lighten_numba() -> None:
    """Before numba is imported, or at once if it is: its first cached load imports neither
    scipy.linalg (BLAS probe) nor the registries that only a compile needs."""
    _hook("numba.np.arraymath", _probing_scipy_only)
    _hook("numba.core.caching", _loading_lean)
