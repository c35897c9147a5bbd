#!/usr/bin/env bash
# The install test of the .debs (run by .ci/run, as root): builds the amd64 packages, runs
# lintian, debootstraps a minimal Debian bookworm and, inside it (chroot):
#
#   * installs lockgate with apt (its dependencies come from the mirror) and checks the user,
#     its groups, the directories and their modes, the conffile and the unit;
#   * checks the unit with `systemd-analyze verify` and `security --offline` (exposure at most
#     1.5, enforced with --threshold);
#   * runs `lockgated --version` and `lockgate check-config` as the lockgate user, then the
#     daemon itself as that user against a mosquitto of the test, and reads its idle RSS;
#   * upgrades to a second build and checks a local edit of the conffile and the state survive;
#   * removes (state and config kept), then purges (nothing left);
#   * installs and purges lockctl, and checks the unit of its Home Assistant bridge.
#
# Then runs the arm64 binaries under qemu-aarch64-static (without -L: multiarch provides the
# loader and libraries) and checks they start and pass check-config.
#
#   packaging/test-install.sh
#   DEB_PROFILE=dev packaging/test-install.sh   # CI: reuses the test build
# (Not LOCKGATE_*: lockgate reads those as configuration overrides.)
#   DEB_MIRROR=http://deb.debian.org/debian          # the default
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/lib.sh

profile=${DEB_PROFILE:-release}
mirror=${DEB_MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive

step() { echo "== $*"; }
quietly() { "$@" >/dev/null 2>&1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # description command...
    local what=$1
    shift
    if "$@"; then echo "   ok: $what"; else fail "$what"; fi
}

step "tools"
as_root apt-get install -y -qq lintian debootstrap qemu-user-static mosquitto >/dev/null
# SKIP_QEMU=1 leaves out the arm64 build and its run under qemu (CI, when it is short of time).
skip_qemu=${SKIP_QEMU:-0}
if [ "$skip_qemu" = 1 ]; then ensure_tools amd64; else ensure_tools amd64 arm64; fi

step "build (profile $profile)"
rm -rf target/debs target/assets
build_debs amd64 "$profile"
DEB_OUT=target/debs/next build_debs amd64 "$profile" --no-build --deb-revision 2
version=$(dpkg-deb -f target/debs/lockgate_*-1_amd64.deb Version)
deb1=$(ls target/debs/lockgate_*-1_amd64.deb)
deb2=$(ls target/debs/next/lockgate_*-2_amd64.deb)
ctl=$(ls target/debs/lockctl_*-1_amd64.deb)
echo "   $deb1 $deb2 $ctl"

step "lintian"
for deb in "$deb1" "$ctl"; do
    lintian --fail-on error --tag-display-limit 0 "$deb"
done
echo "   ok: no errors"

root=$(mktemp -d /tmp/lockgate-root.XXXXXX)
chmod 755 "$root" # the root directory of the system inside, which users must traverse
broker_pid=""
daemon_pid=""
bus_pid=""
cleanup() {
    set +e
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
    [ -n "${arm_build:-}" ] && kill "$arm_build" 2>/dev/null
    for m in "$root/proc" "$root/sys" "$root/dev/pts"; do
        mountpoint -q "$m" && umount -l "$m"
    done
    rm -rf "$root" "$root.arm64.log"
}
trap cleanup EXIT

# The arm64 build (for the qemu check at the end) runs while debootstrap downloads.
build_arm64() {
    local target var gnu=aarch64-linux-gnu
    target=$(rust_target arm64)
    var=$(echo "$target" | tr 'a-z-' 'A-Z_')
    env "CARGO_TARGET_${var}_LINKER=$gnu-gcc" PKG_CONFIG_ALLOW_CROSS=1 \
        "PKG_CONFIG_PATH_${target//-/_}=/usr/lib/$gnu/pkgconfig" \
        "PKG_CONFIG_SYSROOT_DIR_${target//-/_}=/" \
        cargo build -q --locked --profile "$profile" --target "$target" -p lockgate --bins \
        "${arm_features[@]}"
}
arm_features=()
if [ "$skip_qemu" != 1 ]; then
    dpkg -s libdbus-1-dev:arm64 >/dev/null 2>&1 || arm_features=(--features vendored-dbus)
    build_arm64 >"$root.arm64.log" 2>&1 &
    arm_build=$!
fi

step "debootstrap bookworm (minbase) from $mirror"
started=$SECONDS
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -20 "$root.log"; fail "debootstrap"; }
rm -f "$root.log"
echo "   $((SECONDS - started)) s"
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
in_root() { chroot "$root" "$@"; }
# As the service runs: user and group lockgate with its supplementary groups, a plain PATH.
as_lockgate() {
    local groups
    groups=$(in_root id -G lockgate | tr ' ' ',')
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot --userspec="$(in_root id -u lockgate):$(in_root id -g lockgate)" \
        --groups="$groups" "$root" "$@"
}
mode_of() { chroot "$root" stat -c '%a %U:%G' "$1"; }

