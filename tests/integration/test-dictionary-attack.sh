#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Dictionary-attack safety.  With the TPM's DA policy set low (3 failures, one forgiven every 600 s),
# 20 refused unlocks of a token WITHOUT a PIN (PCR 7 extended after enrollment: exit 3, by
# --test and by --print-key) leave TPM2_PT_LOCKOUT_COUNTER at 0 and inLockout at 0, as tpm2_getcap
# reads them after every refusal: the object is noda, so refusals never push the TPM toward lockout.
# To prove that this check can fail, a token WITH a PIN given a wrong PIN moves the counter by
# exactly one per try (exit 7), and reaches the lockout: exit 9, with a message that says when it
# ends ("one failure is forgiven every 600 s (the counter is at 3 of 3); try again in about 600 s"),
# also as the --json error document.  The dictionary-attack state is read (GetCapability) only on
# that path: a proxy in front of the TPM logs no GetCapability for a successful or a wrong-PIN unlock,
# and exactly one, last, for a lockout.  During the lockout a PIN-less token still unlocks.  Those
# refusals and that unlock would look the same for a PIN-less object without noda (its policy checks
# no authValue, so the DA logic never applies to it), so the noda attribute of the sealed objects is
# checked directly in the token's TPM2B_PUBLIC: set without a PIN, clear with one.  A TPM_RC_LOCKOUT
# that the counter does not explain (injected by a proxy, counter at 0) is exit 9 too, and the
# message says the counter allows a new try.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
for tool in tpm2_dictionarylockout tpm2_getcap tpm2_pcrextend; do
        command -v "$tool" >/dev/null || skip "$tool (tpm2-tools) is not installed"
done
PROXY=$(cd "$(dirname "$0")" && pwd)/tpm-fault-proxy.py
[ -f "$PROXY" ] || fail "$PROXY is missing"

tcti=$(start_swtpm tpm) || exit 1
key=$T/key
imgn=$T/imgn      # no PIN, sealed to PCR 7 (which is extended below)
imgn0=$T/imgn0    # no PIN, sealed to PCR 0 (never extended): unlocks during the lockout
imgp=$T/imgp      # PIN, sealed to PCR 0
make_image "$imgn" "$key"
make_image "$imgn0" "$key"
make_image "$imgp" "$key"
printf 'da-pin-7741\n' >"$T/pin"
printf 'da-pin-7742\n' >"$T/bad"

expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$imgn" --unlock-key-file "$key" --tpm2-pcrs 7
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$imgn0" --unlock-key-file "$key" --tpm2-pcrs 0
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$imgp" --unlock-key-file "$key" --tpm2-pcrs 0 --pin-file "$T/pin"

# noda_of IMG: "noda" or "da", the TPMA_OBJECT_NODA bit (0x400) of the token's sealed object, read from
# its marshalled TPM2B_PUBLIC (size u16, type u16, nameAlg u16, objectAttributes u32, big-endian).
noda_of() {
        cryptsetup token export --token-id 0 "$1" 2>/dev/null | python3 -c 'import base64, json, struct, sys
pub = base64.b64decode(json.load(sys.stdin)["tpm2"]["public"])
size, typ, name_alg, attrs = struct.unpack(">HHHI", pub[:10])
assert typ == 0x0008 and size == len(pub) - 2, (typ, size, len(pub))
print("noda" if attrs & 0x400 else "da")'
}

# The refusals below cannot tell noda from DA-protected for a token without a PIN: its policy has no
# PolicyAuthValue, so the TPM never checks an authValue for it and the DA logic does not apply either
# way (a build that drops noda passes every check after this one).  The attribute itself is the proof.
[ "$(noda_of "$imgn")" = noda ] || fail "the sealed object of a token without a PIN is not noda"
[ "$(noda_of "$imgn0")" = noda ] || fail "the sealed object of a token without a PIN (PCR 0) is not noda"
[ "$(noda_of "$imgp")" = da ] || fail "the sealed object of a PIN token is noda: wrong PINs would be free to guess"

da() { TPM2TOOLS_TCTI=$tcti "$@" >/dev/null 2>"$T/da.err" || fail "$*: $(cat "$T/da.err")"; }
da tpm2_dictionarylockout -c
da tpm2_dictionarylockout -s -n 3 -t 600 -l 600

