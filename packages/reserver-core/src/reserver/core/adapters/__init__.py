"""In-process adapters that need no third-party library: memory storage, clocks, recorders."""
