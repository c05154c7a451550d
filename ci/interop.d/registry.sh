# shellcheck shell=bash
# Sourced by ci/interop and ci/bench: a throwaway CNCF Distribution registry (Debian's
# `docker-registry`) on a free loopback port, configured by ci/registry/config.yml with its
# address and storage directory overridden through the environment.
#
#   start_registry STORAGE_DIR LOG_FILE   sets REGISTRY (127.0.0.1:PORT) and REGISTRY_PID
#   stop_registry                         kills that process (by its id) and waits for it
#
# The caller installs `trap stop_registry EXIT` (or a cleanup that calls it) so the registry
# never outlives the script, also when it fails.

REGISTRY=""
REGISTRY_PID=""

_registry_config="$(cd "$(dirname "${BASH_SOURCE[0]}")/../registry" && pwd)/config.yml"

_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_registry() {
    local storage="$1" log="$2" port
    mkdir -p "$storage"
    port="$(_free_port)"
    REGISTRY_HTTP_ADDR="127.0.0.1:$port" \
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$storage" \
        docker-registry serve "$_registry_config" >"$log" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY="127.0.0.1:$port"
    for _ in $(seq 1 200); do
        if curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
            echo "docker-registry exited at start; its log:" >&2
            cat "$log" >&2
            REGISTRY_PID=""
            return 1
        fi
        sleep 0.05
    done
    echo "docker-registry did not answer http://$REGISTRY/v2/ within 10 s; its log:" >&2
    cat "$log" >&2
    return 1
}

stop_registry() {
    if [[ -n "$REGISTRY_PID" ]]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=""
    fi
}
