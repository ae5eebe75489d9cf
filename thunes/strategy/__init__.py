"""Strategies: one definition of the rules, run by every engine."""
