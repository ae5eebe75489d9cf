"""The grid strategy, fill by fill on literal candles worked out by hand, and its config."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from tests.config.compose import composed
from tests.engine.lanes import run_one
from thunes.config.validate import validate
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.replay import ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.errors import ConfigError
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy import grid_rules
from thunes.strategy.grid import Grid

MAKER, TAKER = 0.001, 0.002
FILTERS = MarketFilters(tick_size=0.01, step_size=0.0001, min_qty=0.0001, min_notional=5.0)
BUY, SELL = Side.BUY, Side.SELL


def candles(*rows: tuple[float, float, float, float]) -> pd.DataFrame:
    """Hourly UTC candles from literal (open, high, low, close) rows, volume 1."""
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    return frame.assign(volume=1.0)


def run(grid: Grid, frame: pd.DataFrame) -> tuple[ReplayResult, SimBroker]:
    broker = SimBroker(
        Fees(MAKER, TAKER, from_received=False), 0.0, FILTERS, FixedQuote(100.0), 1_000.0
    )
    return run_one(grid, broker, frame), broker


def assert_fills(fills: list[Fill], expected: list[tuple[int, Side, float, float, str]]) -> None:
    """Bar, side, price, amount and tag as worked out; a grid limit pays the maker fee."""
    got = [(f.bar, f.side, f.price, round(f.amount, 10), f.tag) for f in fills]
    assert got == [(b, s, p, pytest.approx(a, abs=1e-12), t) for b, s, p, a, t in expected]
    for fill in fills:
        rate = MAKER if fill.maker else TAKER
        assert fill.maker == fill.tag.startswith(("grid:buy", "grid:sell"))
        assert fill.fee == pytest.approx(fill.amount * fill.price * rate, rel=1e-12)


ABSOLUTE: dict[str, Any] = {  # between two prices, no take-profit, no re-centring
    "relative": False,
    "take_profit_above": None,
    "recenter_after": None,
}


def absolute_grid(quote: float, stop_below: float | None = None) -> Grid:
    """5 arithmetic levels: 100, 102, 104, 106, 108."""
    return Grid(
        **ABSOLUTE, lower=100.0, upper=108.0, levels=5, spacing="arithmetic",
        quote_per_level=quote, stop_below=stop_below,
    )  # fmt: skip


# At bar 0's close (105) the grid buys at levels 0, 1, 2 (100, 102, 104); 106 and 108 stay
# empty. 25 quote per level: 25 / 104 = 0.24038.. -> 0.2403, 25 / 102 = 0.24509.. -> 0.2450.
SWINGS = candles(
    (105.0, 105.5, 104.5, 105.0),  # 0: grid laid
    (105.0, 105.2, 104.0, 104.5),  # 1: low touches 104: no fill
    (104.5, 106.5, 103.5, 104.2),  # 2: buy 104; its sell at 106 rests from bar 3 (high 106.5)
    (104.2, 104.8, 101.5, 102.0),  # 3: buy 102; sell at 104 rests from bar 4
    (102.0, 106.2, 101.8, 105.8),  # 4: sells 104 then 106; buys at 102, 104 from bar 5
    (105.8, 106.0, 101.0, 101.5),  # 5: buys 104 then 102 (100 untouched)
    (101.5, 106.1, 101.2, 106.05),  # 6: sells 104 then 106
    (106.0, 106.5, 105.5, 106.0),  # 7: nothing
)
SWING_FILLS = [
    (2, BUY, 104.0, 0.2403, "grid:buy:2"),
    (3, BUY, 102.0, 0.2450, "grid:buy:1"),
    (4, SELL, 104.0, 0.2450, "grid:sell:2"),
    (4, SELL, 106.0, 0.2403, "grid:sell:3"),
    (5, BUY, 104.0, 0.2403, "grid:buy:2"),
    (5, BUY, 102.0, 0.2450, "grid:buy:1"),
    (6, SELL, 104.0, 0.2450, "grid:sell:2"),
    (6, SELL, 106.0, 0.2403, "grid:sell:3"),
]
# One round trip 102 -> 104: 0.245 * 2 - 0.245 * 102 * 0.001 - 0.245 * 104 * 0.001
#   = 0.49 - 0.02499 - 0.02548 = 0.43953
# One round trip 104 -> 106: 0.2403 * 2 - 0.2403 * 104 * 0.001 - 0.2403 * 106 * 0.001
#   = 0.4806 - 0.0249912 - 0.0254718 = 0.430137
# Each happens twice: 2 * (0.43953 + 0.430137) = 1.739334
SWING_PROFIT = 1.739334


def test_swings_fill_level_by_level_at_the_levels_prices() -> None:
    grid = absolute_grid(quote=25.0)
    result, broker = run(grid, SWINGS)
    assert grid.levels == [100.0, 102.0, 104.0, 106.0, 108.0]
    assert_fills(result.fills, SWING_FILLS)
    assert result.skipped == []
    assert grid.grid_profit == pytest.approx(SWING_PROFIT, abs=1e-9)
    assert grid.fills_per_level == {1: 2, 2: 4, 3: 2}
    assert grid.unrealised_inventory(106.0) == (0.0, 0.0)
    assert broker.position == pytest.approx(0.0, abs=1e-12)  # float residue of +- amounts
    assert broker.cash == pytest.approx(1_000.0 + SWING_PROFIT, abs=1e-9)
    assert sorted(o.tag for o in broker.resting) == ["grid:buy:0", "grid:buy:1", "grid:buy:2"]


def test_inventory_waiting_for_its_sells() -> None:
    grid = absolute_grid(quote=25.0)
    result, _ = run(grid, SWINGS.iloc[:4])  # the two buys of bars 2 and 3, no sell yet
    assert_fills(result.fills, SWING_FILLS[:2])
    amount, value = grid.unrealised_inventory(102.0)
    assert amount == pytest.approx(0.2403 + 0.2450, abs=1e-12)
    assert value == pytest.approx(0.4853 * 102.0, abs=1e-9)
    assert grid.grid_profit == 0.0


def test_stop_below_the_range_gaps_through_at_the_open_and_ends_the_grid() -> None:
    grid = absolute_grid(quote=20.0, stop_below=0.05)  # a sell stop at 100 * 0.95 = 95
    frame = candles(
        (105.0, 105.5, 104.5, 105.0),  # 0: buys at 100, 102, 104; stop at 95
        (105.0, 105.2, 101.5, 102.0),  # 1: buys 104 (0.1923) then 102 (0.1960)
        (102.0, 102.5, 99.5, 100.5),  # 2: buy 100 (20 / 100 -> 0.2)
        (92.0, 93.0, 91.0, 92.0),  # 3: opens below 95: the stop fills at the open, 92
        (92.0, 110.0, 91.0, 109.0),  # 4: every grid order was withdrawn: nothing fills
        (109.0, 109.5, 108.5, 109.0),
    )
    result, broker = run(grid, frame)
    assert grid.stop_price == pytest.approx(95.0)
    assert_fills(
        result.fills,
        [
            (1, BUY, 104.0, 0.1923, "grid:buy:2"),
            (1, BUY, 102.0, 0.1960, "grid:buy:1"),
            (2, BUY, 100.0, 0.2, "grid:buy:0"),
            (3, SELL, 92.0, 0.5883, "grid:stop"),  # the whole position, taker
        ],
    )
    # Cost of the lots: 0.1923*104*1.001 + 0.196*102*1.001 + 0.2*100*1.001 = 60.0511912
    # Stop: 0.5883 * 92 - 0.5883 * 92 * 0.002 = 54.1236 - 0.1082472 = 54.0153528
    assert grid.exit_pnl == pytest.approx(54.0153528 - 60.0511912, abs=1e-9)
    assert grid.grid_profit == 0.0
    assert grid.stopped and broker.resting == [] and broker.position == 0.0
    assert broker.cash == pytest.approx(1_000.0 + grid.exit_pnl, abs=1e-9)


def test_a_buy_met_after_the_stop_in_the_same_bar_is_sold_at_the_next_open() -> None:
    grid = absolute_grid(quote=20.0, stop_below=0.05)
    frame = candles(
        (105.0, 105.5, 104.5, 105.0),  # 0: buys at 100, 102, 104; stop at 95
        (105.0, 105.2, 103.5, 104.0),  # 1: buy 104 (0.1923)
        (92.0, 93.0, 91.0, 92.0),  # 2: gap below everything (see below)
        (93.0, 94.0, 92.5, 93.5),  # 3: what the late buys got is sold at the open, 93
        (93.5, 94.0, 93.0, 93.5),
    )
    # Bar 2 opens at 92: the stop and the buys at 100 and 102 all meet the market at the
    # open; the broker takes the stop first (ties go to stops), which sells 0.1923 at 92,
    # then fills the buys at their own prices. The grid has ended, so it sells them too.
    result, broker = run(grid, frame)
    assert_fills(
        result.fills,
        [
            (1, BUY, 104.0, 0.1923, "grid:buy:2"),
            (2, SELL, 92.0, 0.1923, "grid:stop"),
            (2, BUY, 100.0, 0.2, "grid:buy:0"),
            (2, BUY, 102.0, 0.196, "grid:buy:1"),
            (3, SELL, 93.0, 0.396, "grid:exit"),
        ],
    )
    # lot 0.1923 * 104 * 1.001 = 20.0191992; stop 0.1923 * 92 * 0.998 = 17.6562168;
    # late buys 0.2 * 100 * 1.001 + 0.196 * 102 * 1.001 = 20.02 + 20.011992;
    # exit 0.396 * 93 * 0.998 = 36.754344
    exit_pnl = 17.6562168 - 20.0191992 - 20.02 - 20.011992 + 36.754344
    assert grid.exit_pnl == pytest.approx(exit_pnl, abs=1e-9)
    assert grid.fills_per_level == {2: 1}  # fills after the end are the exit's, not the grid's
    assert broker.position == 0.0 and broker.resting == []
    assert broker.cash == pytest.approx(1_000.0 + grid.exit_pnl, abs=1e-9)


def test_relative_bounds_and_take_profit_above_the_range() -> None:
    grid = Grid(
        lower=-0.1, upper=0.1, relative=True, levels=5, spacing="arithmetic",
        quote_per_level=20.0, stop_below=None, take_profit_above=0.02, recenter_after=None,
    )  # fmt: skip
    frame = candles(
        (100.0, 100.5, 99.5, 100.0),  # 0: levels 90, 95, 100, 105, 110; buys at 90 and 95
        (100.0, 100.5, 94.5, 96.0),  # 1: buy 95 (20 / 95 -> 0.2105); sell at 100 from bar 2
        (96.0, 115.0, 89.0, 113.0),  # 2: buy 90 (0.2222) on the way down, then sell 100;
        (114.0, 114.5, 80.0, 81.0),  # close 113 > 110 * 1.02: cancel all, sell at 3's open
        (81.0, 82.0, 79.0, 80.0),  # nothing more: the grid has ended
    )
    result, broker = run(grid, frame)
    assert grid.levels == pytest.approx([90.0, 95.0, 100.0, 105.0, 110.0])
    assert grid.take_profit_price == pytest.approx(112.2)
    assert_fills(
        result.fills,
        [
            (1, BUY, 95.0, 0.2105, "grid:buy:1"),
            (2, BUY, 90.0, 0.2222, "grid:buy:0"),
            (2, SELL, 100.0, 0.2105, "grid:sell:2"),
            (3, SELL, 114.0, 0.2222, "grid:take_profit"),  # at the open, taker
        ],
    )
    # 0.2105 * 5 - 0.2105 * 95 * 0.001 - 0.2105 * 100 * 0.001 = 1.0525 - 0.0199975 - 0.02105
    assert grid.grid_profit == pytest.approx(1.0114525, abs=1e-9)
    # 0.2222 * 114 * (1 - 0.002) - 0.2222 * 90 * 1.001 = 25.2801384 - 20.017998
    assert grid.exit_pnl == pytest.approx(5.2621404, abs=1e-9)
    assert grid.fills_per_level == {0: 1, 1: 1, 2: 1}
    assert broker.resting == [] and broker.position == 0.0
    assert broker.cash == pytest.approx(1_000.0 + 1.0114525 + 5.2621404, abs=1e-9)


def laid(lower: float, upper: float, count: int, geometric: bool) -> list[float]:
    """The levels the grid's own rule lays (grid_rules.lay, run by both engines)."""
    out = np.empty(count)
    grid_rules.lay(lower, upper, count, geometric, out)
    return out.tolist()


