"""Equity, drawdown and trades, as an interactive HTML page and a static PNG.

The PNG comes from matplotlib: plotly's PNG export (kaleido) needs a Chrome build and took
4.3 s per image here, more than the whole backtest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HTML_NAME = "backtest.html"
PNG_NAME = "backtest.png"


@dataclass(frozen=True)
class PlotData:
    """Series indexed by UTC time; `trades` is the trades table."""

    title: str
    close: pd.Series | pd.DataFrame  # one column per symbol when there are several
    equity: pd.Series
    drawdown: pd.Series
    trades: pd.DataFrame
    levels: tuple[float, ...] = ()
    drifts: pd.DataFrame | None = None  # drift alarms: time, symbol, stream (thunes/drift/)


def _epoch_ms(times: pd.Series | pd.Index) -> np.ndarray:
    """Times as float milliseconds: plotly ships numbers as compact typed arrays, not strings."""
    return pd.DatetimeIndex(times).as_unit("ms").asi8.astype("float64")


def _day_numbers(times: pd.Series | pd.Index) -> np.ndarray:
    """Times as matplotlib date numbers (days since 1970), skipping its slow unit converter."""
    return _epoch_ms(times) / 86_400_000.0


@dataclass(frozen=True)
class _PricePanel:
    """The price chart's content; several symbols are rebased to 100 at the start."""

    lines: dict[str, np.ndarray]
    entries: tuple[np.ndarray, np.ndarray]  # (epoch ms, price)
    exits: tuple[np.ndarray, np.ndarray]
    label: str
    drifts: tuple[np.ndarray, np.ndarray]  # where a drift alarm was raised, on its symbol's line


def _price_panel(data: PlotData) -> _PricePanel:
    close = data.close if isinstance(data.close, pd.DataFrame) else data.close.to_frame()
    several = close.shape[1] > 1
    scale = {str(c): 100 / close[c].iloc[0] if several else 1.0 for c in close}
    trade_scale = data.trades["symbol"].astype(str).map(scale).fillna(1.0).to_numpy()
    done = (data.trades["exit_reason"] != "open").to_numpy()
    return _PricePanel(
        lines={str(c): close[c].to_numpy() * scale[str(c)] for c in close},
        entries=(
            _epoch_ms(data.trades["entry_time"]),
            data.trades["entry_price"].to_numpy() * trade_scale,
        ),
        exits=(
            _epoch_ms(data.trades["exit_time"][done]),
            data.trades["exit_price"].to_numpy()[done] * trade_scale[done],
        ),
        label="price, rebased to 100" if several else "price",
        drifts=_drift_marks(data.drifts, close, scale),
    )


