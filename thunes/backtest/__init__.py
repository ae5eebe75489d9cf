"""Backtests: which engine runs, the vectorbt fast path, and the result every engine returns."""
