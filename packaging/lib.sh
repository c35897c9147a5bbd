# Shared by build-debs.sh and test-install.sh: installs what building .debs needs, and builds
# them. Sourced, not run. Runs as root (CI) or with sudo available.

# Debian architecture -> Rust target triple (empty: the host's).
rust_target() {
    case "$1" in
    amd64) echo "" ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    armhf) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "unknown architecture $1" >&2; return 1 ;;
    esac
}

# Debian architecture -> the GNU triple of its cross compiler and multiarch directory.
gnu_triple() {
    case "$1" in
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
    *) echo "" ;;
    esac
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs cargo-deb, the Debian tools and, for each foreign architecture named, its rustup
# target, cross compiler and libdbus (multiarch).
ensure_tools() {
    local foreign=() arch pkgs=()
    for arch in "$@"; do
        [ "$arch" = amd64 ] || foreign+=("$arch")
    done
    command -v dpkg-shlibdeps >/dev/null || pkgs+=(dpkg-dev)
    command -v pkg-config >/dev/null || pkgs+=(pkg-config)
    [ -e /usr/include/dbus-1.0/dbus/dbus.h ] || pkgs+=(libdbus-1-dev)
    for arch in "${foreign[@]}"; do
        if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
            as_root dpkg --add-architecture "$arch"
            NEED_UPDATE=1
        fi
        local gnu
        gnu=$(gnu_triple "$arch")
        command -v "$gnu-gcc" >/dev/null || pkgs+=("gcc-$gnu")
        dpkg -s "libdbus-1-dev:$arch" >/dev/null 2>&1 || NEED_UPDATE=1
    done
    if [ ${#pkgs[@]} -gt 0 ] || [ -n "${NEED_UPDATE:-}" ]; then
        # A mirror in mid-sync fails one index now and then; what is needed may still be there.
        as_root apt-get update -qq || echo "warning: apt-get update failed in part; going on" >&2
    fi
    if [ ${#pkgs[@]} -gt 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    fi
    # The target's libdbus is Multi-Arch: same, so its version must equal the host's, and a
    # mirror whose indexes disagree can make that impossible: then lockgate is built with
    # libdbus from source (build_debs), and still needs the target's libc to run.
    for arch in "${foreign[@]}"; do
        dpkg -s "libdbus-1-dev:$arch" >/dev/null 2>&1 ||
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                "libdbus-1-dev:$arch" >/dev/null 2>&1 ||
            {
                echo "warning: libdbus-1-dev:$arch cannot be installed here; lockgate for" \
                    "$arch links libdbus built from source (feature vendored-dbus)" >&2
                dpkg -s "libc6:$arch" >/dev/null 2>&1 ||
                    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                        "libc6:$arch" >/dev/null 2>&1 || true
            }
    done
    for arch in "${foreign[@]}"; do
        rustup target list --installed | grep -qx "$(rust_target "$arch")" ||
            rustup target add "$(rust_target "$arch")"
    done
    command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked --quiet
}

# The directory cargo puts a profile's binaries in, for an architecture.
bin_dir() { # arch profile
    local target profile_dir
    target=$(rust_target "$1")
    case "$2" in
    dev) profile_dir=debug ;;
    *) profile_dir=$2 ;;
    esac
    if [ -n "$target" ]; then echo "target/$target/$profile_dir"; else echo "target/$profile_dir"; fi
}

# Builds the lockgate and lockctl .debs of one architecture with a cargo profile, into
# target/debs (or $DEB_OUT); extra arguments go to cargo deb (e.g. --deb-revision 2 --no-build).
build_debs() { # arch profile [cargo-deb args...]
    local arch=$1 profile=$2
    shift 2
    local target gnu args=()
    target=$(rust_target "$arch")
    if [ -n "$target" ]; then
        gnu=$(gnu_triple "$arch")
        args+=(--target "$target")
        local var
        var=$(echo "$target" | tr 'a-z-' 'A-Z_')
        export "CARGO_TARGET_${var}_LINKER=$gnu-gcc"
        export PKG_CONFIG_ALLOW_CROSS=1
        export "PKG_CONFIG_PATH_${target//-/_}=/usr/lib/$gnu/pkgconfig"
        export "PKG_CONFIG_SYSROOT_DIR_${target//-/_}=/"
    fi
    [ -d target/assets/man ] || cargo run -q --locked -p lockgate-assets -- target/assets
    local features=()
    if [ -n "$target" ] && ! dpkg -s "libdbus-1-dev:$arch" >/dev/null 2>&1; then
        features=(--features vendored-dbus)
    fi
    # --strip: a dev-profile build keeps line tables (CI), which cargo-deb would ship.
    cargo deb -q -p lockgate --profile "$profile" --strip --output "${DEB_OUT:-target/debs}/" \
        "${args[@]}" "${features[@]}" "$@" -- --locked
    cargo deb -q -p lockctl --profile "$profile" --strip --output "${DEB_OUT:-target/debs}/" \
        "${args[@]}" "$@" -- --locked
}
