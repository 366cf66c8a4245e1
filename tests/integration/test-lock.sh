#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The lock PCR (docs/boot.md, "The lock PCR"):
# - enroll seals to PCR 15 as well as the asked PCRs (list says 7,15); unlock --test passes;
# - every unlock notes its volume (volumes/UUID beside the lock record: HMAC-SHA256 keyed with the
#   passphrase), and `cvmseal lock` records PCR 15's value, then extends it with one PCR_Event whose
#   event ends with the digest of those notes, all in a session salted with the pinned SRK, and
#   reads it back through that session (6 TPM commands: ReadPublic, StartAuthSession, PCR_Read,
#   PCR_Event, PCR_Read, FlushContext); afterwards unlock exits 3 and loses nothing; a second
#   `lock` changes nothing;
# - enroll after the lock seals to the value from before it: it says it could not verify by
#   unsealing ("verified": false), its token does not unseal in this boot, and after a "reboot"
#   (swtpm restarted: PCRs reset; a fresh /run: no record) both tokens unseal;
# - --no-lock-pcr tokens still unseal after the lock;
# - an interrupted lock (a record written, PCR not extended) is finished by the next lock;
# - a malformed record: lock and enroll exit 10 and say so, nothing changes.
. "$(dirname "$0")/lib.sh"

command -v tpm2_pcrread >/dev/null || skip "tpm2-tools is not installed"
COUNT=$(cd "$(dirname "$0")/../bench" && pwd)/tpm-count.py

tcti=$(start_swtpm tpm) || exit 1
sock=${tcti#swtpm:path=}
export TPM2TOOLS_TCTI=$tcti
pcr15() { tpm2_pcrread -Q -o "$T/pcr15.bin" sha256:15 && od -An -tx1 -v "$T/pcr15.bin" | tr -d ' \n'; }
zero=$(printf '%064d' 0)
# lock_after BEFORE: what the lock extends PCR 15 to from BEFORE, computed from the documentation
# (docs/boot.md): SHA-256(BEFORE || SHA-256(event)), event = "cvmseal: initramfs done, lock" and,
# when volumes were noted, "; volumes sha256:" + hex(SHA-256 of "UUID:HMAC\n" per note, by name).
lock_after() {
        python3 - "$1" "$(dirname "$CVMSEAL_LOCK_RECORD")/volumes" <<'PY'
import hashlib, os, sys
event = b"cvmseal: initramfs done, lock"
d = sys.argv[2]
names = sorted(os.listdir(d)) if os.path.isdir(d) else []
if names:
    h = hashlib.sha256()
    for n in names:
        h.update(n.encode() + b":" + open(os.path.join(d, n), "rb").read()[:64] + b"\n")
    event += b"; volumes sha256:" + h.hexdigest().encode()
print(hashlib.sha256(bytes.fromhex(sys.argv[1]) + hashlib.sha256(event).digest()).hexdigest())
PY
}

img=$T/img
key=$T/key
make_image "$img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --json
pycheck "$out" "d['pcrs'] == [7, 15] and d['verified'] is True" "enroll --json before the lock"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list --json "$img"
pycheck "$out" "d['tokens'][0]['pcrs'] == [7, 15]" "list --json: the lock PCR is sealed to"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
# The note of that unlock: HMAC-SHA256(passphrase, "cvmseal lock volume v1" NUL || UUID).
uuid=$(cryptsetup luksUUID "$img")
[ -f "$T/volumes/$uuid" ] || fail "unlock noted no volume: $(ls -la "$T")"
"$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/pass" || fail "unlock --print-key"
python3 - "$T/pass" "$uuid" "$T/volumes/$uuid" <<'PY' || fail "the volume note is not the documented HMAC"
import hashlib, hmac, sys
want = hmac.new(open(sys.argv[1], "rb").read(), b"cvmseal lock volume v1\0" + sys.argv[2].encode(), hashlib.sha256).hexdigest()
assert open(sys.argv[3]).read().strip() == want
PY
[ "$(stat -c %a "$T/volumes/$uuid")" = 600 ] || fail "the volume note is not mode 0600"

# A token without the lock, for a data volume opened after boot.
img2=$T/img2
make_image "$img2" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img2" --unlock-key-file "$key" --no-lock-pcr --json
pycheck "$out" "d['pcrs'] == [7]" "enroll --no-lock-pcr"

[ "$(pcr15)" = "$zero" ] || fail "PCR 15 is not zero before the lock"
[ ! -e "$CVMSEAL_LOCK_RECORD" ] || fail "a lock record exists before the lock"

# ---- the lock, counted ----
rm -f "$T/lock.pcap"
TCTI_PCAP_FILE=$T/lock.pcap expect_exit 0 "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" lock --json
pycheck "$out" "d['pcr'] == 15 and d['already-locked'] is False and d['before'] == '$zero'" "lock --json"
after=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["after"])' "$out")
[ "$(pcr15)" = "$after" ] || fail "PCR 15 is $(pcr15), the lock said $after"
[ "$after" != "$zero" ] || fail "the lock did not change PCR 15"
[ "$(lock_after "$zero")" = "$after" ] || fail "PCR 15 after the lock is not SHA-256(zero || SHA-256(event with the volumes))"
cmds=$(python3 "$COUNT" --json "$T/lock.pcap") || fail "tpm-count.py"
pycheck "$cmds" "d['commands'] == ['ReadPublic', 'StartAuthSession', 'PCR_Read', 'PCR_Event', 'PCR_Read', 'FlushContext']" \
        "the lock's TPM commands"
