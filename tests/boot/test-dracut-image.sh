#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The dracut module (initramfs/dracut/90cvmseal) in initramfs images built by the real dracut for the
# installed Debian kernel, once with a systemd initrd and once without systemd (dracut's own crypt
# module: cryptroot-ask).  Checks with lsinitrd and the unpacked image that it holds the cvmseal
# program, the token plugin in libcryptsetup's token directory, the TCTIs tpm2-tss loads with dlopen,
# the PKCS#11 modules registered with p11-kit, /etc/cvmseal, the TPM drivers (or that the kernel has
# them built in) and dm-crypt; that the systemd units are wired (the image's own
# systemd-cryptsetup-generator, then systemd's --test transaction for initrd.target and
# emergency.target over the image's units); that the cryptroot-ask wrapper and the hooks are in place;
# and that the image's programs work in a chroot against a swtpm: provisioning helper, unlock through
# the plugin by cryptsetup luksOpen with no passphrase, the lock, the refusal line and the passphrase
# fallback.  The QEMU boots are test-boot-dracut.sh.
#
# The module is used from the source tree: a private copy of dracut's base directory
# (dracutbasedir=) with the module added, and a private configuration directory naming the binary and
# plugin from the build ($CVMSEAL, $CVMSEAL_TOKEN_PLUGIN).  Needs root (dracut, chroot).
set -u
set -o pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

: "${CVMSEAL:?CVMSEAL must point at the cvmseal binary}"
: "${CVMSEAL_TOKEN_PLUGIN:?CVMSEAL_TOKEN_PLUGIN must point at libcryptsetup-token-cvmseal.so}"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MODULE=$SRC/initramfs/dracut/90cvmseal

command -v dracut > /dev/null || skip "dracut is not installed (apt-get install dracut-core)"
command -v lsinitrd > /dev/null || skip "lsinitrd (dracut-core) is not installed"
for tool in cpio python3 readelf strings unshare chroot cryptsetup; do
        command -v "$tool" > /dev/null || skip "$tool is not installed"
done
[ -d /usr/lib/dracut/modules.d/90crypt ] || skip "dracut's crypt module is not installed"
[ "$(id -u)" = 0 ] || skip "dracut and chroot need root"
KVER=""
for d in /lib/modules/*; do
        [ -e "$d/modules.dep" ] && [ -e "/boot/vmlinuz-${d##*/}" ] && KVER=${d##*/}
done
[ -n "$KVER" ] || skip "no kernel installed (/boot/vmlinuz-* with its /lib/modules; apt-get install linux-image-amd64)"
note "kernel $KVER"

T=$(mktemp -d "${TMPDIR:-/tmp}/cvmseal-dracut.XXXXXX") || fail "mktemp"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

