"""The strategies' rules when an order fills in parts, worked out by hand.

The broker does not split fills yet, so the parts are handed to each strategy's face as
`Fill(..., remaining=...)`; every answer is checked against `compiled.on_fill` (the batch
loop's entry point) run on a copy of the vector: the same rows, the same vector after.
`rest` keeps the book a venue would: a cancel withdraws the orders whose tag it starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.engine.lanes import run_one
from thunes.data.candles import as_columns
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import CancelOrders, Command, Fill, OrderIntent, OrderType, Side
from thunes.domain.tags import TAGS
from thunes.engine.replay import ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.portfolio.sizing import FixedQuote
from thunes.strategy import compiled
from thunes.strategy import grid_rules as gr
from thunes.strategy.base import Signals
from thunes.strategy.dca import Dca
from thunes.strategy.events import Bar
from thunes.strategy.grid import Grid
from thunes.strategy.grid_rules import GridLevel
from thunes.strategy.signal_runner import SignalRunner
from thunes.strategy.sma_cross import SmaCross

BUY, SELL = Side.BUY, Side.SELL
MARKET, LIMIT, STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP
FEE = 0.001  # of the notional, on every part


@dataclass
class Holding:
    """The account as a strategy reads it: the position after the bar's fills."""

    position: float
    cash: float = 0.0

    def equity(self, price: float) -> float:
        return self.cash + self.position * price


ABSOLUTE: dict[str, Any] = {  # a grid between two prices, nothing else
    "relative": False,
    "spacing": "arithmetic",
    "stop_below": None,
    "take_profit_above": None,
    "recenter_after": None,
}
ONE_CYCLE: dict[str, Any] = {"every_bars": None, "volume_multiplier": 1.0, "max_safety_orders": 0}


def part(bar: int, side: Side, price: float, amount: float, tag: str, remaining: float) -> Fill:
    return Fill(bar, side, price, amount, amount * price * FEE, tag, remaining=remaining)


def heard(strategy: SignalRunner | Dca | Grid, fill: Fill, position: float) -> list[Command]:
    """The face's answer to `fill`, which compiled.on_fill must give too."""
    state, out = strategy.state.copy(), np.zeros_like(strategy.out)
    answer = strategy.on_fill(fill, Holding(position))
    n = compiled.on_fill(
        fill.side is BUY,
        fill.price,
        fill.amount,
        fill.fee,
        TAGS.code(fill.tag),
        fill.remaining,
        position,
        state,
        out,
    )
    assert compiled.as_intents(out[:n]) == answer
    np.testing.assert_array_equal(state, strategy.state)
    return answer


def closed(index: int, close: float, high: float | None = None) -> Bar:
    return Bar(index, 0, close, close if high is None else high, close, close, 1.0)


def rest(book: list[OrderIntent], commands: list[Command]) -> list[OrderIntent]:
    for command in commands:
        if isinstance(command, CancelOrders):
            book = [o for o in book if not o.tag.startswith(command.tag)]
        else:
            book = [*book, command]
    return book


def resting(book: list[OrderIntent]) -> list[tuple[str, OrderType, float | None, float | None]]:
    return sorted((o.tag, o.type, o.price, o.amount) for o in book)


def exits(stop_loss: float, take_profit: float, trailing: float) -> list[tuple[object, ...]]:
    """One of each, for whatever is held (no amount), at these prices."""
    return [
        ("exit:stop_loss", STOP, pytest.approx(stop_loss, rel=1e-12), None),
        ("exit:take_profit", LIMIT, pytest.approx(take_profit, rel=1e-12), None),
        ("exit:trailing", STOP, pytest.approx(trailing, rel=1e-12), None),
    ]


