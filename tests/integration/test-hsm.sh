#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The HSM binding on a real swtpm, a private SoftHSM2 token and LUKS2 image files, for an AES-256 key
# and an RSA key pair alike: `hsm keygen` makes a sensitive, never-extractable key (a second keygen
# of the name exits 1, a URI that names no object exits 2); `enroll --hsm` records the key in the
# token (mechanism aes-256-gcm, and rsa-oaep-sha1 on SoftHSM 2.6), `list` and `list --json` show the
# binding, and no URI or token ever holds the HSM PIN; `unlock --test` and `--print-key` open the
# keyslot, and the passphrase needs both factors: tpm2-tools unsealing the token's TPM object by
# hand gets the TPM share and the sealed HSM PIN, and the documented KDF over the TPM share alone,
# which gives exactly the passphrase of a token enrolled without --hsm, gives one that differs from
# and does not open the HSM-bound keyslot.  The HSM-bound unlock sends the same 6 TPM commands as a
# PCR-only one.  PINs: a wrong or missing HSM PIN at enroll exits 5 and writes nothing, as does a
# pin-source file that does not exist (with a message that names that file); pin-source=file: and
# pin-value= (which warns) work; after the token's user PIN changes, unlock exits 5, and works again
# once it is changed back.  Unfit keys (extractable; not sensitive, even with
# --hsm-allow-extractable; AES-128; a URI matching two keys) exit 5 at enroll and write nothing; an
# extractable but sensitive key is accepted with --hsm-allow-extractable.  Both factors are needed:
# the PKCS#11 module gone, the SoftHSM token gone, the key deleted, or replaced by another key under
# the same label (by pkcs11-tool and by hsm keygen; -v says it is not the key the token was bound to)
# exit 5 with the HSM message; PCR 7 extended while the HSM is fine exits 3 before the HSM is asked.
# After every failure the LUKS2 header is unchanged and the original key still opens the volume.
. "$(dirname "$0")/lib.sh"

MODULE=${SOFTHSM2_MODULE:-/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so}
for tool in softhsm2-util pkcs11-tool python3 tpm2_pcrextend tpm2_load tpm2_unseal tpm2_flushcontext \
            tpm2_startauthsession tpm2_policypcr tpm2_policyauthvalue; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[ -f "$MODULE" ] || skip "the SoftHSM2 module $MODULE is not there"
TPM_COUNT=$(cd "$(dirname "$0")/../bench" && pwd)/tpm-count.py
[ -f "$TPM_COUNT" ] || fail "$TPM_COUNT is missing"

# A PIN with '-', which neither base64 nor hex contains: a grep for it in a token JSON is exact.
PIN=hsm-pin-1234
start_softhsm cvmseal "$PIN"
TCTI=$(start_swtpm tpm) || exit 1
printf '%s\n' "$PIN" >"$T/pin"

AES='pkcs11:token=cvmseal;object=aes;type=secret-key'
RSA='pkcs11:token=cvmseal;object=rsa;type=private'
declare -A URI=([aes]=$AES [rsa]=$RSA)
declare -A MECH=([aes]=aes-256-gcm [rsa]=rsa-oaep-sha1)
declare -A CLASS=([aes]=secrkey [rsa]=privkey)

unavailable_msg='the HSM key is unavailable: no PKCS#11 module, token or key matches the URI'
refused_msg='the HSM refused: wrong or missing HSM PIN, or not the key the token was bound to'
unfit_msg='the HSM key is not fit for a binding: it must be a sensitive, non-extractable'
policy_msg='the TPM policy is not satisfied: the boot state \(the PCRs\) differs from the enrolled one'

# p11 ARGS...: pkcs11-tool on the SoftHSM token, logged in with $PIN; its output in $T/p11.out.
p11() {
        pkcs11-tool --module "$MODULE" --login --pin "$PIN" "$@" >"$T/p11.out" 2>&1 \
                || fail "pkcs11-tool $*: $(cat "$T/p11.out")"
}

# untouched IMG SUM WHAT: the header is byte for byte what it was, and keyslot 0 still opens.
untouched() {
        [ "$(header_sum "$1")" = "$2" ] || fail "$3 changed the LUKS2 header of $1"
        key_opens "$T/key" "$1" 0
}

# print_key IMG ARGS...: unlock --print-key; the key in $T/pk (bytes exact), the status in $rc.
print_key() {
        local img=$1
        shift
        "$CVMSEAL" --tcti "$TCTI" unlock --print-key "$img" "$@" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
}

