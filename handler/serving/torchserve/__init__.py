"""The TorchServe engine: the worker's BaseHandler, the process supervisor and its config.properties."""

# Under the temp folder TorchServe's frontend and its workers share: why a model cannot load,
# written by the worker (handler.py), read by our /ping plugin (ReadyPing.java).
STATUS_DIR = "bsm-model-status"
