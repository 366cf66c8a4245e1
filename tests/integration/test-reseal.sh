#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# reseal and rotate: a new keyslot and token replace the old ones, verified first.
#   - reseal to the current values: the new token unseals now, the old token and keyslot are gone;
#   - reseal to predicted values (PCR 7 after the extension a boot would make, computed here): the
#     new token refuses before the extension (3) and opens after it;
#   - reseal to wrong predicted values: after the "update" the token refuses (3, never 10), the
#     passphrase still opens, and reseal --unlock-key-file repairs it;
#   - rotate: a new keyslot and secret (the old passphrase, taken with --print-key, opens nothing),
#     still one token, the same PCRs; the lock PCR is kept; a PIN is kept and needed;
#   - a boot state that no longer satisfies the token: exit 3, nothing written;
#   - the pending records: a leftover one is finished by the next reseal (when its MAC, keyed from the
#     volume key, holds: a forged or version 1 record is left alone), and destroys only the
#     keyslot whose PBKDF2 iterations it recorded, never another one in the same slot;
#   - an HSM binding is kept (SoftHSM2, when installed); a signed-policy token is refused (1);
#   - after the lock PCR is extended, only --unlock-key-file gets in, and the new token opens after
#     a reboot (swtpm restarted).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
command -v tpm2_pcrread >/dev/null || skip "tpm2-tools is not installed"

tcti=$(start_swtpm tpm) || exit 1
key=$T/key
img=$T/img
make_image "$img" "$key"

# cvmseal tokens of IMG, as "ID KEYSLOT" lines
cvm_tokens() {
        "$CVMSEAL" --json list "$1" | python3 -c 'import json, sys
for t in json.load(sys.stdin)["tokens"]:
    if t["type"] == "cvmseal":
        print(t["id"], t.get("keyslot", "-"))'
}
slot_count() {
        cryptsetup luksDump --dump-json-metadata "$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["keyslots"]))'
}
pcr7() {
        TPM2TOOLS_TCTI=$tcti tpm2_pcrread "sha256:7" -o "$T/pcr.bin" >/dev/null || fail "tpm2_pcrread"
        od -An -tx1 -v "$T/pcr.bin" | tr -d ' \n'
}

expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img" --unlock-key-file "$key"
pycheck "$out" 'd["token"] == 0 and d["keyslot"] == 1' "enroll"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/pass0" || fail "unlock --print-key"

# ---- reseal to the current values ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$img"
pycheck "$out" 'd["removed"] == {"token": 0, "keyslot": 1, "version": 2} and d["token"] != 0 and d["keyslot"] != 1 and d["verified"] == "unsealed" and d["resealed"][0]["version"] == 2' "reseal --json"
pycheck "$out" 'd["resealed"][0]["pcrs"] == [7, 15] and len(d["resealed"]) == 1' "reseal keeps PCR 7 and the lock PCR"
new_token=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["token"])' "$out")
[ "$(cvm_tokens "$img")" = "$new_token $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")" ] \
        || fail "after reseal the one cvmseal token is not the new one: $(cvm_tokens "$img")"
[ "$(slot_count "$img")" = 2 ] || fail "reseal left $(slot_count "$img") keyslots, not 2"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
key_opens "$key" "$img" 0
cryptsetup open --test-passphrase --key-file "$T/pass0" "$img" 2>/dev/null && fail "the old token's passphrase still opens"
luksdump=$(cryptsetup luksDump "$img")
grep -q cvmseal-pending <<<"$luksdump" && fail "a pending record is left after a reseal: $luksdump"

