# Sourced by the ci/ scripts so that no step is silent for more than 30 s (a user or a CI log
# must be able to tell a long step from a hang).
#
#   heartbeat LABEL CMD [ARG]...   runs CMD (a command or a shell function) and, while it runs,
#                                  prints "LABEL: still running (N s)" to stderr every
#                                  $CNB_HEARTBEAT_SECONDS (default 25) seconds; returns CMD's
#                                  exit status. The ticker stops when CMD ends, and by itself
#                                  when the script that started it is gone.

heartbeat() {
    local label=$1 every=${CNB_HEARTBEAT_SECONDS:-25} status=0 ticker
    shift
    (
        started=$(date +%s)
        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
        while kill -0 "$$" 2>/dev/null; do
            sleep "$every" &
            nap=$!
            wait "$nap"
            echo "$label: still running ($(($(date +%s) - started)) s)" >&2
        done
    ) &
    ticker=$!
    "$@" || status=$?
    kill "$ticker" 2>/dev/null || true
    wait "$ticker" 2>/dev/null || true
    return "$status"
}
