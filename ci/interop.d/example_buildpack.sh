#!/usr/bin/env bash
# The examples/ buildpack end to end (issue 16): lay the layers out as the lifecycle would
# (<layers>/<buildpack-dir>/ as the buildpack's layers dir, group.toml), push an app image,
# publish, then `discover` must list three artifacts, `pull --type wasm` must return the
# module, `helm pull` the chart and `wkg oci pull` the module again. One PASS/FAIL line per
# check; exit 1 on any failure.
#
# Usage: example_buildpack.sh REGISTRY WORK CNB_ARTIFACTS PYTHON HELM WKG
# (HELM and WKG are paths, or `missing:<reason>` as ci/interop passes them.)
set -uo pipefail
registry="$1" work="$2" bin="$3" python="$4" helm="$5" wkg="$6"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
image="$registry/example/hello:1.0"
failed=0
pass() { echo "PASS example-buildpack: $*"; }
fail() { echo "FAIL example-buildpack: $*"; failed=1; }
check() { # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if out="$("$@" 2>&1)"; then pass "$what"; else fail "$what"; echo "$out" | sed 's/^/    /'; fi
}

rm -rf "$work" && mkdir -p "$work"
layers="$work/layers"
check "bin/build writes the layers" "$repo/examples/app-artifacts-buildpack/bin/build" "$layers/examples_app-artifacts" "$work/platform" "$work/plan.toml"
printf '[[group]]\nid = "examples/app-artifacts"\nversion = "0.1.0"\napi = "0.10"\n' >"$layers/group.toml"

check "seed the app image $image" bash -c "'$python' '$repo/ci/interop.d/app_layout.py' '$work/app' && skopeo copy --quiet --dest-tls-verify=false 'oci:$work/app:app' 'docker://$image'"
check "publish" "$bin" publish --layers-dir "$layers" --image "$image"

count_is_three() { "$bin" discover "$image" --format json >"$work/discover.json" && "$python" -c '
import json, sys
artifacts = json.load(open(sys.argv[1]))["artifacts"]
types = sorted(a["artifactType"] for a in artifacts)
assert len(artifacts) == 3, types
print(types)' "$work/discover.json"; }
check "discover lists three artifacts" count_is_three

pull_module() { "$bin" pull "$image" --type wasm -o "$work/pulled" && cmp "$work/pulled/module.wasm" "$layers/examples_app-artifacts/wasm/module.wasm"; }
check "pull --type wasm returns the module" pull_module

helm_pull() {
    [[ "$helm" != missing:* ]] || { echo "${helm#missing:}"; return 1; }
    local home="$work/helm-home"
    # helm pull -d writes into an existing directory only.
    mkdir -p "$work/helm"
    HELM_CACHE_HOME="$home/cache" HELM_CONFIG_HOME="$home/config" HELM_DATA_HOME="$home/data" \
        "$helm" pull "oci://$registry/example/hello" --version 0.1.0 --plain-http -d "$work/helm" &&
        cmp "$work/helm/hello-0.1.0.tgz" "$layers/examples_app-artifacts/chart/hello-0.1.0.tgz"
}
check "helm pull reads the chart" helm_pull

wkg_pull() {
    [[ "$wkg" != missing:* ]] || { echo "${wkg#missing:}"; return 1; }
    "$wkg" oci pull --insecure "$registry" "$registry/example/hello:1.0-wasm" -o "$work/wkg.wasm" &&
        cmp "$work/wkg.wasm" "$layers/examples_app-artifacts/wasm/module.wasm"
}
check "wkg oci pull reads the module" wkg_pull

exit "$failed"