def trailing_grid(recenter_after: int | None) -> Grid:
    """Levels at -10%, -5%, 0, +5%, +10% of the close it is laid at, 20 quote a level."""
    return Grid(
        lower=-0.1, upper=0.1, relative=True, levels=5, spacing="arithmetic",
        quote_per_level=20.0, stop_below=None, take_profit_above=None,
        recenter_after=recenter_after,
    )  # fmt: skip


# Laid at 100: levels 90, 95, 100, 105, 110, buys at 90 and 95. Two closes in a row above
# 110 lay it again around the second one's close.
ABOVE = candles(
    (100.0, 100.5, 99.5, 100.0),  # 0: laid at 100
    (100.0, 112.0, 99.8, 111.0),  # 1: close above 110: one
    (111.0, 112.0, 108.0, 109.0),  # 2: back inside: the count starts again
    (109.0, 113.0, 108.5, 112.0),  # 3: one
    (112.0, 121.0, 111.5, 120.0),  # 4: two: withdraw the buys at 90 and 95, lay at 120:
    # levels 108, 114, 120, 126, 132, buys at 108 and 114 (20 / 114 -> 0.1754)
    (120.0, 120.5, 113.0, 115.0),  # 5: buy 114; its sell at 120 rests from bar 6
    (115.0, 121.0, 114.5, 118.0),  # 6: sell 120; a buy at 114 again
)


