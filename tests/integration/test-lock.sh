#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The lock PCR (docs/boot.md, "The lock PCR"):
# - enroll seals to PCR 15 as well as the asked PCRs (list says 7,15); unlock --test passes;
# - `cvmseal lock` records PCR 15's value, then extends it with one PCR_Event (2 TPM commands in
#   all); afterwards unlock exits 3 and loses nothing; a second `lock` changes nothing;
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

img=$T/img
key=$T/key
make_image "$img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --json
pycheck "$out" "d['pcrs'] == [7, 15] and d['verified'] is True" "enroll --json before the lock"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" list --json "$img"
pycheck "$out" "d['tokens'][0]['pcrs'] == [7, 15]" "list --json: the lock PCR is sealed to"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"

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
python3 - "$after" <<'PY' || fail "PCR 15 after the lock is not SHA-256(zero || SHA-256(event))"
import hashlib, sys
ev = hashlib.sha256(b"cvmseal: initramfs done, lock").digest()
assert hashlib.sha256(bytes(32) + ev).hexdigest() == sys.argv[1]
PY
cmds=$(python3 "$COUNT" --json "$T/lock.pcap") || fail "tpm-count.py"
pycheck "$cmds" "d['total'] == 2" "the lock's TPM commands (PCR_Read, PCR_Event)"
note "lock: $cmds"
pycheck "$(cat "$CVMSEAL_LOCK_RECORD")" "d == {'pcr': 15, 'bank': 'sha256', 'before': '$zero', 'after': '$after'}" "the lock record"

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
rm -f "$CVMSEAL_LOCK_RECORD"
[ "$(pcr15)" = "$zero" ] || fail "PCR 15 is not zero after the reboot"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img3"
expect_in "$err" "^Token 0 opens" "the token enrolled after the lock, at the next boot"

# ---- an interrupted lock: the record is there, PCR 15 is not extended ----
printf '{"pcr": 15, "bank": "sha256", "before": "%s", "after": "%s"}\n' "$zero" "$after" >"$CVMSEAL_LOCK_RECORD"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" lock --json
pycheck "$out" "d['already-locked'] is False" "lock after an interrupted lock"
[ "$(pcr15)" = "$after" ] || fail "the lock after an interrupted one did not extend PCR 15"
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
