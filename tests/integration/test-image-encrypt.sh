#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# image encrypt RAW IMG writes a LUKS2 image whose data segment is RAW, encrypted as dm-crypt reads
# it.  Proven byte for byte, without device-mapper:
#   - the volume key (luksDump --dump-volume-key) decrypts the segment with an independent AES-XTS
#     helper (xts-decrypt) to RAW followed by zeros, for 512- and 4096-byte sectors, and for a RAW
#     whose size is not a multiple of the sector size;
#   - the IV convention: plain64 counts 512-byte units even with 4096-byte sectors (LUKS2 sets no
#     iv_large_sectors); the helper's reading is anchored on cryptsetup's own offline
#     `reencrypt --encrypt`, and the other reading (--iv-large-sectors) does NOT give RAW back;
#   - cryptsetup's own offline `reencrypt --decrypt` turns the image back into RAW (cryptsetup >= 2.6).
# And: the key file opens keyslot 0 (argon2id by default, PBKDF2 with --fast-kdf), the passphrase in
# the provisioning marker opens its keyslot, `list --json` shows the marker; --json output; no
# progress and no prompt in a pipe, progress on a terminal; refusal to overwrite; clear errors for a
# missing or empty RAW, a missing directory, a malformed policy; a signal removes the partial image;
# SIGKILL leaves only a temporary IMG.incomplete.* file, never IMG.
. "$(dirname "$0")/lib.sh"

: "${XTS_DECRYPT:?XTS_DECRYPT must point at the xts-decrypt helper}"
command -v python3 >/dev/null || skip "python3 is not installed"

KEY=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$KEY"
OFFSET=16777216

# check_image IMG RAW SECTOR: the segment decrypts to RAW padded with zeros to SECTOR.
check_image() {
        local img=$1 raw=$2 sector=$3 raw_size data_size dump
        raw_size=$(stat -c %s "$raw")
        data_size=$(( ($(stat -c %s "$img") - OFFSET) ))
        [ "$data_size" = $(( (raw_size + sector - 1) / sector * sector )) ] \
                || fail "$img: data segment of $data_size bytes for a RAW of $raw_size bytes in $sector-byte sectors"
        dump=$(cryptsetup luksDump "$img") || fail "luksDump $img"
        expect_in "$dump" "offset: $OFFSET \[bytes\]" "luksDump $img"
        expect_in "$dump" "cipher: aes-xts-plain64" "luksDump $img"
        expect_in "$dump" "sector: $sector \[bytes\]" "luksDump $img"
        expect_in "$dump" "Key: +512 bits" "luksDump $img"
        expect_in "$dump" "length: \(whole device\)" "luksDump $img"

        rm -f "$T/vk"
        cryptsetup luksDump --dump-volume-key --volume-key-file "$T/vk" --key-file "$KEY" --batch-mode "$img" \
                >/dev/null 2>"$T/cs.err" || fail "cannot dump the volume key of $img: $(cat "$T/cs.err")"
        "$XTS_DECRYPT" "$T/vk" "$sector" "$OFFSET" "$data_size" "$img" >"$T/plain" || fail "xts-decrypt $img"
        cmp -n "$raw_size" "$T/plain" "$raw" || fail "$img does not decrypt to $raw"
        [ "$(tail -c +$((raw_size + 1)) "$T/plain" | tr -d '\0' | wc -c)" = 0 ] \
                || fail "$img: the padding after RAW is not zeros"
        if [ "$sector" = 4096 ]; then
                "$XTS_DECRYPT" --iv-large-sectors "$T/vk" "$sector" "$OFFSET" "$data_size" "$img" >"$T/plain"
                cmp -s -n "$raw_size" "$T/plain" "$raw" && fail "$img decrypts with IVs in 4096-byte units too"
        fi
        rm -f "$T/vk" "$T/plain"
}

# --- the IV convention, anchored on cryptsetup's own user-space LUKS2 encryption ---
head -c 4194304 /dev/urandom >"$T/raw4m"
cp "$T/raw4m" "$T/cs"
truncate -s +32M "$T/cs"
cryptsetup reencrypt --encrypt --type luks2 --force-offline-reencrypt --reduce-device-size 32M \
        --sector-size 4096 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$KEY" --batch-mode "$T/cs" \
        >/dev/null 2>"$T/cs.err" || skip "cryptsetup cannot reencrypt offline here: $(cat "$T/cs.err")"