# token_json IMG ID: the token as cryptsetup exports it.
token_json() {
        cryptsetup token export --token-id "$2" "$1" 2>"$T/cs.err" || fail "token export $1 $2: $(cat "$T/cs.err")"
}

# no_pin_in IMG ID: neither the token's HSM URI nor the token holds the PIN.
no_pin_in() {
        local j
        j=$(token_json "$1" "$2")
        pycheck "$j" "'pin-value' not in d['hsm']['uri'] and 'pin-source' not in d['hsm']['uri']" \
                "the HSM URI of token $2 of $1"
        ! grep -qF -- "$PIN" <<<"$j" || fail "token $2 of $1 holds the HSM PIN: $j"
}

# tpm_unseal IMG ID OUT: the data sealed in the token's TPM object, unsealed by tpm2-tools (PolicyPCR
# on PCRs 7 and 15, then PolicyAuthValue with the authValue that docs/token-format.md derives from the
# token's binding, computed by token-binding.py: no cvmseal code involved).
tpm_unseal() {
        local auth
        token_json "$1" "$2" >"$T/tu.json"
        auth=$(python3 "$(dirname "$0")/token-binding.py" "$T/tu.json" "$(cryptsetup luksUUID "$1")" "$2") \
                || fail "token-binding.py for token $2 of $1"
        python3 - "$T/tu.json" "$T/tu.pub" "$T/tu.priv" <<'EOF' || fail "token $2 of $1 has no TPM blobs"
import base64, json, sys
t = json.load(open(sys.argv[1]))
open(sys.argv[2], "wb").write(base64.b64decode(t["tpm2"]["public"]))
open(sys.argv[3], "wb").write(base64.b64decode(t["tpm2"]["private"]))
EOF
        export TPM2TOOLS_TCTI=$TCTI
        tpm2_load -C 0x81000001 -u "$T/tu.pub" -r "$T/tu.priv" -c "$T/tu.ctx" >/dev/null 2>"$T/tu.err" \
                || fail "tpm2_load of token $2 of $1: $(cat "$T/tu.err")"
        tpm2_startauthsession --policy-session -S "$T/tu.session" >/dev/null 2>"$T/tu.err" \
                || fail "tpm2_startauthsession: $(cat "$T/tu.err")"
        tpm2_policypcr -S "$T/tu.session" -l sha256:7,15 >/dev/null 2>"$T/tu.err" || fail "tpm2_policypcr: $(cat "$T/tu.err")"
        tpm2_policyauthvalue -S "$T/tu.session" >/dev/null 2>"$T/tu.err" || fail "tpm2_policyauthvalue: $(cat "$T/tu.err")"
        tpm2_unseal -c "$T/tu.ctx" -p "session:$T/tu.session+hex:$auth" -o "$3" 2>"$T/tu.err" \
                || fail "tpm2_unseal of token $2 of $1: $(cat "$T/tu.err")"
        # swtpm has no resource manager: leave nothing loaded for the tool's next run.
        tpm2_flushcontext -t >/dev/null 2>&1
        tpm2_flushcontext -s >/dev/null 2>&1
        unset TPM2TOOLS_TCTI
}

# tpm_only_pass IMG ID SEALED: the passphrase the documented KDF gives for the TPM share alone:
# base64(HKDF-SHA256(tpm_share, salt, "cvmseal v2" || the token's binding)).
tpm_only_pass() {
        local binding
        token_json "$1" "$2" >"$T/tp.json"
        binding=$(python3 "$(dirname "$0")/token-binding.py" --binding "$T/tp.json" "$(cryptsetup luksUUID "$1")" "$2") \
                || fail "token-binding.py --binding"
        python3 - "$T/tp.json" "$3" "$binding" <<'EOF'
import base64, hashlib, hmac, json, sys
t = json.load(open(sys.argv[1]))
share = open(sys.argv[2], "rb").read()[:32]
salt = base64.b64decode(t["kdf"]["salt"])
info = b"cvmseal v2" + bytes.fromhex(sys.argv[3])
prk = hmac.new(salt, share, hashlib.sha256).digest()
sys.stdout.write(base64.b64encode(hmac.new(prk, info + b"\x01", hashlib.sha256).digest()).decode())
EOF
}

