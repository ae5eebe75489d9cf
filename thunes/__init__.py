"""THUNES: a declarative, config-driven crypto trading bot."""

from thunes.jit_cache import key_numba_cache

key_numba_cache()  # before any of its numba functions is defined: numba reads the folder then