check_image_anchor() {
        cryptsetup luksDump "$T/cs" | grep -q "offset: $OFFSET \[bytes\]" || fail "cryptsetup put its segment elsewhere"
        cryptsetup luksDump --dump-volume-key --volume-key-file "$T/vk" --key-file "$KEY" --batch-mode "$T/cs" \
                >/dev/null 2>&1 || fail "cannot dump cryptsetup's volume key"
        "$XTS_DECRYPT" "$T/vk" 4096 "$OFFSET" 4194304 "$T/cs" | cmp -s - "$T/raw4m" \
                || fail "xts-decrypt does not read cryptsetup's own 4096-byte-sector encryption"
        "$XTS_DECRYPT" --iv-large-sectors "$T/vk" 4096 "$OFFSET" 4194304 "$T/cs" | cmp -s - "$T/raw4m" \
                && fail "cryptsetup's encryption reads with IVs in 4096-byte units: the anchor proves nothing"
        rm -f "$T/vk" "$T/cs"
}
check_image_anchor

# --- 4096-byte sectors (RAW a multiple of 4096), --json, no progress in a pipe ---
expect_exit 0 "$CVMSEAL" --json image encrypt "$T/raw4m" "$T/img4k" --unlock-key-file "$KEY" --fast-kdf \
        --tpm2-pcrs 4,7,9
pycheck "$out" 'd["image"].endswith("/img4k") and d["size"] == 4194304 and d["sector-size"] == 4096 and d["keyslot"] == 0 and isinstance(d["provision-keyslot"], int) and d["provision-keyslot"] > 0 and isinstance(d["provision-token"], int) and len(d["uuid"]) == 36 and set(d) == {"image", "size", "uuid", "keyslot", "provision-keyslot", "provision-token", "sector-size"}' \
        "image encrypt --json"
[ -z "$err" ] || fail "image encrypt wrote to stderr in a pipe with --json: $err"
PSLOT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["provision-keyslot"])' "$out")
PTOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["provision-token"])' "$out")
UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["uuid"])' "$out")
[ "$(cryptsetup luksUUID "$T/img4k")" = "$UUID" ] || fail "the UUID in --json is not the image's"
[ "$(stat -c %a "$T/img4k")" = 600 ] || fail "the image is not mode 0600: $(stat -c %a "$T/img4k")"
check_image "$T/img4k" "$T/raw4m" 4096
ls "$T" | grep -q incomplete && fail "a temporary file was left behind: $(ls "$T")"

# keyslot 0 opens with the key file (PBKDF2 with --fast-kdf); the passphrase that docs/token-format.md
# derives from the marker's secret and members (token-binding.py --marker, an independent reading)
# opens its keyslot, and the secret itself does not.
key_opens "$KEY" "$T/img4k" 0
expect_in "$(cryptsetup luksDump "$T/img4k" | sed -n '/^  0: luks2/,/^  1: luks2/p')" "PBKDF: +pbkdf2" "keyslot 0 with --fast-kdf"
cryptsetup token export --token-id "$PTOKEN" "$T/img4k" >"$T/marker.json" || fail "token export"
pycheck "$(cat "$T/marker.json")" "d['type'] == 'cvmseal-provision' and d['version'] == 2 and d['keyslots'] == ['$PSLOT'] and len(d['secret']) == 44 and d['enroll'] == {'pcrs': [4, 7, 9]} and list(d) == ['type', 'keyslots', 'version', 'secret', 'enroll']" \
        "the provisioning marker"
python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["secret"])' "$T/marker.json" >"$T/psecret"
cryptsetup open --test-passphrase --key-slot "$PSLOT" --key-file "$T/psecret" "$T/img4k" 2>/dev/null \
        && fail "the marker's secret itself opens the provisioning keyslot"
python3 "$(dirname "$0")/token-binding.py" --marker "$T/marker.json" "$UUID" >"$T/ppass" || fail "token-binding.py --marker"
key_opens "$T/ppass" "$T/img4k" "$PSLOT"
cryptsetup open --test-passphrase --key-slot 0 --key-file "$T/ppass" "$T/img4k" 2>/dev/null \
        && fail "the provisioning passphrase opens keyslot 0"
expect_in "$(cryptsetup luksDump "$T/img4k" | sed -n "/^  $PSLOT: luks2/,/Digest ID/p")" "PBKDF: +pbkdf2" "the provisioning keyslot"

# list shows the marker.
expect_exit 0 "$CVMSEAL" --json list "$T/img4k"
pycheck "$out" "d['provision'] == {'token': $PTOKEN, 'keyslot': $PSLOT}" "list --json"
expect_exit 0 "$CVMSEAL" list "$T/img4k"
expect_in "$out$err" "[Pp]rovision.*token $PTOKEN.*keyslot $PSLOT" "list"

