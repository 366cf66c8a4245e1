#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The rekey's new key must be one that only the VM can have made, whatever the host writes into the
# header between a first boot's enrollment and the start of its rekey (docs/threat-model.md, "the
# rekey's keyslot").  The state in between is made with the fault shim: `provision` whose
# crypt_reencrypt_init_by_passphrase fails has enrolled (a token whose keyslot holds the new key,
# unbound) and removed the marker, and the next boot's provision starts the rekey.  Then, as the host:
#
# - the token's own keyslot rewritten as a cipher_null keyslot for a key of the host's choosing
#   (libcryptsetup before 2.8.1 opens such a keyslot with any passphrase, cryptsetup issue #954): the
#   next provision refuses to start the rekey, naming the planted keyslot, and changes nothing;
# - a copy of the token naming another unbound cipher_null keyslot of the host's key: the next
#   provision starts the rekey to the key of the token that unsealed, never to the host's;
# - the first boot interrupted at the same point, with nothing planted: the next provision starts the
#   rekey, and does not enroll a second time.
#
# Where AF_ALG sockets are missing (this sandbox), libcryptsetup cannot read a cipher_null keyslot at
# all, so the code before the fix failed there too, only later and for another reason: the assertions
# on the message and on which digest the new segment uses tell the fixed code from the unfixed one.
set -euo pipefail
. "$(dirname "$0")/../integration/lib.sh"
[ -n "${FAULT_SHIM:-}" ] && [ -e "$FAULT_SHIM" ] || skip "the fault shim is not built (FAULT_SHIM)"
for tool in swtpm cryptsetup python3; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done

tcti=$(start_swtpm tpm) || exit 1
key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
head -c 1M /dev/urandom >"$T/raw"
expect_exit 0 "$CVMSEAL" image encrypt "$T/raw" "$T/pristine" --unlock-key-file "$key" --fast-kdf --tpm2-pcrs 7

# ---- a first boot cut between the enrollment and the rekey's start ----
cp --sparse=always "$T/pristine" "$T/cut.img"
FAULT_FUNCTION=crypt_reencrypt_init_by_passphrase FAULT_CALL=1 LD_PRELOAD=$FAULT_SHIM \
        "$CVMSEAL" --tcti "$tcti" provision "$T/cut.img" >"$T/o" 2>"$T/e" </dev/null && rc=0 || rc=$?
[ "$rc" = 1 ] || fail "provision with the reencryption's start failing exited $rc, not 1: $(cat "$T/e")"
cryptsetup luksDump --dump-json-metadata "$T/cut.img" >"$T/cut.json" || fail "luksDump"
# The token's keyslot: unbound (the new key), no marker, no reencryption yet.
kslot=$(python3 - "$T/cut.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
toks = [t for t in d["tokens"].values() if t["type"] == "cvmseal" and t.get("keyslots")]
assert len(toks) == 1, toks
assert not any(t["type"] == "cvmseal-provision" for t in d["tokens"].values())
assert not any(s["type"] == "reencrypt" for s in d["keyslots"].values())
k = toks[0]["keyslots"][0]
assert not any(k in g["keyslots"] and g["segments"] for g in d["digests"].values()), "the token's keyslot is bound"
print(k)
EOF
) || fail "the state after the cut: $(cat "$T/cut.json")"

# nullslot IMG SLOT VKFILE: keyslot SLOT of IMG rewritten as a cipher_null keyslot holding the key in
# VKFILE (AF-split with SHA-256, as LUKS2 does; both header copies and their checksums rewritten):
# what the host can do without knowing any key of the volume.
nullslot() {
        python3 - "$@" <<'EOF'
import hashlib, json, struct, sys
img, slot, vkfile = sys.argv[1], sys.argv[2], sys.argv[3]
vk = open(vkfile, "rb").read()
f = open(img, "r+b")
hdr_size = struct.unpack(">Q", f.read(16)[8:16])[0]
f.seek(0)
js = json.loads(bytes(f.read(hdr_size)[4096:]).rstrip(b"\0"))
ks = js["keyslots"][slot]
assert ks["af"]["hash"] == "sha256"
def diffuse(src):
    out, n = b"", len(src) // 32
    for i in range(n):
        out += hashlib.sha256(struct.pack(">I", i) + src[i * 32:(i + 1) * 32]).digest()
    if len(src) % 32:
        out += hashlib.sha256(struct.pack(">I", n) + src[n * 32:]).digest()[:len(src) % 32]
    return out
d = bytes(len(vk))
for _ in range(ks["af"]["stripes"] - 1):
    d = diffuse(d)
af = bytes(len(vk)) * (ks["af"]["stripes"] - 1) + bytes(a ^ b for a, b in zip(d, vk))
af += bytes((-len(af)) % 512)
f.seek(int(ks["area"]["offset"]))
f.write(af)
ks["area"]["encryption"] = "cipher_null-ecb"
ks["area"]["key_size"] = 32
for at in (0, hdr_size):
    f.seek(at)
    b = bytearray(f.read(hdr_size))
    j = json.dumps(js, separators=(",", ":")).encode()
    b[4096:] = j + bytes(hdr_size - 4096 - len(j))
    b[448:512] = bytes(64)
    b[448:480] = hashlib.sha256(bytes(b)).digest()
    f.seek(at)
    f.write(b)
EOF
}
vksize=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(int(d["keyslots"][sys.argv[2]]["key_size"]))' "$T/cut.json" "$kslot")
head -c "$vksize" /dev/urandom >"$T/host.vk"

