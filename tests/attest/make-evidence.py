#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Builds cvmseal evidence documents (docs/attestation-policy.md, "Evidence") from the raw test vectors
of ../shared/testdata, and edits them, for tests/integration/test-attest-vectors.sh.  Standard
library only.

  make-evidence.py build [--snp-report F] [--tdx-quote F] [--hcl-report F] [--event-log F]
                         [--cert-der F]... [--cert-pem F]... [--pcrs-yaml F]
                         [--nonce HEX | --nonce-report-data]
      a version 1 evidence document on stdout: the binary members base64-encoded; --cert-der adds a
      DER certificate as PEM, --cert-pem adds every certificate of a PEM file (in order);
      --pcrs-yaml takes pcrs.sha256 from the `pcrs:` section of tpm2_eventlog's expected output;
      --nonce-report-data makes the nonce the one the SNP report (or else the TDX quote) answers:
      its REPORT_DATA without the trailing zero bytes (a report is fresh only for that nonce)

  make-evidence.py edit EVIDENCE [--set PATH=JSON]... [--delete PATH]... [--put MEMBER:OFFSET:HEX]...
                                 [--flip MEMBER:OFFSET]... [--truncate MEMBER:LENGTH]...
                                 [--quote KEY.pem] [--ak-public KEY.pem]
      EVIDENCE (a file, "-" for stdin) edited, on stdout.  --set puts a JSON value at a dotted path
      (pcrs.sha256.7="00..."); --delete removes the member at PATH.  MEMBER is a base64 member named
      by a dotted path (snp-report, azure-hcl-report, tpm-quote.signature...); --put overwrites its
      bytes from OFFSET (decimal or 0x hex) with HEX, --flip XORs the byte at OFFSET with 0x01,
      --truncate keeps its first LENGTH bytes.  --quote forges what an attacker on the TPM channel
      answers: a tpm-quote (TPMS_ATTEST of a quote, RSASSA-SHA256 TPMT_SIGNATURE, and the key's
      TPM2B_PUBLIC as ak-public, a restricted signing key's) signed by the RSA key KEY.pem (the
      openssl command signs), with the evidence's nonce as extraData, over every sha256 PCR of the
      evidence.  --ak-public puts KEY.pem's TPM2B_PUBLIC in tpm-quote.ak-public.  Edits apply in
      that order.

  make-evidence.py offset EVIDENCE MEMBER TEXT [--hex]
      the offset (decimal) of the first occurrence of TEXT (--hex: of the bytes TEXT spells in hex)
      in the decoded base64 MEMBER; exit 2 when it is not there.

  make-evidence.py extract EVIDENCE MEMBER START LENGTH
      LENGTH bytes of the decoded base64 MEMBER from START, base64-encoded.

  make-evidence.py hwid CERT.der
      the hwID extension (1.3.6.1.4.1.3704.1.4) of an AMD VCEK in hex, in either encoding: the raw
      bytes as the extension's value (legacy) or a DER OCTET STRING holding them (KDS now).

  make-evidence.py failures VERDICT
      the "failures" of a --json verdict (a file, "-" for stdin), one check name a line (the text
      before the first ": "), in order; exits 2 unless VERDICT is a JSON object with a failures list.

  make-evidence.py verdict VERDICT
      the verdict ("pass"/"fail"), then the failed check names (sorted, each once, space-separated),
      then a line NAME=VALUE for every claim (strings bare, the rest as compact JSON), and for the
      members of an object claim too (NAME.MEMBER=VALUE, at every depth); exits 2
      unless VERDICT is a JSON object with a verdict, a failures list and a claims object.

  make-evidence.py serve
      for each path read from stdin (one a line), what `verdict` prints for it (or "error" and
      why), then a line ".", flushed: one process for a test's many verdicts.

  make-evidence.py batch
      runs build and edit jobs read from stdin, one a line: OUT, then the arguments of `build` or
      `edit`, separated by tabs; each job writes OUT.  In order, so a job may edit an earlier OUT.

  make-evidence.py get DOC PATH
      the JSON value at a dotted PATH of a document (a string without quotes), exit 2 if absent.
