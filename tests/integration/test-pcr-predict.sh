#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `cvmseal pcr predict` (docs/image-pipeline.md, "PCR prediction").
#
#   replay        without --kernel and --initrd, every crypto-agile log of ../shared/testdata/eventlog
#                 predicts exactly the sha256 PCRs (the same set, the same values) that tpm2_eventlog
#                 replays it to; the SHA-1-only log has no sha256 bank: 10.  --json is the same document;
#                 --pcrs gives that subset, an untouched PCR its reset value (0, or all-ones for 17-22).
#   Authenticode  pcr-predict-ref.py's independent Authenticode digest equals the signed digest in
#                 /boot/vmlinuz-* (osslsigncode) and osslsigncode's digest of small PE images that it
#                 signs here (PE32 and PE32+, sections out of file order, an empty section, trailing
#                 data, a certificate table).
#   --kernel      PCR 4 as pcr-predict-ref.py's replay with the kernel's digests (the last
#                 EV_EFI_BOOT_SERVICES_APPLICATION's, and its twins) replaced by the Authenticode digest
#                 computed by osslsigncode (or by the reference): small PE images and /boot's kernel;
#                 a signed and an unsigned image predict the same.
#   --initrd      the stub's PCR 9 event appended when the log has none; replaced when it has one (a
#                 log with the event for initrd A and --initrd B predicts as the log without it and
#                 --initrd B; the log with it predicts as --initrd A); tpm2_eventlog agrees on the log
#                 with the event appended.
#   errors        a truncated or garbage log, a kernel that is not PE or is truncated: 10; a missing
#                 or unreadable file: 1; no --event-log, an unknown subcommand: 2; a kernel with a
#                 log that measured no EFI application: 1.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=${CVMSEAL_TESTDATA:-$ROOT/../shared/testdata}
[ -d "$D/eventlog" ] || skip "no test vectors: $D/eventlog (\$CVMSEAL_TESTDATA, else ../shared/testdata beside the project) does not exist"
D=$(cd "$D" && pwd)
command -v python3 >/dev/null || skip "python3 is not installed"
command -v tpm2_eventlog >/dev/null || skip "tpm2_eventlog (tpm2-tools) is not installed"
PY=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"
REF=$ROOT/tests/integration/pcr-predict-ref.py
L=$D/eventlog

canon() { "$PY" "$REF" canon; }
predict() { "$CVMSEAL" pcr predict "$@" | canon; }

# ---- replay: the same PCRs as tpm2_eventlog ----
n=0
for log in "$L"/*.bin; do
        name=$(basename "$log")
        want=$(tpm2_eventlog "$log" 2>/dev/null | "$PY" "$REF" tpm2-pcrs) || fail "tpm2_eventlog $name"
        if [ "$name" = event-uefi-sha1-log.bin ]; then
                expect_exit 10 "$CVMSEAL" pcr predict --event-log "$log"
                expect_in "$err" "SHA-256" "stderr for a SHA-1 log"
                continue
        fi
        [ "$want" != '{"sha256": {}}' ] || fail "tpm2_eventlog gives no sha256 PCRs for $name"
        got=$(predict --event-log "$log") || fail "pcr predict $name"
        [ "$got" = "$want" ] || fail "$name: predicted $got, tpm2_eventlog replays $want"
        # The expected output kept with the vectors says the same.
        yaml=$("$PY" "$REF" tpm2-pcrs <"$L/expected/$name.yaml")
        [ "$got" = "$yaml" ] || fail "$name: predicted $got, expected/$name.yaml has $yaml"
        # And the reference's replay.
        ref=$("$PY" "$REF" replay "$log")
        [ "$got" = "$ref" ] || fail "$name: predicted $got, the reference replays $ref"
        got_json=$("$CVMSEAL" --json pcr predict --event-log "$log" | canon)
        [ "$got_json" = "$got" ] || fail "$name: --json differs"
        n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n event logs were compared"
note "$n event logs predict as tpm2_eventlog replays them"

A=$L/event-arch-linux.bin
got=$(predict --event-log "$A" --pcrs 4,7,11,17)
ref=$("$PY" "$REF" replay "$A" --pcrs 4,7,11,17)
[ "$got" = "$ref" ] || fail "--pcrs: $got, expected $ref"
pycheck "$got" 'sorted(d["sha256"]) == ["11", "17", "4", "7"] and d["sha256"]["11"] == "00" * 32 and d["sha256"]["17"] == "ff" * 32' "--pcrs 4,7,11,17"
expect_exit 2 "$CVMSEAL" pcr predict --event-log "$A" --pcrs 24

# ---- Authenticode: the reference against osslsigncode ----
"$PY" "$REF" make-pe "$T/plus.efi" || fail "make-pe"
"$PY" "$REF" make-pe "$T/plus-signed-stub.efi" --signed || fail "make-pe --signed"
"$PY" "$REF" make-pe "$T/pe32.efi" --pe32 || fail "make-pe --pe32"
declare -A DIGEST
for f in plus plus-signed-stub pe32; do
        DIGEST[$f]=$("$PY" "$REF" authenticode "$T/$f.efi") || fail "authenticode $f"
done
[ "${DIGEST[plus]}" = "${DIGEST[plus-signed-stub]}" ] || fail "the certificate table changed the reference digest"
if command -v osslsigncode >/dev/null && command -v openssl >/dev/null; then
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/k.pem" -out "$T/c.pem" -subj /CN=cvmseal-test \
                -days 2 >/dev/null 2>&1 || fail "openssl req"
        for f in plus pe32; do
                osslsigncode sign -certs "$T/c.pem" -key "$T/k.pem" -h sha256 -in "$T/$f.efi" \
                        -out "$T/$f-signed.efi" >/dev/null 2>&1 || fail "osslsigncode sign $f"
                o=$(osslsigncode verify -in "$T/$f-signed.efi" 2>&1 | sed -n 's/^Calculated message digest *: *\([0-9A-F]*\).*/\1/p' | tr A-F a-f)
                [ "$o" = "${DIGEST[$f]}" ] || fail "$f: osslsigncode computes '$o', the reference ${DIGEST[$f]}"
        done
        note "osslsigncode agrees with the reference Authenticode digest on PE32 and PE32+ images"
