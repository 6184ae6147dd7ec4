"""Training utilities shared by every model family."""
