"""The typed schema of the composed config, and its checks."""
