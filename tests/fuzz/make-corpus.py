#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the committed seed corpora under tests/fuzz/corpus/<harness>/: small, synthetic inputs in
# the formats the harnesses take (tokens, HSM bindings, policies and evidence as cvmseal writes them;
# synthetic SNP reports, TDX quotes, HCL reports, TPM quotes and keys, event logs; truncated headers).
# Nothing here comes from real hardware: those seeds are copied at build time by seed-corpus.sh.
# Deterministic, so that running it again changes nothing; the certificates are fixed PEM text below.
#
#   tests/fuzz/make-corpus.py [OUTDIR]     (default: tests/fuzz/corpus beside this script)
import base64, hashlib, json, os, struct, sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')

def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

def b64(b):
    return base64.b64encode(b).decode()

def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip('=')

def pattern(n, seed):
    out = b''
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b'%s-%d' % (seed.encode(), i)).digest()
        i += 1
    return out[:n]

# A self-signed P-256 certificate (made once with `openssl req -x509`; it signs nothing here: it is
# only a well-formed PEM certificate for the "roots", "certificates" and PCK chain seeds).
CERT = """-----BEGIN CERTIFICATE-----
MIIBezCCASCgAwIBAgIBATAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFjdm1zZWFs
IGZ1enogc2VlZDAeFw0yNjExMjMwMTU4MTdaFw0zNjExMjAwMTU4MTdaMBwxGjAY
BgNVBAMMEWN2bXNlYWwgZnV6eiBzZWVkMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD
QgAEaulCqgC5g5e3ri5/3tKj2AtHd/oteW+ihIWepZuogcHbISe2HbcyMZqwzhT8
87O2IulKwTZwOTCNjinfsWCPmKNTMFEwHQYDVR0OBBYEFCTI2IFNrol+o3FteWD8
tXGe3/jtMB8GA1UdIwQYMBaAFCTI2IFNrol+o3FteWD8tXGe3/jtMA8GA1UdEwEB
/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAMoVmG3mEEGbY0VeXipneb/E5MI9
mhDwsxycvcPFmfotAiEAxdq1vDFZUgR5aLIBmnmCXkssY4DGHXIk1QCIS9hMZBo=
-----END CERTIFICATE-----
"""

# ---- tokens and HSM bindings ----

SALT = b64(bytes(range(32)))
SRK_NAME = '000b' + bytes(range(1, 33)).hex()
POLICY = hashlib.sha256(b'policy').hexdigest()

def tpm2b(b):
    return struct.pack('>H', len(b)) + b

def keyedhash_public(attrs=0x00000452):   # fixedTPM fixedParent noDA userWithAuth... (a sealed object)
    area = struct.pack('>HHI', 0x0008, 0x000B, attrs) + tpm2b(bytes.fromhex(POLICY))
    area += struct.pack('>H', 0x0010)                     # keyedHash scheme: NULL
    area += tpm2b(hashlib.sha256(b'unique').digest())
    return tpm2b(area)

def private_blob():
    return tpm2b(tpm2b(pattern(32, 'integrity')) + pattern(48, 'sensitive'))

HSM_AES = {'uri': 'pkcs11:token=cvmseal;object=share;type=secret-key', 'mechanism': 'aes-256-gcm',
           'iv': b64(bytes(range(12))), 'key-check': '0a0b0c', 'ciphertext': b64(pattern(48, 'gcm')), 'pin': False}
HSM_RSA = {'uri': 'pkcs11:model=SoftHSM%20v2;token=cvmseal;object=rsa;type=private', 'mechanism': 'rsa-oaep-sha256',
           'key-check': '', 'ciphertext': b64(pattern(384, 'oaep')), 'pin': True}
HSM_SHA1 = dict(HSM_RSA, mechanism='rsa-oaep-sha1', ciphertext=b64(pattern(256, 'oaep1')), pin=False)

def token(**over):
    t = {'type': 'cvmseal', 'keyslots': ['1'], 'version': 1,
         'kdf': {'type': 'hkdf-sha256', 'salt': SALT},
         'tpm2': {'srk-handle': 0x81000001, 'srk-name': SRK_NAME, 'pcr-bank': 'sha256', 'pcrs': [7, 14],
                  'pin': False, 'policy': POLICY, 'public': b64(keyedhash_public()), 'private': b64(private_blob())}}
    t.update(over)
    return json.dumps(t, indent=1)

