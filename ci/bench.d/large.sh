#!/usr/bin/env bash
# Workload `large` of ci/bench (its original benchmark): one file per size, one generic artifact,
# on one local docker-registry with fresh storage for every measurement, registry on loopback (no
# proxy). For each size (random bytes):
#   publish   cnb-artifacts publish --layers-dir … --image REG/app:1.0 (plan included: it hashes
#             the file, then streams it once more, checking its length; the registry checks the
#             digest); also with --chunk-size 8 MiB (the default is 1 MiB)
#   skopeo    skopeo copy --preserve-digests oci:LAYOUT:app:bench docker://REG/app:bench, where
#             LAYOUT is what `publish --layout` wrote for the same plan (same blobs, same manifest)
#   curl      the practical limit: POST /v2/app/blobs/uploads/, then one streamed monolithic
#             `curl -T FILE` PUT to <location>&digest=… (digest computed beforehand, not timed)
#   republish the same publish again, unchanged: wall time and blob bytes uploaded (must be 0,
#             read from --report-out)
# and once: `plan` over 1,000 generated layer TOMLs, and a full conformance run's wall time when
# `cnb-artifacts conformance run` exists (or that it failed). Wall time by the clock, peak RSS
# by /usr/bin/time (GNU time), each measurement repeated REPS times; the CPU time the registry
# process spent during each measurement (from /proc/PID/stat) shows where the limit is. Appends
# one line per measurement to RESULTS (kind, size, seconds, peak RSS KiB, registry CPU
# seconds), which ci/bench.d/report.py reads.
#
# Usage: ci/bench.d/large.sh BIN RESULTS REPS "SIZES_MIB"
# Needs about 3× the largest size free under ${TMPDIR:-/tmp}; everything is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$1" results="$2" reps="$3" sizes="$4"

work="$(mktemp -d "${TMPDIR:-/tmp}/cnb-bench-large.XXXXXX")"
# shellcheck source=ci/interop.d/registry.sh
source ci/interop.d/registry.sh
trap 'stop_registry; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
say() { echo "ci/bench (large): $*" >&2; }


# registry_cpu: CPU seconds (user + system) the running registry process has used so far.
registry_cpu() {
    if [[ -n "$REGISTRY_PID" && -r "/proc/$REGISTRY_PID/stat" ]]; then
        awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$REGISTRY_PID/stat"
    else
        echo NA
    fi
}

# measure KIND SIZE_BYTES CMD... : runs CMD, appends "kind size seconds peak_rss_kib
# registry_cpu_seconds" to results.
measure() {
    local kind="$1" size="$2" start end cpu0 cpu1
    shift 2
    cpu0="$(registry_cpu)"
    start="$(date +%s.%N)"
    /usr/bin/time -f '%M' -o "$work/time.out" "$@" >"$work/cmd.out" 2>"$work/cmd.err" || {
        say "$kind failed: $*"
        cat "$work/cmd.out" "$work/cmd.err" >&2
        return 1
    }
    end="$(date +%s.%N)"
    cpu1="$(registry_cpu)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$size" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')" \
        "$(tail -n 1 "$work/time.out")" \
        "$(if [[ "$cpu0" == NA || "$cpu1" == NA ]]; then echo NA; else awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }'; fi)" >>"$results"
}

# fresh_registry: a registry on new, empty storage, holding only the app image.
python3 ci/interop.d/app_layout.py "$work/app-layout"
fresh_registry() {
    stop_registry
    rm -rf "$work/registry"
    start_registry "$work/registry" "$work/registry.log"
    skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$work/app-layout:app" "docker://$REGISTRY/app:1.0"
}
app_digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/app-layout/index.json")"
app_size="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["size"])' "$work/app-layout/index.json")"


for mib in $sizes; do
    size=$((mib * 1024 * 1024))
    layers="$work/layers-$mib"
    mkdir -p "$layers/bench_blob/blob"
    printf '[[group]]\nid = "bench/blob"\nversion = "1.0.0"\napi = "0.12"\n' >"$layers/group.toml"
    printf '[additionalArtifact]\nfile = "blob.bin"\ntag = "bench"\n' >"$layers/bench_blob/blob.toml"
    say "writing $mib MiB of random bytes"
    head -c "$size" /dev/urandom >"$layers/bench_blob/blob/blob.bin"
    digest="sha256:$(sha256sum "$layers/bench_blob/blob/blob.bin" | cut -d' ' -f1)"
    layout="$work/layout-$mib"
    "$bin" publish --layers-dir "$layers" --image "127.0.0.1:1/app:1.0" --layout "$layout" \
        --digest "$app_digest" --manifest-size "$app_size" >/dev/null

    for rep in $(seq 1 "$reps"); do
        say "$mib MiB, run $rep of $reps"
        fresh_registry
        measure publish "$size" "$bin" publish --layers-dir "$layers" --image "$REGISTRY/app:1.0" --report-out "$work/first.toml"
        measure republish "$size" "$bin" publish --layers-dir "$layers" --image "$REGISTRY/app:1.0" --report-out "$work/again.toml"
        uploaded="$(python3 -c 'import sys,tomllib; print(sum(a["bytes-uploaded"] for a in tomllib.load(open(sys.argv[1],"rb"))["artifacts"]))' "$work/again.toml")"
        printf 'republish-bytes\t%s\t%s\t0\tNA\n' "$size" "$uploaded" >>"$results"

        fresh_registry
        measure publish-8m "$size" "$bin" publish --layers-dir "$layers" --image "$REGISTRY/app:1.0" --chunk-size 8388608

        fresh_registry
        measure skopeo "$size" skopeo copy --quiet --preserve-digests --dest-tls-verify=false \
            "oci:$layout:app:bench" "docker://$REGISTRY/app:bench"

        fresh_registry
        location="$(curl -fsS -o /dev/null -D - -X POST "http://$REGISTRY/v2/app/blobs/uploads/" \
            | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
        [[ "$location" == http* ]] || location="http://$REGISTRY$location"
        [[ "$location" == *\?* ]] && sep='&' || sep='?'
        measure curl "$size" curl -fsS -o /dev/null -T "$layers/bench_blob/blob/blob.bin" \
            -H 'Content-Type: application/octet-stream' "$location${sep}digest=$digest"
        stop_registry
        rm -rf "$work/registry"
    done
    rm -rf "$layers" "$layout"
done

# plan over 1,000 layer TOMLs: 20 buildpacks × 50 layers, one small file artifact each.
say "plan over 1,000 layer TOMLs"
python3 ci/bench.d/many_layers.py "$work/many" 20 50
for rep in $(seq 1 "$reps"); do
    measure plan-1000 1000 "$bin" plan --layers-dir "$work/many" --image "127.0.0.1:1/app:1.0" \
        --digest "$app_digest" --manifest-size "$app_size"
done

if "$bin" conformance run --help >/dev/null 2>&1; then
    say "a full conformance run"
    # A failing run is reported as such (its output is above), not as a time.
    measure conformance 0 "$bin" conformance run || printf 'conformance-failed\t0\tNA\t0\tNA\n' >>"$results"
else
    printf 'conformance\t0\tNA\t0\tNA\n' >>"$results"
fi

