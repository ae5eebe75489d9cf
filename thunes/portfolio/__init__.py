"""Position sizing: how much quote currency an entry commits."""
