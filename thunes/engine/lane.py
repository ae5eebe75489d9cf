"""One symbol as the event engine runs it: what both of its faces (per event, compiled)
take, so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from thunes.execution.broker import Broker
from thunes.strategy.events import EventStrategy


@dataclass
class Lane:
    """One symbol: its candles, its own strategy instance and its broker."""

    strategy: EventStrategy
    broker: Broker
    candles: pd.DataFrame
