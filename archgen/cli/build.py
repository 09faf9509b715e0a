"""`archgen build`."""
