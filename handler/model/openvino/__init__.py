"""The text encoder on OpenVINO: the runtime, the IR files, conversion, the int8 word table, the compiled encoder."""
