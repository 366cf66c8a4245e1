#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Converts the Azure vTPM evidence of ../shared/testdata/azure (confidential-containers/trustee's
az-snp-vtpm format, versions 0 and 1) into cvmseal's evidence document (DESIGN, "Evidence and policy
documents"), so that real Azure evidence runs through `cvmseal attest verify`.

trustee v1: {"version": 1, "hcl_report": base64, "tpm_quote": {"message": hex TPMS_ATTEST,
             "signature": hex raw RSASSA signature, "pcrs": [24 hex sha256 values]}, "vcek": base64 DER}
trustee v0: {"report": [bytes], "quote": "{'message': [bytes], 'signature': [bytes], 'pcrs': [[bytes]...]}",
             "vcek": PEM}

cvmseal:    azure-hcl-report (the HCL report), tpm-quote.message (TPMS_ATTEST), tpm-quote.signature
            (a TPMT_SIGNATURE: RSASSA, SHA-256, the raw signature), pcrs.sha256 {"0".."23"},
            nonce (the quote's extraData, which trustee's verifier issued), certificates (the VCEK,
            plus the ASK and ARK given with --chain).  ak-public is absent: HCLAkPub is the AK.

Usage: trustee-to-evidence.py TRUSTEE.json [--chain ask_ark_milan.pem] > evidence.json
"""
import argparse
import ast
import base64
import json
import struct
import sys


def pem(der):
    b = base64.b64encode(der).decode()
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + \
        "\n-----END CERTIFICATE-----\n"


def b64any(s):
    """Standard or URL-safe base64, padded or not (trustee writes the latter)."""
    s = s.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4))


def extra_data(attest):
    """extraData of a TPMS_ATTEST: magic u32, type u16, qualifiedSigner TPM2B, extraData TPM2B."""
    magic, _type = struct.unpack(">IH", attest[:6])
    if magic != 0xff544347:
        sys.exit("not a TPMS_ATTEST")
    (n,) = struct.unpack(">H", attest[6:8])
    off = 8 + n
    (m,) = struct.unpack(">H", attest[off:off + 2])
    return attest[off + 2:off + 2 + m]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trustee")
    ap.add_argument("--chain", help="a PEM file with the ASK and the ARK")
    a = ap.parse_args()

    d = json.load(open(a.trustee))
    if "hcl_report" in d:                       # v1
        hcl = b64any(d["hcl_report"])
        q = d["tpm_quote"]
        message = bytes.fromhex(q["message"])
        signature = bytes.fromhex(q["signature"])
        pcrs = [bytes.fromhex(p) for p in q["pcrs"]]
        vcek = pem(b64any(d["vcek"]))
    else:                                       # v0
        hcl = bytes(d["report"])
        q = ast.literal_eval(d["quote"]) if isinstance(d["quote"], str) else d["quote"]
        message = bytes(q["message"])
        signature = bytes(q["signature"])
        pcrs = [bytes(p) for p in q["pcrs"]]
        vcek = d["vcek"]

    tpmt_signature = struct.pack(">HHH", 0x0014, 0x000B, len(signature)) + signature
    certs = [vcek]
    if a.chain:
        text = open(a.chain).read()
        certs += ["-----BEGIN CERTIFICATE-----" + c.split("-----END CERTIFICATE-----")[0] +
                  "-----END CERTIFICATE-----\n" for c in text.split("-----BEGIN CERTIFICATE-----")[1:]]

    evidence = {
        "version": 1,
        "nonce": extra_data(message).hex(),
        "azure-hcl-report": base64.b64encode(hcl).decode(),
        "certificates": certs,
        "tpm-quote": {"message": base64.b64encode(message).decode(),
                      "signature": base64.b64encode(tpmt_signature).decode()},
        "pcrs": {"sha256": {str(i): p.hex() for i, p in enumerate(pcrs)}},
    }
    json.dump(evidence, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