def test_above_its_range_the_grid_is_laid_again_around_the_price() -> None:
    grid = trailing_grid(recenter_after=2)
    result, broker = run(grid, ABOVE)
    assert grid.levels == pytest.approx([108.0, 114.0, 120.0, 126.0, 132.0])
    assert grid.recenters == 1
    assert_fills(
        result.fills,
        [(5, BUY, 114.0, 0.1754, "grid:buy:1"), (6, SELL, 120.0, 0.1754, "grid:sell:2")],
    )
    # 0.1754 * 6 - 0.1754 * 114 * 0.001 - 0.1754 * 120 * 0.001 = 1.0524 - 0.0199956 - 0.021048
    assert grid.grid_profit == pytest.approx(1.0113564, abs=1e-9)
    assert grid.fills_per_level == {1: 1, 2: 1}
    assert grid.report(118.0)["grid_recenters"] == 1
    # the buys at 90 and 95 were withdrawn
    assert sorted((o.tag, o.price) for o in broker.resting) == [
        ("grid:buy:0", 108.0),
        ("grid:buy:1", 114.0),
    ]


def test_a_grid_that_does_not_re_centre_stays_where_it_was_laid() -> None:
    grid = trailing_grid(recenter_after=None)
    result, broker = run(grid, ABOVE)
    assert grid.levels == pytest.approx([90.0, 95.0, 100.0, 105.0, 110.0])
    assert grid.recenters == 0 and result.fills == []
    assert sorted(o.tag for o in broker.resting) == ["grid:buy:0", "grid:buy:1"]


