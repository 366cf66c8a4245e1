#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Seeds the fuzzing corpora from the public test vectors, at build time, in the build directory
# (the vectors are never copied into the project).
#
#   seed-corpus.sh TESTDATA OUTDIR STAMP
#
# Makes OUTDIR/<harness>/ for every harness (empty when TESTDATA does not exist), copies the raw
# vectors each parser takes (SNP reports, TDX quotes, HCL reports, event logs), and, when python3
# is there, converts what needs converting: the SNP report inside each HCL report, the Azure
# evidence JSON of trustee into cvmseal evidence documents (HCL report, VCEK and ASK/ARK, TPM quote
# with a TPMT_SIGNATURE and the AK as a TPM2B_PUBLIC built from HCLAkPub, PCRs, nonce), bare SNP
# reports with their VCEK, TDX quotes, event logs with the PCRs tpm2_eventlog replays them to, and
# the quotes in fuzz-tpm-quote's input format.  Touches STAMP at the end.
set -eu

testdata=$1
out=$2
stamp=$3

harnesses="fuzz-token fuzz-hsm-binding fuzz-snp-report fuzz-tdx-quote fuzz-hcl-report fuzz-tpm-quote fuzz-eventlog fuzz-evidence fuzz-policy fuzz-pcr-values fuzz-pcr-predict fuzz-provision fuzz-diagnose"

rm -rf "$out"
for h in $harnesses; do
        mkdir -p "$out/$h"
done

if [ ! -f "$testdata/SHA256SUMS" ]; then
        echo "seed-corpus: no test vectors at $testdata, the seeded corpora stay empty" >&2
        touch "$stamp"
        exit 0
fi

copy() {   # copy HARNESS FILE...
        h=$1
        shift
        for f in "$@"; do
                [ -f "$f" ] && cp "$f" "$out/$h/$(basename "$f")"
        done
        return 0
}