# count_unlock IMG ID: the TPM commands that `unlock --test --token ID` sends, as a JSON list.
count_unlock() {
        rm -f "$T/u.pcap"
        expect_exit 0 env TCTI_PCAP_FILE="$T/u.pcap" "$CVMSEAL" --tcti "pcap:$TCTI" unlock --test --token "$2" "$1"
        expect_exit 0 python3 "$TPM_COUNT" --json "$T/u.pcap"
        pycheck "$out" "d['total'] == 7" "TPM commands of unlock --token $2 of $1"
        python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])["commands"]))' "$out"
}

# Cases that must not end the test early (a failure in one still lets the others run).
failures=()
run_case() {
        local name=$1
        shift
        ("$@") || failures+=("$name")
}

# ======== 1. keygen, enroll, list, unlock: AES and RSA ========
for kind in aes rsa; do
        uri=${URI[$kind]}
        img=$T/$kind.img
        make_image "$img" "$T/key"

        expect_exit 0 "$CVMSEAL" hsm keygen --hsm "$uri" --hsm-pin-file "$T/pin" --json
        pycheck "$out" "set(d) == {'uri', 'mechanism'} and d['uri'] == '$uri' and d['mechanism'].startswith('${MECH[$kind]%-*}')" \
                "hsm keygen --json ($kind)"
        p11 --list-objects --type "${CLASS[$kind]}" --label "$kind"
        expect_in "$(cat "$T/p11.out")" "Access: +sensitive, always sensitive, never extractable" \
                "the attributes of the $kind key that hsm keygen made"

        expect_exit 1 "$CVMSEAL" hsm keygen --hsm "$uri" --hsm-pin-file "$T/pin"
        expect_in "$err" "^cvmseal: hsm keygen: a key of that name exists already$" "a second keygen of $kind"
        expect_exit 2 "$CVMSEAL" hsm keygen --hsm "pkcs11:token=cvmseal;type=${uri##*type=}" --hsm-pin-file "$T/pin"
        expect_in "$err" "the URI must name the key \(object= or id=\)" "keygen without object= ($kind)"

        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key" \
                --hsm "$uri" --hsm-pin-file "$T/pin"
        pycheck "$out" "d['token'] == 0 and d['hsm'] is True and d['pcrs'] == [7, 15]" "enroll --hsm ($kind)"
        slot=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")

        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list "$img"
        expect_in "$out" "^ +HSM: $uri \(${MECH[$kind]}\)$" "list ($kind)"
        ! grep -qF -- "$PIN" <<<"$out" || fail "list shows the HSM PIN: $out"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
        pycheck "$out" "d['tokens'][0]['hsm'] == {'uri': '$uri', 'mechanism': '${MECH[$kind]}', 'pin': True}" \
                "list --json ($kind)"
        no_pin_in "$img" 0
        j=$(token_json "$img" 0)
        pycheck "$j" "set(d['hsm']) == ({'uri', 'mechanism', 'key-check', 'ciphertext', 'pin'} | ({'iv'} if '$kind' == 'aes' else set()))" \
                "the token's hsm member ($kind)"

        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"
        expect_in "$err" "^Token 0 opens keyslot $slot of $img\.$" "unlock --test ($kind)"
        print_key "$img"
        [ "$rc" = 0 ] || fail "--print-key ($kind) exited $rc: $(cat "$T/pk.err")"
        [ "$(wc -c <"$T/pk")" = 44 ] || fail "--print-key ($kind) wrote $(wc -c <"$T/pk") bytes, not 44"
        cryptsetup open --test-passphrase --key-slot "$slot" --key-file - "$img" <"$T/pk" 2>/dev/null \
                || fail "the key that --print-key gives ($kind) does not open keyslot $slot"
        cp "$T/pk" "$T/$kind.pass"

        # The same TPM, without the HSM binding: another token, another passphrase.
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key"
        pycheck "$out" "d['token'] == 1 and d['hsm'] is False" "enroll without --hsm ($kind)"
        slot1=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
        pycheck "$out" "'hsm' not in d['tokens'][1] and 'hsm' in d['tokens'][0]" "list of both tokens ($kind)"
        print_key "$img" --token 1
        [ "$rc" = 0 ] || fail "--print-key --token 1 ($kind) exited $rc: $(cat "$T/pk.err")"
        cmp -s "$T/pk" "$T/$kind.pass" && fail "the tokens with and without the HSM give the same passphrase"
        cryptsetup open --test-passphrase --key-slot "$slot1" --key-file - "$img" <"$T/pk" 2>/dev/null \
                || fail "the key of the token without HSM ($kind) does not open keyslot $slot1"

        # The TPM alone does not give the passphrase.  tpm2-tools unseal both TPM objects by hand; the
        # KDF over the TPM share alone gives exactly the passphrase of token 1 (so the model is the
        # tool's), but not that of the HSM-bound token 0, whose object also holds the HSM PIN.
        tpm_unseal "$img" 1 "$T/sealed1"
        [ "$(wc -c <"$T/sealed1")" = 32 ] || fail "token 1 ($kind) seals $(wc -c <"$T/sealed1") bytes, not 32"
        [ "$(tpm_only_pass "$img" 1 "$T/sealed1")" = "$(cat "$T/pk")" ] \
                || fail "the KDF model does not give the passphrase of the token without HSM ($kind)"
        tpm_unseal "$img" 0 "$T/sealed0"
        [ "$(tail -c +33 "$T/sealed0")" = "$PIN" ] \
                || fail "the TPM object of token 0 ($kind) does not hold the TPM share and then the HSM PIN"
        tpm_only_pass "$img" 0 "$T/sealed0" >"$T/tponly"
        cmp -s "$T/tponly" "$T/$kind.pass" && fail "the HSM-bound passphrase ($kind) comes from the TPM share alone"
        cryptsetup open --test-passphrase --key-slot "$slot" --key-file - "$img" <"$T/tponly" 2>/dev/null \
                && fail "the TPM share alone opens the HSM-bound keyslot ($kind)"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$img"

        # ======== 6. the HSM-bound unlock sends the same 6 TPM commands as a PCR-only one ========
        hsm_cmds=$(count_unlock "$img" 0) || exit 1
        pcr_cmds=$(count_unlock "$img" 1) || exit 1
        [ "$hsm_cmds" = "$pcr_cmds" ] || fail "HSM-bound unlock ($kind) sends $hsm_cmds, PCR-only $pcr_cmds"
