#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A damaged HSM binding is refused as a damaged token (exit 10), never as a missing or refused HSM
# key, never half-used, and never costs the volume.  For an AES-256-GCM binding and an RSA-OAEP one,
# each damage is applied to token 0 (exported, changed, re-imported at the same id) of an image that
# has a second, intact HSM-bound token: one byte flipped inside the base64-decoded ciphertext (first,
# middle, last byte: for AES-GCM the last is in the tag), the ciphertext one byte short or long or
# not base64, the IV one byte flipped (AES), short or long, an IV given to RSA, mechanism "des", the
# other kind's mechanism (and, for RSA, OAEP-SHA256 where SoftHSM sealed with SHA-1), uri "file:/x"
# or not a string, an unknown extra member, each member removed, hsm not an object, key-check not
# hex or too long, "pin" a string or false (the TPM object holds the PIN all the same), the whole
# hsm member removed (the TPM object still holds the PIN), the intact binding of token 1 pasted into
# token 0 (the AAD names another token); and the intact token moved to another id.  Each time `unlock
# --test --token N` exits 10 saying the token is malformed or damaged and prints nothing on stdout
# (with --json: an error document with exit-code 10), the header is what the damage left (unlock
# wrote nothing), the original key still opens keyslot 0, and `list` still works and marks the
# damages that it can see without the TPM and the HSM as "valid": false.  At the end the intact
# token 1 still unlocks, and so does the pristine token 0 put back: the HSM key was not harmed.
. "$(dirname "$0")/lib.sh"

MODULE=${SOFTHSM2_MODULE:-/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so}
for tool in softhsm2-util pkcs11-tool python3; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[ -f "$MODULE" ] || skip "the SoftHSM2 module $MODULE is not there"

start_softhsm cvmseal 1234
TCTI=$(start_swtpm tpm) || exit 1
printf '1234\n' >"$T/pin"

declare -A URI=([aes]='pkcs11:token=cvmseal;object=aes;type=secret-key' [rsa]='pkcs11:token=cvmseal;object=rsa;type=private')
malformed_msg='the cvmseal token is malformed or damaged'

# put_token IMG FROM-ID TO-ID FILE: replaces token FROM-ID by the JSON in FILE, imported as TO-ID.
put_token() {
        cryptsetup token remove --token-id "$2" "$1" 2>"$T/cs.err" || fail "token remove $2: $(cat "$T/cs.err")"
        cryptsetup token import --token-id "$3" --json-file "$4" "$1" 2>"$T/cs.err" \
                || fail "token import $3 from $4: $(cat "$T/cs.err") $(cat "$4")"
}

# damage.py SRC DONOR OUTDIR DAMAGE...: writes OUTDIR/DAMAGE.json, token SRC with that damage done;
# DONOR (another token's JSON, intact) gives the binding for "swapped".
cat >"$T/damage.py" <<'EOF'
import base64, json, sys

def b64(b):
    return base64.b64encode(b).decode()