def test_an_entry_in_three_parts_rests_one_set_of_exits_at_its_average_price() -> None:
    """Stop-loss 5%, take-profit 10%, trailing 8%, from the parts' volume-weighted price."""
    entries = np.zeros(6, np.bool_)
    entries[[0, 4]] = True
    strategy = SmaCross(2, 3, "sma", stop_loss=0.05, take_profit=0.10, trailing_stop=0.08)
    runner = SignalRunner(strategy, Signals(entries, np.zeros(6, np.bool_)))
    entry = runner.on_bar(closed(0, 100.0), {}, Holding(0.0))
    assert entry == [OrderIntent(BUY, MARKET, tag="entry")]  # it fills in the parts below
    book: list[OrderIntent] = []

    # 0.5 at 100: the reference is 100 -> stop 95, target 110, trailing 92
    book = rest(book, heard(runner, part(1, BUY, 100.0, 0.5, "entry", 1.5), 0.5))
    assert resting(book) == exits(95.0, 110.0, 92.0)
    # 1.0 at 103: (50 + 103) / 1.5 = 102 -> 96.9, 112.2, the peak 102 -> 93.84
    answer = heard(runner, part(1, BUY, 103.0, 1.0, "entry", 0.5), 1.5)
    assert answer[0] == CancelOrders("exit")
    book = rest(book, answer)
    assert resting(book) == exits(96.9, 112.2, 93.84)
    # the close of bar 1, high 106: the trailing stop rises to 106 * 0.92 = 97.52
    book = rest(book, runner.on_bar(closed(1, 104.0, high=106.0), {}, Holding(1.5)))
    assert resting(book) == exits(96.9, 112.2, 97.52)
    # 0.5 at 101, the last: (153 + 50.5) / 2 = 101.75 -> 96.6625, 111.925; trailing kept
    book = rest(book, heard(runner, part(2, BUY, 101.0, 0.5, "entry", 0.0), 2.0))
    assert resting(book) == exits(96.6625, 111.925, 97.52)

    # the trailing stop sells the 2.0 in two parts: the first leaves the exits resting,
    # the one that empties the position withdraws them
    assert heard(runner, part(3, SELL, 97.52, 1.2, "exit:trailing", 0.8), 0.8) == []
    book = rest(book, heard(runner, part(3, SELL, 97.52, 0.8, "exit:trailing", 0.0), 0.0))
    assert book == []
    # flat again: the next entry's reference is its own price, not mixed with the last
    assert runner.on_bar(closed(4, 90.0), {}, Holding(0.0)) == [
        OrderIntent(BUY, MARKET, tag="entry")
    ]
    book = rest(book, heard(runner, part(5, BUY, 90.0, 1.0, "entry", 1.0), 1.0))
    assert resting(book) == exits(85.5, 99.0, 82.8)


def test_a_grid_level_bought_and_sold_in_parts_trades_its_whole_lot_once() -> None:
    """Levels 100..108 by 2, 25 quote a level: the buy at 104 (0.2403) in three parts, then
    its lot's sell at 106 in two."""
    grid = Grid(lower=100.0, upper=108.0, levels=5, quote_per_level=25.0, **ABSOLUTE)
    grid.on_bar(closed(0, 105.0), {}, Holding(0.0))  # buys at 100, 102, 104
    buy = "grid:buy:2"
    assert heard(grid, part(1, BUY, 104.0, 0.1, buy, 0.1403), 0.1) == []
    assert heard(grid, part(1, BUY, 104.0, 0.1, buy, 0.0403), 0.2) == []
    assert grid.unrealised_inventory(104.0)[0] == pytest.approx(0.2)  # held, not yet offered
    assert grid.fills_per_level == {}  # counts orders filled in full
    sell = heard(grid, part(2, BUY, 104.0, 0.0403, buy, 0.0), 0.2403)
    assert resting(rest([], sell)) == [("grid:sell:3", LIMIT, 106.0, pytest.approx(0.2403))]
    assert grid.fills_per_level == {2: 1}

    # the sell's first part books its share: 0.15 * (106 * 0.999 - 104 * 1.001) = 0.2685
    assert heard(grid, part(3, SELL, 106.0, 0.15, "grid:sell:3", 0.0903), 0.0903) == []
    assert grid.grid_profit == pytest.approx(0.2685, abs=1e-12)
    assert grid.unrealised_inventory(106.0)[0] == pytest.approx(0.0903)
    assert grid.fills_per_level == {2: 1}
    # the last part: the round trip of 0.2403 is booked (0.2403 * 1.79 = 0.430137), and
    # the level below buys again
    again = heard(grid, part(3, SELL, 106.0, 0.0903, "grid:sell:3", 0.0), 0.0)
    assert again == [OrderIntent(BUY, LIMIT, None, 25.0, 104.0, "grid:buy:2")]
    assert grid.grid_profit == pytest.approx(0.430137, abs=1e-12)
    assert grid.unrealised_inventory(106.0) == (0.0, 0.0)
    assert grid.fills_per_level == {2: 1, 3: 1}


