#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# valgrind memcheck over the paths that handle secrets and untrusted input, on a private swtpm
# (tests/integration/lib.sh): enroll (PCR 7; with a PIN; bound to a SoftHSM2 key), list (human and
# --json), unlock --test, unlock --print-key (the key it prints opens the keyslot), and the refusals
# that run the error paths (another boot state: 3; wrong PIN: 7; no TPM: 6; no such token: 8); then
# attest verify on real Azure SEV-SNP vTPM evidence (../shared/testdata, converted by
# tests/attest/trustee-to-evidence.py): pass, --json pass, a flipped bit in the HCL report (4),
# a truncated quote (10); diagnose (0, 3, 6).  Every run must have no memcheck error and no definitely lost block
# (--error-exitcode=99); suppressions (cvmseal.supp beside this file) cover third-party noise only.
#
# Environment (set by meson): CVMSEAL = the cvmseal binary (not a sanitizer build);
# CVMSEAL_TESTDATA = ../shared/testdata (the Azure part is skipped when it is missing).
. "$(dirname "$0")/../integration/lib.sh"

command -v valgrind >/dev/null || skip "valgrind is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
if ldd "$CVMSEAL" 2>/dev/null | grep -Eq 'lib(asan|ubsan|tsan)\.so'; then
        skip "$CVMSEAL is built with a sanitizer: valgrind cannot run it (use build/, not build-asan/)"
fi
here=$(cd "$(dirname "$0")" && pwd)
SUPP=$here/cvmseal.supp
[ -f "$SUPP" ] || fail "no suppression file at $SUPP"
TESTDATA=${CVMSEAL_TESTDATA:-$here/../../../shared/testdata}

VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite,possible --track-origins=yes --num-callers=40
    --suppressions="$SUPP" --gen-suppressions=all)
n=0
runs=0