def test_below_its_range_the_grid_keeps_its_lots_and_waits() -> None:
    grid = trailing_grid(recenter_after=2)
    frame = candles(
        (100.0, 100.5, 99.5, 100.0),  # 0: laid at 100, buys at 90 and 95
        (100.0, 100.2, 89.0, 89.5),  # 1: buys 95 (0.2105) then 90 (0.2222); sells at 100, 95
        (89.5, 90.0, 85.0, 86.0),  # 2-4: closes under 90, the lowest level
        (86.0, 87.0, 84.0, 85.0),
        (85.0, 86.0, 83.0, 84.0),
    )
    result, broker = run(grid, frame)
    assert grid.recenters == 0
    assert grid.levels == pytest.approx([90.0, 95.0, 100.0, 105.0, 110.0])
    assert [f.tag for f in result.fills] == ["grid:buy:1", "grid:buy:0"]
    assert sorted((o.tag, o.price, o.amount) for o in broker.resting) == [
        ("grid:sell:1", 95.0, 0.2222),
        ("grid:sell:2", 100.0, 0.2105),
    ]


def test_after_the_risk_engine_sold_it_the_grid_is_laid_again_around_the_price() -> None:
    frame = candles(
        (100.0, 100.5, 99.5, 100.0),  # 0: laid at 100, buys at 90 and 95
        (100.0, 100.5, 94.0, 94.5),  # 1: buy 95 (20 / 95 -> 0.2105); the risk stop below
        (94.5, 95.0, 90.2, 90.4),  # 2: the risk stop sells it (see below); one close
        (90.4, 91.0, 89.0, 90.0),  # 3: two: laid at 90: levels 81, 85.5, 90, 94.5, 99
        (90.0, 90.5, 85.0, 86.0),  # 4: buy 85.5 (20 / 85.5 -> 0.2339)
    )
    # The lot cost 0.2105 * 95 * 1.001 = 20.0174975; losing 1 with the 0.2% taker fee on
    # the way out: (20.0174975 - 1) / (0.2105 * 0.998) = 90.5254.. -> a stop at 90.53
    limits = RiskLimits(1.0, 100.0, 3, 0.0, False)

    def sold_by_the_risk_engine(recenter_after: int | None) -> tuple[Grid, ReplayResult]:
        grid = trailing_grid(recenter_after)
        risk = RiskEngine(limits, TAKER)
        broker = SimBroker(
            Fees(MAKER, TAKER, from_received=False), 0.0, FILTERS, FixedQuote(100.0), 1_000.0, risk
        )
        return grid, run_one(grid, broker, frame)

    sold = [
        (1, BUY, 95.0, 0.2105, "grid:buy:1"),
        (2, SELL, 90.53, 0.2105, MAX_LOSS_TAG),
    ]
    grid, result = sold_by_the_risk_engine(recenter_after=2)
    assert_fills(result.fills, [*sold, (4, BUY, 85.5, 0.2339, "grid:buy:1")])
    assert grid.levels == pytest.approx([81.0, 85.5, 90.0, 94.5, 99.0])
    assert grid.recenters == 1 and not grid.stopped
    # 0.2105 * 90.53 * (1 - 0.002) = 19.01845187, less the lot's cost 20.0174975
    assert grid.exit_pnl == pytest.approx(19.01845187 - 20.0174975, abs=1e-9)
    grid, result = sold_by_the_risk_engine(recenter_after=None)
    assert_fills(result.fills, sold)
    assert grid.stopped and grid.recenters == 0