done

# ======== 3. the HSM PIN ========
img=$T/pin.img
make_image "$img" "$T/key"
h=$(header_sum "$img")
printf 'hsm-pin-9999\n' >"$T/badpin"

expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" --hsm "$AES" --hsm-pin-file "$T/badpin"
expect_in "$err" "^cvmseal: $img: $refused_msg" "enroll with a wrong HSM PIN"
expect_in "$err" "C_Login failed" "enroll -v with a wrong HSM PIN"
untouched "$img" "$h" "enroll with a wrong HSM PIN"

expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" --hsm "$AES"
expect_in "$err" "^cvmseal: $img: $refused_msg" "enroll without an HSM PIN"
expect_in "$err" "needs a PIN and none was given" "enroll -v without an HSM PIN"
untouched "$img" "$h" "enroll without an HSM PIN"

# pin-source naming a file that does not exist: the message must name that file (the volume is
# there), with the exit code of an unreadable --hsm-pin-file (1) or of an HSM refusal (5).
missing_pin_source() {
        local got
        "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" \
                --hsm "$AES?pin-source=file:$T/no-such-pin" >/dev/null 2>"$T/mps.err" && got=0 || got=$?
        [ "$got" = 1 ] || [ "$got" = 5 ] || fail "enroll with a missing pin-source file exited $got, expected 1 or 5"
        grep -qF "$T/no-such-pin" "$T/mps.err" \
                || fail "the message for a missing pin-source file does not name it: $(cat "$T/mps.err")"
        untouched "$img" "$h" "enroll with a missing pin-source file"
}
run_case "pin-source naming a missing file" missing_pin_source
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
pycheck "$out" "d['tokens'] == [] and d['keyslots'] == [{'id': 0, 'cvmseal': False}]" "list after the refused enrolls"

expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key" --hsm "$AES?pin-source=file:$T/pin"
pycheck "$out" "d['token'] == 0 and d['hsm'] is True" "enroll with pin-source"
! grep -q warning <<<"$err" || fail "enroll with pin-source warns: $err"
no_pin_in "$img" 0
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
pycheck "$out" "d['tokens'][0]['hsm'] == {'uri': '$AES', 'mechanism': 'aes-256-gcm', 'pin': True}" "list (pin-source)"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$img"

expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key" --hsm "$AES?pin-value=$PIN"
pycheck "$out" "d['token'] == 1 and d['hsm'] is True" "enroll with pin-value"
expect_in "$err" "^cvmseal: warning: pin-value= puts the HSM PIN on the command line" "enroll with pin-value"
no_pin_in "$img" 1
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
pycheck "$out" "d['tokens'][1]['hsm']['uri'] == '$AES'" "list (pin-value)"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 1 "$img"

# The token's user PIN changes: the PIN sealed in the TPM is wrong now.
h=$(header_sum "$img")
p11 --change-pin --new-pin hsm-pin-5678
PIN=hsm-pin-5678
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $refused_msg" "unlock after the HSM PIN changed"
expect_in "$err" "C_Login failed: The password or PIN is incorrect" "unlock -v after the HSM PIN changed"
[ -z "$out" ] || fail "a refused unlock printed on stdout: $out"
expect_exit 5 "$CVMSEAL" --tcti "$TCTI" --json unlock --test "$img"
pycheck "$out" "d['exit-code'] == 5 and 'HSM refused' in d['error']" "--json error document"
print_key "$img"
[ "$rc" = 5 ] || fail "--print-key after the HSM PIN changed exited $rc, expected 5"
[ ! -s "$T/pk" ] || fail "a refused --print-key wrote $(wc -c <"$T/pk") bytes"
untouched "$img" "$h" "unlock with a wrong sealed HSM PIN"
p11 --change-pin --new-pin hsm-pin-1234
PIN=hsm-pin-1234
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$img"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 1 "$img"

# ======== 4. unfit keys ========
img=$T/unfit.img
make_image "$img" "$T/key"
h=$(header_sum "$img")
p11 --keygen --key-type AES:32 --label ext --extractable --sensitive
p11 --keygen --key-type AES:32 --label readable --extractable
p11 --keygen --key-type AES:16 --label aes128 --sensitive
p11 --keygen --key-type AES:32 --label dup --sensitive
p11 --keygen --key-type AES:32 --label dup --sensitive
uri_of() { echo "pkcs11:token=cvmseal;object=$1;type=secret-key"; }

expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" --hsm "$(uri_of ext)" --hsm-pin-file "$T/pin"
expect_in "$err" "^cvmseal: $img: $unfit_msg.*--hsm-allow-extractable" "enroll with an extractable key"
expect_in "$err" "The HSM key is extractable" "enroll -v with an extractable key"
untouched "$img" "$h" "enroll with an extractable key"

for allow in "" --hsm-allow-extractable; do
        expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" --hsm "$(uri_of readable)" \
                --hsm-pin-file "$T/pin" $allow
        expect_in "$err" "^cvmseal: $img: $unfit_msg" "enroll $allow with a key that is not sensitive"
        expect_in "$err" "not sensitive" "enroll -v $allow with a key that is not sensitive"
        untouched "$img" "$h" "enroll $allow with a key that is not sensitive"
done

expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" --hsm "$(uri_of aes128)" --hsm-pin-file "$T/pin"
expect_in "$err" "^cvmseal: $img: the HSM (refused|key is not fit)" "enroll with an AES-128 key"
expect_in "$err" "not 256 bits" "enroll -v with an AES-128 key"
untouched "$img" "$h" "enroll with an AES-128 key"

expect_exit 5 "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" --hsm "$(uri_of dup)" --hsm-pin-file "$T/pin"
expect_in "$err" "^cvmseal: $img: the HSM URI matches more than one key" "enroll with a URI that matches two keys"
untouched "$img" "$h" "enroll with a URI that matches two keys"

expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key" --hsm "$(uri_of ext)" \
        --hsm-pin-file "$T/pin" --hsm-allow-extractable
pycheck "$out" "d['token'] == 0 and d['hsm'] is True" "enroll --hsm-allow-extractable"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" list --json "$img"
pycheck "$out" "d['tokens'][0]['hsm'] == {'uri': '$(uri_of ext)', 'mechanism': 'aes-256-gcm', 'pin': True}" \
        "list (extractable key)"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"

# ======== 2. both factors are needed ========
# One HSM-bound token per image, so that no other token can step in.
for kind in aes rsa; do
        make_image "$T/$kind.2.img" "$T/key"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$T/$kind.2.img" --unlock-key-file "$T/key" \
                --hsm "${URI[$kind]}" --hsm-pin-file "$T/pin"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/$kind.2.img"
done

