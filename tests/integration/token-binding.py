#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The binding and the authValue of a version 2 cvmseal token, from docs/token-format.md alone.

An independent reading of the documented format (standard library only, no cvmseal code): the tests
use it to unseal a token's object with tpm2-tools, and to show that the documented derivation is
the one the TPM enforces.

Usage: token-binding.py TOKEN.json UUID TOKEN-ID [--pin PIN-FILE] [--binding]
         prints the hex authValue (with --binding: the binding itself)
       token-binding.py --marker MARKER.json UUID
         prints the passphrase of a version 2 provisioning marker's keyslot
"""

import base64
import hashlib
import hmac
import json
import sys


def hkdf_sha256(ikm, salt, info, length=32):
    prk = hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()
    out, block = b"", b""
    for i in range(1, (length + 31) // 32 + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
    return out[:length]


def marker_passphrase(marker, uuid):
    canonical = {k: v for k, v in marker.items() if k not in ("secret", "keyslots")}
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=True)
    okm = hkdf_sha256(marker["secret"].encode(), None,
                      b"cvmseal provision v2\0" + uuid.encode() + text.encode())
    return base64.b64encode(okm).decode()


def binding(token, uuid, token_id):
    canonical = json.loads(json.dumps(token))
    for member in ("public", "private", "import"):
        canonical["tpm2"].pop(member, None)
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(b"cvmseal token binding v2\0" + uuid.encode() + token_id.to_bytes(4, "big") +
                          text.encode()).digest()


def main():
    args = sys.argv[1:]
    if args and args[0] == "--marker":
        marker = json.load(open(args[1]))
        if marker.get("version") != 2:
            sys.exit("not a version 2 marker")
        sys.stdout.write(marker_passphrase(marker, args[2]))
        return
    pin = None
    want_binding = "--binding" in args
    args = [a for a in args if a != "--binding"]
    if "--pin" in args:
        i = args.index("--pin")
        pin = open(args[i + 1], "rb").read().rstrip(b"\r\n")
        del args[i:i + 2]
    path, uuid, token_id = args
    token = json.load(open(path))
    if token.get("version") != 2:
        sys.exit("not a version 2 token")
    b = binding(token, uuid, int(token_id))
    if want_binding:
        print(b.hex())
        return
    auth = hashlib.sha256(b + (hashlib.sha256(pin).digest() if pin is not None else b"")).digest()
    print(auth.hex())


if __name__ == "__main__":
    main()
