"""Rich renderables and matplotlib plots of what the library computed. Computes nothing itself."""
