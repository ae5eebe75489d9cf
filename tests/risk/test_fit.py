"""Limits that fit the strategy: the check before the run, and what it stands for on a run."""

from __future__ import annotations

import pandas as pd
import pytest
from hydra.utils import instantiate

from tests.config.compose import composed
from tests.engine.lanes import run_one
from thunes.config import validate as validation
from thunes.config.validate import validate
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.sim_broker import SimBroker
from thunes.errors import ConfigError
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.fit import misfit

FILTERS = MarketFilters(tick_size=0.01, step_size=0.00001, min_qty=0.00001, min_notional=5.0)


@pytest.mark.parametrize("strategy", ["sma_cross", "dca", "grid", "scalper"])
@pytest.mark.parametrize("risk", ["default", "none"])
def test_every_shipped_strategy_fits_the_default_limits(strategy: str, risk: str) -> None:
    with composed(f"strategy={strategy}", f"risk={risk}", "risk.strict=true") as cfg:
        assert misfit(cfg) is None
        validate(cfg)


@pytest.mark.parametrize(
    ("overrides", "keys"),
    [
        (  # the DCA shipped before: 50 quote, x1.5, 3 safety buys 2% apart
            ["strategy=dca", "strategy.quote_amount=50"],
            ["safety buy 3 of 3", "strategy.quote_amount", "risk.max_loss_per_trade=5"],
        ),
        (
            ["strategy=grid", "strategy.quote_per_level=20"],
            ["full inventory (6 levels of 20)", "strategy.quote_per_level"],
        ),
        (
            ["strategy=grid", "strategy.stop_below=0.3", "strategy.quote_per_level=5"],
            ["strategy.stop_below=0.3", "wider than the max-loss stop"],
        ),
        (["strategy.stop_loss=0.1"], ["strategy.stop_loss=0.1", "sizing.amount"]),
        (
            ["sizing=equity_fraction", "strategy.trailing_stop=0.05"],
            ["strategy.trailing_stop=0.05", "sizing.fraction"],
        ),
        (["risk=conservative", "strategy.stop_loss=0.03"], ["risk.max_loss_per_trade=2.5"]),
        (["+profile=micro_live", "strategy=dca"], ["safety buy 3 of 3"]),
        (  # every safety buy, but the stop right under the deepest: the last cannot work
            ["strategy=dca", "strategy.quote_amount=15"],
            ["less than strategy.drop_pct=0.02 under its deepest safety buy"],
        ),
    ],
)
def test_a_misfit_is_one_line_naming_the_keys_to_change(
    overrides: list[str], keys: list[str]
) -> None:
    with composed(*overrides) as cfg:
        line = misfit(cfg)
        assert line is not None and len(line.splitlines()) == 1
        assert all(key in line for key in keys), line
        cfg.risk.strict = True
        with pytest.raises(ConfigError, match=r"risk\.strict=true refuses"):
            validate(cfg)


@pytest.mark.parametrize(
    ("profile", "strategy", "preset"),
    [
        ("risk=conservative", "dca", "dca_conservative"),
        ("risk=conservative", "grid", "grid_conservative"),
        ("+profile=micro_live", "dca", "dca_micro_live"),
        ("+profile=micro_live", "grid", "grid_micro_live"),
    ],
)
def test_a_strict_profile_refuses_the_shipped_strategy_and_runs_its_preset(
    profile: str, strategy: str, preset: str
) -> None:
    with composed(profile, f"strategy={strategy}") as cfg:
        assert cfg.risk.strict
        with pytest.raises(ConfigError, match=rf"strategy={strategy}: the max-loss stop"):
            validate(cfg)
    more = [] if profile.startswith("risk=") else [profile]  # the profile stays the user's opt-in
    with composed(f"experiment={preset}", *more) as cfg:
        assert cfg.risk.strict and cfg.strategy._target_.lower().endswith(strategy)
        assert misfit(cfg) is None
        validate(cfg)


def test_a_misfit_warns_once_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "_WARNED", set())  # none yet in this process
    with composed("strategy=dca", "strategy.quote_amount=49") as cfg:
        validate(cfg)
        validate(cfg)  # a sweep's next trial: said already
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("thunes: warning: strategy=dca")


def staircase(drop: float, steps: int) -> pd.DataFrame:
    """Flat bars, two at each price, each price a little more than `drop` under the last:
    every close after a fill asks for the next safety buy."""
    prices = [100.0 * ((1 - drop) * 0.999) ** (i // 2) for i in range(2 * steps + 4)]
    index = pd.date_range("2024-01-01", periods=len(prices), freq="1h", tz="UTC")
    frame = pd.DataFrame({k: prices for k in ("open", "high", "low", "close")}, index=index)
    return frame.rename_axis("timestamp").assign(volume=1.0)


@pytest.mark.parametrize("quote", [None, 50.0])  # the shipped DCA, and the one before it
def test_a_dca_the_check_passes_reaches_full_depth_before_the_max_loss_stop(
    quote: float | None,
) -> None:
    """What the check promises, on a run: a DCA it passes buys all its safety orders before
    the max-loss stop can sell; one it flags is sold before its deepest safety buy."""
    more = [] if quote is None else [f"strategy.quote_amount={quote}"]
    with composed("strategy=dca", *more) as cfg:
        fits = misfit(cfg) is None
        dca = instantiate(cfg.strategy, _convert_="all")
        f = cfg.exchange.fees
        fees = Fees(f.maker, f.taker, from_received=f.from_received)
        risk = RiskEngine(instantiate(cfg.risk), fees.taker)
        depth, drop = int(cfg.strategy.max_safety_orders), float(cfg.strategy.drop_pct)
        broker = SimBroker(fees, cfg.exchange.slippage, FILTERS, FixedQuote(1.0), 1e4, risk)
    fills = run_one(dca, broker, staircase(drop, depth + 2)).fills
    first_sell = next(i for i, fill in enumerate(fills) if fill.side.name == "SELL")
    assert fills[first_sell].tag == MAX_LOSS_TAG  # it falls all the way: the stop ends it
    safety = [fill for fill in fills[:first_sell] if fill.tag.startswith("dca:safety")]
    assert fits == (quote is None)
    assert (len(safety) == depth) == fits