write('fuzz-token', 'minimal.json', token())
write('fuzz-token', 'hsm-aes.json', token(hsm=HSM_AES))
write('fuzz-token', 'hsm-rsa.json', token(hsm=HSM_RSA))
write('fuzz-token', 'attest.json', token(attest={'policy': b64(b'{"version":1,"require":["snp","tpm-quote"]}')}))
t = json.loads(token(hsm=HSM_SHA1))
t['tpm2']['pin'] = True
t['tpm2']['pcrs'] = list(range(24))
t['keyslots'] = ['31']
write('fuzz-token', 'pin-all-pcrs.json', json.dumps(t))
write('fuzz-token', 'wrong-version.json', token(version=2))
write('fuzz-token', 'unknown-member.json', token(extra=1))
write('fuzz-token', 'not-cvmseal.json', '{"type":"systemd-tpm2","keyslots":["0"]}')
write('fuzz-token', 'truncated.json', token()[:200])
pub, priv = keyedhash_public(), private_blob()
for mode in (0, 1, 2, 7):
    write('fuzz-token', 'binary-mode%d' % mode, bytes([mode]) + struct.pack('<H', len(pub)) + pub + priv)

write('fuzz-hsm-binding', 'aes.json', json.dumps(HSM_AES))
write('fuzz-hsm-binding', 'rsa-sha256.json', json.dumps(HSM_RSA))
write('fuzz-hsm-binding', 'rsa-sha1.json', json.dumps(HSM_SHA1))
write('fuzz-hsm-binding', 'aes-no-iv.json', json.dumps({k: v for k, v in HSM_AES.items() if k != 'iv'}))
write('fuzz-hsm-binding', 'rsa-with-iv.json', json.dumps(dict(HSM_RSA, iv=HSM_AES['iv'])))
write('fuzz-hsm-binding', 'other-uri.json', json.dumps(dict(HSM_AES, uri='azihsm:key=1')))
write('fuzz-hsm-binding', 'key-check-long.json', json.dumps(dict(HSM_AES, **{'key-check': '00' * 33})))

# OpenSSL provider bindings (hsm-provider.c): ECDH P-256/P-384 with the ephemeral point, RSA-OAEP,
# a key blob kept in the token, and the refusals (a provider that is a path, {key-blob} without a
# blob, a PIN, a compressed point, a 3-byte key check).
EPH256 = b'\x04' + pattern(64, 'eph256')
EPH384 = b'\x04' + pattern(96, 'eph384')
HSM_PROV_EC = {'provider': 'tpm2', 'uri': 'handle:0x81000101', 'mechanism': 'ecdh-p256-aes-256-gcm',
               'ephemeral': b64(EPH256), 'iv': b64(bytes(range(12))), 'key-check': pattern(32, 'spki').hex(),
               'ciphertext': b64(pattern(48, 'ecies')), 'pin': False}
HSM_PROV_RSA = {'provider': 'azihsm_provider', 'uri': 'azihsm://{key-blob};type=rsa', 'mechanism': 'rsa-oaep-sha256',
                'key-check': pattern(32, 'spki-rsa').hex(), 'ciphertext': b64(pattern(384, 'oaep-prov')), 'pin': False,
                'key-blob': b64(pattern(1200, 'masked'))}
write('fuzz-hsm-binding', 'provider-ecdh-p256.json', json.dumps(HSM_PROV_EC))
write('fuzz-hsm-binding', 'provider-ecdh-p384.json', json.dumps(dict(HSM_PROV_EC, mechanism='ecdh-p384-aes-256-gcm',
                                                                     ephemeral=b64(EPH384))))
write('fuzz-hsm-binding', 'provider-rsa-blob.json', json.dumps(HSM_PROV_RSA))
write('fuzz-hsm-binding', 'provider-path.json', json.dumps(dict(HSM_PROV_EC, provider='/usr/lib/ossl-modules/tpm2.so')))
write('fuzz-hsm-binding', 'provider-placeholder-no-blob.json', json.dumps(dict(HSM_PROV_EC, uri='file:{key-blob}')))
write('fuzz-hsm-binding', 'provider-pin.json', json.dumps(dict(HSM_PROV_EC, pin=True)))
write('fuzz-hsm-binding', 'provider-compressed.json', json.dumps(dict(HSM_PROV_EC, ephemeral=b64(b'\x02' + EPH256[1:33]))))
write('fuzz-hsm-binding', 'provider-short-check.json', json.dumps(dict(HSM_PROV_EC, **{'key-check': '0a0b0c'})))
write('fuzz-token', 'hsm-provider.json', token(hsm=HSM_PROV_EC))
write('fuzz-token', 'hsm-provider-blob.json', token(hsm=HSM_PROV_RSA))

