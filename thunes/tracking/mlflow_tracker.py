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
from thunes.tracking.redact import redact
from thunes.tracking.sqlite_files import first_opening

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

_BATCH = 100  # MLflow accepts at most 100 params and 100 tags per log_batch call


def _absolute(uri: str) -> str:
    """A relative SQLite path made absolute: MLflow caches its store by URI string, so two
    working folders in one process would otherwise write into the first one's database."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.removeprefix(prefix).startswith("/"):
        return prefix + str(Path(uri.removeprefix(prefix)).absolute())
    return uri


class MlflowTracker:
    def __init__(self, tracking_uri: str, experiment: str, artifact_root: str) -> None:
        self.tracking_uri = _absolute(tracking_uri)
        self.experiment = experiment
        self.artifact_root = artifact_root
        self._cached: MlflowClient | None = None
        self._experiment: str | None = None

    def __getstate__(self) -> dict[str, object]:
        """Sent to another process (the sidecar) without this one's client."""
        return {**self.__dict__, "_cached": None}

    def _experiment_id(self, client: MlflowClient) -> str:
        if self._experiment is None:
            found = client.get_experiment_by_name(self.experiment)
            if found is not None:
                self._experiment = str(found.experiment_id)
            else:
                location = (Path(self.artifact_root) / self.experiment).resolve().as_uri()
                self._experiment = str(
                    client.create_experiment(self.experiment, artifact_location=location)
                )
        return self._experiment

    def _client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        if self._cached is None:
            logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # first run
            # The store's tables and the experiment are made on first use, one process at a
            # time: MLflow's migration run twice at once fails (4 processes: 5 times in 5).
            with first_opening(self.tracking_uri) as ready:
                client = MlflowClient(tracking_uri=ready)
                self._experiment_id(client)
            self._cached = client
        return self._cached

    def start_run(self, name: str, tags: dict[str, str]) -> str | None:
        client = self._client()
        return str(
            client.create_run(self._experiment_id(client), run_name=name, tags=tags).info.run_id
        )

    def end_run(self, run_id: str, status: str, why: str) -> None:
        client = self._client()
        client.set_tag(run_id, "error", why[:5000])
        client.set_terminated(run_id, status=status)

    def log_run(
        self, record: RunRecord, run_id: str | None = None, parent_id: str | None = None
    ) -> str | None:
        from mlflow.entities import Metric, Param

        client = self._client()
        if run_id is None:
            tags = record.tags | ({"mlflow.parentRunId": parent_id} if parent_id else {})
            run_id = client.create_run(
                self._experiment_id(client), run_name=record.name, tags=tags
            ).info.run_id
        else:
            client.set_tag(run_id, "mlflow.runName", record.name)
        # Every record is masked here, where MLflow is written, whoever built it (a sweep's
        # trial records the command line's overrides as they were typed).
        params = [Param(k[:250], str(v)[:6000]) for k, v in redact(record.params).items()]
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