# --- 512-byte sectors: a RAW of 3 MiB + 1234 bytes (not a multiple of 512); the default KDF ---
head -c $((3 * 1048576 + 1234)) /dev/urandom >"$T/rawodd"
"$CVMSEAL" image encrypt "$T/rawodd" "$T/imgodd" --unlock-key-file - <"$KEY" >"$T/stdout" 2>"$T/stderr" \
        || fail "image encrypt with the key on stdin: $(cat "$T/stderr")"
[ -s "$T/stdout" ] && fail "image encrypt without --json wrote to stdout: $(cat "$T/stdout")"
grep -q $'\r' "$T/stderr" && fail "progress went to stderr in a pipe"
grep -q "Encrypting" "$T/stderr" && fail "progress went to stderr in a pipe"
expect_in "$(cat "$T/stderr")" "Wrote .*imgodd.*512-byte sectors" "image encrypt message"
# ... and progress on a terminal (script(1) gives the command a pseudo-terminal).
if command -v script >/dev/null; then
        script -qec "'$CVMSEAL' image encrypt '$T/raw4m' '$T/imgtty' --unlock-key-file '$KEY' --fast-kdf" /dev/null \
                </dev/null >"$T/tty.out" 2>&1 || fail "image encrypt on a terminal: $(cat "$T/tty.out")"
        grep -q "Encrypting: 100% (4 of 4 MiB" "$T/tty.out" || fail "no progress on a terminal: $(cat -v "$T/tty.out")"
        rm -f "$T/imgtty"
else
        note "script(1) is not installed: progress on a terminal not checked"
fi
check_image "$T/imgodd" "$T/rawodd" 512
key_opens "$KEY" "$T/imgodd" 0
expect_in "$(cryptsetup luksDump "$T/imgodd" | sed -n '/^  0: luks2/,/^  1: luks2/p')" "PBKDF: +argon2id" "keyslot 0 by default"
expect_exit 0 "$CVMSEAL" --json list "$T/imgodd"
pycheck "$out" "d['provision']['keyslot'] >= 1" "list --json"

# --- --sector-size 4096 on a RAW that is not a multiple of it: padded; attestation policy and HSM ---
head -c $((1048576 + 512)) /dev/urandom >"$T/raw1m"
cat >"$T/policy.json" <<'EOF'
{ "version": 1, "require": ["tpm-quote"] }
EOF
expect_exit 0 "$CVMSEAL" --json image encrypt "$T/raw1m" "$T/img1m" --unlock-key-file "$KEY" --fast-kdf \
        --sector-size 4096 --attest-policy "$T/policy.json" \
        --hsm "pkcs11:token=cvmseal;object=share;type=secret-key?pin-value=1234"
pycheck "$out" 'd["size"] == 1052672 and d["sector-size"] == 4096' "--sector-size 4096"
expect_in "$err" "PIN" "warning about the HSM PIN"
check_image "$T/img1m" "$T/raw1m" 4096
cryptsetup token export --token-id "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["provision-token"])' "$out")" \
        "$T/img1m" >"$T/marker.json" || fail "token export"
python3 - "$T/marker.json" "$T/policy.json" <<'PY' || fail "the marker's enroll member: $(cat "$T/marker.json")"
import base64, json, sys
d = json.load(open(sys.argv[1]))
e = d["enroll"]
assert set(e) == {"attest-policy", "hsm"}, e
assert base64.b64decode(e["attest-policy"]) == open(sys.argv[2], "rb").read()
assert e["hsm"].startswith("pkcs11:") and "object=share" in e["hsm"] and "pin" not in e["hsm"], e["hsm"]
PY
grep -q 1234 "$T/marker.json" && fail "the HSM PIN went into the image"

