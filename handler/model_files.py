"""The names of a model directory's two files (a module with no heavy imports)."""

MODEL_FILE = "model.pth"  # the network's state dict
ARTIFACTS_FILE = "model_artifacts.pth"  # plain data: schema, processors, tokenizer, labels, config
