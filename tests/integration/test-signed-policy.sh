#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Signed PCR policies (TPM2_PolicyAuthorize): a token enrolled with --tpm2-public-key (RSA 2048) and
# --tpm2-pcrs 7 records the key and has the authPolicy that tpm2-tools computes in a trial session
# (PolicyAuthorize by that key with cvmseal's policyRef, then PolicyPCR of the lock PCR 15); it does
# not unlock (exit 3, "no signed policy matches the boot state") until `policy sign` has signed PCR 7;
# then it does, with 11 TPM commands (pcap TCTI, tests/bench/tpm-count.py).  After PCR 7 changes it
# is refused (3) until the new value is signed, and then unlocks WITHOUT a reseal: the LUKS2 header
# and the token are byte for byte unchanged.  Of several valid signed policies the newest is used; a
# policy signed by another key is refused (3) and the good one still works next to it; tampered and
# malformed files are skipped (-v says so) without stopping the unlock, and alone give exit 3; a token
# whose recorded key name is not its key's is malformed (10).  An ECC P-256 key with a PIN works the
# same, with 12 commands; a wrong or missing PIN exits 7.  The token plugin (cryptsetup open
# --token-only, luksDump) takes the same path.  Usage errors of `policy sign` and `enroll`.
. "$(dirname "$0")/lib.sh"

for tool in openssl python3 tpm2_pcrread tpm2_pcrextend tpm2_loadexternal tpm2_policyauthorize; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done
COUNT=$(cd "$(dirname "$0")/../bench" && pwd)/tpm-count.py
[ -f "$COUNT" ] || fail "$COUNT is missing"

nomatch='no signed policy matches the boot state'

tcti=$(start_swtpm tpm) || exit 1
sock=${tcti#swtpm:path=}
export CVMSEAL_SIGNED_POLICY_DIR=$T/policies
export CVMSEAL_LOCK_RECORD=$T/lock.json   # this boot has not been locked
mkdir -p "$CVMSEAL_SIGNED_POLICY_DIR"
P=$CVMSEAL_SIGNED_POLICY_DIR

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null || fail "genpkey RSA"
openssl pkey -in "$T/rsa.pem" -pubout -out "$T/rsa.pub" || fail "pkey RSA"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem" 2>/dev/null || fail "genpkey EC"
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub" || fail "pkey EC"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null || fail "genpkey other"

# pcr_values FILE: the current sha256 PCR 7 as a pcr-values document.
pcr_values() {
        TPM2TOOLS_TCTI=$tcti tpm2_pcrread sha256:7 -o "$T/pcr7.bin" >/dev/null 2>&1 || fail "tpm2_pcrread"
        printf '{"sha256": {"7": "%s"}}\n' "$(xxd -p -c 64 "$T/pcr7.bin" 2>/dev/null ||
                python3 -c 'import sys; print(open(sys.argv[1],"rb").read().hex())' "$T/pcr7.bin")" >"$1"
}

# sign KEY OUT: signs the current PCR 7 into OUT.
sign() {
        pcr_values "$T/values.json"
        expect_exit 0 "$CVMSEAL" policy sign --key "$1" --pcr-values "$T/values.json" --output "$2"
}

# counted NAME CODE ARGS...: cvmseal ARGS through the pcap TCTI; the commands in $cmds (JSON).
counted() {
        local name=$1 code=$2
        shift 2
        rm -f "$T/$name.pcap"
        TCTI_PCAP_FILE=$T/$name.pcap expect_exit "$code" "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" "$@"
        cmds=$(python3 "$COUNT" --json "$T/$name.pcap") || fail "tpm-count.py $T/$name.pcap"
}

token_json() {
        cryptsetup token export --token-id 0 "$1" || fail "token export $1"
}

img=$T/img
key=$T/key
make_image "$img" "$key"

# ---- enroll: the key and the policy ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img" --unlock-key-file "$key" \
        --tpm2-public-key "$T/rsa.pub" --tpm2-pcrs 7
pycheck "$out" "d['token'] == 0 and d['signed-policy'] is True and d['verified'] is False" "enroll --json"
tok=$(token_json "$img")
pycheck "$tok" "d['tpm2']['pcrs'] == [7, 15] and len(d['tpm2']['public-key']['name']) == 68" "the token"