# vg WANT ARGS...: runs `cvmseal ARGS` under memcheck; fails unless it exited WANT (so a memcheck
# error, exit 99, fails too) and its log names no error and no definite leak.  $out and $err are
# cvmseal's stdout and stderr; memcheck writes to its own log.
vg() {
        local want=$1 got log
        shift
        n=$((n + 1))
        log=$T/vg-$n.log
        out=$("${VG[@]}" --log-file="$log" "$CVMSEAL" "$@" 2>"$T/stderr") && got=0 || got=$?
        err=$(cat "$T/stderr")
        runs=$((runs + 1))
        if [ "$got" = 99 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$log" \
           || grep -Eq "definitely lost: [1-9]" "$log"; then
                cat "$log" >&2
                fail "memcheck found errors in 'cvmseal $*' (exit $got; log above)"
        fi
        if [ "$got" != "$want" ]; then
                echo "stdout: $out" >&2
                echo "stderr: $err" >&2
                fail "'cvmseal $*' under valgrind exited $got, expected $want"
        fi
}

# ---- sealing and unsealing on a swtpm ----
tcti=$(start_swtpm tpm) || exit 1
export CVMSEAL_TCTI=$tcti
img=$T/img key=$T/key
make_image "$img" "$key"

vg 0 enroll "$img" --unlock-key-file "$key"
expect_in "$err" "token 0 opens keyslot" "enroll's message"
vg 0 list "$img"
expect_in "$out" "^0 +cvmseal " "list"
vg 0 --json list "$img"
expect_in "$out" '"tokens"' "list --json"
vg 0 unlock "$img" --test
expect_in "$err" "^Token 0 opens keyslot" "unlock --test"
vg 0 unlock "$img" --print-key
printf '%s' "$out" | cryptsetup open --test-passphrase --key-file - "$img" 2>/dev/null \
        || fail "the key that unlock --print-key printed under valgrind does not open the volume"

# A PIN: the DA-protected object, PolicyAuthValue, the PIN's error paths.
printf 4321 >"$T/pin"
printf 0000 >"$T/wrong-pin"
vg 0 enroll "$img" --unlock-key-file "$key" --pin-file "$T/pin"
vg 0 unlock "$img" --test --token 1 --pin-file "$T/pin"
vg 7 unlock "$img" --test --token 1 --pin-file "$T/wrong-pin"

# An HSM-bound token (SoftHSM2 through p11-kit): keygen, enroll, unlock.
if command -v softhsm2-util >/dev/null; then
        start_softhsm cvmseal 1234
        printf 1234 >"$T/hsm-pin"
        uri="pkcs11:token=cvmseal;object=vg;pin-source=file:$T/hsm-pin"
        vg 0 hsm keygen --hsm "$uri"
        vg 0 enroll "$img" --unlock-key-file "$key" --hsm "$uri"
        expect_in "$err" "token 2 opens keyslot [0-9]+ with the vTPM and the HSM key" "enroll --hsm's message"
        vg 0 unlock "$img" --test --token 2
else
        note "softhsm2 is not installed: the HSM-bound token is not run under valgrind"
fi

# The OpenSSL provider backend (on its own image): OpenSSL's default provider and key files stand in
# for an HSM here (the real provider, tpm2-openssl, runs in test-hsm-provider): RSA-OAEP, ECDH with
# the key blob kept in the token, and an offline bind from the public key alone.
mkdir -p "$T/conf"
printf 'hsm-provider = default\n' >"$T/conf/cvmseal.conf"
export CVMSEAL_CONFDIR=$T/conf
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null || fail "openssl genpkey"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem" 2>/dev/null || fail "openssl genpkey"
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub" 2>/dev/null || fail "openssl pkey"
make_image "$T/img3" "$key"
vg 0 enroll "$T/img3" --unlock-key-file "$key" --hsm-provider default --hsm "$T/rsa.pem" --hsm-allow-extractable
vg 0 enroll "$T/img3" --unlock-key-file "$key" --hsm-provider default --hsm '{key-blob}' --hsm-key-blob "$T/ec.pem" \
        --hsm-allow-extractable
vg 0 enroll "$T/img3" --unlock-key-file "$key" --hsm-provider default --hsm "$T/ec.pem" --hsm-public-key "$T/ec.pub"
vg 0 --json list "$T/img3"
for t in 0 1 2; do
        vg 0 unlock "$T/img3" --test --token "$t"
done
vg 2 enroll "$T/img3" --unlock-key-file "$key" --hsm-provider tpm2 --hsm handle:0x81000101
# The same machine (its pinned SRK) whose configuration no longer allows the provider: 10.
mkdir -p "$T/conf-noprov"
cp "$CVMSEAL_CONFDIR/tpm2-srk.pub" "$T/conf-noprov/" || fail "no pinned SRK in $CVMSEAL_CONFDIR"
export CVMSEAL_CONFDIR=$T/conf-noprov
vg 10 unlock "$T/img3" --test --token 0

# The image pipeline and the boot path: image encrypt, the first boot, rotate, srk export, pcr predict,
# the lock.
head -c 4M /dev/urandom >"$T/raw"
# --no-rekey: rotate below changes tokens, which libcryptsetup refuses during a rekey; the first boot
# with the rekey (its start, the keyslot checks) and rekey --status run on img4.
vg 0 image encrypt "$T/raw" "$T/img4" --unlock-key-file "$key" --fast-kdf --tpm2-pcrs 7
vg 0 provision "$T/img4"
vg 0 --json rekey --status "$T/img4"
expect_in "$out" '"running"' "rekey --status after the first boot"
vg 0 image encrypt "$T/raw" "$T/img2" --unlock-key-file "$key" --fast-kdf --tpm2-pcrs 7 --no-rekey
vg 0 provision "$T/img2"
expect_in "$err" "^Enrolled .* to this TPM" "provision's message"
vg 0 --json provision "$T/img2"
expect_in "$out" '"provisioned": *false' "provision with nothing to do"
vg 0 --json rotate "$T/img2"
vg 0 --json srk export
if [ -f "$TESTDATA/eventlog/event-arch-linux.bin" ]; then
        vg 0 pcr predict --event-log "$TESTDATA/eventlog/event-arch-linux.bin" --initrd "$T/raw"
else
        note "no ../shared/testdata/eventlog: pcr predict is not run under valgrind"
fi
vg 0 lock
vg 3 unlock "$T/img2" --test

# Refusals: no such token (8), another boot state (3), no TPM (6); and their diagnoses (every token of
# the image: PIN, HSM and provider bindings; an event log when the test vectors are there).
vg 8 unlock "$img" --test --token 9
vg 3 diagnose "$img" --token 0
pcr_extend "$tcti" 7
vg 3 unlock "$img" --test --token 0
vg 3 diagnose "$img"
if [ -f "$TESTDATA/eventlog/event-arch-linux.bin" ]; then
        vg 3 --json diagnose "$img" --event-log "$TESTDATA/eventlog/event-arch-linux.bin" --initrd "$T/raw"
fi
vg 3 diagnose "$T/img2"
stop_swtpm tpm
vg 6 unlock "$img" --test --token 0
vg 6 diagnose "$img" --token 0

# ---- attest verify on real Azure SEV-SNP vTPM evidence ----
azure=$TESTDATA/azure/az-snp-vtpm-evidence-v1.json
chain=$TESTDATA/snp/certs/ask_ark_milan.pem
if [ -f "$azure" ] && [ -f "$chain" ]; then
        python3 "$here/../attest/trustee-to-evidence.py" "$azure" --chain "$chain" >"$T/ev.json" \
                2>"$T/py.err" || fail "trustee-to-evidence.py: $(cat "$T/py.err")"
        echo '{"version":1,"require":["snp","azure-hcl","tpm-quote"]}' >"$T/policy.json"
        vg 0 attest verify --policy "$T/policy.json" "$T/ev.json"
        [ "$out" = pass ] || fail "attest verify printed '$out', expected 'pass'"
        vg 0 --json attest verify --policy "$T/policy.json" "$T/ev.json"
        expect_in "$out" '"verdict": *"pass"' "attest verify --json"
        # A flipped bit in the SNP report inside the HCL report: failed checks, every verifier runs.
        python3 - "$T/ev.json" "$T/ev-bad.json" "$T/ev-mal.json" <<'EOF' || fail "editing the evidence"
import base64, json, sys
d = json.load(open(sys.argv[1]))
r = bytearray(base64.b64decode(d["azure-hcl-report"]))
r[0x20 + 0x50] ^= 1            # REPORT_DATA of the SNP report, after the 32-byte HCL header
d["azure-hcl-report"] = base64.b64encode(r).decode()
json.dump(d, open(sys.argv[2], "w"))
d = json.load(open(sys.argv[1]))
d["tpm-quote"]["message"] = base64.b64encode(base64.b64decode(d["tpm-quote"]["message"])[:40]).decode()
json.dump(d, open(sys.argv[3], "w"))
EOF
        vg 4 --json attest verify --policy "$T/policy.json" "$T/ev-bad.json"
        expect_in "$out" '"verdict": *"fail"' "attest verify of tampered evidence"
        vg 10 attest verify --policy "$T/policy.json" "$T/ev-mal.json"
else
        note "no $azure (../shared is missing): attest verify is not run under valgrind"
fi

note "memcheck: $runs runs of cvmseal, no error, no definite leak"
exit 0
