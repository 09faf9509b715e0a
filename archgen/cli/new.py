"""`archgen new`."""
