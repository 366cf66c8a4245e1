#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# PIN-protected tokens: `enroll --tpm2-pin --pin-file F` (one trailing newline of F stripped) and
# `enroll --pin-file F` alone both make a token that `list` shows with a PIN; without a PIN and
# without a terminal, unlock exits 7 asking for --pin-file and sends no command to the TPM (the proxy
# in front of it logs none); a wrong PIN exits 7 ("wrong PIN"); the right PIN, with or without the
# newline, or on standard input, unlocks and its key opens the keyslot.  With the TPM's
# dictionary-attack policy set to 2 tries, wrong PINs reach exit 9 (lockout) within 4 tries, after
# which even the right PIN exits 9 and --print-key prints nothing; yet a token without a PIN on the
# same TPM still unlocks during the lockout (its policy has no authValue, so lockout never applies to
# it; test-dictionary-attack.sh checks the noda attribute itself).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
command -v tpm2_dictionarylockout >/dev/null || skip "tpm2-tools is not installed"
PROXY=$(cd "$(dirname "$0")" && pwd)/tpm-fault-proxy.py
[ -f "$PROXY" ] || fail "$PROXY is missing"

lockout_msg="the TPM is in dictionary-attack lockout"

tcti=$(start_swtpm tpm) || exit 1
img=$T/img        # one token, with a PIN (--tpm2-pin --pin-file)
img2=$T/img2      # one token, with a PIN (--pin-file alone)
imgn=$T/imgn      # one token, without a PIN
key=$T/key
make_image "$img" "$key"
make_image "$img2" "$key"
make_image "$imgn" "$key"
printf '1234\n' >"$T/pin"
printf '1234' >"$T/pin-nonl"
printf '1235\n' >"$T/bad"
printf '12345\n' >"$T/longer"
: >"$T/empty"

# ---- enroll ----
h=$(header_sum "$img")
expect_exit 7 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --tpm2-pin </dev/null
expect_in "$err" "a PIN is needed and there is no terminal to ask for it: give --pin-file FILE" "enroll --tpm2-pin without a terminal"
expect_exit 7 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --pin-file "$T/empty"
expect_in "$err" "the PIN file is empty" "enroll with an empty PIN file"
[ "$(header_sum "$img")" = "$h" ] || fail "a refused enroll changed the LUKS2 header"

expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img" --unlock-key-file "$key" --tpm2-pin --pin-file "$T/pin"
pycheck "$out" "d['token'] == 0 and d['pin'] is True" "enroll --tpm2-pin --json"
slot=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list --json "$img"
pycheck "$out" "len(d['tokens']) == 1 and d['tokens'][0]['pin'] is True and d['tokens'][0]['keyslot'] == $slot" \
        "list --json of a PIN token"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list "$img"
expect_in "$out" "^0 +cvmseal +$slot +7,15 +yes +0x81000001$" "list of a PIN token"

expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img2" --unlock-key-file "$key" --pin-file "$T/pin-nonl"
pycheck "$out" "d['token'] == 0 and d['pin'] is True" "enroll --pin-file alone"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list --json "$img2"
pycheck "$out" "d['tokens'][0]['pin'] is True" "list --json after enroll --pin-file alone"

expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$imgn" --unlock-key-file "$key"
pycheck "$out" "d['pin'] is False" "enroll without a PIN"

# ---- no PIN, no terminal: exit 7, and not one TPM command ----
python3 "$PROXY" --listen "$T/proxy" --upstream "$T/tpm/sock" --log "$T/proxy.log" --pidfile "$T/proxy.pid" \
        2>"$T/proxy.err" &
_pids+=($!) # stopped by lib.sh's cleanup
for _ in $(seq 1 200); do
        [ -s "$T/proxy.pid" ] && break
        sleep 0.05
done
[ -s "$T/proxy.pid" ] || fail "the proxy did not start: $(cat "$T/proxy.err")"
ptcti="swtpm:path=$T/proxy"
: >"$T/proxy.log"

h=$(header_sum "$img")
for im in "$img" "$img2"; do
        expect_exit 7 "$CVMSEAL" --tcti "$ptcti" unlock --test "$im" </dev/null
        expect_in "$err" "^cvmseal: $im: the token needs a PIN: give --pin-file FILE$" "unlock without a PIN"
        "$CVMSEAL" --tcti "$ptcti" unlock --print-key "$im" </dev/null >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
        [ "$rc" = 7 ] || fail "--print-key without a PIN exited $rc, expected 7: $(cat "$T/pk.err")"
        [ ! -s "$T/pk" ] || fail "--print-key without a PIN wrote on stdout"
