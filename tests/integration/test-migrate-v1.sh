#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Version 1 tokens (made by earlier cvmseal releases) still unlock, with a warning on stderr and in
# `list`, and `cvmseal reseal` turns them into version 2 without losing access (docs/token-format.md,
# "Migration").  The version 1 token is built here without cvmseal, from its documentation: an object
# sealed by tpm2-tools to PolicyPCR(sha256:7) (noda, no PolicyAuthValue), a keyslot whose passphrase
# is HKDF-SHA256(share, salt, "cvmseal v1" || UUID || be32(0)), and the token's JSON.
. "$(dirname "$0")/lib.sh"

for tool in python3 tpm2_createpolicy tpm2_create tpm2_readpublic tpm2_flushcontext; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, tpm2-tools)"
done
tcti=$(start_swtpm tpm) || exit 1
export TPM2TOOLS_TCTI=$tcti
key=$T/key
img=$T/img
make_image "$img" "$key"

# The SRK (the TCG ECC template cvmseal uses), without pinning it: an older release pinned nothing.
CVMSEAL_CONFDIR=$T/none "$CVMSEAL" --tcti "$tcti" srk export --create --output "$T/srk.pub" || fail "srk export"
rm -rf "$CVMSEAL_CONFDIR"
tpm2_readpublic -Q -c 0x81000001 -n "$T/srk.name" || fail "tpm2_readpublic"
head -c 32 /dev/urandom >"$T/share"
tpm2_createpolicy -Q --policy-pcr -l sha256:7 -L "$T/policy" || fail "tpm2_createpolicy"
tpm2_create -Q -C 0x81000001 -L "$T/policy" -a "fixedtpm|fixedparent|noda" -i "$T/share" \
        -u "$T/obj.pub" -r "$T/obj.priv" || fail "tpm2_create"
tpm2_flushcontext -t >/dev/null 2>&1

uuid=$(cryptsetup luksUUID "$img")
python3 - "$T" "$uuid" <<'EOF' || fail "writing the version 1 token"
import base64, hashlib, hmac, json, os, sys
t, uuid = sys.argv[1], sys.argv[2]
rd = lambda n: open(os.path.join(t, n), "rb").read()
salt = os.urandom(32)
info = b"cvmseal v1" + uuid.encode() + (0).to_bytes(4, "big")
prk = hmac.new(salt, rd("share"), hashlib.sha256).digest()
open(os.path.join(t, "pass"), "w").write(base64.b64encode(hmac.new(prk, info + b"\x01", hashlib.sha256).digest()).decode())
tok = {"type": "cvmseal", "keyslots": ["1"], "version": 1,
       "kdf": {"type": "hkdf-sha256", "salt": base64.b64encode(salt).decode()},
       "tpm2": {"srk-handle": 0x81000001, "srk-name": rd("srk.name").hex(), "pcr-bank": "sha256", "pcrs": [7],
                "pin": False, "policy": rd("policy").hex(),
                "public": base64.b64encode(rd("obj.pub")).decode(), "private": base64.b64encode(rd("obj.priv")).decode()}}
json.dump(tok, open(os.path.join(t, "v1.json"), "w"))
EOF
cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-slot 1 \
        --key-file "$key" "$img" "$T/pass" || fail "luksAddKey"
cryptsetup token import --token-id 0 --json-file "$T/v1.json" "$img" || fail "token import"

# It unlocks, and says it is version 1.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_in "$err" "warning: token 0 of .* is version 1" "unlock of a version 1 token"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json list "$img"
pycheck "$out" "d['tokens'][0]['version'] == 1 and 'version 1' in d['tokens'][0]['warning']" "list --json"
expect_in "$err" "warning: token 0: version 1" "list's warning on stderr"

# reseal makes it version 2, with the same PCRs, through an unseal of the old one.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$img"
pycheck "$out" "d['resealed'][0]['version'] == 2 and d['resealed'][0]['removed']['version'] == 1 and d['resealed'][0]['pcrs'] == [7]" \
        "reseal of the version 1 token"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
! grep -q "warning" <<<"$err" || fail "unlock still warns after the reseal: $err"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json list "$img"
pycheck "$out" "len(d['tokens']) == 1 and d['tokens'][0]['version'] == 2 and 'warning' not in d['tokens'][0] and d['tokens'][0]['srk-pinned'] is True" \
        "list after the reseal"
key_opens "$key" "$img" 0
cryptsetup open --test-passphrase --key-file "$T/pass" "$img" 2>/dev/null && fail "the version 1 keyslot is still there"
echo PASS
