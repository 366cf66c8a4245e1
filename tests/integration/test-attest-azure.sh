#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attestation on an Azure-like vTPM (DESIGN, "Real components in tests"): a private swtpm provisioned
# by tests/attest/azure-vtpm.py with a test AMD chain, an AK at 0x81000003, an HCL report (SNP report
# + runtime claims naming the AK) in NV 0x01400001 and the user-data index 0x01400002; no configfs-tsm
# and no event log (CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG=""), the certificates from the fixture's cache.
#
# `attest collect --nonce N` writes the evidence document: version 1, the nonce, the HCL report
# byte for byte as the NV index holds it, the three certificates of the cache, a tpm-quote whose
# TPMS_ATTEST answers the nonce (extraData), without ak-public (the HCL report's HCLAkPub names the
# AK: collect sends no ReadPublic for it), and the 24 sha256 PCRs;
# it writes the nonce, zero-padded to 64 bytes, to the user-data index and leaves no object or
# session loaded.  `attest verify --policy P` passes it (exit 0, "pass" alone on stdout), and with
# --json gives verdict pass, no failures, and the claims (platform snp, the measurement, report data,
# TCB, debug, VMPL, chip id, VCEK, the Azure VM configuration, the quoted PCRs).  It also passes:
# with ak-public added (the AK's public area, tpm2_readpublic's), with a 64-byte nonce, with the NV
# index longer than the report (zero-padded, as on Azure: collect reads the report's own length,
# from its header, not the padding).  With no AK persisted, collect creates no key (no CreatePrimary:
# a key of its own would be vouched for by nothing) and the evidence has no quote, so the policy's
# "tpm-quote" fails, and nothing makes the static HCL report fresh.
# --nonce takes 1 to 64 bytes of hex (else exit 2).  A second, stale VCEK (another TCB, same ASK) in
# the certificate cache must not change the verdict, whichever name it has (see BUG below).
. "$(dirname "$0")/lib.sh"

for tool in python3 openssl tpm2_createprimary tpm2_evictcontrol tpm2_readpublic tpm2_flushcontext \
            tpm2_nvdefine tpm2_nvundefine tpm2_nvwrite tpm2_nvread tpm2_getcap; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, openssl, tpm2-tools)"
done
FIXTURE=$(cd "$(dirname "$0")/../attest" && pwd)/azure-vtpm.py
[ -f "$FIXTURE" ] || fail "no fixture at $FIXTURE"

tcti=$(start_swtpm tpm) || exit 1
fx=$T/fx
export CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_CERT_CACHE=$fx/certs
export TPM2TOOLS_TCTI=$tcti

# provision [FIXTURE OPTIONS]: (re)provisions the swtpm; keys and the ARK/ASK are kept between runs.
provision() {
        python3 "$FIXTURE" --tcti "$tcti" --out "$fx" "$@" >"$T/fixture.out" 2>"$T/fixture.err" \
                || fail "azure-vtpm.py $*: $(cat "$T/fixture.err")"
}

# collect FILE [NONCE]: attest collect into FILE (exit 0, nothing on stderr).
collect() {
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" attest collect ${2:+--nonce "$2"}
        [ -z "$err" ] || fail "attest collect wrote on stderr: $err"
        printf '%s\n' "$out" >"$1"
}

# no_leftovers: nothing cvmseal loaded is still in the swtpm (it has no resource manager).
no_leftovers() {
        local h
        h=$(tpm2_getcap handles-transient; tpm2_getcap handles-loaded-session)
        [ -z "$h" ] || fail "$1 left handles loaded in the TPM: $h"
}

# verify_passes POLICY EVIDENCE WHAT
verify_passes() {
        expect_exit 0 "$CVMSEAL" attest verify --policy "$1" "$2"
        [ "$out" = pass ] || fail "$3: attest verify printed '$out', expected 'pass'"
}

provision
info=$(cat "$fx/info.json")
for f in ark.pem ask.pem vcek.pem certs/ark.pem certs/ask.pem certs/vcek.pem policy.json verify-policy.json ak.pem hcl-report.bin; do
        [ -s "$fx/$f" ] || fail "the fixture wrote no $f"
done
pycheck "$info" "d['report-size'] == d['nv-size'] <= 2048 and d['ak-persisted'] and d['ak-modulus'] == d['hcl-ak-modulus']" \
        "the fixture's info"
[ "$(tpm2_getcap handles-persistent | grep -c 0x81000003)" = 1 ] || fail "no AK at 0x81000003"
cp "$fx/verify-policy.json" "$T/policy.json"   # with the test ARK among its roots

