"""`archgen compare`."""
