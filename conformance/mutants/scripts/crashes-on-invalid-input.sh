#!/bin/sh
# Mutant (conformance self-check): the reference implementation, except that after reporting an
# input error it aborts, as a failed assertion or a `panic = "abort"` build would: a plausible
# message, then death by SIGABRT. A crash is never a correct rejection (docs/conformance.md).
here="$(dirname "$0")"
out="$("$here/../../adapters/reference.sh" "$@" 2>&1)"
status=$?
if [ "$status" -eq 0 ]; then
    printf '%s\n' "$out"
    exit 0
fi
printf '%s\n' "$out" >&2
kill -ABRT $$
