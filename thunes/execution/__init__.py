"""Order checks before anything leaves: exchange filters."""
