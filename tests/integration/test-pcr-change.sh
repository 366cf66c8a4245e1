#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A token sealed to PCR 7 is refused once PCR 7 changes, as after a changed boot: `unlock --test`
# (and --token 0, and --json, which then prints an error document) exits 3 with a message about the
# TPM policy and the boot state, `unlock --print-key` exits 3 and writes nothing on stdout, the LUKS2
# header is not touched and the original key still opens the volume; a token sealed to PCR 0 on the
# same TPM still unlocks (only the PCR it is bound to matters); and after a TPM reboot (PCRs reset
# to the enrolled values) the PCR 7 token unlocks again and its key opens its keyslot.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"

# print_key IMG ARGS...: runs unlock --print-key; the key (bytes exact) in $T/pk, the status in $rc.
print_key() {
        local img=$1
        shift
        "$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" "$@" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
}

policy_msg='the TPM policy is not satisfied: the boot state \(the PCRs\) differs from the enrolled one'

tcti=$(start_swtpm tpm) || exit 1
img7=$T/img7
img0=$T/img0
key=$T/key
make_image "$img7" "$key"
make_image "$img0" "$key"

expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img7" --unlock-key-file "$key"
pycheck "$out" "d['token'] == 0 and d['pcrs'] == [7, 15]" "enroll to PCR 7"
slot7=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img0" --unlock-key-file "$key" --tpm2-pcrs 0
pycheck "$out" "d['token'] == 0 and d['pcrs'] == [0, 15]" "enroll to PCR 0"

# Both unlock in the enrolled boot state.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img7"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img0"
print_key "$img7"
{ [ "$rc" = 0 ] && [ -s "$T/pk" ]; } || fail "--print-key before the PCR change: $rc $(cat "$T/pk.err")"
cp "$T/pk" "$T/pass7"

h7=$(header_sum "$img7")
h0=$(header_sum "$img0")

# ---- the boot changes PCR 7 ----
pcr_extend "$tcti" 7

expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img7"
expect_in "$err" "^cvmseal: $img7: $policy_msg" "unlock --test after the PCR 7 change"
[ -z "$out" ] || fail "a refused unlock --test printed on stdout: $out"

expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test --token 0 "$img7"
expect_in "$err" "$policy_msg" "unlock --test --token 0 after the PCR 7 change"

expect_exit 3 "$CVMSEAL" --tcti "$tcti" --json unlock --test "$img7"
pycheck "$out" "d['exit-code'] == 3 and 'boot state' in d['error']" "--json error document"

print_key "$img7"
[ "$rc" = 3 ] || fail "--print-key after the PCR 7 change exited $rc, expected 3: $(cat "$T/pk.err")"
[ ! -s "$T/pk" ] || fail "--print-key wrote $(wc -c <"$T/pk") bytes on stdout although it failed"
expect_in "$(cat "$T/pk.err")" "$policy_msg" "--print-key's message"

[ "$(header_sum "$img7")" = "$h7" ] || fail "a refused unlock changed the LUKS2 header"
key_opens "$key" "$img7" 0
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list --json "$img7"
pycheck "$out" "len(d['tokens']) == 1 and d['tokens'][0]['pcrs'] == [7, 15] and d['tokens'][0]['keyslot'] == $slot7" \
        "the token after refused unlocks"

# ---- a token bound to PCR 0 does not care about PCR 7 ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img0" --json
pycheck "$out" "d['token'] == 0" "PCR 0 token after the PCR 7 change"
print_key "$img0"
[ "$rc" = 0 ] || fail "--print-key of the PCR 0 token exited $rc: $(cat "$T/pk.err")"
cryptsetup open --test-passphrase --key-file - "$img0" <"$T/pk" 2>/dev/null || fail "the PCR 0 token's key does not open"
[ "$(header_sum "$img0")" = "$h0" ] || fail "unlock --test changed the LUKS2 header of $img0"

# ---- reboot: PCRs are reset to the enrolled values ----
stop_swtpm tpm
tcti=$(start_swtpm tpm) || exit 1
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img7"
expect_in "$err" "^Token 0 opens keyslot $slot7 of $img7\.$" "unlock after the reboot"
print_key "$img7"
[ "$rc" = 0 ] || fail "--print-key after the reboot exited $rc: $(cat "$T/pk.err")"
cmp -s "$T/pk" "$T/pass7" || fail "the key after the reboot differs from the one before"
cryptsetup open --test-passphrase --key-slot "$slot7" --key-file - "$img7" <"$T/pk" 2>/dev/null \
        || fail "the key after the reboot does not open keyslot $slot7"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img0"

# And it is the PCR, not some leftover state, that decides: change PCR 7 again, refused again.
pcr_extend "$tcti" 7
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img7"
key_opens "$key" "$img7" 0
exit 0
