"""Secrets never reach MLflow params or saved configs."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from tests.config.compose import composed
from thunes.tracking.redact import REDACTED, flatten, redact


def test_secret_like_keys_are_masked_at_any_depth() -> None:
    plain = {
        "exchange": {
            "api_key_env": "BINANCE_API_KEY",
            "secret": "s3cr3t",
            "fees": {"taker": 0.001},
        },
        "notifier": {"urls": [{"token": "abc", "chat_id": 42}]},
        "password": None,
    }
    flat = flatten(redact(plain))
    assert flat["exchange.api_key_env"] == REDACTED
    assert flat["exchange.secret"] == REDACTED
    assert flat["exchange.fees.taker"] == "0.001"
    assert "abc" not in str(flat) and "42" not in str(flat)
    assert flat["password"] == "None"  # nothing to hide


def test_binance_config_params_hold_no_secret_names_or_values() -> None:
    with composed("exchange=binance") as cfg:
        flat = flatten(redact(OmegaConf.to_container(cfg, resolve=True)))
    assert flat["exchange.api_key_env"] == REDACTED
    assert flat["exchange.secret_env"] == REDACTED


def test_the_mlflow_tracker_masks_secret_params_whoever_built_the_record(tmp_path: Path) -> None:
    """A sweep's trial records its overrides as typed: the tracker masks them anyway."""
    from mlflow.tracking import MlflowClient

    from thunes.tracking.base import RunRecord
    from thunes.tracking.mlflow_tracker import MlflowTracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = MlflowTracker(uri, "redaction", str(tmp_path / "artifacts"))
    record = RunRecord(
        name="trial-0",
        params={"notifier.token": "abc123", "strategy.fast": "10"},
        metrics={"train_sharpe": 1.0},
        tags={},
        artifact_dir=tmp_path,
    )
    tracker.log_run(record)
    (run,) = MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("redaction").experiment_id]
    )
    assert run.data.params == {"notifier.token": REDACTED, "strategy.fast": "10"}
