#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A first boot has no pinned SRK (docs/configuration.md, "tpm2-srk.pub").  When its attestation
# passes on an Azure-like vTPM (tests/attest/azure-vtpm.py: an HCL report whose HCLAkPub is the AK at
# 0x81000003), that AK must certify the SRK (TPM2_Certify over a fresh nonce) before it is pinned and
# anything is sealed to it:
# - honest channel: provision enrolls, and the pinned SRK is the vTPM's own (srk export's);
# - an interposer that answers the SRK's ReadPublic with its own TPM's SRK (tpm-fault-proxy.py
#   --route): the AK certifies another SRK, provision exits 4 naming srk-certify, nothing is pinned,
#   nothing is enrolled, the header is unchanged.
. "$(dirname "$0")/lib.sh"

for tool in python3 openssl tpm2_createprimary tpm2_evictcontrol tpm2_nvdefine; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, openssl, tpm2-tools)"
done
HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURE=$HERE/../attest/azure-vtpm.py

ta=$(start_swtpm a) || exit 1
tb=$(start_swtpm b) || exit 1
A=${ta#swtpm:path=}
B=${tb#swtpm:path=}
fx=$T/fx
export CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_CERT_CACHE=$fx/certs
python3 "$FIXTURE" --tcti "$ta" --out "$fx" >"$T/fixture.out" 2>&1 || fail "azure-vtpm.py: $(cat "$T/fixture.out")"
CVMSEAL_CONFDIR=$T/conf-b "$CVMSEAL" --tcti "$tb" srk export --create --output "$T/b.srk" || fail "srk export on b"

key=$T/key
head -c 4M /dev/urandom >"$T/raw"
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
expect_exit 0 "$CVMSEAL" image encrypt "$T/raw" "$T/img" --unlock-key-file "$key" --fast-kdf --tpm2-pcrs 7 \
        --attest-policy "$fx/policy.json"
cp --sparse=always "$T/img" "$T/img2"

# ---- an interposer answers the SRK's ReadPublic ----
export CVMSEAL_CONFDIR=$T/conf-mitm
mkdir -p "$CVMSEAL_CONFDIR/roots"
cp "$fx/ark.pem" "$CVMSEAL_CONFDIR/roots/test-ark.pem"
PROXY_UPSTREAM=$A start_proxy mitm --route "ReadPublic:$B"
sum=$(header_sum "$T/img2")
expect_exit 4 "$CVMSEAL" --tcti "$PTCTI" provision "$T/img2"
expect_in "$err" "srk-certify" "provision through an interposer"
grep -q "ReadPublic routed" "$PLOG" || fail "the proxy routed no ReadPublic"
[ ! -e "$CVMSEAL_CONFDIR/tpm2-srk.pub" ] || fail "an SRK was pinned through the interposer"
[ "$(header_sum "$T/img2")" = "$sum" ] || fail "a refused first boot changed the header"

# ---- an honest channel ----
export CVMSEAL_CONFDIR=$T/conf
mkdir -p "$CVMSEAL_CONFDIR/roots"
cp "$fx/ark.pem" "$CVMSEAL_CONFDIR/roots/test-ark.pem"
expect_exit 0 "$CVMSEAL" -v --tcti "$ta" provision "$T/img"
expect_in "$err" "Pinned the SRK that the attested AK certified" "provision -v"
expect_in "$err" "^Enrolled .* to this TPM" "provision"
CVMSEAL_CONFDIR=$T/conf-x "$CVMSEAL" --tcti "$ta" srk export --output "$T/a.srk" || fail "srk export on a"
cmp -s "$T/a.srk" "$CVMSEAL_CONFDIR/tpm2-srk.pub" || fail "the pinned SRK is not the vTPM's"
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$T/img"
echo PASS