# ---- SNP reports ----

SNP_SIZE = 1184

def snp_report(version=2, policy=0x30000, vmpl=0, flags=0, ctl=0, fam=0x19, reported_tcb=0x7308000000000003,
               measurement=b'\0' * 48):
    r = bytearray(SNP_SIZE)
    struct.pack_into('<IIQ', r, 0, version, 1, policy)
    r[0x10] = ctl                                  # FAMILY_ID[0]: the harness's control byte
    struct.pack_into('<II', r, 0x30, vmpl, 1)      # VMPL, SIGNATURE_ALGO (ECDSA P-384)
    struct.pack_into('<QQI', r, 0x38, reported_tcb, 3, flags)
    r[0x50:0x90] = pattern(64, 'report-data')
    r[0x90:0xC0] = measurement
    struct.pack_into('<Q', r, 0x180, reported_tcb)
    if version >= 3:
        r[0x188], r[0x189], r[0x18A] = fam, 0x01, 0x01
    r[0x1A0:0x1E0] = bytes(0xa0 + i for i in range(64))   # CHIP_ID: the harness's test VCEK hwID
    struct.pack_into('<Q', r, 0x1E0, reported_tcb)
    r[0x2A0:0x2E8] = pattern(72, 'r')
    r[0x2E8:0x330] = pattern(72, 's')
    return bytes(r)

write('fuzz-snp-report', 'v2.bin', snp_report())
write('fuzz-snp-report', 'v3-milan-certs.bin', snp_report(version=3, ctl=0x07))
write('fuzz-snp-report', 'v3-turin-certs-signed.bin', snp_report(version=3, fam=0x1A, ctl=0x2F, reported_tcb=0x7300000008000301))
write('fuzz-snp-report', 'v5-vlek-certs.bin', snp_report(version=5, flags=1 << 2, vmpl=1, ctl=0x17))
write('fuzz-snp-report', 'v2-all-certs-debug.bin', snp_report(policy=0x30000 | 1 << 19, ctl=0x3F, flags=2))
write('fuzz-snp-report', 'v4-bad-key.bin', snp_report(version=4, flags=7 << 2, ctl=0x07))
write('fuzz-snp-report', 'version-9.bin', snp_report(version=9))
write('fuzz-snp-report', 'truncated-header.bin', snp_report()[:0x50])

# ---- TDX quotes ----

def tdx_quote(version=4, body15=False, auth=b'', cert_type=5, cert_data=CERT.encode(), ctl=0, pad=0,
              td_attributes=b'\0' * 8):
    hdr = bytearray(48)
    struct.pack_into('<HHI', hdr, 0, version, 2, 0x81)
    hdr[8] = ctl                                   # reserved: the harness's control byte
    hdr[12:28] = bytes.fromhex('939a7233f79c4ca9940a0db3957f0607')   # QE vendor id (Intel)
    body = bytearray(648 if body15 else 584)
    body[120:128] = td_attributes
    body[136:184] = pattern(48, 'mrtd')
    body[520:584] = pattern(64, 'td-report-data')
    q = bytes(hdr)
    if version == 5:
        q += struct.pack('<HI', 3 if body15 else 2, len(body))
    q += bytes(body)
    qe = bytearray(384)
    qe[128:160] = bytes.fromhex('dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5')
    struct.pack_into('<H', qe, 256, 2)
    ak = pattern(64, 'ak')
    qe[320:352] = hashlib.sha256(ak + auth).digest()
    inner = bytes(qe) + pattern(64, 'qe-sig') + struct.pack('<H', len(auth)) + auth
    inner += struct.pack('<HI', cert_type, len(cert_data)) + cert_data
    sig = pattern(64, 'quote-sig') + ak + struct.pack('<HI', 6, len(inner)) + inner
    return q + struct.pack('<I', len(sig)) + sig + b'\0' * pad

