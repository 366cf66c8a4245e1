# SPDX-License-Identifier: LGPL-2.1-or-later
# The boot suite's harness (docs/testing.md, "Boot suite"): a real boot of the Debian kernel under
# QEMU (TCG) with OVMF, swtpm as an Azure-like vTPM, an initramfs made by the real generator with
# the project's hooks, and a LUKS2 root file system on a virtio disk made by `cvmseal image encrypt`.
# The guest's /sbin/init (written by each test) reports on the serial console with lines
# "CVMSEAL-TEST: ..." and powers off.
#
# Environment (set by meson): CVMSEAL, CVMSEAL_TOKEN_PLUGIN, CVMSEAL_HOOK (the configured
# initramfs-tools hook), CVMSEAL_SRCDIR (the source tree).

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

: "${CVMSEAL_TOKEN_PLUGIN:?}" "${CVMSEAL_SRCDIR:?}"
BOOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURE=$CVMSEAL_SRCDIR/tests/attest/azure-vtpm.py
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
# The token plugin directory libcryptsetup was built with, inside the guest.
GUEST_TOKENDIR=/lib/x86_64-linux-gnu/cryptsetup

boot_require() {
        local tool
        for tool in qemu-system-x86_64 mkfs.ext4 busybox python3 openssl unshare tpm2_createprimary "$@"; do
                command -v "$tool" >/dev/null || skip "$tool is not installed (tools/install-deps.sh installs it)"
        done
        [ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || skip "OVMF is not installed (package ovmf)"
        KVER=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n1)
        [ -n "$KVER" ] || skip "no kernel in /boot (package linux-image-amd64)"
        KERNEL=/boot/vmlinuz-$KVER
        [ -r "$KERNEL" ] || skip "$KERNEL is not readable"
        [ -d "/lib/modules/$KVER" ] || skip "no modules for $KVER"
        [ "$(id -u)" = 0 ] || skip "building an initramfs with a private crypttab needs root (a mount namespace)"
}

# copy_bin ROOT FILE [DEST]: FILE (at DEST inside ROOT, default the same path) with every library
# ldd finds for it, at their own paths.
copy_bin() {
        local root=${1:?copy_bin needs a root} file=$2 dest=${3:-$2} lib
        mkdir -p "$root$(dirname "$dest")"
        cp -L "$file" "$root$dest" || fail "copy $file"
        for lib in $(ldd "$file" 2>/dev/null | grep -oE '/[^ ]+'); do
                [ -e "$root$lib" ] && continue
                mkdir -p "$root$(dirname "$lib")"
                cp -L "$lib" "$root$lib" || fail "copy $lib"
        done
}

# guest_debs: $debs, the Debian packages of cvmseal (tools/build-deb.sh) that the guest gets, from
# $CVMSEAL_DEB_DIR (tests/run.sh builds them), else built here into $T/debs (about 20 s).
guest_debs() {
        local d=${CVMSEAL_DEB_DIR:-} p f
        if [ -z "$d" ]; then
                command -v dpkg-buildpackage >/dev/null || skip "no CVMSEAL_DEB_DIR and no dpkg-buildpackage (debhelper)"
                d=$T/debs
                note "building the Debian packages for the guest (tools/build-deb.sh; CVMSEAL_DEB_DIR saves this)"
                CVMSEAL_DEB_LINTIAN=0 "$CVMSEAL_SRCDIR/tools/build-deb.sh" "$d" >"$T/build-deb.log" 2>&1 \
                        || fail "tools/build-deb.sh: $(tail -n 30 "$T/build-deb.log")"
        fi
        debs=()
        for p in cvmseal libcvmseal0 libcryptsetup-token-cvmseal; do
                f=$(ls "$d/${p}_"*.deb 2>/dev/null | head -n1)
                [ -n "$f" ] || fail "no ${p}_*.deb in $d"
                debs+=("$f")
        done
}

