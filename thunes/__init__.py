"""THUNES: a declarative, config-driven crypto trading bot."""

from thunes.jit_cache import defer_blas_probe, key_numba_cache

key_numba_cache()  # before any of its numba functions is defined: numba reads the folder then
defer_blas_probe()  # numba's first load need not import scipy.linalg (see jit_cache)
