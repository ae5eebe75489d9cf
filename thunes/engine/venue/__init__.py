"""The exchange broker's parts (engine/exchange_broker.py puts them together), one concern
a module: the orders queued and at work (working.py), their news for the strategy
(events.py), what an order needs to leave (leaving.py), sending it and the unknown-order
lookups (sending.py), the venue's answers and cancels (news.py), fills and their fees
(booking.py), the protective stop and the max-loss watch (protection.py), the rejections'
circuit breaker (breaker.py), and the broker's settings (limits.py)."""
