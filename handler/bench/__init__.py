"""`bsm bench`: the raw model's limit, our server and a Flask baseline, measured in one run."""
