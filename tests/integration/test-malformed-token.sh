#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A damaged cvmseal token is refused as malformed, never half-used, and never costs the volume: for
# each damage applied to a freshly enrolled token (every top-level, kdf and tpm2 member removed in
# turn, members of the wrong type, version 3, version 1 with version 2's members, unknown members,
# salt that is not base64 or not 32 bytes, a truncated or bit-flipped private blob, a public area
# whose authPolicy differs from "policy", PCR values or a PCR list that do not give "policy",
# srk-name not hex, pcrs [99] and [], a keyslot binding to the wrong keyslot or to none, a changed
# salt that the TPM refuses through the token's binding) `unlock --test` exits 10 saying the token is malformed or
# damaged and writes nothing, `list` still works and marks damage it can see without the TPM as
# "valid": false, and the original key still opens the image.  Damages that libcryptsetup's own
# validation refuses (no "type", no "keyslots", a keyslot that does not exist) are asserted refused
# on import.  `remove --token 0` still removes a malformed token and its keyslot.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"

TCTI=$(start_swtpm tpm)
KEY=$T/key
make_image "$T/enrolled.img" "$KEY"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$T/enrolled.img" --unlock-key-file "$KEY"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/enrolled.img"
cryptsetup token export --token-id 0 "$T/enrolled.img" >"$T/token.json" || fail "token export"
python3 - "$T/token.json" <<'EOF' || fail "the enrolled token is not what this test expects: $(cat "$T/token.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["type"] == "cvmseal" and t["keyslots"] == ["1"] and t["version"] == 2, t
assert set(t["tpm2"]) == {"srk-handle", "srk-name", "pcr-bank", "pcrs", "pcr-values", "pin", "policy", "public", "private"}
EOF

# The damages, applied by name to the token JSON.
cat >"$T/damage.py" <<'EOF'
import base64, json, sys

src, outdir, damages = sys.argv[1], sys.argv[2], sys.argv[3:]

def b64(b):
    return base64.b64encode(b).decode()

def flip(b, i):
    b = bytearray(b)
    b[i] ^= 0x01
    return bytes(b)

