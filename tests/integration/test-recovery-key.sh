#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# enroll --recovery-key prints the recovery key exactly once, in the documented form, and it is a
# real, separate way in: stdout is exactly one line of 8 groups of 8 lowercase hex digits joined by
# '-'; that key (without the newline) opens the image in a keyslot other than the token's (and the
# original passphrase's); stderr says it is shown once and names its keyslot; no token describes
# it; with --json the document carries "recovery-key" and "recovery-keyslot" (the same kind of key);
# two enrolls give different keys; and `remove --token` of the cvmseal token leaves the recovery
# keyslot working.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"

TCTI=$(start_swtpm tpm)
KEY=$T/key
IMG=$T/img
make_image "$IMG" "$KEY"
RE='^[0-9a-f]{8}(-[0-9a-f]{8}){7}$'

# opens_slot IMG KEY-STRING SLOT: the key, without a newline, opens keyslot SLOT.
opens_slot() {
        printf '%s' "$2" | cryptsetup open --test-passphrase --key-slot "$3" --key-file - "$1" 2>/dev/null
}

# stdout goes to a file, byte for byte: exactly one line, the key and its newline.
"$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" --recovery-key >"$T/stdout" 2>"$T/stderr" \
        || fail "enroll --recovery-key: $(cat "$T/stderr")"
err=$(cat "$T/stderr")
[ "$(wc -l <"$T/stdout")" = 1 ] || fail "stdout is not exactly one line: $(cat -A "$T/stdout")"
[ "$(tail -c 1 "$T/stdout" | od -An -c | tr -d ' ')" = '\n' ] || fail "stdout does not end with a newline"
RK=$(cat "$T/stdout")
expect_in "$RK" "$RE" "the recovery key"
[ "$(wc -c <"$T/stdout")" = 72 ] || fail "stdout is $(wc -c <"$T/stdout") bytes, want 71 and a newline"
expect_in "$err" "[Ss]hown (this )?once" "stderr warning"
expect_in "$err" "Recovery key \(keyslot [0-9]+\)" "stderr warning"
RSLOT=$(sed -nE 's/.*Recovery key \(keyslot ([0-9]+)\).*/\1/p' <<<"$err")
expect_in "$err" "token 0 opens keyslot [0-9]+" "enroll stderr"
TSLOT=$(sed -nE 's/.*token 0 opens keyslot ([0-9]+).*/\1/p' <<<"$err")
grep -qF -- "$RK" <<<"$err" && fail "the recovery key also went to stderr"
[ "$RSLOT" != "$TSLOT" ] || fail "the recovery keyslot is the token's keyslot ($TSLOT)"
[ "$RSLOT" != 0 ] && [ "$TSLOT" != 0 ] || fail "enroll reused keyslot 0 (recovery $RSLOT, token $TSLOT)"

# The key, without its newline, opens its keyslot and no other.
opens_slot "$IMG" "$RK" "$RSLOT" || fail "the recovery key does not open keyslot $RSLOT"
printf '%s' "$RK" | cryptsetup open --test-passphrase --key-file - "$IMG" || fail "the recovery key does not open the image"
opens_slot "$IMG" "$RK" "$TSLOT" && fail "the recovery key opens the token's keyslot $TSLOT"
opens_slot "$IMG" "$RK" 0 && fail "the recovery key opens keyslot 0"
printf '%s\n' "$RK" | cryptsetup open --test-passphrase --key-slot "$RSLOT" --key-file - "$IMG" 2>/dev/null \
        && fail "the recovery key opens its keyslot with a newline appended: the newline is part of the key"
# The token's own passphrase is something else.
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --print-key "$IMG"
[ "$out" != "$RK" ] || fail "the token's passphrase is the recovery key"
opens_slot "$IMG" "$out" "$TSLOT" || fail "the token's passphrase does not open keyslot $TSLOT"

# list: the recovery keyslot is in use and is not a cvmseal keyslot; only one token exists.
expect_exit 0 "$CVMSEAL" --json list "$IMG"
python3 - "$out" "$RSLOT" "$TSLOT" <<'EOF' || fail "list --json after enroll --recovery-key: $out"
import json, sys
d, r, t = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
slots = {s["id"]: s["cvmseal"] for s in d["keyslots"]}
assert slots == {0: False, r: False, t: True}, slots
assert len(d["tokens"]) == 1 and d["tokens"][0]["keyslot"] == t, d["tokens"]
EOF
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"

# --json: one document with the key and its keyslot; the key is another one, of the same form.
IMG2=$T/img2
make_image "$IMG2" "$KEY"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" --json enroll "$IMG2" --unlock-key-file "$KEY" --recovery-key
python3 - "$out" <<'EOF' >"$T/json-key" || fail "enroll --json --recovery-key: $out"
import json, sys
d = json.loads(sys.argv[1])
assert isinstance(d["recovery-key"], str) and isinstance(d["recovery-keyslot"], int), d
assert d["recovery-keyslot"] not in (0, d["keyslot"]) and d["token"] == 0, d
print(d["recovery-key"])
print(d["recovery-keyslot"])
EOF
RK2=$(sed -n 1p "$T/json-key")
RSLOT2=$(sed -n 2p "$T/json-key")
expect_in "$RK2" "$RE" "the --json recovery key"
opens_slot "$IMG2" "$RK2" "$RSLOT2" || fail "the --json recovery key does not open keyslot $RSLOT2"
[ "$RK2" != "$RK" ] || fail "two enrolls gave the same recovery key"

# A third enroll, on the first image again: yet another key, in yet another keyslot.
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" --recovery-key
RK3=$out
expect_in "$RK3" "$RE" "the third recovery key"
[ "$RK3" != "$RK" ] && [ "$RK3" != "$RK2" ] || fail "a recovery key came out twice"
RSLOT3=$(sed -nE 's/.*Recovery key \(keyslot ([0-9]+)\).*/\1/p' <<<"$err")
TSLOT3=$(sed -nE 's/.*token 1 opens keyslot ([0-9]+).*/\1/p' <<<"$err")
[ -n "$TSLOT3" ] || fail "the second enroll of $IMG did not make token 1: $err"
opens_slot "$IMG" "$RK3" "$RSLOT3" || fail "the third recovery key does not open keyslot $RSLOT3"
opens_slot "$IMG" "$RK" "$RSLOT" || fail "the first recovery key stopped working after another enroll"

# Removing the cvmseal token takes its keyslot, never the recovery keyslot.
expect_exit 0 "$CVMSEAL" --json remove "$IMG" --token 0
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["removed-keyslots"] == [int(sys.argv[2])], d' \
        "$out" "$TSLOT" || fail "remove --token 0 removed other keyslots than $TSLOT: $out"
cryptsetup luksDump "$IMG" >"$T/dump"
grep -Eq "^  $TSLOT: luks2" "$T/dump" && fail "keyslot $TSLOT is still there after remove"
grep -Eq "^  $RSLOT: luks2" "$T/dump" || fail "remove took the recovery keyslot $RSLOT"
opens_slot "$IMG" "$RK" "$RSLOT" || fail "the recovery key no longer opens after remove --token 0"
expect_exit 8 "$CVMSEAL" --tcti "$TCTI" unlock --test --token 0 "$IMG"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG" # token 1 still works
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "the original key no longer opens"
exit 0
