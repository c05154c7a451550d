#!/usr/bin/env bash
# Workload `wasm` of ci/bench: COUNT small WebAssembly components (ci/bench.d/make_components.py:
# valid components of 16 KiB, each with its own digest) pushed to a registry on fresh storage
# through the wan proxy at each round trip of BENCH_RTTS, then pushed again unchanged, each to
# HOST/app:c<i> (the app image's repository, a tag per component), by:
#
#   cnb-artifacts  one `publish` of all of them (`type = "wasm"`, `tag = "c<i>"`, one layer TOML
#                  listing every component), each with the app image as its subject
#   wkg            `wkg oci push --insecure HOST HOST/app:c<i> component<i>.wasm`, wasm-pkg-tools
#                  as ci/interop installs it, one process per component, one after the other as
#                  a CI script's loop would
#
# Usage: ci/bench.d/wasm.sh [COUNT]   (COUNT default 10; environment: ci/bench.d/common.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-10}"
# shellcheck source=ci/bench.d/common.sh
source ci/bench.d/common.sh
bench_init wasm
[[ "${BENCH_WKG:-missing:}" != missing:* ]] || { bench_say "wkg is missing: ${BENCH_WKG#missing:}"; exit 1; }

layers="$work/layers"
components="$layers/bench_wasm/components"
python3 ci/bench.d/make_components.py "$components" "$count"
printf '[[group]]\nid = "bench/wasm"\nversion = "1.0.0"\napi = "0.12"\n' >"$layers/group.toml"
for i in $(seq 1 "$count"); do
    printf '[[additionalArtifact]]\nfile = "component%s.wasm"\ntype = "wasm"\ntag = "c%s"\n\n' "$i" "$i"
done >"$layers/bench_wasm/components.toml"

cnb_publish() { "$BENCH_BIN" publish --layers-dir "$layers" --image "$PROXY_HOST/app:1.0" "${publish_args[@]}"; }
wkg_each() {
    local i
    for i in $(seq 1 "$count"); do
        "$BENCH_WKG" oci push --insecure "$PROXY_HOST" "$PROXY_HOST/app:c$i" "$components/component$i.wasm" || return
    done
}

compare wasm "$count components" "$count" cnb-artifacts=cnb_publish wkg=wkg_each
