"""Examples that work from a checkout only, never shipped: the example model and its data."""
