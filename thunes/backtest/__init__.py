"""The vectorized backtest on vectorbt."""