"""
import argparse
import base64
import hashlib
import json
import re
import struct
import subprocess
import sys


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def load(path):
    if path == "-":
        return json.load(sys.stdin)
    with open(path) as f:
        return json.load(f)


def pem_from_der(der):
    b = base64.b64encode(der).decode()
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + \
        "\n-----END CERTIFICATE-----\n"


def pems_of(path):
    text = open(path).read()
    found = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    if not found:
        sys.exit(f"{path}: no PEM certificate")
    return [c + "\n" for c in found]


def pcrs_from_yaml(path):
    """The sha256 bank of the trailing `pcrs:` section of tpm2_eventlog's YAML output."""
    pcrs, section, bank = {}, False, None
    for line in open(path):
        if line.rstrip() == "pcrs:":
            section, bank = True, None
            continue
        if not section:
            continue
        m = re.match(r"^  (\w+):\s*$", line)
        if m:
            bank = m.group(1)
            continue
        m = re.match(r"^    (\d+)\s*:\s*0x([0-9a-fA-F]+)\s*$", line)
        if m and bank == "sha256":
            pcrs[m.group(1)] = m.group(2).lower()
    if not pcrs:
        sys.exit(f"{path}: no sha256 PCRs in its pcrs: section")
    return pcrs


def b64(data):
    return base64.b64encode(data).decode()


def report_data_nonce(a):
    """The nonce a report answers: its REPORT_DATA (SNP 0x50, TDX v4 quote 0x238), trailing zeros cut."""
    if a.snp_report:
        rd = read_bytes(a.snp_report)[0x50:0x90]
    elif a.tdx_quote:
        rd = read_bytes(a.tdx_quote)[0x238:0x278]
    else:
        sys.exit("--nonce-report-data needs --snp-report or --tdx-quote")
    return (rd.rstrip(b"\0") or b"\0").hex()


def build(a):
    ev = {"version": 1}
    if a.nonce is not None:
        ev["nonce"] = a.nonce
    elif a.nonce_report_data:
        ev["nonce"] = report_data_nonce(a)
    if a.hcl_report:
        ev["azure-hcl-report"] = b64(read_bytes(a.hcl_report))
    if a.snp_report:
        ev["snp-report"] = b64(read_bytes(a.snp_report))
    if a.tdx_quote:
        ev["tdx-quote"] = b64(read_bytes(a.tdx_quote))
    certs = [pem_from_der(read_bytes(f)) for f in a.cert_der]
    for f in a.cert_pem:
        certs += pems_of(f)
    if certs:
        ev["certificates"] = certs
    if a.pcrs_yaml:
        ev["pcrs"] = {"sha256": pcrs_from_yaml(a.pcrs_yaml)}
    if a.event_log:
        ev["event-log"] = b64(read_bytes(a.event_log))
    return ev


def walk(doc, path, create=False):
    """The object holding the last component of a dotted path, and that component."""
    keys = path.split(".")
    obj = doc
    for k in keys[:-1]:
        if k not in obj:
            if not create:
                sys.exit(f"no member {path}")
            obj[k] = {}
        obj = obj[k]
    return obj, keys[-1]


def edit(a):
    ev = load(a.evidence)
    for s in a.set:
        path, _, value = s.partition("=")
        obj, key = walk(ev, path, create=True)
        obj[key] = json.loads(value)
    for path in a.delete:
        obj, key = walk(ev, path)
        del obj[key]
    for spec in a.put:
        path, off, value = spec.rsplit(":", 2)
        obj, key = walk(ev, path)
        data = bytearray(base64.b64decode(obj[key]))
        off, value = int(off, 0), bytes.fromhex(value)
        if off + len(value) > len(data):
            sys.exit(f"{path} has {len(data)} bytes, no room for {len(value)} at {off:#x}")
        data[off:off + len(value)] = value
        obj[key] = b64(bytes(data))
    for spec in a.flip:
        path, _, off = spec.rpartition(":")
        obj, key = walk(ev, path)
        data = bytearray(base64.b64decode(obj[key]))
        off = int(off, 0)
        if off >= len(data):
            sys.exit(f"{path} has {len(data)} bytes, no offset {off:#x}")
        data[off] ^= 0x01
        obj[key] = b64(bytes(data))
    for spec in a.truncate:
        path, _, n = spec.rpartition(":")
        obj, key = walk(ev, path)
        obj[key] = b64(base64.b64decode(obj[key])[:int(n, 0)])
    if a.quote:
        ev["tpm-quote"] = forge_quote(a.quote, bytes.fromhex(ev.get("nonce", "")),
                                      ev.get("pcrs", {}).get("sha256", {}))
    if a.ak_public:
        ev.setdefault("tpm-quote", {})["ak-public"] = b64(tpm2b_public(a.ak_public))
    return ev


