#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The initramfs scripts read the kernel command line as untrusted text (docs/boot.md): hostile
# values given to the parsing functions of the crypttab keyscript (initramfs/cvmseal-keyscript,
# cmdline_option) and of the dracut module (initramfs/dracut/90cvmseal/cvmseal-lib.sh) under every
# shell the initramfs may use (dash, bash, busybox sh):
#   - the command line is split on blanks with globbing off: a word "cvmseal.recovery=*" is that
#     word, even in a directory holding a file named "cvmseal.recovery=no"; the last value wins and
#     comes back as one line;
#   - no arithmetic on an unchecked value: rd.cvmseal.tpm_timeout='x[$(>FILE)]' (bash runs the
#     command substitution of an array subscript in $(( ))), backquotes, variable names, octal,
#     hexadecimal, negative, huge or out-of-range numbers are refused for the default, FILE is never
#     created, and cvmseal_wait_tpm waits exactly as long as the accepted value says;
#   - rd.cvmseal.tcti takes device:/dev/tpmrmN and device:/dev/tpmN only: the drop-in for
#     systemd-cryptsetup@.service (cvmseal_tcti_dropin, what cvmseal-generator writes) and
#     $CVMSEAL_TCTI (cvmseal_export_tcti) carry exactly that value; anything else (another TCTI,
#     another path, shell syntax, a glob) is refused on the console, writes no drop-in and unsets
#     $CVMSEAL_TCTI.
set -u
set -o pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

SRC=$(cd "$(dirname "$0")/../.." && pwd)
KEYSCRIPT=$SRC/initramfs/cvmseal-keyscript
LIB=$SRC/initramfs/dracut/90cvmseal/cvmseal-lib.sh
[ -f "$KEYSCRIPT" ] && [ -f "$LIB" ] || fail "no $KEYSCRIPT or $LIB"
TIMEOUT=$(command -v timeout) || skip "timeout (coreutils) is not installed"
T=$(mktemp -d "${TMPDIR:-/tmp}/cvmseal-initramfs-cmdline.XXXXXX") || fail "mktemp"
trap 'rm -rf "$T"' EXIT

shells=()
for sh in dash bash; do
        p=$(command -v "$sh") && shells+=("$p")
