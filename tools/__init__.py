"""Tools that work from a checkout only, never shipped: the benchmark."""
