# Every target does its own set-up: a fresh clone needs only `make serve` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# VARIANT=multilingual: the example with language, translate and mask_names steps (and the models they read).
VARIANT ?= base
EXAMPLE_DIR := build/example-model$(if $(filter base,$(VARIANT)),,-$(VARIANT))

.PHONY: help venv example plugins archive serve check test test-fast bench bench-publish image soak fuzz clean

help:
	@echo "make serve    set up, build and archive the example model, serve it on :8080 (ENGINE=ray: on Ray Serve;"
	@echo "              VARIANT=multilingual: the example that translates and masks names by model)"
	@echo "make test     set up, build the example model, run the checks and the whole test suite"
	@echo "make test-fast  the unit layer alone (not integration, not slow: tests/conftest.py), a couple of minutes"
	@echo "make check    lint and format (ruff), types (mypy), the layers' import contract (import-linter)"
	@echo "make bench    set up, then benchmark: limit, our server, Flask baseline (build/bench)"
	@echo "make bench-publish  a full run's report into docs/bench, its figures into README.md and docs/speed.md"
	@echo "make image    build the SageMaker image $(IMAGE) with docker, else podman (installed if neither is)"
	@echo "make example  build (or reuse) the example model in $(EXAMPLE_DIR)"
	@echo "make fuzz     fuzz a request's whole path on the example model for FUZZ_MINUTES (build/fuzz/corpus kept)"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch would pull gigabytes of CUDA packages.
	$(PY) -m pip install --quiet -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[serve,ray,train,optimize,dev,bench]"
	touch $@

venv: $(STAMP)

PLUGINS_JAR := build/plugins/sagemaker/bsm-plugins.jar

# TorchServe frontend plugins (a /ping that means ready, /execution-parameters, SageMaker-only
# routes), built with javac: build/plugins/local and build/plugins/sagemaker.
$(PLUGINS_JAR): $(STAMP) $(shell find plugins -type f)
	PATH=$(VENV)/bin:$$PATH plugins/build.sh build/plugins

plugins: $(PLUGINS_JAR)

# The example (examples/, from a checkout) reuses the model when its code and recipe are unchanged.
example: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m examples.buyer_intents --variant $(VARIANT) --out $(EXAMPLE_DIR)

archive: example
	./archive.sh $(EXAMPLE_DIR) example

# ENGINE=ray serves the model directory on Ray Serve (bsm serve --engine ray) instead.
ENGINE ?= torchserve
serve: archive plugins
ifeq ($(ENGINE),ray)
	HF_HUB_OFFLINE=1 $(VENV)/bin/bsm serve --engine ray --model-dir $(EXAMPLE_DIR)
else
	$(VENV)/bin/bsm torchserve --model example=example.mar --plugins build/plugins/local \
		--sample $(EXAMPLE_DIR)/samples/requests.csv
endif

# The folders' architecture is a checked contract (pyproject.toml [tool.importlinter]).
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# --durations: CI's log names the slowest tests (candidates for tests/conftest.py's SLOW).
test: check example plugins
	HF_HUB_OFFLINE=1 EXAMPLE_MODEL_DIR=$(EXAMPLE_DIR) BSM_PLUGINS_DIR=build/plugins/sagemaker $(PY) -m pytest --durations=25

# No server and no slow test: what to run between edits (the checks are left to `make check`).
test-fast: example plugins
	HF_HUB_OFFLINE=1 EXAMPLE_MODEL_DIR=$(EXAMPLE_DIR) BSM_PLUGINS_DIR=build/plugins/sagemaker $(PY) -m pytest \
		-m "not integration and not slow and not soak"

# Speed, measured side by side (never asserted in tests): build/bench/results.md and plots.
# BENCH_ARGS=--quick runs every part in about two minutes.
# The multilingual example too: each text step's speed.
bench: example plugins
	$(MAKE) example VARIANT=multilingual
	HF_HUB_OFFLINE=1 $(PY) -m tools.bench --out build/bench $(BENCH_ARGS)

IMAGE ?= bsm-serving:latest

# The SageMaker image (Dockerfile); on a machine that cannot pull its base or reach PyTorch's CPU
# index, a stand-in base and a local torch wheel, said loudly (tools/image/build.sh).
image:
	tools/image/build.sh $(IMAGE)

bench-publish: $(STAMP)
	$(PY) -m tools.bench.publish --run build/bench README.md docs/speed.md

# The long tests: the contract's soak (marker `soak`) at SOAK_REQUESTS fresh requests on each engine, then
# SOAK_MINUTES of fresh requests against make serve's server, the memory of its process tree sampled
# into a curve and judged (build/soak/soak.json, soak.txt).
SOAK_REQUESTS ?= 1000
SOAK_MINUTES ?= 20
soak: example plugins
	HF_HUB_OFFLINE=1 BSM_PLUGINS_DIR=build/plugins/sagemaker BSM_SOAK_REQUESTS=$(SOAK_REQUESTS) \
		$(PY) -m pytest -m soak -o addopts="" tests/integration
	HF_HUB_OFFLINE=1 $(PY) -m tools.bench.soak --minutes $(SOAK_MINUTES) --model-dir $(EXAMPLE_DIR)

clean:
	rm -rf build model_store/*.mar .pytest_cache

# Coverage-guided fuzzing (atheris) of a request's whole path on the example model: codecs,
# validation, text steps, model, answer. `make test` runs a bounded version on a tiny model.
# The corpus grows in build/fuzz/corpus (seeded from tests/fuzz/corpus); a crash or an input over
# its time bound is written to build/fuzz/ and fails the run.
FUZZ_MINUTES ?= 10
fuzz: example
	mkdir -p build/fuzz/corpus && cp -n tests/fuzz/corpus/* build/fuzz/corpus/
	HF_HUB_OFFLINE=1 BSM_FUZZ_MODEL_DIR=$(EXAMPLE_DIR) $(PY) -m tests.fuzz.serving \
		-max_total_time=$$(( $(FUZZ_MINUTES) * 60 )) -timeout=10 -rss_limit_mb=6000 -max_len=4096 \
		-artifact_prefix=build/fuzz/ build/fuzz/corpus
