#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attestation that must fail, on an Azure-like vTPM provisioned by tests/attest/azure-vtpm.py (see
# test-attest-azure.sh for the setup).  `attest verify` exits 4 and names exactly the checks that
# failed, in its human output ("fail", then "  check: why") and in --json (verdict fail):
#
#   the DEBUG bit in the guest policy                     snp-debug
#   a launch measurement the policy does not list         snp-measurement
#   a report from VMPL 2 / a policy that wants VMPL 1     snp-vmpl
#   HCLAkPub that is not the quoting AK                   tpm-quote-signature (the quote is checked
#                                                         with HCLAkPub; with the AK's ak-public
#                                                         added, tpm-quote-ak), and
#                                                         freshness (nothing else makes the report
#                                                         fresh: its user-data is not the nonce)
#   a policy nonce other than the collected one           tpm-quote-nonce, freshness
#   a policy that does not trust the test ARK             snp-chain
#   an expired VCEK                                       snp-chain (a policy "time" inside its
#                                                         validity passes it)
#   runtime claims changed after the fact                 hcl-binding
#   a report byte changed after the fact                  snp-signature
#   no certificates (an empty certificate cache)          snp-chain
#   no HCL report in the vTPM                             require, snp, tpm-quote-ak (nothing
#                                                         vouches for the quote's key)
#
# and a truncated NV 0x01400001 (--truncate-nv, in the claims and in the hardware report) is still
# collected (exit 0, exactly the index's bytes) but makes verify exit 10 (malformed), with --json an
# error document.  Each failure leaves the TPM with nothing loaded.
. "$(dirname "$0")/lib.sh"

for tool in python3 openssl tpm2_createprimary tpm2_evictcontrol tpm2_readpublic tpm2_flushcontext \
            tpm2_nvdefine tpm2_nvundefine tpm2_nvwrite tpm2_getcap; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, openssl, tpm2-tools)"
done
FIXTURE=$(cd "$(dirname "$0")/../attest" && pwd)/azure-vtpm.py
[ -f "$FIXTURE" ] || fail "no fixture at $FIXTURE"

tcti=$(start_swtpm tpm) || exit 1
fx=$T/fx
export CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_CERT_CACHE=$fx/certs
export TPM2TOOLS_TCTI=$tcti

provision() {
        python3 "$FIXTURE" --tcti "$tcti" --out "$fx" "$@" >"$T/fixture.out" 2>"$T/fixture.err" \
                || fail "azure-vtpm.py $*: $(cat "$T/fixture.err")"
}

nonce=$(printf '%064x' 0xbad)

# collect FILE: attest collect --nonce $nonce into FILE (exit 0), leaving no object loaded in the
# TPM (the fixture would flush it; sessions, which it does not flush, are looked for at the end).
collect() {
        local h
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" attest collect --nonce "$nonce"
        printf '%s\n' "$out" >"$1"
        h=$(tpm2_getcap handles-transient)
        [ -z "$h" ] || fail "attest collect left objects loaded in the TPM: $h"
}

# verify_fails POLICY EVIDENCE CHECK...: attest verify exits 4 and the failed checks are exactly
# CHECK... (in the human output: "fail", then one "  check: why" line per failure; in --json).
verify_fails() {
        local policy=$1 evidence=$2 got want
        shift 2
        expect_exit 4 "$CVMSEAL" attest verify --policy "$policy" "$evidence"
        [ "$(head -n1 <<<"$out")" = fail ] || fail "attest verify's first line is not 'fail': $out"
        got=$(tail -n +2 <<<"$out" | sed -nE 's/^  ([a-z0-9-]+): .*/\1/p' | sort -u | tr '\n' ' ')
        want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
        [ "$got" = "$want" ] || fail "attest verify failed the checks [$got], expected [$want]: $out"
        [ "$(tail -n +2 <<<"$out" | grep -vc '^  [a-z0-9-]*: ')" = 0 ] || fail "attest verify's other lines: $out"
        expect_exit 4 "$CVMSEAL" --json attest verify --policy "$policy" "$evidence"
        expect_in "$out" '"verdict": "fail"' "attest verify --json"
        for c; do
                expect_in "$out" "^ +\"$c: " "the failures of attest verify --json"
        done
}

# verify_malformed POLICY EVIDENCE: attest verify exits 10, with --json an error document.
verify_malformed() {
        expect_exit 10 "$CVMSEAL" attest verify --policy "$1" "$2"
        expect_in "$err" "malformed" "attest verify's message"
        [ -z "$out" ] || fail "attest verify of malformed evidence printed a verdict: $out"
        expect_exit 10 "$CVMSEAL" --json attest verify --policy "$1" "$2"
        pycheck "$out" "d['exit-code'] == 10 and 'malformed' in d['error'] and 'verdict' not in d" "--json error document"
}

