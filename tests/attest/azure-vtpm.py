#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Provision a swtpm like the vTPM of an Azure SEV-SNP confidential VM (DESIGN, "Real components in
tests", the Azure-like vTPM row).

What it makes, with the openssl command line and tpm2-tools (Python standard library only):

  a test AMD chain      ARK (RSA-4096, self-signed) -> ASK (RSA-4096) -> VCEK (EC P-384), every
                        signature RSASSA-PSS with SHA-384 and a 48-byte salt, as AMD's KDS issues them;
                        the VCEK carries the AMD extensions that src/lib/attest/snp.c checks:
                        structVersion (1.3.6.1.4.1.3704.1.1, INTEGER 1), productName (.1.2, IA5String
                        "Milan-B0"), blSPL/teeSPL/snpSPL/ucodeSPL (.1.3.1/.2/.3/.8, DER INTEGERs equal to
                        REPORTED_TCB's bytes 0, 1, 6, 7: the Milan layout) and hwID (.1.4, the 64 bytes
                        of CHIP_ID in a DER OCTET STRING, as KDS issues it now)
  an AK                 an RSA-2048 restricted signing key (RSASSA-SHA256) created as a primary key in
                        the endorsement hierarchy, persisted at 0x81000003, with the attributes of
                        Azure's AK: fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, noDA,
                        restricted, sign (what Microsoft's vTPM, openvmm's tpm_protocol
                        expected_ak_attributes(), checks a provisioned AK for).  noDA matters: the
                        first authorization of a DA-protected object after a start that followed no
                        orderly shutdown is answered TPM_RC_RETRY (the TPM writes its pending
                        dictionary-attack state to NV first), which cost every cold gated unlock a
                        second Quote
  runtime claims        compact JSON: HCLAkPub (the AK's modulus, base64url), vm-configuration, user-data
  an SNP report         version 2, 1184 bytes: POLICY (DEBUG bit 19 with --debug), VMPL, MEASUREMENT,
                        REPORT_DATA = SHA-256(claims) || 32 zero bytes, REPORTED_TCB / CHIP_ID equal to
                        the VCEK's extensions; ECDSA P-384 SHA-384 by the VCEK over [0, 0x2A0), R and S
                        as 72-byte little-endian fields at 0x2A0 and 0x2E8
  an HCL report         exactly as src/lib/attest/hcl.c parses it: "HCLA", version 2, report_size,
                        request_type 2, the SNP report at 0x20, the 20-byte header at 0x4C0 (data_size,
                        version 1, report_type 2, hash_type 1, variable_data_size), the claims at 0x4D4
  NV 0x01400001         defined with the report's size (ownerread|ownerwrite|authread|no_da: cvmseal
                        reads it with the index's own, empty, auth) and written with the report
  NV 0x01400002         64 bytes, the user-data index (ownerread|ownerwrite|authread|authwrite|no_da),
                        written with zeros

Files in --out:
  ark.pem ask.pem vcek.pem      the chain (ark.key ask.key vcek.key: their keys)
  certs/                        a certificate cache for $CVMSEAL_CERT_CACHE: vcek.pem ask.pem ark.pem
  policy.json                   {"version":1,"require":["snp","azure-hcl","tpm-quote"],"snp":{
                                "measurements":[<the expected measurement>],"allow-debug":false,"vmpl":0}}:
                                what a genuine VM must show, as a token keeps it (`enroll
                                --attest-policy`); it does NOT follow --debug or --vmpl (so those fail
                                against it); its measurement is --measurement when given (the image's
                                measurement), else the default.  A token's policy may not name roots:
                                the unlock gate trusts the test ARK when ark.pem is copied to
                                $CVMSEAL_CONFDIR/roots/
  verify-policy.json            the same with "roots":[<the test ARK>], for `attest verify --policy`
                                (the operator's own file may add roots)
  claims.json                   the runtime claims, the exact bytes that are hashed
  snp-report.bin hcl-report.bin the reports (hcl-report.bin whole, even with --truncate-nv)
  ak.pem                        the AK's public key (absent with --no-ak)
  info.json                     what was made: measurement, chip-id, tcb, sizes, the AK modulus...

Keys and the ARK/ASK certificates already in --out are reused (RSA-4096 key generation takes
seconds): provisioning the same swtpm again with other options keeps the chain, so a policy written
by an earlier run still trusts it.  The VCEK certificate is issued again on every run.  Running it
again on the same swtpm replaces NV 0x01400001; it keeps the user-data index and an AK at 0x81000003
(the same key: it is made from a fixed template in the endorsement hierarchy; an AK persisted by an
older fixture without noDA is made again), and evicts the AK with --no-ak.

Options:
  --debug               set the DEBUG bit (19) of the guest policy
  --measurement HEX     the launch measurement (48 bytes)
  --vmpl N              the VMPL of the report (default 0)
  --tcb BL,TEE,SNP,UC   REPORTED_TCB (and the VCEK's SPLs); default 3,0,8,115
  --expired-vcek        a VCEK valid from 2020-01-01 to 2021-01-01 only
  --vcek-validity A B   the VCEK's notBefore and notAfter (YYMMDDHHMMSSZ)
  --wrong-ak            put another RSA-2048 key's modulus in HCLAkPub
  --no-ak               persist no AK at 0x81000003 (cvmseal then quotes nothing: it creates no key)
  --truncate-nv N       define NV 0x01400001 with N bytes and write only the report's first N bytes
  --pad-nv N            define NV 0x01400001 with N bytes (>= the report) and zero-pad the report,
                        as Azure's larger index is
  --no-tpm              make the files only; touch no TPM (--tcti is then not needed; the AK is a
                        software key)
  --user-data HEX       the runtime claims' user-data: HEX zero-padded to 64 bytes, in upper-case hex
                        (default: zeros).  swtpm makes no fresh report when a nonce is written to
                        NV 0x01400002, as Azure's paravisor does: this is the report it would make

Prints info.json on stdout.  Exit status 0, or 1 with a message on stderr.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HCL_INDEX = 0x01400001
USER_DATA_INDEX = 0x01400002
AK_HANDLE = 0x81000003

SNP_REPORT_SIZE = 1184
SNP_SIGNED_SIZE = 0x2A0
HCL_OFF_SNP = 0x20
HCL_OFF_DATA = 0x4C0
HCL_OFF_CLAIMS = 0x4D4
SWTPM_NV_MAX = 2048

POLICY_DEBUG = 1 << 19
# Bit 16: SMT allowed; bit 17: reserved, must be 1.  ABI minor 0, major 0.
DEFAULT_POLICY = (1 << 16) | (1 << 17)

DEFAULT_MEASUREMENT = hashlib.sha384(b"cvmseal test launch measurement").hexdigest()
DEFAULT_CHIP_ID = hashlib.sha512(b"cvmseal test chip").digest()
DEFAULT_TCB = (3, 0, 8, 115)
VM_UNIQUE_ID = "6f2b6c3e-1d6a-4c1e-9a55-3b0c2f6e7a10"

# Azure's AK (see the top), in tpm2-tools' words.
AK_ALG = "rsa2048:rsassa-sha256:null"
AK_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign"
AK_NODA = 0x00000400

PSS = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"]


class Failure(Exception):
    pass


def run(argv, env=None, check=True, stdin=None):
    p = subprocess.run(argv, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise Failure("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                              p.stderr.decode(errors="replace").strip()))
    return p


def openssl(*args):
    return run(["openssl"] + list(args))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# ---- certificates ----

CA_CONFIG = """\
[ca]
default_ca = test_ca

[test_ca]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha384
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[policy_any]
commonName = supplied
organizationalUnitName = optional
organizationName = optional
localityName = optional
stateOrProvinceName = optional
countryName = optional

[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused

[ark_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ask_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[vcek_ext]
1.3.6.1.4.1.3704.1.1 = ASN1:INTEGER:1
1.3.6.1.4.1.3704.1.2 = ASN1:IA5STRING:Milan-B0
1.3.6.1.4.1.3704.1.3.1 = ASN1:INTEGER:{bl}
1.3.6.1.4.1.3704.1.3.2 = ASN1:INTEGER:{tee}
1.3.6.1.4.1.3704.1.3.3 = ASN1:INTEGER:{snp}
1.3.6.1.4.1.3704.1.3.4 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.5 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.6 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.7 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.8 = ASN1:INTEGER:{ucode}
1.3.6.1.4.1.3704.1.4 = ASN1:FORMAT:HEX,OCTETSTRING:{hwid}
# AMD's VCEKs carry no key identifiers; openssl 3 adds them unless told not to.
subjectKeyIdentifier = none
authorityKeyIdentifier = none
"""

AMD_DN = "/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices"


def rsa_key(path, bits):
    rsa_keys([path], bits)


def rsa_keys(paths, bits):
    """Makes the RSA keys that do not exist yet, in parallel."""
    procs = []
    for path in paths:
        if path in (p for p, _ in procs) or os.path.exists(path):
            continue
        procs.append((path, subprocess.Popen(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                                              "rsa_keygen_bits:%d" % bits, "-out", path],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    for path, p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise Failure("openssl genpkey %s failed: %s" % (path, err.decode(errors="replace").strip()))


def ca_sign(work, conf, csr, out, ca_cert, ca_key, ext, start, end, subject):
    """Issues a certificate with `openssl ca` (the one openssl 3.0 command that takes both dates)."""
    for f in ("index.txt", "index.txt.attr", "serial"):
        p = os.path.join(work, f)
        if os.path.exists(p):
            os.unlink(p)
    with open(os.path.join(work, "index.txt"), "w"):
        pass
    with open(os.path.join(work, "serial"), "w") as f:
        f.write(os.urandom(8).hex().upper() + "\n")
    argv = ["ca", "-batch", "-config", conf, "-in", csr, "-out", out, "-extensions", ext,
            "-startdate", start, "-enddate", end, "-preserveDN", "-notext", "-md", "sha384",
            "-subj", subject] + PSS
    if ca_cert is None:
        argv += ["-selfsign", "-keyfile", ca_key]
    else:
        argv += ["-cert", ca_cert, "-keyfile", ca_key]
    openssl(*argv)


def make_chain(out, tcb, chip_id, vcek_start, vcek_end):
    ark_key, ask_key, vcek_key = (os.path.join(out, n) for n in ("ark.key", "ask.key", "vcek.key"))
    ark_pem, ask_pem, vcek_pem = (os.path.join(out, n) for n in ("ark.pem", "ask.pem", "vcek.pem"))
    work = tempfile.mkdtemp(prefix="ca.", dir=out)
    try:
        conf = os.path.join(work, "ca.cnf")
        with open(conf, "w") as f:
            f.write(CA_CONFIG.format(dir=work, bl=tcb[0], tee=tcb[1], snp=tcb[2], ucode=tcb[3],
                                     hwid=chip_id.hex().upper()))
        csr = os.path.join(work, "req.csr")

        fresh = not (os.path.exists(ark_key) and os.path.exists(ark_pem))
        # RSA-4096 key generation takes seconds: make both keys at once.
        new_ask = fresh or not (os.path.exists(ask_key) and os.path.exists(ask_pem))
        rsa_keys(([ark_key] if fresh else []) + ([ask_key] if new_ask else []), 4096)
        if fresh:
            openssl("req", "-new", "-config", conf, "-key", ark_key, "-out", csr)
            ca_sign(work, conf, csr, ark_pem, None, ark_key, "ark_ext", "200101000000Z", "491231235959Z",
                    AMD_DN + "/CN=ARK-Milan (cvmseal test)")
        if new_ask:
            openssl("req", "-new", "-config", conf, "-key", ask_key, "-out", csr)
            ca_sign(work, conf, csr, ask_pem, ark_pem, ark_key, "ask_ext", "200101000000Z", "491231235959Z",
                    AMD_DN + "/CN=SEV-Milan (cvmseal test)")

        if not os.path.exists(vcek_key):
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", vcek_key)
        openssl("req", "-new", "-config", conf, "-key", vcek_key, "-out", csr)
        ca_sign(work, conf, csr, vcek_pem, ask_pem, ask_key, "vcek_ext", vcek_start, vcek_end,
                AMD_DN + "/CN=SEV-VCEK (cvmseal test)")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    certs = os.path.join(out, "certs")
    os.makedirs(certs, exist_ok=True)
    for n in ("vcek.pem", "ask.pem", "ark.pem"):
        shutil.copyfile(os.path.join(out, n), os.path.join(certs, n))


# ---- reports ----

def der_ecdsa_to_rs(der):
    """(r, s) from a DER ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }."""
    def length(buf, i):
        n = buf[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(buf[i + 1:i + 1 + k], "big"), i + 1 + k

    if der[0] != 0x30:
        raise Failure("the ECDSA signature is not a DER SEQUENCE")
    _, i = length(der, 1)
    values = []
    for _ in range(2):
        if der[i] != 0x02:
            raise Failure("the ECDSA signature has no INTEGER")
        n, i = length(der, i + 1)
        values.append(int.from_bytes(der[i:i + n], "big"))
        i += n
    return values


def tcb_u64(tcb):
    bl, tee, snp, ucode = tcb
    # Milan/Genoa TCB_VERSION: BOOT_LOADER byte 0, TEE byte 1, SNP byte 6, MICROCODE byte 7.
    return bl | tee << 8 | snp << 48 | ucode << 56


def make_snp_report(args, measurement, report_data, chip_id, tcb, vcek_key, work):
    r = bytearray(SNP_REPORT_SIZE)
    policy = DEFAULT_POLICY | (POLICY_DEBUG if args.debug else 0)
    tcb_value = tcb_u64(tcb)
    struct.pack_into("<I", r, 0x000, 2)                 # VERSION
    struct.pack_into("<I", r, 0x004, 0)                 # GUEST_SVN
    struct.pack_into("<Q", r, 0x008, policy)            # POLICY
    struct.pack_into("<I", r, 0x030, args.vmpl)         # VMPL
    struct.pack_into("<I", r, 0x034, 1)                 # SIGNATURE_ALGO: ECDSA P-384 SHA-384
    struct.pack_into("<Q", r, 0x038, tcb_value)         # CURRENT_TCB
    struct.pack_into("<Q", r, 0x040, 1)                 # PLATFORM_INFO: SMT enabled
    struct.pack_into("<I", r, 0x048, 0)                 # flags: VCEK, chip id not masked
    r[0x050:0x090] = report_data                        # REPORT_DATA
    r[0x090:0x0C0] = measurement                        # MEASUREMENT
    r[0x140:0x160] = hashlib.sha256(b"cvmseal test report id").digest()   # REPORT_ID
    r[0x160:0x180] = b"\xff" * 32                       # REPORT_ID_MA: none
    struct.pack_into("<Q", r, 0x180, tcb_value)         # REPORTED_TCB
    r[0x1A0:0x1E0] = chip_id                            # CHIP_ID
    struct.pack_into("<Q", r, 0x1E0, tcb_value)         # COMMITTED_TCB
    r[0x1E8:0x1EC] = bytes([55, 1, 1, 0])               # CURRENT_BUILD, MINOR, MAJOR
    r[0x1EC:0x1F0] = bytes([55, 1, 1, 0])               # COMMITTED_*
    struct.pack_into("<Q", r, 0x1F0, tcb_value)         # LAUNCH_TCB

    signed = os.path.join(work, "signed.bin")
    sig = os.path.join(work, "sig.der")
    with open(signed, "wb") as f:
        f.write(bytes(r[:SNP_SIGNED_SIZE]))
    openssl("dgst", "-sha384", "-sign", vcek_key, "-out", sig, signed)
    with open(sig, "rb") as f:
        rr, ss = der_ecdsa_to_rs(f.read())
    r[0x2A0:0x2A0 + 72] = rr.to_bytes(72, "little")
    r[0x2E8:0x2E8 + 72] = ss.to_bytes(72, "little")
    return bytes(r)


def make_hcl_report(snp, claims):
    report_size = HCL_OFF_CLAIMS + len(claims)
    h = bytearray(report_size)
    h[0:4] = b"HCLA"
    struct.pack_into("<III", h, 4, 2, report_size, 2)   # version, report_size, request_type
    h[HCL_OFF_SNP:HCL_OFF_SNP + SNP_REPORT_SIZE] = snp
    struct.pack_into("<IIIII", h, HCL_OFF_DATA, 20 + len(claims), 1, 2, 1, len(claims))
    h[HCL_OFF_CLAIMS:] = claims
    return bytes(h)


def make_claims(modulus, exponent, user_data):
    claims = {
        "keys": [{"kid": "HCLAkPub", "key_ops": ["sign"], "kty": "RSA", "e": b64url(exponent), "n": b64url(modulus)}],
        "vm-configuration": {"console-enabled": True, "secure-boot": True, "tpm-enabled": True,
                             "vmUniqueId": VM_UNIQUE_ID},
        # What the paravisor copies from NV 0x01400002: its 64 bytes in hex (upper case, as Azure's
        # HCL writes it; the real reports of ../shared/testdata hold only zeros).
        "user-data": user_data.hex().upper(),
    }
    return json.dumps(claims, separators=(",", ":")).encode()


def rsa_public_numbers(pem_path):
    """(modulus, exponent) as big-endian bytes without leading zeros, from an RSA public key PEM."""
    text = openssl("rsa", "-pubin", "-in", pem_path, "-noout", "-text").stdout.decode()
    mod_hex, exp = "", None
    in_mod = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Modulus"):
            in_mod = True
            continue
        if s.startswith("Exponent"):
            in_mod = False
            exp = int(s.split()[1])
            continue
        if in_mod:
            mod_hex += s.replace(":", "")
    n = int(mod_hex, 16)
    return n.to_bytes((n.bit_length() + 7) // 8, "big"), exp.to_bytes((exp.bit_length() + 7) // 8, "big")


# ---- the TPM ----

class Tpm:
    def __init__(self, tcti):
        self.env = dict(os.environ, TPM2TOOLS_TCTI=tcti, TSS2_LOG=os.environ.get("TSS2_LOG", "all+none"))

    def __call__(self, *argv, check=True):
        return run(list(argv), env=self.env, check=check)

    def handles(self, kind):
        out = self("tpm2_getcap", kind).stdout.decode()
        return {int(line.strip().lstrip("- "), 16) for line in out.splitlines() if line.strip().startswith("- 0x")}


def provision_ak(tpm, out, no_ak):
    """The AK: a primary in the endorsement hierarchy with Azure's AK attributes.  One that an earlier
    run persisted is the same key: it is kept (or evicted, with --no-ak); one without noDA is made
    again."""
    ak_pem = os.path.join(out, "ak.pem")
    ctx = os.path.join(out, "ak.ctx")
    if AK_HANDLE in tpm.handles("handles-persistent"):
        text = tpm("tpm2_readpublic", "-c", "0x%08x" % AK_HANDLE).stdout.decode()
        lines = [l.strip() for l in text.splitlines()]
        i = lines.index("attributes:")
        attrs = int(lines[i + 2].split()[1], 16) if lines[i + 2].startswith("raw:") else 0
        if not attrs & AK_NODA:
            tpm("tpm2_evictcontrol", "-C", "o", "-c", "0x%08x" % AK_HANDLE)
    if AK_HANDLE in tpm.handles("handles-persistent"):
        tpm("tpm2_readpublic", "-c", "0x%08x" % AK_HANDLE, "-f", "pem", "-o", ak_pem)
        if no_ak:
            tpm("tpm2_evictcontrol", "-C", "o", "-c", "0x%08x" % AK_HANDLE)
        return ak_pem
    # No resource manager in front of swtpm: objects that an earlier tool left loaded take its 3 slots.
    tpm("tpm2_flushcontext", "-t")
    tpm("tpm2_createprimary", "-C", "e", "-g", "sha256", "-G", AK_ALG, "-a", AK_ATTRS, "-c", ctx)
    try:
        tpm("tpm2_readpublic", "-c", ctx, "-f", "pem", "-o", ak_pem)
        if not no_ak:
            tpm("tpm2_evictcontrol", "-C", "o", "-c", ctx, "0x%08x" % AK_HANDLE)
    finally:
        # No resource manager in front of swtpm: leave no transient object loaded.
        tpm("tpm2_flushcontext", "-t")
        os.unlink(ctx)
    return ak_pem


def provision_nv(tpm, out, report, nv_size, nv_data):
    have = tpm.handles("handles-nv-index")
    if HCL_INDEX in have:
        tpm("tpm2_nvundefine", "-C", "o", "0x%08x" % HCL_INDEX)

    path = os.path.join(out, "nv.bin")
    with open(path, "wb") as f:
        f.write(nv_data)
    tpm("tpm2_nvdefine", "0x%08x" % HCL_INDEX, "-C", "o", "-s", str(nv_size),
        "-a", "ownerread|ownerwrite|authread|no_da")
    tpm("tpm2_nvwrite", "0x%08x" % HCL_INDEX, "-C", "o", "-i", path)
    os.unlink(path)

    if USER_DATA_INDEX in have:     # an earlier run's (64 bytes): kept, as the last nonce is on Azure
        return
    path = os.path.join(out, "user-data.bin")
    with open(path, "wb") as f:
        f.write(bytes(64))
    tpm("tpm2_nvdefine", "0x%08x" % USER_DATA_INDEX, "-C", "o", "-s", "64",
        "-a", "ownerread|ownerwrite|authread|authwrite|no_da")
    tpm("tpm2_nvwrite", "0x%08x" % USER_DATA_INDEX, "-C", "o", "-i", path)
    os.unlink(path)


# ---- main ----

def parse_args(argv):
    p = argparse.ArgumentParser(description="Provision a swtpm like an Azure SEV-SNP CVM's vTPM.")
    p.add_argument("--tcti", help="the swtpm's TCTI (swtpm:path=S)")
    p.add_argument("--out", required=True, help="the directory for the chain, policy and reports")
    p.add_argument("--debug", action="store_true", help="set the DEBUG bit (19) of the guest policy")
    p.add_argument("--measurement", help="the launch measurement, 48 bytes of hex")
    p.add_argument("--vmpl", type=int, default=0, choices=range(4), help="the report's VMPL")
    p.add_argument("--tcb", default=",".join(map(str, DEFAULT_TCB)), help="BL,TEE,SNP,UCODE")
    p.add_argument("--expired-vcek", action="store_true", help="a VCEK that expired in 2021")
    p.add_argument("--vcek-validity", nargs=2, metavar=("NOT_BEFORE", "NOT_AFTER"),
                   help="the VCEK's validity, YYMMDDHHMMSSZ each")
    p.add_argument("--wrong-ak", action="store_true", help="another key's modulus in HCLAkPub")
    p.add_argument("--no-ak", action="store_true", help="persist no AK at 0x81000003")
    p.add_argument("--truncate-nv", type=int, metavar="N", help="only the report's first N bytes in the NV index")
    p.add_argument("--pad-nv", type=int, metavar="N", help="an NV index of N bytes, the report zero-padded")
    p.add_argument("--no-tpm", action="store_true", help="write the files only")
    p.add_argument("--user-data", metavar="HEX", default="",
                   help="the runtime claims' user-data: these bytes, zero-padded to 64 (a report that a "
                        "paravisor made after that nonce was written to NV 0x01400002)")
    a = p.parse_args(argv)
    if not a.no_tpm and not a.tcti:
        p.error("--tcti is required (or --no-tpm)")
    if a.truncate_nv is not None and a.pad_nv is not None:
        p.error("--truncate-nv and --pad-nv exclude each other")
    if a.expired_vcek and a.vcek_validity:
        p.error("--expired-vcek and --vcek-validity exclude each other")
    try:
        a.tcb = tuple(int(x) for x in a.tcb.split(","))
        if len(a.tcb) != 4 or not all(0 <= x <= 255 for x in a.tcb):
            raise ValueError
    except ValueError:
        p.error("--tcb takes four numbers from 0 to 255: BL,TEE,SNP,UCODE")
    try:
        a.user_data = bytes.fromhex(a.user_data)
        if len(a.user_data) > 64:
            raise ValueError
        a.user_data += bytes(64 - len(a.user_data))
    except ValueError:
        p.error("--user-data takes at most 64 bytes of hex")
    if a.measurement is not None:
        try:
            if len(bytes.fromhex(a.measurement)) != 48:
                raise ValueError
        except ValueError:
            p.error("--measurement takes 48 bytes of hex")
    return a


def main(argv):
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    measurement = bytes.fromhex(args.measurement or DEFAULT_MEASUREMENT)
    chip_id = DEFAULT_CHIP_ID
    if args.expired_vcek:
        vcek_start, vcek_end = "200101000000Z", "210101000000Z"
    elif args.vcek_validity:
        vcek_start, vcek_end = args.vcek_validity
    else:
        vcek_start, vcek_end = "240101000000Z", "491231235959Z"

    make_chain(out, args.tcb, chip_id, vcek_start, vcek_end)

    tpm = None if args.no_tpm else Tpm(args.tcti)
    ak_pem = os.path.join(out, "ak.pem")
    if os.path.exists(ak_pem):
        os.unlink(ak_pem)
    if tpm:
        ak_pem = provision_ak(tpm, out, args.no_ak)
    else:
        key = os.path.join(out, "soft-ak.key")
        rsa_key(key, 2048)
        openssl("pkey", "-in", key, "-pubout", "-out", ak_pem)
    modulus, exponent = rsa_public_numbers(ak_pem)
    ak_modulus = modulus
    if args.wrong_ak:
        other = os.path.join(out, "other-ak.key")
        rsa_key(other, 2048)
        other_pub = os.path.join(out, "other-ak.pem")
        openssl("pkey", "-in", other, "-pubout", "-out", other_pub)
        modulus, exponent = rsa_public_numbers(other_pub)
    if args.no_ak and tpm:
        os.unlink(ak_pem)

    claims = make_claims(modulus, exponent, args.user_data)
    report_data = hashlib.sha256(claims).digest() + bytes(32)
    work = tempfile.mkdtemp(prefix="sign.", dir=out)
    try:
        snp = make_snp_report(args, measurement, report_data, chip_id, args.tcb,
                              os.path.join(out, "vcek.key"), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hcl = make_hcl_report(snp, claims)
    if len(hcl) > SWTPM_NV_MAX:
        raise Failure("the HCL report has %d bytes, more than swtpm's %d-byte NV limit" % (len(hcl), SWTPM_NV_MAX))

    nv_size, nv_data = len(hcl), hcl
    if args.truncate_nv is not None:
        if not 0 < args.truncate_nv < len(hcl):
            raise Failure("--truncate-nv takes 1 to %d (the report has %d bytes)" % (len(hcl) - 1, len(hcl)))
        nv_size, nv_data = args.truncate_nv, hcl[:args.truncate_nv]
    elif args.pad_nv is not None:
        if not len(hcl) <= args.pad_nv <= SWTPM_NV_MAX:
            raise Failure("--pad-nv takes %d to %d" % (len(hcl), SWTPM_NV_MAX))
        nv_size, nv_data = args.pad_nv, hcl + bytes(args.pad_nv - len(hcl))

    for name, data in (("claims.json", claims), ("snp-report.bin", snp), ("hcl-report.bin", hcl)):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    with open(os.path.join(out, "ark.pem")) as f:
        ark = f.read()
    policy = {
        "version": 1,
        "require": ["snp", "azure-hcl", "tpm-quote"],
        "snp": {"measurements": [measurement.hex()], "allow-debug": False, "vmpl": 0},
    }
    with open(os.path.join(out, "policy.json"), "w") as f:
        json.dump(policy, f, indent=2)
        f.write("\n")
    policy["roots"] = [ark]
    with open(os.path.join(out, "verify-policy.json"), "w") as f:
        json.dump(policy, f, indent=2)
        f.write("\n")

    if tpm:
        provision_nv(tpm, out, hcl, nv_size, nv_data)

    info = {
        "measurement": measurement.hex(),
        "chip-id": chip_id.hex(),
        "tcb": dict(zip(("bootloader", "tee", "snp", "microcode"), args.tcb)),
        "policy": DEFAULT_POLICY | (POLICY_DEBUG if args.debug else 0),
        "debug": args.debug,
        "vmpl": args.vmpl,
        "report-data": report_data.hex(),
        "claims-size": len(claims),
        "report-size": len(hcl),
        "nv-size": None if args.no_tpm else nv_size,
        "ak-modulus": ak_modulus.hex(),
        "hcl-ak-modulus": modulus.hex(),
        "ak-persisted": bool(tpm) and not args.no_ak,
        "vcek-validity": [vcek_start, vcek_end],
    }
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    json.dump(info, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        print("azure-vtpm.py: %s" % e, file=sys.stderr)
        sys.exit(1)