# ---- reseal to predicted values: PCR 7 after the extension pcr_extend makes ----
cur=$(pcr7)
pred=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1]) + bytes.fromhex("%064x" % 1)).hexdigest())' "$cur")
printf '{"sha256": {"7": "%s"}}\n' "$pred" >"$T/pred.json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$img" --pcr-values "$T/pred.json"
pycheck "$out" 'd["verified"] == "loaded"' "reseal to predicted values says it could only load the object"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
pcr_extend "$tcti" 7
[ "$(pcr7)" = "$pred" ] || fail "the prediction in this test is wrong"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
[ "$(cvm_tokens "$img" | wc -l)" = 1 ] || fail "more than one token after reseal: $(cvm_tokens "$img")"

# ---- wrong predicted values: after the update the token refuses, the passphrase still opens ----
printf '{"sha256": {"7": "%s"}}\n' "$(printf 'ab%.0s' $(seq 32))" >"$T/wrong.json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" reseal "$img" --pcr-values "$T/wrong.json"
pcr_extend "$tcti" 7
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
key_opens "$key" "$img" 0
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json list "$img"
pycheck "$out" 'all(t.get("valid", True) for t in d["tokens"])' "the token is whole"
# reseal cannot unseal it now (3, nothing written); with the passphrase it can repair it.
sum=$(header_sum "$img")
expect_exit 3 "$CVMSEAL" --tcti "$tcti" reseal "$img"
expect_in "$err" "unlock-key-file" "the message names the way out"
[ "$(header_sum "$img")" = "$sum" ] || fail "a refused reseal changed the header"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$img" --unlock-key-file "$key"
pycheck "$out" 'd["verified"] == "unsealed"' "reseal --unlock-key-file"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
[ "$(slot_count "$img")" = 2 ] || fail "$(slot_count "$img") keyslots after four reseals, not 2"

# ---- rotate ----
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/pass1" || fail "unlock --print-key"
before=$(cvm_tokens "$img")
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json rotate "$img"
pycheck "$out" 'd["verified"] == "unsealed" and d["rotated"][0]["pcrs"] == [7, 15]' "rotate --json"
pycheck "$out" '"%d %d" % (d["removed"]["token"], d["removed"]["keyslot"]) == "'"$before"'"' "rotate removes the old token"
after=$(cvm_tokens "$img")
[ "$(wc -l <<<"$after")" = 1 ] || fail "rotate left $(wc -l <<<"$after") tokens"
[ "${after#* }" != "${before#* }" ] || fail "rotate kept keyslot ${before#* }"
cryptsetup open --test-passphrase --key-file "$T/pass1" "$img" 2>/dev/null && fail "the passphrase from before the rotation still opens"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/pass2" || fail "unlock --print-key after rotate"
cmp -s "$T/pass1" "$T/pass2" && fail "rotate kept the secret"
expect_exit 2 "$CVMSEAL" --tcti "$tcti" rotate "$img" --tpm2-pcrs 0
expect_exit 2 "$CVMSEAL" --tcti "$tcti" rotate "$img" --pcr-values "$T/pred.json"

# ---- other PCRs; the lock PCR stays ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$img" --tpm2-pcrs 0+7
pycheck "$out" 'd["resealed"][0]["pcrs"] == [0, 7, 15]' "reseal --tpm2-pcrs 0+7 keeps the lock PCR"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

# ---- a boot state that no longer satisfies the token: 3, nothing written ----
pcr_extend "$tcti" 0
sum=$(header_sum "$img")
expect_exit 3 "$CVMSEAL" --tcti "$tcti" --json rotate "$img"
pycheck "$out" 'd["exit-code"] == 3 and "error" in d' "rotate --json on failure"
[ "$(header_sum "$img")" = "$sum" ] || fail "a refused rotate changed the header"

# ---- a PIN is kept and needed ----
make_image "$T/pin" "$key"
printf '1234\n' >"$T/pinfile"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/pin" --unlock-key-file "$key" --pin-file "$T/pinfile"
expect_exit 7 "$CVMSEAL" --tcti "$tcti" reseal "$T/pin" </dev/null
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$T/pin" --pin-file "$T/pinfile"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json list "$T/pin"
pycheck "$out" '[t["pin"] for t in d["tokens"] if t["type"] == "cvmseal"] == [True]' "the new token has the PIN"
expect_exit 7 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/pin" </dev/null
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/pin" --pin-file "$T/pinfile"

