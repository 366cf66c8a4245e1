#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job on the embedded defaults, start to end: swtpm stands in for the CVM's vTPM and a
# LUKS2 image file for the disk.  Installs what it needs, builds cvmseal, then enrolls the image,
# unlocks it, and shows the unlock refused once the boot state (PCR 7) has changed.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
cvmseal=$PWD/build/tools/cvmseal

dir=$(mktemp -d /tmp/cvmseal-demo.XXXXXX)
# The demo's own configuration (enroll pins its swtpm's SRK there), never the machine's /etc/cvmseal.
export CVMSEAL_CONFDIR=$dir/conf CVMSEAL_LOCK_RECORD=$dir/lock.json
swtpm_pid=
cleanup() {
        [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null && wait "$swtpm_pid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT

start_vtpm() {
        rm -f "$dir/vtpm.sock" "$dir/vtpm.sock.ctrl"
        swtpm socket --tpm2 --tpmstate dir="$dir" --server type=unixio,path="$dir/vtpm.sock" \
                --ctrl type=unixio,path="$dir/vtpm.sock.ctrl" --flags not-need-init,startup-clear \
                >>"$dir/swtpm.log" 2>&1 &
        swtpm_pid=$!
        for _ in $(seq 100); do [ -S "$dir/vtpm.sock.ctrl" ] && return; sleep 0.05; done
        echo "swtpm did not start" >&2
        exit 1
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

export CVMSEAL_TCTI="swtpm:path=$dir/vtpm.sock"
export TPM2TOOLS_TCTI="$CVMSEAL_TCTI" TSS2_LOG=all+none
# This demo's "boot" keeps its lock record here, not in the machine's /run/cvmseal.
export CVMSEAL_LOCK_RECORD="$dir/lock.json"

step "A vTPM (swtpm) and a LUKS2 image with an operator passphrase"
start_vtpm
truncate -s 64M "$dir/disk.img"
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$dir/operator.key"
run cryptsetup luksFormat --type luks2 --batch-mode --key-file "$dir/operator.key" "$dir/disk.img"

step "Seal a new keyslot's secret to the vTPM, bound to PCR 7 (Secure Boot state) and the lock PCR 15"
run "$cvmseal" enroll "$dir/disk.img" --unlock-key-file "$dir/operator.key" --tpm2-pcrs 7
run "$cvmseal" list "$dir/disk.img"

step "Unlock with the vTPM alone (--test: prove the keyslot opens; no device-mapper needed)"
run "$cvmseal" unlock "$dir/disk.img" --test

step "The boot state changes: PCR 7 is extended, as a different Secure Boot state would"
run tpm2_pcrextend "7:sha256=$(printf '%064x' 1)"
set +e
run "$cvmseal" unlock "$dir/disk.img" --test
rc=$?
set -e
echo "exit code $rc (3: TPM policy not satisfied)"
[ "$rc" -eq 3 ] || { echo "unexpected exit code" >&2; exit 1; }

step "A reboot restores the enrolled boot state: the volume opens again"
kill "$swtpm_pid"; wait "$swtpm_pid" 2>/dev/null || true
start_vtpm
run "$cvmseal" unlock "$dir/disk.img" --test

step "The initramfs is done: it extends the lock PCR 15, and nothing unseals until the next boot"
run "$cvmseal" lock
set +e
run "$cvmseal" unlock "$dir/disk.img" --test
rc=$?
set -e
echo "exit code $rc (3: the lock PCR is extended)"
[ "$rc" -eq 3 ] || { echo "unexpected exit code" >&2; exit 1; }

step "The operator passphrase still opens the volume: nothing was lost"
run cryptsetup open --test-passphrase --key-file "$dir/operator.key" "$dir/disk.img" && echo "ok"
echo
echo "Demo complete."
