"""Sweeps as a user runs them: `thunes -m +sweep=<preset>`, resumed, pruned, failed, tracked."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from tests.cli.run import run_thunes

TINY = {  # a few weeks of data per preset, so a trial takes milliseconds
    "sma": ["data=sim", "data.since=2024-09-01", "data.until=2024-11-01"],
    "dca": ["data=sim", "data.since=2024-09-01", "data.until=2024-11-01"],
    "grid": ["data=sim", "data.since=2024-09-01", "data.until=2024-11-01"],
    "scalper": ["data.ticks=20000"],
}


def study_csv(cwd: Path) -> pd.DataFrame:
    newest = sorted((cwd / "experiments" / "multirun").glob("*/*"))[-1]
    return pd.read_csv(newest / "study.csv")


def mlflow_runs(cwd: Path) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlruns/mlflow.db")
    return mlflow.search_runs(experiment_names=["thunes"])


@pytest.mark.parametrize("preset", sorted(TINY))
def test_each_preset_sweeps_then_the_same_command_resumes_its_study(
    preset: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ["-m", f"+sweep={preset}", *TINY[preset], "hydra.sweeper.sampler.seed=1"]
    assert run_thunes([*args, "hydra.sweeper.n_trials=10"], monkeypatch, tmp_path) == 0
    first = study_csv(tmp_path)
    assert len(first) == 10
    complete = first[first["state"] == "COMPLETE"]
    assert len(complete) >= 1
    for column in ("train_sharpe", "test_sharpe", "train_total_return", "test_total_return"):
        assert complete[column].notna().all()

    runs = mlflow_runs(tmp_path)
    parents = runs[runs["tags.engine"] == "optuna"]
    assert len(parents) == 1
    children = runs[runs["tags.mlflow.parentRunId"] == parents["run_id"].iloc[0]]
    assert len(children) == len(complete)
    assert "metrics.deflated_sharpe" in parents and parents["metrics.deflated_sharpe"].notna().all()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    logged = {a.path for a in client.list_artifacts(parents["run_id"].iloc[0])}
    assert {"study.csv", "optimization_history.html", "parallel_coordinate.html"} <= logged
    assert any(name.startswith("params.best.") for name in parents.columns)

    assert run_thunes([*args, "hydra.sweeper.n_trials=15"], monkeypatch, tmp_path) == 0
    second = study_csv(tmp_path)
    assert len(second) == 15  # the same study, five more trials
    assert second["number"].tolist() == list(range(15))
    assert second.iloc[:10]["state"].tolist() == first["state"].tolist()


def test_trials_that_break_a_constraint_are_pruned_never_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = [
        "-m",
        "+sweep=sma",
        *TINY["sma"],
        "hydra.sweeper.n_trials=12",
        "hydra.sweeper.sampler.seed=3",
        "strategy.fast=range(10, 40, 10)",  # over the preset's space; half the plane breaks it
        "strategy.slow=range(10, 40, 10)",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    table = study_csv(tmp_path)
    pruned = table[table["state"] == "PRUNED"]
    complete = table[table["state"] == "COMPLETE"]
    assert len(pruned) > 0 and len(complete) > 0
    assert (pruned["strategy.fast"] >= pruned["strategy.slow"]).all()
    assert (pruned["pruned_by"] == "strategy.fast < strategy.slow").all()
    assert pruned["train_sharpe"].isna().all()  # never backtested
    assert (complete["strategy.fast"] < complete["strategy.slow"]).all()


def test_a_failing_trial_is_recorded_with_its_reason_and_the_sweep_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "-m",
        "+sweep=sma",
        *TINY["sma"],
        "sweep.constraints=[]",  # no constraint: validation refuses fast >= slow instead
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.sampler.seed=5",
        "strategy.fast=range(10, 40, 10)",
        "strategy.slow=range(10, 40, 10)",
    ]
    assert run_thunes([*base, "hydra.sweeper.max_failure_rate=1.0"], monkeypatch, tmp_path) == 0
    table = study_csv(tmp_path)
    failed = table[table["state"] == "FAIL"]
    assert len(failed) > 0
    assert failed["error"].str.contains("must be < slow").all()
    assert "trial failed: strategy.fast=" in capsys.readouterr().err

    # Failures beyond max_failure_rate stop the sweep with the trial's one-line error.
    code = run_thunes(
        [*base, "hydra.sweeper.study_name=strict", "hydra.sweeper.n_trials=30"],
        monkeypatch,
        tmp_path,
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("thunes: config error: strategy.fast=")


def test_walk_forward_optimises_in_sample_and_records_each_trial_out_of_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = [
        "-m",
        "+sweep=sma",
        *TINY["sma"],
        "sweep.split.kind=walk_forward",
        "sweep.split.folds=3",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.sampler.seed=2",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    complete = study_csv(tmp_path).query("state == 'COMPLETE'")
    assert (complete["objective_0"] == complete["train_sharpe"]).all()
    assert not (complete["test_sharpe"] == complete["train_sharpe"]).all()


def test_other_data_starts_another_study_and_a_named_one_refuses_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ["-m", "+sweep=sma", "data=sim", "data.until=2024-11-01", "hydra.sweeper.n_trials=2"]
    assert run_thunes([*args, "data.since=2024-09-01"], monkeypatch, tmp_path) == 0
    assert run_thunes([*args, "data.since=2024-08-01"], monkeypatch, tmp_path) == 0
    storage = f"sqlite:///{tmp_path}/experiments/sweeps/optuna.db"
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    assert len(names) == 2 and all(name.startswith("sma-") for name in names)

    named = [*args, "hydra.sweeper.study_name=mine"]
    assert run_thunes([*named, "data.since=2024-09-01"], monkeypatch, tmp_path) == 0
    assert run_thunes([*named, "data.since=2024-08-01"], monkeypatch, tmp_path) == 2


def test_continuous_and_log_spaces_sample_in_optuna_and_are_refused_by_the_grid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = ["strategy.stop_loss=tag(log, interval(0.005, 0.2))", "strategy.ma=choice(sma,ema)"]
    args = ["-m", "+sweep=sma", *TINY["sma"], *space, "hydra.sweeper.sampler.seed=4"]
    assert run_thunes([*args, "hydra.sweeper.n_trials=6"], monkeypatch, tmp_path) == 0
    table = study_csv(tmp_path)
    assert table["strategy.stop_loss"].between(0.005, 0.2).all()
    assert table["strategy.stop_loss"].nunique() == len(table)  # drawn, not picked from a list
    assert set(table["strategy.ma"]) <= {"sma", "ema"}

    assert run_thunes([*args, "sweep.engine=grid"], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "strategy.stop_loss: a grid needs discrete values" in err


def test_joblib_runs_trials_in_parallel_processes_each_logging_its_nested_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = [
        "-m",
        "+sweep=sma",
        *TINY["sma"],
        "hydra/launcher=joblib",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=6",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    table = study_csv(tmp_path)
    complete = table[table["state"] == "COMPLETE"]
    assert len(table) == 4 and len(complete) >= 1
    runs = mlflow_runs(tmp_path)  # each worker process logged its trials under the parent
    parent = runs[runs["tags.engine"] == "optuna"]["run_id"].iloc[0]
    assert (runs["tags.mlflow.parentRunId"] == parent).sum() == len(complete)


def test_a_password_in_the_storage_url_is_never_printed() -> None:
    from thunes.sweep.optuna_engine import shown_url

    shown = shown_url("postgresql+psycopg://trader:hunter2@db.internal:5432/optuna")
    assert "hunter2" not in shown and "trader:***@db.internal" in shown


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("sweep.objectives=[foo]", "config error: sweep.objectives='foo' is not allowed"),
        ("sweep.split.folds=0", "config error: sweep.split.folds=0 is not allowed"),
        ("sweep.split.train_end=2099-01-01", "config error: sweep.split: train_end="),
        ("hydra.sweeper.n_trials=0", "config error: hydra.sweeper.n_trials=0 is not allowed"),
        ("hydra.sweeper.n_jobs=0", "config error: hydra.sweeper.n_jobs=0 is not allowed"),
        ("hydra.sweeper.max_failure_rate=2", "config error: hydra.sweeper.max_failure_rate=2"),
        (  # a server that is not there: one line, the password masked
            "hydra.sweeper.storage=postgresql+psycopg://u:hunter2@127.0.0.1:1/db",
            "config error: hydra.sweeper.storage=postgresql+psycopg://u:***@127.0.0.1:1/db: "
            "cannot open it: connection failed",
        ),
        (
            "data.timeframe=choice(1h,4h)",
            "config error: hydra.sweeper.params.data.timeframe: trials must share their bars",
        ),
        (
            'sweep.constraints=["strategy.nope < strategy.slow"]',
            "config error: sweep.constraints: strategy.nope is neither a config key",
        ),
    ],
)
@pytest.mark.filterwarnings("error::UserWarning")  # a callback's failure: Hydra's warning
def test_a_bad_sweep_setting_is_one_line_before_any_study_exists(
    override: str,
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["-m", "+sweep=sma", *TINY["sma"], "hydra.sweeper.n_trials=3", override]
    assert run_thunes(args, monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"thunes: {line}")
    assert not (tmp_path / "experiments" / "sweeps").exists()
    if (tmp_path / "mlruns").exists():  # the sweep's parent run, opened first: not left open
        assert set(mlflow_runs(tmp_path)["status"]) <= {"FAILED"}


def test_a_study_kept_in_memory_is_reported_like_a_stored_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`hydra.sweeper.storage=null`: no database, no resume, and the same report."""
    args = ["-m", "+sweep=sma", *TINY["sma"], "hydra.sweeper.storage=null", "tracking=none"]
    assert run_thunes([*args, "hydra.sweeper.n_trials=6"], monkeypatch, tmp_path) == 0
    assert len(study_csv(tmp_path)) == 6
    assert not (tmp_path / "experiments" / "sweeps").exists()
    newest = sorted((tmp_path / "experiments" / "multirun").glob("*/*"))[-1]
    assert (newest / "optimization_history.html").exists()


