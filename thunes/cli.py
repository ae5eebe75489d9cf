"""The `thunes` entrypoint: compose the config with Hydra, run it, map errors to exit codes.

Exit codes: 0 success, 1 a data or exchange failure, 2 a config error or a mode that is not
built yet, 130 interrupted. Every expected failure is one line on stderr, not a traceback.
"""

from __future__ import annotations

import functools
import gc
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any, NoReturn


def _prepare_environment() -> None:
    """Before Hydra loads: errors that reach this module (numba's cache: thunes.jit_cache);
    secrets from `.env` into the environment, and every secret it holds masked from then on
    in logs, errors and tracebacks (thunes/config/env.py)."""
    from pathlib import Path

    from thunes.config import env
    from thunes.tracking import redact

    os.environ["HYDRA_FULL_ERROR"] = "1"
    env.load_dotenv(Path.cwd())
    env.protect()
    env.remember_interpolated()
    redact.hook_logging()
    redact.hook_tracebacks()


@contextmanager
def _composed_once(argv: list[str]) -> Iterator[None]:
    """A single run composes its config once. Hydra composes it a first time only to read
    `hydra.mode`, which no file of conf/ sets (tests/cli checks): without `-m`/`--multirun`
    or a `hydra.mode=` override the mode is the command line's, and that composition (0.4 s
    of CPU, measured) is skipped while the block runs."""
    from hydra._internal.hydra import Hydra

    multirun = ("-m", "--multirun")
    if any(a in multirun or a.lstrip("+~").startswith("hydra.mode") for a in argv):
        yield
        return
    get_mode = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        Hydra.get_mode = get_mode  # type: ignore[method-assign]


@contextmanager
def _printed_masked() -> Iterator[None]:
    """Hydra prints `--cfg job --resolve` and `--help --resolve` itself, before any job: what
    it prints goes out with every secret masked, those the resolution read included (see
    env.remember_interpolated). The job's config keeps the real values."""
    from hydra._internal.hydra import Hydra

    from thunes.tracking.redact import scrub

    def masked(show: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(show)
        def printed(*args: Any, **kwargs: Any) -> None:
            text = io.StringIO()
            try:
                with redirect_stdout(text):
                    show(*args, **kwargs)
            finally:  # Hydra exits (1) on a package it does not find
                sys.stdout.write(scrub(text.getvalue()))

        return printed

    shows = {name: getattr(Hydra, name) for name in ("show_cfg", "app_help")}
    for name, show in shows.items():
        setattr(Hydra, name, masked(show))
    try:
        yield
    finally:
        for name, show in shows.items():
            setattr(Hydra, name, show)


def _stop(error: BaseException) -> NoReturn:
    """Print one line for an expected failure and exit with its code; re-raise the rest."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from thunes.config.explain import explain
    from thunes.errors import ConfigError, NotBuiltError, ThunesError

    if isinstance(error, NotBuiltError):
        code, line = 2, f"thunes: {explain(error)}"
    elif isinstance(error, (ConfigError, HydraException, OmegaConfBaseException)):
        code, line = 2, f"thunes: config error: {explain(error)}"
    elif isinstance(error, ThunesError):
        code, line = 1, f"thunes: {type(error).__name__}: {explain(error)}"
    elif isinstance(error, KeyboardInterrupt):
        code, line = 130, "thunes: interrupted"
    else:
        raise error
    print(line, file=sys.stderr)
    sys.exit(code)


def main() -> None:
    _prepare_environment()
    import hydra
    from omegaconf import DictConfig

    from thunes import app
    from thunes.config.schema import register_schemas

    register_schemas()
    from thunes.paths import CONF_DIR

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    def _task(cfg: DictConfig) -> object:
        try:
            return app.run(cfg)
        except Exception as error:  # inside the job, so Hydra adds nothing
            if app.in_multirun():  # one failed trial is the sweeper's to record, not the end
                raise
            _stop(error)
        except KeyboardInterrupt as error:
            _stop(error)

    try:
        with _composed_once(sys.argv[1:]), _printed_masked():
            _task()
    except (Exception, KeyboardInterrupt) as error:  # composition errors, before any job
        _stop(error)
    finally:
        # The interpreter's last collection walks vectorbt's and numba's objects: 0.7 s of
        # a 6.5 s run, measured. Freezing them first skips that walk; nothing is lost.
        gc.freeze()