def damaged(damage):
    t = json.load(open(src))
    tpm2, kdf = t["tpm2"], t["kdf"]
    if damage.startswith("del-top-"):
        del t[damage[len("del-top-"):]]
    elif damage.startswith("del-tpm2-"):
        del tpm2[damage[len("del-tpm2-"):]]
    elif damage.startswith("del-kdf-"):
        del kdf[damage[len("del-kdf-"):]]
    elif damage == "version-string":
        t["version"] = "1"
    elif damage == "version-3":
        t["version"] = 3
    elif damage == "version-1":
        t["version"] = 1            # version 1 has no pcr-values
    elif damage == "pcr-value-changed":
        tpm2["pcr-values"]["7"] = "%064x" % (int(tpm2["pcr-values"]["7"], 16) ^ 1)
    elif damage == "pcr-values-missing-15":
        del tpm2["pcr-values"]["15"]
    elif damage == "pcr-values-extra":
        tpm2["pcr-values"]["8"] = "00" * 32
    elif damage == "pcr-values-key-07":
        tpm2["pcr-values"]["07"] = tpm2["pcr-values"].pop("7")
    elif damage == "pcrs-drop-lock":
        tpm2["pcrs"] = [7]
        del tpm2["pcr-values"]["15"]
    elif damage == "pcrs-string":
        tpm2["pcrs"] = "7"
    elif damage == "pin-string":
        tpm2["pin"] = "false"
    elif damage == "pin-true":
        tpm2["pin"] = True          # disagrees with the sealed object (noda, no PIN)
    elif damage == "srk-handle-string":
        tpm2["srk-handle"] = str(tpm2["srk-handle"])
    elif damage == "tpm2-string":
        t["tpm2"] = "sealed"
    elif damage == "unknown-top-member":
        t["x-future"] = {"policy": "x"}   # a member this version does not know
    elif damage == "attest-not-base64":
        t["attest"] = {"policy": "not base64!"}
    elif damage == "hsm-incomplete":
        t["hsm"] = {"uri": "pkcs11:token=x"}
    elif damage == "unknown-tpm2-hsm":
        tpm2["hsm"] = "pkcs11:token=x"
    elif damage == "unknown-kdf-member":
        kdf["iterations"] = 1
    elif damage == "kdf-type-other":
        kdf["type"] = "pbkdf2"
    elif damage == "salt-not-base64":
        kdf["salt"] = "not base64!*" * 3
    elif damage == "salt-31-bytes":
        kdf["salt"] = b64(base64.b64decode(kdf["salt"])[:31])
    elif damage == "salt-changed":
        old = base64.b64decode(kdf["salt"])
        kdf["salt"] = b64(bytes((b + 1) & 0xFF for b in old))
    elif damage == "private-truncated":
        p = base64.b64decode(tpm2["private"])
        tpm2["private"] = b64(p[: len(p) // 2])
    elif damage == "private-flipped":
        p = base64.b64decode(tpm2["private"])
        tpm2["private"] = b64(flip(p, 2 + (len(p) - 2) // 2))
    elif damage == "public-authpolicy-flipped":
        # TPM2B_PUBLIC: size(2) type(2) nameAlg(2) objectAttributes(4) authPolicy: size(2) digest(32)
        p = base64.b64decode(tpm2["public"])
        assert p[10:12] == b"\x00\x20" and p[12:44].hex() == tpm2["policy"], "unexpected public layout"
        tpm2["public"] = b64(flip(p, 12 + 5))
    elif damage == "public-truncated":
        p = base64.b64decode(tpm2["public"])
        tpm2["public"] = b64(p[: len(p) // 2])
    elif damage == "policy-changed":
        tpm2["policy"] = "%064x" % (int(tpm2["policy"], 16) ^ 1)
    elif damage == "srk-name-not-hex":
        tpm2["srk-name"] = "zz" + tpm2["srk-name"][2:]
    elif damage == "srk-name-short":
        tpm2["srk-name"] = tpm2["srk-name"][:-2]
    elif damage == "srk-handle-other":
        tpm2["srk-handle"] = 0x81000002
    elif damage == "pcr-bank-sha1":
        tpm2["pcr-bank"] = "sha1"
    elif damage == "pcrs-99":
        tpm2["pcrs"] = [99]
    elif damage == "pcrs-empty":
        tpm2["pcrs"] = []
    elif damage == "pcrs-duplicate":
        tpm2["pcrs"] = [7, 7]
    elif damage == "keyslots-other-slot":
        t["keyslots"] = ["0"]       # exists, but is not the token's keyslot
    elif damage == "keyslots-absent-slot":
        t["keyslots"] = ["9"]       # no such keyslot
    elif damage == "keyslots-two":
        t["keyslots"] = ["0", "1"]
    elif damage == "intact":
        pass
    else:
        sys.exit("unknown damage " + damage)
    return t

for damage in damages:
    json.dump(damaged(damage), open("%s/%s.json" % (outdir, damage), "w"))
EOF

# Every damage this test applies; each becomes $T/d/NAME.json in one python run.
TOP=(version kdf tpm2)
KDF=(type salt)
TPM2=(srk-handle srk-name pcr-bank pcrs pcr-values pin policy public private)
DAMAGES=(del-top-type del-top-keyslots intact
        "${TOP[@]/#/del-top-}" "${KDF[@]/#/del-kdf-}" "${TPM2[@]/#/del-tpm2-}"
        version-string pcrs-string pin-string srk-handle-string tpm2-string
        version-3 version-1 pcr-value-changed pcr-values-missing-15 pcr-values-extra pcr-values-key-07 pcrs-drop-lock
        unknown-top-member attest-not-base64 hsm-incomplete unknown-tpm2-hsm unknown-kdf-member kdf-type-other salt-not-base64
        salt-31-bytes srk-name-not-hex srk-name-short srk-handle-other pcr-bank-sha1 pcrs-99 pcrs-empty
        pcrs-duplicate private-truncated public-truncated public-authpolicy-flipped policy-changed pin-true
        private-flipped keyslots-absent-slot keyslots-other-slot keyslots-two salt-changed)
mkdir "$T/d"
python3 "$T/damage.py" "$T/token.json" "$T/d" "${DAMAGES[@]}" || fail "cannot write the damaged tokens"

# fresh NAME DAMAGE: $IMG becomes a copy of the enrolled image whose token 0 is the damaged JSON;
# returns 1 if libcryptsetup refuses to import it.
fresh() {
        IMG=$T/$1.img
        cp --sparse=always "$T/enrolled.img" "$IMG" || fail "cp"
        cryptsetup token remove --token-id 0 "$IMG" || fail "token remove ($1)"
        cryptsetup token import --token-id 0 --json-file "$T/d/$2.json" "$IMG" 2>"$T/import.err"
}

# The verdicts of `list --json` are checked all at once at the end (python is slow to start), so
# that one run reports every damage that list misses.
mkdir "$T/lists"

# check_malformed DAMAGE LISTED [WHERE]: the damaged token is refused with exit 10 and the malformed
# message, unlock writes nothing, list works and reports "valid" as LISTED ("false", or "any" for
# damage only the TPM or the keyslot can reveal), and the original key still opens the image.
# WHERE, if given, must appear in the -v output: it says which member is damaged.
check_malformed() {
        local damage=$1 listed=$2 where=${3:-} sum
        fresh "$damage" "$damage" || fail "$damage: cryptsetup refused the damaged token: $(cat "$T/import.err")"
        sum=$(header_sum "$IMG")

        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
        expect_in "$err" "^cvmseal: $IMG: the cvmseal token is malformed or damaged" "$damage: unlock --test stderr"
        [ -z "$out" ] || fail "$damage: unlock --test wrote to stdout: $out"

        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --print-key --token 0 "$IMG"
        [ -z "$out" ] || fail "$damage: unlock --print-key printed something for a malformed token"
        expect_in "$err" "malformed or damaged" "$damage: unlock --print-key stderr"

        expect_exit 10 "$CVMSEAL" --tcti "$TCTI" --json unlock --test "$IMG"
        expect_in "$out" '"exit-code": 10' "$damage: --json error document"
        expect_in "$out" '"error": ".*malformed or damaged' "$damage: --json error document"

        if [ -n "$where" ]; then
                expect_exit 10 "$CVMSEAL" --tcti "$TCTI" -v unlock --test "$IMG"
                expect_in "$err" "$where" "$damage: -v output"
        fi

        expect_exit 0 "$CVMSEAL" list --json "$IMG"
        printf '%s' "$out" >"$T/lists/$damage.$listed.json"
        expect_exit 0 "$CVMSEAL" list "$IMG"
        printf '%s' "$out" >"$T/lists/$damage.$listed.txt"

        cryptsetup open --test-passphrase --key-slot 0 --key-file "$KEY" "$IMG" \
                || fail "$damage: the original key no longer opens keyslot 0"
        [ "$(header_sum "$IMG")" = "$sum" ] || fail "$damage: unlock or list changed the header"
        rm -f "$IMG"
}

# check_refused DAMAGE: libcryptsetup's own token validation refuses it, so it cannot reach cvmseal.
check_refused() {
        fresh "$1" "$1" && fail "$1: cryptsetup imported a token it should refuse"
        note "$1: cryptsetup itself refuses to import it ($(tr '\n' ' ' <"$T/import.err"))"
        rm -f "$IMG"
}

n=0
# Every member, removed in turn.  libcryptsetup itself needs "type" and "keyslots".
check_refused del-top-type
check_refused del-top-keyslots
for m in "${TOP[@]}"; do
        check_malformed "del-top-$m" false "member '$m' is missing"; n=$((n + 1))
done
for m in "${KDF[@]}"; do
        check_malformed "del-kdf-$m" false "member 'kdf.$m' is missing"; n=$((n + 1))
done
for m in "${TPM2[@]}"; do
        check_malformed "del-tpm2-$m" false "member 'tpm2.$m' is missing"; n=$((n + 1))
done

# Wrong types.
check_malformed version-string false "member 'version' has the wrong type"
check_malformed pcrs-string false "member 'tpm2.pcrs' has the wrong type"
check_malformed pin-string false "member 'tpm2.pin' has the wrong type"
check_malformed srk-handle-string false "member 'tpm2.srk-handle' has the wrong type"
check_malformed tpm2-string false "member 'tpm2' has the wrong type"
n=$((n + 5))

# Values a reader must not guess at.
check_malformed version-3 false "version 3 is not supported"
check_malformed version-1 false "'tpm2.pcr-values' is not a member of version 1"
check_malformed unknown-top-member false "unknown member 'x-future'"
check_malformed attest-not-base64 false "member 'attest.policy' is not base64"
check_malformed hsm-incomplete false "member 'hsm.mechanism' is missing"
check_malformed unknown-tpm2-hsm false "unknown member 'tpm2.hsm'"
check_malformed unknown-kdf-member false "unknown member 'kdf.iterations'"
check_malformed kdf-type-other false "kdf.type"
check_malformed salt-not-base64 false "member 'kdf.salt' is not base64"
check_malformed salt-31-bytes false "member 'kdf.salt' has the wrong length"
check_malformed srk-name-not-hex false "member 'tpm2.srk-name' is not hex"
check_malformed srk-name-short false "member 'tpm2.srk-name' has the wrong length"
check_malformed srk-handle-other false "'srk-handle' is not 0x81000001"
check_malformed pcr-bank-sha1 false "pcr-bank"
check_malformed pcrs-99 false "member 'tpm2.pcrs' has an entry out of range"
check_malformed pcrs-empty false "member 'tpm2.pcrs' has the wrong number of entries"
check_malformed pcrs-duplicate false "member 'tpm2.pcrs' has a duplicate entry"
n=$((n + 15))

# Version 2: the policy is the one the PCRs and their values give, checked without the TPM.
check_malformed pcr-value-changed false "'policy' is not the one its PCRs"
check_malformed pcr-values-missing-15 false "'pcr-values' does not give the values of 'pcrs'"
check_malformed pcr-values-extra false "'pcr-values' does not give the values of 'pcrs'"
check_malformed pcr-values-key-07 false "member 'tpm2.pcr-values' has a key that is not a PCR number"
check_malformed pcrs-drop-lock false "'policy' is not the one its PCRs"
n=$((n + 5))

# The TPM blobs.  A blob that is not a TPM2B, or a public area whose authPolicy is not "policy",
# or whose noda attribute disagrees with "pin", is visible without the TPM: list must not call
# such a token valid either.
check_malformed private-truncated false "'private' is not a TPM2B_PRIVATE"
check_malformed public-truncated false "'public' is not a TPM2B_PUBLIC"
check_malformed public-authpolicy-flipped false "'policy' differs from the sealed object"
check_malformed policy-changed false "'policy' differs from the sealed object"
check_malformed pin-true false "'pin' disagrees with the sealed object"
# Only the TPM can tell that a flipped bit inside the encrypted private part is damage.
check_malformed private-flipped any "Load \(sealed object\) failed"
n=$((n + 6))

# The keyslot binding.
check_refused keyslots-absent-slot
# Version 2 binds the keyslot: the TPM refuses the Unseal (no PIN, so no dictionary-attack count).
check_malformed keyslots-other-slot any "refused the token's binding"
check_malformed keyslots-two false "member 'keyslots' does not name exactly one keyslot"
n=$((n + 2))

# The token names keyslot 1, and keyslot 1 goes away (luksKillSlot unbinds it from the token, which
# then names no keyslot).
fresh killed-slot intact || fail "re-import of the intact token: $(cat "$T/import.err")"
cryptsetup luksKillSlot -q --key-file "$KEY" "$IMG" 1 || fail "luksKillSlot 1"
sum=$(header_sum "$IMG")
expect_exit 10 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
expect_in "$err" "the cvmseal token is malformed or damaged" "killed keyslot: unlock --test stderr"
[ "$(header_sum "$IMG")" = "$sum" ] || fail "killed keyslot: unlock --test changed the header"
expect_exit 0 "$CVMSEAL" list --json "$IMG"
printf '%s' "$out" >"$T/lists/killed-slot.false.json"
expect_exit 0 "$CVMSEAL" list "$IMG"
printf '%s' "$out" >"$T/lists/killed-slot.false.txt"
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "killed keyslot: the original key no longer opens"
rm -f "$IMG"
n=$((n + 1))

# The salt changes: version 2 binds it too, and the TPM refuses the Unseal.
check_malformed salt-changed any "refused the token's binding"
n=$((n + 1))

# A malformed token is still removable, with its keyslot, while another keyslot remains.
for damage in version-3 private-truncated pcrs-empty; do
        fresh "rm-$damage" "$damage" || fail "import $damage"
        expect_exit 0 "$CVMSEAL" --json remove "$IMG" --token 0
        expect_in "$(tr -d ' \n' <<<"$out")" '"removed-token":0,"removed-keyslots":\[1\]' "remove ($damage) --json output"
        cryptsetup token export --token-id 0 "$IMG" >/dev/null 2>&1 && fail "remove ($damage): token 0 is still there"
        cryptsetup luksDump "$IMG" >"$T/dump" || fail "luksDump"
        grep -Eq '^  1: luks2' "$T/dump" && fail "remove ($damage): keyslot 1 is still there"
        grep -Eq '^  0: luks2' "$T/dump" || fail "remove ($damage): keyslot 0 is gone"
        cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "remove ($damage): the original key no longer opens"
        rm -f "$IMG"
done

# The intact token still works after all of this: nothing above left the TPM in a bad state.
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$T/enrolled.img"

# list: token 0 is shown as a cvmseal token, and as malformed ("valid": false, "(malformed)" in the
# table) wherever the damage is visible without the TPM.
python3 - "$T/lists" <<'EOF' || fail "list does not report the damaged tokens as it should (above)"
import json, os, re, sys
d, misses, errors = sys.argv[1], [], []
for f in sorted(os.listdir(d)):
    if not f.endswith(".json"):
        continue
    damage, listed = f[:-5].rsplit(".", 1)
    doc = json.load(open(os.path.join(d, f)))
    table = open(os.path.join(d, f[:-5] + ".txt")).read()
    t = [t for t in doc["tokens"] if t["id"] == 0]
    if len(t) != 1 or t[0]["type"] != "cvmseal" or "valid" not in t[0]:
        errors.append("%s: list --json does not show token 0 as a cvmseal token: %s" % (damage, doc))
        continue
    if not re.search(r"^0 +cvmseal ", table, re.M):
        errors.append("%s: list does not show token 0: %s" % (damage, table))
    if (t[0]["valid"] is False) != bool(re.search(r"^0 +cvmseal +\(malformed\)$", table, re.M)):
        errors.append("%s: list and list --json disagree: %s / %s" % (damage, t[0], table))
    if listed == "false" and t[0]["valid"] is not False:
        misses.append(damage)
for e in errors:
    print(e, file=sys.stderr)
if misses:
    print("unlock refuses these tokens as malformed without asking the TPM, but list --json calls them "
          "\"valid\": true: " + ", ".join(misses), file=sys.stderr)
sys.exit(1 if errors or misses else 0)
EOF
note "$n damages refused as malformed"
exit 0