write('fuzz-tdx-quote', 'v4-pem.dat', tdx_quote())
write('fuzz-tdx-quote', 'v4-padded-resign.dat', tdx_quote(pad=200, ctl=1, auth=pattern(32, 'auth')))
write('fuzz-tdx-quote', 'v5-body10.dat', tdx_quote(version=5))
write('fuzz-tdx-quote', 'v5-body15-debug.dat', tdx_quote(version=5, body15=True, td_attributes=b'\1' + b'\0' * 7, ctl=1))
write('fuzz-tdx-quote', 'v4-pck-leaf-id.dat', tdx_quote(cert_type=3, cert_data=pattern(16, 'ppid')))
write('fuzz-tdx-quote', 'v4-two-certs.dat', tdx_quote(cert_data=(CERT + CERT).encode()))
write('fuzz-tdx-quote', 'truncated-header.dat', tdx_quote()[:40])
write('fuzz-tdx-quote', 'v4-bad-lengths.dat', tdx_quote()[:700])

# ---- HCL reports ----

RSA_N = b'\xc3' + pattern(255, 'rsa-n')[:-1] + b'\x01'
JWK = {'kid': 'HCLAkPub', 'kty': 'RSA', 'key_ops': ['sign'], 'e': b64url(b'\x01\x00\x01'), 'n': b64url(RSA_N)}

def hcl_report(claims, report_type=2, version=2, ctl=0, bind=True, nv_size=None):
    hw = bytearray(snp_report() if report_type == 2 else bytes(1184))
    rd = 0x50 if report_type == 2 else 128
    hw[rd:rd + 64] = (hashlib.sha256(claims).digest() + b'\0' * 32) if bind else pattern(64, 'unbound')
    data = struct.pack('<IIIII', 20 + len(claims), 1, report_type, 1, len(claims)) + claims
    r = b'HCLA' + struct.pack('<III', version, 0x4C0 + len(data), ctl) + b'\0' * 16 + bytes(hw) + data
    if nv_size:
        r += b'\0' * (nv_size - len(r))
    return r

claims = json.dumps({'keys': [JWK], 'vm-configuration': {'console-enabled': True, 'secure-boot': True,
                     'tpm-enabled': True, 'vmUniqueId': '00000000-0000-0000-0000-000000000000'},
                     'user-data': '00' * 64}, separators=(',', ':')).encode()
write('fuzz-hcl-report', 'snp-v2.bin', hcl_report(claims))
write('fuzz-hcl-report', 'snp-v1-padded.bin', hcl_report(claims, version=1, nv_size=2048))
write('fuzz-hcl-report', 'tdx-v2.bin', hcl_report(claims, report_type=4))
write('fuzz-hcl-report', 'snp-unbound-ctl.bin', hcl_report(claims, bind=False, ctl=1))
write('fuzz-hcl-report', 'snp-no-keys.bin', hcl_report(b'{"vm-configuration":{}}  \0\0'))
write('fuzz-hcl-report', 'snp-two-aks.bin', hcl_report(json.dumps({'keys': [JWK, JWK]}).encode()))
write('fuzz-hcl-report', 'truncated-header.bin', hcl_report(claims)[:0x4C4])

# ---- TPM quotes and keys ----

P256_GX = bytes.fromhex('6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296')
P256_GY = bytes.fromhex('4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5')
RESTRICTED_SIGN = 0x00050072

def ecc_public(attrs=RESTRICTED_SIGN, curve=0x0003):
    area = struct.pack('>HHI', 0x0023, 0x000B, attrs) + tpm2b(b'')
    area += struct.pack('>HHHHH', 0x0010, 0x0018, 0x000B, curve, 0x0010)   # sym NULL, ECDSA-SHA256, curve, kdf NULL
    area += tpm2b(P256_GX) + tpm2b(P256_GY)
    return tpm2b(area)

