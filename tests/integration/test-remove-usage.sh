#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# remove and the command-line contract.  `remove --token ID` removes the token and its keyslot and
# nothing else (list, list --json and luksDump show both gone; --json names the removed keyslots;
# another token and the original key keep working); it refuses, with exit 1 and a message about the
# last way into the volume, to remove a token whose keyslot is the only one left (the header is
# unchanged and the token still unlocks); a token id that is absent or not a cvmseal token is exit 8.
# Usage errors (no command, unknown command or option, unlock without or with two of --test,
# --print-key and NAME, --print-key with --json, bad --tpm2-pcrs or --token values, remove without
# --token, enroll without --unlock-key-file, an option of another command, extra arguments) all exit
# 2 with a "cvmseal: " message on stderr, nothing on stdout, and no change to the image; --help exits
# 0 and prints "Usage:", --version prints the version.
. "$(dirname "$0")/lib.sh"

TCTI=$(start_swtpm tpm)
KEY=$T/key
IMG=$T/img
make_image "$IMG" "$KEY"

slots() {
        cryptsetup luksDump "$1" | sed -n '/^Keyslots:/,/^Tokens:/p' | grep -E '^  [0-9]+: ' | cut -d: -f1 | tr -d ' ' | tr '\n' ' '
}
tokens() {
        cryptsetup luksDump "$1" | sed -n '/^Tokens:/,/^Digests:/p' | grep -E '^  [0-9]+: ' | tr -d ' ' | tr '\n' ' '
}

# ---- remove: a token and its keyslot, nothing else ----
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY"
[ "$(slots "$IMG")" = "0 1 2 " ] || fail "two enrolls: keyslots are $(slots "$IMG")"
[ "$(tokens "$IMG")" = "0:cvmseal 1:cvmseal " ] || fail "two enrolls: tokens are $(tokens "$IMG")"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$IMG"
expect_in "$err" "Token 0 opens keyslot 1 " "unlock token 0"

expect_exit 0 "$CVMSEAL" --json remove "$IMG" --token 0
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d == {"device": sys.argv[2], "removed-token": 0, "removed-keyslots": [1]}, d' \
        "$out" "$IMG" || fail "remove --json output: $out"
[ "$(slots "$IMG")" = "0 2 " ] || fail "after remove --token 0: keyslots are $(slots "$IMG")"
[ "$(tokens "$IMG")" = "1:cvmseal " ] || fail "after remove --token 0: tokens are $(tokens "$IMG")"
expect_exit 0 "$CVMSEAL" --json list "$IMG"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [t["id"] for t in d["tokens"]] == [1] and d["tokens"][0]["keyslot"] == 2, d["tokens"]
assert d["keyslots"] == [{"id": 0, "cvmseal": False}, {"id": 2, "cvmseal": True}], d["keyslots"]' "$out" \
        || fail "list --json after remove: $out"
expect_exit 0 "$CVMSEAL" list "$IMG"
expect_in "$out" "^Keyslots: 0 2\(cvmseal\)$" "list after remove"
grep -Eq '^0 ' <<<"$out" && fail "list still shows token 0: $out"
expect_exit 8 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$IMG"
expect_in "$err" "has no cvmseal token 0" "unlock --token 0 after remove"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
expect_in "$err" "Token 1 opens keyslot 2 " "the other token after remove"
cryptsetup open --test-passphrase --key-slot 0 --key-file "$KEY" "$IMG" || fail "the original key no longer opens"

# The human form of remove.
expect_exit 0 "$CVMSEAL" remove "$IMG" --token 1
expect_in "$err" "^Removed token 1 and keyslot\(s\) \[ ?2 ?\] from $IMG\.$" "remove stderr"
[ -z "$out" ] || fail "remove printed on stdout: $out"
[ "$(slots "$IMG")" = "0 " ] || fail "after remove --token 1: keyslots are $(slots "$IMG")"
[ -z "$(tokens "$IMG")" ] || fail "after remove --token 1: tokens are $(tokens "$IMG")"
expect_exit 8 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
expect_in "$err" "has no cvmseal token" "unlock with no token left"

# Absent tokens, and tokens that are not cvmseal's: exit 8, nothing written.
SUM=$(header_sum "$IMG")
expect_exit 8 "$CVMSEAL" remove "$IMG" --token 9
expect_in "$err" "^cvmseal: $IMG has no cvmseal token 9$" "remove --token 9"
[ -z "$out" ] || fail "remove --token 9 printed on stdout: $out"
printf '{"type":"foreign","keyslots":["0"]}' >"$T/foreign.json"
cryptsetup token import --token-id 5 --json-file "$T/foreign.json" "$IMG" || fail "import a foreign token"
SUM=$(header_sum "$IMG")
expect_exit 8 "$CVMSEAL" remove "$IMG" --token 5
expect_in "$err" "has no cvmseal token 5" "remove of a foreign token"
cryptsetup token export --token-id 5 "$IMG" >/dev/null || fail "remove took the foreign token"
expect_exit 8 "$CVMSEAL" --json remove "$IMG" --token 9
expect_in "$out" '"exit-code": 8' "remove --json --token 9"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "a refused remove changed the header"
cryptsetup token remove --token-id 5 "$IMG" || fail "token remove 5"