# libcryptsetup's token directory, from libcryptsetup itself (crypt_token_external_path()).
TOKENDIR=$(python3 -c 'import ctypes, ctypes.util
l = ctypes.CDLL("libcryptsetup.so.12")
l.crypt_token_external_path.restype = ctypes.c_char_p
print(l.crypt_token_external_path().decode())') || fail "cannot ask libcryptsetup for its token directory"
note "libcryptsetup token directory: $TOKENDIR"

# A private dracut with our module; a private configuration: the build's program and plugin, and a
# configuration directory standing for /etc/cvmseal.
cp -a /usr/lib/dracut "$T/dracut" || fail "copy of /usr/lib/dracut"
cp -r "$MODULE" "$T/dracut/modules.d/" || fail "copy of the module"
mkdir -p "$T/conf.d" "$T/etc-cvmseal/certs" "$T/etc-cvmseal/policies"
echo '{"version": 1, "require": ["tpm-quote"]}' > "$T/etc-cvmseal/attest-policy.json"
echo '-----BEGIN CERTIFICATE-----' > "$T/etc-cvmseal/certs/test-ark.pem"
echo '{"version": 1}' > "$T/etc-cvmseal/policies/signed-policy.json"
cat > "$T/conf.d/50-cvmseal.conf" << CONF
cvmseal_binary="$CVMSEAL"
cvmseal_token_plugin="$CVMSEAL_TOKEN_PLUGIN"
cvmseal_lockscript="$SRC/initramfs/cvmseal-lock.sh"
cvmseal_confdir="$T/etc-cvmseal"
CONF

# build NAME MODULES...: an uncompressed image in $T/NAME.img, unpacked in $T/NAME.
build() {
        local name=$1 start end
        shift
        start=$(date +%s)
        dracutbasedir="$T/dracut" dracut --force --no-hostonly --no-hostonly-cmdline --quiet \
                --kver "$KVER" --conf /dev/null --confdir "$T/conf.d" \
                --modules "$*" --no-compress --no-early-microcode \
                --tmpdir "$T" "$T/$name.img" > "$T/$name.log" 2>&1 \
                || { cat "$T/$name.log" >&2; fail "dracut ($name) failed"; }
        end=$(date +%s)
        note "$name image: $(du -h "$T/$name.img" | cut -f1), built in $((end - start)) s"
        lsinitrd "$T/$name.img" > "$T/$name.list" 2> /dev/null || fail "lsinitrd ($name)"
        mkdir -p "$T/$name"
        (cd "$T/$name" && cpio -id --quiet --no-absolute-filenames < "$T/$name.img") || fail "unpacking $name.img"
}

# has NAME PATH: the image holds PATH (following the image's own links: lib -> usr/lib...), and
# lsinitrd lists it.
has() {
        { [ -e "$T/$1/${2#/}" ] || [ -L "$T/$1/${2#/}" ]; } || fail "$1 image: no ${2#/}"
        grep -qE "[ /]${2##*/}( -> .*)?$" "$T/$1.list" || fail "$1 image: lsinitrd does not list ${2#/}"
}
hasnt() {
        ! [ -e "$T/$1/${2#/}" ] || fail "$1 image: ${2#/} should not be there"
}

build_id() {
        readelf -n "$1" 2> /dev/null | sed -n 's/.*Build ID: //p'
}

# check_common NAME: what both kinds of image hold.
check_common() {
        local n=$1 m f mod

        has "$n" usr/bin/cvmseal
        has "$n" "$TOKENDIR/libcryptsetup-token-cvmseal.so"
        # The file itself, not a stale one: the plugin from the build (dracut strips it: the build ids).
        [ "$(build_id "$T/$n/$TOKENDIR/libcryptsetup-token-cvmseal.so")" = "$(build_id "$CVMSEAL_TOKEN_PLUGIN")" ] \
                || fail "$n image: the token plugin is not the one built"
        [ "$(build_id "$T/$n/usr/bin/cvmseal")" = "$(build_id "$CVMSEAL")" ] \
                || fail "$n image: the cvmseal program is not the one built"
        for f in libtss2-tcti-device.so.0 libtss2-tctildr.so.0; do
                grep -qE "/$f( -> .*)?$" "$T/$n.list" || fail "$n image: no $f (tpm2-tss loads it with dlopen)"
                # In a directory of the image's loader cache (dracut runs ldconfig on the image).
                strings "$T/$n/etc/ld.so.cache" | grep -qE "^/.*/$f$" \
                        || fail "$n image: $f is not in the image's loader cache"
        done
        has "$n" etc/cvmseal/attest-policy.json
        has "$n" etc/cvmseal/certs/test-ark.pem
        has "$n" etc/cvmseal/policies/signed-policy.json
        has "$n" usr/lib/cvmseal/cvmseal-provision
        has "$n" usr/lib/cvmseal/cvmseal-lock
        has "$n" usr/lib/cvmseal/cvmseal-lib.sh
        has "$n" usr/lib/cvmseal/cvmseal-lock.sh
        has "$n" lib/dracut/hooks/emergency/10-cvmseal-lock-hook.sh
        has "$n" lib/dracut/hooks/shutdown-emergency/10-cvmseal-lock-hook.sh

        # PKCS#11: the modules p11-kit knows of (not the trust store), with their configuration.
        for m in /etc/pkcs11/modules/*.module /usr/share/p11-kit/modules/*.module; do
                [ -f "$m" ] || continue
                if grep -qE '^[[:space:]]*trust-policy:[[:space:]]*yes' "$m"; then
                        hasnt "$n" "$m"
                        continue
                fi
                mod=$(sed -n 's/^[[:space:]]*module:[[:space:]]*//p' "$m")
                [ "${mod#/}" != "$mod" ] || mod=$(pkg-config --variable=p11_module_path p11-kit-1)/$mod
                [ -e "$mod" ] || continue
                has "$n" "$m"
                has "$n" "$mod"
                note "$n image: PKCS#11 module $mod"
        done

        # Kernel: the TPM drivers are modules in the image or built into the kernel; dm-crypt likewise.
        for mod in tpm tpm_tis_core tpm_tis tpm_crb dm_crypt; do
                re="/$(sed 's/[-_]/[-_]/g' <<< "$mod")\.ko(\.[a-z]+)?$"
                if grep -qE "$re" "/lib/modules/$KVER/modules.builtin"; then
                        note "$n image: $mod is built into $KVER"
                elif grep -qE "$re" "$T/$n.list"; then
                        :
                else
                        fail "$n image: kernel module $mod is neither built in nor in the image"
                fi
        done

        # The program runs inside the image, with the image's libraries only, and the plugin's libraries
        # all resolve there.
        out=$(chroot "$T/$n" /usr/bin/cvmseal --version 2>&1) || fail "$n image: cvmseal --version in the image: $out"
        note "$n image: cvmseal --version: $out"
        out=$(chroot "$T/$n" /usr/bin/cvmseal --help 2>&1) || fail "$n image: cvmseal --help in the image: $out"
        if out=$(chroot "$T/$n" ldd "$TOKENDIR/libcryptsetup-token-cvmseal.so" 2>&1); then
                if grep -q 'not found' <<< "$out"; then fail "$n image: the plugin misses libraries: $out"; fi
        else
                # No ldd in the image: the image's loader resolves the plugin's libraries itself.
                out=$(chroot "$T/$n" /bin/sh -c "LD_TRACE_LOADED_OBJECTS=1 /lib64/ld-linux-x86-64.so.2 $TOKENDIR/libcryptsetup-token-cvmseal.so" 2>&1) \
                        || fail "$n image: the plugin's libraries: $out"
                if grep -q 'not found' <<< "$out"; then fail "$n image: the plugin misses libraries: $out"; fi
        fi
}

# A LUKS2 file with a cvmseal token, enrolled on a private swtpm, for the plugin checks inside the images.
# Text without a newline: it is also typed at a passphrase prompt (stdin), which stops at a newline.
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$T/key"
truncate -s 20M "$T/disk.img"
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --key-file "$T/key" "$T/disk.img" > /dev/null || fail "luksFormat"
command -v swtpm > /dev/null || skip "swtpm is not installed"
command -v tpm2_pcrread > /dev/null || skip "tpm2-tools is not installed"
# start_swtpm: a fresh swtpm process on $T/tpm/sock (its state survives: a reboot of the same vTPM).
start_swtpm() {
        mkdir -p "$T/tpm"
        rm -f "$T/tpm/sock" "$T/tpm/sock.ctrl"
        swtpm socket --tpm2 --tpmstate dir="$T/tpm" --server type=unixio,path="$T/tpm/sock" \
                --ctrl type=unixio,path="$T/tpm/sock.ctrl" --flags not-need-init,startup-clear \
                --pid file="$T/tpm/pid" --daemon || fail "swtpm"
        for _ in $(seq 50); do [ -S "$T/tpm/sock" ] && return 0; sleep 0.1; done
        fail "swtpm did not start"
}
stop_swtpm() {
        local p
        p=$(cat "$T/tpm/pid" 2> /dev/null) || return 0
        kill "$p" 2> /dev/null
        while kill -0 "$p" 2> /dev/null; do sleep 0.05; done
        rm -f "$T/tpm/pid"
}
trap 'stop_swtpm; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
export TSS2_LOG=all+none
# This test's own local configuration (the SRK that enroll pins), never the machine's /etc/cvmseal.
export CVMSEAL_CONFDIR=$T/conf
HOST_TCTI="swtpm:path=$T/tpm/sock"
start_swtpm
CVMSEAL_TCTI=$HOST_TCTI "$CVMSEAL" enroll "$T/disk.img" --unlock-key-file "$T/key" \
        > "$T/enroll.log" 2>&1 || { cat "$T/enroll.log" >&2; fail "enroll"; }

# in_image NAME COMMAND...: COMMAND in the unpacked image, with /proc, /dev and the swtpm's socket
# directory at /tpm (a private mount namespace).  The image's lock powers the machine off when it
# fails: in there, the image's poweroff (when it has one) is a stub that logs to /tpm/poweroff.log
# and ends its caller, and sysrq "o" goes to /tpm/sysrq, never to this machine's kernel.
printf '#!/bin/sh\necho "poweroff $*" >> /tpm/poweroff.log\nkill -KILL "$PPID"\n' > "$T/poweroff-stub"
chmod 755 "$T/poweroff-stub"
in_image() {
        mkdir -p "$T/$1/tpm"
        unshare -m sh -c 'root=$1 tpm=$2 stub=$3; shift 3
                mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" && mount --bind "$tpm" "$root/tpm" || exit 1
                touch "$tpm/sysrq"
                if [ -e "$root/proc/sysrq-trigger" ]; then
                        mount --bind "$tpm/sysrq" "$root/proc/sysrq-trigger" || exit 1
                fi
                for d in usr/sbin usr/bin sbin bin; do
                        if [ -e "$root/$d/poweroff" ]; then
                                mount --bind "$stub" "$root/$d/poweroff" || exit 1
                        fi
                done
                exec chroot "$root" "$@"' sh "$T/$1" "$T/tpm" "$T/poweroff-stub" "${@:2}"
}

# live_checks NAME: the image's programs against a live vTPM.  A VM's initramfs reaches its TPM through
# tpm2-tss's device TCTI; here the vTPM is a swtpm, so its TCTI (libtss2-tcti-swtpm) is copied into the
# unpacked image for the test, and CVMSEAL_TCTI names it (the token plugin honours it too).
live_checks() {
        local n=$1 lib
        lib=$(ldconfig -p | sed -n 's/^[[:space:]]*libtss2-tcti-swtpm\.so\.0 (.*) => //p' | head -n 1)
        [ -n "$lib" ] || { note "$n image: no libtss2-tcti-swtpm: the live checks are skipped"; return 0; }
        cp "$lib" "$T/$n/$lib"
        stop_swtpm
        start_swtpm     # a reboot: the PCRs are reset
        cp "$T/disk.img" "$T/$n/disk.img"
        export CVMSEAL_TCTI=swtpm:path=/tpm/sock

        # First-boot provisioning on a volume without a marker: nothing to do, exit 0, never a prompt.
        out=$(in_image "$n" /usr/lib/cvmseal/cvmseal-provision /disk.img 2>&1 < /dev/null) \
                || fail "$n image: cvmseal-provision: $out"
        if grep -q 'failed\|timed out' <<< "$out"; then fail "$n image: cvmseal-provision: $out"; fi
        out=$(in_image "$n" cvmseal unlock /disk.img --test 2>&1) || fail "$n image: unlock --test before the lock: $out"
        if [ "$n" = plain ]; then
                # cryptsetup luksOpen as cryptroot-ask runs it (no --token-only): the token opens the
                # volume through the plugin before any passphrase is asked for (none is given).
                out=$(in_image "$n" cryptsetup open --test-passphrase -T1 /disk.img 2>&1 < /dev/null) \
                        || fail "$n image: cryptsetup did not open the volume through the token: $out"
        fi

        # The lock: PCR 15 extended, the token refused for the rest of this boot (exit 3), idempotent.
        out=$(in_image "$n" timeout 120 /usr/lib/cvmseal/cvmseal-lock 2>&1 < /dev/null) || fail "$n image: cvmseal-lock: $out"
        in_image "$n" cvmseal unlock /disk.img --test > "$T/out" 2>&1
        rc=$?
        [ $rc -eq 3 ] || fail "$n image: unlock --test after the lock exited $rc, not 3: $(cat "$T/out")"
        pcr15=$(tpm2_pcrread -T "$HOST_TCTI" sha256:15 2> /dev/null | sed -n 's/.*15 *: *0x//p')
        out=$(in_image "$n" timeout 120 /usr/lib/cvmseal/cvmseal-lock 2>&1 < /dev/null) || fail "$n image: a second cvmseal-lock: $out"
        [ "$(tpm2_pcrread -T "$HOST_TCTI" sha256:15 2> /dev/null | sed -n 's/.*15 *: *0x//p')" = "$pcr15" ] \
                || fail "$n image: a second cvmseal-lock extended PCR 15 again"
        case "$pcr15" in
                "" | 0000000000000000000000000000000000000000000000000000000000000000) fail "$n image: PCR 15 was not extended" ;;
        esac
        if [ "$n" = plain ]; then
                # Refused: cryptsetup says why (the plugin's line), then falls back to the passphrase
                # (here on standard input; at boot cryptroot-ask's prompt).
                out=$(in_image "$n" cryptsetup open --test-passphrase -T1 /disk.img 2>&1 < "$T/key") \
                        || fail "$n image: the passphrase after a refused token: $out"
                grep -q "cvmseal token 0: the TPM policy is not satisfied" <<< "$out" \
                        || fail "$n image: cryptsetup did not say why the token was refused: $out"
                note "$n image: a refused token: $(grep 'cvmseal token' <<< "$out")"
        fi
        # The lock fails closed: the vTPM gone ("TPM unavailable", exit 6, and no `tpm = none` in the
        # image's cvmseal.conf), the helper powers off (the stub, or sysrq "o" where the image has no
        # poweroff) and never returns.
        stop_swtpm
        rm -f "$T/tpm/poweroff.log"
        out=$(in_image "$n" timeout 30 /usr/lib/cvmseal/cvmseal-lock 2>&1 < /dev/null) && rc=0 || rc=$?
        grep -q "cannot extend the lock PCR (exit 6)" <<< "$out" && grep -q "powering off" <<< "$out" \
                || fail "$n image: the lock without a TPM: $out"
        # Powered off through the stub (killed), through sysrq (where this machine has one to redirect),
        # or still waiting for the end when timeout stopped it (124): never back with a status.
        grep -qx "poweroff -f" "$T/tpm/poweroff.log" 2> /dev/null || [ "$(cat "$T/tpm/sysrq")" = o ] || [ $rc = 124 ] \
                || fail "$n image: the lock without a TPM came back (exit $rc): $out"
        [ $rc != 0 ] || fail "$n image: the lock without a TPM returned 0: $out"
        start_swtpm
        unset CVMSEAL_TCTI
        rm -f "$T/$n/disk.img" "$T/$n/$lib"
        note "$n image: provision, unlock, lock (PCR 15 = ${pcr15:0:16}...), refusal after the lock, power-off without a TPM: ok"
}