# da_state: sets $counter, $max, $interval and $inlockout from tpm2_getcap properties-variable.
da_state() {
        local props
        props=$(TPM2TOOLS_TCTI=$tcti tpm2_getcap properties-variable 2>&1) || fail "tpm2_getcap: $props"
        counter=$(sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *\(0x[0-9A-Fa-f]*\)$/\1/p' <<<"$props")
        max=$(sed -n 's/^TPM2_PT_MAX_AUTH_FAIL: *\(0x[0-9A-Fa-f]*\)$/\1/p' <<<"$props")
        interval=$(sed -n 's/^TPM2_PT_LOCKOUT_INTERVAL: *\(0x[0-9A-Fa-f]*\)$/\1/p' <<<"$props")
        inlockout=$(sed -n 's/^ *inLockout: *\([01]\)$/\1/p' <<<"$props")
        [ -n "$counter" ] && [ -n "$max" ] && [ -n "$interval" ] && [ -n "$inlockout" ] \
                || fail "cannot read the DA state from tpm2_getcap: $props"
        counter=$((counter)) max=$((max)) interval=$((interval))
}

da_state
[ "$counter" = 0 ] && [ "$inlockout" = 0 ] || fail "the DA counter is $counter (inLockout $inlockout) before the test"
[ "$max" = 3 ] && [ "$interval" = 600 ] || fail "tpm2_dictionarylockout -s did not take: max $max, interval $interval"

# ---- a token without a PIN: 20 refusals, the counter stays at 0 ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgn"
pcr_extend "$tcti" 7
for i in $(seq 1 20); do
        if [ $((i % 4)) = 0 ]; then
                "$CVMSEAL" --tcti "$tcti" unlock --print-key "$imgn" >"$T/pk" 2>"$T/stderr" && rc=0 || rc=$?
                [ ! -s "$T/pk" ] || fail "refusal $i: --print-key wrote on stdout"
        else
                "$CVMSEAL" --tcti "$tcti" unlock --test "$imgn" >/dev/null 2>"$T/stderr" && rc=0 || rc=$?
        fi
        [ "$rc" = 3 ] || fail "refusal $i of the no-PIN token exited $rc, expected 3: $(cat "$T/stderr")"
        da_state
        [ "$counter" = 0 ] || fail "refusal $i of a token without a PIN moved TPM2_PT_LOCKOUT_COUNTER to $counter"
        [ "$inlockout" = 0 ] || fail "refusal $i of a token without a PIN put the TPM in lockout"
done
note "20 refusals of a no-PIN token: TPM2_PT_LOCKOUT_COUNTER 0, inLockout 0"

# ---- the proxy that shows which commands each unlock sends ----
python3 "$PROXY" --listen "$T/proxy" --upstream "$T/tpm/sock" --log "$T/proxy.log" --pidfile "$T/proxy.pid" \
        2>"$T/proxy.err" &
_pids+=($!) # stopped by lib.sh's cleanup
for _ in $(seq 1 200); do
        [ -s "$T/proxy.pid" ] && break
        sleep 0.05
done
[ -s "$T/proxy.pid" ] || fail "the proxy did not start: $(cat "$T/proxy.err")"
ptcti="swtpm:path=$T/proxy"

# The normal path reads no DA state.
: >"$T/proxy.log"
expect_exit 0 "$CVMSEAL" --tcti "$ptcti" unlock --test "$imgp" --pin-file "$T/pin"
grep -q 'Unseal forwarded rc=0x00000000' "$T/proxy.log" || fail "the proxy logged no Unseal: $(cat "$T/proxy.log")"
grep -q GetCapability "$T/proxy.log" && fail "a successful unlock sent GetCapability: $(cat "$T/proxy.log")"
da_state
[ "$counter" = 0 ] || fail "the right PIN moved the DA counter to $counter"

# A TPM_RC_LOCKOUT that the counter does not explain (injected by a second proxy) is still exit 9, and
# the message says that the counter allows a new try.
python3 "$PROXY" --listen "$T/lproxy" --upstream "$T/tpm/sock" --fail Unseal:LOCKOUT:1 --pidfile "$T/lproxy.pid" \
        2>"$T/lproxy.err" &
_pids+=($!)
for _ in $(seq 1 200); do
        [ -s "$T/lproxy.pid" ] && break
        sleep 0.05
done
[ -s "$T/lproxy.pid" ] || fail "the second proxy did not start: $(cat "$T/lproxy.err")"
expect_exit 9 "$CVMSEAL" --tcti "swtpm:path=$T/lproxy" unlock --test "$imgp" --pin-file "$T/pin"
expect_in "$err" "^cvmseal: the TPM refused with a dictionary-attack lockout, but its counter is now at 0 of 3: try again \(one failure is forgiven every 600 s\)$" \
        "the message for a lockout answer with the counter at 0"

# ---- a token with a PIN: each wrong PIN counts, and the lockout is exit 9 ----
locked=
for try in 1 2 3 4 5; do
        : >"$T/proxy.log"
        "$CVMSEAL" --tcti "$ptcti" unlock --test "$imgp" --pin-file "$T/bad" >/dev/null 2>"$T/stderr" && rc=0 || rc=$?
        da_state
        case $rc in
        7)
                expect_in "$(cat "$T/stderr")" "^cvmseal: $imgp: wrong PIN$" "wrong PIN $try"
                [ "$counter" = "$try" ] || fail "wrong PIN $try: the DA counter is $counter, expected $try"
                grep -q GetCapability "$T/proxy.log" && fail "a wrong-PIN unlock sent GetCapability: $(cat "$T/proxy.log")"
                ;;
        9)
                locked=$try
                break
                ;;
        *) fail "wrong PIN $try exited $rc: $(cat "$T/stderr")" ;;
        esac
