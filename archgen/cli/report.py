"""`archgen report`."""
