#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attestation on a plain vTPM: a swtpm with no AK at 0x81000003 and no Azure NV indices.  cvmseal
# creates no key on the TPM, ever (DESIGN: a key that no hardware vouches for proves nothing, and
# there is no CreatePrimary on the unlock path).  Before, `attest collect` and the unlock gate made
# an AK on the spot with TPM2_CreatePrimary and quoted with it.
#
# - `attest collect` through the pcap TCTI: exit 0, evidence without a tpm-quote (and without an HCL
#   report), and the capture holds no CreatePrimary (nor any command that makes or loads an object);
#   nothing is left loaded in the TPM;
# - `unlock --test` of a token enrolled with a policy that requires a TPM quote: exit 4 naming
#   "require" (no quote), no CreatePrimary and no Unseal in the capture, the header unchanged and the
#   key file still opens keyslot 0.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
command -v tpm2_getcap >/dev/null || skip "tpm2-tools is not installed"
COUNT=$(cd "$(dirname "$0")/../bench" && pwd)/tpm-count.py
[ -f "$COUNT" ] || fail "no $COUNT"

tcti=$(start_swtpm tpm) || exit 1
sock=${tcti#swtpm:path=}
export CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_CERT_CACHE=$T/no-certs
export TPM2TOOLS_TCTI=$tcti

# recorded NAME CODE ARGS...: cvmseal ARGS through the pcap TCTI into $T/NAME.pcap, exit CODE;
# $cmds is then tpm-count.py's JSON {"total", "commands"}.
recorded() {
        local name=$1 code=$2
        shift 2
        rm -f "$T/$name.pcap"
        TCTI_PCAP_FILE=$T/$name.pcap expect_exit "$code" "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" "$@"
        cmds=$(python3 "$COUNT" --json "$T/$name.pcap") || fail "tpm-count.py $T/$name.pcap"
}

no_leftovers() {
        local h
        h=$(tpm2_getcap handles-transient; tpm2_getcap handles-loaded-session)
        [ -z "$h" ] || fail "$1 left handles loaded in the TPM: $h"
}

[ -z "$(tpm2_getcap handles-persistent)" ] || fail "a fresh swtpm has persistent objects"

# ---- attest collect ----
recorded collect 0 attest collect --nonce "$(printf '%064x' 0x9a1)"
printf '%s\n' "$out" >"$T/ev.json"
pycheck "$out" "'tpm-quote' not in d and 'azure-hcl-report' not in d and 'pcrs' not in d" \
        "the evidence of a vTPM without an AK"
note "attest collect on a plain vTPM sends: $(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["commands"]))' "$cmds")"
for c in CreatePrimary Create CreateLoaded Load LoadExternal EvictControl; do
        pycheck "$cmds" "'$c' not in d['commands']" "attest collect's TPM commands ($c)"
done
no_leftovers "attest collect"
[ -z "$(tpm2_getcap handles-persistent)" ] || fail "attest collect persisted an object"

# ---- the unlock gate ----
img=$T/img
key=$T/key
make_image "$img" "$key"
printf '{"version": 1, "require": ["tpm-quote"]}\n' >"$T/policy.json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --attest-policy "$T/policy.json"
h0=$(header_sum "$img")
recorded unlock 4 unlock --test "$img"
expect_in "$err" "attestation failed: .*require: the policy requires a TPM quote" "the gate without an AK"
pycheck "$cmds" "'CreatePrimary' not in d['commands']" "the gated unlock's TPM commands (no CreatePrimary)"
pycheck "$cmds" "'Unseal' not in d['commands'] and d['commands'].count('Quote') <= 1" \
        "the gated unlock's TPM commands (one Quote at most, refused: no AK; nothing unsealed)"
note "a refused gated unlock on a plain vTPM sends: $(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["commands"]))' "$cmds")"
no_leftovers "the gated unlock"
[ "$(header_sum "$img")" = "$h0" ] || fail "a refused unlock changed the LUKS2 header"
key_opens "$key" "$img" 0
exit 0
