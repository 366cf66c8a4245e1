#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A token is bound to the TPM it was sealed on: the image enrolled on swtpm "a", unlocked through
# swtpm "b" (which has an SRK of its own at 0x81000001, created by enrolling another image there) or
# through a fresh swtpm "c" (no SRK at all), exits 3 with a message saying this is not the TPM the
# token was sealed to, for --test and for --print-key (which then writes nothing); unlock never
# creates an SRK (c still has no persistent or transient handle afterwards, b still exactly one);
# the LUKS2 header is untouched, and on "a" the token and the original key still work.
. "$(dirname "$0")/lib.sh"

command -v tpm2_getcap >/dev/null || skip "tpm2-tools is not installed"

# handles TCTI KIND: the TPM's handles of KIND (persistent, transient), one a line.
handles() {
        TPM2TOOLS_TCTI=$1 tpm2_getcap "handles-$2" 2>"$T/getcap.err" || fail "tpm2_getcap: $(cat "$T/getcap.err")"
}

other_msg="this is not the TPM the token was sealed to"

ta=$(start_swtpm a) || exit 1
tb=$(start_swtpm b) || exit 1
tc=$(start_swtpm c) || exit 1
img=$T/img
imgb=$T/imgb
key=$T/key
make_image "$img" "$key"
make_image "$imgb" "$key"

expect_exit 0 "$CVMSEAL" --tcti "$ta" enroll "$img" --unlock-key-file "$key"
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$img"
# b is another machine: its own local configuration (its pinned SRK).
CVMSEAL_CONFDIR=$T/conf-b expect_exit 0 "$CVMSEAL" --tcti "$tb" enroll "$imgb" --unlock-key-file "$key"
[ "$(handles "$tb" persistent)" = "- 0x81000001" ] || fail "b's persistent handles: $(handles "$tb" persistent)"
[ -z "$(handles "$tc" persistent)" ] || fail "the fresh swtpm c already has persistent handles"

h=$(header_sum "$img")

# ---- b: a TPM with another SRK ----
expect_exit 3 "$CVMSEAL" --tcti "$tb" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $other_msg" "unlock on another TPM"
[ -z "$out" ] || fail "unlock --test on another TPM printed on stdout: $out"
"$CVMSEAL" --tcti "$tb" unlock --print-key "$img" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
[ "$rc" = 3 ] || fail "--print-key on another TPM exited $rc, expected 3: $(cat "$T/pk.err")"
[ ! -s "$T/pk" ] || fail "--print-key on another TPM wrote on stdout"
expect_in "$(cat "$T/pk.err")" "$other_msg" "--print-key on another TPM"
[ "$(handles "$tb" persistent)" = "- 0x81000001" ] || fail "unlock changed b's persistent handles"
[ -z "$(handles "$tb" transient)" ] || fail "unlock left transient objects on b: $(handles "$tb" transient)"
# b's own image still unlocks on b (b is a working TPM, only the wrong one), with b's configuration;
# with a's, whose pinned SRK is a's, it is refused before any TPM command (3).
CVMSEAL_CONFDIR=$T/conf-b expect_exit 0 "$CVMSEAL" --tcti "$tb" unlock --test "$imgb"
expect_exit 3 "$CVMSEAL" --tcti "$tb" unlock --test "$imgb"
expect_in "$err" "^cvmseal: $imgb: $other_msg" "unlock of b's token on a machine that pins a's SRK"
# And enroll through b where a's SRK is pinned: refused (3), nothing written.
h2=$(header_sum "$imgb")
expect_exit 3 "$CVMSEAL" --tcti "$tb" enroll "$imgb" --unlock-key-file "$key"
[ "$(header_sum "$imgb")" = "$h2" ] || fail "an enroll refused for its SRK changed the header"

# ---- c: a TPM that never had an SRK ----
expect_exit 3 "$CVMSEAL" --tcti "$tc" unlock --test "$img"
expect_in "$err" "^cvmseal: $img: $other_msg" "unlock on a TPM without an SRK"
"$CVMSEAL" --tcti "$tc" unlock --print-key "$img" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
[ "$rc" = 3 ] || fail "--print-key on a TPM without an SRK exited $rc, expected 3: $(cat "$T/pk.err")"
[ ! -s "$T/pk" ] || fail "--print-key on a TPM without an SRK wrote on stdout"
p=$(handles "$tc" persistent)
[ -z "$p" ] || fail "unlock created a persistent object on c: $p"
p=$(handles "$tc" transient)
[ -z "$p" ] || fail "unlock left a transient object (a CreatePrimary?) on c: $p"

# ---- nothing was lost ----
[ "$(header_sum "$img")" = "$h" ] || fail "a refused unlock changed the LUKS2 header"
key_opens "$key" "$img" 0
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$img"
expect_in "$err" "^Token 0 opens keyslot [0-9]+ of $img\.$" "unlock on the right TPM"
exit 0