def _drift_marks(
    drifts: pd.DataFrame | None, close: pd.DataFrame, scale: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each alarm at its time, on its symbol's price (the last close at or before it)."""
    if drifts is None or drifts.empty:
        return np.empty(0), np.empty(0)
    times = pd.DatetimeIndex(drifts["time"]).tz_convert("UTC")
    index = pd.DatetimeIndex(close.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    at = np.clip(index.searchsorted(times, side="right") - 1, 0, len(index) - 1)
    columns = {str(c): k for k, c in enumerate(close.columns)}
    col = np.array([columns.get(str(s), 0) for s in drifts["symbol"]])
    factor = np.array([scale.get(str(s), 1.0) for s in drifts["symbol"]])
    return _epoch_ms(times), close.to_numpy()[at, col] * factor


def _markers(panel: _PricePanel) -> tuple[tuple[tuple[np.ndarray, np.ndarray], str, str, str], ...]:
    """Entry and exit markers: (times, prices), name, matplotlib marker, colour."""
    drift = ((panel.drifts, "drift", "X", "#ff7f00"),) if len(panel.drifts[0]) else ()
    return ((panel.entries, "entry", "^", "#1a9850"), (panel.exits, "exit", "v", "#d73027"), *drift)


_PLOTLY_MARKERS = {"^": "triangle-up", "v": "triangle-down", "X": "x"}


def write_png(data: PlotData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (price_ax, equity_ax, dd_ax) = plt.subplots(
        3, 1, figsize=(14, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]}
    )
    panel = _price_panel(data)
    bars = _day_numbers(data.equity.index)
    for name, values in panel.lines.items():
        price_ax.plot(bars, values, lw=0.6, label=name)
    for (times, prices), name, marker, color in _markers(panel):
        price_ax.scatter(
            times / 86_400_000.0, prices, marker=marker, s=18, color=color, label=name, zorder=3
        )
    price_ax.set_ylabel(panel.label)
    for level in data.levels:
        price_ax.axhline(level, color="#7570b3", lw=0.5, ls="--")
    price_ax.set_title(data.title)
    price_ax.legend(loc="upper left")
    equity_ax.plot(bars, data.equity.to_numpy(), lw=0.9, color="#2c7bb6")
    equity_ax.set_ylabel("equity")
    dd_ax.fill_between(bars, data.drawdown.to_numpy() * 100, 0, color="#d73027", alpha=0.5, lw=0)
    dd_ax.set_ylabel("drawdown %")
    dd_ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    dd_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(dd_ax.xaxis.get_major_locator()))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_html(data: PlotData, path: Path) -> None:
    """A self-contained page apart from plotly.min.js, written once beside it (works offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panel = _price_panel(data)
    bars = _epoch_ms(data.equity.index)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.55, 0.3, 0.15],
        vertical_spacing=0.03,
        subplot_titles=(f"{panel.label} and trades", "equity", "drawdown"),
    )
    for name, values in panel.lines.items():
        fig.add_trace(go.Scattergl(x=bars, y=values, name=name, line={"width": 1}), row=1, col=1)
    for (x, y), name, marker, color in _markers(panel):
        fig.add_trace(
            go.Scattergl(
                x=x,
                y=y,
                mode="markers",
                name=name,
                marker={"symbol": _PLOTLY_MARKERS[marker], "color": color, "size": 8},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scattergl(x=bars, y=data.equity.to_numpy(), name="equity", line={"color": "#2c7bb6"}),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scattergl(
            x=bars,
            y=data.drawdown.to_numpy() * 100,
            name="drawdown %",
            fill="tozeroy",
            line={"color": "#d73027"},
        ),
        row=3,
        col=1,
    )
    for level in data.levels:
        fig.add_hline(y=level, line={"color": "#7570b3", "width": 1, "dash": "dash"}, row=1, col=1)
    fig.update_layout(title=data.title, height=900, template="plotly_white")
    fig.update_xaxes(type="date")
    fig.write_html(path, include_plotlyjs="directory")


MAX_POINTS = 20_000
"""Points per chart: more than a screen shows. 1M ticks would make a 66 MB page."""


def thinned(data: PlotData, max_points: int = MAX_POINTS) -> PlotData:
    """The same charts on at most about `max_points` bars: each bucket of bars keeps where
    every series (prices, equity, drawdown) reached its low and its high, so no spike and
    no drawdown is drawn shallower than it was."""
    length = len(data.equity)
    if length <= max_points:
        return data
    close = data.close if isinstance(data.close, pd.DataFrame) else data.close.to_frame()
    series = [close[c].to_numpy() for c in close] + [
        data.equity.to_numpy(),
        data.drawdown.to_numpy(),
    ]
    size = -(-length * 2 * len(series) // max_points)  # bars per bucket, rounded up
    buckets = -(-length // size)
    starts = np.arange(buckets) * size
    keep = [np.array([0, length - 1])]
    for values in series:
        padded = np.full(buckets * size, np.nan)
        padded[:length] = values
        rows = padded.reshape(buckets, size)
        keep += [starts + np.nanargmin(rows, axis=1), starts + np.nanargmax(rows, axis=1)]
    picked = np.unique(np.concatenate(keep))
    return PlotData(
        data.title,
        data.close.iloc[picked],
        data.equity.iloc[picked],
        data.drawdown.iloc[picked],
        data.trades,
        data.levels,
        data.drifts,
    )


def write_plots(data: PlotData, out_dir: Path) -> tuple[str, ...]:
    """Both files; returns their names (and plotly.min.js) relative to `out_dir`."""
    data = thinned(data)
    write_png(data, out_dir / PNG_NAME)
    write_html(data, out_dir / HTML_NAME)
    return (PNG_NAME, HTML_NAME, "plotly.min.js")
