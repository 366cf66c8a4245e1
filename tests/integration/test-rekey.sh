#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `cvmseal rekey` on image files (offline reencryption; tests/boot has the online one in a guest):
# - a pipeline image: the first boot (provision) starts the rekey; the pipeline's key file no longer
#   opens the volume (a volume in reencryption opens only with a passphrase of both keys);
#   `unlock --test` opens it, `rekey --status` says running;
# - a rekey killed (SIGKILL) in the middle: `unlock --test` still opens the volume, --status shows
#   the bytes done; a rekey stopped by SIGTERM stops cleanly; a second run finishes;
# - the first boot escrows a recovery key it made to the owner's public key (image encrypt
#   --recovery-public-key): openssl decrypts it, and it opens the volume after the first boot, in the
#   middle of the rekey and after it;
# - finished: `list` says so, two keyslots (the token's, the recovery key's) and one token are left,
#   no keyslot of the old key; the data decrypts with the new volume key (xts-decrypt, independent of libcryptsetup)
#   to the raw image byte for byte, not with the pipeline's; the old volume key does not open it;
# - by hand on an enrolled volume: refused while a keyslot could not be carried over, naming it (also
#   one that a forged token names: only a token that unseals is cvmseal's);
#   with the recovery key as --unlock-key-file and --drop-keyslot for the operator's keyslot 0: the
#   recovery key and the (replaced) token open afterwards, keyslot 0's key does not;
# - `image encrypt --no-rekey`: the marker says "rekey": false, the first boot keeps the key.
. "$(dirname "$0")/lib.sh"

: "${XTS_DECRYPT:?XTS_DECRYPT must point at the xts-decrypt helper}"
command -v python3 >/dev/null || skip "python3 is not installed"
export CVMSEAL_RUNDIR=$T/run
tcti=$(start_swtpm tpm) || exit 1
OFFSET=16777216

key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
# Big enough for a kill to land in the middle (about 1 s of work here), small enough to stay quick.
head -c 256M /dev/urandom >"$T/raw"
size=$(stat -c %s "$T/raw")
# The owner's key pair: the first boot escrows the recovery key it makes to the public half.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/owner.pem" 2>/dev/null || fail "openssl genpkey"
openssl pkey -in "$T/owner.pem" -pubout -out "$T/owner.pub" || fail "openssl pkey -pubout"
expect_exit 0 "$CVMSEAL" image encrypt "$T/raw" "$T/img" --unlock-key-file "$key" --fast-kdf --tpm2-pcrs 7 \
        --recovery-public-key "$T/owner.pub"
# recovery_key IMG: the escrowed recovery key, as its owner reads it with openssl (docs/image-pipeline.md).
recovery_key() {
        local id
        id=$(cryptsetup luksDump --dump-json-metadata "$1" | python3 -c 'import json,sys
d = json.load(sys.stdin)
print([i for i, t in d["tokens"].items() if t["type"] == "cvmseal-recovery"][0])') || fail "no recovery escrow in $1"
        cryptsetup token export --token-id "$id" "$1" | python3 -c 'import base64,json,sys
sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["ciphertext"]))' >"$T/escrow.bin" || fail "token export"
        openssl pkeyutl -decrypt -inkey "$T/owner.pem" -in "$T/escrow.bin" -out "$T/recovery-escrowed" \
                -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
                || fail "openssl cannot decrypt the escrowed recovery key"
}
cryptsetup luksDump --dump-volume-key --volume-key-file "$T/vk-old" --batch-mode --key-file "$key" "$T/img" \
        >/dev/null 2>&1 || fail "dump the pipeline's volume key"

expect_exit 2 "$CVMSEAL" rekey "$T/img" --status --unlock-key-file "$key"
expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img"
pycheck "$out" "d['state'] == 'pending'" "rekey --status before the first boot"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" rekey "$T/img"
expect_in "$err" "provisioning marker" "rekey before the first boot"

# ---- the first boot starts the rekey ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" provision "$T/img"
expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img"
pycheck "$out" "d['state'] == 'running' and d['bytes-done'] == 0 and d['bytes-total'] == $size" "status after provision"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/img"
cryptsetup open --test-passphrase --key-file "$key" "$T/img" 2>/dev/null \
        && fail "the pipeline's key file opens the volume in reencryption"
# Token and keyslot changes wait for the end of the rekey (libcryptsetup refuses them): a clear refusal
# that names the rekey, the header unchanged.
sum=$(header_sum "$T/img")
expect_exit 1 "$CVMSEAL" --tcti "$tcti" rotate "$T/img"
expect_in "$err" "being re-encrypted to a new volume key" "rotate during a rekey"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" remove "$T/img" --token 0
expect_in "$err" "being re-encrypted to a new volume key" "remove during a rekey"
[ "$(header_sum "$T/img")" = "$sum" ] || fail "a refused change during the rekey changed the header"
recovery_key "$T/img"
key_opens "$T/recovery-escrowed" "$T/img"

