#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The ordinary life of a cvmseal token on a swtpm: `enroll` (default PCR 7) adds one PBKDF2 keyslot and
# one LUKS2 token of type cvmseal bound to it, as both `cvmseal list` (human and --json) and
# cryptsetup's own luksDump/token export see it; `unlock --test` opens that keyslot; `unlock
# --print-key` writes, without a newline, a passphrase that cryptsetup accepts for that keyslot;
# `unlock IMG NAME` fails with exit 1 and says device-mapper is missing (this machine has none);
# `--json` works before and after the command's name; `--unlock-key-file -` reads standard input;
# `--tpm2-pcrs 0,7` and `0+7` both bind PCRs [0, 7] (and the lock PCR 15) and `unlock --token N` uses exactly token N;
# `$CVMSEAL_TCTI` is used when --tcti is absent and --tcti wins over it; the token survives a TPM
# reboot (state kept, PCRs reset); and the original key still opens the volume at the end.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"

# keyslot_pbkdf IMG SLOT: the PBKDF that luksDump shows for keyslot SLOT.
keyslot_pbkdf() {
        cryptsetup luksDump "$1" | awk -v hdr="  $2: luks2" '
                $0 == hdr { inslot = 1; next }
                inslot && /^[^ \t]/ { exit }
                inslot && /^  [0-9]+: / { exit }
                inslot && $1 == "PBKDF:" { print $2; exit }'
}

# dump_tokens IMG: one line "ID TYPE KEYSLOT" per (token, keyslot) pair that luksDump shows.
dump_tokens() {
        cryptsetup luksDump "$1" | awk '
                /^Tokens:/ { intok = 1; next }
                /^[^ \t]/ { intok = 0 }
                intok && /^  [0-9]+: / { id = $1; sub(":", "", id); type = $2 }
                intok && $1 == "Keyslot:" { print id, type, $2 }'
}

tcti=$(start_swtpm tpm) || exit 1
img=$T/img
key=$T/key
uk=(--tcti "$tcti")

# The image's own keyslot uses argon2id (cheap parameters), so that "the cvmseal keyslot uses pbkdf2"
# below is something the tool chose, not something it inherited from the image.
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf argon2id --pbkdf-memory 32 \
        --pbkdf-force-iterations 4 --pbkdf-parallel 1 --key-file "$key" "$img" >/dev/null \
        || fail "luksFormat $img"
[ "$(keyslot_pbkdf "$img" 0)" = argon2id ] || fail "keyslot 0 of the fresh image is not argon2id"

# ---- enroll, default PCR 7 ----
expect_exit 0 "$CVMSEAL" "${uk[@]}" enroll "$img" --unlock-key-file "$key"
[ -z "$out" ] || fail "enroll printed on stdout: $out"
expect_in "$err" "^Enrolled $img: token 0 opens keyslot [0-9]+\.$" "enroll's message"
slot=$(sed -nE 's/.*token 0 opens keyslot ([0-9]+)\./\1/p' <<<"$err")
[ "$slot" != 0 ] || fail "enroll reused keyslot 0"
key_opens "$key" "$img" 0

# ---- list, human ----
expect_exit 0 "$CVMSEAL" "${uk[@]}" list "$img"
expect_in "$out" "^$img \(LUKS2 [0-9a-f-]{36}\)$" "list's first line"
expect_in "$out" "^0 +cvmseal +$slot +7,15 +no +0x81000001$" "list's line for token 0"
expect_in "$out" "^Keyslots: 0 $slot\(cvmseal\)$" "list's keyslots"
[ "$(grep -cE '^[0-9]+ +' <<<"$out")" = 1 ] || fail "list shows more than one token: $out"

# ---- list --json ----
expect_exit 0 "$CVMSEAL" "${uk[@]}" list --json "$img"
pycheck "$out" "d['device'] == '$img' and len(d['tokens']) == 1" "list --json"
pycheck "$out" "d['tokens'][0]['id'] == 0 and d['tokens'][0]['type'] == 'cvmseal' and d['tokens'][0]['valid'] is True" \
        "list --json token 0"
pycheck "$out" "d['tokens'][0]['pcrs'] == [7, 15] and d['tokens'][0]['pin'] is False" "list --json token 0 policy"
pycheck "$out" "d['tokens'][0]['keyslot'] == $slot and d['tokens'][0]['pcr-bank'] == 'sha256'" "list --json token 0 keyslot"
pycheck "$out" "d['tokens'][0]['srk-handle'] == '0x81000001' and len(d['tokens'][0]['srk-name']) == 68" \
        "list --json token 0 SRK"