# --- systemd initrd ------------------------------------------------------------------------------
build systemd systemd systemd-initrd dracut-systemd cvmseal
n=systemd
check_common "$n"
UNITDIR=usr/lib/systemd/system
[ -L "$T/$n/lib" ] || UNITDIR=lib/systemd/system
has "$n" "$UNITDIR/cvmseal-lock.service"
has "$n" "$UNITDIR/systemd-cryptsetup@.service.d/cvmseal.conf"
for t in initrd.target initrd-switch-root.target emergency.target rescue.target; do
        [ "$(readlink -f "$T/$n/$UNITDIR/$t.wants/cvmseal-lock.service" 2>/dev/null)" = \
          "$(readlink -f "$T/$n/$UNITDIR/cvmseal-lock.service")" ] || fail "$n image: $t does not want cvmseal-lock.service"
done
grep -qE 'system-generators/systemd-cryptsetup-generator$' "$T/$n.list" || fail "$n image: no systemd-cryptsetup-generator"
grep -qE 'systemd/systemd-cryptsetup$' "$T/$n.list" || fail "$n image: no systemd-cryptsetup"
grep -q 'usr/bin/systemd-escape' "$T/$n.list" || grep -q 'bin/systemd-escape' "$T/$n.list" || fail "$n image: no systemd-escape"
# The lock's place in the boot: after every volume, before leaving the initramfs.
lock=$T/$n/$UNITDIR/cvmseal-lock.service
for d in "After=.*cryptsetup.target" "Before=.*initrd.target" "Before=.*initrd-switch-root.target" \
         "Before=.*initrd-cleanup.service" "Before=.*emergency.service" "DefaultDependencies=no"; do
        grep -qE "^$d" "$lock" || fail "$n image: cvmseal-lock.service lacks $d"
