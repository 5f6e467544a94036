#!/usr/bin/env bash
# Compile the TorchServe frontend plugins against the SDK inside TorchServe's own jar.
# usage: plugins/build.sh OUTPUT_JAR [MODEL_SERVER_JAR]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$1
sdk=${2:-$(python3 -c 'import os, ts; print(os.path.join(os.path.dirname(ts.__file__), "frontend", "model-server.jar"))')}
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
javac --release 11 -nowarn -cp "$sdk" -d "$classes" $(find "$here/src/main/java" -name '*.java')
cp -r "$here/src/main/resources/." "$classes/"
mkdir -p "$(dirname "$out")"
jar --create --file "$out" -C "$classes" .
echo "$out"