def test_geometric_levels_keep_a_constant_ratio() -> None:
    assert laid(100.0, 121.0, 3, geometric=True) == pytest.approx([100.0, 110.0, 121.0])
    levels = laid(100.0, 200.0, 5, geometric=True)
    assert levels == pytest.approx([100 * 2 ** (i / 4) for i in range(5)])
    assert [b / a for a, b in itertools.pairwise(levels)] == pytest.approx([2**0.25] * 4)
    assert laid(100.0, 108.0, 5, geometric=False) == [100.0, 102.0, 104.0, 106.0, 108.0]
    with pytest.raises(ValueError, match="spacing"):
        Grid(
            lower=100.0, upper=108.0, relative=False, levels=5, spacing="log",
            quote_per_level=20.0, stop_below=None, take_profit_above=None, recenter_after=None,
        )  # fmt: skip


def test_geometric_grid_buys_below_the_first_close() -> None:
    grid = Grid(
        **ABSOLUTE, lower=100.0, upper=121.0, levels=3, spacing="geometric",
        quote_per_level=20.0, stop_below=None,
    )  # fmt: skip
    frame = candles(
        (115.0, 115.5, 114.5, 115.0),  # 0: levels 100, 110, 121: buys at 100 and 110
        (115.0, 115.0, 109.0, 110.5),  # 1: buy 110 (20 / 110 -> 0.1818)
        (110.5, 122.0, 110.2, 121.5),  # 2: sell 121 (the top level)
    )
    result, _ = run(grid, frame)
    assert_fills(
        result.fills,
        [(1, BUY, 110.0, 0.1818, "grid:buy:1"), (2, SELL, 121.0, 0.1818, "grid:sell:2")],
    )


