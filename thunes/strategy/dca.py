"""Dollar-cost averaging: a base buy, safety buys on drops or on a clock, one take-profit.

A cycle opens with a market buy of `quote_amount` at a close. Safety buys follow, each
`volume_multiplier` times the quote of the buy before it, at most `max_safety_orders` of
them: when a close is `drop_pct` below the last buy's fill price, or `every_bars` bars
after the close that decided the last buy (either one, when both are set). After every buy
the take-profit, a sell limit for the whole position at the average entry plus
`take_profit_pct`, is withdrawn and placed again. The cycle ends when the position is gone:
sold by the take-profit (completed) or by anyone else, such as the risk engine's stop
(stopped). The next cycle opens at the first close after that.

State moves only on fills: a buy the broker or the risk engine skipped is asked for again
at the next close, for as long as its condition holds.
"""

from __future__ import annotations

from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.strategy.base import Columns
from thunes.strategy.events import Account, Bar, EventStrategy

BASE_TAG = "dca:base"
SAFETY_TAG = "dca:safety"
TAKE_PROFIT_TAG = "dca:take_profit"


class Dca(EventStrategy):
    """Buys into a fall in growing steps and sells the lot a little above its average."""

    def __init__(
        self,
        *,
        quote_amount: float,
        take_profit_pct: float,
        every_bars: int | None = None,
        drop_pct: float | None = None,
        volume_multiplier: float = 1.0,
        max_safety_orders: int = 0,
    ) -> None:
        if every_bars is None and drop_pct is None:
            raise ValueError("Dca needs every_bars, drop_pct or both to place safety buys")
        self.quote_amount = quote_amount
        self.take_profit_pct = take_profit_pct
        self.every_bars = every_bars
        self.drop_pct = drop_pct
        self.volume_multiplier = volume_multiplier
        self.max_safety_orders = max_safety_orders
        self.cycles_completed = 0  # closed by the take-profit
        self.cycles_stopped = 0  # closed by anyone else (risk stop, kill switch)
        self.peak_committed_quote = 0.0  # the most one cycle took from the cash, fees in
        self._decided_at = 0
        self._new_cycle()

    def _new_cycle(self) -> None:
        self.safety_orders = 0  # safety buys filled in this cycle
        self.amount = 0.0  # base currency bought in this cycle
        self.spent = 0.0  # fill notional of those buys, fees out: the average's numerator
        self.committed_quote = 0.0  # fill notional plus fees: the cash this cycle needs
        self.last_price = 0.0  # fill price of the cycle's last buy
        self.last_buy_bar = 0  # the close that decided it

    @property
    def average_entry(self) -> float | None:
        """Volume-weighted fill price of the current cycle (fees out); None when flat."""
        return self.spent / self.amount if self.amount > 0 else None

    def report(self, last_price: float) -> dict[str, float]:
        return {
            "dca_average_entry": self.average_entry or float("nan"),
            "dca_cycles_completed": self.cycles_completed,
            "dca_cycles_stopped": self.cycles_stopped,
            "dca_peak_committed_quote": self.peak_committed_quote,
        }

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[OrderIntent]:
        if self.amount <= 0:
            return [self._buy(bar, self.quote_amount, BASE_TAG)]
        if self.safety_orders >= self.max_safety_orders or not self._safety_due(bar):
            return []
        n = self.safety_orders + 1
        quote = self.quote_amount * self.volume_multiplier**n
        return [self._buy(bar, quote, f"{SAFETY_TAG}:{n}")]

    def _safety_due(self, bar: Bar) -> bool:
        dropped = self.drop_pct is not None and bar.close <= self.last_price * (1 - self.drop_pct)
        waited = self.every_bars is not None and bar.index - self.last_buy_bar >= self.every_bars
        return dropped or waited

    def _buy(self, bar: Bar, quote: float, tag: str) -> OrderIntent:
        self._decided_at = bar.index  # the clock of `every_bars` starts at the deciding close
        return OrderIntent(Side.BUY, OrderType.MARKET, quote=quote, tag=tag)

    def on_fill(self, fill: Fill, account: Account) -> list[OrderIntent]:
        if fill.side is Side.SELL:
            if account.position > 0:
                return []  # a partial sell: the take-profit still sells whatever is left
            if fill.tag == TAKE_PROFIT_TAG:
                self.cycles_completed += 1
            else:
                self.cycles_stopped += 1
            self._new_cycle()
            return [OrderIntent.cancel(TAKE_PROFIT_TAG)]
        if fill.tag.startswith(SAFETY_TAG):
            self.safety_orders += 1
        self.amount += fill.amount
        self.spent += fill.amount * fill.price
        self.committed_quote += fill.amount * fill.price + fill.fee
        self.peak_committed_quote = max(self.peak_committed_quote, self.committed_quote)
        self.last_price, self.last_buy_bar = fill.price, self._decided_at
        target = self.spent / self.amount * (1 + self.take_profit_pct)
        return [
            OrderIntent.cancel(TAKE_PROFIT_TAG),
            OrderIntent(Side.SELL, OrderType.LIMIT, price=target, tag=TAKE_PROFIT_TAG),
        ]