# module-path on the command line: enroll may load that module, but the token keeps only the key's
# identity; unlock finds the module through p11-kit's registration (local configuration), never
# through a path read from the disk (docs/hsm.md).
mkdir -p "$T/mod"
cp "$MODULE" "$T/mod/libsofthsm2.so"
img=$T/mod.img
make_image "$img" "$T/key"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key" \
        --hsm "$AES?module-path=$T/mod/libsofthsm2.so" --hsm-pin-file "$T/pin"
token_json "$img" 0 | grep -q "module-path" && fail "the token keeps the module path: $(token_json "$img" 0)"
rm -f "$T/mod/libsofthsm2.so"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"

# (An unregistered module cannot be staged here: p11-kit reads no user configuration for root, and
# the test leaves the system's alone.  The token being gone, below, is the same refusal: 5.)

# The SoftHSM token is gone: SOFTHSM2_CONF names an empty token directory.
mkdir -p "$T/empty/tokens"
sed "s|^directories.tokendir = .*|directories.tokendir = $T/empty/tokens|" "$SOFTHSM2_CONF" >"$T/empty/softhsm2.conf"
for kind in aes rsa; do
        img=$T/$kind.2.img
        h=$(header_sum "$img")
        expect_exit 5 env SOFTHSM2_CONF="$T/empty/softhsm2.conf" "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
        expect_in "$err" "^cvmseal: $img: $unavailable_msg" "unlock without the SoftHSM token ($kind)"
        expect_in "$err" "No PKCS#11 token matches the URI" "unlock -v without the SoftHSM token ($kind)"
        untouched "$img" "$h" "unlock without the SoftHSM token ($kind)"
        expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"
done

# PCR 7 changes while the HSM is fine: the TPM refuses, and the HSM is never asked.
pcr_extend "$TCTI" 7
for kind in aes rsa; do
        img=$T/$kind.2.img
        h=$(header_sum "$img")
        expect_exit 3 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
        expect_in "$err" "^cvmseal: $img: $policy_msg" "unlock after the PCR 7 change ($kind)"
        ! grep -q "asking the HSM" <<<"$err" || fail "the HSM was asked although the TPM refused ($kind): $err"
        expect_exit 3 env SOFTHSM2_CONF="$T/empty/softhsm2.conf" "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"
        untouched "$img" "$h" "unlock after the PCR 7 change ($kind)"
done
stop_swtpm tpm
TCTI=$(start_swtpm tpm) || exit 1
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/aes.2.img"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/rsa.2.img"

# The key is deleted, then replaced by another key under the same label.
img=$T/aes.2.img
h=$(header_sum "$img")
p11 --delete-object --type secrkey --label aes
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $unavailable_msg" "unlock with the AES key deleted"
expect_in "$err" "No key in the PKCS#11 token matches the URI" "unlock -v with the AES key deleted"
untouched "$img" "$h" "unlock with the AES key deleted"

p11 --keygen --key-type AES:32 --label aes --sensitive
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $refused_msg" "unlock with another AES key (pkcs11-tool) under the label"
expect_in "$err" "The HSM key is not the one the token was bound to" "unlock -v with another AES key (pkcs11-tool)"
untouched "$img" "$h" "unlock with another AES key (pkcs11-tool)"

p11 --delete-object --type secrkey --label aes
expect_exit 0 "$CVMSEAL" hsm keygen --hsm "$AES" --hsm-pin-file "$T/pin"
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $refused_msg" "unlock with another AES key (hsm keygen) under the label"
expect_in "$err" "The HSM key is not the one the token was bound to" "unlock -v with another AES key (hsm keygen)"
untouched "$img" "$h" "unlock with another AES key (hsm keygen)"

img=$T/rsa.2.img
h=$(header_sum "$img")
p11 --delete-object --type privkey --label rsa
p11 --delete-object --type pubkey --label rsa
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $unavailable_msg" "unlock with the RSA key deleted"
untouched "$img" "$h" "unlock with the RSA key deleted"
p11 --keypairgen --key-type rsa:2048 --label rsa --usage-decrypt --sensitive
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $refused_msg" "unlock with another RSA key under the label"
expect_in "$err" "The HSM key is not the one the token was bound to" "unlock -v with another RSA key"
untouched "$img" "$h" "unlock with another RSA key"

[ ${#failures[@]} = 0 ] || fail "failed cases: $(printf '[%s] ' "${failures[@]}")"
exit 0
