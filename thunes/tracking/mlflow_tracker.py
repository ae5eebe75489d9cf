"""One MLflow run per job, in a SQLite store, logged in as few calls as MLflow allows.

MLflow's file store is in maintenance mode and its default artifact root depends on the
current directory, so both the store (sqlite) and the artifact location are explicit.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from thunes.tracking.base import RunRecord

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

_BATCH = 100  # MLflow accepts at most 100 params and 100 tags per log_batch call


class MlflowTracker:
    def __init__(self, tracking_uri: str, experiment: str, artifact_root: str) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root

    def _experiment_id(self, client: MlflowClient) -> str:
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        location = (Path(self.artifact_root) / self.experiment).resolve().as_uri()
        return str(client.create_experiment(self.experiment, artifact_location=location))

    def log_run(self, record: RunRecord) -> str | None:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # first-run chatter
        client = MlflowClient(tracking_uri=self.tracking_uri)
        run = client.create_run(self._experiment_id(client), run_name=record.name, tags=record.tags)
        run_id = run.info.run_id
        params = [Param(k[:250], v[:6000]) for k, v in record.params.items()]
        metrics = [Metric(k, v, 0, 0) for k, v in record.metrics.items() if math.isfinite(v)]
        for start in range(0, max(len(params), len(metrics)), _BATCH):
            client.log_batch(
                run_id,
                params=params[start : start + _BATCH],
                metrics=metrics[start : start + _BATCH],
            )
        for name in record.artifact_names:
            client.log_artifact(run_id, str(record.artifact_dir / name))
        client.set_terminated(run_id)
        return f"{self.tracking_uri} run {run_id}"
