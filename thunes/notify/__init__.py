"""Where messages go (console, Apprise)."""
