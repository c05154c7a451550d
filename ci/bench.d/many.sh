#!/usr/bin/env bash
# Workload `many` of ci/bench: COUNT artifacts of 64 KiB (random bytes, one file each, one tag
# `a<i>` each, in the app image's repository `app`), published to a registry on fresh storage
# through the wan proxy at each round trip of BENCH_RTTS, then published again unchanged, by:
#
#   cnb-artifacts  one `publish` of all of them (a layer TOML per artifact); the re-publish is the
#                  same command again
#   skopeo         `skopeo copy --preserve-digests oci:LAYOUT:app:a<i> docker://HOST/app:a<i>`,
#                  one process per artifact, one after the other as a CI script's loop would,
#                  where LAYOUT is what `publish --layout` wrote for the same plan (the same
#                  blobs and manifests, written once, not timed); again for the re-push
#   oras           the `oras` Python SDK: one process, one OrasClient, one `push()` of the
#                  artifact's file to HOST/app:a<i> per artifact, one after the other; again for
#                  the re-push
#
# Usage: ci/bench.d/many.sh [COUNT]   (COUNT default 100; environment: ci/bench.d/common.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-100}"
# shellcheck source=ci/bench.d/common.sh
source ci/bench.d/common.sh
bench_init many

layers="$work/layers"
mkdir -p "$layers/bench_many"
printf '[[group]]\nid = "bench/many"\nversion = "1.0.0"\napi = "0.12"\n' >"$layers/group.toml"
for i in $(seq 1 "$count"); do
    mkdir -p "$layers/bench_many/l$i"
    printf '[additionalArtifact]\nfile = "f.bin"\ntag = "a%s"\n' "$i" >"$layers/bench_many/l$i.toml"
    head -c 65536 /dev/urandom >"$layers/bench_many/l$i/f.bin"
done
layout="$work/layout"
"$BENCH_BIN" publish --layers-dir "$layers" --image "127.0.0.1:1/app:1.0" --layout "$layout" \
    --digest "$app_digest" --manifest-size "$app_size" >/dev/null

cnb_publish() { "$BENCH_BIN" publish --layers-dir "$layers" --image "$PROXY_HOST/app:1.0" "${publish_args[@]}"; }
skopeo_each() {
    local i
    for i in $(seq 1 "$count"); do
        skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$layout:app:a$i" "docker://$PROXY_HOST/app:a$i" || return
    done
}
oras_each() {
    local args=() i
    for i in $(seq 1 "$count"); do args+=("a$i=$layers/bench_many/l$i/f.bin"); done
    "$BENCH_PYTHON" ci/bench.d/oras_push.py "$PROXY_HOST" app "${args[@]}"
}

compare many "$count × 64 KiB" "$count" cnb-artifacts=cnb_publish skopeo=skopeo_each oras=oras_each
