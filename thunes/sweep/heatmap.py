"""The objective over the first two swept parameters, as HTML (plotly) and PNG (matplotlib).

With more than two parameters, each cell shows the best value over the others: where in the
plane a good combination exists at all. A plateau of good cells is a robust choice; a lone
bright cell among dark ones is the kind of optimum that does not survive out of sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HTML_NAME, PNG_NAME = "heatmap.html", "heatmap.png"
MAX_TICKS = 25  # labels per axis: a 100 x 100 grid's 200 labels took matplotlib 15 s to lay out


def write_heatmap(
    table: pd.DataFrame, keys: list[str], metric: str, out_dir: Path
) -> tuple[str, ...]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    x, y = keys[0], keys[1]
    grid = table.pivot_table(index=y, columns=x, values=metric, aggfunc="max")
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[str(v) for v in grid.columns],
            y=[str(v) for v in grid.index],
            colorscale="RdYlGn",
            colorbar={"title": metric},
        )
    )
    figure.update_layout(title=f"{metric} over {x} and {y}", xaxis_title=x, yaxis_title=y)
    figure.write_html(out_dir / HTML_NAME, include_plotlyjs="directory")

    fig, ax = plt.subplots(figsize=(9, 6))
    image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="RdYlGn")
    for axis, values, rotation in ((ax.xaxis, grid.columns, 90), (ax.yaxis, grid.index, 0)):
        shown = np.unique(np.linspace(0, len(values) - 1, min(len(values), MAX_TICKS)).round())
        axis.set_ticks(shown, [str(values[int(i)]) for i in shown], rotation=rotation)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{metric} over {x} and {y}")
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    fig.savefig(out_dir / PNG_NAME, dpi=110)
    plt.close(fig)
    return HTML_NAME, PNG_NAME
