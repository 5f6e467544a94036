"""The TorchServe engine: the worker's BaseHandler, the process supervisor and its config.properties."""
