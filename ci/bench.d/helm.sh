#!/usr/bin/env bash
# Workload `helm` of ci/bench: COUNT packaged Helm charts (ci/bench.d/make_charts.py: chart<i>,
# version 0.1.0, about 1 KiB each) pushed to a registry on fresh storage through the wan proxy at
# each round trip of BENCH_RTTS, then pushed again unchanged, by:
#
#   cnb-artifacts  one `publish` of all of them (`type = "helm"`, one layer TOML listing every
#                  chart): each goes where `helm push` puts it, repository app/chart<i> (the app
#                  image's repository, `/`, the chart name), tag 0.1.0 (the chart version),
#                  R-PRESET-3/4; besides, each gets the app image as its subject, so each of these
#                  repositories also receives the app image (R-PUSH-10) and a referrers fallback
#                  index (Distribution 2.8 has no referrers API)
#   helm           `helm push chart<i>-0.1.0.tgz oci://HOST/app --plain-http`, helm 3 (the binary
#                  ci/interop installs), one process per chart, one after the other as a CI
#                  script's loop would
#
# Usage: ci/bench.d/helm.sh [COUNT]   (COUNT default 10; environment: ci/bench.d/common.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-10}"
# shellcheck source=ci/bench.d/common.sh
source ci/bench.d/common.sh
bench_init helm
[[ "${BENCH_HELM:-missing:}" != missing:* ]] || { bench_say "helm is missing: ${BENCH_HELM#missing:}"; exit 1; }

layers="$work/layers"
charts="$layers/bench_helm/charts"
python3 ci/bench.d/make_charts.py "$charts" "$count"
printf '[[group]]\nid = "bench/helm"\nversion = "1.0.0"\napi = "0.12"\n' >"$layers/group.toml"
for i in $(seq 1 "$count"); do
    printf '[[additionalArtifact]]\nfile = "chart%s-0.1.0.tgz"\ntype = "helm"\n\n' "$i"
done >"$layers/bench_helm/charts.toml"

cnb_publish() { "$BENCH_BIN" publish --layers-dir "$layers" --image "$PROXY_HOST/app:1.0" "${publish_args[@]}"; }
helm_each() {
    local i home="$work/helm-home"
    for i in $(seq 1 "$count"); do
        HELM_CACHE_HOME="$home/cache" HELM_CONFIG_HOME="$home/config" HELM_DATA_HOME="$home/data" \
            "$BENCH_HELM" push "$charts/chart$i-0.1.0.tgz" "oci://$PROXY_HOST/app" --plain-http || return
    done
}

compare helm "$count charts" "$count" cnb-artifacts=cnb_publish helm=helm_each
