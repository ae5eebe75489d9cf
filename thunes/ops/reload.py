"""`POST /reload`: compose the config again (the run's own overrides, then any given), check
it as at start, show what changed, and apply only what a running session can take without
a restart: the risk limits and the dead-man's switch. Everything else is refused, by key,
and keeps its running value until the next start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from thunes.config.explain import explain
from thunes.config.validate import validate
from thunes.errors import ConfigError
from thunes.ops.control import Control
from thunes.risk.limits import RiskLimits
from thunes.tracking.redact import flatten, redact

SAFE = ("risk.", "ops.ping_url", "ops.ping_every_s", "ops.stale_after_s")
_RESTART = "needs a restart"


def _plain(cfg: DictConfig) -> dict[str, Any]:
    node = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(node, dict)
    return {str(key): value for key, value in node.items() if key != "hydra"}


class Reloader:
    """Holds the config the session runs on and the overrides it was composed with (a Hydra
    run's own, by default); `apply_ops(cfg)` takes the ops keys."""

    def __init__(
        self, cfg: DictConfig, control: Control, apply_ops: Callable[[DictConfig], None]
    ) -> None:
        self.cfg, self.control, self.apply_ops = cfg, control, apply_ops
        self.base = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []

    def reload(self, overrides: list[str]) -> dict[str, Any]:
        """The diff (secrets masked), what was applied and what refused; a config that does
        not compose or validate raises ConfigError and changes nothing."""
        if not GlobalHydra.instance().is_initialized():
            raise ConfigError("reload: this session was not composed by Hydra")
        try:
            cfg = compose(config_name="config", overrides=[*self.base, *overrides])
            validate(cfg)
        except ConfigError:
            raise
        except Exception as error:  # Hydra's and OmegaConf's own: one line, as the CLI's
            raise ConfigError(explain(error)) from None
        old, new = flatten(_plain(self.cfg)), flatten(_plain(cfg))
        shown_old, shown_new = flatten(redact(_plain(self.cfg))), flatten(redact(_plain(cfg)))
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        diff = {k: [shown_old.get(k), shown_new.get(k)] for k in changed}
        swapped = "risk._target_" in changed  # risk=none and back: the engine is built so
        applied = [k for k in changed if k.startswith(SAFE) and not (swapped and k[:5] == "risk.")]
        refused = {k: _RESTART for k in changed if k not in applied}
        if any(k.startswith("risk.") for k in applied):
            limits = instantiate(cfg.risk)
            assert isinstance(limits, RiskLimits)
            self.control.set_limits(limits)
        if any(k.startswith("ops.") for k in applied):
            self.apply_ops(cfg)
        if applied:
            for key in applied:  # what runs now is what the next reload compares with
                OmegaConf.update(self.cfg, key, OmegaConf.select(cfg, key), merge=False)
        return {"diff": diff, "applied": applied, "refused": refused}
