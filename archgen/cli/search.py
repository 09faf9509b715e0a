"""`archgen search`."""
