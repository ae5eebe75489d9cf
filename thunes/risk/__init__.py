"""Hard risk limits shared by every engine."""
