#!/usr/bin/env bash
# Compile the TorchServe frontend plugins against the SDK inside TorchServe's own jar.
#   OUT_DIR/local/bsm-plugins.jar      ready /ping, /execution-parameters (make serve)
#   OUT_DIR/sagemaker/bsm-plugins.jar  the same plus: only SageMaker's routes (serve)
# usage: plugins/build.sh OUT_DIR [MODEL_SERVER_JAR]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$1
sdk=${2:-$(python3 -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("ts").origin), "frontend", "model-server.jar"))')}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() {  # build NAME SOURCE_SETS...
  local name=$1; shift
  local classes="$work/$name"
  mkdir -p "$classes" "$out/$name"
  local sources=()
  for set in "$@"; do
    while IFS= read -r f; do sources+=("$f"); done < <(find "$here/src/$set/java" -name '*.java')
  done
  javac --release 11 -nowarn -cp "$sdk" -d "$classes" "${sources[@]}"
  # ServiceLoader reads one list per interface: concatenate each source set's.
  mkdir -p "$classes/META-INF/services"
  for set in "$@"; do
    cat "$here/src/$set/resources/META-INF/services/"* >> "$classes/META-INF/services/org.pytorch.serve.servingsdk.ModelServerEndpoint"
  done
  jar --create --file "$out/$name/bsm-plugins.jar" -C "$classes" .
  echo "$out/$name/bsm-plugins.jar"
}

build local main
build sagemaker main sagemaker
