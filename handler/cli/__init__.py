"""Commands: `bsm` (train, transform, serve-local) and the container's `serve`; each parses and delegates."""
