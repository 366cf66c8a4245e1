#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The HSM binding through an OpenSSL 3 provider (src/lib/hsm/hsm-provider.c), with a real provider:
# Debian's tpm2-openssl, whose keys never leave a TPM, run against a SECOND swtpm ("hsm", reached by
# TPM2OPENSSL_TCTI) that is a different device from the vTPM ("tpm"), as Azure's HSM is.  The HSM key
# is an EC P-256 key made by tpm2-tools and persisted at 0x81000101 there; the mechanism is ECDH +
# HKDF + AES-256-GCM.  Cases:
#   1. enroll --hsm-provider tpm2 --hsm handle:0x81000101; list (and --json) shows the provider, the
#      URI and the key's fingerprint, which is SHA-256 of the DER public key that openssl prints;
#      unlock --test and --print-key open the keyslot; the unlock sends exactly the TPM commands of a
#      plain token to the vTPM (the HSM's commands go to the other swtpm);
#   2. the HSM swtpm gone: exit 5; another HSM holding a different key under the same URI: exit 5,
#      "not the key"; each time the header is unchanged and the original key still opens, and the
#      token opens again with its own HSM back;
#   3. a damaged ciphertext, IV or ephemeral point: exit 10;
#   4. a provider name that is a path, or one that cvmseal.conf does not allow: enroll exits 2 and a
#      token naming it exits 10, before any TPM command: a pcap of the vTPM records nothing (while the
#      same command with an allowed provider does record the unlock's commands);
#   5. hsm keygen through tpm2-openssl (an EC key made inside the HSM swtpm, its TPM-wrapped blob
#      kept in the token by {key-blob}): unlock, and refusal on another HSM;
#   6. an offline bind from the public key alone (with offline sealing to the vTPM's SRK: no TPM and
#      no HSM reached), then unlock on the target;
#   7. rotate keeps the provider binding;
#   8. the RSA-OAEP-SHA256 path, through the same provider code with OpenSSL's DEFAULT provider and a
#      key file: this exercises the code path, NOT an HSM (the key is an ordinary file, extractable,
#      so enroll refuses it without --hsm-allow-extractable);
#   9. the token plugin (cryptsetup open --test-passphrase --token-only) unlocks a provider-bound
#      token (when a mount namespace can be made: root);
#  10. a pipeline image whose first-boot marker names the provider: the first boot refuses it (10,
#      no TPM command) where cvmseal.conf does not allow the provider, and enrolls to the HSM key
#      where it does.
. "$(dirname "$0")/lib.sh"

