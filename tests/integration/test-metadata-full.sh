#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# enroll fails cleanly when the LUKS2 header has no room, and never leaves half an enrollment
# behind: (a) with the JSON metadata area filled by foreign tokens it exits 1 with the "no room"
# message and changes nothing; with just enough room for its keyslot but not for its token it exits
# 1 the same way and removes the keyslot it had added (the keyslots, and the whole JSON metadata,
# are exactly as before); with a little more room it succeeds; with all 32 token ids taken it exits 1
# without writing.  (b) with all 32 keyslots in use it exits 1 with "no room" and the header is
# byte-for-byte unchanged.  (c) with exactly one keyslot free, --recovery-key (which needs two) fails
# as a whole: exit 1, no recovery key printed, no keyslot left behind; with two free it succeeds.
# The original key opens the image after every failure.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"

TCTI=$(start_swtpm tpm)
KEY=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$KEY"

# Filler tokens of every size this test uses: {"type":"filler","keyslots":[],"pad":"xxx..."}.
FILL_SIZES=(4000 2000 1000 500 250 120 60 30 15 8 4 2 1 0)
RESERVES=(250 450 650 850 1050 1250 1450 1650)
mkdir "$T/fill"
python3 - "$T/fill" "${FILL_SIZES[@]}" "${RESERVES[@]}" <<'EOF' || fail "cannot write the filler tokens"
import json, sys
for n in sys.argv[2:]:
    with open("%s/%s.json" % (sys.argv[1], n), "w") as f:
        json.dump({"type": "filler", "keyslots": [], "pad": "x" * int(n)}, f)
EOF

# fill IMG: imports filler tokens, big ones first, until libcryptsetup refuses even the smallest:
# the JSON area is then full to within a few bytes.
fill() {
        local s imported=0
        for s in "${FILL_SIZES[@]}"; do
                while cryptsetup token import --json-file "$T/fill/$s.json" "$1" 2>/dev/null; do
                        imported=$((imported + 1))
                        [ "$imported" -lt 32 ] || fail "fill: 32 tokens and the JSON area is still not full"
                done
        done
        cryptsetup token import --json-file "$T/fill/0.json" "$1" 2>/dev/null \
                && fail "fill: cryptsetup still takes a token"
        return 0
}

# snapshot IMG TAG: the keyslot and token list (luksDump) and, when this cryptsetup can dump it, the
# whole JSON metadata, into $T/TAG.*.
snapshot() {
        cryptsetup luksDump "$1" | grep -E '^  [0-9]+: ' >"$T/$2.slots" || fail "luksDump $1"
        cryptsetup luksDump --dump-json-metadata "$1" >"$T/$2.json" 2>/dev/null || : >"$T/$2.json"
}

# same_as TAG IMG WHAT: IMG's keyslots, tokens and JSON metadata are those of snapshot TAG.
same_as() {
        snapshot "$2" now
        cmp -s "$T/$1.slots" "$T/now.slots" \
                || fail "$3: the keyslots/tokens changed: before: $(cat "$T/$1.slots") after: $(cat "$T/now.slots")"
        cmp -s "$T/$1.json" "$T/now.json" || fail "$3: the LUKS2 JSON metadata changed"
        cryptsetup open --test-passphrase --key-file "$KEY" "$2" || fail "$3: the original key no longer opens"
}

# no_room IMG WHAT [ARGS...]: enroll exits 1 with the "no room" message and prints nothing on stdout.
no_room() {
        local img=$1 what=$2
        shift 2
        expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$KEY" "$@"
        expect_in "$err" "^cvmseal: $img: no room left: no free keyslot or token, or the LUKS2 metadata area is full$" \
                "$what: stderr"
        [ -z "$out" ] || fail "$what: something on stdout: $out"
}

# ---- (a) the JSON metadata area ----

# (a1) Full: enroll cannot even add its keyslot, and writes nothing.
IMG=$T/a1.img
make_image "$IMG" "$KEY"
fill "$IMG"
snapshot "$IMG" a1
SUM=$(header_sum "$IMG")
no_room "$IMG" "(a1) full JSON area"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "(a1) the failed enroll wrote to the header"
same_as a1 "$IMG" "(a1) full JSON area"
rm -f "$IMG"

