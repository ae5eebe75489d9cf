"""mode=download: fetch a venue's candles into the parquet cache, resumably."""

from __future__ import annotations

from omegaconf import DictConfig
from rich.console import Console

from thunes.components import build
from thunes.data.sources import ExchangeCandleSource
from thunes.errors import ConfigError


def run(cfg: DictConfig) -> None:
    parts = build(cfg)
    if not parts.exchange.needs_network:
        raise ConfigError(
            f"exchange={parts.exchange.name} generates its candles; "
            "mode=download needs a real venue, e.g. exchange=binance"
        )
    if not isinstance(parts.data, ExchangeCandleSource):
        raise ConfigError("mode=download fills the exchange cache: use data=exchange")
    candles = parts.data.load(parts.exchange, parts.market)
    frame = candles.frame
    path = parts.data.store.path(parts.exchange.name, parts.market.symbol, candles.timeframe)
    Console().print(
        f"{len(frame):,} {parts.market.symbol} {candles.timeframe} candles, "
        f"{frame.index[0]} .. {frame.index[-1]}; gaps: {candles.gaps.describe()}\n"
        f"cached in {path}"
    )
