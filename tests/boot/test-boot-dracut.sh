#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The boot suite with dracut (docs/boot.md, "dracut"): test-boot-dracut.sh FLAVOUR, FLAVOUR = systemd
# (a systemd initrd: systemd-cryptsetup opens the root through the token plugin) or plain (dracut's
# crypt module without systemd: cryptroot-ask runs `cryptsetup luksOpen`, which tries the plugin
# before it asks for a passphrase).  The initramfs is built by the real dracut with the module from
# the source tree (initramfs/dracut/90cvmseal); the rest is the initramfs-tools suite's harness
# (lib-boot.sh: QEMU + OVMF + an Azure-like swtpm vTPM, a pipeline-built image from
# `cvmseal image encrypt` with a provisioning marker, PCRs 4, 7, 9 and the lock PCR).
#
# Three boots of the same machine:
#   1. first boot: cvmseal provision enrolls the volume to the vTPM (after attestation), the
#      marker and the provisioning keyslot go, the volume opens, root mounts; the booted system's
#      `cvmseal unlock --test` is refused with exit 3 (the initramfs extended the lock PCR)
#   2. the next boot opens the volume unattended through the token plugin: no prompt; exit 3 again
#   3. a changed initramfs (PCR 9): the plugin's reason and diagnosis (the PCR, the initrd's event)
#      are on the console, then the passphrase
#      prompt of systemd-cryptsetup / cryptroot-ask; the key typed there boots, and the lock still
#      happened on that path (exit 3)
#   4. the lock fails, and the guest powers off before anything of its root runs:
#      plain: the host cuts the TPM channel at the lock's PCR_Event (qemu-boot.py --tpm-drop-at): the
#        volume opens unattended, the pre-pivot hook's lock gets exit 6;
#      systemd: rd.cvmseal.tcti=device:/dev/tpmrm7 (a TPM device that does not exist) reaches the
#        token plugin inside systemd-cryptsetup (its reason is "no TPM", not the changed command
#        line's "policy not satisfied"), the key typed at the prompt opens the volume, and
#        cvmseal-lock.service's lock gets exit 6 through the same TCTI
. "$(dirname "$0")/lib-boot.sh"

flavour=${1:?usage: test-boot-dracut.sh systemd|plain}
boot_require dracut
[ -d /usr/lib/dracut/modules.d/90crypt ] || skip "dracut's crypt module is not installed (dracut-core)"

# ---- the machine and the guest's root file system ----
boot_machine
guest_rootfs "$T/rootfs"
key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
make_ext4 "$T/rootfs" "$T/root.ext4" 96M
# The first boot is gated on the Azure-like vTPM's attestation policy, as in the initramfs-tools
# suite.  Here securityfs is mounted, so the evidence carries the firmware's event log too, and the
# verifier checks that it replays to the quoted PCRs it extends (not IMA's PCR 10, nor 17-22).
attest=(--attest-policy "$policy")
[ "${BOOT_ATTEST:-1}" = 0 ] && attest=()
expect_exit 0 "$CVMSEAL" --json image encrypt "$T/root.ext4" "$T/root.img" --unlock-key-file "$key" --fast-kdf --no-rekey \
        --tpm2-pcrs 4,7,9 "${attest[@]}"
pycheck "$out" "d['provision-keyslot'] >= 0" "image encrypt --json"
uuid=$(cryptsetup luksUUID "$T/root.img") || fail "luksUUID"

# ---- the initramfs: the real dracut, the module from the source tree ----
cp -a /usr/lib/dracut "$T/dracut" || fail "copy of /usr/lib/dracut"
cp -r "$CVMSEAL_SRCDIR/initramfs/dracut/90cvmseal" "$T/dracut/modules.d/" || fail "copy of the module"
mkdir -p "$T/dracut.conf.d"
cat >"$T/dracut.conf.d/50-cvmseal.conf" <<EOS
cvmseal_binary="$CVMSEAL"
cvmseal_token_plugin="$CVMSEAL_TOKEN_PLUGIN"
cvmseal_lockscript="$CVMSEAL_SRCDIR/initramfs/cvmseal-lock.sh"
cvmseal_confdir="$T/conf"
EOS
case "$flavour" in
        systemd) modules="systemd systemd-initrd dracut-systemd cvmseal" ;;
        plain) modules="bash cvmseal" ;;
        *) fail "unknown flavour $flavour" ;;
esac
dracutbasedir="$T/dracut" dracut --force --no-hostonly --no-hostonly-cmdline --kver "$KVER" \
        --conf /dev/null --confdir "$T/dracut.conf.d" --modules "$modules" \
        --add-drivers "virtio_pci virtio_blk ext4 crc32c_generic" --no-early-microcode \
        --compress "zstd -1" --tmpdir "$T" "$T/initrd.img" >"$T/dracut.log" 2>&1 \
        || fail "dracut: $(tail -n 20 "$T/dracut.log")"

append="console=ttyS0 panic=-1 rd.luks.uuid=$uuid rd.luks.name=$uuid=root root=/dev/mapper/root rootfstype=ext4"
append+=" rd.shell=0 rd.emergency=poweroff systemd.show_status=1 ${BOOT_APPEND:-}"   # BOOT_APPEND: debugging
END='CVMSEAL-TEST: END'
# systemd-cryptsetup's and cryptsetup's passphrase prompts.
PROMPT='Please enter passphrase for disk|Enter passphrase for'
GAVEUP='reboot: Power down|Entering emergency mode|Boot has failed'