# The authPolicy is what the TPM computes: PolicyAuthorize(key, ref), PolicyPCR(15 = zero), then
# PolicyAuthValue (version 2: the token's binding).
export TPM2TOOLS_TCTI=$tcti
tpm2_loadexternal -C o -G rsa -u "$T/rsa.pub" -c "$T/k.ctx" -n "$T/k.name" >/dev/null 2>&1 || fail "tpm2_loadexternal"
tpm2_flushcontext -t >/dev/null 2>&1
pycheck "$tok" "d['tpm2']['public-key']['name'] == open('$T/k.name','rb').read().hex()" "the key's TPM name"
printf 'cvmseal/pcr-policy/v1' >"$T/ref"
head -c 32 /dev/zero >"$T/zero"
tpm2_startauthsession -S "$T/s.ctx" >/dev/null 2>&1 || fail "tpm2_startauthsession"
tpm2_policyauthorize -S "$T/s.ctx" -n "$T/k.name" -q "$T/ref" >/dev/null 2>&1 || fail "tpm2_policyauthorize"
tpm2_policypcr -S "$T/s.ctx" -l sha256:15 -f "$T/zero" >/dev/null 2>&1 || fail "tpm2_policypcr"
tpm2_policyauthvalue -S "$T/s.ctx" -L "$T/trial" >/dev/null 2>&1 || fail "tpm2_policyauthvalue"
tpm2_flushcontext "$T/s.ctx" >/dev/null 2>&1
unset TPM2TOOLS_TCTI
pycheck "$tok" "d['tpm2']['policy'] == open('$T/trial','rb').read().hex()" "the policy against a trial session"

expect_exit 0 "$CVMSEAL" --json list "$img"
pycheck "$out" "d['tokens'][0]['signed-policy-key'] == open('$T/k.name','rb').read().hex()" "list --json"

# ---- nothing signed yet ----
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_in "$err" "$nomatch" "unlock before anything is signed"

# ---- signed: unlocks, with 10 commands ----
sign "$T/rsa.pem" "$P/a.json"
pycheck "$(cat "$P/a.json")" "d['version'] == 1 and list(d['pcrs']['sha256']) == ['7'] and len(d['policy']) == 64 \
and d['key'] == '$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tpm2"]["public-key"]["name"])' <(echo "$tok"))' \
and d['created'].endswith('Z')" "the signed policy"
counted unlock 0 unlock --test "$img"
pycheck "$cmds" "d['commands'] == ['ReadPublic', 'Load', 'StartAuthSession', 'PolicyPCR', 'LoadExternal', \
'VerifySignature', 'FlushContext', 'PolicyAuthorize', 'PolicyPCR', 'PolicyAuthValue', 'Unseal', 'FlushContext']" "the commands of an unlock"
note "unlock with a signed policy: $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$cmds") TPM commands"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/pass" || fail "--print-key"
cryptsetup open --test-passphrase --key-file "$T/pass" "$img" || fail "the printed key does not open"

h0=$(header_sum "$img")

# ---- the boot changes PCR 7 ----
pcr_extend "$tcti" 7
counted refused 3 unlock --test "$img"
expect_in "$err" "$nomatch" "unlock after the PCR 7 change"
# Refused at PolicyPCR: no key is loaded, nothing is unsealed.
pycheck "$cmds" "'LoadExternal' not in d['commands'] and 'Unseal' not in d['commands']" "the commands of a refusal"

# ---- sign the new value: unlocks again, nothing resealed ----
sign "$T/rsa.pem" "$P/b.json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" -v unlock --test "$img"
expect_in "$err" "Using signed policy b\.json" "the policy of the new boot state"
[ "$(header_sum "$img")" = "$h0" ] || fail "the LUKS2 header changed"
[ "$(token_json "$img")" = "$tok" ] || fail "the token changed"