def test_an_interrupted_sweep_leaves_no_trial_running_and_resumes_to_its_size(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ctrl-C during a trial: exit 130, that trial told FAIL ("interrupted") rather than
    left RUNNING (it would hold a place in the study), the MLflow parent closed KILLED,
    and the same command finishes the study."""
    from thunes.sweep import trial

    evaluate, calls = trial.evaluate, []

    def interrupted_at_the_fourth(cfg: object) -> object:
        calls.append(cfg)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return evaluate(cfg)  # type: ignore[arg-type]

    args = ["-m", "+sweep=sma", *TINY["sma"], "hydra.sweeper.n_trials=8"]
    with monkeypatch.context() as patched:
        patched.setattr(trial, "evaluate", interrupted_at_the_fourth)
        assert run_thunes(args, monkeypatch, tmp_path) == 130
    runs = mlflow_runs(tmp_path)  # the parent closed KILLED, the three trials before logged
    parent = runs[runs["tags.engine"] == "optuna"]
    assert parent["status"].tolist() == ["KILLED"]
    children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"].iloc[0]]
    assert (children["status"] == "FINISHED").all() and len(children) >= 1
    storage = f"sqlite:///{tmp_path}/experiments/sweeps/optuna.db"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.user_attrs["error"] for t in failed] == ["interrupted"]

    assert run_thunes(args, monkeypatch, tmp_path) == 0
    table = study_csv(tmp_path)
    assert len(table) == 8 and table["state"].isin(["COMPLETE", "PRUNED", "FAIL"]).all()
