"""Run tracking (MLflow)."""
