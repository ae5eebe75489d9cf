"""The domain model shared by every engine: markets, candles, trades."""
