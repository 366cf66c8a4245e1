#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A TPM that asks for a command to be sent again (TPM_RC_RETRY, YIELDED, TESTING) does not make
# unlock or enroll fail: through tpm-fault-proxy.py, `unlock --test` succeeds when Unseal answers
# RETRY 3 times, Load YIELDED 2 times, StartAuthSession TESTING 4 times, and Unseal RETRY 12 times
# (more than tpm2-tss's own 5 resubmissions: cvmseal waits and sends again; the proxy log shows all
# 12 injected answers and then the real Unseal), and `enroll` succeeds when Create answers RETRY 3
# times.  A TPM that never stops asking (RETRY 100 times on Unseal, YIELDED on Load, RETRY on Create
# during enroll) makes the command exit 6 with a message about the TPM asking to retry, well within
# 30 s, without any Unseal getting through, without leaving objects or sessions loaded in the TPM,
# and without writing the LUKS2 header; the original key still opens the image every time.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
command -v timeout >/dev/null || skip "timeout is not installed"
PROXY=$(cd "$(dirname "$0")" && pwd)/tpm-fault-proxy.py
[ -f "$PROXY" ] || fail "$PROXY is missing"

TCTI=$(start_swtpm tpm)
PROXY_UPSTREAM=$T/tpm/sock
KEY=$T/key
IMG=$T/img
make_image "$IMG" "$KEY"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY"
SUM=$(header_sum "$IMG")

# count LOG LINE: how many lines of the proxy log are exactly LINE.
count() {
        grep -cxF -- "$2" "$1"
}

UNSEAL_OK='cc=0x0000015e Unseal forwarded rc=0x00000000'
UNSEAL_RETRY='cc=0x0000015e Unseal injected rc=0x00000922'

# intact WHAT: the header is unchanged, the original key still opens, and the TPM holds no transient
# object or session left over from the command (swtpm has no resource manager to clean up).
intact() {
        [ "$(header_sum "$IMG")" = "$SUM" ] || fail "$1: the LUKS2 header changed"
        cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "$1: the original key no longer opens"
        if command -v tpm2_getcap >/dev/null; then
                local h
                h=$(TPM2TOOLS_TCTI="$TCTI" tpm2_getcap handles-transient; TPM2TOOLS_TCTI="$TCTI" tpm2_getcap handles-loaded-session) \
                        || fail "$1: tpm2_getcap"
                [ -z "$h" ] || fail "$1: handles left loaded in the TPM: $h"
        fi
}

# retried_unlock NAME RULE INJECTED-LINE N: unlock --test succeeds through a proxy that answers the
# first N matching commands with an error; the log shows exactly N injected answers, then the
# command forwarded and answered, then one successful Unseal.
retried_unlock() {
        local name=$1 rule=$2 injected=$3 n=$4 forwarded
        forwarded="${injected%% injected*} forwarded rc=0x00000000"
        start_proxy "$name" --fail "$rule"
        expect_exit 0 timeout 30 "$CVMSEAL" --tcti "$PTCTI" unlock --test "$IMG"
        expect_in "$err" "^Token 0 opens keyslot 1 of $IMG\.$" "$name: unlock --test stderr"
        stop_proxy
        [ "$(count "$PLOG" "$injected")" = "$n" ] || fail "$name: want $n lines '$injected' in the log: $(cat "$PLOG")"
        [ "$(count "$PLOG" "$forwarded")" = 1 ] || fail "$name: the command did not get through once after the errors: $(cat "$PLOG")"
        [ "$(count "$PLOG" "$UNSEAL_OK")" = 1 ] || fail "$name: no successful Unseal: $(cat "$PLOG")"
        intact "$name"
}

retried_unlock unseal-retry-3 Unseal:RETRY:3 "$UNSEAL_RETRY" 3
retried_unlock load-yielded-2 Load:YIELDED:2 'cc=0x00000157 Load injected rc=0x00000908' 2
retried_unlock sas-testing-4 StartAuthSession:TESTING:4 'cc=0x00000176 StartAuthSession injected rc=0x0000090a' 4
# More than tpm2-tss resends on its own: cvmseal must wait and call again.
retried_unlock unseal-retry-12 Unseal:RETRY:12 "$UNSEAL_RETRY" 12

# The same 12 RETRYs, with -v: cvmseal says it was asked to retry, and still never prints a secret.
start_proxy unseal-retry-12-v --fail Unseal:RETRY:12
expect_exit 0 timeout 30 "$CVMSEAL" --tcti "$PTCTI" -v unlock --test "$IMG"
stop_proxy
expect_in "$err" "asked to retry" "-v output with 12 RETRYs"
[ "$(count "$PLOG" "$UNSEAL_RETRY")" = 12 ] || fail "-v run: not 12 injected RETRYs"