done
[ "$locked" = 4 ] || fail "3 wrong PINs with a DA limit of 3 did not lead to the lockout at try 4 (${locked:-never})"
[ "$counter" = 3 ] && [ "$inlockout" = 1 ] || fail "exit 9, but the TPM says counter $counter, inLockout $inlockout"
msg="^cvmseal: the TPM is in dictionary-attack lockout: one failure is forgiven every 600 s \(the counter is at 3 of 3\); try again in about 600 s, or reset it with the lockout authorization$"
expect_in "$(cat "$T/stderr")" "$msg" "the lockout message"
# One GetCapability, after the refused Unseal, and nothing after it.
[ "$(grep -c GetCapability "$T/proxy.log")" = 1 ] || fail "the lockout path sent not one GetCapability: $(cat "$T/proxy.log")"
[ "$(grep -v FlushContext "$T/proxy.log" | tail -n 1 | cut -d' ' -f2)" = GetCapability ] \
        || fail "GetCapability is not the last command of the lockout path: $(cat "$T/proxy.log")"
grep -q 'Unseal forwarded rc=0x00000921' "$T/proxy.log" || fail "the TPM did not answer TPM_RC_LOCKOUT: $(cat "$T/proxy.log")"
note "lockout (exit 9) at wrong PIN $locked: $(cat "$T/stderr")"

# The right PIN during the lockout: the same; with --json, the same message in the error document.
expect_exit 9 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgp" --pin-file "$T/pin"
expect_in "$err" "$msg" "the lockout message for the right PIN"
expect_exit 9 "$CVMSEAL" --tcti "$tcti" --json unlock --test "$imgp" --pin-file "$T/pin"
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["exit-code"] == 9, d
assert "one failure is forgiven every 600 s (the counter is at 3 of 3); try again in about 600 s" in d["error"], d
' "$out" 2>"$T/py.err" || fail "the --json lockout document: $out $(cat "$T/py.err")"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$imgp" --pin-file "$T/pin" >"$T/pk" 2>"$T/stderr" && rc=0 || rc=$?
[ "$rc" = 9 ] || fail "--print-key during the lockout exited $rc, expected 9"
[ ! -s "$T/pk" ] || fail "--print-key during the lockout wrote on stdout"

# A token without a PIN is out of the DA logic: it unlocks during the lockout, and its PCR refusals
# still do not count.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgn0"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgn"
da_state
[ "$counter" = 3 ] || fail "unlocks of no-PIN tokens during the lockout moved the DA counter to $counter"

# ---- nothing was lost ----
for im in "$imgn" "$imgn0" "$imgp"; do
        cryptsetup open --test-passphrase --key-slot 0 --key-file "$key" "$im" 2>/dev/null || fail "$im: keyslot 0 no longer opens"
done
da tpm2_dictionarylockout -c
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgp" --pin-file "$T/pin"
exit 0
