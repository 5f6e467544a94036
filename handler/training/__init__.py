"""Training: fit the processors and the network on a table; where the text encoder comes from."""
