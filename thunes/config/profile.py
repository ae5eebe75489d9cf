"""What a profile (conf/profile/, `+profile=micro_live`) allows: checked on the composed
config before anything runs, each breach one line naming the key."""

from __future__ import annotations

from omegaconf import DictConfig

from thunes.config.checks import ConfigValueError


def check(cfg: DictConfig) -> None:
    """Cash within the profile's bounds, few enough symbols, no testnet when refused."""
    p = cfg.profile
    name = f"profile={p.name}" if p.name else "the profile"
    low = -float("inf") if p.min_cash is None else p.min_cash
    high = float("inf") if p.max_cash is None else p.max_cash
    if not low <= cfg.cash <= high:
        raise ConfigValueError("cash", cfg.cash, f"{name} allows {low:g} to {high:g}")
    symbols = list(cfg.symbols) or [cfg.symbol.symbol]
    if p.max_symbols is not None and len(symbols) > p.max_symbols:
        raise ConfigValueError("symbols", symbols, f"{name} allows {p.max_symbols} at most")
    testnet_key(cfg, bool(cfg.exchange.get("sandbox", False)), "exchange.sandbox")


def testnet_key(cfg: DictConfig, testnet: bool, key: str) -> None:
    """Refuse a testnet venue or key under a profile that refuses them. The config knows
    `exchange.sandbox`; the live guard, which can tell a key's venue from the exchange's
    answer, calls this again with what it learnt (`key` names what gave it away)."""
    if testnet and cfg.profile.refuse_testnet:
        name = f"profile={cfg.profile.name}" if cfg.profile.name else "the profile"
        raise ConfigValueError(key, testnet, f"{name} refuses testnet keys (real money only)")