# ---- the newest of several valid ones ----
pyedit "$P/b.json" "$P/c.json" "d['created'] = '2030-01-01T00:00:00Z'"
pyedit "$P/b.json" "$P/d.json" "d['created'] = '2035-01-01T00:00:00Z'"
pyedit "$P/b.json" "$P/e.json" "d['created'] = '2020-01-01T00:00:00Z'"
# Newer still, but for the old PCR 7 value: tried first, passed over by the TPM (PolicyPCR).
pyedit "$P/a.json" "$P/f.json" "d['created'] = '2050-01-01T00:00:00Z'"
counted newest 0 -v unlock --test "$img"
expect_in "$err" "f\.json: the PCRs differ" "the newer policy of the old boot state"
expect_in "$err" "Using signed policy d\.json" "the newest valid policy"
pycheck "$cmds" "d['commands'].count('PolicyPCR') == 3 and d['total'] == 13" "one PolicyPCR more per passed-over policy"
rm -f "$P/c.json" "$P/d.json" "$P/e.json" "$P/f.json"

# ---- another key's signature: refused, and the good one still works beside it ----
mkdir -p "$T/keep"
mv "$P"/*.json "$T/keep/"
sign "$T/other.pem" "$P/other.json"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" -v unlock --test "$img"
expect_in "$err" "$nomatch" "unlock with another key's policy"
expect_in "$err" "Skipping signed policy .*other\.json: it does not verify" "-v on another key's policy"
cp "$T/keep/b.json" "$P/"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

# ---- tampered and malformed files: skipped, never fatal ----
pyedit "$P/b.json" "$P/z-tampered.json" "s = bytearray(base64.b64decode(d['signature'])); s[-1] ^= 1
d['signature'] = base64.b64encode(bytes(s)).decode(); d['created'] = '2040-01-01T00:00:00Z'"
pyedit "$P/b.json" "$P/z-values.json" "d['pcrs']['sha256']['7'] = '00' * 32; d['created'] = '2040-01-01T00:00:00Z'"
printf '{"version": 1, "pcrs": ' >"$P/z-garbage.json"
printf 'not json at all' >"$P/z-text.json"
mkdir "$P/z-dir.json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" -v unlock --test "$img"
expect_in "$err" "Skipping signed policy .*z-tampered\.json: it does not verify" "-v on a tampered signature"
expect_in "$err" "Skipping signed policy .*z-values\.json: it does not verify" "-v on edited PCR values"
expect_in "$err" "Skipping signed policy .*z-garbage\.json: malformed" "-v on a malformed file"
expect_in "$err" "Using signed policy b\.json" "the good policy beside the bad ones"
rm "$P/b.json"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_in "$err" "$nomatch" "only bad files left"
cp "$T/keep/b.json" "$P/"

# ---- a token whose key name is not its key's: malformed (10), and the original works again ----
echo "$tok" >"$T/token.json"
pyedit "$T/token.json" "$T/badname.json" "n = d['tpm2']['public-key']['name']; d['tpm2']['public-key']['name'] = n[:-1] + ('0' if n[-1] != '0' else '1')"
cryptsetup token remove --token-id 0 "$img" || fail "token remove"
cryptsetup token import --token-id 0 --json-file "$T/badname.json" "$img" || fail "token import"
expect_exit 10 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
cryptsetup token remove --token-id 0 "$img" || fail "token remove"
cryptsetup token import --token-id 0 --json-file "$T/token.json" "$img" || fail "token import"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

# ---- no directory at all ----
CVMSEAL_SIGNED_POLICY_DIR=$T/nowhere expect_exit 3 "$CVMSEAL" --tcti "$tcti" --json unlock --test "$img"
pycheck "$out" "d['exit-code'] == 3 and 'no signed policy matches' in d['error']" "--json without a directory"

# ---- ECC P-256 with a PIN ----
img2=$T/img2
make_image "$img2" "$key"
printf '4321\n' >"$T/pin"
printf '9999\n' >"$T/badpin"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img2" --unlock-key-file "$key" \
        --tpm2-public-key "$T/ec.pub" --tpm2-pcrs 7 --pin-file "$T/pin"
# The RSA key's policies are there too: they are not this token's and are skipped.
pycheck "$out" "d['pin'] is True and d['verified'] is False" "enroll with the EC key and a PIN"
sign "$T/ec.pem" "$P/ec.json"
counted pin 0 unlock --test "$img2" --pin-file "$T/pin"
# 12; swtpm may answer the first Unseal of a DA-protected object with TPM_RC_RETRY (it writes its
# dictionary-attack state first), and the command is sent again.
pycheck "$cmds" "d['commands'].count('PolicyAuthValue') == 1 and \
(d['total'] == 12 or (d['total'] == 13 and d['commands'].count('Unseal') == 2))" "the commands with a PIN"
expect_exit 7 "$CVMSEAL" --tcti "$tcti" unlock --test "$img2" --pin-file "$T/badpin"
expect_exit 7 "$CVMSEAL" --tcti "$tcti" unlock --test "$img2" </dev/null
# Both tokens unlock in this boot state, each with its own key's policy.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

# An enrollment when a policy for this boot is already installed is verified by unsealing.
img3=$T/img3
make_image "$img3" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img3" --unlock-key-file "$key" \
        --tpm2-public-key "$T/rsa.pub" --tpm2-pcrs 7
pycheck "$out" "d['verified'] is True" "enroll with a matching signed policy installed"

# ---- the token plugin takes the same path (cryptsetup open --token-only; needs a mount namespace) ----
tokendir=$(dirname "$(find /usr/lib /lib -name 'libcryptsetup.so.12' 2>/dev/null | head -n 1)")/cryptsetup
if [ -n "${CVMSEAL_TOKEN_PLUGIN:-}" ] && [ -n "${CVMSEAL_LIBDIR:-}" ] && unshare -m true 2>/dev/null; then
        mkdir -p "$T/tokens"
        cp "$CVMSEAL_TOKEN_PLUGIN" "$T/tokens/"
        cp "$tokendir"/*.so "$T/tokens/" 2>/dev/null || true
        cs() {
                CVMSEAL_TCTI=$tcti LD_LIBRARY_PATH="$CVMSEAL_LIBDIR" unshare -m sh -c \
                        'mkdir -p "$1" && mount --bind "$2" "$1" && shift 2 && exec cryptsetup "$@"' \
                        sh "$tokendir" "$T/tokens" "$@"
        }
        expect_exit 0 cs open --test-passphrase --token-only --token-id 0 "$img"
        expect_exit 0 cs luksDump "$img"
        expect_in "$out" "Signed policies: key 000b" "luksDump through the plugin"
        CVMSEAL_SIGNED_POLICY_DIR=$T/nowhere expect_exit 1 cs open --test-passphrase --token-only --token-id 0 "$img"
else
        note "token plugin part skipped: no plugin or no mount namespace"
fi

# ---- usage ----
expect_exit 2 "$CVMSEAL" policy sign --key "$T/rsa.pem"
expect_exit 2 "$CVMSEAL" policy sign --pcr-values "$T/values.json"
expect_exit 1 "$CVMSEAL" policy sign --key "$T/rsa.pub" --pcr-values "$T/values.json"
expect_in "$err" "not an unencrypted PEM private key" "policy sign with a public key"
openssl pkey -in "$T/rsa.pem" -aes256 -passout pass:secret -out "$T/enc.pem" 2>/dev/null || fail "encrypt the key"
expect_exit 1 "$CVMSEAL" policy sign --key "$T/enc.pem" --pcr-values "$T/values.json" </dev/null
expect_in "$err" "not an unencrypted PEM private key" "policy sign with an encrypted key"
expect_exit 1 "$CVMSEAL" policy sign --key "$T/rsa.pem" --pcr-values "$T/values.json" --pcrs 4
expect_exit 10 "$CVMSEAL" policy sign --key "$T/rsa.pem" --pcr-values "$T/ref"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" enroll "$img3" --unlock-key-file "$key" --tpm2-public-key "$T/ref"
expect_in "$err" "not a usable signing key" "enroll with a file that is no key"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" enroll "$img3" --unlock-key-file "$key" --tpm2-public-key "$T/rsa.pub" \
        --tpm2-pcrs 7,15
# The private key is never echoed.
expect_exit 0 "$CVMSEAL" policy sign --key - --pcr-values "$T/values.json" <"$T/rsa.pem"
pycheck "$out" "d['version'] == 1" "policy sign to standard output"
grep -q "PRIVATE KEY" <<<"$out$err" && fail "the private key was echoed"
exit 0
