#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The initramfs's lock helper (initramfs/cvmseal-lock.sh, shared by the initramfs-tools scripts and
# the dracut module) fails closed (docs/boot.md, "The lock PCR"; docs/configuration.md):
#   - `cvmseal lock` exiting 0: the boot goes on;
#   - any failure, "TPM unavailable" (exit 6) included: `poweroff -f`, never back to the boot; when
#     poweroff comes back, sysrq "o", then it waits forever;
#   - exit 6 with `tpm = none` in cvmseal.conf: the boot goes on; any other failure still powers off;
#   - cvmseal's message is on the console without control characters (no terminal escapes);
#   - cvmseal.conf is parsed, never evaluated: hostile values (`tpm = none; reboot`, `$(touch FILE)`,
#     backquotes, globs, a malformed line, an overlong line, a directory) mean `tpm = required`,
#     and nothing they name is run.
# The helper runs under every shell the initramfs may use (dash, bash, busybox sh) with stubs on
# PATH: `cvmseal` (exits with the code the case asks for), `poweroff`, `reboot` and `sleep` (record
# that they were called; poweroff kills the shell that called it, as a real power-off would end it).
set -u
set -o pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HELPER=$SRC/initramfs/cvmseal-lock.sh
[ -f "$HELPER" ] || fail "no $HELPER"
TIMEOUT=$(command -v timeout) || skip "timeout (coreutils) is not installed"
T=$(mktemp -d "${TMPDIR:-/tmp}/cvmseal-initramfs-lock.XXXXXX") || fail "mktemp"
trap 'rm -rf "$T"' EXIT

shells=()
for sh in dash bash; do
        p=$(command -v "$sh") && shells+=("$p")
done
p=$(command -v busybox) && "$p" sh -c : 2>/dev/null && shells+=("$p sh")
[ ${#shells[@]} -gt 0 ] || skip "no POSIX shell (dash, bash, busybox)"
note "shells: ${shells[*]}"

# ---- the stubs ----
mkdir -p "$T/bin"
cat >"$T/bin/cvmseal" <<'EOF'
#!/bin/sh
echo "cvmseal $* record=${CVMSEAL_LOCK_RECORD-unset} confdir=${CVMSEAL_CONFDIR-unset}" >>"$STUB_LOG"
printf 'the TPM went away (stub)\033[2J\033]0;forged\007\n' >&2
exit "$(cat "$STUB_RC")"
EOF
cat >"$T/bin/poweroff" <<'EOF'
#!/bin/sh
echo "poweroff $*" >>"$STUB_LOG"
[ -e "$STUB_DIR/poweroff-fails" ] && exit 1
# A power-off does not come back: end the shell that asked for it.
kill -KILL "$PPID"
exit 0
EOF
cat >"$T/bin/reboot" <<'EOF'
#!/bin/sh
echo "reboot $*" >>"$STUB_LOG"
exit 0
EOF
cat >"$T/bin/sleep" <<'EOF'
#!/bin/sh
echo "sleep $*" >>"$STUB_LOG"
# The helper's wait after a power-off that came back never ends: stop it after a while.
[ "$(grep -c '^sleep' "$STUB_LOG")" -lt 20 ] || kill -KILL "$PPID"
exit 0
EOF
chmod +x "$T/bin/"*
# The only other commands the helper and the stubs may run: never the host's poweroff, reboot or halt.
mkdir -p "$T/tools"
for tool in cat grep kill tr sed printf; do
        p=$(command -v "$tool") && [ -x "$p" ] && ln -s "$p" "$T/tools/$tool"
done
export STUB_LOG=$T/log STUB_RC=$T/rc STUB_DIR=$T

# run SHELL RC CONF: the helper's cvmseal_lock under SHELL with `cvmseal lock` exiting RC and CONF as
# cvmseal.conf; its standard error in $err, the stubs' log in $log, "returned" or "ended" in $how.
run() {
        local sh=$1 rc=$2 conf=$3 out
        echo "$rc" >"$T/rc"
        : >"$T/log"
        rm -f "$T/sysrq"
        out=$(cd "$T" && PATH="$T/bin:$T/tools" CVMSEAL_LOCK_RECORD=/tmp/forged CVMSEAL_CONFDIR=/tmp/forged \
                "$TIMEOUT" 30 $sh -c '. "$1"; _cvmseal_sysrq=$2; cvmseal_lock "$3"; echo "returned $?"' \
                sh "$HELPER" "$T/sysrq" "$conf" 2>"$T/err")
        [ $? -ne 124 ] || fail "$sh: cvmseal_lock (exit $rc, $(conf_says "$conf")) hung"
        err=$(cat "$T/err")
        log=$(cat "$T/log")
        case "$out" in
        "returned 0") how=returned ;;
        "") how=ended ;;
        *) fail "$sh: cvmseal_lock came back with '$out' (exit $rc, $(conf_says "$conf")); stderr: $err" ;;
        esac
}
conf_says() {
        if [ -f "$1" ]; then printf 'cvmseal.conf %q' "$(cat "$1")"; else echo "no cvmseal.conf"; fi
}

