# shellcheck shell=bash disable=SC2034 # app_digest, app_size, publish_args: the workloads'
# Sourced by the peer workloads of ci/bench (ci/bench.d/many.sh, helm.sh, wasm.sh): a registry on
# fresh storage holding the app image, the wan proxy in front of it, and one measurement = one
# command timed through its own proxy, whose request count and request log are recorded.
#
# Environment (ci/bench sets it; set it yourself to run one workload by hand):
#   BENCH_BIN       the cnb-artifacts binary (ci/bench: the release build)
#   BENCH_RESULTS   the TSV file the measurements are appended to
#   BENCH_REPS      repetitions of each measurement (default 1)
#   BENCH_RTTS      round trips of the wan proxy, as `--quirks wan:RTT` takes them (default
#                   "0ms 50ms")
#   BENCH_PUBLISH_ARGS
#                   more arguments for every `cnb-artifacts publish`, split at spaces (e.g.
#                   "--jobs 16"; default none)
#   BENCH_PYTHON, BENCH_HELM, BENCH_WKG
#                   the peers a workload needs: the Python with the `oras` SDK, helm 3, wkg
#                   (ci/interop.d/tools.sh installs them)
#
#   bench_init NAME      $work (a scratch directory), the app image layout ($app_layout,
#                        $app_digest, $app_size) and the traps that stop the proxy and the
#                        registry and remove $work on exit, also on failure
#   fresh_registry       a registry on new, empty storage ($REGISTRY), the app image pushed as
#                        app:1.0 (directly, not through the proxy)
#   measure WORKLOAD RTT TOOL PHASE COUNT CMD...
#                        starts `cnb-artifacts conformance proxy --quirks wan:RTT --log-requests`
#                        in front of $REGISTRY, runs CMD with $PROXY_HOST set to it, stops the
#                        proxy, and appends one line to $BENCH_RESULTS:
#                        workload, rtt, tool, phase, count, seconds, requests, requests by method
#                        (`GET=3,HEAD=2`); CMD's output is kept in $work/cmd.log, printed on
#                        failure (then measure returns 1). CMD runs where `set -e` does not
#                        apply (inside `if`): a loop in it must stop at a failure itself
#                        (`|| return`)

BENCH_REPS="${BENCH_REPS:-1}"
BENCH_RTTS="${BENCH_RTTS:-0ms 50ms}"
read -ra publish_args <<<"${BENCH_PUBLISH_ARGS:-}"
: "${BENCH_BIN:?BENCH_BIN: the cnb-artifacts binary}" "${BENCH_RESULTS:?BENCH_RESULTS: the TSV file to append to}"

_bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=ci/interop.d/registry.sh
source "$_bench_root/ci/interop.d/registry.sh"

work=""
PROXY_HOST=""
PROXY_PID=""

bench_say() { echo "ci/bench ($BENCH_NAME): $*" >&2; }

stop_proxy() {
    if [[ -n "$PROXY_PID" ]]; then
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
        PROXY_PID=""
    fi
}

# shellcheck disable=SC2317 # called by the trap
_bench_cleanup() {
    stop_proxy
    stop_registry
    [[ -z "$work" ]] || rm -rf "$work"
}

bench_init() {
    BENCH_NAME="$1"
    work="$(mktemp -d "${TMPDIR:-/tmp}/cnb-bench-$1.XXXXXX")"
    trap _bench_cleanup EXIT
    trap 'exit 130' INT TERM
    app_layout="$work/app-layout"
    python3 "$_bench_root/ci/interop.d/app_layout.py" "$app_layout"
    app_digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$app_layout/index.json")"
    app_size="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["size"])' "$app_layout/index.json")"
}

fresh_registry() {
    stop_registry
    rm -rf "$work/registry"
    start_registry "$work/registry" "$work/registry.log"
    skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$app_layout:app" "docker://$REGISTRY/app:1.0"
}

_start_proxy() {
    local rtt="$1"
    # Emptied here, not by the redirection below: that happens in the background job, possibly
    # after the loop has read the previous proxy's address.
    : >"$work/proxy.out"
    PROXY_HOST=""
    "$BENCH_BIN" conformance proxy --upstream "http://$REGISTRY" --quirks "wan:$rtt" --log-requests \
        >"$work/proxy.out" 2>"$work/proxy.log" &
    PROXY_PID=$!
    for _ in $(seq 1 200); do
        PROXY_HOST="$(sed -n 's/^listening: \([^ ]*\).*/\1/p' "$work/proxy.out")"
        [[ -n "$PROXY_HOST" ]] && return 0
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "the proxy did not start: $(cat "$work/proxy.log")" >&2
    return 1
}

measure() {
    local workload="$1" rtt="$2" tool="$3" phase="$4" count="$5" start end requests methods
    shift 5
    _start_proxy "$rtt"
    start="$(date +%s.%N)"
    if ! "$@" >"$work/cmd.log" 2>&1; then
        stop_proxy
        bench_say "$tool $phase at $rtt failed:"
        tail -n 40 "$work/cmd.log" >&2
        return 1
    fi
    end="$(date +%s.%N)"
    stop_proxy
    requests="$(sed -n 's/^requests: //p' "$work/proxy.out")"
    methods="$(awk '$1 ~ /^[A-Z]+$/ && $2 ~ /^\// { n[$1]++ } END { for (m in n) printf "%s=%d\n", m, n[m] }' "$work/proxy.log" \
        | sort | paste -sd, -)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$rtt" "$tool" "$phase" "$count" \
        "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')" "${requests:-NA}" "${methods:-NA}" >>"$BENCH_RESULTS"
    bench_say "$tool $phase at $rtt: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s, ${requests:-?} requests"
}

# compare WORKLOAD WHAT COUNT TOOL=FUNCTION...: for every round trip of $BENCH_RTTS and each of
# $BENCH_REPS runs, each tool in turn on fresh storage: FUNCTION as its publish, then again
# unchanged as its re-publish (measure). WHAT names the workload in the progress line.
compare() {
    local workload="$1" what="$2" count="$3" rtt rep pair
    shift 3
    for rtt in $BENCH_RTTS; do
        for rep in $(seq 1 "$BENCH_REPS"); do
            bench_say "$what at $rtt, run $rep of $BENCH_REPS"
            for pair in "$@"; do
                fresh_registry
                measure "$workload" "$rtt" "${pair%%=*}" publish "$count" "${pair#*=}"
                measure "$workload" "$rtt" "${pair%%=*}" republish "$count" "${pair#*=}"
            done
        done
    done
}
