"""THUNES: a declarative, config-driven crypto trading bot."""
