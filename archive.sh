#!/usr/bin/env bash
# Package a model directory (model.pth + model_artifacts.pth; code/, openvino/ and its text steps' model
# folders if it has them) into model_store/<name>.mar.
# The archive carries the handler package, so it loads on any TorchServe whose Python has
# the dependencies, without this project installed.
#
# usage: archive.sh MODEL_DIR [NAME] [--config model-config.yaml] [--store DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config="$root/model-config.yaml"
store="$root/model_store"
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --store) store=$2; shift 2 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -ge 1 ] || { sed -n 2,7p "$0" >&2; exit 2; }
model_dir=${positional[0]}
name=${positional[1]:-$(basename "$model_dir")}

for file in model.pth model_artifacts.pth; do
  [ -f "$model_dir/$file" ] || { echo "archive.sh: $model_dir/$file not found" >&2; exit 1; }
done
[ -f "$config" ] || { echo "archive.sh: config $config not found" >&2; exit 1; }
archiver=$(command -v torch-model-archiver || echo "$root/.venv/bin/torch-model-archiver")
bsm=$(command -v bsm || echo "$root/.venv/bin/bsm")

# Stage a clean copy of the package: no caches, no editable-install leftovers.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# torch-model-archiver copies the contents of an extra-files folder to the archive root,
# so the package goes one level down: the archive then holds handler/... as a package.
mkdir -p "$stage/code/handler"
(cd "$root/handler" && find . -name '*.py' -not -path '*/__pycache__/*' -exec cp --parents {} "$stage/code/handler/" \;)
# With it, the package's processor entry points (pyproject.toml): the steps with a model of their own are found by them.
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/handler/__init__.py")
[ -n "$version" ] || { echo "archive.sh: no __version__ in $root/handler/__init__.py" >&2; exit 1; }
meta="$stage/code/bsm_serving-$version.dist-info"
mkdir -p "$meta"
printf 'Metadata-Version: 2.1\nName: bsm-serving\nVersion: %s\n' "$version" >"$meta/METADATA"
awk '/^\[/ { group = ($0 == "[project.entry-points.\"bsm_serving.processors\"]") }
     group && /^\[/ { print "[bsm_serving.processors]" }
     group && /=/ { gsub(/"/, ""); print }' "$root/pyproject.toml" >"$meta/entry_points.txt"

# The model's own code/ folder (custom codecs: code/codecs.py), openvino/ folder (the encoder
# compiled ahead of time by `bsm optimize`) and the folders its text steps read (a translation or
# NER model, as `bsm describe --folders` lists them) go to the archive root under the same names.
extra="$model_dir/model_artifacts.pth,$stage/code"
mkdir -p "$stage/model"
mapfile -t step_folders < <("$bsm" describe --folders "$model_dir")
for folder in "${step_folders[@]}"; do
  [ -d "$model_dir/$folder" ] || { echo "archive.sh: $model_dir/$folder not found (a text step of the model reads it)" >&2; exit 1; }
done
for folder in code openvino "${step_folders[@]}"; do
  if [ -d "$model_dir/$folder" ]; then
    mkdir -p "$stage/model/$(dirname "$folder")"
    cp -r "$model_dir/$folder" "$stage/model/$folder"
  fi
done
[ -z "$(ls -A "$stage/model")" ] || extra="$extra,$stage/model"

mkdir -p "$store"
"$archiver" \
  --model-name "$name" \
  --version 1.0 \
  --handler "$root/handler/ts_handler.py" \
  --serialized-file "$model_dir/model.pth" \
  --extra-files "$extra" \
  --config-file "$config" \
  --export-path "$store" \
  --force
echo "$store/$name.mar"