# ---- an HSM binding (SoftHSM2, AES) is kept: the same key, a new share, the PIN sealed again ----
MODULE=${SOFTHSM2_MODULE:-/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so}
if command -v softhsm2-util >/dev/null && [ -f "$MODULE" ]; then
        start_softhsm cvmseal 1234
        printf '1234\n' >"$T/hsmpin"
        uri='pkcs11:token=cvmseal;object=aes;type=secret-key'
        expect_exit 0 "$CVMSEAL" hsm keygen --hsm "$uri" --hsm-pin-file "$T/hsmpin"
        make_image "$T/hsm" "$key"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/hsm" --unlock-key-file "$key" --hsm "$uri" --hsm-pin-file "$T/hsmpin"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$T/hsm"
        pycheck "$out" 'd["verified"] == "unsealed" and d["removed"]["token"] == 0' "reseal of an HSM-bound token"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json list "$T/hsm"
        pycheck "$out" '[t.get("hsm") for t in d["tokens"] if t["type"] == "cvmseal"] == [{"uri": "'"$uri"'", "mechanism": "aes-256-gcm", "pin": True}]' \
                "the new token keeps the HSM binding"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/hsm"
        # Through the unlock key instead of an unseal, the HSM PIN that was sealed must be given.
        expect_exit 5 "$CVMSEAL" --tcti "$tcti" reseal "$T/hsm" --unlock-key-file "$key" </dev/null
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" rotate "$T/hsm" --unlock-key-file "$key" --hsm-pin-file "$T/hsmpin"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/hsm"
else
        note "SoftHSM2 is not installed: the HSM case is not run"
fi

# ---- errors ----
# A token sealed to signed policies needs no reseal, and is not resealed (1, nothing written).
if command -v openssl >/dev/null; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/signer.pem" 2>/dev/null \
                && openssl pkey -in "$T/signer.pem" -pubout -out "$T/signer.pub" || fail "openssl genpkey"
        make_image "$T/signed" "$key"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/signed" --unlock-key-file "$key" --tpm2-public-key "$T/signer.pub"
        sum=$(header_sum "$T/signed")
        expect_exit 1 "$CVMSEAL" --tcti "$tcti" rotate "$T/signed" --unlock-key-file "$key"
        expect_in "$err" "signed policies" "the refusal of a signed-policy token"
        [ "$(header_sum "$T/signed")" = "$sum" ] || fail "a refused reseal of a signed-policy token changed the header"
fi
make_image "$T/none" "$key"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" reseal "$T/none"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" reseal "$img" --token 9
printf '{"sha256": {"7": "00"}}' >"$T/bad.json"
expect_exit 10 "$CVMSEAL" --tcti "$tcti" reseal "$img" --pcr-values "$T/bad.json"

# ---- leftover pending records (as a kill leaves them), and forged ones ----
# A record is authenticated by a MAC keyed from the volume key (docs/design.md, "Crash safety"): the
# test computes genuine ones from the documentation (HKDF-SHA256 of the volume key, no salt, info
# "cvmseal pending v2" NUL || UUID; HMAC-SHA256 over the record's text without "mac").  Keyslot 5
# carries the fingerprint a genuine record names (PBKDF2-SHA256, 1234 iterations): it goes.  Keyslot 6
# is someone else's key in a slot that a genuine record names with other iterations: it stays.  Then
# the attacks: a record that names keyslot 6 with its real fingerprint (anyone can read it from the
# header) but whose MAC is not keyed by the volume key, and an unauthenticated version 1 record, are
# both left alone with the keyslot they name.
make_image "$T/gc" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/gc" --unlock-key-file "$key"
for s in 5:1234 6:1500; do
        cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations "${s#*:}" --key-slot "${s%:*}" \
                --key-file "$key" "$T/gc" "$key" || fail "luksAddKey ${s%:*}"
