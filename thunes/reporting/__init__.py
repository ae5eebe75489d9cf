"""Run outputs: tables, plots and where they are."""
