"""A candle's columns, in the order every table of candles keeps them: named here, apart
from the pandas frames of thunes.data.candles, for the engine that runs without pandas."""

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
