#!/usr/bin/env bash
# A STAND-IN for python:3.11-slim-bookworm on a machine that cannot pull it: Debian's Python 3.11
# with a venv at /usr/local, so python and pip sit where the official image has them. Close
# enough to test the Dockerfile's steps, paths, user and entry point; never publish an image on it.
set -euo pipefail
name="${1:-python:3.11-slim-bookworm}"
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
chroot "$rootfs" python3 -m venv /usr/local
tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.opencontainers.image.description="STAND-IN base from Debian packages (tools/image/standin-base.sh)"' \
    --change 'CMD ["python3"]' - "docker.io/library/$name" >/dev/null
echo "standin-base: imported a stand-in as docker.io/library/$name" >&2