# ---- killed in the middle ----
"$CVMSEAL" --tcti "$tcti" rekey "$T/img" 2>"$T/kill.err" &
pid=$!
# The progress file says how far the work is, at every step (64 MiB): kill it once one is done.
for i in $(seq 1 1000); do
        grep -qE '"done": [1-9]' "$T"/run/rekey-*.json 2>/dev/null && break
        sleep 0.005
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img"
note "after SIGKILL: $out"
pycheck "$out" "d['state'] == 'running' and 0 < d['bytes-done'] < $size and not d['active']" "status after a kill"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/img"
expect_in "$err" "opens keyslot" "unlock --test in the middle of a rekey"
key_opens "$T/recovery-escrowed" "$T/img"
# The passphrase the keyscript prints opens it through cryptsetup; so does the token plugin inside
# cryptsetup (--test-passphrase: libcryptsetup 2.6.1 refuses to *activate* a volume in reencryption
# through a token, docs/boot.md), when a mount namespace can put it in cryptsetup's token directory.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --print-key "$T/img"
printf '%s' "$out" >"$T/pass-mid"
key_opens "$T/pass-mid" "$T/img"
tokendir=$(dirname "$(find /usr/lib /lib -name 'libcryptsetup.so.12' 2>/dev/null | head -n 1)")/cryptsetup
if [ -n "${CVMSEAL_TOKEN_PLUGIN:-}" ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
        mkdir -p "$T/tokens"
        cp "$CVMSEAL_TOKEN_PLUGIN" "$T/tokens/"
        CVMSEAL_TCTI=$tcti LD_LIBRARY_PATH="${CVMSEAL_LIBDIR:-}" unshare -m sh -c \
                'mkdir -p "$1" && mount --bind "$2" "$1" && exec cryptsetup open --test-passphrase --token-only "$3"' \
                sh "$tokendir" "$T/tokens" "$T/img" </dev/null >"$T/cs.out" 2>&1 \
                || fail "cryptsetup --token-only through the plugin, in the middle of a rekey: $(cat "$T/cs.out")"
else
        note "no mount namespace: the plugin's part is not checked"
fi

# ---- stopped by a signal: cleanly ----
rm -f "$T"/run/rekey-*.json
"$CVMSEAL" --tcti "$tcti" rekey "$T/img" 2>"$T/term.err" &
pid=$!
for i in $(seq 1 1000); do
        [ -e "$T"/run/rekey-*.json ] 2>/dev/null && break
        sleep 0.005
done
kill -TERM "$pid" 2>/dev/null
wait "$pid" && rc=0 || rc=$?
if [ "$rc" = 0 ]; then
        expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img"
        note "after SIGTERM: $out"
fi

# ---- the second run finishes ----
expect_exit 0 "$CVMSEAL" --tcti "$tcti" rekey "$T/img"
expect_in "$err" "Rekeyed .*no keyslot of the old one is left" "the rekey's last word"
grep -q '#####' <<<"$err" && fail "a progress bar in a pipe"
expect_in "$err" "Re-encrypting .* MiB left, about [0-9]+ s at [0-9]+ MiB/s" "the one line that says how long"
# No trace of the old key in the header: one digest, no reencryption segment or keyslot.
cryptsetup luksDump --dump-json-metadata "$T/img" >"$T/meta.json" || fail "luksDump"
pycheck "$(cat "$T/meta.json")" "len(d['digests']) == 1 and len(d['segments']) == 1 \
        and all(k['type'] == 'luks2' for k in d['keyslots'].values()) and not d['config'].get('requirements')" \
        "the header after the rekey"
expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img"
pycheck "$out" "d['state'] == 'finished'" "status when finished"
expect_exit 0 "$CVMSEAL" --json list "$T/img"
pycheck "$out" "d['rekey']['state'] == 'finished' and len([t for t in d['tokens'] if t['type'] == 'cvmseal']) == 1 \
        and len(d['keyslots']) == 2 and not d.get('provision')" "list after the rekey: the token's keyslot and the recovery key's"
key_opens "$T/recovery-escrowed" "$T/img"
expect_exit 0 "$CVMSEAL" list "$T/img"
expect_in "$out" "Rekey: finished" "list"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/img"
cryptsetup open --test-passphrase --key-file "$key" "$T/img" 2>/dev/null && fail "the pipeline's key file still opens"

# The data, byte for byte, under the new key and only under it.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --print-key "$T/img"
printf '%s' "$out" >"$T/pass"
cryptsetup luksDump --dump-volume-key --volume-key-file "$T/vk-new" --batch-mode --key-file "$T/pass" "$T/img" \
        >/dev/null 2>&1 || fail "dump the new volume key"
cmp -s "$T/vk-old" "$T/vk-new" && fail "the volume key did not change"
"$XTS_DECRYPT" "$T/vk-new" 4096 "$OFFSET" "$size" "$T/img" | cmp -s - "$T/raw" \
        || fail "the data does not decrypt to the raw image with the new volume key"
"$XTS_DECRYPT" "$T/vk-old" 4096 "$OFFSET" 1048576 "$T/img" | cmp -s - <(head -c 1048576 "$T/raw") \
        && fail "the pipeline's volume key still decrypts the data"
cryptsetup open --test-passphrase --volume-key-file "$T/vk-old" "$T/img" 2>/dev/null \
        && fail "the pipeline's volume key still opens the volume"
cryptsetup open --test-passphrase --volume-key-file "$T/vk-new" "$T/img" 2>/dev/null \
        || fail "the new volume key does not open the volume"

# ---- by hand, on an enrolled volume with a recovery key ----
make_image "$T/img2" "$T/key2" 48M
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/img2" --unlock-key-file "$T/key2" --recovery-key
recovery=$(grep -oE '[0-9a-f]{8}(-[0-9a-f]{8}){7}' <<<"$out$err" | head -n1)
[ -n "$recovery" ] || fail "no recovery key printed"
printf '%s' "$recovery" >"$T/recovery"
# The host's copy of the token, naming the recovery keyslot: a token that does not unseal is not
# cvmseal's, so its keyslot is another's - refused without --drop-keyslot, never replaced or removed
# on the token's word (before, the rekey counted it, "replaced" it and destroyed the recovery keyslot).
cp --sparse=always "$T/img2" "$T/img2f"
cryptsetup luksDump --dump-json-metadata "$T/img2f" >"$T/img2f.json" || fail "luksDump"
read -r rtid rslot < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
tid, t = [(k, t) for k, t in d["tokens"].items() if t["type"] == "cvmseal"][0]
r = [k for k in d["keyslots"] if k not in t["keyslots"] and k != "0"][0]
print(tid, r)' "$T/img2f.json")
cryptsetup token export --token-id "$rtid" "$T/img2f" >"$T/tok2.json" || fail "token export"
python3 -c 'import json, sys; t = json.load(open(sys.argv[1])); t["keyslots"] = [sys.argv[2]]; print(json.dumps(t))' \
        "$T/tok2.json" "$rslot" >"$T/forged2.json"
cryptsetup token import --json-file "$T/forged2.json" "$T/img2f" || fail "import the forged token"
sum=$(header_sum "$T/img2f")
expect_exit 1 "$CVMSEAL" --tcti "$tcti" -v rekey "$T/img2f" --drop-keyslot 0
expect_in "$err" "Keyslot\(s\) $rslot would be lost" "rekey beside a forged token naming the recovery keyslot"
[ "$(header_sum "$T/img2f")" = "$sum" ] || fail "the refused rekey changed the header"
key_opens "$T/recovery" "$T/img2f"
rm -f "$T/img2f"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" -v rekey "$T/img2"
expect_in "$err" "Keyslot\(s\) 0, [0-9]+ would be lost" "rekey with keyslots it cannot carry over"
expect_exit 1 "$CVMSEAL" --tcti "$tcti" -v rekey "$T/img2" --unlock-key-file "$T/recovery"
expect_in "$err" "Keyslot\(s\) 0 would be lost" "rekey with the operator's keyslot 0 left"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json rekey "$T/img2" --unlock-key-file "$T/recovery" --drop-keyslot 0
pycheck "$out" "d['state'] == 'finished' and d['dropped'] == [0] and len(d['replaced']) == 1" "rekey by hand"
key_opens "$T/recovery" "$T/img2"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/img2"
cryptsetup open --test-passphrase --key-file "$T/key2" "$T/img2" 2>/dev/null && fail "the dropped keyslot 0 still opens"
expect_exit 0 "$CVMSEAL" --json list "$T/img2"
pycheck "$out" "len(d['keyslots']) == 2 and d['rekey']['state'] == 'finished'" "list after a rekey by hand"

# ---- --no-rekey ----
expect_exit 0 "$CVMSEAL" image encrypt "$T/raw" "$T/img3" --unlock-key-file "$key" --fast-kdf --no-rekey
cryptsetup token export --token-id 0 "$T/img3" >"$T/marker.json" || fail "token export"
pycheck "$(cat "$T/marker.json")" "d['enroll'] == {'rekey': False}" "the marker of --no-rekey"
# The documented derivation binds the member (token-binding.py reads docs/token-format.md alone).
python3 "$(dirname "$0")/token-binding.py" --marker "$T/marker.json" "$(cryptsetup luksUUID "$T/img3")" >"$T/ppass" \
        || fail "token-binding.py --marker"
key_opens "$T/ppass" "$T/img3" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keyslots"][0])' "$T/marker.json")"
expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img3"
pycheck "$out" "d['state'] == 'not-needed'" "status of a --no-rekey image"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" provision "$T/img3"
expect_exit 0 "$CVMSEAL" --json rekey --status "$T/img3"
pycheck "$out" "d['state'] == 'not-needed'" "status after the first boot of a --no-rekey image"
cryptsetup open --test-passphrase --volume-key-file "$T/vk-old" "$T/img3" 2>/dev/null \
        && fail "two images share a volume key"
key_opens "$key" "$T/img3" 0
echo "PASS"
