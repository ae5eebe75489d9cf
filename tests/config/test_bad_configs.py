"""A bad config stops before anything runs: exit code 2 and one line naming the key."""

from __future__ import annotations

import sys

import pytest

from thunes import cli

BAD_CONFIGS = [
    # (overrides, text the one-line message must contain)
    (["strategy.fsat=5"], "strategy.fsat"),
    (["+strategy.fsat=5"], "did you mean fast"),
    (["strategy.fast=abc"], "strategy.fast"),
    (["strategy.fast=60", "strategy.slow=50"], "strategy.fast=60 is not allowed: must be < slow"),
    (["strategy.fast=0"], "strategy.fast=0 is not allowed: must be > 0"),
    (["strategy=nope"], "strategy"),
    (["exchange.fees.taker=0.5"], "exchange.fees.taker=0.5 is not allowed: must be in [0, 0.1)"),
    (["exchange.fees.maker=-0.001"], "exchange.fees.maker=-0.001"),
    (["exchange.slippage=-1"], "exchange.slippage=-1.0"),
    (["data.timeframe=7m"], "data.timeframe='7m' is not allowed: one of 1m"),
    (["data.gaps=maybe"], "data.gaps='maybe' is not allowed: one of fail, keep, ffill"),
    (["data.since=notadate"], "data.since='notadate'"),
    (["data.since=2024-01-01", "data.until=2023-01-01"], "data.until='2023-01-01'"),
    (["data=csv"], "config error: data.path is required"),
    (["data=csv", "data.path=candles.txt"], "data.path='candles.txt'"),
    (["symbol.symbol=btcusdt"], "symbol.symbol='btcusdt' is not allowed: BASE/QUOTE"),
    (["symbol.filters.tick_size=0"], "symbol.filters.tick_size=0.0"),
    (["risk.max_daily_loss=0"], "risk.max_daily_loss=0.0 is not allowed: must be > 0"),
    (["risk.max_open_positions=-1"], "risk.max_open_positions=-1"),
    (["risk.kill_switch=maybe"], "risk.kill_switch"),
    (["risk.max_loss_per_trade=-1"], "risk.max_loss_per_trade=-1.0 is not allowed: must be > 0"),
    (["risk.max_loss_per_trade=0"], "risk.max_loss_per_trade=0.0 is not allowed: must be > 0"),
    (["risk.cooldown_minutes=-5"], "risk.cooldown_minutes=-5.0 is not allowed: must be >= 0"),
    (["risk.cooldown_scope=bar"], "risk.cooldown_scope='bar' is not allowed: one of global"),
    (["risk.max_orders_per_minute=0"], "risk.max_orders_per_minute=0.0 is not allowed: must be"),
    (["risk.max_price_deviation_pct=-1"], "risk.max_price_deviation_pct=-1.0 is not allowed"),
    (["risk.max_open_orders_per_symbol=0"], "risk.max_open_orders_per_symbol=0 is not allowed"),
    (  # a position's cap looser than the total's
        ["risk.max_position_notional=500", "risk.max_total_notional=100"],
        "risk.max_position_notional=500.0 is not allowed: must be <= max_total_notional (100.0)",
    ),
    (  # looser than the limit it lives within
        ["risk.max_loss_per_trade=25"],
        "risk.max_loss_per_trade=25.0 is not allowed: must be <= max_daily_loss (20.0)",
    ),
    (
        ["risk=conservative", "risk.max_daily_loss=2"],
        "risk.max_loss_per_trade=2.5 is not allowed: must be <= max_daily_loss (2.0)",
    ),
    (  # a strategy the limits cut short, refused under risk.strict
        ["strategy=dca", "strategy.quote_amount=50", "risk.strict=true"],
        "strategy=dca: the max-loss stop (risk.max_loss_per_trade=5) sells a cycle before",
    ),
    (["risk=conservative", "strategy.stop_loss=0.05"], "change strategy.stop_loss, sizing.amount"),
    (["+profile=micro_live", "cash=100"], "cash=100.0 is not allowed: profile=micro_live allows"),
    (["+profile=micro_live", "exchange=binance_testnet"], "micro_live refuses testnet keys"),
    (["+profile=micro_live", "symbols=[btcusdt,ethusdt]"], "symbols=['btcusdt', 'ethusdt']"),
    (["+profile=micro_live", "profile.min_cash=60"], "profile.min_cash=60.0 is not allowed"),
    (["+profile=micro_live", "risk.max_loss_per_trade=5"], "must be <= max_daily_loss (3.0)"),
    (["paper.speed=-1"], "config error: paper.speed=-1.0 is not allowed: must be >= 0"),
    (["cash=-5"], "cash=-5.0 is not allowed: must be > 0"),
    (["sizing.amount=0"], "sizing.amount=0.0"),
    (["sizing=equity_fraction", "sizing.fraction=1.5"], "sizing.fraction=1.5"),
    (["mode=nope"], "mode"),
    (["strategy=scalper", "data=sim"], "strategy=scalper trades book ticks"),
    (["data=sim_ticks"], "holds book ticks, which only strategy=scalper trades"),
]


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> int:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["thunes", *args])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    return int(stopped.value.code or 0)


@pytest.mark.parametrize(
    ("overrides", "expected"), BAD_CONFIGS, ids=[" ".join(o) for o, _ in BAD_CONFIGS]
)
def test_bad_config_exits_2_with_one_line_naming_the_key(
    overrides: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_cli(overrides, monkeypatch, tmp_path)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert expected in err, err
    assert not list((tmp_path / "experiments").glob("**/stats.csv"))  # type: ignore[operator]


def test_live_without_confirm_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(["mode=live"], monkeypatch, tmp_path)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [err] and "set live.confirm=true" in err


def test_a_config_found_valid_then_changed_in_place_is_checked_again() -> None:
    """A sweep's trials reuse one config with new values (and validation remembers groups
    it found valid): an impossible value set in place must still be refused, every time."""
    from omegaconf import open_dict

    from tests.config.compose import composed
    from thunes.config.validate import validate
    from thunes.errors import ConfigError

    with composed("strategy.fast=10", "strategy.slow=50") as cfg:
        validate(cfg)
        validate(cfg)  # seen valid: still passes
        cfg.strategy.fast = 60
        for _ in range(2):
            with pytest.raises(ConfigError, match=r"strategy\.fast=60 is not allowed"):
                validate(cfg)
        cfg.strategy.fast = 10
        validate(cfg)
        with open_dict(cfg.risk):
            cfg.risk.max_daily_lost = 5.0  # a key the schema does not have
        with pytest.raises(ConfigError, match=r"risk\.max_daily_lost: unknown key"):
            validate(cfg)
