#!/usr/bin/env bash
# Builds the test registry image cnb-artifacts/registry:2.8.2 from the local docker-registry
# binary (apt-get install -y docker-registry), with no image pull. The Rust code
# (conformance/src/provider/image.rs) builds the same image by itself when it is missing; this script is
# for people. Usage: ci/registry/build-image.sh [image-name]
set -euo pipefail

image="${1:-cnb-artifacts/registry:2.8.2}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(command -v docker-registry || true)"
if [[ -z "$bin" ]]; then
    echo "docker-registry not found: install it with 'apt-get install -y docker-registry'" >&2
    exit 1
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin"
cp "$bin" "$ctx/rootfs/usr/bin/docker-registry"
# Every library ldd names by absolute path (the loader too), copied to that same path.
for lib in $(ldd "$bin" | grep -o '/[^ ]*' || true); do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
done
cp "$here/Dockerfile" "$here/config.yml" "$ctx/"

version="$("$bin" --version | awk '{print $NF}')"
docker build --build-arg "REGISTRY_VERSION=$version" -t "$image" "$ctx"
echo "built $image (docker-registry $version)"