# expect_boot_goes_on SHELL RC CONF / expect_poweroff SHELL RC CONF
expect_boot_goes_on() {
        run "$@"
        [ "$how" = returned ] || fail "$1: exit $2, $(conf_says "$3"): the boot should go on; stderr: $err; calls: $log"
        ! grep -q '^poweroff\|^reboot' <<<"$log" || fail "$1: exit $2, $(conf_says "$3"): powered off: $log"
        [ ! -e "$T/sysrq" ] || fail "$1: exit $2: sysrq was written"
}
expect_poweroff() {
        run "$@"
        [ "$how" = ended ] || fail "$1: exit $2, $(conf_says "$3"): the boot went on; stderr: $err; calls: $log"
        grep -qx 'poweroff -f' <<<"$log" || fail "$1: exit $2, $(conf_says "$3"): no 'poweroff -f': $log"
        ! grep -q '^reboot' <<<"$log" || fail "$1: exit $2: reboot was called: $log"
        grep -q "cannot extend the lock PCR (exit $2)" <<<"$err" || fail "$1: exit $2: the console does not say why: $err"
        grep -q "powering off" <<<"$err" || fail "$1: exit $2: the console does not say it powers off: $err"
        [ "$(grep -c '^cvmseal lock' <<<"$log")" = 3 ] || fail "$1: exit $2: not three tries: $log"
}

# conf LINE...: a new cvmseal.conf holding these lines; prints its path.
conf() {
        local f
        f=$(mktemp "$T/conf.XXXXXX") || fail "mktemp"
        printf '%s\n' "$@" >"$f"
        echo "$f"
}
none=$(conf "tpm = none")

for sh in "${shells[@]}"; do
        # ---- no cvmseal.conf: tpm = required ----
        expect_boot_goes_on "$sh" 0 "$T/absent.conf"
        grep -q "extending the lock PCR 15" <<<"$err" || fail "$sh: no line before the lock: $err"
        [ "$log" = "cvmseal lock record=unset confdir=unset" ] \
                || fail "$sh: cvmseal lock ran with the environment's lock record or configuration directory: $log"
        expect_poweroff "$sh" 6 "$T/absent.conf"
        expect_poweroff "$sh" 1 "$T/absent.conf"
        expect_poweroff "$sh" 3 "$T/absent.conf"
        # cvmseal's message is on the console, without control characters.
        grep -q "the TPM went away (stub)" <<<"$err" || fail "$sh: cvmseal's message is not shown: $err"
        ! grep -q $'[\e\a]' <<<"$err" || fail "$sh: cvmseal's message reaches the console with its escapes"

        # ---- tpm = none: only "no TPM" lets the boot go on ----
        expect_boot_goes_on "$sh" 6 "$none"
        grep -q "no vTPM (tpm = none in cvmseal.conf): nothing to lock" <<<"$err" || fail "$sh: tpm = none: $err"
        [ "$(grep -c '^cvmseal lock' <<<"$log")" = 1 ] || fail "$sh: tpm = none: tried again: $log"
        expect_boot_goes_on "$sh" 0 "$none"
        for rc in 1 3 9 10; do
                expect_poweroff "$sh" "$rc" "$none"
        done
        required=$(conf "tpm = required")
        expect_poweroff "$sh" 6 "$required"
        # The forms the C reader takes (src/lib/util/config.c): blanks, tabs, CRLF, comments, other keys,
        # the last line wins.
        for c in "$(conf "tpm=none")" "$(conf "$(printf '  tpm\t=\tnone  \r')")" \
                 "$(conf "# a comment" "" "hsm-provider = azihsm_provider" "tpm = none")" \
                 "$(conf "tpm = required" "tpm = none")"; do
                expect_boot_goes_on "$sh" 6 "$c"
        done
        expect_poweroff "$sh" 6 "$(conf "tpm = none" "tpm = required")"

        # ---- hostile or malformed values: tpm = required, nothing run ----
        for c in "$(conf 'tpm = none; reboot')" "$(conf 'tpm = none && reboot')" "$(conf 'tpm = none | reboot')" \
                 "$(conf "\$(touch $T/x)")" "$(conf "tpm = \$(touch $T/x)")" "$(conf "tpm = \`touch $T/x\`")" \
                 "$(conf "tpm = none" "\$(touch $T/x)")" "$(conf "tpm \$(touch $T/x) = none")" \
                 "$(conf "tpm = none" "tpm = bogus")" "$(conf "tpm = 'none'")" "$(conf 'tpm = "none"')" \
                 "$(conf "tpm = NONE")" "$(conf "tpm = none # no TPM")" "$(conf "tpm = *")" "$(conf "* = none")" \
                 "$(conf "tpm = none" "$(head -c 5000 /dev/zero | tr '\0' a)")" "$T"; do
                expect_poweroff "$sh" 6 "$c"
                [ ! -e "$T/x" ] || fail "$sh: $(conf_says "$c"): a command in cvmseal.conf was run"
                ! grep -q '^reboot' <<<"$log" || fail "$sh: $(conf_says "$c"): reboot was run"
        done
        grep -q "tpm = required" <<<"$err" || fail "$sh: a refused cvmseal.conf is not reported: $err"

        # ---- poweroff comes back: sysrq "o", and never back to the boot ----
        : >"$T/poweroff-fails"
        expect_poweroff "$sh" 6 "$T/absent.conf"
        [ "$(cat "$T/sysrq" 2>/dev/null)" = o ] || fail "$sh: poweroff came back and sysrq o was not written"
        ! grep -qx 'sleep 30' <<<"$log" || fail "$sh: a failed poweroff was waited for: $log"
        # Without any poweroff command (dracut without systemd): sysrq "o".
        mv "$T/bin/poweroff" "$T/poweroff.stub"
        run "$sh" 6 "$T/absent.conf"
        [ "$how" = ended ] && [ "$(cat "$T/sysrq" 2>/dev/null)" = o ] \
                || fail "$sh: no poweroff command: the boot went on or sysrq o was not written: $log"
        mv "$T/poweroff.stub" "$T/bin/poweroff"
        rm -f "$T/poweroff-fails"
        note "$sh: lock ok, failures power off, tpm = none excuses exit 6 only, hostile cvmseal.conf refused"
done
echo "PASS: the lock helper fails closed"