def rsa_public(attrs=RESTRICTED_SIGN, bits=2048):
    area = struct.pack('>HHI', 0x0001, 0x000B, attrs) + tpm2b(b'')
    area += struct.pack('>HHHHI', 0x0010, 0x0014, 0x000B, bits, 0) + tpm2b(RSA_N[:bits // 8])
    return tpm2b(area)

def quote_message(pcrs=range(8), extra=b'nonce-fuzz', bank=0x000B):
    select = bytearray(3)
    for p in pcrs:
        select[p // 8] |= 1 << (p % 8)
    digest = hashlib.sha256(b''.join(bytes([p]) * 32 for p in sorted(pcrs))).digest()
    m = struct.pack('>IH', 0xff544347, 0x8018) + tpm2b(b'\0\x0b' + pattern(32, 'signer')) + tpm2b(extra)
    m += struct.pack('>QIIB', 123456789, 3, 1, 1) + struct.pack('>Q', 0x2000000000000)   # clockInfo, firmware
    m += struct.pack('>I', 1) + struct.pack('>HB', bank, 3) + bytes(select) + tpm2b(digest)
    return m

def ecdsa_sig():
    return struct.pack('>HH', 0x0018, 0x000B) + tpm2b(pattern(32, 'r')) + tpm2b(pattern(32, 's'))

def rsassa_sig():
    return struct.pack('>HH', 0x0014, 0x000B) + tpm2b(pattern(256, 'rsa-sig'))

def quote_input(ctl, msg, sig):
    return bytes([ctl]) + struct.pack('<H', len(msg)) + msg + sig

write('fuzz-tpm-quote', 'ecdsa', quote_input(0x00, quote_message(), ecdsa_sig()))
write('fuzz-tpm-quote', 'ecdsa-signed', quote_input(0x04, quote_message(), ecdsa_sig()))
write('fuzz-tpm-quote', 'ecdsa-canonical-signed', quote_input(0x07, quote_message(range(24)), ecdsa_sig()))
write('fuzz-tpm-quote', 'rsassa-signed', quote_input(0x0e, quote_message([0, 7, 14]), rsassa_sig()))
write('fuzz-tpm-quote', 'rsapss-signed', quote_input(0x1e, quote_message([4]), rsassa_sig()))
write('fuzz-tpm-quote', 'sha1-bank', quote_input(0x00, quote_message(bank=0x0004), rsassa_sig()))
write('fuzz-tpm-quote', 'pcr-above-23', quote_input(0x02, quote_message([23]) , ecdsa_sig()))
write('fuzz-tpm-quote', 'ak-ecc-p256', ecc_public())
write('fuzz-tpm-quote', 'ak-rsa-2048', rsa_public())
write('fuzz-tpm-quote', 'ak-not-restricted', rsa_public(attrs=0x00040072))
write('fuzz-tpm-quote', 'ak-ecc-p384-short', ecc_public(curve=0x0004))
write('fuzz-tpm-quote', 'sig-is-ak', quote_input(0x01, quote_message(), ecc_public()))

# ---- event logs ----

def spec_id(algs):
    data = b'Spec ID Event03\0' + struct.pack('<IBBBBI', 0, 0, 2, 0, 2, len(algs))
    data += b''.join(struct.pack('<HH', a, s) for a, s in algs) + b'\0'
    return struct.pack('<II', 0, 3) + b'\0' * 20 + struct.pack('<I', len(data)) + data

SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}

def event2(pcr, etype, data, algs):
    e = struct.pack('<III', pcr, etype, len(algs))
    for a in algs:
        e += struct.pack('<H', a) + hashlib.new({4: 'sha1', 11: 'sha256', 12: 'sha384', 13: 'sha512'}.get(a, 'sha256'),
                                                 data).digest()[:SIZES[a]]
    return e + struct.pack('<I', len(data)) + data

def sha1_event(pcr, etype, data):
    return struct.pack('<II', pcr, etype) + hashlib.sha1(data).digest() + struct.pack('<I', len(data)) + data

A2 = [(0x0004, 20), (0x000B, 32)]
log = spec_id(A2) + event2(0, 3, b'StartupLocality\0\3', [4, 11])
log += event2(0, 0x80000008, b'\0' * 16, [4, 11]) + event2(7, 0x800000E0, b'secureboot', [4, 11])
log += event2(4, 0x80000003, b'bootx64.efi', [4, 11]) + event2(14, 0x0000000D, b'MokList', [4, 11])
write('fuzz-eventlog', 'agile-sha1-sha256.bin', log)
write('fuzz-eventlog', 'agile-hcrtm.bin', spec_id(A2) + event2(0, 0x80000010, b'HCRTM', [4, 11]) +
      event2(0, 0x80000008, b'POST', [4, 11]))
A4 = [(0x0004, 20), (0x000B, 32), (0x000C, 48), (0x000D, 64)]
write('fuzz-eventlog', 'agile-four-banks.bin', spec_id(A4) + event2(1, 5, b'x', [4, 11, 12, 13]) +
      event2(2, 5, b'y', [4, 11, 12, 13]))
write('fuzz-eventlog', 'agile-sm3-partial.bin', spec_id([(0x000B, 32), (0x0012, 32)]) + event2(3, 5, b'z', [11]))
write('fuzz-eventlog', 'spec-id-only.bin', spec_id(A4))
write('fuzz-eventlog', 'old-sha1.bin', sha1_event(0, 8, b'POST CODE') + sha1_event(7, 0x800000E0, b'db'))
write('fuzz-eventlog', 'truncated.bin', log[:len(log) - 7])
write('fuzz-eventlog', 'bad-pcr.bin', spec_id(A2) + event2(24, 5, b'x', [4, 11]))

# ---- policies ----

M48 = pattern(48, 'mrtd').hex()
FULL_POLICY = {
    'version': 1, 'require': ['snp', 'tdx', 'azure-hcl', 'tpm-quote', 'event-log'],
    'snp': {'measurements': ['00' * 48, pattern(48, 'm').hex()], 'allow-debug': False, 'vmpl': 0,
            'min-tcb': {'bootloader': 3, 'tee': 0, 'snp': 8, 'microcode': 115, 'fmc': 0}, 'host-data': '00' * 32},
    'tdx': {'mrtd': [M48, '00' * 48], 'allow-debug': False, 'rtmrs': {'0': '00' * 48, '3': '01' * 48}},
    'pcrs': {'sha256': {'0': '00' * 32, '7': '07' * 32, '23': '17' * 32}},
    'nonce': '0102030405060708',
    'roots': [CERT],
    'time': '2025-06-01T00:00:00Z',
}
write('fuzz-policy', 'full.json', json.dumps(FULL_POLICY, indent=1))
write('fuzz-policy', 'minimal.json', '{"version":1,"require":["snp"]}')
write('fuzz-policy', 'tpm-quote-pcrs.json', json.dumps({'version': 1, 'require': ['tpm-quote'],
                                                        'pcrs': {'sha256': {str(i): ('%02x' % i) * 32 for i in range(24)}}}))
write('fuzz-policy', 'snp-bad-vmpl.json', json.dumps({'version': 1, 'require': ['snp'], 'snp': {'vmpl': 4}}))
write('fuzz-policy', 'snp-unknown.json', json.dumps({'version': 1, 'require': ['snp'], 'snp': {'min-tcb': {'x': 1}}}))
write('fuzz-policy', 'tdx-rtmr-9.json', json.dumps({'version': 1, 'require': ['tdx'], 'tdx': {'rtmrs': {'9': '00' * 48}}}))
write('fuzz-policy', 'bad-time.json', json.dumps({'version': 1, 'require': ['snp'], 'time': '2025-13-45T99:00:00Z'}))
write('fuzz-policy', 'version-2.json', '{"version":2,"require":["snp"]}')

# ---- evidence ----

SNP = snp_report()
NONCE = b'nonce-fuzz'
ev_pcrs = {str(i): ('%02x' % i) * 32 for i in range(24)}
hcl = hcl_report(claims)
write('fuzz-evidence', 'snp-bare.json', json.dumps({'version': 1, 'nonce': pattern(64, 'report-data').hex(),
                                                    'snp-report': b64(SNP), 'certificates': [CERT]}, indent=1))
write('fuzz-evidence', 'azure-snp.json', json.dumps({
    'version': 1, 'nonce': NONCE.hex(), 'azure-hcl-report': b64(hcl), 'snp-report': b64(hcl[0x20:0x20 + SNP_SIZE]),
    'tpm-quote': {'message': b64(quote_message(range(24))), 'signature': b64(rsassa_sig())},
    'pcrs': {'sha256': ev_pcrs}}, indent=1))
write('fuzz-evidence', 'azure-tdx.json', json.dumps({
    'version': 1, 'nonce': NONCE.hex(), 'azure-hcl-report': b64(hcl_report(claims, report_type=4)),
    'tdx-quote': b64(tdx_quote()), 'tpm-quote': {'message': b64(quote_message()), 'signature': b64(ecdsa_sig()),
                                                  'ak-public': b64(ecc_public())},
    'pcrs': {'sha256': ev_pcrs}}, indent=1))
write('fuzz-evidence', 'tdx.json', json.dumps({'version': 1, 'tdx-quote': b64(tdx_quote(version=5, body15=True))}))
write('fuzz-evidence', 'quote-eventlog.json', json.dumps({
    'version': 1, 'nonce': NONCE.hex(), 'tpm-quote': {'message': b64(quote_message([0, 4, 7, 14])),
                                                      'signature': b64(rsassa_sig()), 'ak-public': b64(rsa_public())},
    'pcrs': {'sha256': ev_pcrs}, 'event-log': b64(log)}, indent=1))
write('fuzz-evidence', 'unknown-member.json', '{"version":1,"snp-report":"AAAA","extra":true}')
write('fuzz-evidence', 'bad-pcr-index.json', '{"version":1,"pcrs":{"sha256":{"24":"%s"}}}' % ('00' * 32))
write('fuzz-evidence', 'quote-no-signature.json', '{"version":1,"tpm-quote":{"message":"AAAA"}}')

# ---- pcr-values ----

write('fuzz-pcr-values', 'two.json', json.dumps({'sha256': {'7': '07' * 32, '14': '0e' * 32}}, indent=1))
write('fuzz-pcr-values', 'all.json', json.dumps({'sha256': {str(i): ('%02x' % i) * 32 for i in range(24)}}))
write('fuzz-pcr-values', 'empty.json', '{"sha256":{}}')
write('fuzz-pcr-values', 'duplicate.json', '{"sha256":{"7":"%s","7":"%s"}}' % ('00' * 32, '11' * 32))
write('fuzz-pcr-values', 'leading-zero.json', '{"sha256":{"07":"%s"}}' % ('00' * 32))
write('fuzz-pcr-values', 'sha1.json', '{"sha1":{"7":"%s"}}' % ('00' * 20))
write('fuzz-pcr-values', 'escaped.json', '{"sha256":{"\\u0037":"%s"}}' % ('AB' * 32))

# ---- pcr predict: a control byte, then an event log or (0x80) a PE image ----

def tagged_initrd(data):
    tag = struct.pack('<II', 0x8F3B22EC, 13) + b'Linux initrd\0'
    e = struct.pack('<III', 9, 6, 2) + struct.pack('<H', 4) + hashlib.sha1(data).digest()
    e += struct.pack('<H', 11) + hashlib.sha256(data).digest()
    return e + struct.pack('<I', len(tag)) + tag

def small_pe(pe32=False):
    opt_size = (96 if pe32 else 112) + 16 * 8
    out = bytearray(0x400)
    out[0:2] = b'MZ'
    struct.pack_into('<I', out, 0x3C, 0x40)
    out[0x40:0x44] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', out, 0x44, 0x8664, 1, 0, 0, 0, opt_size, 0x22)
    opt = 0x58
    struct.pack_into('<H', out, opt, 0x10B if pe32 else 0x20B)
    struct.pack_into('<I', out, opt + 60, 0x200)
    struct.pack_into('<I', out, opt + (92 if pe32 else 108), 16)
    sec = opt + opt_size
    out[sec:sec + 5] = b'.text'
    struct.pack_into('<II', out, sec + 16, 0x200, 0x200)
    out[0x200:] = bytes(i & 0xFF for i in range(0x200))
    return bytes(out)

kernel_log = log + event2(4, 0x80000003, b'vmlinuz', [4, 11]) + event2(4, 0x80000003, b'vmlinuz', [4, 11])
write('fuzz-pcr-predict', 'none.bin', b'\x00' + kernel_log)
write('fuzz-pcr-predict', 'kernel-initrd.bin', b'\x03' + kernel_log)
write('fuzz-pcr-predict', 'kernel-initrd-pcrs.bin', b'\x0b' + kernel_log)
write('fuzz-pcr-predict', 'replace-initrd.bin', b'\x02' + kernel_log + tagged_initrd(b'old initrd'))
write('fuzz-pcr-predict', 'drop-initrd.bin', b'\x04' + kernel_log + tagged_initrd(b'old initrd'))
write('fuzz-pcr-predict', 'four-banks-initrd.bin', b'\x03' + spec_id(A4) + event2(4, 0x80000003, b'k', [4, 11, 12, 13]))
write('fuzz-pcr-predict', 'sm3-initrd.bin', b'\x02' + spec_id([(0x000B, 32), (0x0012, 32)]) + event2(4, 0x80000003, b'k', [11, 0x12]))
write('fuzz-pcr-predict', 'pe32plus.bin', b'\x80' + small_pe())
write('fuzz-pcr-predict', 'pe32.bin', b'\x80' + small_pe(pe32=True))
write('fuzz-pcr-predict', 'pe-short.bin', b'\x80' + small_pe()[:0x150])
write('fuzz-pcr-predict', 'spec-id-only-initrd.bin', b'\x02' + spec_id(A2))
