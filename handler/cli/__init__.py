"""The console scripts: `bsm` (train, transform, serve, torchserve, ...) and the image's `bsm-container`."""
