#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The host sits on the TPM channel (issue 11, docs/threat-model.md): tpm-fault-proxy.py between
# cvmseal and swtpm "a" forges answers, and cvmseal believes none of them.
#
# - The lock: a forged PCR_Event success (the command swallowed, a success made up) is refused (the
#   response HMAC of the salted session does not verify): `cvmseal lock` fails (6), PCR 15 is not
#   extended, so the initramfs powers off (docs/boot.md); on the old code the lock said it extended
#   PCR 15.  A ReadPublic of the SRK answered by another TPM ("b"): 3.  The channel dropped at
#   PCR_Event: 6.  Through an honest proxy the lock works (the harness can succeed).
# - Reseal, rotate and enroll: a PCR_Read answered by b (the attacker's boot state) is refused (the
#   values sealed to are read through an audit session salted with the pinned SRK), nothing changes.
# - Unlock: the SRK's ReadPublic answered by b while the token names a's SRK: 3, and no
#   StartAuthSession leaves the client (its capture); with the token's srk-name rewritten to b's
#   as well, refused by the pinned SRK before any TPM command: 3, an empty capture.
. "$(dirname "$0")/lib.sh"

command -v tpm2_pcrread >/dev/null && command -v tpm2_pcrextend >/dev/null || skip "tpm2-tools is not installed"
HERE=$(cd "$(dirname "$0")" && pwd)
PROXY=$HERE/tpm-fault-proxy.py
COUNT=$HERE/../bench/tpm-count.py

