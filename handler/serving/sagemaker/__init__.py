"""SageMaker: its environment variables, model and training layout, and batch transform, for any engine."""