def damaged(src, donor, damage):
    t = json.load(open(src))
    h = t["hsm"]

    def flip(name, i):
        b = bytearray(base64.b64decode(h[name]))
        b[i % len(b)] ^= 0x01
        h[name] = b64(bytes(b))

    if damage == "ct-flip-first":
        flip("ciphertext", 0)
    elif damage == "ct-flip-middle":
        flip("ciphertext", len(base64.b64decode(h["ciphertext"])) // 2)
    elif damage == "ct-flip-last":
        flip("ciphertext", -1)
    elif damage == "ct-short":
        h["ciphertext"] = b64(base64.b64decode(h["ciphertext"])[:-1])
    elif damage == "ct-long":
        h["ciphertext"] = b64(base64.b64decode(h["ciphertext"]) + b"\0")
    elif damage == "ct-not-base64":
        h["ciphertext"] = "*" + h["ciphertext"][1:]
    elif damage == "iv-flip":
        flip("iv", 5)
    elif damage == "iv-short":
        h["iv"] = b64(base64.b64decode(h["iv"])[:-1])
    elif damage == "iv-long":
        h["iv"] = b64(base64.b64decode(h["iv"]) + b"\0")
    elif damage == "iv-given":
        h["iv"] = b64(bytes(12))
    elif damage == "mech-des":
        h["mechanism"] = "des"
    elif damage == "mech-other-kind":
        h["mechanism"] = "rsa-oaep-sha256" if h["mechanism"] == "aes-256-gcm" else "aes-256-gcm"
    elif damage == "mech-sha256":
        assert h["mechanism"] == "rsa-oaep-sha1", h["mechanism"]
        h["mechanism"] = "rsa-oaep-sha256"
    elif damage == "uri-file":
        h["uri"] = "file:/x"
    elif damage == "uri-number":
        h["uri"] = 7
    elif damage == "extra-member":
        h["extra"] = 1
    elif damage.startswith("del-"):
        del h[damage[4:]]
    elif damage == "hsm-string":
        t["hsm"] = "pkcs11:token=cvmseal"
    elif damage == "key-check-not-hex":
        h["key-check"] = "zz" + h["key-check"][2:]
    elif damage == "key-check-long":
        h["key-check"] = "00" * 33
    elif damage == "pin-string":
        h["pin"] = "true"
    elif damage == "pin-false":
        h["pin"] = False
    elif damage == "hsm-removed":
        del t["hsm"]
    elif damage == "swapped":
        t["hsm"] = json.load(open(donor))["hsm"]
        assert t["hsm"] != h
    else:
        sys.exit("unknown damage " + damage)
    return t

src, donor, outdir = sys.argv[1:4]
for damage in sys.argv[4:]:
    json.dump(damaged(src, donor, damage), open(f"{outdir}/{damage}.json", "w"))
EOF

# damage KIND NAME VALID: imports KIND's damaged token NAME as token 0 and checks the refusal.  VALID
# is what list says of the damaged token: false, or "any" where list cannot see the damage.
damage() {
        local kind=$1 name=$2 valid=$3 img=$T/$1.img h
        put_token "$img" 0 0 "$T/$kind.d/$name.json"
        h=$(header_sum "$img")

        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$img"
        expect_in "$err" "^cvmseal: $img: $malformed_msg" "$kind $name"
        [ -z "$out" ] || fail "$kind $name: a refused unlock printed on stdout: $out"
        [ "$(header_sum "$img")" = "$h" ] || fail "$kind $name: the refused unlock changed the LUKS2 header"
        key_opens "$T/key" "$img" 0

        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
        # Token 1 is intact: a "valid": false can only be token 0's.
        [ "$valid" = any ] || expect_in "$out" '"valid": false' "$kind $name: list"
}

# moved KIND: the intact token 0 moved to id 5, where the AAD (and the KDF) name another id.
moved() {
        local kind=$1 img=$T/$1.img h
        put_token "$img" 0 5 "$T/$kind.t0.json"
        h=$(header_sum "$img")
        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 5 "$img"
        expect_in "$err" "^cvmseal: $img: $malformed_msg" "$kind token moved to id 5"
        [ -z "$out" ] || fail "$kind moved: a refused unlock printed on stdout: $out"
        [ "$(header_sum "$img")" = "$h" ] || fail "$kind moved: the refused unlock changed the LUKS2 header"
        key_opens "$T/key" "$img" 0
}

# Every case runs in a subshell: a failure ends that case only, and the test fails at the end naming
# every case that failed.
failures=()
run_case() {
        local name=$1
        shift
        ("$@") || failures+=("$name")
}

common=(ct-flip-first ct-flip-middle ct-flip-last ct-not-base64:false mech-des:false
        mech-other-kind:false uri-file:false uri-number:false extra-member:false del-uri:false
        del-mechanism:false del-ciphertext:false del-key-check:false del-pin:false hsm-string:false
        key-check-not-hex:false key-check-long:false pin-string:false pin-false hsm-removed swapped)
declare -A only=([aes]="ct-short:false ct-long:false iv-flip iv-short:false iv-long:false del-iv:false"
                 [rsa]="ct-short ct-long iv-given:false mech-sha256")

for kind in aes rsa; do
        img=$T/$kind.img
        make_image "$img" "$T/key"
        expect_exit 0 "$CVMSEAL" hsm keygen --hsm "${URI[$kind]}" --hsm-pin-file "$T/pin"
        for id in 0 1; do
                expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key" \
                        --hsm "${URI[$kind]}" --hsm-pin-file "$T/pin"
                pycheck "$out" "d['token'] == $id" "enroll $kind token $id"
                cryptsetup token export --token-id "$id" "$img" >"$T/$kind.t$id.json" || fail "token export"
        done
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$img"
        pycheck "$(cat "$T/$kind.t0.json")" "set(d['hsm']) >= {'uri', 'mechanism', 'key-check', 'ciphertext', 'pin'}" \
                "the $kind token this test damages"

        # shellcheck disable=SC2206
        cases=("${common[@]}" ${only[$kind]})
        mkdir -p "$T/$kind.d"
        python3 "$T/damage.py" "$T/$kind.t0.json" "$T/$kind.t1.json" "$T/$kind.d" "${cases[@]%%:*}" \
                || fail "damage.py ($kind)"
        for c in "${cases[@]}"; do
                name=${c%%:*}
                valid=any
                [ "$c" = "$name" ] || valid=${c#*:}
                run_case "$kind $name" damage "$kind" "$name" "$valid"
        done

        # The --json error document of a damaged token.
        put_token "$img" 0 0 "$T/$kind.d/mech-des.json"
        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" --json unlock --test --token 0 "$img"
        pycheck "$out" "d['exit-code'] == 10 and 'malformed or damaged' in d['error']" "$kind: --json error document"

        # The intact token moved to another id.
        put_token "$img" 0 0 "$T/$kind.t0.json"
        run_case "$kind moved to id 5" moved "$kind"

        # The pristine token 0 back, and the never touched token 1: both unlock, the HSM key is fine.
        cryptsetup token remove --token-id 5 "$img" 2>/dev/null
        cryptsetup token remove --token-id 0 "$img" 2>/dev/null
        cryptsetup token import --token-id 0 --json-file "$T/$kind.t0.json" "$img" || fail "restore token 0"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$img"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 1 "$img"
        key_opens "$T/key" "$img" 0
done

[ ${#failures[@]} = 0 ] || fail "${#failures[@]} damaged bindings not refused as damaged: $(printf '[%s] ' "${failures[@]}")"
exit 0
