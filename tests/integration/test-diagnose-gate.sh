#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `cvmseal diagnose` (docs/diagnose.md) beyond the PCRs, on an Azure-like vTPM (tests/attest/azure-vtpm.py)
# and a SoftHSM2 key cache, with a token gated on attestation and bound to the HSM:
#
#   healthy       exit 0; attestation passes; the HSM check stops at the token, whose key needs the
#                 HSM PIN sealed in the TPM, and with --hsm-pin-file decrypts the HSM share
#   debug         the vTPM's report gains the debug bit: exit 4, the attestation check names snp-debug;
#                 the TPM saw the attestation's NV_Write/NV_Read/Quote, never Load or Unseal; the header
#                 is unchanged; `unlock --test` agrees (exit 4)
#   HSM gone      the key deleted: with --hsm-pin-file exit 5; the SoftHSM token deleted: exit 5 without
#                 it; `unlock --test` agrees (exit 5)
#   lockout       a PIN token: the PIN is said to be needed; after three wrong PINs (DA limit 3) its
#                 diagnosis is exit 9 with the counter, while a PIN-less token still says 0
#   no TPM        a TCTI that reaches nothing: exit 6, and the HSM is still checked
#   errors        not LUKS2: 8; no such file: 1; no DEVICE: 2; --token of no token: 8
. "$(dirname "$0")/lib.sh"

MODULE=${SOFTHSM2_MODULE:-/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so}
for tool in python3 openssl softhsm2-util pkcs11-tool tpm2_createprimary tpm2_evictcontrol tpm2_nvdefine \
            tpm2_nvwrite tpm2_dictionarylockout; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, openssl, softhsm2, opensc, tpm2-tools)"
done
[ -f "$MODULE" ] || skip "the SoftHSM2 module $MODULE is not there"
HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURE=$HERE/../attest/azure-vtpm.py
COUNT=$HERE/../bench/tpm-count.py

