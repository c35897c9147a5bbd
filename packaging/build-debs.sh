#!/usr/bin/env bash
# Builds the lockgate and lockctl .debs for the Raspberry Pi (arm64: Raspberry Pi OS 64-bit,
# Pi 3/4/5; armhf: 32-bit Raspberry Pi OS) and for amd64, with the release profile (LTO, one
# codegen unit, stripped). Installs what it needs first: cargo-deb, rustup targets, the cross
# compilers and libdbus-1-dev for each architecture (multiarch). Prints the packages and their
# sizes.
#
#   packaging/build-debs.sh [ARCH...]        # default: amd64 arm64 armhf
#   DEB_PROFILE=dev packaging/build-debs.sh amd64   # a quick build, for trying out
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/lib.sh

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64 armhf)
profile=${DEB_PROFILE:-release}

ensure_tools "${archs[@]}"
# Pages and completions from this checkout's command lines.
rm -rf target/assets
cargo run -q --locked -p lockgate-assets -- target/assets
for arch in "${archs[@]}"; do
    echo "== $arch ($profile)"
    started=$SECONDS
    build_debs "$arch" "$profile"
    echo "   built in $((SECONDS - started)) s"
done

echo "== packages"
version=$(cargo metadata --no-deps --format-version 1 |
    /usr/bin/python3 -c 'import json,sys; print([p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="lockgate"][0])')
for arch in "${archs[@]}"; do
    for package in lockgate lockctl; do
        deb="target/debs/${package}_${version}-1_${arch}.deb"
        installed=$(dpkg-deb -f "$deb" Installed-Size)
        printf '%-40s %8d bytes  installed %6d KiB\n' "$deb" "$(stat -c %s "$deb")" "$installed"
    done
done
