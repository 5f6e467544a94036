"""The benchmark (`make bench`): the raw model's limit, our server and a Flask baseline, in one run."""