# Raspberry Pi OS has systemd; minbase does not (the unit is checked against it below).
in_root apt-get install -y -qq --no-install-recommends systemd >/dev/null

step "install $(basename "$deb1")"
cp "$deb1" "$deb2" "$ctl" "$root/tmp/"
in_root apt-get install -y -qq "/tmp/$(basename "$deb1")" >/dev/null
check "installed" in_root dpkg-query -W -f '${Status}' lockgate
check "user lockgate, no login" \
    test "$(in_root getent passwd lockgate | cut -d: -f6,7)" = "/var/lib/lockgate:/usr/sbin/nologin"
check "lockgate is in group bluetooth" \
    sh -c "chroot '$root' id -nG lockgate | tr ' ' '\n' | grep -qx bluetooth"
check "/var/lib/lockgate 700 lockgate:lockgate" test "$(mode_of /var/lib/lockgate)" = "700 lockgate:lockgate"
check "/etc/lockgate 750 root:lockgate" test "$(mode_of /etc/lockgate)" = "750 root:lockgate"
check "/etc/lockgate/lockgate.toml 640 root:lockgate" \
    test "$(mode_of /etc/lockgate/lockgate.toml)" = "640 root:lockgate"
check "the configuration is a conffile" \
    grep -qx /etc/lockgate/lockgate.toml "$root/var/lib/dpkg/info/lockgate.conffiles"
unit=/lib/systemd/system/lockgated.service
check "the unit is installed" test -f "$root$unit"
check "man pages and completions" test -f "$root/usr/share/man/man8/lockgated.8.gz" -a \
    -f "$root/usr/share/man/man1/lockgate-pair.1.gz" -a \
    -f "$root/usr/share/bash-completion/completions/lockgate"

step "the unit"
# As the README has the owner do (systemctl works on a root that is not running).
check "systemctl enable lockgated" quietly in_root systemctl enable lockgated.service
wants=/etc/systemd/system/multi-user.target.wants/lockgated.service
check "enabled for multi-user.target" test -L "$root$wants"
check "systemd-analyze verify" systemd-analyze verify --man=no --root="$root" lockgated.service
exposure=$(systemd-analyze security --offline=true --root="$root" lockgated.service 2>&1 | tail -1)
echo "   $exposure"
check "exposure at most 1.5 (--threshold=15)" \
    quietly systemd-analyze security --offline=true --threshold=15 --root="$root" lockgated.service

step "the binaries inside"
check "lockgated --version" in_root lockgated --version
check "lockgate check-config as lockgate" as_lockgate lockgate check-config
# The config is not readable by others.
check "others cannot read the config" \
    sh -c "! chroot --userspec=nobody:nogroup '$root' cat /etc/lockgate/lockgate.toml 2>/dev/null"

step "lockgated as lockgate, idle, against a mosquitto of the test"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$root/tmp/mosquitto.conf"
mosquitto -c "$root/tmp/mosquitto.conf" >"$root/tmp/mosquitto.log" 2>&1 &
broker_pid=$!
# A system bus inside (no BlueZ on it: lockgated waits for an adapter), and the runtime
# directory systemd would make.
mkdir -p "$root/run/dbus"
in_root dbus-uuidgen --ensure
bus_pid=$(chroot "$root" dbus-daemon --system --fork --nopidfile --print-pid)
install -d -o "$(in_root id -u lockgate)" -g "$(in_root id -g lockgate)" -m 0750 "$root/run/lockgate"
as_lockgate env LOCKGATE_MQTT__HOST=127.0.0.1 LOCKGATE_MQTT__PORT="$port" \
    LOCKGATE_MQTT__TRANSPORT=plain lockgated >"$root/tmp/lockgated.log" 2>&1 &
