"""Candles: loading, validation, gap handling, caching and download."""
