"""The Ray Serve engine: the same model contract as TorchServe, and scale-out past one machine (extra `ray`)."""