MODULES=$(openssl version -m 2>/dev/null | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
[ -f "$MODULES/tpm2.so" ] || skip "tpm2-openssl is not installed ($MODULES/tpm2.so)"
for tool in openssl python3 tpm2_createprimary tpm2_create tpm2_load tpm2_evictcontrol tpm2_flushcontext tpm2_pcrread; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done
TPM_COUNT=$(cd "$(dirname "$0")/../bench" && pwd)/tpm-count.py
[ -f "$TPM_COUNT" ] || fail "$TPM_COUNT is missing"

export CVMSEAL_CONFDIR=$T/conf
mkdir -p "$CVMSEAL_CONFDIR"
allow() { printf 'hsm-provider = %s\n' "$@" >"$CVMSEAL_CONFDIR/cvmseal.conf"; }
allow tpm2

TCTI=$(start_swtpm tpm) || exit 1
HSM=$(start_swtpm hsm) || exit 1
export TPM2OPENSSL_TCTI=$HSM
URI=handle:0x81000101

unavailable_msg='the HSM key is unavailable'
refused_msg='the HSM refused: wrong or missing HSM PIN, or not the key the token was bound to'
malformed_msg='the cvmseal token is malformed or damaged'

# hsm_key TCTI: an EC P-256 decryption key made by tpm2-tools in that TPM, persisted at 0x81000101.
hsm_key() {
        local t=$1
        (
                export TPM2TOOLS_TCTI=$t
                tpm2_createprimary -C o -g sha256 -G ecc -c "$T/prim.ctx" >/dev/null || exit 1
                tpm2_flushcontext -t >/dev/null
                tpm2_create -C "$T/prim.ctx" -G ecc256:ecdh -u "$T/k.pub" -r "$T/k.priv" >/dev/null || exit 1
                tpm2_flushcontext -t >/dev/null
                tpm2_load -C "$T/prim.ctx" -u "$T/k.pub" -r "$T/k.priv" -c "$T/k.ctx" >/dev/null || exit 1
                tpm2_flushcontext -t >/dev/null
                tpm2_evictcontrol -C o -c "$T/k.ctx" 0x81000101 >/dev/null || exit 1
                tpm2_flushcontext -t >/dev/null
        ) 2>"$T/tools.err" || fail "making the HSM key with tpm2-tools: $(cat "$T/tools.err")"
}

# fingerprint: SHA-256 of the DER public key of the HSM key, as openssl (tpm2-openssl) prints it.
fingerprint() {
        openssl pkey -provider tpm2 -provider default -in "$URI" -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1
}

untouched() {
        [ "$(header_sum "$1")" = "$2" ] || fail "$3 changed the LUKS2 header of $1"
        key_opens "$T/key" "$1" 0
}

# count IMG ARGS...: the TPM commands (JSON list) that `unlock --test ARGS` sends to the vTPM.
count() {
        local img=$1
        shift
        rm -f "$T/u.pcap"
        expect_exit 0 env TCTI_PCAP_FILE="$T/u.pcap" "$CVMSEAL" --tcti "pcap:$TCTI" unlock --test "$img" "$@"
        expect_exit 0 python3 "$TPM_COUNT" --json "$T/u.pcap"
        python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])["commands"]))' "$out"
}

