#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packages (tools/build-deb.sh, in $CVMSEAL_DEB_DIR) install and remove cleanly.
#
# Where: a Debian 12 chroot made by debootstrap (--variant=minbase, from the archive of this machine's
# sources.list, or $DEBIAN_MIRROR), the packages installed with apt-get so that their dependencies
# come from the archive.  When debootstrap cannot reach the archive, an empty root installed into with
# `dpkg --root --force-depends` (our packages alone, no maintainer script runs); the test says which.
#
#   - all six packages install; in the chroot: cvmseal runs (--version, --help, list and diagnose of an
#     image enrolled on the host: exit 6 without a TPM, not a crash), libcryptsetup loads the packaged
#     token plugin from its token directory (cryptsetup luksDump shows the cvmseal token's dump),
#     the initramfs-tools trigger is processed, and the dracut module is where dracut looks;
#   - `dpkg -r` leaves no file of theirs behind (the file list of the root is what it was before they
#     were installed, and no file dpkg -L listed is left), and `dpkg -P` too.
. "$(dirname "$0")/../integration/lib.sh"

: "${CVMSEAL_DEB_DIR:=}"
[ -n "$CVMSEAL_DEB_DIR" ] || skip "no packages: set CVMSEAL_DEB_DIR to the output of tools/build-deb.sh (tests/run.sh does)"
[ "$(id -u)" = 0 ] || skip "a chroot needs root"
command -v dpkg >/dev/null || skip "dpkg is not installed"
debs=()
for p in cvmseal libcvmseal0 libcvmseal-dev libcryptsetup-token-cvmseal cvmseal-initramfs-tools cvmseal-dracut; do
        f=$(ls "$CVMSEAL_DEB_DIR/${p}_"*.deb 2>/dev/null | head -n1)
        [ -n "$f" ] || fail "no ${p}_*.deb in $CVMSEAL_DEB_DIR"
        debs+=("$f")
done
pkgs=(cvmseal libcvmseal0 libcvmseal-dev libcryptsetup-token-cvmseal cvmseal-initramfs-tools cvmseal-dracut)

R=$T/root
# in_root CMD...: CMD chrooted in R, with /proc mounted in a private mount namespace.
in_root() {
        unshare --mount --propagation private sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
                _ "$R" "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
}
# files: the root's files, symlinks and directories, but the package system's own state and /proc, /tmp.
files() {
        (cd "$R" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./var/lib/dpkg -o -path ./var/cache \
                -o -path ./var/log -o -path ./var/lib/apt -o -path ./dev -o -path ./run \) -prune -o -print | sort)
}

mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p; s/^deb \(http[^ ]*debian\) .*/\1/p' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)}
mode=dpkg-root
if command -v debootstrap >/dev/null && [ -n "$mirror" ] &&
        timeout 600 debootstrap --variant=minbase bookworm "$R" "$mirror" >"$T/debootstrap.log" 2>&1; then
        mode=chroot
        note "a Debian 12 chroot (debootstrap --variant=minbase bookworm $mirror)"
        mkdir -p "$R/tmp/debs"
        cp "${debs[@]}" "$R/tmp/debs/"
        # Our packages with their dependencies from the archive, then ours alone removed: what stays is
        # the root with the dependencies only.
        in_root apt-get install -y -q --no-install-recommends $(printf '/tmp/debs/%s ' "${debs[@]##*/}") \
                >"$T/apt.log" 2>&1 || fail "apt-get install of the packages in the chroot: $(tail -n 30 "$T/apt.log")"
        grep -q "Processing triggers for initramfs-tools" "$T/apt.log" || fail "the initramfs-tools trigger was not processed"
        in_root dpkg -P "${pkgs[@]}" >"$T/dpkg.log" 2>&1 || fail "dpkg -P: $(cat "$T/dpkg.log")"
        install() { in_root dpkg -i $(printf '/tmp/debs/%s ' "${debs[@]##*/}"); }
else
        note "debootstrap cannot make a chroot here (no debootstrap, or no archive: $(tail -n 1 "$T/debootstrap.log" 2>/dev/null)):" \
             "installing into an empty root with dpkg --root --force-depends instead"
        rm -rf "$R"
        mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
        touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
        install() { dpkg --root="$R" --force-depends -i "${debs[@]}"; }
