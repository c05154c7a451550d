# Sourced by ci/reference-image and ci/runner-image: lays out the root filesystem of a `FROM
# scratch` image in a build context, from files of this machine, so that no image is pulled.
#
#   add_program ROOTFS SOURCE TARGET   SOURCE copied to ROOTFS/TARGET (mode kept), and every
#                                      library ldd names for it (the loader too) at its own path
#   add_busybox ROOTFS                 Debian's static busybox (busybox-static) as /bin/busybox,
#                                      and /bin/sh, /bin/cat, … as links to it: adapters are
#                                      shell scripts, and so is the suite's credential helper
#   add_tmp ROOTFS                     /tmp, mode 1777 (scratch has none; the runner needs one)
#   add_certs ROOTFS                   this machine's CA bundle: the HTTP client refuses to start
#                                      without trusted roots, even for plain-HTTP registries
#   cargo_binary [--release]           builds cnb-artifacts and prints its path

add_program() {
    local rootfs=$1 source=$2 target=$3 lib
    mkdir -p "$rootfs$(dirname "$target")"
    cp -L "$source" "$rootfs$target"
    for lib in $(ldd "$source" 2>/dev/null | grep -o '/[^ ]*' || true); do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
}

add_busybox() {
    local rootfs=$1 busybox applet
    busybox="$(command -v busybox || true)"
    if [[ -z "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
        echo "a static busybox is needed: apt-get install -y busybox-static (ci/install-deps does)" >&2
        return 1
    fi
    mkdir -p "$rootfs/bin"
    cp "$busybox" "$rootfs/bin/busybox"
    for applet in $("$busybox" --list); do
        [[ -e "$rootfs/bin/$applet" ]] || ln -s busybox "$rootfs/bin/$applet"
    done
}

add_tmp() {
    mkdir -p "$1/tmp"
    chmod 1777 "$1/tmp"
}

add_certs() {
    mkdir -p "$1/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}

cargo_binary() {
    local profile=debug
    if [[ "${1:-}" == --release ]]; then
        profile=release
        cargo build --locked --release --bin cnb-artifacts >&2
    else
        cargo build --locked --bin cnb-artifacts >&2
    fi
    echo "${CARGO_TARGET_DIR:-$PWD/target}/$profile/cnb-artifacts"
}
