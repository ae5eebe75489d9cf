"""What backtest and replay share: data in; stats, trades, orders, plots, config and the
MLflow run out. Only the engine that turns candles into fills differs."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from thunes.components import build
from thunes.data.sources import CandleSet
from thunes.drift.backtest import drift_points
from thunes.notify.events import Event, Kind
from thunes.reporting.console import print_outputs, print_stats
from thunes.reporting.plots import PlotData, write_plots
from thunes.reporting.sidecar import Sidecar
from thunes.reporting.stopwatch import Stopwatch
from thunes.tracking.base import RunRecord, Tracker
from thunes.tracking.redact import flatten, redact

_WARM = ("mlflow", "mlflow.tracking", "matplotlib.pyplot", "plotly.graph_objects")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def publish(
    plots: PlotData | None, tracker: Tracker, record: RunRecord
) -> tuple[str | None, dict[str, float]]:
    """Render the plots, then log the run with them: the sidecar's job."""
    watch = Stopwatch()
    with watch.stage("plots"):
        names = write_plots(plots, record.artifact_dir) if plots is not None else ()
    with watch.stage("tracking"):
        tracked = tracker.log_run(replace(record, artifact_names=record.artifact_names + names))
    return tracked, watch.seconds


def _record(
    cfg: DictConfig,
    candle_sets: list[CandleSet],
    symbols: str,
    metrics: dict[str, float],
    run_dir: Path,
    artifacts: tuple[str, ...],
) -> RunRecord:
    choices = HydraConfig.get().runtime.choices
    plain = redact(OmegaConf.to_container(cfg, resolve=True))
    timeframe = candle_sets[0].timeframe
    return RunRecord(
        name=f"{cfg.mode.name}-{choices.get('strategy')}-{symbols}-{timeframe}",
        params=flatten(plain),
        metrics=metrics,
        tags={
            "mode": cfg.mode.name,
            "strategy": str(choices.get("strategy")),
            "symbol": symbols,
            "timeframe": timeframe,
            "data_fingerprint": ",".join(c.fingerprint for c in candle_sets),
            "data_origin": candle_sets[0].origin,
            "data_gaps": "; ".join(c.gaps.describe() for c in candle_sets),
            "git_commit": _git_commit(),
        },
        artifact_dir=run_dir,
        artifact_names=artifacts,
    )


def run(cfg: DictConfig) -> float:
    """Simulate, write every output, track the run; return the Sharpe ratio."""
    sidecar = Sidecar(_WARM)  # before anything heavy: it warms up on the other core
    try:
        return _run(cfg, sidecar)
    finally:
        sidecar.close()


def _run(cfg: DictConfig, sidecar: Sidecar) -> float:
    console = Console()
    watch = Stopwatch()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with watch.stage("data"):
        parts = build(cfg)
        candle_sets = [parts.data.load(parts.exchange, market) for market in parts.markets]
    for market, loaded in zip(parts.markets, candle_sets, strict=True):
        console.print(
            f"{len(loaded.frame):,} {market.symbol} {loaded.timeframe} "
            f"{'ticks' if 'bid' in loaded.frame.columns else 'candles'} "
            f"from {loaded.origin}; gaps ({loaded.gap_policy}): {loaded.gaps.describe()}"
        )
    candles = candle_sets[0]
    with watch.stage("import_vectorbt"):
        from thunes.backtest import choice
        from thunes.reporting.tables import (
            RISK_RULES,
            orders_table,
            single_column,
            stats_table,
            summary_stats,
            trades_table,
        )
    with watch.stage("simulate"):
        engine = choice.replay if cfg.mode.name == "replay" else choice.backtest
        result = engine(parts, candle_sets)
    with watch.stage("stats"):
        stats, trades = summary_stats(result), trades_table(result)
        symbols_of = [market.symbol for market in parts.markets]
        drifts = drift_points(parts.drift, trades, result.portfolio.close, symbols_of, candle_sets)
        if parts.drift.streams:
            stats["drift_alarms"] = len(drifts)
    with watch.stage("write"):
        table = stats_table(stats, result)
        table.to_csv(run_dir / "stats.csv", index_label="metric")
        by_symbol = len(parts.markets) > 1
        if by_symbol:  # the same figures, one row for the portfolio and one per symbol
            table.rename(columns={"value": "portfolio"}).T.to_csv(
                run_dir / "stats_by_symbol.csv", index_label="scope"
            )
        trades.to_csv(run_dir / "trades.csv", index=False)
        if parts.drift.streams:
            drifts.to_csv(run_dir / "drift.csv", index=False)
        orders_table(result).to_csv(run_dir / "orders.csv", index=False)
        plain = redact(OmegaConf.to_container(cfg, resolve=True))
        OmegaConf.save(OmegaConf.create(plain), run_dir / "config.yaml")
        metrics = {str(k): float(v) for k, v in stats.items() if isinstance(v, (int, float))}
        symbols = ", ".join(market.symbol for market in parts.markets)
        title = f"{symbols} {candles.timeframe} {type(parts.strategy).__name__}"
        pf = result.portfolio
        plots = (
            PlotData(
                title=title,
                close=pf.close.tz_localize("UTC"),
                equity=single_column(pf.value()).tz_localize("UTC"),
                drawdown=single_column(pf.drawdown()).tz_localize("UTC"),
                trades=trades,
                levels=tuple(result.levels),
                drifts=drifts,
            )
            if cfg.mode.plots
            else None
        )
        outputs = (
            ("stats.csv", "trades.csv", "orders.csv", "config.yaml")
            + (("stats_by_symbol.csv",) if by_symbol else ())
            + (("drift.csv",) if parts.drift.streams else ())
        )
        record = _record(cfg, candle_sets, symbols, metrics, run_dir, outputs)
    published = sidecar.submit(publish, plots, parts.tracker, record)
    extra = [f"risk_{rule}" for rule in RISK_RULES] + list(result.strategy_report)
    extra += ["drift_alarms"] if parts.drift.streams else []
    print_stats(console, title, stats, extra)
    with watch.stage("wait_publish"):
        tracked, publish_seconds = published.result()
    (run_dir / "timings.json").write_text(
        json.dumps(
            {**watch.seconds, **{f"sidecar_{k}": v for k, v in publish_seconds.items()}}, indent=2
        )
    )
    names = sorted(p.name for p in run_dir.iterdir() if p.is_file())
    print_outputs(console, run_dir, names, tracked)
    parts.notifier.publish(
        Event(
            Kind.RUN_FINISHED,
            f"{cfg.mode.name} done: total return {stats['total_return']:.2%}, "
            f"Sharpe {stats['sharpe']:.2f}",
        )
    )
    return float(stats["sharpe"])