provision
cp "$fx/verify-policy.json" "$T/policy.json"   # with the test ARK among its roots
collect "$T/good.json"
expect_exit 0 "$CVMSEAL" attest verify --policy "$T/policy.json" "$T/good.json"
[ "$out" = pass ] || fail "the good evidence does not pass: $out"
CVMSEAL_CERT_CACHE=$T/empty collect "$T/ev-nocerts.json"

# Every variant of the policy and of the good evidence, in one go.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/other.key" \
        -subj "/CN=ARK-Other" -days 30 -out "$T/other.pem" 2>/dev/null || fail "openssl req"
python3 - "$T" "$(printf '%064x' 0xf00d)" <<'EOF2' 2>"$T/py.err" || fail "making the variants: $(cat "$T/py.err")"
import base64, copy, json, os, sys
T, stale = sys.argv[1], sys.argv[2]
policy = json.load(open(os.path.join(T, "policy.json")))
good = json.load(open(os.path.join(T, "good.json")))

def put(name, d):
    with open(os.path.join(T, name), "w") as f:
        json.dump(d, f, indent=1)

def variant(doc, name, change):
    d = copy.deepcopy(doc)
    change(d)
    put(name, d)

variant(policy, "policy-debug-ok.json", lambda d: d["snp"].update({"allow-debug": True}))
variant(policy, "policy-vmpl1.json", lambda d: d["snp"].update({"vmpl": 1}))
variant(policy, "policy-m.json", lambda d: d["snp"].update({"measurements": ["ab" * 48]}))
variant(policy, "policy-m2.json", lambda d: d["snp"].update({"measurements": ["ab" * 48] + d["snp"]["measurements"]}))
variant(policy, "policy-m0.json", lambda d: d["snp"].update({"measurements": []}))
variant(policy, "policy-nonce.json", lambda d: d.update({"nonce": stale}))
variant(policy, "policy-noroots.json", lambda d: d.pop("roots"))
variant(policy, "policy-otherroot.json", lambda d: d.update({"roots": [open(os.path.join(T, "other.pem")).read()]}))
variant(policy, "policy-2020.json", lambda d: d.update({"time": "2020-06-01T00:00:00Z"}))
variant(policy, "policy-bad-vmpl.json", lambda d: d["snp"].update({"vmpl": 7}))
variant(policy, "policy-bad-member.json", lambda d: d.update({"unknown": 1}))

# The good evidence replayed with its nonce member rewritten.
variant(good, "ev-renonced.json", lambda d: d.update({"nonce": stale}))

def hcl_edit(edit):
    def change(d):
        h = bytearray(base64.b64decode(d["azure-hcl-report"]))
        edit(h)
        d["azure-hcl-report"] = base64.b64encode(bytes(h)).decode()
    return change

def claims_edit(h):
    # A runtime claim (the VM's id) rewritten; the JSON stays valid.
    i = bytes(h).index(b"6f2b6c3e-")
    h[i] = ord("7")

def host_data_edit(h):
    # One byte of HOST_DATA, in the signed part of the SNP report (at 0x20 in the HCL report).
    h[0x20 + 0xC0] ^= 1

variant(good, "ev-claims.json", hcl_edit(claims_edit))
variant(good, "ev-snp.json", hcl_edit(host_data_edit))
EOF2

# ---- the policy's SNP members against the good evidence ----
verify_fails "$T/policy-vmpl1.json" "$T/good.json" snp-vmpl
verify_fails "$T/policy-m.json" "$T/good.json" snp-measurement
expect_exit 0 "$CVMSEAL" attest verify --policy "$T/policy-m2.json" "$T/good.json"
verify_fails "$T/policy-m0.json" "$T/good.json" snp-measurement

# ---- a stale nonce: the verifier expected another one ----
# The HCL report in it is then stale too: its user-data is not that nonce either.
verify_fails "$T/policy-nonce.json" "$T/good.json" tpm-quote-nonce freshness
# Replaying the good evidence with its nonce member rewritten does not help either.
verify_fails "$T/policy.json" "$T/ev-renonced.json" tpm-quote-nonce freshness