done
[ ! -s "$T/proxy.log" ] || fail "unlock without a PIN sent TPM commands: $(cat "$T/proxy.log")"
# The proxy does see commands when there are some to see.
expect_exit 0 "$CVMSEAL" --tcti "$ptcti" unlock --test "$imgn"
grep -q 'Unseal forwarded rc=0x00000000' "$T/proxy.log" || fail "the proxy logged no Unseal: $(cat "$T/proxy.log")"

# ---- wrong and right PINs ----
expect_exit 7 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/bad"
expect_in "$err" "^cvmseal: $img: wrong PIN$" "unlock with a wrong PIN"
expect_exit 7 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/longer"
expect_in "$err" "wrong PIN" "unlock with a PIN that has the right one as a prefix"
[ "$(header_sum "$img")" = "$h" ] || fail "a refused unlock changed the LUKS2 header"
# Those failures counted against the TPM's DA limit (whatever swtpm's default is): clear them.
TPM2TOOLS_TCTI=$tcti tpm2_dictionarylockout -c >/dev/null 2>"$T/da.err" || fail "tpm2_dictionarylockout -c: $(cat "$T/da.err")"

expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/pin"
expect_in "$err" "^Token 0 opens keyslot $slot of $img\.$" "unlock with the right PIN"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/pin-nonl"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file - <"$T/pin"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img2" --pin-file "$T/pin"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" --pin-file "$T/pin" >"$T/pk" 2>"$T/pk.err" \
        || fail "--print-key with the right PIN: $(cat "$T/pk.err")"
cryptsetup open --test-passphrase --key-slot "$slot" --key-file - "$img" <"$T/pk" 2>/dev/null \
        || fail "the key unsealed with the PIN does not open keyslot $slot"

# ---- dictionary-attack lockout ----
# From a zero failure count, allow 2 failures; the failure count decays only after 600 s.
TPM2TOOLS_TCTI=$tcti tpm2_dictionarylockout -c >/dev/null 2>"$T/da.err" || fail "tpm2_dictionarylockout -c: $(cat "$T/da.err")"
TPM2TOOLS_TCTI=$tcti tpm2_dictionarylockout -s -n 2 -t 600 -l 600 >/dev/null 2>"$T/da.err" \
        || fail "tpm2_dictionarylockout -s: $(cat "$T/da.err")"

locked=
for try in 1 2 3 4; do
        "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/bad" >/dev/null 2>"$T/try.err" && rc=0 || rc=$?
        case $rc in
        7) grep -q 'wrong PIN' "$T/try.err" || fail "try $try: exit 7 without 'wrong PIN': $(cat "$T/try.err")" ;;
        9) locked=$try; break ;;
        *) fail "try $try with a wrong PIN exited $rc: $(cat "$T/try.err")" ;;
        esac
done
[ -n "$locked" ] || fail "4 wrong PINs with a DA limit of 2 did not reach the lockout (exit 9)"
expect_in "$(cat "$T/try.err")" "^cvmseal: $lockout_msg" "the lockout message"
note "lockout (exit 9) reached at wrong PIN number $locked"
if command -v tpm2_getcap >/dev/null; then
        # Not piped into grep -q: with pipefail, an early grep exit would fail the pipeline.
        props=$(TPM2TOOLS_TCTI=$tcti tpm2_getcap properties-variable 2>&1) || fail "tpm2_getcap: $props"
        grep -Eq 'inLockout: +1' <<<"$props" || fail "cvmseal says lockout, the TPM does not: $props"
fi

expect_exit 9 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/pin"
expect_in "$err" "$lockout_msg" "the right PIN during the lockout"
expect_exit 9 "$CVMSEAL" --tcti "$tcti" unlock --test "$img2" --pin-file "$T/pin"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" --pin-file "$T/pin" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
[ "$rc" = 9 ] || fail "--print-key with the right PIN during the lockout exited $rc, expected 9"
[ ! -s "$T/pk" ] || fail "--print-key during the lockout wrote on stdout"

# A token without a PIN still opens: its policy checks no authValue, so the lockout does not apply.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgn"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$imgn" >"$T/pk" 2>"$T/pk.err" \
        || fail "--print-key of a token without a PIN during the lockout: $(cat "$T/pk.err")"
cryptsetup open --test-passphrase --key-file - "$imgn" <"$T/pk" 2>/dev/null || fail "the no-PIN token's key does not open"

# ---- nothing was lost ----
[ "$(header_sum "$img")" = "$h" ] || fail "the failed unlocks changed the LUKS2 header"
key_opens "$key" "$img" 0
key_opens "$key" "$img2" 0
# Once the lockout is cleared, the right PIN works again.
TPM2TOOLS_TCTI=$tcti tpm2_dictionarylockout -c >/dev/null 2>"$T/da.err" || fail "tpm2_dictionarylockout -c: $(cat "$T/da.err")"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --pin-file "$T/pin"
exit 0