# A TPM that never stops asking: exit 6, promptly, and nothing changed.
# never_ending NAME RULE INJECTED-LINE CMD...: CMD exits 6 through a proxy with RULE, within 30 s.
never_ending() {
        local name=$1 rule=$2 injected=$3 start end n
        shift 3
        start_proxy "$name" --fail "$rule"
        start=$(date +%s)
        out=$(timeout 30 "$@" --tcti "$PTCTI" 2>"$T/stderr") && rc=0 || rc=$?
        err=$(cat "$T/stderr")
        end=$(date +%s)
        stop_proxy
        [ "$rc" != 124 ] || fail "$name: still running after 30 s"
        [ "$rc" = 6 ] || fail "$name: exit $rc, expected 6: $err"
        expect_in "$err" "^cvmseal: the TPM at '$PTCTI' kept asking to retry; try again later$" "$name: stderr"
        [ -z "$out" ] || fail "$name: something on stdout: $out"
        n=$(count "$PLOG" "$injected")
        # More than tpm2-tss's 5 resubmissions (cvmseal retried), fewer than all 100 (it gave up).
        [ "$n" -gt 5 ] && [ "$n" -lt 100 ] || fail "$name: $n injected answers: $(sort "$PLOG" | uniq -c)"
        note "$name: exit 6 after $n injected answers, $((end - start)) s"
        intact "$name"
}

never_ending unseal-retry-100 Unseal:RETRY:100 "$UNSEAL_RETRY" \
        "$CVMSEAL" unlock --test "$IMG"
[ "$(grep -c 'Unseal forwarded' "$PLOG")" = 0 ] || fail "unseal-retry-100: an Unseal got through"

never_ending load-yielded-100 Load:YIELDED:100 'cc=0x00000157 Load injected rc=0x00000908' \
        "$CVMSEAL" unlock --test "$IMG"
[ "$(grep -c 'Unseal' "$PLOG")" = 0 ] || fail "load-yielded-100: an Unseal was sent without a loaded object"

# --print-key prints no key when the TPM never answers.
never_ending print-key-retry-100 Unseal:RETRY:100 "$UNSEAL_RETRY" \
        "$CVMSEAL" unlock --print-key "$IMG"

# enroll, through the proxy, on a fresh image.
IMG2=$T/img2
make_image "$IMG2" "$KEY"
SUM2=$(header_sum "$IMG2")
cryptsetup luksDump "$IMG2" | grep -E '^  [0-9]+: ' >"$T/slots.before" || fail "luksDump"

# A Create that never stops asking: enroll exits 6 and adds nothing.
start_proxy create-retry-100 --fail Create:RETRY:100
out=$(timeout 30 "$CVMSEAL" --tcti "$PTCTI" enroll "$IMG2" --unlock-key-file "$KEY" 2>"$T/stderr") && rc=0 || rc=$?
err=$(cat "$T/stderr")
stop_proxy
[ "$rc" = 6 ] || fail "enroll with Create:RETRY:100: exit $rc, expected 6: $err"
expect_in "$err" "kept asking to retry" "enroll with Create:RETRY:100: stderr"
[ "$(header_sum "$IMG2")" = "$SUM2" ] || fail "enroll with Create:RETRY:100 changed the header"
cryptsetup luksDump "$IMG2" | grep -E '^  [0-9]+: ' >"$T/slots.after"
cmp -s "$T/slots.before" "$T/slots.after" || fail "enroll with Create:RETRY:100 left keyslots/tokens: $(cat "$T/slots.after")"
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG2" || fail "enroll with Create:RETRY:100: the key no longer opens"

# Three RETRYs on Create: enroll succeeds and the token works (straight to the swtpm).
start_proxy create-retry-3 --fail Create:RETRY:3
expect_exit 0 timeout 30 "$CVMSEAL" --tcti "$PTCTI" enroll "$IMG2" --unlock-key-file "$KEY"
stop_proxy
expect_in "$err" "token 0 opens keyslot 1" "enroll with Create:RETRY:3: stderr"
[ "$(count "$PLOG" 'cc=0x00000153 Create injected rc=0x00000922')" = 3 ] || fail "enroll: not 3 injected RETRYs on Create: $(cat "$PLOG")"
[ "$(count "$PLOG" 'cc=0x00000153 Create forwarded rc=0x00000000')" = 1 ] || fail "enroll: Create did not get through once: $(cat "$PLOG")"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG2"
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG2" || fail "after enroll: the original key no longer opens"
exit 0