for _ in $(seq 50); do
    daemon_pid=$(pgrep -n -x lockgated -u "$(in_root id -u lockgate)" || true)
    grep -q "mqtt: connected" "$root/tmp/lockgated.log" && break
    sleep 0.2
done
[ -n "$daemon_pid" ] || { cat "$root/tmp/lockgated.log"; fail "lockgated did not start"; }
check "lockgated connected to the broker" grep -q "mqtt: connected" "$root/tmp/lockgated.log"
check "lockgate status over the control socket" in_root lockgate status
sleep 3
rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status")
echo "   lockgated idle RSS: ${rss} KiB"
check "the state directory holds the daemon's files" test -n "$(ls -A "$root/var/lib/lockgate")"
kill -TERM "$daemon_pid"
for _ in $(seq 50); do
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.2
done
daemon_pid=""
check "stopped cleanly" grep -q "INFO .*stopped$" "$root/tmp/lockgated.log"
state_before=$(cd "$root/var/lib/lockgate" && ls -A | sort | tr '\n' ' ')

step "upgrade to $(basename "$deb2")"
echo "# a local edit that the upgrade keeps" >>"$root/etc/lockgate/lockgate.toml"
in_root apt-get install -y -qq "/tmp/$(basename "$deb2")" >/dev/null
check "version $(in_root dpkg-query -W -f '${Version}' lockgate)" \
    test "$(in_root dpkg-query -W -f '${Version}' lockgate)" = "${version%-1}-2"
check "the local edit of the config survived" \
    grep -q "a local edit that the upgrade keeps" "$root/etc/lockgate/lockgate.toml"
check "the state survived" test "$(cd "$root/var/lib/lockgate" && ls -A | sort | tr '\n' ' ')" = "$state_before"
check "modes kept" test "$(mode_of /etc/lockgate/lockgate.toml) $(mode_of /var/lib/lockgate)" = \
    "640 root:lockgate 700 lockgate:lockgate"

step "remove, then purge"
in_root apt-get remove -y -qq lockgate >/dev/null
check "remove keeps the state" test -d "$root/var/lib/lockgate"
check "remove keeps the config" test -f "$root/etc/lockgate/lockgate.toml"
check "remove takes the binaries" test ! -e "$root/usr/bin/lockgated"
in_root apt-get purge -y -qq lockgate >/dev/null
for gone in /var/lib/lockgate /etc/lockgate /usr/bin/lockgated /usr/bin/lockgate "$unit" \
    /usr/share/doc/lockgate /run/lockgate "$wants"; do
    check "purge leaves no $gone" test ! -e "$root$gone" -a ! -L "$root$gone"
done
check "dpkg forgot lockgate" sh -c "! chroot '$root' dpkg-query -W -f '\${Status}' lockgate 2>/dev/null | grep -q installed"

step "lockctl"
in_root apt-get install -y -qq "/tmp/$(basename "$ctl")" >/dev/null
check "lockctl --version" in_root lockctl --version
check "lockctl locks with an empty key store" in_root env HOME=/root lockctl locks
check "the key store is private" test "$(mode_of /root/.config/lockctl)" = "700 root:root"
check "its man page" test -f "$root/usr/share/man/man1/lockctl-support.1.gz"
check "the bridge's unit verifies" systemd-analyze verify --man=no --root="$root" lockctl-ha.service
check "the bridge's unit is hardened" \
    quietly systemd-analyze security --offline=true --threshold=20 --root="$root" lockctl-ha.service
in_root apt-get purge -y -qq lockctl >/dev/null
check "purged" test ! -e "$root/usr/bin/lockctl"

if [ "$skip_qemu" = 1 ]; then
    echo "install test passed, arm64 under qemu left out (SKIP_QEMU=1); idle RSS ${rss} KiB; $exposure"
    exit 0
fi
step "arm64 under qemu-aarch64-static (without -L)"
if ! wait "$arm_build"; then
    cat "$root.arm64.log"
    fail "the arm64 build"
fi
arm=$(bin_dir arm64 "$profile")
check "an aarch64 executable" sh -c "file -b '$arm/lockgated' | grep -q aarch64 || od -An -tx1 -j18 -N2 '$arm/lockgated' | grep -q 'b7 00'"
check "lockgated --version under qemu" qemu-aarch64-static "$arm/lockgated" --version
check "lockgate check-config under qemu" \
    qemu-aarch64-static "$arm/lockgate" check-config --config config/lockgate.toml

echo "install test passed (idle RSS ${rss} KiB; $exposure)"
