"""`python -m tests.fakes.binance`: one stand-in account in a process of its own (process.py)."""

from tests.fakes.binance.process import serve

serve()
