"""`archgen validate`."""
