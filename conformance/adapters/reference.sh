#!/bin/sh
# Adapter: runs the reference implementation (`cnb-artifacts publish`) under the conformance
# runner's contract (docs/conformance.md). Copy it to adapt another implementation: read the
# CNB_* variables, call your publisher, exit 0 on success and non-zero on any failure.
#
#   CNB_ARTIFACTS_BIN   the cnb-artifacts binary (default: `cnb-artifacts` on PATH)
#   extra arguments     are passed on to `cnb-artifacts publish` (e.g. --referrers fallback)
set -eu

bin="${CNB_ARTIFACTS_BIN:-cnb-artifacts}"

if [ "${1:-}" = "--version" ]; then
    exec "$bin" --version
fi

set -- publish \
    --layers-dir "$CNB_LAYERS_DIR" \
    --image "$CNB_OUTPUT_IMAGE" \
    --report "$CNB_ARTIFACTS_REPORT" \
    --digest "$CNB_ARTIFACTS_DIGEST" \
    --manifest-size "$CNB_ARTIFACTS_MANIFEST_SIZE" \
    --manifest-media-type "$CNB_ARTIFACTS_MANIFEST_MEDIA_TYPE" \
    "$@"

for tag in ${CNB_ARTIFACTS_TAGS:-}; do
    set -- "$@" --tag "$tag"
done

if [ "${CNB_ARTIFACTS_INSECURE:-false}" = "true" ]; then
    set -- "$@" --insecure-registry "$CNB_ARTIFACTS_REGISTRY"
fi

if [ "${CNB_ARTIFACTS_OVERWRITE:-false}" = "true" ]; then
    set -- "$@" --overwrite
fi

exec "$bin" "$@"