else
        note "osslsigncode is not installed: the small PE images are checked against the reference only"
fi

KERNEL=
for k in /boot/vmlinuz-*; do
        [ -r "$k" ] && KERNEL=$k && break
done
if [ -n "$KERNEL" ]; then
        DIGEST[kernel]=$("$PY" "$REF" authenticode "$KERNEL") || fail "authenticode $KERNEL"
        if command -v osslsigncode >/dev/null; then
                o=$(osslsigncode verify -in "$KERNEL" 2>&1 | sed -n 's/^Current message digest *: *\([0-9A-F]*\).*/\1/p' | head -1 | tr A-F a-f)
                if [ -n "$o" ]; then
                        [ "$o" = "${DIGEST[kernel]}" ] || fail "$KERNEL: signed digest $o, the reference ${DIGEST[kernel]}"
                        note "$KERNEL: the reference digest is the one its signature covers"
                fi
        fi
else
        note "no kernel in /boot: only the small PE images are used"
fi

# ---- --kernel and --initrd ----
head -c 100000 /dev/urandom >"$T/initrd-a" || fail "initrd-a"
head -c 70001 /dev/urandom >"$T/initrd-b" || fail "initrd-b"
kernels="plus.efi:${DIGEST[plus]} plus-signed-stub.efi:${DIGEST[plus]} pe32.efi:${DIGEST[pe32]}"
[ -f "$T/plus-signed.efi" ] && kernels="$kernels plus-signed.efi:${DIGEST[plus]}"
[ -n "$KERNEL" ] && kernels="$kernels $KERNEL:${DIGEST[kernel]}"
m=0
for log in "$L"/event-arch-linux.bin "$L"/event-moklisttrusted.bin "$L"/event-bootorder.bin "$L"/event-postcode.bin; do
        for kd in $kernels; do
                k=${kd%%:*}
                d=${kd##*:}
                case $k in /*) ;; *) k=$T/$k ;; esac
                got=$(predict --event-log "$log" --kernel "$k") || fail "pcr predict --kernel $k"
                ref=$("$PY" "$REF" replay "$log" --kernel-digest "$d")
                [ "$got" = "$ref" ] || fail "$(basename "$log") --kernel $k: $got, expected $ref"
                got=$(predict --event-log "$log" --kernel "$k" --initrd "$T/initrd-a")
                ref=$("$PY" "$REF" replay "$log" --kernel-digest "$d" --initrd "$T/initrd-a")
                [ "$got" = "$ref" ] || fail "$(basename "$log") --kernel $k --initrd: $got, expected $ref"
                m=$((m + 1))
        done
        # The kernel changed PCR 4 and nothing else; the initrd PCR 9 and nothing else.
        base=$(predict --event-log "$log")
        withk=$(predict --event-log "$log" --kernel "$T/plus.efi")
        "$PY" - "$base" "$withk" <<'PYEOF' || fail "$(basename "$log"): --kernel changed more or less than PCR 4"
import json, sys
a, b = (json.loads(x)['sha256'] for x in sys.argv[1:])
sys.exit(0 if sorted(a) == sorted(b) and [k for k in a if a[k] != b[k]] == ['4'] else 1)
PYEOF
        withi=$(predict --event-log "$log" --initrd "$T/initrd-a")
        "$PY" - "$base" "$withi" <<'PYEOF' || fail "$(basename "$log"): --initrd changed more or less than PCR 9"
import json, sys
a, b = (json.loads(x)['sha256'] for x in sys.argv[1:])
sys.exit(0 if [k for k in b if a.get(k) != b[k]] == ['9'] and set(b) - set(a) <= {'9'} else 1)
PYEOF
done
note "$m kernel replacements predict as the reference replay"

# A log that has the stub's initrd event: replaced, not appended.
"$PY" "$REF" add-initrd "$A" "$T/with-a.bin" "$T/initrd-a" || fail "add-initrd"
want=$(tpm2_eventlog "$T/with-a.bin" 2>/dev/null | "$PY" "$REF" tpm2-pcrs)
got=$(predict --event-log "$T/with-a.bin")
[ "$got" = "$want" ] || fail "the log with an initrd event: $got, tpm2_eventlog $want"
got2=$(predict --event-log "$A" --initrd "$T/initrd-a")
[ "$got2" = "$want" ] || fail "--initrd A appended: $got2, the log with A's event replays $want"
b1=$(predict --event-log "$T/with-a.bin" --initrd "$T/initrd-b")
b2=$(predict --event-log "$A" --initrd "$T/initrd-b")
[ "$b1" = "$b2" ] && [ "$b1" != "$got" ] || fail "--initrd B on a log with A's event: $b1, expected $b2"
# An empty initrd is not measured by the stub: the event goes.
e1=$(predict --event-log "$T/with-a.bin" --initrd /dev/null --pcrs 9)
e2=$(predict --event-log "$A" --pcrs 9)
[ "$e1" = "$e2" ] || fail "an empty initrd: $e1, expected $e2"
note "the stub's initrd event is appended, replaced and dropped as documented"

# ---- errors ----
"$PY" "$REF" truncate "$A" "$T/truncated.bin"
expect_exit 10 "$CVMSEAL" pcr predict --event-log "$T/truncated.bin"
expect_exit 10 "$CVMSEAL" --json pcr predict --event-log "$T/truncated.bin"
pycheck "$out" 'd["exit-code"] == 10' "--json error document"
printf 'not an event log at all, but long enough to be read as a header' >"$T/garbage.bin"
expect_exit 10 "$CVMSEAL" pcr predict --event-log "$T/garbage.bin"
expect_exit 10 "$CVMSEAL" pcr predict --event-log /dev/null
expect_exit 10 "$CVMSEAL" pcr predict --event-log "$A" --kernel "$T/initrd-a"
head -c 300 "$T/plus.efi" >"$T/short.efi"
expect_exit 10 "$CVMSEAL" pcr predict --event-log "$A" --kernel "$T/short.efi"
expect_exit 10 "$CVMSEAL" pcr predict --event-log "$A" --kernel /dev/null
expect_exit 1 "$CVMSEAL" pcr predict --event-log "$T/missing.bin"
expect_in "$err" "missing.bin" "stderr for a missing log"
expect_exit 1 "$CVMSEAL" pcr predict --event-log "$A" --kernel "$T/missing.efi"
expect_exit 1 "$CVMSEAL" pcr predict --event-log "$A" --initrd "$T/missing.img"
expect_exit 1 "$CVMSEAL" pcr predict --event-log "$T"     # a directory: EISDIR
expect_exit 1 "$CVMSEAL" pcr predict --event-log "$L/event-uefivar.bin" --kernel "$T/plus.efi"
expect_in "$err" "PCR 4" "stderr for a log without a kernel"
expect_exit 2 "$CVMSEAL" pcr predict
expect_exit 2 "$CVMSEAL" pcr guess --event-log "$A"
expect_exit 2 "$CVMSEAL" pcr predict --event-log "$A" --tpm2-pin
# Standard input.
got=$("$CVMSEAL" pcr predict --event-log - <"$A" | canon)
[ "$got" = "$(predict --event-log "$A")" ] || fail "--event-log - differs"

echo "PASS"
