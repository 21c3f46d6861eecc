"""Consumer handlers, one module per event family."""