# no_tpm_command WHAT ARGS...: runs ARGS through a pcap TCTI on the vTPM; fails if any TPM command
# was recorded (the TCTI is opened lazily: no file means none).
no_tpm_command() {
        local what=$1 n=0
        shift
        rm -f "$T/refused.pcap"
        "$@"
        if [ -e "$T/refused.pcap" ]; then
                n=$(python3 "$TPM_COUNT" --json "$T/refused.pcap" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
        fi
        [ "$n" = 0 ] || fail "$what sent $n TPM commands to the vTPM before refusing"
}
pcap_cvmseal() { env TCTI_PCAP_FILE="$T/refused.pcap" "$CVMSEAL" --tcti "pcap:$TCTI" "$@"; }

hsm_key "$HSM"
FP=$(fingerprint)
[ ${#FP} = 64 ] || fail "openssl cannot read the HSM key through tpm2-openssl"

# ======== 1. enroll, list, unlock ========
img=$T/disk.img
make_image "$img" "$T/key"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$img" --unlock-key-file "$T/key" --hsm-provider tpm2 --hsm "$URI"
pycheck "$out" "d['token'] == 0 and d['hsm'] is True and d['hsm-provider'] == 'tpm2' and d['verified'] is True and 'hsm-offline' not in d" \
        "enroll --hsm-provider --json"
j=$(cryptsetup token export --token-id 0 "$img")
pycheck "$j" "set(d['hsm']) == {'provider', 'uri', 'mechanism', 'ephemeral', 'iv', 'key-check', 'ciphertext', 'pin'}" "the token's hsm member"
pycheck "$j" "d['hsm']['provider'] == 'tpm2' and d['hsm']['uri'] == '$URI' and d['hsm']['mechanism'] == 'ecdh-p256-aes-256-gcm' and d['hsm']['key-check'] == '$FP' and d['hsm']['pin'] is False" \
        "the token's hsm member"
expect_exit 0 "$CVMSEAL" list --json "$img"
pycheck "$out" "d['tokens'][0]['hsm'] == {'provider': 'tpm2', 'uri': '$URI', 'mechanism': 'ecdh-p256-aes-256-gcm', 'pin': False, 'fingerprint': '$FP'}" \
        "list --json"
expect_exit 0 "$CVMSEAL" list "$img"
expect_in "$out" "HSM: OpenSSL provider tpm2, $URI \(ecdh-p256-aes-256-gcm\)" "list"
expect_in "$out" "key fingerprint .*: $FP" "list"

expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^Token 0 opens keyslot 1 of $img\.$" "unlock --test"
"$CVMSEAL" --tcti "$TCTI" unlock --print-key "$img" >"$T/pk" 2>"$T/pk.err" || fail "--print-key: $(cat "$T/pk.err")"
cryptsetup open --test-passphrase --key-slot 1 --key-file - "$img" <"$T/pk" 2>/dev/null || fail "the --print-key key does not open keyslot 1"

# A plain token beside it: the HSM adds no vTPM command.
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/key"
hsm_cmds=$(count "$img" --token 0) || exit 1
plain_cmds=$(count "$img" --token 1) || exit 1
[ "$hsm_cmds" = "$plain_cmds" ] || fail "the provider-bound unlock sends $hsm_cmds to the vTPM, a plain one $plain_cmds"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" remove "$img" --token 1

# ======== 2. the HSM gone; another HSM under the same URI ========
h=$(header_sum "$img")
stop_swtpm hsm
expect_exit 5 "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $unavailable_msg" "unlock without the HSM swtpm"
expect_in "$err" "Cannot load the OpenSSL provider 'tpm2'" "unlock -v without the HSM swtpm"
untouched "$img" "$h" "unlock without the HSM swtpm"

OTHER=$(start_swtpm other) || exit 1
hsm_key "$OTHER"
expect_exit 5 env TPM2OPENSSL_TCTI="$OTHER" "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $refused_msg" "unlock with another HSM's key under the URI"
expect_in "$err" "The HSM key is not the one the token was bound to" "unlock -v with another HSM's key"
untouched "$img" "$h" "unlock with another HSM's key"
HSM=$(start_swtpm hsm) || exit 1
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"

# ======== 3. damage: exit 10 ========
cryptsetup token export --token-id 0 "$img" >"$T/t0.json" || fail "token export"
for damage in ciphertext iv ephemeral; do
        pyedit "$T/t0.json" "$T/bad.json" "
b = bytearray(base64.b64decode(d['hsm']['$damage']))
b[len(b) // 2] ^= 1
d['hsm']['$damage'] = base64.b64encode(bytes(b)).decode()"
        cryptsetup token remove --token-id 0 "$img" && cryptsetup token import --token-id 0 --json-file "$T/bad.json" "$img" \
                || fail "import of the damaged token ($damage)"
        h=$(header_sum "$img")
        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"
        expect_in "$err" "^cvmseal: $img: $malformed_msg" "unlock with a damaged $damage"
        untouched "$img" "$h" "unlock with a damaged $damage"
done
cryptsetup token remove --token-id 0 "$img" && cryptsetup token import --token-id 0 --json-file "$T/t0.json" "$img" || fail "import"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img"

# ======== 4. a provider that is a path, or not allowed: refused before any TPM command ========
img4=$T/refuse.img
make_image "$img4" "$T/key"
h=$(header_sum "$img4")
no_tpm_command "enroll with a provider path" \
        expect_exit 2 pcap_cvmseal enroll "$img4" --unlock-key-file "$T/key" --hsm-provider "$MODULES/tpm2.so" --hsm "$URI"
expect_in "$err" "never a path" "enroll with a provider path"
no_tpm_command "enroll with a provider that is not allowed" \
        expect_exit 2 pcap_cvmseal enroll "$img4" --unlock-key-file "$T/key" --hsm-provider pkcs11 --hsm "$URI"
expect_in "$err" "cvmseal.conf does not allow the OpenSSL provider 'pkcs11'" "enroll with a provider that is not allowed"
untouched "$img4" "$h" "the refused enrolls"

# The same token with its provider made a path: malformed, before the TPM.
for name in "$MODULES/tpm2.so" "../tpm2" pkcs11; do
        pyedit "$T/t0.json" "$T/bad.json" "d['hsm']['provider'] = '$name'"
        if cryptsetup token remove --token-id 0 "$img" && cryptsetup token import --token-id 0 --json-file "$T/bad.json" "$img" 2>/dev/null; then
                h=$(header_sum "$img")
                no_tpm_command "unlock of a token naming the provider $name" \
                        expect_exit 10 pcap_cvmseal -v unlock --test "$img"
                expect_in "$err" "^cvmseal: $img: $malformed_msg" "unlock of a token naming the provider $name"
                untouched "$img" "$h" "unlock of a token naming the provider $name"
        else
                fail "cryptsetup token import of the token naming $name"
        fi
done
cryptsetup token remove --token-id 0 "$img" && cryptsetup token import --token-id 0 --json-file "$T/t0.json" "$img" || fail "import"
# The intact token, with tpm2 no longer allowed: refused the same way, before the TPM.
allow default
no_tpm_command "unlock of a token whose provider is not allowed" expect_exit 10 pcap_cvmseal -v unlock --test "$img"
expect_in "$err" "local configuration does not allow" "unlock -v of a token whose provider is not allowed"
allow tpm2
# And allowed again: the pcap records the unlock, so the check above was not vacuous.
rm -f "$T/refused.pcap"
expect_exit 0 pcap_cvmseal unlock --test "$img"
[ -s "$T/refused.pcap" ] || fail "the pcap TCTI recorded nothing for an unlock"

# ======== 5. hsm keygen: a key made inside the HSM, its blob in the token ========
expect_exit 0 "$CVMSEAL" --json hsm keygen --hsm-provider tpm2 --hsm '{key-blob}' --hsm-key-blob "$T/gen.blob" --output "$T/gen.pem"
pycheck "$out" "d['provider'] == 'tpm2' and d['mechanism'] == 'ecdh-p256-aes-256-gcm' and len(d['fingerprint']) == 64 and d['public-key'].startswith('-----BEGIN PUBLIC KEY-----')" \
        "hsm keygen --json"
genfp=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["fingerprint"])' "$out")
head -n 1 "$T/gen.blob" | grep -q 'BEGIN TSS2 PRIVATE KEY' || fail "the key blob is not a TPM-wrapped key"
[ "$(stat -c %a "$T/gen.blob")" = 600 ] || fail "the key blob is not mode 0600"
[ "$(openssl pkey -pubin -in "$T/gen.pem" -outform DER | sha256sum | cut -d' ' -f1)" = "$genfp" ] || fail "keygen's fingerprint"
expect_exit 1 "$CVMSEAL" hsm keygen --hsm-provider tpm2 --hsm '{key-blob}' --hsm-key-blob "$T/gen.blob"
expect_in "$err" "exists already" "a second keygen to the same blob"

img5=$T/blob.img
make_image "$img5" "$T/key"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$img5" --unlock-key-file "$T/key" --hsm-provider tpm2 --hsm '{key-blob}' \
        --hsm-key-blob "$T/gen.blob"
rm -f "$T/gen.blob"   # the token carries it
expect_exit 0 "$CVMSEAL" list --json "$img5"
pycheck "$out" "d['tokens'][0]['hsm']['key-blob'] > 0 and d['tokens'][0]['hsm']['fingerprint'] == '$genfp'" "list of a token with its key blob"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img5"
h=$(header_sum "$img5")
expect_exit 5 env TPM2OPENSSL_TCTI="$OTHER" "$CVMSEAL" -v --tcti "$TCTI" unlock --test "$img5"
expect_in "$err" "^cvmseal: $img5: $unavailable_msg" "the key blob on another HSM"
untouched "$img5" "$h" "the key blob on another HSM"
ls /run/cvmseal/hsm-key.* >/dev/null 2>&1 && fail "a key blob file was left under /run/cvmseal"

# ======== 6. offline: from the public key alone, then unlock on the target ========
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" srk export --output "$T/srk.pub"
TPM2TOOLS_TCTI=$TCTI tpm2_pcrread sha256:7 -o "$T/pcr7.bin" >/dev/null || fail "tpm2_pcrread"
printf '{"sha256": {"7": "%s"}}\n' "$(od -An -v -tx1 "$T/pcr7.bin" | tr -d ' \n')" >"$T/pv.json"
openssl pkey -provider tpm2 -provider default -in "$URI" -pubout -out "$T/hsm.pub" 2>/dev/null || fail "the HSM public key"
img6=$T/offline.img
make_image "$img6" "$T/key"
dead="pcap:swtpm:path=$T/nothing/sock"
rm -f "$T/dead.pcap"
expect_exit 0 env TCTI_PCAP_FILE="$T/dead.pcap" TPM2OPENSSL_TCTI="$dead" CVMSEAL_CONFDIR="$T/none" "$CVMSEAL" --tcti "$dead" --json \
        enroll "$img6" --unlock-key-file "$T/key" --tpm2-srk-pub "$T/srk.pub" --pcr-values "$T/pv.json" \
        --hsm-provider tpm2 --hsm "$URI" --hsm-public-key "$T/hsm.pub"
[ ! -e "$T/dead.pcap" ] || fail "the offline enroll opened a TCTI"
pycheck "$out" "d['verified'] is False and d['offline'] is True and d['hsm-offline'] is True" "offline enroll --json"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" -v unlock --test "$img6"
expect_exit 0 "$CVMSEAL" list --json "$img6"
pycheck "$out" "d['tokens'][0]['hsm']['fingerprint'] == '$FP'" "the offline token's fingerprint"
# Online, from the public key alone (the vTPM seals; the HSM is not asked): the message says so.
expect_exit 0 env TPM2OPENSSL_TCTI="$dead" "$CVMSEAL" --tcti "$TCTI" enroll "$img6" --unlock-key-file "$T/key" \
        --hsm-provider tpm2 --hsm "$URI" --hsm-public-key "$T/hsm.pub"
expect_in "$err" "encrypted to the public key .* alone: no HSM was asked" "enroll --hsm-public-key"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 1 "$img6"
h=$(header_sum "$img6")
expect_exit 5 env TPM2OPENSSL_TCTI="$OTHER" "$CVMSEAL" --tcti "$TCTI" unlock --test --token 1 "$img6"
untouched "$img6" "$h" "the offline-bound token on another HSM"

# ======== 7. rotate keeps the binding ========
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json rotate "$img5"
expect_exit 0 "$CVMSEAL" list --json "$img5"
pycheck "$out" "len(d['tokens']) == 1 and d['tokens'][0]['hsm']['provider'] == 'tpm2' and d['tokens'][0]['hsm']['fingerprint'] == '$genfp' and d['tokens'][0]['hsm']['key-blob'] > 0" \
        "the rotated token"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img5"

# ======== 8. RSA-OAEP-SHA256: the code path, with the default provider and a key file (NOT an HSM) ========
note "RSA-OAEP: OpenSSL's default provider and a key file stand in for an HSM; this exercises the code path only"
allow tpm2 default
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$T/rsa.pem" 2>/dev/null || fail "openssl genpkey"
img8=$T/rsa.img
make_image "$img8" "$T/key"
h=$(header_sum "$img8")
expect_exit 5 "$CVMSEAL" --tcti "$TCTI" enroll "$img8" --unlock-key-file "$T/key" --hsm-provider default --hsm "$T/rsa.pem"
expect_in "$err" "not fit for a binding" "enroll with a key file (extractable)"
untouched "$img8" "$h" "the refused enroll"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$img8" --unlock-key-file "$T/key" --hsm-provider default --hsm "$T/rsa.pem" \
        --hsm-allow-extractable
j=$(cryptsetup token export --token-id 0 "$img8")
pycheck "$j" "d['hsm']['mechanism'] == 'rsa-oaep-sha256' and len(__import__('base64').b64decode(d['hsm']['ciphertext'])) == 384 and 'iv' not in d['hsm'] and 'ephemeral' not in d['hsm']" \
        "the RSA binding"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img8"
cryptsetup token export --token-id 0 "$img8" >"$T/r0.json"
pyedit "$T/r0.json" "$T/rbad.json" "
b = bytearray(base64.b64decode(d['hsm']['ciphertext']))
b[100] ^= 1
d['hsm']['ciphertext'] = base64.b64encode(bytes(b)).decode()"
cryptsetup token remove --token-id 0 "$img8" && cryptsetup token import --token-id 0 --json-file "$T/rbad.json" "$img8" || fail "import"
expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img8"
cryptsetup token remove --token-id 0 "$img8" && cryptsetup token import --token-id 0 --json-file "$T/r0.json" "$img8" || fail "import"
mv "$T/rsa.pem" "$T/rsa.orig.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$T/rsa.pem" 2>/dev/null || fail "openssl genpkey"
h=$(header_sum "$img8")
expect_exit 5 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img8"
expect_in "$err" "^cvmseal: $img8: $refused_msg" "unlock with another RSA key file at the path"
untouched "$img8" "$h" "unlock with another RSA key file"
mv "$T/rsa.orig.pem" "$T/rsa.pem"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$img8"

# ======== 9. the token plugin ========
if [ -n "${CVMSEAL_TOKEN_PLUGIN:-}" ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
        tokendir=$(dirname "$(find /usr/lib /lib -name 'libcryptsetup.so.12' 2>/dev/null | head -n 1)")/cryptsetup
        mkdir -p "$T/tokens"
        cp "$CVMSEAL_TOKEN_PLUGIN" "$T/tokens/"
        cs() {
                CVMSEAL_TCTI=$TCTI LD_LIBRARY_PATH="$CVMSEAL_LIBDIR" unshare -m sh -c \
                        'mkdir -p "$1" && mount --bind "$2" "$1" && shift 2 && exec cryptsetup "$@"' sh "$tokendir" "$T/tokens" "$@"
        }
        expect_exit 0 cs open --test-passphrase --token-only "$img"
        expect_exit 0 cs open --test-passphrase --token-only "$img5"
        expect_exit 0 cs luksDump "$img"
        expect_in "$out" "HSM: +OpenSSL provider tpm2, $URI \(ecdh-p256-aes-256-gcm\)" "luksDump through the plugin"
        TPM2OPENSSL_TCTI=$OTHER expect_exit 1 cs open --test-passphrase --token-only "$img"
else
        note "the token plugin part is skipped (no mount namespace: not root?)"
fi

# ======== 10. the first boot of a pipeline image bound to the provider's key ========
allow default
head -c 1M /dev/urandom >"$T/raw"
expect_exit 0 env CVMSEAL_CONFDIR="$T/none" "$CVMSEAL" image encrypt "$T/raw" "$T/fb.img" --unlock-key-file "$T/key" \
        --fast-kdf --tpm2-pcrs 7 --hsm-provider tpm2 --hsm "$URI"
j=$(cryptsetup token export --token-id 0 "$T/fb.img")
pycheck "$j" "d['type'] == 'cvmseal-provision' and d['enroll']['hsm'] == '$URI' and d['enroll']['hsm-provider'] == 'tpm2'" \
        "the marker of an image bound to a provider"
h=$(header_sum "$T/fb.img")
no_tpm_command "a first boot whose provider is not allowed" expect_exit 10 pcap_cvmseal -v provision "$T/fb.img"
expect_in "$err" "local configuration does not allow" "provision -v with a provider that is not allowed"
[ "$(header_sum "$T/fb.img")" = "$h" ] || fail "the refused first boot changed the header"
allow tpm2
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json provision "$T/fb.img"
expect_exit 0 "$CVMSEAL" list --json "$T/fb.img"
pycheck "$out" "'provision' not in d and d['tokens'][0]['hsm']['provider'] == 'tpm2' and d['tokens'][0]['hsm']['fingerprint'] == '$FP'" \
        "the first boot's token"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/fb.img"
expect_exit 5 env TPM2OPENSSL_TCTI="$OTHER" "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/fb.img"
exit 0
