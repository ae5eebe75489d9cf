"""What `thunes mode=...` runs."""