ta=$(start_swtpm a) || exit 1
tb=$(start_swtpm b) || exit 1
A=${ta#swtpm:path=}
B=${tb#swtpm:path=}
# b has an SRK of its own (another machine's configuration).
CVMSEAL_CONFDIR=$T/conf-b "$CVMSEAL" --tcti "$tb" srk export --create --output "$T/b.srk" || fail "srk export on b"

key=$T/key
img=$T/img
make_image "$img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$ta" enroll "$img" --unlock-key-file "$key" --tpm2-pcrs 7
[ -s "$CVMSEAL_CONFDIR/tpm2-srk.pub" ] || fail "enroll pinned no SRK"

PROXY_UPSTREAM=$A
pcr15() { TPM2TOOLS_TCTI=$ta tpm2_pcrread -Q -o "$T/pcr15.bin" sha256:15 && od -An -tx1 -v "$T/pcr15.bin" | tr -d ' \n'; }
zero=$(printf '%064d' 0)

# ---- unlock: another TPM answers the SRK's ReadPublic ----
start_proxy readpublic --route "ReadPublic:$B"
rm -f "$T/u.pcap"
TCTI_PCAP_FILE=$T/u.pcap expect_exit 3 "$CVMSEAL" --tcti "pcap:$PTCTI" unlock --test "$img"
cmds=$(python3 "$COUNT" --json "$T/u.pcap") || fail "tpm-count.py"
pycheck "$cmds" "'StartAuthSession' not in d['commands'] and 'Unseal' not in d['commands']" \
        "the commands sent after a forged ReadPublic"
grep -q "ReadPublic routed" "$PLOG" || fail "the proxy did not route ReadPublic: $(cat "$PLOG")"
# ... and the token rewritten to name b's SRK: the pinned SRK refuses it before any TPM command.
cryptsetup token export --token-id 0 "$img" >"$T/token.json" || fail "token export"
bname=$(CVMSEAL_CONFDIR=$T/conf-b "$CVMSEAL" --tcti "$tb" --json srk export --output "$T/b2.srk" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])') || fail "the name of b's SRK"
cp --sparse=always "$img" "$T/forged.img"
pyedit "$T/token.json" "$T/forged.json" "d['tpm2']['srk-name'] = '$bname'"
cryptsetup token remove --token-id 0 "$T/forged.img" || fail "token remove"
cryptsetup token import --token-id 0 --json-file "$T/forged.json" "$T/forged.img" || fail "token import"
rm -f "$T/u.pcap"
TCTI_PCAP_FILE=$T/u.pcap expect_exit 3 "$CVMSEAL" --tcti "pcap:$PTCTI" unlock --test "$T/forged.img"
[ ! -s "$T/u.pcap" ] || [ "$(python3 "$COUNT" --json "$T/u.pcap" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')" = 0 ] \
        || fail "a token naming another SRK reached the TPM: $(python3 "$COUNT" "$T/u.pcap")"
expect_in "$err" "not the TPM the token was sealed to" "unlock of a token naming b's SRK"
stop_proxy

# ---- reseal, rotate and enroll: the PCR values sealed to come from the TPM, not the channel ----
# The first PCR_Read answered by b (whose PCR 7 the attacker moved to a boot state of his choice):
# the reads go through an audit session salted with the pinned SRK, so b's answer is refused.
TPM2TOOLS_TCTI=$tb tpm2_pcrextend "7:sha256=$(printf '%064x' 7)" >/dev/null || fail "tpm2_pcrextend on b"
sum=$(header_sum "$img")
for verb in reseal rotate; do
        start_proxy "pcrread-$verb" --route "PCR_Read:$B"
        "$CVMSEAL" --tcti "$PTCTI" "$verb" "$img" >"$T/out" 2>"$T/err" && fail "$verb sealed to values another TPM gave"
        grep -q "PCR_Read routed" "$PLOG" || fail "the proxy routed no PCR_Read ($verb)"
        stop_proxy
        [ "$(header_sum "$img")" = "$sum" ] || fail "a refused $verb changed the header"
done
make_image "$T/img2" "$key"
start_proxy pcrread-enroll --route "PCR_Read:$B"
"$CVMSEAL" --tcti "$PTCTI" enroll "$T/img2" --unlock-key-file "$key" --tpm2-pcrs 7 >"$T/out" 2>"$T/err" \
        && fail "enroll sealed to values another TPM gave"
stop_proxy
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$img"
# Through an honest proxy, reseal works (the harness can succeed).
start_proxy honest-reseal
expect_exit 0 "$CVMSEAL" --tcti "$PTCTI" reseal "$img"
stop_proxy
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$img"

# ---- the lock ----
# The lock's ReadPublic answered by b: 3, PCR 15 untouched.
start_proxy lock-readpublic --route "ReadPublic:$B"
expect_exit 3 "$CVMSEAL" --tcti "$PTCTI" lock
stop_proxy
[ "$(pcr15)" = "$zero" ] || fail "the lock extended PCR 15 through a forged SRK"
[ ! -e "$CVMSEAL_LOCK_RECORD" ] || rm -f "$CVMSEAL_LOCK_RECORD"

# A forged PCR_Event success: refused (6), PCR 15 not extended, the token still unseals (so the
# initramfs, which powers off on any failure of the lock, is right to).
start_proxy forge --forge-ok PCR_Event
expect_exit 6 "$CVMSEAL" -v --tcti "$PTCTI" lock
grep -q "PCR_Event forged" "$PLOG" || fail "the proxy forged nothing: $(cat "$PLOG")"
! grep -q "^Extended" <<<"$err" || fail "the lock claims to have extended PCR 15: $err"
stop_proxy
[ "$(pcr15)" = "$zero" ] || fail "PCR 15 changed although the PCR_Event was swallowed"
rm -f "$CVMSEAL_LOCK_RECORD"

# The channel dropped at PCR_Event: 6.
start_proxy drop --drop-after-cc PCR_Event
expect_exit 6 "$CVMSEAL" --tcti "$PTCTI" lock
stop_proxy
[ "$(pcr15)" = "$zero" ] || fail "PCR 15 changed although the channel dropped"
rm -f "$CVMSEAL_LOCK_RECORD"

# An honest proxy: the lock works, and the token no longer unseals.
start_proxy honest
expect_exit 0 "$CVMSEAL" --tcti "$PTCTI" --json lock
pycheck "$out" "d['verified'] is True and d['after'] != '$zero'" "the lock through an honest proxy"
stop_proxy
[ "$(pcr15)" != "$zero" ] || fail "the lock through an honest proxy did not extend PCR 15"
expect_exit 3 "$CVMSEAL" --tcti "$ta" unlock --test "$img"
echo PASS
