"""What a live or paper run must not forget: orders, fills, positions and the risk state in
SQLite (written before they are acted on), reconciled with the exchange, under one lock per
account, with the periodic jobs that keep it so."""