def test_a_sell_for_the_bought_amount_sells_all_of_it() -> None:
    grid = absolute_grid(quote=20.0)  # 20 / 104 -> 0.1923, 20 / 102 -> 0.196
    frame = candles(
        (105.0, 105.5, 104.5, 105.0),
        (105.0, 105.2, 101.5, 102.0),  # buys 104 and 102
        (102.0, 106.5, 101.8, 106.2),  # their sells at 104 and 106
        (106.2, 106.5, 106.0, 106.2),
    )
    result, broker = run(grid, frame)
    assert [f.amount for f in result.fills if f.side is SELL] == [0.196, 0.1923]
    assert broker.position == 0.0


BAD_VALUES = [
    (["strategy.levels=1"], "strategy.levels=1 is not allowed: must be >= 2"),
    (["strategy.lower=0.2"], "strategy.lower=0.2 is not allowed: must be < upper (0.1)"),
    (["strategy.lower=-1.0"], "strategy.lower=-1.0 is not allowed: must be > -1"),
    (["strategy.relative=false"], "strategy.lower=-0.1 is not allowed: must be > 0"),
    (["strategy.spacing=log"], "strategy.spacing='log' is not allowed: one of arithmetic"),
    (["strategy.quote_per_level=0"], "strategy.quote_per_level=0.0 is not allowed"),
    (["strategy.stop_below=1.5"], "strategy.stop_below=1.5 is not allowed: null, or a fraction"),
    (["strategy.take_profit_above=0"], "strategy.take_profit_above=0.0 is not allowed"),
    (["strategy.recenter_after=0"], "strategy.recenter_after=0 is not allowed: must be > 0"),
    (
        ["strategy.relative=false", "strategy.lower=90", "strategy.upper=110"],
        "strategy.recenter_after=24 is not allowed: null unless the bounds are relative",
    ),
    (["strategy.lower=0.05"], "strategy.recenter_after=24 is not allowed: null unless"),
]


@pytest.mark.parametrize(
    ("overrides", "expected"), BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES]
)
def test_bad_grid_values_stop_with_one_line_naming_the_key(
    overrides: list[str], expected: str
) -> None:
    with composed("strategy=grid", *overrides) as cfg, pytest.raises(ConfigError) as error:
        validate(cfg)
    message = str(error.value)
    assert message.splitlines() == [message]
    assert expected in message


def test_grid_option_composes_and_instantiates() -> None:
    with composed("strategy=grid", "strategy.take_profit_above=0.03") as cfg:
        validate(cfg)
        grid = instantiate(cfg.strategy, _convert_="all")
    assert isinstance(grid, Grid)
    assert (grid.bounds, grid.relative, grid.count, grid.spacing) == (
        (-0.1, 0.1),
        True,
        11,
        "geometric",
    )
    assert (grid.quote_per_level, grid.stop_below, grid.take_profit_above) == (15.0, None, 0.03)
    assert grid.recenter_after == 24  # a day of 1h closes
