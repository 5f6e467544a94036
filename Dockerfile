# SageMaker serving image: `docker run IMAGE serve` (real-time, multi-model, batch transform)
# and `docker run IMAGE train`. No model weights inside: SageMaker mounts them at /opt/ml.

# Build arguments; the defaults make the published image (`make image` changes them only where it must).
ARG BASE_IMAGE=python:3.11-slim-bookworm
# Where pip takes torch from: PyTorch's CPU index (the registry's default build drags in CUDA).
# Elsewhere, e.g. "--find-links /wheels" with the CPU wheel's folder mounted there (its local +cpu
# version wins over the registry's build; its dependencies still come from the registry).
ARG TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cpu"
# A CA bundle pip trusts while building, for a TLS-intercepting proxy (unset: the base image's own).
ARG PIP_CERT=

# Stage 1: compile the TorchServe frontend plugins (ready /ping, /execution-parameters).
FROM ${BASE_IMAGE} AS plugins
ARG PIP_CERT
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
COPY constraints.txt /src/constraints.txt
RUN pip install --no-cache-dir ${PIP_CERT:+--cert "$PIP_CERT"} --no-deps -c /src/constraints.txt torchserve
COPY plugins /src/plugins
RUN /src/plugins/build.sh /out \
    "$(python -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("ts").origin), "frontend", "model-server.jar"))')"

# Stage 2: the runtime.
FROM ${BASE_IMAGE}
ARG TORCH_SOURCE
ARG PIP_CERT
LABEL com.amazonaws.sagemaker.capabilities.multi-models=true \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    BSM_PLUGINS_DIR=/opt/bsm/plugins
WORKDIR /opt/bsm/src
COPY constraints.txt pyproject.toml README.md ./
COPY handler ./handler
# torch first, from TORCH_SOURCE; every other version comes from constraints.txt, the set the
# test suite ran with. TORCH_SOURCE is pip options, split into words on purpose.
# hadolint ignore=SC2086
RUN pip install --no-cache-dir ${PIP_CERT:+--cert "$PIP_CERT"} -c constraints.txt ${TORCH_SOURCE} "torch==2.13.0" \
 && pip install --no-cache-dir ${PIP_CERT:+--cert "$PIP_CERT"} -c constraints.txt ".[serve,ray]"
COPY --from=plugins /out/sagemaker/bsm-plugins.jar /opt/bsm/plugins/bsm-plugins.jar
RUN useradd --create-home --uid 1000 bsm
USER 1000
WORKDIR /home/bsm
EXPOSE 8080
# Exec form: `bsm-container` runs as PID 1 and gets SageMaker's SIGTERM itself; it stops the engine
# (TorchServe, or Ray Serve with BSM_ENGINE=ray). SageMaker's `docker run IMAGE serve` passes "serve".
ENTRYPOINT ["bsm-container"]
CMD ["serve"]
