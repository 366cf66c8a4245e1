#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/demo.sh (README's first command) with the cvmseal under test (--no-setup): it runs to its end,
# and its output shows each step's outcome: the unlock that succeeds, the refusal for a debug platform
# (exit 4, snp-debug named), for the missing HSM key (exit 5), after a kernel update (exit 3, and
# `cvmseal diagnose` naming PCR 4 and the kernel's event, with the enrolled kernel's file), the recovery
# key and the reseal, and the refusal after the lock (exit 3, the lock PCR).
. "$(dirname "$0")/lib.sh"

for tool in python3 openssl softhsm2-util tpm2_pcrextend tpm2_createprimary; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (tools/install-deps.sh demo)"
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The demo keeps its machine in its own directory: none of the test harness's settings apply.
unset CVMSEAL_CONFDIR CVMSEAL_LOCK_RECORD
TMPDIR=$T CVMSEAL=$CVMSEAL bash "$ROOT/tools/demo.sh" --no-setup >"$T/demo.out" 2>&1 && rc=0 || rc=$?
cat "$T/demo.out" >&2
[ "$rc" = 0 ] || fail "tools/demo.sh exited $rc"
out=$(cat "$T/demo.out")

# expect_step PATTERN CODE WHAT: a line matching PATTERN, and the next "-> exit code" line after it says CODE.
expect_step() {
        local got
        got=$(awk -v pat="$1" '$0 ~ pat { found = 1 } found && /-> exit code/ { print $NF; exit }' <<<"$out")
        [ "$got" = "$2" ] || fail "$3: the demo's output has no '$1' followed by exit code $2 (got '${got:-none}')"
}
expect_in "$out" "^Token 0 opens keyslot [0-9]+ of .*disk.img\.$" "the unlock that succeeds"
expect_step "attestation failed: snp-debug" 4 "the debug platform"
expect_step "the HSM key is unavailable" 5 "the missing HSM key"
expect_step "the TPM policy is not satisfied" 3 "the kernel update"
expect_step "FAILED +pcrs +PCR 4 differs from the enrolled value" 3 "the diagnosis"
expect_in "$out" "PCR 4: the kernel image measured at event [0-9]+ \(EV_EFI_BOOT_SERVICES_APPLICATION: .EFI.debian.vmlinuz\) differs from the one enrolled: the enrolled value is that of .*/boot/vmlinuz-6.1.0-1-amd64 in its place \(this boot's is .*/boot/vmlinuz-6.1.0-2-amd64\)" \
        "the diagnosis names the kernel event and both kernels"
expect_in "$out" "^   -> the recovery key opens its keyslot$" "the recovery key"
expect_in "$out" "^Resealed .* verified by unsealing it now\.$" "the reseal"
expect_step "Extended PCR 15" 3 "the lock"
expect_in "$out" "^Demo complete\.$" "the demo's end"
echo PASS
