#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole mission on the embedded defaults, in about a minute (README.md): swtpm stands in for an
# Azure-like vTPM (its HCL report and AK provisioned by tests/attest/azure-vtpm.py), SoftHSM2 for the
# HSM key cache, a LUKS2 image file for the disk, and this script for the firmware, which measures a
# boot loader and a kernel into PCR 4 and the Secure Boot state into PCR 7 and keeps the event log.
#
#   enroll bound to the vTPM, the HSM key and an attestation policy; an unlock that succeeds; one
#   refused because the evidence shows a debug platform (exit 4); one refused because the HSM key is
#   gone (exit 5); one refused after a kernel update (exit 3), with `cvmseal diagnose` naming the PCR
#   and the event; the recovery key, and a reseal to the new boot state; the lock.
#
# Usage: tools/demo.sh            installs what it needs (tools/install-deps.sh demo), builds, runs
#        tools/demo.sh --no-setup runs with $CVMSEAL (default build/tools/cvmseal) as it is
# Every step prints its command and what it proves; the demo stops with an error when a step does not
# give the exit code and the reason it should (tests/integration/test-demo.sh runs it in the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

if [ "${1:-}" != "--no-setup" ]; then
        echo "demo: installing what the demo needs (tools/install-deps.sh demo)..."
        tools/install-deps.sh demo
        if [ ! -f build/build.ninja ]; then
                echo "demo: configuring the build (meson setup build)..."
                meson setup build -Dtests=disabled -Dman=disabled >build-setup.log 2>&1 \
                        || { cat build-setup.log; exit 1; }
                rm -f build-setup.log
        fi
        echo "demo: building cvmseal (ninja -C build)..."
        ninja -C build tools/cvmseal src/token/libcryptsetup-token-cvmseal.so