fi

before=$(files)
install >"$T/install.log" 2>&1 || fail "dpkg -i: $(cat "$T/install.log")"
for p in "${pkgs[@]}"; do
        dpkg --root="$R" -s "$p" 2>/dev/null | grep -q "^Status: install ok installed" || fail "$p is not installed"
done
dpkg --root="$R" -L "${pkgs[@]}" | sort -u >"$T/listed"
for f in /usr/bin/cvmseal /usr/lib/cvmseal/cvmseal-keyscript /usr/share/man/man1/cvmseal.1.gz \
         /usr/share/bash-completion/completions/cvmseal /usr/include/cvmseal.h \
         /usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-cvmseal.so /usr/share/initramfs-tools/hooks/cvmseal \
         /usr/lib/dracut/modules.d/90cvmseal/module-setup.sh; do
        grep -qx "$f" "$T/listed" || fail "no package ships $f"
        [ -e "$R$f" ] || fail "$f is not in the root"
done

if [ "$mode" = chroot ]; then
        in_root cvmseal --version >"$T/v" 2>&1 || fail "cvmseal --version in the chroot: $(cat "$T/v")"
        grep -q "^cvmseal 0\." "$T/v" || fail "cvmseal --version: $(cat "$T/v")"
        in_root cvmseal --help | grep -q "diagnose DEVICE" || fail "cvmseal --help in the chroot"
        # An image enrolled here on a swtpm: the packaged tool reads it, the packaged plugin dumps its token.
        tcti=$(start_swtpm tpm) || exit 1
        make_image "$R/tmp/img" "$T/key"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$R/tmp/img" --unlock-key-file "$T/key"
        in_root cvmseal list /tmp/img >"$T/list" 2>&1 || fail "cvmseal list in the chroot: $(cat "$T/list")"
        grep -q "^0 *cvmseal" "$T/list" || fail "cvmseal list in the chroot: $(cat "$T/list")"
        in_root cvmseal diagnose /tmp/img >"$T/diag" 2>&1 && rc=0 || rc=$?
        [ "$rc" = 6 ] || fail "cvmseal diagnose without a TPM in the chroot exited $rc: $(cat "$T/diag")"
        in_root cryptsetup --debug luksDump /tmp/img >"$T/dump" 2>&1 || fail "cryptsetup luksDump in the chroot"
        grep -q "Token handler cvmseal.*loaded successfully" "$T/dump" \
                || fail "libcryptsetup did not load the packaged plugin: $(grep -i token "$T/dump")"
        grep -q "cvmseal version: 2" "$T/dump" || fail "the plugin's dump of the token: $(cat "$T/dump")"
        rm -f "$R/tmp/img"
fi

# Removal: nothing of ours stays.
if [ "$mode" = chroot ]; then
        in_root dpkg -r "${pkgs[@]}" >"$T/remove.log" 2>&1 || fail "dpkg -r: $(cat "$T/remove.log")"
else
        dpkg --root="$R" --force-depends -r "${pkgs[@]}" >"$T/remove.log" 2>&1 || fail "dpkg -r: $(cat "$T/remove.log")"
fi
after=$(files)
left=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after"))
[ -z "$left" ] || fail "dpkg -r left files behind: $left"
gone=$(comm -23 <(printf '%s\n' "$before") <(printf '%s\n' "$after"))
[ -z "$gone" ] || fail "dpkg -r removed files that were there before: $gone"
while read -r f; do
        [ "$f" = / ] || [ -d "$R$f" ] || [ ! -e "$R$f" ] || fail "$f (listed by dpkg -L) is still there"
done <"$T/listed"
if [ "$mode" = chroot ]; then
        in_root dpkg -P "${pkgs[@]}" >"$T/purge.log" 2>&1 || fail "dpkg -P: $(cat "$T/purge.log")"
else
        dpkg --root="$R" --force-depends -P "${pkgs[@]}" >"$T/purge.log" 2>&1 || fail "dpkg -P: $(cat "$T/purge.log")"
fi
[ "$(files)" = "$before" ] || fail "dpkg -P changed the root's files"
for p in "${pkgs[@]}"; do
        ! dpkg --root="$R" -s "$p" 2>/dev/null | grep -q "^Status: install" || fail "$p is still known to dpkg"
done
echo "PASS ($mode)"
