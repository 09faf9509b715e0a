"""`archgen schema`."""