def test_a_grid_stop_filled_in_part_ends_the_grid_and_sells_the_rest_at_the_open() -> None:
    """Its rest is withdrawn with every grid order (a cancel cannot spare it)."""
    grid = Grid(
        lower=100.0, upper=108.0, levels=5, quote_per_level=25.0, **{**ABSOLUTE, "stop_below": 0.05}
    )
    grid.on_bar(closed(0, 105.0), {}, Holding(0.0))  # buys at 100, 102, 104; stop at 95
    heard(grid, part(1, BUY, 104.0, 0.2403, "grid:buy:2", 0.0), 0.2403)
    answer = heard(grid, part(2, SELL, 95.0, 0.1, "grid:stop", 0.1403), 0.1403)
    assert answer == [CancelOrders("grid:"), OrderIntent(SELL, MARKET, tag="grid:exit")]
    assert grid.stopped
    assert heard(grid, part(3, SELL, 94.0, 0.1403, "grid:exit", 0.0), 0.0) == []
    # both parts of the sale less the lot's cost, fees in:
    # 0.1 * 95 * 0.999 + 0.1403 * 94 * 0.999 - 0.2403 * 104 * 1.001
    # = 9.4905 + 13.1750118 - 25.0161912 = -2.3506794
    assert grid.exit_pnl == pytest.approx(-2.3506794, abs=1e-9)


def test_a_dca_safety_buy_in_parts_counts_once_and_moves_the_take_profit() -> None:
    """Base 50 at 100 (0.5); safety 1, 150 quote, in three parts of 0.5 at 96, 94, 92."""
    dca = Dca(
        quote_amount=50.0,
        every_bars=None,
        drop_pct=0.05,
        volume_multiplier=3.0,
        max_safety_orders=2,
        take_profit_pct=0.02,
    )
    base = dca.on_bar(closed(0, 100.0), {}, Holding(0.0))
    assert base == [OrderIntent(BUY, MARKET, quote=50.0, tag="dca:base")]
    book = rest([], heard(dca, part(1, BUY, 100.0, 0.5, "dca:base", 0.0), 0.5))
    safety = dca.on_bar(closed(1, 94.0), {}, Holding(0.5))  # 94 <= 95
    assert safety == [OrderIntent(BUY, MARKET, quote=150.0, tag="dca:safety:1")]

    def take_profit(target: float) -> list[tuple[object, ...]]:
        return [("dca:take_profit", LIMIT, pytest.approx(target, rel=1e-12), None)]

    tag = "dca:safety:1"
    # average 98 -> target 99.96; the last buy's price so far 96: no safety at 92 > 91.2
    book = rest(book, heard(dca, part(2, BUY, 96.0, 0.5, tag, 1.0), 1.0))
    assert resting(book) == take_profit(99.96)
    assert dca.on_bar(closed(2, 92.0), {}, Holding(1.0)) == []
    # average 145 / 1.5 -> target 98.6; the buy's price (96 + 94) / 2 = 95: none at 91
    book = rest(book, heard(dca, part(3, BUY, 94.0, 0.5, tag, 0.5), 1.5))
    assert resting(book) == take_profit(145.0 / 1.5 * 1.02)
    assert dca.on_bar(closed(3, 91.0), {}, Holding(1.5)) == []
    # average 191 / 2 = 95.5 -> target 97.41; the buy's price 94: at 89 <= 89.3 the next
    # safety buy is the second one, 50 * 3 ** 2 = 450
    book = rest(book, heard(dca, part(4, BUY, 92.0, 0.5, tag, 0.0), 2.0))
    assert resting(book) == take_profit(97.41)
    assert dca.average_entry == pytest.approx(95.5, rel=1e-12)
    assert dca.peak_committed_quote == pytest.approx(191.0 * 1.001, rel=1e-12)
    assert dca.on_bar(closed(4, 89.0), {}, Holding(2.0)) == [
        OrderIntent(BUY, MARKET, quote=450.0, tag="dca:safety:2")
    ]