pycheck "$out" "d['keyslots'] == [{'id': 0, 'cvmseal': False}, {'id': $slot, 'cvmseal': True}]" "list --json keyslots"
uuid=$(cryptsetup luksUUID "$img")
pycheck "$out" "d['uuid'] == '$uuid'" "list --json uuid"

# ---- cryptsetup's own view ----
toks=$(dump_tokens "$img")
[ "$toks" = "0 cvmseal $slot" ] || fail "luksDump shows tokens '$toks', expected '0 cvmseal $slot'"
tok_json=$(cryptsetup token export --token-id 0 "$img") || fail "cryptsetup token export"
pycheck "$tok_json" "d['type'] == 'cvmseal' and d['keyslots'] == ['$slot']" "cryptsetup token export"
[ "$(keyslot_pbkdf "$img" "$slot")" = pbkdf2 ] \
        || fail "keyslot $slot uses '$(keyslot_pbkdf "$img" "$slot")', expected pbkdf2"

# ---- unlock --test ----
h0=$(header_sum "$img")
expect_exit 0 "$CVMSEAL" "${uk[@]}" unlock --test "$img"
[ -z "$out" ] || fail "unlock --test printed on stdout: $out"
expect_in "$err" "^Token 0 opens keyslot $slot of $img\.$" "unlock --test's message"

# ---- unlock --print-key ----
"$CVMSEAL" "${uk[@]}" unlock --print-key "$img" >"$T/pass" 2>"$T/pass.err" \
        || fail "unlock --print-key failed: $(cat "$T/pass.err")"
[ -s "$T/pass" ] || fail "unlock --print-key printed nothing"
[ "$(wc -l <"$T/pass")" = 0 ] || fail "unlock --print-key output contains a newline"
grep -Eqx '[A-Za-z0-9+/]{43,}={0,2}' "$T/pass" || fail "the printed key is not base64: $(od -c "$T/pass" | head -3)"
cryptsetup open --test-passphrase --key-slot "$slot" --key-file - "$img" <"$T/pass" 2>"$T/cs.err" \
        || fail "the printed key does not open keyslot $slot: $(cat "$T/cs.err")"
cryptsetup open --test-passphrase --key-slot 0 --key-file - "$img" <"$T/pass" 2>/dev/null \
        && fail "the printed key opens keyslot 0: it should only open the cvmseal keyslot"
cmp -s "$T/pass" "$key" && fail "--print-key printed the original unlock key"
"$CVMSEAL" "${uk[@]}" unlock --print-key "$img" >"$T/pass2" 2>/dev/null || fail "second --print-key failed"
cmp -s "$T/pass" "$T/pass2" || fail "two --print-key runs gave different keys"

# ---- unlock IMG NAME: no device-mapper here ----
if grep -qw device-mapper /proc/misc 2>/dev/null; then
        note "device-mapper is available: activation is not exercised by this test"
else
        name=cvmseal-test-$$
        expect_exit 1 "$CVMSEAL" "${uk[@]}" unlock "$img" "$name"
        expect_in "$err" "^cvmseal: cannot activate $name: device-mapper is not available" "unlock NAME's message"
        [ -z "$out" ] || fail "unlock NAME printed on stdout: $out"
        [ ! -e "/dev/mapper/$name" ] || fail "/dev/mapper/$name exists"
fi
[ "$(header_sum "$img")" = "$h0" ] || fail "unlock changed the LUKS2 header"

# ---- --json before and after the command's name ----
for argv in "--json unlock --test $img" "unlock --test --json $img" "unlock --test $img --json"; do
        # shellcheck disable=SC2086 # split on purpose: $img has no blanks (mktemp)
        expect_exit 0 "$CVMSEAL" "${uk[@]}" $argv
        pycheck "$out" "d == {'device': '$img', 'token': 0, 'keyslot': $slot, 'activated': None}" "$argv"
done

# ---- --unlock-key-file - reads standard input; --tpm2-pcrs 0,7 ----
h1=$(header_sum "$img")
expect_exit 1 "$CVMSEAL" "${uk[@]}" enroll "$img" --unlock-key-file - --tpm2-pcrs 0,7 </dev/null
expect_in "$err" "^cvmseal: -: the unlock key file is empty$" "enroll from an empty stdin"
printf 'not the key' >"$T/wrong"
expect_exit 1 "$CVMSEAL" "${uk[@]}" enroll "$img" --unlock-key-file - --tpm2-pcrs 0,7 <"$T/wrong"
expect_in "$err" "^cvmseal: $img: the unlock key opens no keyslot$" "enroll with a wrong key on stdin"
[ "$(header_sum "$img")" = "$h1" ] || fail "a failed enroll changed the LUKS2 header"