done

# The image's own systemd-cryptsetup-generator makes the unit of a root volume named on the kernel
# command line; systemd (in its --test mode: the initial transaction, dumped) then loads the image's
# units with it: the drop-in applies to the generated unit, the boot transaction holds both our lock
# and the volume's unlock, and the orderings are the ones the design needs.
UUID=$(cryptsetup luksUUID "$T/disk.img")
mkdir -p "$T/gen"
SYSTEMD_IN_INITRD=1 SYSTEMD_PROC_CMDLINE="rd.luks.uuid=$UUID root=/dev/mapper/luks-$UUID" \
        SYSTEMD_CRYPTTAB=/nonexistent "$T/$n/$UNITDIR/../system-generators/systemd-cryptsetup-generator" \
        "$T/gen" "$T/gen" "$T/gen" || fail "$n image: systemd-cryptsetup-generator"
cs_unit="systemd-cryptsetup@$(systemd-escape "luks-$UUID").service"
[ -f "$T/gen/$cs_unit" ] || fail "$n image: the generator made no $cs_unit"
# The device cvmseal-provision --unit derives from the generated BindsTo=.
dev=$(sed -n 's/^BindsTo=\(.*\)\.device$/\1/p' "$T/gen/$cs_unit" | head -n 1)
[ "$(chroot "$T/$n" systemd-escape --unescape --path "$dev")" = "/dev/disk/by-uuid/$UUID" ] \
        || fail "$n image: BindsTo=$dev does not name /dev/disk/by-uuid/$UUID"

