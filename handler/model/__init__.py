"""The model: the network, the artifact format and execution modes; here only the file names (no torch)."""

MODEL_FILE = "model.pth"  # the network's state dict
ARTIFACTS_FILE = "model_artifacts.pth"  # plain data: schema, processors, tokenizer, labels, config
