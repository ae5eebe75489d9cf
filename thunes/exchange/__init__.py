"""Venues. `ccxt_exchange` is the only module that imports ccxt."""
