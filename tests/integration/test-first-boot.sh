#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `cvmseal provision` (the first boot of a pipeline image, docs/boot.md) outside a boot, on its
# refusals; tests/boot proves the path that succeeds in a real initramfs.
# - a volume without a marker: exit 0, "no pending enrollment", --json {"provisioned": false};
# - the marker's attestation policy fails (a debug report on the Azure-like vTPM): exit 4 naming
#   snp-debug; nothing enrolled, the marker and the provisioning keyslot kept, the header unchanged;
#   then on a good report it enrolls, and a second provision has nothing to do;
# - no TPM: exit 6, nothing changed; a damaged marker: exit 10 with its message, nothing changed;
#   not LUKS2: exit 8;
# - after each refusal the key file still opens keyslot 0; after the enrollment, the rekey has
#   started and it no longer does (test-rekey.sh).
. "$(dirname "$0")/lib.sh"

for tool in python3 openssl tpm2_createprimary tpm2_evictcontrol tpm2_nvdefine; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, openssl, tpm2-tools)"
done
FIXTURE=$(cd "$(dirname "$0")/../attest" && pwd)/azure-vtpm.py

tcti=$(start_swtpm tpm) || exit 1
export CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_CERT_CACHE=$T/fx/certs TPM2TOOLS_TCTI=$tcti
# The test ARK is trusted through local configuration (a token's policy may not name roots).
export CVMSEAL_CONFDIR=$T/conf
provision_vtpm() {
        python3 "$FIXTURE" --tcti "$tcti" --out "$T/fx" "$@" >"$T/fixture.out" 2>"$T/fixture.err" \
                || fail "azure-vtpm.py $*: $(cat "$T/fixture.err")"
}
provision_vtpm --debug
mkdir -p "$CVMSEAL_CONFDIR/roots"
cp "$T/fx/ark.pem" "$CVMSEAL_CONFDIR/roots/test-ark.pem"

key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
head -c 1M /dev/urandom >"$T/raw"
expect_exit 0 "$CVMSEAL" --json image encrypt "$T/raw" "$T/img" --unlock-key-file "$key" --fast-kdf \
        --tpm2-pcrs 7 --attest-policy "$T/fx/policy.json"
pslot=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["provision-keyslot"])' "$out")

# unchanged WHAT: the header is what it was, and the key file opens keyslot 0.
unchanged() {
        [ "$(header_sum "$T/img")" = "$sum" ] || fail "$1 changed the LUKS2 header"
        key_opens "$key" "$T/img" 0
}
sum=$(header_sum "$T/img")

# ---- attestation fails: nothing enrolled ----
expect_exit 4 "$CVMSEAL" --tcti "$tcti" provision "$T/img"
expect_in "$err" "attestation failed, the volume is not enrolled: .*snp-debug" "provision on a debug report"
unchanged "a refused provision"

# ---- no TPM ----
expect_exit 6 "$CVMSEAL" --tcti "swtpm:path=$T/nothing" provision "$T/img"
expect_in "$err" "no TPM is available" "provision without a TPM"
unchanged "provision without a TPM"

# ---- a damaged marker ----
cp "$T/img" "$T/bad"
cryptsetup token export --token-id 0 "$T/bad" >"$T/marker.json" || fail "token export"
pyedit "$T/marker.json" "$T/marker-bad.json" 'd["secret"] = "not base64"'
cryptsetup token remove --token-id 0 "$T/bad" || fail "token remove"
cryptsetup token import --token-id 0 --json-file "$T/marker-bad.json" "$T/bad" || fail "token import"
bsum=$(header_sum "$T/bad")
expect_exit 10 "$CVMSEAL" --tcti "$tcti" provision "$T/bad"
expect_in "$err" "provisioning marker or a token is malformed" "provision of a damaged marker"
[ "$(header_sum "$T/bad")" = "$bsum" ] || fail "provision of a damaged marker changed the header"

# ---- not LUKS2 ----
expect_exit 8 "$CVMSEAL" --tcti "$tcti" provision "$T/raw"

# ---- a good report: enrolled, provisioning keyslot destroyed, marker removed ----
provision_vtpm
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json provision "$T/img"
pycheck "$out" "d['provisioned'] is True and d['token'] >= 0" "provision --json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list --json "$T/img"
pycheck "$out" "[t for t in d['tokens'] if t['type'] == 'cvmseal'] == [t for t in d['tokens'] if t['type'] == 'cvmseal' \
        and t['attest'] and t['pcrs'] == [7, 15]] and len([t for t in d['tokens'] if t['type'] == 'cvmseal']) == 1 \
        and not d.get('provision') and d['rekey']['state'] == 'running'" "list after provision"
cryptsetup open --test-passphrase --key-slot "$pslot" --key-file "$key" "$T/img" 2>/dev/null \
        && fail "keyslot $pslot is still in use"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/img"
# The first boot started the rekey (test-rekey.sh): the pipeline's key file opens only the old volume
# key, which no longer opens a volume in reencryption.
cryptsetup open --test-passphrase --key-file "$key" "$T/img" 2>/dev/null && fail "the pipeline's key still opens"

# ---- again: nothing to do ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" provision "$T/img"
expect_in "$err" "has no pending enrollment" "a second provision"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json provision "$T/img"
pycheck "$out" "d['provisioned'] is False" "a second provision --json"
echo PASS