copy fuzz-snp-report "$testdata"/snp/*-report.bin
copy fuzz-tdx-quote "$testdata"/tdx/*.dat
copy fuzz-hcl-report "$testdata"/azure/*.bin
copy fuzz-eventlog "$testdata"/eventlog/*.bin
copy fuzz-diagnose "$testdata"/eventlog/*.bin
# fuzz-pcr-predict: a control byte (README.md there), then the log: no replacement, and a kernel and
# an initrd.
for f in "$testdata"/eventlog/*.bin; do
        [ -f "$f" ] || continue
        { printf '\000'; cat "$f"; } >"$out/fuzz-pcr-predict/none-$(basename "$f")"
        { printf '\003'; cat "$f"; } >"$out/fuzz-pcr-predict/kernel-initrd-$(basename "$f")"
done

if ! command -v python3 >/dev/null 2>&1; then
        echo "seed-corpus: no python3, the converted seeds are skipped" >&2
        touch "$stamp"
        exit 0
fi

python3 - "$testdata" "$out" <<'PYEOF'
import base64, glob, json, os, re, ssl, struct, sys

testdata, out = sys.argv[1], sys.argv[2]

def write(harness, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(out, harness, name), 'wb') as f:
        f.write(data)

def read(path):
    with open(path, 'rb') as f:
        return f.read()

def pem_certs(path):
    text = read(path).decode()
    return re.findall(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?', text, re.S)

def der_to_pem(der):
    return ssl.DER_cert_to_PEM_cert(der)

def b64(b):
    return base64.b64encode(b).decode()

def b64url_decode(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))

def b64_any(s):   # base64 or base64url, padded or not
    s = s.strip().rstrip('=').replace('-', '+').replace('_', '/')
    return base64.b64decode(s + '=' * (-len(s) % 4))

milan_chain = pem_certs(os.path.join(testdata, 'snp/certs/ask_ark_milan.pem'))

# The SNP report inside each HCL report.
def hcl_snp_report(hcl):
    if len(hcl) >= 0x20 + 1184 and hcl[:4] == b'HCLA' and struct.unpack_from('<I', hcl, 0x4C8)[0] == 2:
        return hcl[0x20:0x20 + 1184]
    return None

for path in glob.glob(os.path.join(testdata, 'azure/*.bin')):
    r = hcl_snp_report(read(path))
    if r:
        write('fuzz-snp-report', 'hcl-' + os.path.basename(path), r)

# HCLAkPub (an RSA JWK in the runtime claims) as a TPM2B_PUBLIC: a restricted RSASSA-SHA256 signing key.
def ak_public_from_hcl(hcl):
    try:
        size = struct.unpack_from('<I', hcl, 0x4D0)[0]
        claims = json.loads(hcl[0x4D4:0x4D4 + size].rstrip(b'\0'))
        for k in claims.get('keys', []):
            if k.get('kid') == 'HCLAkPub':
                n = b64url_decode(k['n'])
                e = int.from_bytes(b64url_decode(k['e']), 'big')
                break
        else:
            return None
    except Exception:
        return None
    attrs = 0x00050072   # fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted sign
    area = struct.pack('>HHIH', 0x0001, 0x000B, attrs, 0)          # RSA, sha256, attributes, no policy
    area += struct.pack('>HHHHI', 0x0010, 0x0014, 0x000B, len(n) * 8, 0 if e == 65537 else e)
    area += struct.pack('>H', len(n)) + n
    return struct.pack('>H', len(area)) + area

def quote_extra_data(msg):
    # magic 4, type 2, qualifiedSigner TPM2B, extraData TPM2B
    off = 6
    (n,) = struct.unpack_from('>H', msg, off)
    off += 2 + n
    (n,) = struct.unpack_from('>H', msg, off)
    return msg[off + 2:off + 2 + n]

def tpmt_signature_rsassa(sig):
    return struct.pack('>HHH', 0x0014, 0x000B, len(sig)) + sig

# trustee's Azure SNP vTPM evidence, in two versions of its format.
for path in sorted(glob.glob(os.path.join(testdata, 'azure/az-snp-vtpm-evidence-*.json'))):
    name = os.path.basename(path)[:-5]
    try:
        d = json.loads(read(path))
        if 'report' in d:        # v0: byte arrays
            hcl = bytes(d['report'])
            msg = bytes(d['quote']['message'])
            sig = bytes(d['quote']['signature'])
            pcrs = [bytes(p).hex() for p in d['quote']['pcrs']]
            vcek = d['vcek']
        else:                    # v1: base64 and hex
            hcl = b64_any(d['hcl_report'])
            msg = bytes.fromhex(d['tpm_quote']['message'])
            sig = bytes.fromhex(d['tpm_quote']['signature'])
            pcrs = d['tpm_quote']['pcrs']
            vcek = d['vcek']
        if 'BEGIN CERTIFICATE' not in vcek:
            vcek = der_to_pem(b64_any(vcek))
    except Exception as e:
        print('seed-corpus: skipping %s: %s' % (path, e), file=sys.stderr)
        continue

    write('fuzz-hcl-report', name + '.bin', hcl)
    r = hcl_snp_report(hcl)
    if r:
        write('fuzz-snp-report', name + '.bin', r)
    tsig = tpmt_signature_rsassa(sig)
    for ctl in (0x00, 0x01, 0x06, 0x0e):
        write('fuzz-tpm-quote', '%s-ctl%02x' % (name, ctl), bytes([ctl]) + struct.pack('<H', len(msg)) + msg + tsig)
    ak = ak_public_from_hcl(hcl)
    if ak:
        write('fuzz-tpm-quote', name + '-ak-public', ak)

    ev = {
        'version': 1,
        'nonce': quote_extra_data(msg).hex(),
        'azure-hcl-report': b64(hcl),
        'certificates': [vcek] + milan_chain,
        'tpm-quote': {'message': b64(msg), 'signature': b64(tsig)},
        'pcrs': {'sha256': {str(i): p for i, p in enumerate(pcrs)}},
    }
    write('fuzz-evidence', name + '.json', json.dumps(ev, indent=1))
    if ak:
        ev['tpm-quote']['ak-public'] = b64(ak)
        write('fuzz-evidence', name + '-ak-public.json', json.dumps(ev, indent=1))

# Bare SNP reports with their signing key's certificate (configfs-tsm evidence).
for report in sorted(glob.glob(os.path.join(testdata, 'snp/*-report.bin'))):
    base = report[:-len('-report.bin')]
    certs = []
    for suffix in ('-vcek.der', '-vlek.der'):
        if os.path.exists(base + suffix):
            certs.append(der_to_pem(read(base + suffix)))
    ev = {'version': 1, 'snp-report': b64(read(report)), 'certificates': certs + milan_chain}
    write('fuzz-evidence', os.path.basename(base) + '-snp.json', json.dumps(ev, indent=1))

# TDX quotes (Azure's is zero-padded: the parser takes that).
for quote in sorted(glob.glob(os.path.join(testdata, 'tdx/*.dat'))):
    ev = {'version': 1, 'tdx-quote': b64(read(quote))}
    write('fuzz-evidence', os.path.basename(quote)[:-4] + '-tdx.json', json.dumps(ev, indent=1))

# Event logs, with the sha256 PCRs tpm2_eventlog replays them to.
for log in sorted(glob.glob(os.path.join(testdata, 'eventlog/*.bin'))):
    yaml = os.path.join(testdata, 'eventlog/expected', os.path.basename(log) + '.yaml')
    pcrs = {}
    if os.path.exists(yaml):
        text = read(yaml).decode(errors='replace')
        m = re.search(r'^pcrs:\n(.*)', text, re.S | re.M)
        bank = None
        for line in (m.group(1).splitlines() if m else []):
            b = re.match(r'^  (\w+):\s*$', line)
            if b:
                bank = b.group(1)
                continue
            v = re.match(r'^\s+(\d+)\s*:\s*0x([0-9a-fA-F]+)', line)
            if v and bank == 'sha256':
                pcrs[v.group(1)] = v.group(2).lower()
    ev = {'version': 1, 'event-log': b64(read(log)), 'snp-report': None}
    del ev['snp-report']
    if pcrs:
        ev['pcrs'] = {'sha256': pcrs}
    write('fuzz-evidence', os.path.basename(log)[:-4] + '-eventlog.json', json.dumps(ev, indent=1))
PYEOF

touch "$stamp"
