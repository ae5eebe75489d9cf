"""Paper and live trading: the replay kernel on a feed's events and a market clock."""
