"""THUNES: a declarative, config-driven crypto trading bot."""

from thunes.jit_cache import key_numba_cache, lighten_numba

key_numba_cache()  # before any of its numba functions is defined: numba reads the folder then
lighten_numba()  # numba's first cached load imports no more than it runs (see jit_cache)