# (a2) Room for some bytes: a reserve token of R pad bytes is imported first, the area is filled,
# then the reserve is removed.  For each R, a probe copy tells whether a keyslot alone fits
# (luksAddKey with PBKDF2 at 1000 iterations: the same keyslot JSON as cvmseal's).  Where the keyslot
# fits but enroll fails, enroll has added and then removed its keyslot: the undo path.
undo_seen=0 ok_seen=0 nofit_seen=0
for R in "${RESERVES[@]}"; do
        IMG=$T/a2-$R.img
        make_image "$IMG" "$KEY"
        cryptsetup token import --token-id 0 --json-file "$T/fill/$R.json" "$IMG" || fail "(a2) reserve $R"
        fill "$IMG"
        cryptsetup token remove --token-id 0 "$IMG" || fail "(a2) remove the reserve"
        snapshot "$IMG" a2

        cp --sparse=always "$IMG" "$T/probe.img"
        if cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$KEY" \
                "$T/probe.img" "$KEY" 2>/dev/null; then
                keyslot_fits=1
        else
                keyslot_fits=0
        fi
        rm -f "$T/probe.img"

        out=$("$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" 2>"$T/stderr") && rc=0 || rc=$?
        err=$(cat "$T/stderr")
        case $rc in
        0)
                [ "$keyslot_fits" = 1 ] || fail "(a2) R=$R: enroll succeeded where a keyslot does not fit"
                expect_in "$err" "token 0 opens keyslot 1" "(a2) R=$R: enroll stderr"
                expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
                cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "(a2) R=$R: the original key no longer opens"
                note "(a2) reserve $R: enrolled"
                ok_seen=$((ok_seen + 1))
                ;;
        1)
                expect_in "$err" "^cvmseal: $IMG: no room left: no free keyslot or token, or the LUKS2 metadata area is full$" \
                        "(a2) R=$R: enroll stderr"
                [ -z "$out" ] || fail "(a2) R=$R: something on stdout: $out"
                [ "$ok_seen" = 0 ] || fail "(a2) R=$R: enroll fails with more room than where it succeeded"
                same_as a2 "$IMG" "(a2) R=$R: failed enroll"
                if [ "$keyslot_fits" = 1 ]; then
                        note "(a2) reserve $R: keyslot fits, token does not: no room, keyslot removed again"
                        undo_seen=$((undo_seen + 1))
                else
                        note "(a2) reserve $R: not even the keyslot fits: no room"
                        nofit_seen=$((nofit_seen + 1))
                fi
                ;;
        *)
                fail "(a2) R=$R: enroll exited $rc: $err"
                ;;
        esac
        rm -f "$IMG"
done
[ "$undo_seen" -gt 0 ] || fail "(a2) no reserve size left room for the keyslot but not the token: the undo path was not tested"
[ "$ok_seen" -gt 0 ] || fail "(a2) enroll never succeeded, even with ${RESERVES[-1]} bytes of room"

# (a3) All 32 token ids taken (by small foreign tokens): no room, nothing written.
IMG=$T/a3.img
make_image "$IMG" "$KEY"
for id in $(seq 0 31); do
        cryptsetup token import --token-id "$id" --json-file "$T/fill/0.json" "$IMG" || fail "(a3) token $id"
done
snapshot "$IMG" a3
SUM=$(header_sum "$IMG")
no_room "$IMG" "(a3) 32 tokens"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "(a3) the failed enroll wrote to the header"
same_as a3 "$IMG" "(a3) 32 tokens"
rm -f "$IMG"

# ---- (b) all 32 keyslots in use ----
# The default 16 MiB LUKS2 header has room for 32 PBKDF2 keyslots of a 512-bit key, both in its
# keyslot area (32 x 252 KiB) and in its 12 KiB JSON area: check, then fill every slot.
IMG=$T/b.img
make_image "$IMG" "$KEY" 64M
for s in $(seq 1 31); do
        cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$KEY" "$IMG" "$KEY" \
                || fail "(b) luksAddKey #$s: the image has no room for 32 keyslots"
done
[ "$(cryptsetup luksDump "$IMG" | grep -cE '^  [0-9]+: luks2')" = 32 ] || fail "(b) not 32 keyslots"
cp --sparse=always "$IMG" "$T/c.img" # (c) starts from 32 used slots
snapshot "$IMG" b
SUM=$(header_sum "$IMG")
no_room "$IMG" "(b) 32 keyslots"
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "(b) the failed enroll wrote to the header"
same_as b "$IMG" "(b) 32 keyslots"
no_room "$IMG" "(b) 32 keyslots, --recovery-key" --recovery-key
[ "$(header_sum "$IMG")" = "$SUM" ] || fail "(b) the failed enroll --recovery-key wrote to the header"
rm -f "$IMG"

# ---- (c) --recovery-key with exactly one keyslot free ----
IMG=$T/c.img
cryptsetup luksKillSlot -q --key-file "$KEY" "$IMG" 31 || fail "(c) luksKillSlot 31"
[ "$(cryptsetup luksDump "$IMG" | grep -cE '^  [0-9]+: luks2')" = 31 ] || fail "(c) not 31 keyslots"
snapshot "$IMG" c
no_room "$IMG" "(c) one free keyslot, --recovery-key" --recovery-key
same_as c "$IMG" "(c) one free keyslot, --recovery-key"
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" --json enroll "$IMG" --unlock-key-file "$KEY" --recovery-key
expect_in "$out" '"exit-code": 1' "(c) --json: stdout"
grep -q 'recovery-key' <<<"$out" && fail "(c) --json: the failed enroll printed a recovery key: $out"
same_as c "$IMG" "(c) one free keyslot, --recovery-key --json"

# Two keyslots free: the same enroll succeeds, with both slots.
cryptsetup luksKillSlot -q --key-file "$KEY" "$IMG" 30 || fail "(c) luksKillSlot 30"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$KEY" --recovery-key
grep -Eqx '[0-9a-f]{8}(-[0-9a-f]{8}){7}' <<<"$out" || fail "(c) no recovery key printed: $out"
printf '%s' "$out" | cryptsetup open --test-passphrase --key-file - "$IMG" || fail "(c) the recovery key does not open"
[ "$(cryptsetup luksDump "$IMG" | grep -cE '^  [0-9]+: luks2')" = 32 ] || fail "(c) enroll did not add two keyslots"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "(c) the original key no longer opens"
exit 0