# ---- quotes forged with a key of one's own (what an attacker on the TPM channel can answer) ----

def openssl(*argv, data=None):
    p = subprocess.run(["openssl"] + list(argv), input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"openssl {' '.join(argv)}: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout


def rsa_modulus(key):
    out = openssl("rsa", "-in", key, "-noout", "-modulus").decode().strip()
    if not out.startswith("Modulus="):
        sys.exit(f"{key}: not an RSA key")
    return bytes.fromhex(out[len("Modulus="):])


def tpm2b(b):
    return struct.pack(">H", len(b)) + b


def tpm2b_public(key):
    """TPM2B_PUBLIC of an RSA restricted signing key (RSASSA-SHA256, noDA, as Azure's AK)."""
    n = rsa_modulus(key)
    attrs = 0x00050472     # fixedTPM fixedParent sensitiveDataOrigin userWithAuth noDA restricted sign
    area = struct.pack(">HHI", 0x0001, 0x000B, attrs) + tpm2b(b"") + \
        struct.pack(">HHHHI", 0x0010, 0x0014, 0x000B, len(n) * 8, 0) + tpm2b(n)
    return tpm2b(area)


def forge_quote(key, nonce, pcrs):
    """A TPMS_ATTEST of a quote over the sha256 PCRs given (ascending), with nonce as extraData,
    signed by key: a tpm-quote member."""
    sel = 0
    cat = b""
    for i in sorted(int(k) for k in pcrs):
        sel |= 1 << i
        cat += bytes.fromhex(pcrs[str(i)])
    selection = struct.pack(">IHB", 1, 0x000B, 3) + sel.to_bytes(3, "little")
    attest = struct.pack(">IH", 0xFF544347, 0x8018) + \
        tpm2b(b"\x00\x0b" + hashlib.sha256(b"a key of one's own").digest()) + tpm2b(nonce) + \
        struct.pack(">QIIB", 123456, 1, 0, 1) + struct.pack(">Q", 0x2023110200000000) + \
        selection + tpm2b(hashlib.sha256(cat).digest())
    sig = openssl("dgst", "-sha256", "-sign", key, data=attest)
    return {"message": b64(attest),
            "signature": b64(struct.pack(">HH", 0x0014, 0x000B) + tpm2b(sig)),
            "ak-public": b64(tpm2b_public(key))}


def member(doc, path):
    obj, key = walk(load(doc), path)
    if key not in obj:
        sys.exit(f"no member {path}")
    return base64.b64decode(obj[key])


def der_len(d, i):
    """The length of the DER element whose length octets start at i, and where its value starts."""
    n = d[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7f
    return int.from_bytes(d[i + 1:i + 1 + k], "big"), i + 1 + k


def hwid(path):
    d = read_bytes(path)
    oid = bytes.fromhex("06092b060104019c780104")      # OBJECT IDENTIFIER 1.3.6.1.4.1.3704.1.4
    i = d.find(oid)
    if i < 0:
        sys.exit(f"{path}: no hwID extension")
    i += len(oid)
    if d[i] == 0x01:                                    # critical BOOLEAN
        i += 3
    if d[i] != 0x04:
        sys.exit(f"{path}: the hwID extension has no OCTET STRING value")
    n, i = der_len(d, i + 1)
    value = d[i:i + n]
    if len(value) > 2 and value[0] == 0x04:             # the value is itself an OCTET STRING
        m, j = der_len(value, 1)
        if j + m == len(value):
            value = value[j:]
    return value


def parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--snp-report")
    b.add_argument("--tdx-quote")
    b.add_argument("--hcl-report")
    b.add_argument("--event-log")
    b.add_argument("--cert-der", action="append", default=[])
    b.add_argument("--cert-pem", action="append", default=[])
    b.add_argument("--pcrs-yaml")
    b.add_argument("--nonce")
    b.add_argument("--nonce-report-data", action="store_true")
    e = sub.add_parser("edit")
    e.add_argument("evidence")
    e.add_argument("--set", action="append", default=[])
    e.add_argument("--delete", action="append", default=[])
    e.add_argument("--put", action="append", default=[])
    e.add_argument("--flip", action="append", default=[])
    e.add_argument("--truncate", action="append", default=[])
    e.add_argument("--quote", metavar="KEY.pem")
    e.add_argument("--ak-public", metavar="KEY.pem")
    sub.add_parser("batch")
    sub.add_parser("serve")
    o = sub.add_parser("offset")
    o.add_argument("doc")
    o.add_argument("member")
    o.add_argument("text")
    o.add_argument("--hex", action="store_true")
    x = sub.add_parser("extract")
    x.add_argument("doc")
    x.add_argument("member")
    x.add_argument("start")
    x.add_argument("length")
    h = sub.add_parser("hwid")
    h.add_argument("cert")
    f = sub.add_parser("failures")
    f.add_argument("verdict")
    f = sub.add_parser("verdict")
    f.add_argument("verdict")
    g = sub.add_parser("get")
    g.add_argument("doc")
    g.add_argument("path")
    return ap


class NotAVerdict(Exception):
    pass


def verdict_lines(path):
    """The verdict, the failed check names, the claims (see `verdict`), as lines."""
    try:
        v = load(path)
    except (ValueError, OSError) as ex:
        raise NotAVerdict(f"not a JSON verdict: {ex}")
    if not isinstance(v, dict) or not isinstance(v.get("failures"), list) or \
            v.get("verdict") not in ("pass", "fail") or not isinstance(v.get("claims"), dict):
        raise NotAVerdict("not a verdict (no verdict, failures list or claims)")
    names = sorted({str(x).split(": ", 1)[0] for x in v["failures"]})
    lines = [v["verdict"], " ".join(names)]
    def claim(name, c):
        plain = isinstance(c, str) and "\n" not in c
        lines.append(f"{name}={c if plain else json.dumps(c, separators=(',', ':'))}")
        if isinstance(c, dict):
            for k, sub in c.items():
                claim(f"{name}.{k}", sub)

    for k, c in v["claims"].items():
        claim(k, c)
    return lines


def document(a):
    return build(a) if a.cmd == "build" else edit(a)


def write(doc, f):
    json.dump(doc, f, indent=1)
    f.write("\n")


def main():
    ap = parser()
    a = ap.parse_args()

    if a.cmd == "failures":
        try:
            v = load(a.verdict)
            for x in v["failures"]:
                print(str(x).split(": ", 1)[0])
        except (ValueError, OSError, KeyError, TypeError) as ex:
            print(f"not a verdict: {ex}", file=sys.stderr)
            sys.exit(2)
    elif a.cmd == "verdict":
        try:
            print("\n".join(verdict_lines(a.verdict)))
        except NotAVerdict as ex:
            print(ex, file=sys.stderr)
            sys.exit(2)
    elif a.cmd == "serve":
        for line in sys.stdin:
            try:
                out = verdict_lines(line.rstrip("\n"))
            except NotAVerdict as ex:
                out = ["error", str(ex).replace("\n", " ")]
            print("\n".join(out) + "\n.", flush=True)
    elif a.cmd == "offset":
        data = member(a.doc, a.member)
        i = data.find(bytes.fromhex(a.text) if a.hex else a.text.encode())
        if i < 0:
            sys.exit(2)
        print(i)
    elif a.cmd == "extract":
        start, n = int(a.start, 0), int(a.length, 0)
        data = member(a.doc, a.member)
        if start + n > len(data):
            sys.exit(f"{a.member} has {len(data)} bytes")
        print(b64(data[start:start + n]))
    elif a.cmd == "hwid":
        print(hwid(a.cert).hex())
    elif a.cmd == "get":
        try:
            obj = load(a.doc)
            for k in a.path.split("."):
                obj = obj[k]
        except (ValueError, OSError, KeyError, TypeError, IndexError):
            sys.exit(2)
        print(obj if isinstance(obj, str) else json.dumps(obj))
    elif a.cmd == "batch":
        for line in sys.stdin:
            if not line.strip():
                continue
            out, *argv = line.rstrip("\n").split("\t")
            j = ap.parse_args(argv)
            if j.cmd not in ("build", "edit"):
                sys.exit(f"batch: {j.cmd} is not build or edit")
            doc = document(j)
            with open(out, "w") as f:
                write(doc, f)
    else:
        write(document(a), sys.stdout)


if __name__ == "__main__":
    main()
