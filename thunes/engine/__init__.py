"""The event-driven engine: one bar or tick at a time, as paper and live trading run."""