tcti=$(start_swtpm tpm) || exit 1
sock=${tcti#swtpm:path=}
fx=$T/fx
export TPM2TOOLS_TCTI=$tcti CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_BOOT_DIR="" CVMSEAL_CERT_CACHE=$fx/certs
mkdir -p "$CVMSEAL_CONFDIR/roots"
provision() {
        python3 "$FIXTURE" --tcti "$tcti" --out "$fx" "$@" >"$T/fixture.out" 2>"$T/fixture.err" \
                || fail "azure-vtpm.py $*: $(cat "$T/fixture.err")"
}
provision
cp "$fx/ark.pem" "$CVMSEAL_CONFDIR/roots/test-ark.pem"

PIN=hsm-pin-1234
start_softhsm cvmseal "$PIN"
printf '%s\n' "$PIN" >"$T/hsm.pin"
URI="pkcs11:token=cvmseal;object=aes;type=secret-key"
expect_exit 0 "$CVMSEAL" hsm keygen --hsm "$URI" --hsm-pin-file "$T/hsm.pin"

img=$T/img
key=$T/key
make_image "$img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --attest-policy "$fx/policy.json" \
        --hsm "$URI" --hsm-pin-file "$T/hsm.pin"

# check JSON NAME EXPR: EXPR holds for c, the first token's check NAME.
check() {
        pycheck "$1" "[c for c in d['tokens'][0]['checks'] if c['check'] == '$2'] and \
                all(($3) for c in d['tokens'][0]['checks'] if c['check'] == '$2')" "the $2 check"
}

# diagnose CODE ARGS...: --json diagnose through the pcap TCTI; $cmds the TPM commands; the header unchanged.
diagnose() {
        local code=$1 sum
        shift
        sum=$(header_sum "$img")
        rm -f "$T/d.pcap"
        TCTI_PCAP_FILE=$T/d.pcap expect_exit "$code" "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" --json diagnose "$@"
        cmds=$(python3 "$COUNT" --json "$T/d.pcap") || fail "tpm-count.py"
        pycheck "$cmds" "not {'Unseal', 'Load', 'Create', 'CreatePrimary', 'PCR_Extend', 'PCR_Event', 'EvictControl'} \
                & set(d['commands'])" "the TPM commands of diagnose $*"
        [ "$(header_sum "$img")" = "$sum" ] || fail "diagnose $* changed the LUKS2 header"
}

# ---- healthy ----
diagnose 0 "$img"
check "$out" attestation "c['status'] == 'ok'"
check "$out" hsm "c['status'] == 'info' and 'sealed in the TPM' in c['message']"
pycheck "$cmds" "{'NV_Write', 'NV_Read', 'Quote'} <= set(d['commands'])" "the attestation's commands"
diagnose 0 "$img" --hsm-pin-file "$T/hsm.pin"
check "$out" hsm "c['status'] == 'ok' and 'decrypts the token' in c['message']"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" diagnose "$img"
expect_in "$out" "ok +attestation +fresh evidence satisfies the token's attestation policy" "diagnose's words"

# ---- a debug platform ----
provision --debug
diagnose 4 "$img"
check "$out" attestation "c['status'] == 'failed' and 'snp-debug' in c['message']"
pycheck "$out" "d['tokens'][0]['exit-code'] == 4" "the token's exit code"
expect_exit 4 "$CVMSEAL" --tcti "$tcti" diagnose "$img"
expect_in "$out" "FAILED +attestation +attestation fails: .*snp-debug" "diagnose names the failed check"
expect_exit 4 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
provision
diagnose 0 "$img"

# ---- the HSM key gone ----
cp -a "$T/softhsm/tokens" "$T/tokens.saved"
pkcs11-tool --module "$MODULE" --login --pin "$PIN" --delete-object --type secrkey --label aes >/dev/null 2>&1 \
        || fail "pkcs11-tool --delete-object"
diagnose 5 "$img" --hsm-pin-file "$T/hsm.pin"
check "$out" hsm "c['status'] == 'failed' and c['errno'] == 126"
expect_exit 5 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
softhsm2-util --delete-token --token cvmseal >/dev/null || fail "softhsm2-util --delete-token"
diagnose 5 "$img"
check "$out" hsm "c['status'] == 'failed' and 'no PKCS#11 module or token matches' in c['message']"
expect_exit 5 "$CVMSEAL" --tcti "$tcti" diagnose "$img"
expect_in "$out" "FAILED +hsm +the HSM key pkcs11:token=cvmseal;object=aes;type=secret-key is unavailable" "diagnose's words"
expect_exit 5 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
rm -rf "$T/softhsm/tokens"
mv "$T/tokens.saved" "$T/softhsm/tokens"
diagnose 0 "$img" --hsm-pin-file "$T/hsm.pin"

# ---- the lockout ----
tpm2_dictionarylockout -c >/dev/null || fail "tpm2_dictionarylockout -c"
tpm2_dictionarylockout -s -n 3 -t 600 -l 600 >/dev/null || fail "tpm2_dictionarylockout -s"
imgp=$T/imgp
make_image "$imgp" "$key"
printf '1234\n' >"$T/pin"
printf '9999\n' >"$T/wrong"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$imgp" --unlock-key-file "$key" --pin-file "$T/pin"
img=$imgp
diagnose 0 "$imgp"
check "$out" pin "c['status'] == 'info'"
check "$out" lockout "c['status'] == 'ok' and c['counter'] == 0 and c['max'] == 3 and c['interval'] == 600"
for i in 1 2 3; do
        expect_exit 7 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgp" --pin-file "$T/wrong"
done
diagnose 9 "$imgp"
check "$out" lockout "c['status'] == 'failed' and c['counter'] == 3 and c['max'] == 3"
expect_exit 9 "$CVMSEAL" --tcti "$tcti" unlock --test "$imgp" --pin-file "$T/pin"
img=$T/img
diagnose 0 "$img"
check "$out" lockout "c['status'] == 'info' and 'noDA' in c['message']"
tpm2_dictionarylockout -c >/dev/null || fail "tpm2_dictionarylockout -c"

# ---- no TPM, and errors ----
expect_exit 6 "$CVMSEAL" --tcti "swtpm:path=$T/nothing" --json diagnose "$img" --hsm-pin-file "$T/hsm.pin"
check "$out" tpm "c['status'] == 'failed'"
check "$out" hsm "c['status'] == 'ok'"
truncate -s 1M "$T/plain"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" diagnose "$T/plain"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" diagnose "$T/nothing"
expect_exit 2 "$CVMSEAL" --tcti "$tcti" diagnose
expect_exit 8 "$CVMSEAL" --tcti "$tcti" --json diagnose "$img" --token 5
pycheck "$out" "d['tokens'] == [] and d['exit-code'] == 8" "diagnose --token of no token"
echo PASS
