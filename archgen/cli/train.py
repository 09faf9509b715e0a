"""`archgen train`."""
