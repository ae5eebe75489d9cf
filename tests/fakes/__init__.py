"""Local stand-ins for venues, talked to by the real clients over 127.0.0.1."""