done
cryptsetup luksDump --batch-mode --dump-volume-key --volume-key-file "$T/vk" --key-file "$key" "$T/gc" >/dev/null \
        || fail "luksDump --dump-volume-key"
head -c 64 /dev/urandom >"$T/not-vk"
# record VK TOKEN SLOT ITERATIONS: a version 2 "adding" record with its MAC keyed from the key in VK.
record() {
        python3 - "$1" "$(cryptsetup luksUUID "$T/gc")" "$2" "$3" "$4" <<'PY'
import hashlib, hmac, json, sys
vk, uuid, token, slot, it = open(sys.argv[1], "rb").read(), sys.argv[2], *map(int, sys.argv[3:6])
prk = hmac.new(b"\0" * 32, vk, hashlib.sha256).digest()
key = hmac.new(prk, b"cvmseal pending v2\0" + uuid.encode() + b"\x01", hashlib.sha256).digest()
r = {"type": "cvmseal-pending", "keyslots": [], "version": 2, "state": "adding", "token": token,
     "added": [{"keyslot": slot, "iterations": it}]}
r["mac"] = hmac.new(key, json.dumps(r, separators=(",", ":")).encode(), hashlib.sha256).hexdigest()
print(json.dumps(r))
PY
}
record "$T/vk" 7 5 1234 >"$T/p1.json" || fail "record"
record "$T/vk" 8 6 1501 >"$T/p2.json" || fail "record"
record "$T/not-vk" 9 6 1500 >"$T/p3.json" || fail "record"
printf '{"type":"cvmseal-pending","keyslots":[],"version":1,"state":"adding","token":10,"added":[{"keyslot":6,"iterations":1500}]}' >"$T/p4.json"
for i in 1 2 3 4; do
        cryptsetup token import --token-id $((i + 2)) --json-file "$T/p$i.json" "$T/gc" || fail "token import p$i"
done
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json rotate "$T/gc"
meta=$(cryptsetup luksDump --dump-json-metadata "$T/gc")
pycheck "$meta" '"5" not in d["keyslots"] and "6" in d["keyslots"] and "0" in d["keyslots"]' "the pending records' keyslots"
pycheck "$meta" 'sorted(k for k, t in d["tokens"].items() if t["type"] == "cvmseal-pending") == ["5", "6"]' \
        "the two genuine records are finished, the forged and the unauthenticated one are left"
cryptsetup token remove --token-id 5 "$T/gc" || fail "token remove"
cryptsetup token remove --token-id 6 "$T/gc" || fail "token remove"
key_opens "$key" "$T/gc" 6
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/gc"

# ---- after the lock (as on a booted system): only --unlock-key-file gets in; the new token is
# sealed to the lock PCR's value from before the lock and opens after a "reboot" ----
export CVMSEAL_LOCK_RECORD=$T/lock.json
expect_exit 0 "$CVMSEAL" --tcti "$tcti" lock
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/gc"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" rotate "$T/gc"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json rotate "$T/gc" --unlock-key-file "$key"
pycheck "$out" 'd["verified"] == "loaded"' "rotate after the lock cannot unseal the new token before the reboot"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/gc"
# This test extended PCR 7 above; after the restart it is zero again: predict that.
printf '{"sha256": {"7": "%064d"}}\n' 0 >"$T/reboot.json"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json reseal "$T/gc" --unlock-key-file "$key" --pcr-values "$T/reboot.json"
pycheck "$out" 'd["verified"] == "loaded" and d["resealed"][0]["pcrs"] == [7, 15]' "reseal after the lock"
stop_swtpm tpm
rm -f "$CVMSEAL_LOCK_RECORD"
tcti=$(start_swtpm tpm) || exit 1
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/gc"
exit 0
