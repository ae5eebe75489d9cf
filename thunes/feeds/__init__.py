"""Market data as the live engine hears it: closed candles and book ticks, in market time."""
