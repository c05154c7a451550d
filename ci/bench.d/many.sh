#!/usr/bin/env bash
# Many small artifacts over a wide round trip: `ci/bench --many` (or by itself). Publishes COUNT
# artifacts of 64 KiB (random bytes, one layer each, tag `a<i>`) to a fresh docker-registry
# through `cnb-artifacts conformance proxy --quirks wan:RTT` (every request delayed by the round
# trip), then publishes them again unchanged, and prints one line per publish: wall time and the
# requests the proxy received.
#
# Usage: ci/bench.d/many.sh BIN [COUNT] [RTT] [EXTRA PUBLISH ARGS…]
#   BIN     the cnb-artifacts binary (a debug build works; say which in reports)
#   COUNT   artifacts (default 100)
#   RTT     round trip, as the wan profile takes it (default 50ms; 0ms for loopback)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "$1")"
count="${2:-100}"
rtt="${3:-50ms}"
shift $(($# < 3 ? $# : 3))

work="$(mktemp -d "${TMPDIR:-/tmp}/cnb-many.XXXXXX")"
proxy_pid=""
# shellcheck source=ci/interop.d/registry.sh
source ci/interop.d/registry.sh
stop_proxy() {
    if [[ -n "$proxy_pid" ]]; then
        kill -TERM "$proxy_pid" 2>/dev/null || true
        wait "$proxy_pid" 2>/dev/null || true
        proxy_pid=""
    fi
}
trap 'stop_proxy; stop_registry; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

python3 ci/interop.d/app_layout.py "$work/app-layout"
start_registry "$work/registry" "$work/registry.log"
skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$work/app-layout:app" "docker://$REGISTRY/app:1.0"

layers="$work/layers"
mkdir -p "$layers/bench_many"
printf '[[group]]\nid = "bench/many"\nversion = "1.0.0"\napi = "0.12"\n' >"$layers/group.toml"
for i in $(seq 1 "$count"); do
    mkdir -p "$layers/bench_many/l$i"
    printf '[additionalArtifact]\nfile = "f.bin"\ntag = "a%s"\n' "$i" >"$layers/bench_many/l$i.toml"
    head -c 65536 /dev/urandom >"$layers/bench_many/l$i/f.bin"
done

# publish LABEL: one publish through a fresh proxy; prints LABEL, seconds, requests.
publish() {
    local label="$1" start end host
    shift
    # Emptied here, not by the redirection below: that happens in the background job, possibly
    # after the loop has read the previous proxy's address.
    : >"$work/proxy.out"
    "$bin" conformance proxy --upstream "http://$REGISTRY" --quirks "wan:$rtt" >"$work/proxy.out" 2>"$work/proxy.err" &
    proxy_pid=$!
    for _ in $(seq 1 200); do
        host="$(sed -n 's/^listening: \([^ ]*\).*/\1/p' "$work/proxy.out")"
        [[ -n "$host" ]] && break
        sleep 0.05
    done
    [[ -n "$host" ]] || { echo "the proxy did not start: $(cat "$work/proxy.err")" >&2; return 1; }
    start="$(date +%s.%N)"
    "$bin" publish --layers-dir "$layers" --image "$host/app:1.0" "$@" >/dev/null
    end="$(date +%s.%N)"
    stop_proxy
    printf '%s\t%s artifacts\twan:%s\t%s s\t%s\n' "$label" "$count" "$rtt" \
        "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')" "$(grep '^requests:' "$work/proxy.out")"
}

publish publish "$@"
publish republish "$@"