# ---- the chain: the test ARK not trusted, another root trusted, no certificates ----
verify_fails "$T/policy-noroots.json" "$T/good.json" snp-chain
verify_fails "$T/policy-otherroot.json" "$T/good.json" snp-chain
grep -q BEGIN "$T/ev-nocerts.json" && fail "evidence from an empty certificate cache has certificates"
verify_fails "$T/policy.json" "$T/ev-nocerts.json" snp-chain

# ---- evidence changed after the fact ----
verify_fails "$T/policy.json" "$T/ev-claims.json" hcl-binding
verify_fails "$T/policy.json" "$T/ev-snp.json" snp-signature

# ---- malformed policies are 10 ----
verify_malformed "$T/policy-bad-vmpl.json" "$T/good.json"
verify_malformed "$T/policy-bad-member.json" "$T/good.json"

# ---- the platform: debug, VMPL, measurement ----
provision --debug
collect "$T/ev.json"
verify_fails "$T/policy.json" "$T/ev.json" snp-debug
expect_in "$out" "snp-debug: .*debug" "the snp-debug failure"
expect_in "$out" '"debug": true' "the debug claim"
expect_exit 0 "$CVMSEAL" attest verify --policy "$T/policy-debug-ok.json" "$T/ev.json"

provision --vmpl 2
collect "$T/ev.json"
verify_fails "$T/policy.json" "$T/ev.json" snp-vmpl
expect_in "$out" '"vmpl": 2' "the vmpl claim"

provision --measurement "$(printf 'cd%.0s' $(seq 48))"
collect "$T/ev.json"
verify_fails "$T/policy.json" "$T/ev.json" snp-measurement

# ---- the AK: HCLAkPub is another key ----
provision --wrong-ak
collect "$T/ev-wrongak.json"
# collect sends no ak-public (the HCL report names an AK): the quote is checked with HCLAkPub, which
# did not sign it, and nothing else makes the report fresh.
pycheck "$(cat "$T/ev-wrongak.json")" "'ak-public' not in d['tpm-quote']" "the evidence of an HCL report that names an AK"
verify_fails "$T/policy.json" "$T/ev-wrongak.json" tpm-quote-signature freshness
# With the quoting AK's public area as ak-public: not the key the HCL report vouches for.
tpm2_readpublic -c 0x81000003 -f tss -o "$T/ak.pub" >/dev/null 2>&1 || fail "tpm2_readpublic 0x81000003"
pyedit "$T/ev-wrongak.json" "$T/ev-wrongak-akpub.json" \
        "d['tpm-quote']['ak-public'] = __import__('base64').b64encode(open('$T/ak.pub', 'rb').read()).decode()"
verify_fails "$T/policy.json" "$T/ev-wrongak-akpub.json" tpm-quote-ak freshness
expect_in "$out" "tpm-quote-ak: the quote's key is not vouched for by a hardware report" "the wrong AK"

# ---- an expired VCEK (a policy "time" within its validity accepts it) ----
provision --expired-vcek
collect "$T/ev-expired.json"
verify_fails "$T/policy.json" "$T/ev-expired.json" snp-chain
expect_in "$out" "snp-chain: .*expired" "the expired VCEK's failure"
expect_exit 0 "$CVMSEAL" attest verify --policy "$T/policy-2020.json" "$T/ev-expired.json"

# ---- no HCL report in the vTPM (a plain vTPM): collect works, the policy's requirements fail ----
tpm2_nvundefine -C o 0x01400001 >/dev/null 2>&1 || fail "tpm2_nvundefine 0x01400001"
collect "$T/ev-nohcl.json"
grep -q '"azure-hcl-report"' "$T/ev-nohcl.json" && fail "evidence from a vTPM without NV 0x01400001 has an HCL report"
grep -q '"tpm-quote"' "$T/ev-nohcl.json" || fail "evidence from a vTPM without NV 0x01400001 has no quote"
verify_fails "$T/policy.json" "$T/ev-nohcl.json" require snp tpm-quote-ak

# ---- a truncated NV index: collected as it is, malformed for verify ----
for n in 1500 1000; do     # in the runtime claims; in the SNP report
        provision --truncate-nv "$n"
        collect "$T/ev-trunc.json"
        pycheck "$(cat "$T/ev-trunc.json")" \
                "len(__import__('base64').b64decode(d['azure-hcl-report'])) == $n" \
                "the truncated index ($n bytes) is collected as it is"
        verify_malformed "$T/policy.json" "$T/ev-trunc.json"
done

h=$(tpm2_getcap handles-loaded-session)
[ -z "$h" ] || fail "sessions were left loaded in the TPM: $h"
note "attest verify on the Azure-like vTPM: every bad case named its check"
exit 0