# ---- collect ----
nonce=$(printf '%064x' 0x5eed)
collect "$T/ev.json" "$nonce"
no_leftovers "attest collect"
ev=$(cat "$T/ev.json")
pycheck "$ev" "d['version'] == 1 and d['nonce'] == '$nonce'" "the evidence's version and nonce"
pycheck "$ev" "set(d) == {'version', 'nonce', 'azure-hcl-report', 'certificates', 'tpm-quote', 'pcrs'}" \
        "the evidence's members (no snp-report, tdx-quote or event-log here)"
pycheck "$ev" "set(d['tpm-quote']) == {'message', 'signature'} and all(d['tpm-quote'].values())" \
        "the evidence's tpm-quote (no ak-public: HCLAkPub names the AK)"
pycheck "$ev" "set(d['pcrs']) == {'sha256'} and sorted(map(int, d['pcrs']['sha256'])) == list(range(24))" \
        "the evidence's PCRs are the 24 sha256 ones"
pycheck "$ev" "all(len(v) == 64 and int(v, 16) >= 0 for v in d['pcrs']['sha256'].values())" "the PCR values"
pycheck "$ev" "d['pcrs']['sha256']['17'] == 'f' * 64 and d['pcrs']['sha256']['7'] == '0' * 64" \
        "the PCR values are swtpm's (17 unset: all ones; 7: zeros)"

# The evidence against the fixture's own files and the TPM, byte for byte.
python3 - "$T/ev.json" "$fx" "$nonce" <<'EOF' 2>"$T/py.err" || fail "the evidence's content: $(cat "$T/py.err")"
import base64, json, os, struct, sys
ev = json.load(open(sys.argv[1]))
fx = sys.argv[2]
nonce = bytes.fromhex(sys.argv[3])
info = json.load(open(os.path.join(fx, "info.json")))

hcl = base64.b64decode(ev["azure-hcl-report"], validate=True)
assert hcl == open(os.path.join(fx, "hcl-report.bin"), "rb").read(), "azure-hcl-report is not the NV index's bytes"
assert hcl[:4] == b"HCLA" and len(hcl) == info["report-size"]

def pem_body(text):
    return "".join(l for l in text.strip().splitlines() if not l.startswith("-----"))
got = sorted(pem_body(c) for c in ev["certificates"])
want = sorted(pem_body(open(os.path.join(fx, "certs", n)).read()) for n in ("ark.pem", "ask.pem", "vcek.pem"))
assert got == want, "the certificates are not the cache's three"

q = ev["tpm-quote"]
msg = base64.b64decode(q["message"], validate=True)
magic, typ = struct.unpack(">IH", msg[:6])
assert magic == 0xFF544347 and typ == 0x8018, "the message is not a TPMS_ATTEST of a quote: %x %x" % (magic, typ)
n = struct.unpack(">H", msg[6:8])[0]
off = 8 + n
n = struct.unpack(">H", msg[off:off + 2])[0]
assert msg[off + 2:off + 2 + n] == nonce, "the quote's extraData is not the nonce"

sig = base64.b64decode(q["signature"], validate=True)
alg, hash_alg, size = struct.unpack(">HHH", sig[:6])
assert (alg, hash_alg, size) == (0x0014, 0x000B, 256) and len(sig) == 262, "not an RSASSA-SHA256 signature"
EOF

# The AK in the TPM: Azure's attributes (restricted signing, noDA), the key HCLAkPub names.
tpm2_readpublic -c 0x81000003 -f tss -o "$T/ak.pub" >/dev/null 2>&1 || fail "tpm2_readpublic 0x81000003"
python3 - "$T/ak.pub" "$fx" <<'EOF' 2>"$T/py.err" || fail "the AK: $(cat "$T/py.err")"
import json, os, struct, sys
pub = open(sys.argv[1], "rb").read()
info = json.load(open(os.path.join(sys.argv[2], "info.json")))
size, typ, name_alg, attrs = struct.unpack(">HHHI", pub[:10])
assert size == len(pub) - 2 and typ == 0x0001 and name_alg == 0x000B, "the AK is not an RSA TPM2B_PUBLIC"
assert attrs == 0x00050472, "the AK's attributes are 0x%08x, not Azure's AK's (restricted signing, noDA)" % attrs
assert bytes.fromhex(info["hcl-ak-modulus"]) in pub, "HCLAkPub is not the AK at 0x81000003"
EOF

# The nonce went to the user-data index, zero-padded to 64 bytes (the paravisor's cue for a fresh report).
tpm2_nvread 0x01400002 -s 64 -o "$T/user-data.bin" 2>/dev/null || fail "tpm2_nvread 0x01400002"
[ "$(od -An -tx1 -v "$T/user-data.bin" | tr -d ' \n')" = "$nonce$(printf '%064d' 0)" ] \
        || fail "the user-data index does not hold the nonce: $(od -An -tx1 -v "$T/user-data.bin" | tr -d ' \n')"

