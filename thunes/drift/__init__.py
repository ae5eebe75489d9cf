"""Market-drift monitors."""
