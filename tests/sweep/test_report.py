"""The sweep's summary on screen says when the best trial fails out of sample."""

from __future__ import annotations

import pytest
from rich.console import Console

from thunes.sweep.report import Summary, print_summary
from thunes.sweep.significance import Deflated
from thunes.sweep.trial import HEADLINE


def summary(train_sharpe: float, test_sharpe: float) -> Summary:
    figures = dict.fromkeys(HEADLINE, 0.1)
    return Summary(
        best={"strategy.fast": 15},
        train={**figures, "sharpe": train_sharpe},
        test={**figures, "sharpe": test_sharpe},
        degradation={},
        deflated=Deflated(0.02, 1.7, 0.005, 0.99, 58, True),
        evaluated=58,
        per_year=8760.0,
    )


@pytest.mark.parametrize(
    ("train", "test", "warned"), [(1.7, -1.39, True), (1.7, 0.0, True), (1.7, 0.8, False)]
)
def test_a_significant_best_that_loses_out_of_sample_is_called_out(
    train: float, test: float, warned: bool
) -> None:
    console = Console(record=True, width=200)
    print_summary(console, "study", summary(train, test))
    text = console.export_text()
    assert "significant" in text
    assert ("the edge did not hold" in text) is warned