# ---- the token's own keyslot, planted ----
cp --sparse=always "$T/cut.img" "$T/p1.img"
nullslot "$T/p1.img" "$kslot" "$T/host.vk" || fail "nullslot"
sum=$(header_sum "$T/p1.img")
"$CVMSEAL" --tcti "$tcti" provision "$T/p1.img" >"$T/o" 2>"$T/e" </dev/null && rc=0 || rc=$?
[ "$rc" != 0 ] || fail "provision started a rekey to a planted cipher_null keyslot"
"$CVMSEAL" --tcti "$tcti" -v provision "$T/p1.img" >/dev/null 2>"$T/e" </dev/null || true
grep -q "cipher_null" "$T/e" || fail "the refusal does not name the planted keyslot (exit $rc): $(cat "$T/e")"
[ "$(header_sum "$T/p1.img")" = "$sum" ] || fail "the refused provision changed the header"

# ---- a copy of the token, naming a planted keyslot of the host's ----
cp --sparse=always "$T/cut.img" "$T/p2.img"
printf 'host' >"$T/hostpass"
cryptsetup luksAddKey --batch-mode --unbound -s $((vksize * 8)) --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        "$T/p2.img" "$T/hostpass" </dev/null >/dev/null 2>"$T/e" || fail "an unbound keyslot: $(cat "$T/e")"
cryptsetup luksDump --dump-json-metadata "$T/p2.img" >"$T/p2.json" || fail "luksDump"
# The host's keyslot: the one that was not there after the cut.
hslot=$(python3 -c 'import json, sys; a, b = (set(json.load(open(f))["keyslots"]) for f in sys.argv[1:]); (k,) = b - a; print(k)' \
        "$T/cut.json" "$T/p2.json") || fail "which keyslot luksAddKey added"
[ "$hslot" != "$kslot" ] || fail "the host's keyslot is the token's"
nullslot "$T/p2.img" "$hslot" "$T/host.vk" || fail "nullslot"
tid=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print([k for k, t in d["tokens"].items() if t["type"] == "cvmseal"][0])' "$T/p2.json")
cryptsetup token export --token-id "$tid" "$T/p2.img" >"$T/tok.json" || fail "token export"
python3 -c 'import json, sys; t = json.load(open(sys.argv[1])); t["keyslots"] = [sys.argv[2]]; print(json.dumps(t))' \
        "$T/tok.json" "$hslot" >"$T/forged.json"
cryptsetup token import --json-file "$T/forged.json" "$T/p2.img" || fail "import the forged token"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" provision "$T/p2.img"
cryptsetup luksDump --dump-json-metadata "$T/p2.img" >"$T/p2after.json" || fail "luksDump"
python3 - "$T/p2after.json" "$kslot" "$hslot" <<'EOF' || fail "the rekey's new key: $(cat "$T/p2after.json")"
import json, sys
d = json.load(open(sys.argv[1]))
k, h = sys.argv[2], sys.argv[3]
assert any(s["type"] == "reencrypt" for s in d["keyslots"].values()), "no reencryption started"
for g in d["digests"].values():
    if h in g["keyslots"]:
        assert not g["segments"], "the host's key (keyslot %s) is a segment's: %s" % (h, g)
    if k in g["keyslots"]:
        assert g["segments"], "the token's key (keyslot %s) is no segment's: %s" % (k, g)
EOF
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/p2.img"

# ---- nothing planted: the next provision starts the rekey, no second enrollment ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" provision "$T/cut.img"
cryptsetup luksDump --dump-json-metadata "$T/cut.img" >"$T/cut2.json" || fail "luksDump"
python3 - "$T/cut2.json" <<'EOF' || fail "after the next provision: $(cat "$T/cut2.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert sum(t["type"] == "cvmseal" for t in d["tokens"].values()) == 1, "enrolled a second time"
assert any(s["type"] == "reencrypt" for s in d["keyslots"].values()), "no reencryption started"
EOF
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/cut.img"
note "planted cipher_null keyslots refused; the rekey goes to the unsealed token's key"