# The TPM's own time of each command (the bench's floor, tests/bench/tpm-count.py): one figure per
# command from the capture's time stamps, none negative, and they add up to the total.
pycheck "$cmds" "len(d['tpm_ms']) == 6 and all(isinstance(x, float) and 0 <= x < 60000 for x in d['tpm_ms']) and abs(sum(d['tpm_ms']) - d['tpm_total_ms']) < 0.01 and d['tpm_total_ms'] > 0" \
        "the TPM's time per command"
note "lock: $cmds"
pycheck "$(cat "$CVMSEAL_LOCK_RECORD")" "set(d) == {'pcr', 'bank', 'before', 'after', 'volumes'} and d['pcr'] == 15 and d['before'] == '$zero' and d['after'] == '$after'" "the lock record"

sum=$(header_sum "$img")
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_in "$err" "lock PCR has been extended" "unlock's message after the lock"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --print-key "$img"
[ -z "$out" ] || fail "unlock --print-key printed something after the lock"
[ "$(header_sum "$img")" = "$sum" ] || fail "a refused unlock changed the header"
key_opens "$key" "$img"
# The data volume's token is not locked.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img2"

# Again: nothing changes.
expect_exit 0 "$CVMSEAL" --tcti "$tcti" lock --json
pycheck "$out" "d['already-locked'] is True" "a second lock"
[ "$(pcr15)" = "$after" ] || fail "a second lock extended PCR 15 again"

# ---- enroll after the lock ----
img3=$T/img3
make_image "$img3" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img3" --unlock-key-file "$key" --json
pycheck "$out" "d['verified'] is False and d['pcrs'] == [7, 15]" "enroll --json after the lock"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/img3" --unlock-key-file "$key" --no-lock-pcr
expect_exit 0 "$CVMSEAL" --tcti "$tcti" remove "$img3" --token 1
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img3" --unlock-key-file "$key"
expect_in "$err" "first unseals at the next boot" "enroll's message after the lock"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" remove "$img3" --token 1
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img3"

# ---- reboot: PCRs reset, /run is new ----
stop_swtpm tpm
tcti=$(start_swtpm tpm) || exit 1
export TPM2TOOLS_TCTI=$tcti
rm -rf "$CVMSEAL_LOCK_RECORD" "$T/volumes"
[ "$(pcr15)" = "$zero" ] || fail "PCR 15 is not zero after the reboot"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img3"
expect_in "$err" "^Token 0 opens" "the token enrolled after the lock, at the next boot"

# ---- an interrupted lock: the record is there, PCR 15 is not extended ----
printf '{"pcr": 15, "bank": "sha256", "before": "%s", "after": "%s"}\n' "$zero" "$after" >"$CVMSEAL_LOCK_RECORD"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" lock --json
pycheck "$out" "d['already-locked'] is False" "lock after an interrupted lock"
[ "$(pcr15)" = "$(lock_after "$zero")" ] || fail "the lock after an interrupted one did not extend PCR 15"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

# ---- a malformed record ----
stop_swtpm tpm
tcti=$(start_swtpm tpm) || exit 1
export TPM2TOOLS_TCTI=$tcti
for bad in '{"pcr": 15}' 'not json' '{"pcr": 14, "bank": "sha256", "before": "'$zero'", "after": "'$zero'"}' \
           '{"pcr": 15, "bank": "sha256", "before": "00", "after": "'$zero'"}'; do
        printf '%s' "$bad" >"$CVMSEAL_LOCK_RECORD"
        expect_exit 10 "$CVMSEAL" --tcti "$tcti" lock
        expect_in "$err" "lock record is malformed" "lock with the record '$bad'"
        [ "$(pcr15)" = "$zero" ] || fail "lock with a malformed record extended PCR 15"
        sum=$(header_sum "$img2")
        expect_exit 10 "$CVMSEAL" --tcti "$tcti" enroll "$img2" --unlock-key-file "$key"
        [ "$(header_sum "$img2")" = "$sum" ] || fail "enroll with a malformed lock record changed the header"
done
rm -f "$CVMSEAL_LOCK_RECORD"
# No TPM: exit 6.
expect_exit 6 "$CVMSEAL" --tcti "swtpm:path=$T/none" lock
echo "PASS"
