#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `cvmseal diagnose` (docs/diagnose.md) names the PCR that changed and the event that changed it.
#
# A "firmware" (this test) writes an event log (tests/integration/eventlog-tool.py) and extends the
# swtpm with exactly its events, as firmware does; a token is enrolled to PCRs 4, 7 and 9; then:
#
#   healthy       diagnose says the unlock would succeed (exit 0, "unlocks": true)
#   pcrextend     tpm2_pcrextend of PCR 7 after boot: exit 3; PCR 7 named; the change is "outside" the
#                 log, whose events give exactly the enrolled value; without an event log: PCR 7 and
#                 both values, "no-log"
#   added event   the next boot measures one more Secure Boot authority: PCR 7, that event, "added"
#   kernel        the next boot starts another kernel (PE images of pcr-predict-ref.py): PCR 4; with
#                 --kernel (or a boot directory, $CVMSEAL_BOOT_DIR) holding the enrolled kernel the
#                 kernel event is named as "replaced" by that file, and this boot's kernel is named;
#                 without candidates the kernel event is named as the likeliest
#   initrd        the next boot has another initrd: PCR 9, the initrd event, replaced (--initrd)
#   lock          after `cvmseal lock`: PCR 15, "locked"
#   real logs     ../shared/testdata/eventlog (skipped, saying so, without it): a fresh swtpm extended
#                 with a real log's PCR 4 events, a token sealed offline to `pcr predict --kernel K`
#                 of that log: diagnose names PCR 4 and the kernel event tpm2_eventlog numbers as the
#                 last EV_EFI_BOOT_SERVICES_APPLICATION of PCR 4, "replaced" by K
#   version 1     a version 1 token (built from its documentation): whether the PCRs match, through the
#                 policy digest, and that it cannot say which
#   signed        a token sealed to signed policies: the matching signed policy is named; after a
#                 change none matches (exit 3) and the newest one's differing PCR is explained; an
#                 empty directory says no policy verifies
#   nothing sent  every diagnose above runs through the pcap TCTI: no Unseal, Load, Create, PCR_Extend,
#                 PCR_Event, EvictControl or NV_DefineSpace ever reaches the TPM (tests/bench/tpm-count.py);
#                 the LUKS2 header (checksum), the configuration directory and the lock record's
#                 directory are unchanged by every diagnose
. "$(dirname "$0")/lib.sh"

for tool in python3 tpm2_pcrextend tpm2_createpolicy tpm2_create tpm2_readpublic tpm2_flushcontext openssl; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, tpm2-tools, openssl)"
done
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL=$HERE/eventlog-tool.py
REF=$HERE/pcr-predict-ref.py
COUNT=$HERE/../bench/tpm-count.py
for f in "$TOOL" "$REF" "$COUNT"; do
        [ -f "$f" ] || fail "$f is missing"
done

