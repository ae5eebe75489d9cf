"""A second process that pays for slow imports while the main one backtests.

mlflow, matplotlib and plotly cost about 2 s to import and are needed only once the
backtest is done. A forked worker imports them on the other core at start-up, then
renders the plots and logs the run while the main process prints its tables.
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


class Sidecar:
    """One warm worker process; forked before the main process loads anything heavy."""

    def __init__(self, warm_modules: tuple[str, ...]) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("fork")
        )
        self._pool.submit(_import_all, warm_modules)

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
