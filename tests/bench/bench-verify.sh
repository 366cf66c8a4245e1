#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs bench-verify on the real Azure SEV-SNP evidence of ../shared/testdata (converted to cvmseal's
# evidence document), once per evidence version.  Skips (77) without the test vectors.
set -euo pipefail
: "${BENCH_VERIFY:?the bench-verify binary}"
here=$(cd "$(dirname "$0")" && pwd)
data=${CVMSEAL_TESTDATA:-$here/../../../shared/testdata}
[ -f "$data/SHA256SUMS" ] || { echo "SKIP: no test vectors at $data"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo '{"version": 1, "require": ["snp", "azure-hcl", "tpm-quote"]}' >"$T/policy.json"
for v in v0 v1; do
        python3 "$here/../attest/trustee-to-evidence.py" "$data/azure/az-snp-vtpm-evidence-$v.json" \
                --chain "$data/snp/certs/ask_ark_milan.pem" >"$T/evidence-$v.json"
        printf '%s: ' "$v"
        "$BENCH_VERIFY" "$T/evidence-$v.json" "$T/policy.json" "${BENCH_RUNS:-200}"
done