done
p=$(command -v busybox) && "$p" sh -c : 2>/dev/null && shells+=("$p sh")
[ ${#shells[@]} -gt 0 ] || skip "no POSIX shell (dash, bash, busybox)"
note "shells: ${shells[*]}"

# The keyscript is a script, not a library: its cmdline_option function (and the path it reads) is
# taken from the file as it is.
KS_FN=$(sed -n -e '/^cmdline=/p' -e '/^cmdline_option() (/,/^)$/p' "$KEYSCRIPT")
grep -q '^cmdline_option() (' <<<"$KS_FN" || fail "no cmdline_option in $KEYSCRIPT"

# A working directory whose file names a glob on the command line would pick up.
mkdir -p "$T/cwd"
: >"$T/cwd/cvmseal.recovery=no"
: >"$T/cwd/rd.cvmseal.tcti=swtpm:port=2321"

# A TPM that the firmware describes and whose device node never comes (for cvmseal_wait_tpm), and a
# sleep that only counts.
mkdir -p "$T/sys/class/tpm/tpm0" "$T/dev" "$T/bin"
printf '#!/bin/sh\necho "sleep $*" >>"%s/sleeps"\n' "$T" >"$T/bin/sleep"
chmod +x "$T/bin/sleep"

# The payloads are live: bash runs the command substitution of an array subscript in $(( )).
bash -c 't="x[\$(>$1)]"; : $((t * 5))' sh "$T/canary" 2>/dev/null
[ -e "$T/canary" ] || fail "bash did not run the arithmetic payload: this test would prove nothing"

# keyscript_option SHELL CMDLINE NAME: cmdline_option NAME with CMDLINE as /proc/cmdline.
keyscript_option() {
        printf '%s\n' "$2" >"$T/cmdline"
        (cd "$T/cwd" && "$TIMEOUT" 30 $1 -c 'eval "$1"; cmdline=$2; cmdline_option "$3"' sh "$KS_FN" "$T/cmdline" "$3")
}
# lib SHELL CMDLINE CODE: CODE after sourcing cvmseal-lib.sh, with CMDLINE as /proc/cmdline.
lib() {
        printf '%s\n' "$2" >"$T/cmdline"
        (cd "$T/cwd" && PATH="$T/bin:$PATH" "$TIMEOUT" 30 $1 -c \
                '. "$1"; _cvmseal_cmdline=$2; _cvmseal_dev=$3/dev; _cvmseal_sys=$3/sys; eval "$4"' \
                sh "$LIB" "$T/cmdline" "$T" "$3")
}
# wait_tpm SHELL VALUE WAIT: cvmseal_wait_tpm with rd.cvmseal.tpm_timeout=VALUE waits WAIT seconds
# (WAIT * 5 sleeps of 0.2 s), and runs nothing VALUE names.
wait_tpm() {
        local got
        rm -f "$T/sleeps" "$T/pwned"
        lib "$1" "rd.cvmseal.tpm_timeout=$2 quiet" 'cvmseal_wait_tpm' 2>"$T/err" && fail "$1: tpm_timeout=$2: a TPM appeared"
        [ ! -e "$T/pwned" ] || fail "$1: rd.cvmseal.tpm_timeout=$2 ran a command"
        got=$(grep -c . "$T/sleeps" 2>/dev/null)
        [ "${got:-0}" = $(($3 * 5)) ] || fail "$1: tpm_timeout=$2: ${got:-0} sleeps, not $(($3 * 5)): $(cat "$T/err")"
}

for sh in "${shells[@]}"; do
        # ---- splitting: blanks only, no globbing, the last value wins ----
        got=$(keyscript_option "$sh" "root=/dev/mapper/root cvmseal.recovery=* quiet" recovery)
        [ "$got" = "*" ] || fail "$sh: keyscript: cvmseal.recovery=* read as '$got' (globbing)"
        got=$(keyscript_option "$sh" "cvmseal.recovery=/* quiet" recovery)
        [ "$got" = "/*" ] || fail "$sh: keyscript: cvmseal.recovery=/* read as '$got' (globbing)"
        got=$(keyscript_option "$sh" "cvmseal.recovery=yes	cvmseal.recovery=no" recovery)
        [ "$got" = no ] || fail "$sh: keyscript: two values, the last one is not the one: '$got'"
        got=$(keyscript_option "$sh" "quiet" recovery)
        [ -z "$got" ] || fail "$sh: keyscript: no value read as '$got'"
        got=$(lib "$sh" "root=/dev/mapper/root rd.cvmseal.tcti=* quiet" 'cvmseal_getarg rd.cvmseal.tcti')
        [ "$got" = "*" ] || fail "$sh: cvmseal-lib: rd.cvmseal.tcti=* read as '$got' (globbing)"
        got=$(lib "$sh" "rd.cvmseal.tpm_timeout=1 rd.cvmseal.tpm_timeout=2" 'cvmseal_getarg rd.cvmseal.tpm_timeout')
        [ "$got" = 2 ] || fail "$sh: cvmseal-lib: two values, the last one is not the one: '$got'"
        lib "$sh" "quiet" 'cvmseal_getarg rd.cvmseal.tcti' >/dev/null && fail "$sh: cvmseal-lib: an absent key was found"
        note "$sh: the command line split with globbing off, the last value wins"

        # ---- numbers: digits only, in range, never evaluated ----
        for v in 'x[$(>'"$T"'/pwned)]' '1+x[$(>'"$T"'/pwned)]' 'x[`>'"$T"'/pwned`]' '$(>'"$T"'/pwned)' \
                 _i _cvmseal_cmdline '-1' 0x10 1e3 1.5 601 99999999999999999999 '5;reboot'; do
                wait_tpm "$sh" "$v" 10
                grep -q "rd.cvmseal.tpm_timeout= refused" "$T/err" || fail "$sh: tpm_timeout=$v: refused without a word"
        done
        wait_tpm "$sh" 1 1
        wait_tpm "$sh" 0 0
        wait_tpm "$sh" 010 10
        wait_tpm "$sh" 08 8
        got=$(lib "$sh" "rd.cvmseal.tpm_timeout=600" 'cvmseal_getarg_seconds rd.cvmseal.tpm_timeout 10 0 600')
        [ "$got" = 600 ] || fail "$sh: tpm_timeout=600 (the maximum) gave '$got'"
        for v in 'x[$(>'"$T"'/pwned)]' 0 86401; do
                rm -f "$T/pwned"
                got=$(lib "$sh" "rd.cvmseal.provision_timeout=$v" 'cvmseal_getarg_seconds rd.cvmseal.provision_timeout 300 1 86400' 2>/dev/null)
                [ "$got" = 300 ] && [ ! -e "$T/pwned" ] || fail "$sh: provision_timeout=$v gave '$got'"
        done
        got=$(lib "$sh" "rd.cvmseal.provision_timeout=0042" 'cvmseal_getarg_seconds rd.cvmseal.provision_timeout 300 1 86400')
        [ "$got" = 42 ] || fail "$sh: provision_timeout=0042 gave '$got'"
        note "$sh: hostile rd.cvmseal.*_timeout values refused, nothing run"

        # ---- rd.cvmseal.tcti: the device TCTI on a TPM device, nothing else ----
        for v in device:/dev/tpmrm0 device:/dev/tpm0 device:/dev/tpmrm12 device:/dev/tpm999; do
                rm -rf "$T/gen"
                lib "$sh" "quiet rd.cvmseal.tcti=$v" 'cvmseal_tcti_dropin "$3/gen"' 2>"$T/err" || fail "$sh: drop-in for $v"
                [ "$(cat "$T/gen/systemd-cryptsetup@.service.d/cvmseal-tcti.conf" 2>/dev/null)" = \
                  "$(printf '# cvmseal-generator: rd.cvmseal.tcti\n[Service]\nEnvironment=CVMSEAL_TCTI=%s' "$v")" ] \
                        || fail "$sh: rd.cvmseal.tcti=$v: the drop-in: $(cat "$T/gen/"*/* 2>&1) $(cat "$T/err")"
                got=$(CVMSEAL_TCTI=swtpm:path=/env lib "$sh" "rd.cvmseal.tcti=$v" 'cvmseal_export_tcti; printf "%s" "${CVMSEAL_TCTI-unset}"')
                [ "$got" = "$v" ] || fail "$sh: rd.cvmseal.tcti=$v exported as '$got'"
        done
        for v in 'device:/dev/tpmrm0;reboot' 'device:/dev/tpmrm0$(>'"$T"'/pwned)' device:/dev/tpm-missing device:/dev/vda \
                 device:/dev/../tmp/x device:/dev/tpmrm0/../../vda device:/dev/tpmrm0x device:/dev/tpm1234 device:tpmrm0 \
                 device: swtpm:path=/run/x.sock mssim:host=10.0.0.1,port=2321 'pcap:device:/dev/tpmrm0' libtss2-tcti-evil.so \
                 '*' 'device:/dev/tpmrm*' "$(printf 'device:/dev/tpmrm0\033[2J')"; do
                rm -rf "$T/gen" "$T/pwned"
                lib "$sh" "rd.cvmseal.tcti=$v quiet" 'cvmseal_tcti_dropin "$3/gen"' 2>"$T/err" || fail "$sh: drop-in for $v failed"
                [ ! -e "$T/gen" ] || fail "$sh: rd.cvmseal.tcti=$v: a drop-in was written: $(cat "$T/gen/"*/*)"
                grep -q "rd.cvmseal.tcti= refused" "$T/err" || fail "$sh: rd.cvmseal.tcti=$v refused without a word"
                got=$(CVMSEAL_TCTI=device:/dev/tpmrm0 lib "$sh" "rd.cvmseal.tcti=$v" 'cvmseal_export_tcti; printf "%s" "${CVMSEAL_TCTI-unset}"' 2>/dev/null)
                [ "$got" = unset ] || fail "$sh: rd.cvmseal.tcti=$v: CVMSEAL_TCTI is '$got'"
                [ ! -e "$T/pwned" ] || fail "$sh: rd.cvmseal.tcti=$v ran a command"
        done
        # No rd.cvmseal.tcti: no drop-in; the environment's value (tests) stays.
        rm -rf "$T/gen"
        lib "$sh" "quiet" 'cvmseal_tcti_dropin "$3/gen"' && [ ! -e "$T/gen" ] || fail "$sh: a drop-in without rd.cvmseal.tcti"
        got=$(CVMSEAL_TCTI=swtpm:path=/env lib "$sh" "quiet" 'cvmseal_export_tcti; printf "%s" "${CVMSEAL_TCTI-unset}"')
        [ "$got" = swtpm:path=/env ] || fail "$sh: without rd.cvmseal.tcti the environment's CVMSEAL_TCTI became '$got'"
        note "$sh: rd.cvmseal.tcti: device:/dev/tpmrmN and device:/dev/tpmN only"
done
echo "PASS: the initramfs scripts parse the kernel command line strictly"
