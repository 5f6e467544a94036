#!/usr/bin/env bash
# Install podman where neither engine is (Debian, as root), with the two settings a sandbox with
# cgroups v1 needs: runc (crun refuses its hybrid mode) and container rlimits it can set.
set -euo pipefail
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup-podman: install docker or podman yourself (this needs root and apt-get)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
conf=/etc/containers/containers.conf
if [ ! -s "$conf" ]; then
    mkdir -p /etc/containers
    cat > "$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
fi