tcti=$(start_swtpm tpm) || exit 1
sock=${tcti#swtpm:path=}
export TPM2TOOLS_TCTI=$tcti
# The machine's own log and /boot have nothing to do with this swtpm.
export CVMSEAL_EVENT_LOG="" CVMSEAL_BOOT_DIR=""
img=$T/img
key=$T/key
make_image "$img" "$key"
mkdir -p "$CVMSEAL_CONFDIR" "$T/run"
export CVMSEAL_LOCK_RECORD=$T/run/lock.json

# firmware SPEC: a log of SPEC's events in $T/SPEC.log, and the swtpm "rebooted" and extended with them.
firmware() {
        python3 "$TOOL" make "$T/$1.log" "$T/$1.json" || fail "eventlog-tool.py make $1"
        stop_swtpm tpm
        start_swtpm tpm >/dev/null || exit 1
        while read -r pcr digest; do
                tpm2_pcrextend "$pcr:sha256=$digest" >/dev/null || fail "tpm2_pcrextend $pcr"
        done < <(python3 "$TOOL" digests "$T/$1.log")
}

# state: what diagnose must never change.
state() {
        header_sum "$img"
        find "$CVMSEAL_CONFDIR" "$T/run" -printf '%p %s %T@\n' 2>/dev/null | sort | sha256sum
}

# diagnose CODE ARGS...: `cvmseal --json diagnose` through the pcap TCTI, expecting exit CODE; its JSON in
# $out, its commands in $cmds.  Nothing that unseals, loads, extends or writes reaches the TPM, and
# nothing changes on the disk, in the configuration or in /run.
diagnose() {
        local code=$1 before
        shift
        before=$(state)
        rm -f "$T/d.pcap"
        TCTI_PCAP_FILE=$T/d.pcap expect_exit "$code" "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" --json diagnose "$@"
        cmds=$(python3 "$COUNT" --json "$T/d.pcap") || fail "tpm-count.py"
        pycheck "$cmds" "not {'Unseal', 'Load', 'Create', 'CreatePrimary', 'PCR_Extend', 'PCR_Event', 'EvictControl', \
                'NV_DefineSpace', 'Import', 'PolicyPCR'} & set(d['commands'])" "the TPM commands of diagnose $*"
        [ "$(state)" = "$before" ] || fail "diagnose $* changed the header, the configuration or /run"
        pycheck "$out" "d['exit-code'] == $code" "diagnose --json's exit-code"
        ndiag=$((ndiag + 1))
}
ndiag=0

# pcr_check JSON PCR EXPR: EXPR holds for p, the explanation of PCR PCR in the first token's pcrs check.
pcr_check() {
        pycheck "$1" "[p for c in d['tokens'][0]['checks'] if c['check'] in ('pcrs', 'signed-policy') \
                for p in c.get('pcrs', []) if p['pcr'] == $2] and all(($3) for c in d['tokens'][0]['checks'] \
                if c['check'] in ('pcrs', 'signed-policy') for p in c.get('pcrs', []) if p['pcr'] == $2)" \
                "PCR $2's explanation"
}

# ---- the enrolled boot ----
"$REF" make-pe "$T/kernel-a.efi" || fail "make-pe"
"$REF" make-pe "$T/kernel-b.efi" --pe32 || fail "make-pe --pe32"
head -c 100000 /dev/urandom >"$T/initrd-a"
head -c 120000 /dev/urandom >"$T/initrd-b"
spec() {
        local kernel=$1 initrd=$2 extra=$3
        cat <<EOF
[{"pcr": 7, "variable": "SecureBoot", "value": "01"},
 {"pcr": 7, "variable": "PK", "value": "$(printf '%0128x' 1)"},
 {"pcr": 7, "variable": "KEK", "value": "$(printf '%0128x' 2)"},
 {"pcr": 7, "variable": "db", "value": "$(printf '%0128x' 3)"},
 {"pcr": 7, "variable": "dbx", "value": "$(printf '%0128x' 4)"},
 {"pcr": 7, "separator": true},
 {"pcr": 4, "action": "Calling EFI Application from Boot Option"},
 {"pcr": 4, "separator": true},
 {"pcr": 7, "authority": "db", "value": "$(printf '%0128x' 5)"},
 {"pcr": 4, "app": "\\\\EFI\\\\BOOT\\\\BOOTX64.EFI", "digest": "$(printf '%064x' 77)"},
 {"pcr": 4, "app": "\\\\EFI\\\\debian\\\\vmlinuz", "pe": "$T/$kernel"},
 {"pcr": 9, "load-options": "console=ttyS0 root=/dev/vda"},
 {"pcr": 9, "initrd": "$T/$initrd"}$extra]
EOF
}
spec kernel-a.efi initrd-a "" >"$T/enrolled.json"
firmware enrolled
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --tpm2-pcrs 4,7,9

diagnose 0 "$img" --event-log "$T/enrolled.log"
pycheck "$out" "d['unlocks'] and d['tokens'][0]['unlocks'] and [c['status'] for c in d['tokens'][0]['checks'] \
        if c['check'] == 'pcrs'] == ['ok']" "diagnose of the enrolled boot"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" diagnose "$img"
expect_in "$out" "an unlock would succeed now" "diagnose's words for the enrolled boot"

# ---- tpm2_pcrextend after boot ----
pcr_extend "$tcti" 7
diagnose 3 "$img" --event-log "$T/enrolled.log"
pcr_check "$out" 7 "p['change'] == 'outside' and 'extended after the 7 events' in p['message']"
pycheck "$out" "d['tokens'][0]['exit-code'] == 3 and len([p for c in d['tokens'][0]['checks'] for p in c.get('pcrs', [])]) == 1" \
        "only PCR 7 differs"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" diagnose "$img" --event-log "$T/enrolled.log"
expect_in "$out" "FAILED  pcrs +PCR 7 differs from the enrolled value" "diagnose's words for PCR 7"
expect_in "$out" "PCR 7 was extended after the 7 events the event log has for it, without an entry in the log" \
        "the extension outside the log"
diagnose 3 "$img"
pcr_check "$out" 7 "p['change'] == 'no-log' and p['current'] != p['enrolled']"
unlock_out=$("$CVMSEAL" --tcti "$tcti" unlock --test "$img" 2>&1) && fail "unlock --test passed after the extension: $unlock_out"

# ---- one more event: a Secure Boot authority ----
spec kernel-a.efi initrd-a ",
 {\"pcr\": 7, \"authority\": \"db\", \"value\": \"$(printf '%0128x' 6)\"}" >"$T/added.json"
firmware added
added=$(python3 "$TOOL" last "$T/added.log" 7 800000E0) || fail "eventlog-tool.py last"
diagnose 3 "$img" --event-log "$T/added.log"
pcr_check "$out" 7 "p['change'] == 'added' and [e['index'] for e in p['changed']] == [$added]"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" diagnose "$img" --event-log "$T/added.log"
expect_in "$out" "PCR 7: the Secure Boot authority db measured at event $added \(EV_EFI_VARIABLE_AUTHORITY\) is new: the enrolled boot had no such event" \
        "the added event named"

# ---- another kernel ----
spec kernel-b.efi initrd-a "" >"$T/kernel.json"
firmware kernel
kev=$(python3 "$TOOL" last "$T/kernel.log" 4 80000003) || fail "eventlog-tool.py last"
diagnose 3 "$img" --event-log "$T/kernel.log"
pcr_check "$out" 4 "p['change'] == 'unknown' and [e['index'] for e in p['changed']] == [$kev] and \
        p['changed'][0]['what'] == 'kernel' and 'the likeliest is the kernel image measured at event $kev' in p['message']"
diagnose 3 "$img" --event-log "$T/kernel.log" --kernel "$T/kernel-a.efi"
pcr_check "$out" 4 "p['change'] == 'replaced' and p['candidate'] == '$T/kernel-a.efi' and [e['index'] for e in p['changed']] == [$kev]"
mkdir -p "$T/boot"
cp "$T/kernel-a.efi" "$T/boot/vmlinuz-6.1.0-1-amd64"
cp "$T/kernel-b.efi" "$T/boot/vmlinuz-6.1.0-2-amd64"
cp "$T/initrd-a" "$T/boot/initrd.img-6.1.0-1-amd64"
CVMSEAL_BOOT_DIR=$T/boot expect_exit 3 "$CVMSEAL" --tcti "$tcti" diagnose "$img" --event-log "$T/kernel.log"
expect_in "$out" "PCR 4: the kernel image measured at event $kev \(EV_EFI_BOOT_SERVICES_APPLICATION: .EFI.debian.vmlinuz\) differs from the one enrolled: the enrolled value is that of $T/boot/vmlinuz-6.1.0-1-amd64 in its place \(this boot's is $T/boot/vmlinuz-6.1.0-2-amd64\)" \
        "the kernel named from the boot directory"

# ---- another initrd ----
spec kernel-a.efi initrd-b "" >"$T/initrd.json"
firmware initrd
iev=$(python3 "$TOOL" last "$T/initrd.log" 9 6) || fail "eventlog-tool.py last"
diagnose 3 "$img" --event-log "$T/initrd.log"
pcr_check "$out" 9 "p['change'] == 'unknown' and [e['index'] for e in p['changed']] == [$iev] and p['changed'][0]['what'] == 'initrd'"
diagnose 3 "$img" --event-log "$T/initrd.log" --initrd "$T/initrd-a"
pcr_check "$out" 9 "p['change'] == 'replaced' and p['candidate'] == '$T/initrd-a'"
expect_exit 3 "$CVMSEAL" --tcti "$tcti" diagnose "$img" --event-log "$T/initrd.log" --initrd "$T/initrd-a"
expect_in "$out" "PCR 9: the initrd measured at event $iev \(EV_EVENT_TAG \"Linux initrd\"\) differs from the one enrolled" \
        "the initrd named"

# ---- the lock ----
firmware enrolled
diagnose 0 "$img" --event-log "$T/enrolled.log"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" lock
diagnose 3 "$img" --event-log "$T/enrolled.log"
pcr_check "$out" 15 "p['change'] == 'locked'"

# ---- a version 1 token: whether, not which ----
img1=$T/img1
make_image "$img1" "$key"
firmware enrolled
tpm2_readpublic -Q -c 0x81000001 -n "$T/srk.name" || fail "tpm2_readpublic"
head -c 32 /dev/urandom >"$T/share"
tpm2_createpolicy -Q --policy-pcr -l sha256:7 -L "$T/policy" || fail "tpm2_createpolicy"
tpm2_create -Q -C 0x81000001 -L "$T/policy" -a "fixedtpm|fixedparent|noda" -i "$T/share" \
        -u "$T/obj.pub" -r "$T/obj.priv" || fail "tpm2_create"
tpm2_flushcontext -t >/dev/null 2>&1
python3 - "$T" "$(cryptsetup luksUUID "$img1")" <<'PY' || fail "writing the version 1 token"
import base64, hashlib, hmac, json, os, sys
t, uuid = sys.argv[1], sys.argv[2]
rd = lambda n: open(os.path.join(t, n), "rb").read()
salt = os.urandom(32)
info = b"cvmseal v1" + uuid.encode() + (0).to_bytes(4, "big")
prk = hmac.new(salt, rd("share"), hashlib.sha256).digest()
open(os.path.join(t, "pass1"), "w").write(base64.b64encode(hmac.new(prk, info + b"\x01", hashlib.sha256).digest()).decode())
tok = {"type": "cvmseal", "keyslots": ["1"], "version": 1,
       "kdf": {"type": "hkdf-sha256", "salt": base64.b64encode(salt).decode()},
       "tpm2": {"srk-handle": 0x81000001, "srk-name": rd("srk.name").hex(), "pcr-bank": "sha256", "pcrs": [7],
                "pin": False, "policy": rd("policy").hex(),
                "public": base64.b64encode(rd("obj.pub")).decode(), "private": base64.b64encode(rd("obj.priv")).decode()}}
json.dump(tok, open(os.path.join(t, "v1.json"), "w"))
PY
cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$key" --new-key-slot 1 \
        "$img1" "$T/pass1" || fail "luksAddKey"
cryptsetup token import --token-id 0 --json-file "$T/v1.json" "$img1" || fail "token import"
img_save=$img
img=$img1
diagnose 0 "$img1" --event-log "$T/enrolled.log"
pycheck "$out" "d['tokens'][0]['version'] == 1 and 'checked through its policy digest' in \
        [c for c in d['tokens'][0]['checks'] if c['check'] == 'pcrs'][0]['message']" "a version 1 token that unlocks"
pcr_extend "$tcti" 7
diagnose 3 "$img1" --event-log "$T/enrolled.log"
pycheck "$out" "'which PCR differs cannot be said' in [c for c in d['tokens'][0]['checks'] if c['check'] == 'pcrs'][0]['message']" \
        "a version 1 token cannot say which PCR"
img=$img_save

# ---- signed policies ----
imgs=$T/imgs
make_image "$imgs" "$key"
firmware enrolled
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/signer.pem" 2>/dev/null || fail "openssl genpkey"
openssl pkey -in "$T/signer.pem" -pubout -out "$T/signer.pub" 2>/dev/null || fail "openssl pkey"
export CVMSEAL_SIGNED_POLICY_DIR=$T/signed
mkdir -p "$CVMSEAL_SIGNED_POLICY_DIR"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$imgs" --unlock-key-file "$key" --tpm2-public-key "$T/signer.pub" --tpm2-pcrs 4,7
"$CVMSEAL" pcr predict --event-log "$T/enrolled.log" --pcrs 4,7 >"$T/pcrs-47.json" || fail "pcr predict"
expect_exit 0 "$CVMSEAL" policy sign --key "$T/signer.pem" --pcr-values "$T/pcrs-47.json" --output "$T/signed/enrolled.json"
img=$imgs
diagnose 0 "$imgs" --event-log "$T/enrolled.log"
pycheck "$out" "[c['status'] for c in d['tokens'][0]['checks'] if c['check'] == 'signed-policy'] == ['ok'] and \
        '$T/signed/enrolled.json' in [c['message'] for c in d['tokens'][0]['checks'] if c['check'] == 'signed-policy'][0]" \
        "the matching signed policy named"
firmware kernel
diagnose 3 "$imgs" --event-log "$T/kernel.log" --kernel "$T/kernel-a.efi"
pycheck "$out" "[c['errno'] for c in d['tokens'][0]['checks'] if c['check'] == 'signed-policy'] == [42]" \
        "no signed policy matches: ENOMSG"
pcr_check "$out" 4 "p['change'] == 'replaced' and p['candidate'] == '$T/kernel-a.efi'"
rm -f "$T/signed/"*
diagnose 3 "$imgs" --event-log "$T/kernel.log"
pycheck "$out" "'no signed policy in $T/signed verifies' in [c['message'] for c in d['tokens'][0]['checks'] \
        if c['check'] == 'signed-policy'][0]" "an empty signed-policy directory"
img=$img_save

# ---- real event logs: a kernel change predicted with `pcr predict` ----
D=${CVMSEAL_TESTDATA:-$HERE/../../../shared/testdata}
if [ ! -d "$D/eventlog" ]; then
        note "SKIP real event logs: no test vectors in $D/eventlog (\$CVMSEAL_TESTDATA, else ../shared/testdata)"
        echo "PASS (synthetic logs only; $ndiag diagnoses through the pcap TCTI)"
        exit 0
fi
command -v tpm2_eventlog >/dev/null || skip "tpm2_eventlog (tpm2-tools) is not installed"
nreal=0
for log in "$D"/eventlog/event-*.bin; do
        name=$(basename "$log" .bin)
        kev=$(python3 "$TOOL" last "$log" 4 80000003 2>/dev/null) || continue
        # tpm2_eventlog numbers that event the same way.
        tpm2_eventlog "$log" 2>/dev/null | grep -A2 -x -- "- EventNum: $kev" | grep -q "EV_EFI_BOOT_SERVICES_APPLICATION" \
                || fail "$name: tpm2_eventlog's event $kev is not the kernel's EV_EFI_BOOT_SERVICES_APPLICATION"
        # A fresh vTPM whose PCR 4 is what the log says (this "boot"), a token sealed offline to the
        # prediction for kernel-a.efi (the "enrolled" boot), with its own pinned SRK.
        rm -rf "$T/real"
        treal=$(start_swtpm real) || exit 1
        while read -r pcr digest; do
                TPM2TOOLS_TCTI=$treal tpm2_pcrextend "$pcr:sha256=$digest" >/dev/null || fail "tpm2_pcrextend"
        done < <(python3 "$TOOL" digests "$log" --pcrs 4)
        export CVMSEAL_CONFDIR=$T/conf-real
        rm -rf "$CVMSEAL_CONFDIR"
        expect_exit 0 "$CVMSEAL" --tcti "$treal" srk export --create --output "$T/real-srk.pub"
        cp "$T/real-srk.pub" "$CVMSEAL_CONFDIR/tpm2-srk.pub" 2>/dev/null || { mkdir -p "$CVMSEAL_CONFDIR"; cp "$T/real-srk.pub" "$CVMSEAL_CONFDIR/tpm2-srk.pub"; }
        expect_exit 0 "$CVMSEAL" pcr predict --event-log "$log" --kernel "$T/kernel-a.efi" --pcrs 4
        printf '%s\n' "$out" >"$T/predicted.json"
        imgr=$T/img-$name
        make_image "$imgr" "$key"
        expect_exit 0 "$CVMSEAL" enroll "$imgr" --unlock-key-file "$key" --tpm2-srk-pub "$T/real-srk.pub" \
                --pcr-values "$T/predicted.json" --tpm2-pcrs 4
        sock_save=$sock
        sock=$T/real/sock
        img_save=$img
        img=$imgr
        diagnose 3 "$imgr" --event-log "$log" --kernel "$T/kernel-a.efi"
        pcr_check "$out" 4 "p['change'] == 'replaced' and [e['index'] for e in p['changed']] == [$kev] and p['candidate'] == '$T/kernel-a.efi'"
        expect_exit 3 "$CVMSEAL" --tcti "$treal" diagnose "$imgr" --event-log "$log" --kernel "$T/kernel-a.efi"
        expect_in "$out" "PCR 4: the kernel image measured at event $kev \(EV_EFI_BOOT_SERVICES_APPLICATION.*\) differs from the one enrolled: the enrolled value is that of $T/kernel-a.efi in its place" \
                "$name: the kernel event named"
        diagnose 3 "$imgr" --event-log "$log"
        pcr_check "$out" 4 "p['change'] == 'unknown' and [e['index'] for e in p['changed']] == [$kev]"
        sock=$sock_save
        img=$img_save
        stop_swtpm real
        export CVMSEAL_CONFDIR=$T/conf
        nreal=$((nreal + 1))
done
[ "$nreal" -ge 3 ] || fail "only $nreal real event logs have a kernel event"
note "$nreal real event logs: the kernel event named after a predicted kernel change"
echo "PASS ($ndiag diagnoses through the pcap TCTI)"