# make_rootfs DIR INIT: a minimal root file system: busybox, cvmseal with its plugin (their Debian
# packages, installed with dpkg --root; the libraries they need copied from this machine, as for the
# rest) and TCTI libraries, cryptsetup, and INIT (a script) as /sbin/init.  /lib is usr/lib, as on
# Debian 12, so that libcryptsetup finds the packaged plugin in its token directory.
make_rootfs() {
        local root=${1:?make_rootfs needs a directory} init=$2 a lib
        mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,usr/bin,usr/sbin,usr/lib,root}
        ln -sfn usr/lib "$root/lib"
        copy_bin "$root" "$(command -v busybox)" /bin/busybox
        for a in $(busybox --list); do
                [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
        done
        guest_debs
        mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
        touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
        dpkg --root="$root" --force-depends -i "${debs[@]}" >"$T/dpkg.log" 2>&1 || fail "dpkg -i into the guest: $(cat "$T/dpkg.log")"
        for lib in "$root/usr/bin/cvmseal" "$root/usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-cvmseal.so"; do
                for a in $(LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu" ldd "$lib" 2>/dev/null | grep -oE '/[^ ]+'); do
                        [[ $a == "$root"* ]] && continue
                        [ -e "$root$a" ] && continue
                        mkdir -p "$root$(dirname "$a")"
                        cp -L "$a" "$root$a" || fail "copy $a"
                done
        done
        copy_bin "$root" "$(command -v cryptsetup)" /sbin/cryptsetup
        for lib in libtss2-tcti-device.so.0 libtss2-tctildr.so.0; do
                copy_bin "$root" "/usr/lib/x86_64-linux-gnu/$lib"
        done
        install -m 0755 "$init" "$root/sbin/init"
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
}

# make_ext4 DIR IMG SIZE: an ext4 file system image holding DIR (no root, no loop device).
make_ext4() {
        rm -f "$2"
        truncate -s "$3" "$2"
        mkfs.ext4 -q -F -b 4096 -L root -d "$1" "$2" >/dev/null 2>"$T/mkfs.err" || fail "mkfs.ext4: $(cat "$T/mkfs.err")"
}

# make_initramfs OUT CRYPTTAB CONFDIR: an initramfs by the real mkinitramfs, with the project's
# hook and scripts, the crypttab CRYPTTAB (bound over /etc/crypttab in a private mount namespace,
# as cryptroot's hook reads that path only) and /etc/cvmseal from CONFDIR.
make_initramfs() {
        local out=$1 tab=$2 conf=$3 d=$T/initramfs-tools
        command -v mkinitramfs >/dev/null || skip "mkinitramfs is not installed (package initramfs-tools)"
        [ -f /usr/share/initramfs-tools/hooks/cryptroot ] || skip "cryptsetup-initramfs is not installed"
        rm -rf "$d"
        mkdir -p "$d/hooks" "$d/scripts/init-premount" "$d/scripts/local-top" "$d/scripts/local-bottom" \
                "$d/scripts/panic" "$d/conf.d"
        cp "$CVMSEAL_HOOK" "$d/hooks/cvmseal"
        cp "$CVMSEAL_SRCDIR/initramfs/initramfs-tools/scripts/init-premount/cvmseal" "$d/scripts/init-premount/"
        cp "$CVMSEAL_SRCDIR/initramfs/initramfs-tools/scripts/local-top/cvmseal" "$d/scripts/local-top/"
        cp "$CVMSEAL_SRCDIR/initramfs/initramfs-tools/scripts/local-bottom/cvmseal" "$d/scripts/local-bottom/"
        cp "$CVMSEAL_SRCDIR/initramfs/initramfs-tools/scripts/panic/cvmseal" "$d/scripts/panic/"
        chmod +x "$d/hooks/cvmseal" "$d/scripts/"*/cvmseal
        cat >"$d/initramfs.conf" <<EOF
MODULES=list
BUSYBOX=auto
COMPRESS=zstd
COMPRESSLEVEL=1
DEVICE=
NFSROOT=auto
RUNSIZE=10%
FSTYPE=auto
EOF
        printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' >"$d/modules"
        # The cryptroot hook includes crypttab entries marked "initramfs" and their keyscripts.
        printf 'CRYPTSETUP=y\n' >"$d/conf.d/cryptsetup"
        CVMSEAL_BIN=$CVMSEAL CVMSEAL_TOKEN_PLUGIN=$CVMSEAL_TOKEN_PLUGIN \
        CVMSEAL_KEYSCRIPT=$CVMSEAL_SRCDIR/initramfs/cvmseal-keyscript \
        CVMSEAL_LOCKSCRIPT=$CVMSEAL_SRCDIR/initramfs/cvmseal-lock.sh CVMSEAL_CONFDIR=$conf \
                unshare --mount --propagation private bash -c '
                        mount --bind "$1" /etc/crypttab || exit 1
                        exec mkinitramfs -d "$2" -o "$3" "$4"' _ "$tab" "$d" "$out" "$KVER" \
                >"$T/mkinitramfs.log" 2>&1 || fail "mkinitramfs: $(tail -n 20 "$T/mkinitramfs.log")"
}

# vtpm_provision STATE FIXTURE_OUT [azure-vtpm.py options]: makes swtpm state STATE an Azure-like vTPM
# (the HCL report in NV 0x01400001, the AK at 0x81000003), with its chain and policy in FIXTURE_OUT.
vtpm_provision() {
        local state=$1 out=$2 tcti
        shift 2
        tcti=$(start_swtpm "$(basename "$state")") || exit 1
        python3 "$FIXTURE" --tcti "$tcti" --out "$out" "$@" >"$T/fixture.log" 2>&1 \
                || fail "azure-vtpm.py $*: $(cat "$T/fixture.log")"
        stop_swtpm "$(basename "$state")"
}

# boot NAME [qemu-boot.py options]: one boot of the guest; its console in $T/NAME.log and $console.
# Fails, printing the console, when the boot does not reach --until.  A guest that printed its END
# line is given the time to power off by itself, so that its vTPM is shut down in order (a vTPM
# stopped without TPM2_Shutdown counts a dictionary-attack failure at its next start).
boot() {
        local name=$1 rc
        shift
        note "boot $name"
        python3 "$BOOT_DIR/qemu-boot.py" --ovmf-vars "$T/vars.fd" --tpm-state "$T/vtpm" \
                --kernel "$KERNEL" --log "$T/$name.log" --poweroff-after 'CVMSEAL-TEST: END' "$@" && rc=0 || rc=$?
        console=$(tr -d '\r' <"$T/$name.log" | sed 's/\x1b\[[0-9;=]*[A-Za-z]//g')
        note "boot $name: $(grep -ao '\[qemu-boot: [0-9.]* s[^]]*' <<<"$console" | tail -n1 | cut -c13-)"
        if [ "$rc" != 0 ]; then
                boot_fail "boot $name ended with status $rc"
        fi
}

# boot_fail WHY: fails with the last boot's console.
boot_fail() {
        echo "---- guest console ($T) ----" >&2
        printf '%s\n' "$console" | tail -n 150 >&2
        echo "----" >&2
        fail "$*"
}

# expect_console PATTERN WHAT: the last boot's console matches the extended regular expression.
expect_console() {
        grep -Eq -- "$1" <<<"$console" || boot_fail "${2:-console}: no line matches '$1'"
}
refute_console() {
        ! grep -Eq -- "$1" <<<"$console" || boot_fail "${2:-console}: a line matches '$1'"
}

# expect_lock_failed_closed WHAT: in the last boot the lock failed and the guest powered itself off
# (the helper's lines, then the kernel's "Power down"), before anything of its root file system ran.
expect_lock_failed_closed() {
        expect_console "cvmseal: extending the lock PCR 15" "$1: the line before the lock"
        expect_console "cvmseal: cannot extend the lock PCR \(exit [0-9]+\)" "$1: the lock's failure on the console"
        expect_console "cvmseal: refusing to continue the boot with the vTPM unlocked: powering off" "$1"
        expect_console "reboot: Power down" "$1: the guest powered off"
        expect_console "\[qemu-boot: .*QEMU exit 0\]" "$1: QEMU ended with the guest"
        refute_console "CVMSEAL-TEST: " "$1: the root file system's init ran"
        refute_console "Kernel panic|reboot: Restarting" "$1: not a power-off"
}

# boot_machine: the machine every boot test starts from: a fresh OVMF variable store, the vTPM
# provisioned like Azure's ($T/vtpm, its chain and policy in $T/fx), /etc/cvmseal for the guest in
# $T/conf (the certificate cache, and the test ARK as an extra trusted root: a token's policy may not
# name roots); $policy is the fixture's attestation policy.
boot_machine() {
        cp "$OVMF_VARS" "$T/vars.fd"
        vtpm_provision "$T/vtpm" "$T/fx"
        mkdir -p "$T/conf/certs" "$T/conf/roots"
        cp "$T/fx/certs/"* "$T/conf/certs/"
        cp "$T/fx/ark.pem" "$T/conf/roots/test-ark.pem"
        policy=$T/fx/policy.json
}

# guest_rootfs DIR: the guest's root file system, whose /sbin/init reports on the console (lines
# "CVMSEAL-TEST: ..."): the root is mounted, `cvmseal unlock --test` of its own volume, `list`, the
# lock record; with a second disk, an enroll of it and `cryptsetup open --token-only` through the
# plugin, and its first bytes; then "END" and power-off.  /etc/cvmseal is the initramfs's ($T/conf);
# /etc/os-release makes it an operating-system tree (systemd switches only to one).
guest_rootfs() {
        local root=${1:?}
        cat >"$T/init" <<'EOS'
#!/bin/sh
export PATH=/usr/bin:/usr/sbin:/bin:/sbin DM_DISABLE_UDEV=1
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
say() { echo "CVMSEAL-TEST: $*"; }
say "root mounted at $(cut -d' ' -f1 /proc/uptime) s"
cvmseal unlock --test /dev/vda >/tmp/out 2>&1
say "unlock-test exit $?: $(cat /tmp/out)"
say "list $(cvmseal list --json /dev/vda | tr -d '\n ')"
say "lock-record $(cat /run/cvmseal/lock.json 2>/dev/null)"
if [ -b /dev/vdb ] && ! [ -e /etc/test/bench ]; then
        cvmseal enroll /dev/vdb --unlock-key-file /etc/test/data.key --no-lock-pcr --tpm2-pcrs 7 >/tmp/out 2>&1
        say "data-enroll exit $?: $(cat /tmp/out)"
        cryptsetup -v open --token-only /dev/vdb data >/tmp/out 2>&1
        say "token-only exit $?: $(cat /tmp/out)"
        [ -b /dev/mapper/data ] && say "data content $(head -c 15 /dev/mapper/data)"
        cryptsetup close data 2>/dev/null
fi
if [ -e /etc/test/rekey ]; then
        # The rekey after switch-root (docs/boot.md, "First boot: the rekey"): this init stands in for
        # cvmseal-rekey.service (the same command: every volume whose key the initramfs handed over).  Its one-line announcement goes to the console.  The files written
        # before (in the image) and during the rekey are read back by checksum at every boot.
        mount -o remount,rw / || say "cannot remount the root file system read-write"
        say "rekey-before $(sha256sum /before.bin | cut -c1-64) at $(cut -d' ' -f1 /proc/uptime) s"
        [ -f /during.bin ] && say "rekey-during $(sha256sum /during.bin | cut -c1-64)"
        say "rekey-status $(cvmseal --json rekey --status /dev/vda | tr -d '\n ')"
        # A file written while the volume is in reencryption (the first boot started it), before the
        # data pass: it has to be re-encrypted too.  (Writes into the step being re-encrypted wait
        # for that step.)
        if [ ! -f /during.bin ]; then
                head -c 4194304 /dev/urandom >/during.bin
                sync
                say "rekey-during-written $(sha256sum /during.bin | cut -c1-64) $(cvmseal --json rekey --status /dev/vda | tr -d '\n ') at $(cut -d' ' -f1 /proc/uptime) s"
        fi
        # Its messages through a pipe, as the service's go to the journal: no progress bar.  Its one
        # line about how long it will take comes at the start of its second step: the first boot's
        # harness quits QEMU there.
        { cvmseal rekey --resume >/tmp/rekey.out; echo $? >/tmp/rekey.rc; } 2>&1 | tee /tmp/rekey.err >/dev/console &
        rekey=$!
        wait $rekey
        say "rekey-exit $(cat /tmp/rekey.rc): $(cat /tmp/rekey.out) at $(cut -d' ' -f1 /proc/uptime) s"
        say "rekey-status $(cvmseal --json rekey --status /dev/vda | tr -d '\n ')"
        say "rekey-list $(cvmseal list --json /dev/vda | tr -d '\n ')"
        sha256sum /before.bin /during.bin | sed 's/^/CVMSEAL-TEST: rekey-final /'
fi
say "END"
poweroff -f
EOS
        make_rootfs "$root" "$T/init"
        mkdir -p "$root/etc/cvmseal" "$root/etc/test"
        cp -a "$T/conf/." "$root/etc/cvmseal/"
        printf 'ID=cvmseal-test\nNAME="cvmseal boot test"\n' >"$root/etc/os-release"
        head -c 32 /dev/urandom | base64 | tr -d '\n' >"$root/etc/test/data.key"
}