# cvmseal-provision --unit finds the device of the generated unit (here from the generator's unit
# file: no systemd runs; at boot `systemctl show` answers first).
mkdir -p "$T/$n/run/systemd/generator"
cp "$T/gen/$cs_unit" "$T/$n/run/systemd/generator/"
inst=${cs_unit#systemd-cryptsetup@}
out=$(chroot "$T/$n" /usr/lib/cvmseal/cvmseal-provision --unit "${inst%.service}" 2>&1 < /dev/null)
grep -q "/dev/disk/by-uuid/$UUID: no such device" <<< "$out" \
        || fail "$n image: cvmseal-provision --unit did not find the unit's device: $out"
rm -rf "$T/$n/run/systemd/generator"

# rd.cvmseal.tcti reaches systemd-cryptsetup, where the token plugin runs: the image's cvmseal-generator,
# run in the image with that command line, writes its drop-in next to the generated unit.
has "$n" "${UNITDIR%/system}/system-generators/cvmseal-generator"
printf 'root=/dev/mapper/root rd.cvmseal.tcti=device:/dev/tpmrm1 quiet\n' > "$T/cmdline-tcti"
mkdir -p "$T/$n/gen-out"
unshare -m sh -c 'root=$1; mount -t proc proc "$root/proc" && mount --bind "$2" "$root/proc/cmdline" &&
        exec chroot "$root" /'"${UNITDIR%/system}"'/system-generators/cvmseal-generator /gen-out /gen-out /gen-out' \
        sh "$T/$n" "$T/cmdline-tcti" || fail "$n image: cvmseal-generator"
cp -r "$T/$n/gen-out/." "$T/gen/" && rm -rf "$T/$n/gen-out"
grep -qx 'Environment=CVMSEAL_TCTI=device:/dev/tpmrm1' "$T/gen/systemd-cryptsetup@.service.d/cvmseal-tcti.conf" \
        || fail "$n image: cvmseal-generator wrote no drop-in for rd.cvmseal.tcti"

# transaction TARGET: systemd --test's dump of the initial transaction for TARGET, with the image's
# units and the generated ones ("Don't run test mode as root": as nobody).
transaction() {
        chmod 755 "$T"
        SYSTEMD_UNIT_PATH="$T/gen:$T/$n/$UNITDIR" timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
                /lib/systemd/systemd --test --system --unit="$1" --no-pager --log-target=console \
                > "$T/dump-$1" 2>&1 || { cat "$T/dump-$1" >&2; fail "$n image: systemd --test --unit=$1"; }
        chmod 700 "$T"
        if grep -iE 'ordering cycle|breaking|found dependency' "$T/dump-$1"; then fail "$n image: systemd --test --unit=$1"; fi
}
# unit DUMP UNIT: UNIT's part of the dump.
unit() {
        U="	-> Unit $2:" awk '$0 == ENVIRON["U"] { p = 1; print; next } p && /^\t-> Unit / { exit } p' "$1"
}
# job DUMP UNIT: the transaction starts UNIT.
job() {
        grep -qF "Action: $2 -> start" "$1" || fail "$n image: the transaction does not start $2 ($1)"
}
if [ -x /lib/systemd/systemd ] && command -v setpriv > /dev/null; then
        transaction initrd.target
        d=$T/dump-initrd.target
        job "$d" cvmseal-lock.service
        job "$d" "$cs_unit"
        unit "$d" "$cs_unit" > "$T/cs-unit"
        grep -qF 'Command Line: /usr/lib/cvmseal/cvmseal-provision --unit' "$T/cs-unit" \
                || fail "$n image: the cvmseal drop-in does not apply to $cs_unit"
        grep -qF 'Before: cryptsetup.target' "$T/cs-unit" || fail "$n image: $cs_unit is not before cryptsetup.target"
        grep -qF 'Environment: SYSTEMD_LOG_TARGET=console' "$T/cs-unit" || fail "$n image: $cs_unit logs to the journal only"
        grep -qF 'CVMSEAL_TCTI=device:/dev/tpmrm1' "$T/cs-unit" \
                || fail "$n image: rd.cvmseal.tcti does not reach $cs_unit's environment: $(grep Environment "$T/cs-unit")"
        unit "$d" cvmseal-lock.service > "$T/lock-unit"
        for dep in "After: cryptsetup.target" "Before: initrd.target" "Before: initrd-switch-root.target" \
                   "Before: initrd-cleanup.service" "Before: emergency.service" "WantedBy: initrd.target" \
                   "WantedBy: emergency.target" "WantedBy: initrd-switch-root.target"; do
                grep -qF "$dep" "$T/lock-unit" || fail "$n image: cvmseal-lock.service lacks $dep"
        done
        # The refusal path: emergency.target starts the lock too.
        transaction emergency.target
        job "$T/dump-emergency.target" cvmseal-lock.service
        note "$n image: systemd's transactions for initrd.target and emergency.target start cvmseal-lock.service;"\
                "rd.cvmseal.tcti is in $cs_unit's environment"
else
        note "$n image: no /lib/systemd/systemd or setpriv on the host: the transaction checks are skipped"
fi
rm -rf "$T/gen"

# What the user sees when automatic unlock is refused, with systemd: systemd-cryptsetup logs the
# plugin's reason (libcryptsetup's log, CRYPT_LOG_ERROR -> LOG_ERR) and the drop-in sends its log to
# the console.  systemd-cryptsetup needs device-mapper before it tries a token, which this machine has
# not: the QEMU boot test (test-boot-dracut.sh) sees it; the plain image below shows the same line
# through cryptsetup.

live_checks "$n"

# --- without systemd: dracut's crypt module (cryptroot-ask) -----------------------------------------
build plain bash cvmseal
n=plain
check_common "$n"
hasnt "$n" "usr/lib/systemd/system/cvmseal-lock.service"
has "$n" sbin/cryptroot-ask
has "$n" sbin/cryptroot-ask.dracut
has "$n" lib/dracut/hooks/pre-pivot/10-cvmseal-lock-hook.sh
grep -q '/usr/lib/cvmseal/cvmseal-provision "$1"' "$T/$n/sbin/cryptroot-ask" \
        || fail "$n image: /sbin/cryptroot-ask is not cvmseal's wrapper"
grep -qx 'cvmseal_env' "$T/$n/sbin/cryptroot-ask" \
        || fail "$n image: cryptroot-ask does not hand rd.cvmseal.tcti to cryptsetup (the plugin)"
grep -q 'luksOpen' "$T/$n/sbin/cryptroot-ask.dracut" || fail "$n image: dracut's cryptroot-ask is missing"
grep -qE 'cryptroot-ask' "$T/$n/lib/dracut/hooks/cmdline/30-parse-crypt.sh" \
        || fail "$n image: dracut's crypt module does not run cryptroot-ask"
# The cryptsetup of the image loads the plugin: luksDump goes through its dump function, and an open
# without a TPM shows the plugin's reason before the passphrase prompt (none: no terminal).
cp "$T/disk.img" "$T/$n/disk.img"
out=$(in_image "$n" cryptsetup luksDump /disk.img 2>&1) || fail "$n image: cryptsetup luksDump: $out"
grep -qE "cvmseal version: [0-9]+" <<< "$out" || fail "$n image: libcryptsetup did not load the plugin: $out"
out=$(in_image "$n" cryptsetup open --test-passphrase --token-only /disk.img 2>&1 < /dev/null)
rm -f "$T/$n/disk.img"
grep -q "cvmseal token 0: no TPM is available" <<< "$out" \
        || fail "$n image: cryptsetup did not show the plugin's reason: $out"
note "$n image: cryptsetup without a TPM says: $(grep 'cvmseal token' <<< "$out")"
live_checks "$n"

echo "ok: dracut images (systemd and cryptroot-ask) hold and wire the cvmseal module"