# ---- remove refuses the last way in ----
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY"
TSLOT=$(sed -nE 's/.*token 0 opens keyslot ([0-9]+).*/\1/p' <<<"$err")
[ -n "$TSLOT" ] && [ "$TSLOT" != 0 ] || fail "enroll: unexpected message: $err"
"$CVMSEAL" --tcti "$TCTI" unlock --print-key "$IMG" >"$T/token-pass" || fail "unlock --print-key"
cryptsetup luksKillSlot -q --key-file "$T/token-pass" "$IMG" 0 || fail "luksKillSlot 0 with the token's passphrase"
[ "$(slots "$IMG")" = "$TSLOT " ] || fail "after luksKillSlot 0: keyslots are $(slots "$IMG")"
SUM=$(header_sum "$IMG")
expect_exit 1 "$CVMSEAL" remove "$IMG" --token 0
expect_in "$err" "^cvmseal: $IMG: refusing to remove token 0: it holds the last way into the volume$" \
        "remove of the last way in"
[ -z "$out" ] || fail "refused remove printed on stdout: $out"
expect_exit 1 "$CVMSEAL" --json remove "$IMG" --token 0
expect_in "$out" '"exit-code": 1' "refused remove --json"
expect_in "$out" 'last way into the volume' "refused remove --json"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "the refused remove changed the header"
[ "$(tokens "$IMG")" = "0:cvmseal " ] || fail "the refused remove took the token"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
cryptsetup open --test-passphrase --key-file "$T/token-pass" "$IMG" || fail "the token's keyslot no longer opens"

# A second way in (a plain keyslot again) makes the same remove legal.
cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$T/token-pass" "$IMG" "$KEY" \
        || fail "luksAddKey"
expect_exit 0 "$CVMSEAL" remove "$IMG" --token 0
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "the re-added key does not open"
[ -z "$(tokens "$IMG")" ] || fail "remove left tokens: $(tokens "$IMG")"

# ---- enroll --attest-policy with a policy that is not one: exit 10 (malformed) or 1, nothing written ----
sum=$(header_sum "$IMG")
printf '{"version": 1, "require": ["snp"], "nonsense": 1}' >"$T/bad-policy.json"
expect_exit 10 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" --attest-policy "$T/bad-policy.json"
expect_in "$err" "attestation policy is malformed" "enroll with an unknown policy member"
printf '{"version": 1, "require": ["snp"]} trailing' >"$T/bad-policy.json"
expect_exit 10 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" --attest-policy "$T/bad-policy.json"
expect_in "$err" "not one JSON document" "enroll with text after the policy"
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" --attest-policy "$T/no-such-policy.json"
expect_in "$err" "no-such-policy.json" "enroll with a missing policy file"
[ "$(header_sum "$IMG")" = "$sum" ] || fail "a refused --attest-policy changed the header"

# ---- usage errors: exit 2, one message line, nothing on stdout, nothing written ----
printf 'x' >"$T/k"
SUM=$(header_sum "$IMG")
usage() {
        expect_exit 2 "$CVMSEAL" --tcti "$TCTI" "$@"
        [ -z "$out" ] || fail "usage error '$*' printed on stdout: $out"
        expect_in "$err" "^cvmseal: [a-zA-Z-]" "usage error '$*': stderr"
        [ "$(wc -l <<<"$err")" = 1 ] || fail "usage error '$*': more than one line on stderr: $err"
}
expect_exit 2 "$CVMSEAL"
[ -z "$out" ] || fail "no command: something on stdout: $out"
expect_in "$err" "^cvmseal: no command given" "no command"
usage frobnicate "$IMG"
expect_in "$err" "unknown command" "unknown command"
usage --frobnicate list "$IMG"
expect_in "$err" "unknown option" "unknown option"
usage unlock "$IMG"
expect_in "$err" "exactly one of --test, --print-key and NAME" "unlock with no mode"
usage unlock "$IMG" --test --print-key
expect_in "$err" "exactly one of --test, --print-key and NAME" "unlock --test --print-key"
usage unlock "$IMG" name --test
expect_in "$err" "exactly one of --test, --print-key and NAME" "unlock NAME --test"
usage unlock "$IMG" --print-key --json
expect_in "$err" "--print-key" "unlock --print-key --json"
usage --json unlock "$IMG" --print-key
usage unlock "$IMG" a/b
expect_in "$err" "NAME" "unlock with a NAME containing /"
for pcrs in 24 abc 7,24 "7," "" -1 99999999999 "7 8"; do
        usage enroll "$IMG" --unlock-key-file "$T/k" --tpm2-pcrs "$pcrs"
        expect_in "$err" "--tpm2-pcrs" "--tpm2-pcrs '$pcrs'"
