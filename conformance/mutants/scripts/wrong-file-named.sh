#!/bin/sh
# Mutant (conformance self-check): the reference implementation, except that its errors name the
# wrong file, the wrong tag and the wrong credential source: every `NAME.toml` becomes
# `NAME-other.toml`, every `:TAG` becomes `:TAG-other` and `CNB_REGISTRY_AUTH` becomes
# `CNB_REGISTRY_AUTH_OTHER`. A rejection counts only when it names what the error is about
# (docs/conformance.md, "What a rejection must name").
here="$(dirname "$0")"
out="$("$here/../../adapters/reference.sh" "$@" 2>&1)"
status=$?
if [ "$status" -eq 0 ]; then
    printf '%s\n' "$out"
    exit 0
fi
printf '%s\n' "$out" | sed -E -e 's#([A-Za-z0-9_.-]+)\.toml#\1-other.toml#g' -e 's#:([A-Za-z0-9_][A-Za-z0-9_.-]*)#:\1-other#g' \
    -e 's#CNB_REGISTRY_AUTH#CNB_REGISTRY_AUTH_OTHER#g' >&2
exit "$status"