# ---- verify ----
verify_passes "$T/policy.json" "$T/ev.json" "the fixture's evidence"
# The token's form of the policy names no roots: the test ARK is then not trusted.
expect_exit 4 "$CVMSEAL" attest verify --policy "$fx/policy.json" "$T/ev.json"
expect_in "$out" '^  snp-chain: ' "the fixture's evidence against a policy without the test ARK"
[ -z "$err" ] || fail "attest verify wrote on stderr: $err"
for argv in "--json attest verify" "attest verify --json" "attest --json verify"; do
        # shellcheck disable=SC2086 # split on purpose
        expect_exit 0 "$CVMSEAL" $argv --policy "$T/policy.json" "$T/ev.json"
        pycheck "$out" "d['verdict'] == 'pass' and d['failures'] == []" "$argv: the verdict"
done
m=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$fx/info.json")
pycheck "$out" "d['claims']['platform'] == 'snp' and d['claims']['measurement'] == '$m'" "the claims' platform and measurement"
pycheck "$out" "d['claims']['debug'] is False and d['claims']['vmpl'] == 0 and d['claims']['signing-key'] == 'vcek'" \
        "the claims' debug, vmpl and signing key"
python3 - "$out" "$fx/info.json" "$T/ev.json" <<'EOF' 2>"$T/py.err" || fail "the verdict's claims: $(cat "$T/py.err")"
import json, sys
c = json.loads(sys.argv[1])["claims"]
info = json.load(open(sys.argv[2]))
ev = json.load(open(sys.argv[3]))
assert c["report-data"] == info["report-data"], "report-data"
assert c["chip-id"] == info["chip-id"], "chip-id"
assert c["tcb"] == info["tcb"], "tcb %r" % c["tcb"]
assert c["version"] == 2, "the SNP report's version"
assert c["azure-hcl-report-type"] == "snp", "azure-hcl-report-type"
assert c["azure-vm-configuration"]["vmUniqueId"] == "6f2b6c3e-1d6a-4c1e-9a55-3b0c2f6e7a10", "azure-vm-configuration"
assert c["azure-user-data"] == "00" * 64, "azure-user-data"
assert c["pcrs"] == ev["pcrs"], "the quoted PCRs are not the evidence's"
EOF

# ---- ak-public, when given, must be HCLAkPub: the AK's own public area passes ----
pyedit "$T/ev.json" "$T/ev-akpub.json" \
        "d['tpm-quote']['ak-public'] = __import__('base64').b64encode(open('$T/ak.pub', 'rb').read()).decode()"
verify_passes "$T/policy.json" "$T/ev-akpub.json" "evidence with the AK's ak-public"

# ---- the nonce the policy names is the one the evidence answers ----
pyedit "$T/policy.json" "$T/policy-nonce.json" "d['nonce'] = '$nonce'"
verify_passes "$T/policy-nonce.json" "$T/ev.json" "a policy with the collected nonce"

# ---- freshness by the runtime claims' user-data, with no quote at all ----
# swtpm does not refresh the HCL report when the nonce is written to NV 0x01400002, as Azure's
# paravisor does; the fixture makes the report the paravisor would have made for this nonce.
policy_nq=$T/policy-noquote.json
pyedit "$T/policy.json" "$policy_nq" "d['require'] = ['snp', 'azure-hcl']"
provision --user-data "$nonce"
collect "$T/ev-ud.json" "$nonce"
pyedit "$T/ev-ud.json" "$T/ev-ud-noquote.json" "del d['tpm-quote']; d.pop('pcrs', None)"
verify_passes "$policy_nq" "$T/ev-ud-noquote.json" "a report whose user-data is the nonce, without a quote"
# Another verifier's nonce: nothing makes that report fresh.
pyedit "$policy_nq" "$T/policy-noquote-other.json" "d['nonce'] = '$(printf '%064x' 0xabc)'"
expect_exit 4 "$CVMSEAL" --json attest verify --policy "$T/policy-noquote-other.json" "$T/ev-ud-noquote.json"
pycheck "$out" "[f.split(':')[0] for f in d['failures']] == ['freshness']" "a report with another nonce's user-data"
provision

# ---- a 64-byte nonce, and one byte ----
long=$(printf '%0128x' 0x1234567)
collect "$T/ev64.json" "$long"
verify_passes "$T/policy.json" "$T/ev64.json" "a 64-byte nonce"
pycheck "$(cat "$T/ev64.json")" "d['nonce'] == '$long'" "the 64-byte nonce"
collect "$T/ev1.json" ab
verify_passes "$T/policy.json" "$T/ev1.json" "a 1-byte nonce"