def test_a_dca_take_profit_in_parts_ends_the_cycle_once() -> None:
    """0.5 bought at 100; the take-profit at 102 sells 0.2 in bar 2, then 0.2 and 0.1 in bar
    3, whose fills both see the position the bar left: nothing."""
    dca = Dca(**ONE_CYCLE, quote_amount=50.0, drop_pct=0.05, take_profit_pct=0.02)
    dca.on_bar(closed(0, 100.0), {}, Holding(0.0))
    heard(dca, part(1, BUY, 100.0, 0.5, "dca:base", 0.0), 0.5)
    tag = "dca:take_profit"
    assert heard(dca, part(2, SELL, 102.0, 0.2, tag, 0.3), 0.3) == []
    assert dca.average_entry == pytest.approx(100.0, rel=1e-12)  # a sale leaves it
    assert dca.cycles_completed == 0
    assert heard(dca, part(3, SELL, 102.0, 0.2, tag, 0.1), 0.0) == [CancelOrders(tag)]
    assert heard(dca, part(3, SELL, 102.0, 0.1, tag, 0.0), 0.0) == []
    assert dca.cycles_completed == 1
    assert dca.average_entry is None
    assert dca.peak_committed_quote == pytest.approx(50.05, rel=1e-12)
    assert dca.on_bar(closed(3, 101.0), {}, Holding(0.0)) == [
        OrderIntent(BUY, MARKET, quote=50.0, tag="dca:base")
    ]


def walk(bars: int) -> pd.DataFrame:
    """Hourly candles of a seeded random walk around 100 (1% a bar)."""
    rng = np.random.default_rng(3)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.01, bars))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.01, bars))
    index = pd.date_range("2024-01-01", periods=bars, freq="1h", tz="UTC", name="timestamp")
    columns = {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}
    return pd.DataFrame(columns, index=index)


WALK = walk(800)


def split_run(strategy: SignalRunner | Dca | Grid, batch: bool) -> tuple[ReplayResult, SimBroker]:
    """At most 0.2 of any order fills in a bar: 50 quote at ~100 fills in 3 parts."""
    filters = MarketFilters(tick_size=0.01, step_size=0.0001, min_qty=0.0001, min_notional=5.0)
    broker = SimBroker(
        Fees(FEE, FEE, from_received=False),
        0.0,
        filters,
        FixedQuote(50.0),
        10_000.0,
        max_fill_per_bar=0.2,
    )
    return run_one(strategy, broker, WALK, batch=batch), broker


def test_a_grid_in_split_fills_runs_alike_in_both_engines_and_its_books_add_up() -> None:
    grids = [
        Grid(
            **{**ABSOLUTE, "relative": True}, lower=-0.1, upper=0.1, levels=15, quote_per_level=50.0
        )
        for _ in "ab"
    ]
    (event, broker), (batch, _) = split_run(grids[0], False), split_run(grids[1], True)
    assert sum(f.remaining > 0 for f in event.fills) > 20  # it did fill in parts
    assert event.fills == batch.fills
    np.testing.assert_array_equal(grids[0].state, grids[1].state)
    grid = grids[0]
    held, _ = grid.unrealised_inventory(0.0)
    assert held == pytest.approx(broker.position, abs=1e-9)
    cost = gr.py_sum(gr.lots(grid.state, GridLevel.LOT_COST))
    gained = grid.grid_profit + grid.exit_pnl - cost
    assert broker.cash - 10_000.0 == pytest.approx(gained, abs=1e-9)
    # a level counts its orders done, not their parts
    assert sum(grid.fills_per_level.values()) == sum(f.remaining == 0 for f in event.fills)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Dca(
            quote_amount=50.0,
            every_bars=None,
            drop_pct=0.02,
            volume_multiplier=1.0,
            max_safety_orders=2,
            take_profit_pct=0.01,
        ),
        lambda: SignalRunner(
            SmaCross(5, 20, "sma", stop_loss=0.02, take_profit=0.03, trailing_stop=0.02),
            SmaCross(5, 20, "sma", None, None, None).signals(as_columns(WALK)),
        ),
    ],
)
def test_dca_and_signal_in_split_fills_run_alike_in_both_engines(
    make: Callable[[], Dca | SignalRunner],
) -> None:
    first, second = make(), make()
    (event, broker), (batch, _) = split_run(first, False), split_run(second, True)
    assert sum(f.remaining > 0 for f in event.fills) > 20
    assert event.fills == batch.fills
    np.testing.assert_array_equal(first.state, second.state)
    tags = [o.tag for o in broker.resting]
    assert len(tags) == len(set(tags))  # never two of one exit
