"""The state file's tables. A change of layout bumps VERSION: an older file is refused
with one line rather than misread."""

VERSION = 2

TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orders (
    client_id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    price REAL,
    amount REAL,
    quote REAL,
    tag TEXT NOT NULL,
    status TEXT NOT NULL,
    exchange_id TEXT NOT NULL DEFAULT '',
    filled REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX orders_by_status ON orders (status);
CREATE TABLE fills (
    symbol TEXT NOT NULL,
    trade_id INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    side TEXT NOT NULL,
    price REAL NOT NULL,
    amount REAL NOT NULL,
    fee REAL NOT NULL,
    fee_base REAL NOT NULL,
    maker INTEGER NOT NULL,
    remaining REAL NOT NULL,
    tag TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    booked INTEGER NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX fills_unbooked ON fills (booked) WHERE booked = 0;
CREATE INDEX fills_by_time ON fills (time_ms);
CREATE TABLE positions (
    symbol TEXT PRIMARY KEY,
    amount REAL NOT NULL,
    dust REAL NOT NULL,
    cost REAL NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE outside (asset TEXT PRIMARY KEY, amount REAL NOT NULL);
CREATE TABLE balances (
    time_ms INTEGER NOT NULL,
    asset TEXT NOT NULL,
    total REAL NOT NULL,
    PRIMARY KEY (time_ms, asset)
);
CREATE TABLE day_pnl (
    day INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    pnl REAL NOT NULL,
    fees REAL NOT NULL,
    fills INTEGER NOT NULL,
    PRIMARY KEY (day, symbol)
);
CREATE TABLE risk (field TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE sequences (prefix TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE foreign_orders (
    client_id TEXT PRIMARY KEY,
    exchange_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE TABLE pauses (reason TEXT PRIMARY KEY, since_ms INTEGER NOT NULL);
CREATE TABLE resume (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