fi
cvmseal=${CVMSEAL:-$SRC/build/tools/cvmseal}
[ -x "$cvmseal" ] || { echo "demo: $cvmseal is not built" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/cvmseal-demo.XXXXXX")
swtpm_pid=
cleanup() {
        [ -z "$swtpm_pid" ] || { kill "$swtpm_pid" 2>/dev/null; wait "$swtpm_pid" 2>/dev/null; } || true
        rm -rf "$dir"
}
trap cleanup EXIT

bold= plain=
if [ -t 1 ]; then
        bold=$(tput bold 2>/dev/null || true) plain=$(tput sgr0 2>/dev/null || true)
fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# refused CODE PATTERN CMD...: CMD must exit CODE and say PATTERN (on stdout or stderr).
refused() {
        local code=$1 pattern=$2 rc=0
        shift 2
        printf '$ %s\n' "$*"
        "$@" >"$dir/out" 2>&1 || rc=$?
        cat "$dir/out"
        say "-> exit code $rc"
        if [ "$rc" != "$code" ] || ! grep -Eq -- "$pattern" "$dir/out"; then
                echo "demo: expected exit $code and a line matching '$pattern'" >&2
                exit 1
        fi
}
hidden() { "$@" >>"$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; echo "demo: $* failed" >&2; exit 1; }; }

export CVMSEAL_TCTI="swtpm:path=$dir/vtpm/sock"
export TPM2TOOLS_TCTI="$CVMSEAL_TCTI" TSS2_LOG=all+none
# This demo's machine: its configuration (the pinned SRK, the test ARK as a trusted root), certificate
# cache, lock record ("/run"), event log and /boot live in $dir, never in the real /etc, /run or /boot.
export CVMSEAL_CONFDIR=$dir/conf CVMSEAL_LOCK_RECORD=$dir/run/lock.json CVMSEAL_CERT_CACHE=$dir/fx/certs
export CVMSEAL_EVENT_LOG=$dir/boot.log CVMSEAL_BOOT_DIR=$dir/boot CVMSEAL_TSM_DIR=""
export SOFTHSM2_CONF=$dir/softhsm2.conf
mkdir -p "$dir/vtpm" "$dir/conf/roots" "$dir/run" "$dir/boot" "$dir/softhsm"

# boot KERNEL: the machine starts: the vTPM comes up with its PCRs reset, and the "firmware" measures
# the Secure Boot state (PCR 7), a boot loader and KERNEL (PCR 4), keeping the event log.
boot() {
        [ -z "$swtpm_pid" ] || { kill "$swtpm_pid"; wait "$swtpm_pid" 2>/dev/null || true; }
        rm -f "$dir/vtpm/sock" "$dir/vtpm/sock.ctrl"
        swtpm socket --tpm2 --tpmstate dir="$dir/vtpm" --server type=unixio,path="$dir/vtpm/sock" \
                --ctrl type=unixio,path="$dir/vtpm/sock.ctrl" --flags not-need-init,startup-clear \
                >>"$dir/swtpm.log" 2>&1 &
        swtpm_pid=$!
        for _ in $(seq 100); do [ -S "$dir/vtpm/sock.ctrl" ] && break; sleep 0.05; done
        cat >"$dir/boot.json" <<EOF
[{"pcr": 7, "variable": "SecureBoot", "value": "01"},
 {"pcr": 7, "variable": "PK", "value": "$(printf '%064x' 1)"},
 {"pcr": 7, "variable": "db", "value": "$(printf '%064x' 2)"},
 {"pcr": 7, "separator": true},
 {"pcr": 4, "action": "Calling EFI Application from Boot Option"},
 {"pcr": 4, "separator": true},
 {"pcr": 4, "app": "\\\\EFI\\\\debian\\\\shimx64.efi", "digest": "$(printf '%064x' 3)"},
 {"pcr": 4, "app": "\\\\EFI\\\\debian\\\\vmlinuz", "pe": "$1"}]
EOF
        hidden python3 "$SRC/tests/integration/eventlog-tool.py" make "$dir/boot.log" "$dir/boot.json"
        while read -r pcr digest; do
                hidden tpm2_pcrextend "$pcr:sha256=$digest"
        done < <(python3 "$SRC/tests/integration/eventlog-tool.py" digests "$dir/boot.log")
}

step "The machine: an Azure-like vTPM (swtpm), an HSM key cache (SoftHSM2), a LUKS2 disk image"
say "swtpm gets an SRK, an AK at 0x81000003 and an SEV-SNP HCL report in NV 0x01400001, signed by a test"
say "AMD chain whose root this machine trusts (\$CVMSEAL_CONFDIR/roots); two kernels sit in /boot."
hidden python3 "$SRC/tests/integration/pcr-predict-ref.py" make-pe "$dir/boot/vmlinuz-6.1.0-1-amd64"
hidden python3 "$SRC/tests/integration/pcr-predict-ref.py" make-pe "$dir/boot/vmlinuz-6.1.0-2-amd64" --pe32
boot "$dir/boot/vmlinuz-6.1.0-1-amd64"
hidden python3 "$SRC/tests/attest/azure-vtpm.py" --tcti "$CVMSEAL_TCTI" --out "$dir/fx"
cp "$dir/fx/ark.pem" "$dir/conf/roots/test-ark.pem"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/softhsm" >"$SOFTHSM2_CONF"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/hsm.pin"
hidden softhsm2-util --init-token --free --label cache --pin "$(cat "$dir/hsm.pin")" --so-pin 0000
truncate -s 64M "$dir/disk.img"
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$dir/operator.key"
hidden cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --key-file "$dir/operator.key" "$dir/disk.img"
run "$cvmseal" hsm keygen --hsm 'pkcs11:token=cache;object=disk;type=secret-key' --hsm-pin-file "$dir/hsm.pin"
say "-> a sensitive, non-extractable AES-256 key made inside the HSM"

step "Enroll: sealed to the vTPM (PCRs 4, 7), bound to the HSM key, gated on attestation"
printf '$ %s\n' "$cvmseal enroll disk.img --unlock-key-file operator.key --tpm2-pcrs 4,7 --hsm 'pkcs11:token=cache;object=disk;type=secret-key' --hsm-pin-file hsm.pin --attest-policy policy.json --recovery-key"
"$cvmseal" enroll "$dir/disk.img" --unlock-key-file "$dir/operator.key" --tpm2-pcrs 4,7 \
        --hsm 'pkcs11:token=cache;object=disk;type=secret-key' --hsm-pin-file "$dir/hsm.pin" \
        --attest-policy "$dir/fx/policy.json" --recovery-key | tr -d '\n' >"$dir/recovery.key"
printf '%s (the recovery key: printed once)\n' "$(cat "$dir/recovery.key")"
say "-> the keyslot's passphrase needs the vTPM's share (PCRs 4 and 7 as they are now, and the lock"
say "   PCR 15) and the HSM's share; the policy (no debug, this launch measurement, the AK) gates both"
run "$cvmseal" list "$dir/disk.img"

step "Unlock: attestation passes, the vTPM unseals, the HSM decrypts"
run "$cvmseal" unlock "$dir/disk.img" --test
say "-> fresh evidence (a new nonce in the HCL report, a quote by the AK) was verified first"

step "Refused: the evidence shows a debug platform"
hidden python3 "$SRC/tests/attest/azure-vtpm.py" --tcti "$CVMSEAL_TCTI" --out "$dir/fx" --debug
say "(the vTPM's SNP report now has the DEBUG policy bit: a host could read the guest's memory)"
refused 4 "snp-debug" "$cvmseal" unlock "$dir/disk.img" --test
say "-> exit 4 (attestation failed), the failed check named: nothing was unsealed"
hidden python3 "$SRC/tests/attest/azure-vtpm.py" --tcti "$CVMSEAL_TCTI" --out "$dir/fx"

step "Refused: the HSM key is gone"
cp -a "$dir/softhsm" "$dir/softhsm.saved"
hidden softhsm2-util --delete-token --token cache
say "(the HSM key cache was emptied: another VM, or a wiped cache)"
refused 5 "HSM key is unavailable" "$cvmseal" unlock "$dir/disk.img" --test
say "-> exit 5: the vTPM's share alone opens nothing"
rm -rf "$dir/softhsm"
mv "$dir/softhsm.saved" "$dir/softhsm"

step "Refused: the next boot runs another kernel"
boot "$dir/boot/vmlinuz-6.1.0-2-amd64"
say "(an update installed vmlinuz-6.1.0-2-amd64 and the machine rebooted into it without a reseal)"
refused 3 "TPM policy is not satisfied" "$cvmseal" unlock "$dir/disk.img" --test
say "-> exit 3: the boot state differs from the enrolled one.  Which part of it?"
refused 3 "PCR 4: the kernel image measured at event [0-9]+ .* differs from the one enrolled" \
        "$cvmseal" diagnose "$dir/disk.img"
say "-> diagnose replays this boot's event log: PCR 4 differs, because of the kernel event, and the"
say "   enrolled value is what vmlinuz-6.1.0-1-amd64 gives; it sent no Unseal and wrote nothing"

step "The recovery key still opens the volume; the operator accepts the new kernel"
run cryptsetup open --test-passphrase --key-file "$dir/recovery.key" "$dir/disk.img"
say "-> the recovery key opens its keyslot"
run "$cvmseal" reseal "$dir/disk.img" --unlock-key-file "$dir/recovery.key" --hsm-pin-file "$dir/hsm.pin"
run "$cvmseal" unlock "$dir/disk.img" --test
say "-> sealed again to this boot state, crash-safely; the vTPM, the HSM and attestation still gate it"

step "The lock: the initramfs is done, nothing unseals again until the next boot"
run "$cvmseal" lock
refused 3 "lock PCR has been extended" "$cvmseal" unlock "$dir/disk.img" --test
say "-> exit 3: PCR 15 is extended; root (or a swapped root file system) cannot unseal the token now"
echo
echo "Demo complete."