# show: what the last boot said about cvmseal and the prompts, in the test's log.
show() {
        grep -aE 'cvmseal|[Pp]assphrase for|CVMSEAL-TEST|Cryptography Setup|qemu-boot: TPM|Power down' <<<"$console" | grep -v 'Command line' \
                | sed 's/^/#   /' >&2
}

# 1. first boot: provisioned, opened, root mounted, locked.
boot first --initrd "$T/initrd.img" --append "$append" --disk "$T/root.img" --until "$END|$PROMPT" --timeout 500
show
expect_console "CVMSEAL-TEST: root mounted" "first boot"
refute_console "$PROMPT" "first boot"
expect_console "Enrolled .* to this TPM" "first boot: provisioning"
expect_console "CVMSEAL-TEST: unlock-test exit 3" "first boot: the lock PCR in the booted system"
expect_console 'CVMSEAL-TEST: lock-record \{"pcr":15' "first boot: the lock PCR in the booted system: the lock record"
expect_exit 0 "$CVMSEAL" list --json "$T/root.img"
pycheck "$out" "len(d['tokens']) == 1 and 15 in d['tokens'][0]['pcrs'] and not d.get('provision')" \
        "list after the first boot"
cryptsetup luksDump --dump-json-metadata "$T/root.img" >"$T/meta.json" || fail "luksDump"
pycheck "$(cat "$T/meta.json")" "all(t['type'] != 'cvmseal-provision' for t in d['tokens'].values())" \
        "no provisioning marker after the first boot"
key_opens "$key" "$T/root.img"

# 2. unattended: through the token plugin, no prompt, no second enrollment.
boot second --initrd "$T/initrd.img" --append "$append" --disk "$T/root.img" --until "$END|$PROMPT" --timeout 500
show
expect_console "CVMSEAL-TEST: root mounted" "second boot"
refute_console "$PROMPT" "second boot: a prompt"
refute_console "Enrolled" "second boot: enrolled again"
refute_console "cvmseal token [0-9]+:" "second boot: the plugin refused"
expect_console "CVMSEAL-TEST: unlock-test exit 3" "second boot: the lock PCR in the booted system"
expect_console 'CVMSEAL-TEST: lock-record \{"pcr":15' "second boot: the lock PCR in the booted system: the lock record"

# 3. a changed initramfs: refused with a reason, then the passphrase prompt; the key boots; locked.
cp "$T/initrd.img" "$T/initrd2.img"
mkdir -p "$T/extra/etc" && echo changed >"$T/extra/etc/changed"
(cd "$T/extra" && find . | cpio -o -H newc 2>/dev/null) >>"$T/initrd2.img"
boot changed --initrd "$T/initrd2.img" --append "$append" --disk "$T/root.img" --until "$END|$GAVEUP" \
        --timeout 500 --answer "$PROMPT=$(cat "$key")"
show
expect_console "cvmseal token [0-9]+: the TPM policy is not satisfied" "changed initramfs: the reason on the console"
# and why: the PCRs and the event of this boot's log (the plugin's diagnosis, before the prompt)
expect_console "cvmseal token [0-9]+: PCRs? ([0-9]+, )*9(, [0-9]+)* differs? from the enrolled value" \
        "changed initramfs: the PCR named on the console"
expect_console "cvmseal token [0-9]+: PCR 9: .*the initrd measured at event [0-9]+" \
        "changed initramfs: the initrd's event named on the console"
expect_console "$PROMPT" "changed initramfs: the passphrase prompt"
expect_console "CVMSEAL-TEST: root mounted" "changed initramfs: the key typed at the prompt"
expect_console "CVMSEAL-TEST: unlock-test exit 3" "changed initramfs: the lock on the recovery path"
expect_console 'CVMSEAL-TEST: lock-record \{"pcr":15' "changed initramfs: the lock on the recovery path: the lock record"

# 4. the lock fails: the guest powers off.
if [ "$flavour" = plain ]; then
        # The TPM channel cut at the lock: the volume opens, the lock fails.
        boot lock-fails --initrd "$T/initrd.img" --append "$append" --disk "$T/root.img" --timeout 500 \
                --tpm-drop-at PCR_Event
        show
        refute_console "$PROMPT" "lock fails: the volume opens unattended"
        expect_console "\[qemu-boot: TPM channel dropped at PCR_Event" "lock fails: the channel cut at the lock"
else
        # rd.cvmseal.tcti names a TPM device that is not there: the plugin inside systemd-cryptsetup
        # uses it (its reason is "no TPM"), the typed key opens the volume, the lock cannot reach a TPM.
        boot lock-fails --initrd "$T/initrd.img" --disk "$T/root.img" --timeout 500 \
                --append "$append rd.cvmseal.tcti=device:/dev/tpmrm7 rd.cvmseal.tpm_timeout=1" \
                --answer "$PROMPT=$(cat "$key")"
        show
        expect_console "cvmseal token [0-9]+: no TPM is available" "rd.cvmseal.tcti: the plugin inside systemd-cryptsetup uses it"
        refute_console "the TPM policy is not satisfied" "rd.cvmseal.tcti: the plugin used the default TPM"
        expect_console "$PROMPT" "rd.cvmseal.tcti: the passphrase prompt"
        expect_console "cannot extend the lock PCR \(exit 6\)" "rd.cvmseal.tcti: the lock through the same TCTI"
fi
expect_lock_failed_closed "lock fails"
echo "PASS: dracut $flavour"
