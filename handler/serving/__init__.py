"""Serving: one folder per engine or platform adapter over the engine-agnostic core; none imports another."""