# ---- without --nonce: a fresh random 32-byte nonce each time ----
collect "$T/ev-r1.json"
collect "$T/ev-r2.json"
n1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nonce"])' "$T/ev-r1.json")
n2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nonce"])' "$T/ev-r2.json")
if [ ${#n1} != 64 ] || [ "$n1" = "$n2" ]; then
        fail "collect's own nonces: '$n1', '$n2'"
fi
verify_passes "$T/policy.json" "$T/ev-r1.json" "collect's own nonce"

# ---- an NV index longer than the report, zero-padded (Azure's holds 2600 bytes) ----
provision --pad-nv 2048
collect "$T/ev-pad.json" "$nonce"
pycheck "$(cat "$T/ev-pad.json")" \
        "len(__import__('base64').b64decode(d['azure-hcl-report'])) == $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["report-size"])' "$fx/info.json") < 2048" \
        "the padded index is read to the report's own length"
verify_passes "$T/policy.json" "$T/ev-pad.json" "a zero-padded HCL report"

# ---- no AK persisted: no quote, and no key made for the occasion ----
provision --no-ak
[ "$(tpm2_getcap handles-persistent | grep -c 0x81000003)" = 0 ] || fail "--no-ak left an AK at 0x81000003"
sock=${tcti#swtpm:path=}
TCTI_PCAP_FILE=$T/noak.pcap expect_exit 0 "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" attest collect --nonce "$nonce"
printf '%s\n' "$out" >"$T/ev-noak2.json"
no_leftovers "attest collect without an AK"
[ "$(tpm2_getcap handles-persistent | grep -c 0x81000003)" = 0 ] || fail "attest collect persisted an AK"
pycheck "$(cat "$T/ev-noak2.json")" "'tpm-quote' not in d and 'azure-hcl-report' in d" "the evidence without an AK"
cmds=$(python3 "$(dirname "$0")/../bench/tpm-count.py" --json "$T/noak.pcap") || fail "tpm-count.py"
pycheck "$cmds" "'CreatePrimary' not in d['commands'] and d['commands'].count('Quote') == 1" \
        "attest collect's TPM commands without an AK (one Quote, refused: no AK)"
expect_exit 4 "$CVMSEAL" --json attest verify --policy "$T/policy.json" "$T/ev-noak2.json"
pycheck "$out" "sorted({f.split(':')[0] for f in d['failures']}) == ['freshness', 'require']" \
        "the verdict on evidence without a quote"

# ---- usage: --nonce takes 1 to 64 bytes of hex; verify takes the nonce from the policy ----
for bad in abc 0g "$(printf '%0130x' 1)"; do
        expect_exit 2 "$CVMSEAL" --tcti "$tcti" attest collect --nonce "$bad"
        [ -z "$out" ] || fail "attest collect --nonce $bad printed evidence"
done
expect_exit 2 "$CVMSEAL" attest verify --policy "$T/policy.json" --nonce 00 "$T/ev.json"
expect_exit 2 "$CVMSEAL" attest verify "$T/ev.json"

# ---- a VCEK of another TCB in the cache (a pipeline that keeps the old one after a TCB update,
# or a VM that moves between hosts): the verdict must not depend on the files' names.
# BUG (reported): snp.c's find_leaf() takes the first VCEK of the cache in alphabetical order, so a
# stale vcek-*.pem that sorts before vcek.pem makes snp-signature and snp-vcek-tcb fail.
provision
mkdir -p "$T/old" "$T/cache-a" "$T/cache-b"
cp "$fx"/ark.key "$fx"/ark.pem "$fx"/ask.key "$fx"/ask.pem "$T/old/"
python3 "$FIXTURE" --no-tpm --out "$T/old" --tcb 2,0,6,100 >/dev/null 2>"$T/fixture.err" \
        || fail "azure-vtpm.py --no-tpm: $(cat "$T/fixture.err")"
cp "$fx"/certs/*.pem "$T/cache-a/"
cp "$fx"/certs/*.pem "$T/cache-b/"
cp "$T/old/vcek.pem" "$T/cache-a/zz-vcek-old.pem"   # sorts after vcek.pem
cp "$T/old/vcek.pem" "$T/cache-b/vcek-old.pem"      # sorts before vcek.pem
CVMSEAL_CERT_CACHE=$T/cache-a collect "$T/ev-cache-a.json" "$nonce"
pycheck "$(cat "$T/ev-cache-a.json")" "len(d['certificates']) == 4" "the evidence of a cache with two VCEKs"
verify_passes "$T/policy.json" "$T/ev-cache-a.json" "the old VCEK after the right one"
CVMSEAL_CERT_CACHE=$T/cache-b collect "$T/ev-cache-b.json" "$nonce"
expect_exit 0 "$CVMSEAL" attest verify --policy "$T/policy.json" "$T/ev-cache-b.json"
[ "$out" = pass ] || fail "a stale VCEK that sorts first in the cache fails the verdict: $out"

note "attest collect/verify on the Azure-like vTPM: all checks passed"
exit 0