done
for id in 32 x -1 1x "" 99999999999999999999; do
        usage unlock "$IMG" --test --token "$id"
        expect_in "$err" "--token takes a token id from 0 to 31" "--token '$id'"
        usage remove "$IMG" --token "$id"
done
usage unlock "$IMG" --test --token
usage remove "$IMG"
expect_in "$err" "remove needs --token" "remove without --token"
usage enroll "$IMG"
expect_in "$err" "enroll needs --unlock-key-file" "enroll without --unlock-key-file"
usage list "$IMG" --test
expect_in "$err" "does not apply" "list --test"
usage list "$IMG" --token 0
usage remove "$IMG" --token 0 --test
usage remove "$IMG" --token 0 --unlock-key-file "$T/k"
usage unlock "$IMG" --test --recovery-key
usage enroll "$IMG" --unlock-key-file "$T/k" --token 0
usage list "$IMG" extra
expect_in "$err" "too many arguments" "list with two devices"
usage remove "$IMG" extra --token 0
# The HSM and attestation options.
usage enroll "$IMG" --unlock-key-file "$T/k" --hsm-pin-file "$T/k"
expect_in "$err" "need --hsm URI" "--hsm-pin-file without --hsm"
usage enroll "$IMG" --unlock-key-file "$T/k" --hsm-allow-extractable
usage enroll "$IMG" --unlock-key-file "$T/k" --hsm "file:/etc/key"
expect_in "$err" "pkcs11: URI" "--hsm with another scheme"
usage enroll "$IMG" --unlock-key-file - --hsm "pkcs11:token=x" --hsm-pin-file -
usage hsm
usage hsm frobnicate --hsm "pkcs11:token=x;object=k"
usage hsm keygen
expect_in "$err" "needs --hsm" "hsm keygen without --hsm"
usage attest
usage attest frobnicate
usage attest verify "$T/k"
expect_in "$err" "needs --policy" "attest verify without --policy"
usage attest verify --policy "$T/k"
usage attest collect --nonce abc
usage attest collect --nonce "$(printf '%0130d' 0)"
usage attest collect --policy "$T/k"
usage attest verify --policy "$T/k" "$T/k" --nonce 00
usage unlock "$IMG" --test --attest-policy "$T/k"
usage unlock "$IMG" --test --hsm "pkcs11:token=x"
usage enroll "$IMG" extra --unlock-key-file "$T/k"
usage unlock "$IMG" name extra
usage list
expect_in "$err" "DEVICE" "list without DEVICE"
usage --tcti "" list "$IMG"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "a usage error changed the image"

# ---- --help, --version ----
for h in --help -h "help" "list --help" "enroll $IMG --help"; do
        # shellcheck disable=SC2086
        expect_exit 0 "$CVMSEAL" $h
        expect_in "$out" "^Usage: cvmseal " "'$h' output"
        expect_in "$out" "enroll DEVICE --unlock-key-file FILE" "'$h' output"
        [ -z "$err" ] || fail "'$h' wrote to stderr: $err"
done
expect_exit 0 "$CVMSEAL" --version
expect_in "$out" "^cvmseal [0-9]+\.[0-9]+(\.[0-9]+)?" "--version output"
[ "$(wc -l <<<"$out")" = 1 ] || fail "--version printed more than one line: $out"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "help or version changed the image"

# An empty PIN file is a missing PIN (7) and an empty HSM PIN file an HSM refusal (5) for every command
# that reads one, as for enroll (the one PIN reader, util/pin.c); refused before the header changes.
: >"$T/empty"
expect_exit 7 "$CVMSEAL" --tcti "$TCTI" rekey "$IMG" --pin-file "$T/empty" </dev/null
expect_in "$err" "^cvmseal: $T/empty: the PIN file is empty$" "rekey with an empty PIN file"
for verb in provision reseal rotate; do
        expect_exit 5 "$CVMSEAL" --tcti "$TCTI" $verb "$IMG" --hsm-pin-file "$T/empty" </dev/null
        expect_in "$err" "^cvmseal: $T/empty: the HSM PIN file is empty$" "$verb with an empty HSM PIN file"
done
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "a refused PIN file changed the image"
exit 0