# --- cryptsetup itself decrypts the images back to RAW (offline decryption: cryptsetup >= 2.6) ---
for pair in img4k:raw4m imgodd:rawodd; do
        img=$T/${pair%%:*}
        raw=$T/${pair##*:}
        cp "$img" "$T/dec"
        if cryptsetup reencrypt --decrypt --force-offline-reencrypt --header "$T/dec.hdr" --key-file "$KEY" \
                --batch-mode "$T/dec" >/dev/null 2>"$T/cs.err"; then
                cmp -n "$(stat -c %s "$raw")" "$T/dec" "$raw" || fail "cryptsetup reencrypt --decrypt of $img is not RAW"
        else
                note "cryptsetup cannot decrypt offline here ($(head -1 "$T/cs.err")): skipping that cross-check"
        fi
        rm -f "$T/dec" "$T/dec.hdr"
done

# --- refusals, with IMG untouched ---
sum=$(sha256sum <"$T/img4k")
expect_exit 1 "$CVMSEAL" image encrypt "$T/raw4m" "$T/img4k" --unlock-key-file "$KEY"
expect_in "$err" "img4k exists already: refusing to overwrite it" "overwrite refusal"
[ "$(sha256sum <"$T/img4k")" = "$sum" ] || fail "a refused image encrypt changed the existing image"
: >"$T/empty-img"
expect_exit 1 "$CVMSEAL" image encrypt "$T/raw4m" "$T/empty-img" --unlock-key-file "$KEY"
expect_in "$err" "exists already" "refusal of an existing empty IMG"
[ -s "$T/empty-img" ] && fail "the existing empty IMG was written"
expect_exit 1 "$CVMSEAL" image encrypt "$T/missing" "$T/new1" --unlock-key-file "$KEY"
expect_in "$err" "missing: no such file" "missing RAW"
: >"$T/empty-raw"
expect_exit 1 "$CVMSEAL" image encrypt "$T/empty-raw" "$T/new1" --unlock-key-file "$KEY"
expect_in "$err" "empty" "empty RAW"
expect_exit 1 "$CVMSEAL" image encrypt "$T/raw4m" "$T/nodir/new1" --unlock-key-file "$KEY"
expect_in "$err" "directory does not exist" "missing directory"
echo '{"version": 1, "require": ["no-such-kind"]}' >"$T/bad-policy.json"
expect_exit 10 "$CVMSEAL" image encrypt "$T/raw4m" "$T/new1" --unlock-key-file "$KEY" --attest-policy "$T/bad-policy.json"
head -c 16 /dev/urandom >"$T/shortkey"
expect_exit 2 "$CVMSEAL" image encrypt "$T/raw4m" "$T/new1" --unlock-key-file "$T/shortkey" --fast-kdf
expect_exit 2 "$CVMSEAL" image encrypt "$T/raw4m" --unlock-key-file "$KEY"
expect_exit 2 "$CVMSEAL" image encrypt "$T/raw4m" "$T/new1"
expect_exit 2 "$CVMSEAL" image encrypt "$T/raw4m" "$T/new1" --unlock-key-file "$KEY" --sector-size 1024
expect_exit 2 "$CVMSEAL" image encrypt "$T/raw4m" "$T/new1" --unlock-key-file "$KEY" --tpm2-pin
expect_exit 1 "$CVMSEAL" --json image encrypt "$T/missing" "$T/new1" --unlock-key-file "$KEY"
pycheck "$out" 'd["exit-code"] == 1 and "no such file" in d["error"]' "--json error document"
[ -e "$T/new1" ] && fail "a refused image encrypt created IMG"
ls "$T" | grep -q incomplete && fail "a refused image encrypt left a temporary file: $(ls "$T")"

# --- interrupted: SIGTERM removes the partial image; SIGKILL never leaves IMG ---
# A large sparse RAW (reads as zeros) gives the time to interrupt.
truncate -s 8G "$T/big"
for sig in TERM KILL; do
        "$CVMSEAL" image encrypt "$T/big" "$T/killed" --unlock-key-file "$KEY" --fast-kdf >/dev/null 2>"$T/stderr" &
        pid=$!
        for i in $(seq 1 200); do
                f=$(ls "$T"/killed.incomplete.* 2>/dev/null | head -1)
                [ -n "$f" ] && [ "$(stat -c %b "$f")" -gt 40000 ] && break   # the data is being written
                sleep 0.05
        done
        kill -"$sig" "$pid"
        wait "$pid" && fail "image encrypt survived SIG$sig"
        [ -e "$T/killed" ] && fail "SIG$sig left $T/killed, which looks like a finished image"
        if [ "$sig" = TERM ]; then
                expect_in "$(cat "$T/stderr")" "interrupted: .*killed was not written" "message after SIGTERM"
                ls "$T" | grep -q incomplete && fail "SIGTERM left a temporary file: $(ls "$T")"
        else
                # What SIGKILL leaves (when it came after the file was made) is the temporary file only.
                ls "$T"/killed.incomplete.* >/dev/null 2>&1 || note "SIGKILL came before the temporary file existed"
                rm -f "$T"/killed.incomplete.*
        fi
done
rm -f "$T/big"

echo "ok: image encrypt writes LUKS2 images that decrypt to RAW (512 and 4096-byte sectors), with a provisioning marker"
