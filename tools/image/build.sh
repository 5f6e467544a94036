#!/usr/bin/env bash
# Build the SageMaker image (`make image`): docker where its daemon answers, else podman.
#
# Defaults are the published image's: python:3.11-slim-bookworm and torch from PyTorch's CPU
# index. Where those cannot be reached (no image registry, no PyTorch index), it says so and
# uses a stand-in base made from Debian's packages and a local torch wheel instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

image="${1:-bsm-serving:latest}"
base="python:3.11-slim-bookworm"
wheels="${TORCH_WHEELS:-/opt/wheels}"  # a folder holding torch-2.13.0+cpu's wheel, used only when the index is out of reach

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker
elif command -v podman >/dev/null || tools/image/setup-podman.sh; then
    engine=podman
else
    echo "make image: neither docker (with a running daemon) nor podman is available" >&2
    exit 1
fi
args=(--tag "$image" --file Dockerfile)
[ "$engine" = podman ] && args+=(--network=host --pull=never)

if ! "$engine" image inspect "$base" >/dev/null 2>&1 && ! "$engine" pull "$base" >/dev/null 2>&1; then
    if [ "$engine" != podman ]; then
        echo "make image: cannot pull $base" >&2
        exit 1
    fi
    echo "make image: $base cannot be pulled here: building a STAND-IN from Debian's packages (tools/image/standin-base.sh)" >&2
    tools/image/standin-base.sh "$base"
fi

if curl --silent --fail --max-time 10 --output /dev/null https://download.pytorch.org/whl/cpu/torch/; then
    :  # the Dockerfile's default: PyTorch's CPU index
elif [ "$engine" = podman ] && compgen -G "$wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
    echo "make image: PyTorch's CPU index is out of reach: torch comes from $wheels" >&2
    args+=(--volume "$wheels:/wheels:ro" --build-arg "TORCH_SOURCE=--find-links /wheels")
else
    echo "make image: PyTorch's CPU index is out of reach and no torch wheel is in $wheels (TORCH_WHEELS)" >&2
    exit 1
fi

# A TLS-intercepting proxy's CA (pip's own PIP_CERT here): lent to the build's pip, never copied in.
if [ "$engine" = podman ] && [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    args+=(--volume "$PIP_CERT:/run/bsm-build-ca.crt:ro" --build-arg "PIP_CERT=/run/bsm-build-ca.crt")
fi

began=$(date +%s)
"$engine" build "${args[@]}" .
echo "make image: $image built by $engine in $(( $(date +%s) - began )) s, $("$engine" image inspect --format '{{.Size}}' "$image") bytes"