expect_exit 0 "$CVMSEAL" "${uk[@]}" --json enroll "$img" --unlock-key-file - --tpm2-pcrs 0,7 <"$key"
pycheck "$out" "d['token'] == 1 and d['pcrs'] == [0, 7, 15] and d['pin'] is False and d['keyslot'] not in (0, $slot)" \
        "enroll --tpm2-pcrs 0,7 --json"
slot1=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")

# ---- --tpm2-pcrs 0+7 ----
expect_exit 0 "$CVMSEAL" "${uk[@]}" enroll "$img" --unlock-key-file "$key" --tpm2-pcrs 0+7 --json
pycheck "$out" "d['token'] == 2 and d['pcrs'] == [0, 7, 15] and d['keyslot'] not in (0, $slot, $slot1)" \
        "enroll --tpm2-pcrs 0+7 --json"
slot2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")

expect_exit 0 "$CVMSEAL" "${uk[@]}" list --json "$img"
pycheck "$out" "[t['pcrs'] for t in d['tokens']] == [[7, 15], [0, 7, 15], [0, 7, 15]]" "list --json after three enrolls"
pycheck "$out" "[t['keyslot'] for t in d['tokens']] == [$slot, $slot1, $slot2]" "list --json keyslots of the tokens"
pycheck "$out" "sorted(k['id'] for k in d['keyslots'] if k['cvmseal']) == sorted([$slot, $slot1, $slot2])" \
        "list --json cvmseal keyslots"
expect_exit 0 "$CVMSEAL" "${uk[@]}" list "$img"
expect_in "$out" "^1 +cvmseal +$slot1 +0,7,15 +no +0x81000001$" "list's line for token 1"
expect_in "$out" "^2 +cvmseal +$slot2 +0,7,15 +no +0x81000001$" "list's line for token 2"
toks=$(dump_tokens "$img" | tr '\n' ';')
[ "$toks" = "0 cvmseal $slot;1 cvmseal $slot1;2 cvmseal $slot2;" ] || fail "luksDump shows tokens '$toks'"
for s in "$slot" "$slot1" "$slot2"; do
        [ "$(keyslot_pbkdf "$img" "$s")" = pbkdf2 ] || fail "cvmseal keyslot $s is not pbkdf2"
done

# ---- unlock --token N uses exactly token N ----
expect_exit 0 "$CVMSEAL" "${uk[@]}" unlock --token 1 --test "$img" --json
pycheck "$out" "d['token'] == 1 and d['keyslot'] == $slot1" "unlock --token 1 --test"
expect_exit 0 "$CVMSEAL" "${uk[@]}" unlock --token 2 --test "$img"
expect_in "$err" "^Token 2 opens keyslot $slot2 of $img\.$" "unlock --token 2 --test"
"$CVMSEAL" "${uk[@]}" unlock --token 1 --print-key "$img" >"$T/pass1" 2>/dev/null || fail "--token 1 --print-key"
cryptsetup open --test-passphrase --key-slot "$slot1" --key-file - "$img" <"$T/pass1" 2>/dev/null \
        || fail "token 1's key does not open keyslot $slot1"
cmp -s "$T/pass" "$T/pass1" && fail "tokens 0 and 1 have the same passphrase"

# ---- CVMSEAL_TCTI, and --tcti over it ----
CVMSEAL_TCTI=$tcti expect_exit 0 "$CVMSEAL" unlock --test "$img" --json
pycheck "$out" "d['token'] == 0" "unlock with CVMSEAL_TCTI"
nope="swtpm:path=$T/nope.sock"
CVMSEAL_TCTI=$nope expect_exit 6 "$CVMSEAL" unlock --test "$img"
grep -qF "no TPM is available through '$nope'" <<<"$err" || fail "CVMSEAL_TCTI was not used: $err"
CVMSEAL_TCTI=$nope expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

# ---- the token survives a TPM reboot ----
pcr_extend "$tcti" 7
expect_exit 3 "$CVMSEAL" "${uk[@]}" unlock --token 0 --test "$img"
stop_swtpm tpm
tcti=$(start_swtpm tpm) || exit 1
uk=(--tcti "$tcti")
expect_exit 0 "$CVMSEAL" "${uk[@]}" unlock --test --json "$img"
pycheck "$out" "d['token'] == 0 and d['keyslot'] == $slot" "unlock after a TPM reboot"
"$CVMSEAL" "${uk[@]}" unlock --print-key "$img" >"$T/pass3" 2>/dev/null || fail "--print-key after the reboot"
cmp -s "$T/pass" "$T/pass3" || fail "the key after the reboot differs"
expect_exit 0 "$CVMSEAL" "${uk[@]}" unlock --token 2 --test "$img"

# ---- nothing was lost ----
key_opens "$key" "$img" 0
exit 0
