#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The boot suite with initramfs-tools (docs/boot.md, docs/testing.md): test-boot.sh SCENARIO.
#
# Every scenario starts from a pipeline-built image: `cvmseal image encrypt` turns an ext4 root file
# system into a LUKS2 image with a provisioning keyslot and a pending enrollment (PCRs 4, 7, 9 and
# the lock PCR, gated on the Azure-like vTPM's attestation policy).  The initramfs is built by the
# real mkinitramfs with the project's hook; crypttab names cvmseal-keyscript.
#
#   first-boot       the first boot enrolls the volume to the vTPM, destroys the provisioning
#                    keyslot and removes the marker, then mounts root
#   unattended       the next boot unlocks with no prompt and mounts root
#   changed-initrd   a changed initramfs changes PCR 9: the volume stays locked, the console says the
#                    boot state changed, names PCR 9 and the initrd's event in this boot's log (cvmseal
#                    diagnose), and asks for the recovery key; the key typed there boots
#   changed-cmdline  the same for a changed kernel command line (the EFI stub measures it into PCR 9):
#                    break=premount, whose shell (before cryptroot) must come after the lock
#                    (scripts/panic); leaving it, the boot goes on to the refusal and the recovery key
#   attest-refused   the vTPM's report gains the debug bit: the policy rejects it, the console names
#                    snp-debug and the volume stays locked (no console: cvmseal.recovery=no fails closed)
#   lock             from the booted system, `cvmseal unlock --test` is refused (exit 3): the initramfs
#                    extended the lock PCR (the record is in /run/cvmseal); then the host cuts the TPM
#                    channel at the lock's PCR_Event (qemu-boot.py --tpm-drop-at): the volume was opened,
#                    the lock fails, and the guest powers off without running its root file system
#   token-only       `cryptsetup open --token-only` opens a data volume through the plugin in the guest
#   rekey            the first boot starts the rekey and the guest's init (standing in for
#                    cvmseal-rekey.service) runs it on the mounted root; once it is under way the guest
#                    writes a file, and QEMU is quit in the middle; the next boot unlocks unattended,
#                    resumes and finishes; both files (and one from the image) read back by checksum;
#                    the pipeline's volume key no longer opens the disk (on the host), its key file
#                    neither; the recovery key (escrowed to the owner's public key) opens during and
#                    after, and at the recovery prompt of a changed initramfs
. "$(dirname "$0")/lib-boot.sh"

scenario=${1:?usage: test-boot.sh SCENARIO}
boot_require mkinitramfs

# ---- the machine and the guest's root file system ----
boot_machine
guest_rootfs "$T/rootfs"
key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
root_size=96M rekey_opts=(--no-rekey)
if [ "$scenario" = rekey ]; then
        # A root of three steps of the rekey (64 MiB each, half a minute each: TCG re-encrypts about
        # 2 MiB/s): QEMU is quit when the rekey says how long it will take, after its first step.
        root_size=192M
        # The owner's key pair: the first boot escrows the recovery key it makes to the public half.
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/owner.pem" 2>/dev/null || fail "genpkey"
        openssl pkey -in "$T/owner.pem" -pubout -out "$T/owner.pub" || fail "pkey -pubout"
        rekey_opts=(--recovery-public-key "$T/owner.pub")
        touch "$T/rootfs/etc/test/rekey"
        head -c 8388608 /dev/urandom >"$T/rootfs/before.bin"
        before_sum=$(sha256sum "$T/rootfs/before.bin" | cut -c1-64)
fi
make_ext4 "$T/rootfs" "$T/root.ext4" "$root_size"
# The other scenarios keep the image's volume key (--no-rekey): they test other things, faster.
expect_exit 0 "$CVMSEAL" --json image encrypt "$T/root.ext4" "$T/root.img" --unlock-key-file "$key" --fast-kdf \
        --tpm2-pcrs 4,7,9 --attest-policy "$policy" "${rekey_opts[@]}"
pycheck "$out" "d['provision-keyslot'] >= 0" "image encrypt --json"
uuid=$(cryptsetup luksUUID "$T/root.img") || fail "luksUUID"
disks=(--disk "$T/root.img")

if [ "$scenario" = token-only ]; then
        # A data volume: its first bytes say it was decrypted right.
        { printf 'CVMSEAL-DATA-OK'; head -c 4M /dev/zero; } >"$T/data.raw"
        expect_exit 0 "$CVMSEAL" image encrypt "$T/data.raw" "$T/data.img" --fast-kdf --unlock-key-file "$T/rootfs/etc/test/data.key"
        disks+=(--disk "$T/data.img")
fi

# ---- the initramfs ----
printf 'root UUID=%s none luks,initramfs,keyscript=%s\n' "$uuid" "$CVMSEAL_SRCDIR/initramfs/cvmseal-keyscript" \
        >"$T/crypttab"
make_initramfs "$T/initrd.img" "$T/crypttab" "$T/conf"
append="console=ttyS0 root=/dev/mapper/root panic=-1 quiet"
END='CVMSEAL-TEST: END'
PROMPT='Recovery key or passphrase for'

# first_boot: the pending enrollment happens; root mounts.
first_boot() {
        boot first --initrd "$T/initrd.img" --append "$append" "${disks[@]}" --until "$END|$PROMPT" --timeout 400
        expect_console "CVMSEAL-TEST: root mounted" "first boot"
        refute_console "Recovery key or passphrase" "first boot"
}

case "$scenario" in
first-boot)
        first_boot
        expect_console "cvmseal: Enrolled [^ ]+ to this TPM: token [0-9]+ opens keyslot [0-9]+" "first boot"
        # On the disk: one cvmseal token, no marker, the provisioning keyslot destroyed.
        expect_exit 0 "$CVMSEAL" list --json "$T/root.img"
        pycheck "$out" "len(d['tokens']) == 1 and d['tokens'][0]['pcrs'] == [4, 7, 9, 15] and d['tokens'][0]['attest'] \
                and not d.get('provision')" "list after the first boot"
        cryptsetup luksDump --dump-json-metadata "$T/root.img" >"$T/meta.json" || fail "luksDump"
        pycheck "$(cat "$T/meta.json")" "sorted(d['keyslots']) == ['0', '2'] or len(d['keyslots']) == 2" \
                "two keyslots left (the key file's and the vTPM's)"
        pycheck "$(cat "$T/meta.json")" "all(t['type'] != 'cvmseal-provision' for t in d['tokens'].values())" \
                "no provisioning marker"
        key_opens "$key" "$T/root.img"
        # In the booted system the lock applies: the guest's own unlock --test is refused.
        expect_console "CVMSEAL-TEST: unlock-test exit 3" "unlock --test in the booted system"
        ;;
unattended)
        first_boot
        boot second --initrd "$T/initrd.img" --append "$append" "${disks[@]}" --until "$END|$PROMPT" --timeout 400
        expect_console "CVMSEAL-TEST: root mounted" "second boot"
        refute_console "Recovery key or passphrase|automatic unlock refused|Enrolled" "second boot"
        expect_console "cryptsetup: root: set up successfully" "second boot"
        ;;
changed-cmdline)
        first_boot
        # The Linux EFI stub measures its command line (LoadOptions) into PCR 9 too.  The change is
        # break=premount: initramfs-tools' shell before cryptroot, which must come after the lock
        # (its panic() runs scripts/panic first; without panic=, which reboots instead of a shell).
        # "exit" leaves it, and the boot goes on to the refusal and the recovery prompt.  The kernel
        # passes CVMSEAL_TCTI=... to init's environment: the keyscript and the lock must not use it
        # (the refusal would say "no vTPM", and the lock would power off).
        boot changed --initrd "$T/initrd.img" "${disks[@]}" \
                --append "${append/panic=-1 /} break=premount CVMSEAL_TCTI=device:/dev/tpmrm7 CVMSEAL_CONFDIR=/nowhere" \
                --until "$END" --timeout 400 --answer '\(initramfs\) =exit' \
                --answer "Recovery key or passphrase for root=$(cat "$key")"
        expect_console "Spawning shell within the initramfs" "break=premount: the shell"
        lock_line=$(grep -n -m1 "cvmseal: extending the lock PCR 15" <<<"$console" | cut -d: -f1)
        shell_line=$(grep -n -m1 "^(initramfs) " <<<"$console" | cut -d: -f1)
        [ -n "$lock_line" ] && [ -n "$shell_line" ] && [ "$lock_line" -lt "$shell_line" ] \
                || boot_fail "break=premount: the shell (line ${shell_line:-none}) came before the lock (line ${lock_line:-none})"
        expect_console "cvmseal: root: automatic unlock refused: the boot state changed" "changed command line"
        refute_console "automatic unlock refused: no vTPM|cannot extend the lock PCR" \
                "CVMSEAL_TCTI= and CVMSEAL_CONFDIR= on the command line reached cvmseal"
        expect_console "CVMSEAL-TEST: root mounted" "changed command line: the recovery key"
        ;;
changed-initrd)
        first_boot
        # Another cpio member appended: the same initramfs to the kernel, another SHA-256 in PCR 9.
        cp "$T/initrd.img" "$T/initrd2.img"
        mkdir -p "$T/extra/etc" && echo changed >"$T/extra/etc/changed"
        (cd "$T/extra" && find . | cpio -o -H newc 2>/dev/null) >>"$T/initrd2.img"
        boot changed --initrd "$T/initrd2.img" --append "$append" "${disks[@]}" --until "$END" --timeout 400 \
                --answer "Recovery key or passphrase for root=$(cat "$key")"
        expect_console "cvmseal: root: automatic unlock refused: the boot state changed" "changed initramfs"
        # Before the prompt, why: the PCR, and the event of this boot's log that changed it.
        expect_console "cvmseal: root: diagnosis \(cvmseal diagnose\):" "changed initramfs: the diagnosis"
        # (QEMU writes the initrd's size into the kernel's setup header, so PCR 4 changes as well.)
        expect_console "^ +FAILED +pcrs +PCRs? ([0-9]+, )*9(, [0-9]+)* differs? from the enrolled value" \
                "changed initramfs: the PCR named"
        expect_console "^    +PCR 9: .*the initrd measured at event [0-9]+ \(EV_EVENT_TAG \"Linux initrd\"\)" \
                "changed initramfs: the initrd's event named"
        expect_console "Recovery key or passphrase for root" "changed initramfs: the recovery prompt"
        expect_console "CVMSEAL-TEST: root mounted" "changed initramfs: the recovery key"
        # And the lock still happened on the recovery path.
        expect_console 'CVMSEAL-TEST: lock-record \{' "changed initramfs: the lock on the recovery path"
        ;;
attest-refused)
        first_boot
        # The same vTPM (SRK, AK), now reporting a debug guest policy.
        vtpm_provision "$T/vtpm" "$T/fx-debug" --debug
        boot refused --initrd "$T/initrd.img" --append "$append cvmseal.recovery=no" "${disks[@]}" \
                --until "Gave up waiting|Dropping to a shell|maximum number of tries" --timeout 400
        expect_console "cvmseal: root: automatic unlock refused: attestation failed" "debug report"
        expect_console "snp-debug" "debug report: the failed check named"
        expect_console "recovery is disabled \(cvmseal.recovery=no\): the volume stays locked" "no console"
        refute_console "CVMSEAL-TEST: root mounted" "debug report"
        ;;
lock)
        first_boot
        boot second --initrd "$T/initrd.img" --append "$append" "${disks[@]}" --until "$END|$PROMPT" --timeout 400
        expect_console "CVMSEAL-TEST: root mounted" "second boot"
        expect_console "CVMSEAL-TEST: unlock-test exit 3: .*lock PCR has been extended" "unlock --test after the lock"
        expect_console 'CVMSEAL-TEST: lock-record \{"pcr":15' "the lock record in /run"
        # The host drops the TPM channel when the lock's PCR_Event comes: the unsealed volume is open,
        # the lock cannot be applied, and the guest must power off instead of going on to its root.
        boot lock-fails --initrd "$T/initrd.img" --append "$append" "${disks[@]}" --timeout 400 \
                --tpm-drop-at PCR_Event
        grep -aE 'cvmseal: |qemu-boot: TPM|Power down' <<<"$console" | sed 's/^/#   /' >&2
        expect_console "cryptsetup: root: set up successfully" "lock fails: the volume was unsealed and opened"
        expect_console "\[qemu-boot: TPM channel dropped at PCR_Event" "lock fails: the channel cut at the lock"
        expect_lock_failed_closed "lock fails"
        ;;
rekey)
        cryptsetup luksDump --dump-volume-key --volume-key-file "$T/vk-old" --batch-mode --key-file "$key" \
                "$T/root.img" >/dev/null 2>&1 || fail "dump the pipeline's volume key"
        # The first boot: provisioning starts the rekey; the guest writes a file, starts the data pass,
        # and QEMU is quit when the rekey says how long it will take (at the start of its second step).
        boot first --initrd "$T/initrd.img" --append "$append" "${disks[@]}" --timeout 600 \
                --until "Re-encrypting /dev/[^ ]+ to a new volume key: .* MiB/s \(cvmseal rekey --status [^ ]+\)|CVMSEAL-TEST: END|$PROMPT"
        expect_console "cvmseal: Enrolled [^ ]+ to this TPM: token [0-9]+ opens keyslot [0-9]+" "first boot"
        expect_console "the rekey to a volume key made here has started" "first boot: the rekey started"
        expect_console "CVMSEAL-TEST: rekey-before $before_sum" "the file from the image"
        expect_console "Re-encrypting /dev/[^ ]+ to a new volume key: [0-9]+ of [0-9]+ MiB left, about [0-9]+ s" \
                "the rekey's announcement on the console"
        expect_console "CVMSEAL-TEST: rekey-during-written [0-9a-f]{64} .*\"state\":\"running\"" "a file written during the rekey"
        refute_console "CVMSEAL-TEST: rekey-exit" "the rekey finished before QEMU was quit: make the disk bigger"
        during_sum=$(grep -ao 'rekey-during-written [0-9a-f]*' <<<"$console" | cut -d' ' -f2)
        expect_exit 0 "$CVMSEAL" --json rekey --status "$T/root.img"
        note "after QEMU quit: $out"
        pycheck "$out" "d['state'] == 'running' and 0 < d['bytes-done'] < d['bytes-total']" "the rekey stopped in the middle"
        cryptsetup open --test-passphrase --key-file "$key" "$T/root.img" 2>/dev/null \
                && fail "the pipeline's key file opens the volume during the rekey"
        # The recovery key, as its owner reads it from the header with openssl, opens the volume in the
        # middle of the rekey.
        cryptsetup luksDump --dump-json-metadata "$T/root.img" | python3 -c 'import base64,json,sys
d = json.load(sys.stdin)
t = [t for t in d["tokens"].values() if t["type"] == "cvmseal-recovery"][0]
sys.stdout.buffer.write(base64.b64decode(t["ciphertext"]))' >"$T/escrow.bin" || fail "no recovery escrow in the header"
        openssl pkeyutl -decrypt -inkey "$T/owner.pem" -in "$T/escrow.bin" -out "$T/recovery" -pkeyopt rsa_padding_mode:oaep \
                -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 || fail "decrypt the escrowed recovery key"
        key_opens "$T/recovery" "$T/root.img"
        # The next boot unlocks unattended, resumes and finishes; nothing is lost.
        boot second --initrd "$T/initrd.img" --append "$append" "${disks[@]}" --until "$END|$PROMPT" --timeout 900
        expect_console "cryptsetup: root: set up successfully" "second boot: unattended"
        refute_console "Recovery key or passphrase|automatic unlock refused" "second boot"
        expect_console "CVMSEAL-TEST: rekey-before $before_sum" "the file from the image, after the kill"
        expect_console "CVMSEAL-TEST: rekey-during $during_sum" "the file written during the rekey, after the kill"
        expect_console "CVMSEAL-TEST: rekey-exit 0" "the rekey resumed and finished"
        expect_console 'CVMSEAL-TEST: rekey-status \{"device":"/dev/vda","state":"finished"\}' "status: finished"
        expect_console "CVMSEAL-TEST: rekey-final $before_sum +/before.bin" "the image's file at the end"
        expect_console "CVMSEAL-TEST: rekey-final $during_sum +/during.bin" "the file written during the rekey at the end"
        # On the host: the pipeline's volume key and key file open nothing; one token, its keyslot.
        cryptsetup open --test-passphrase --volume-key-file "$T/vk-old" "$T/root.img" 2>/dev/null \
                && fail "the volume key the pipeline knew still opens the disk"
        cryptsetup open --test-passphrase --key-file "$key" "$T/root.img" 2>/dev/null \
                && fail "the pipeline's key file still opens the disk"
        expect_exit 0 "$CVMSEAL" list --json "$T/root.img"
        pycheck "$out" "d['rekey']['state'] == 'finished' and len([t for t in d['tokens'] if t['type'] == 'cvmseal']) == 1 \
                and len(d['keyslots']) == 2 and not d.get('provision')" "list after the rekey: the token's and the recovery keyslot"
        key_opens "$T/recovery" "$T/root.img"
        # And at the recovery prompt: a changed initramfs (PCR 9) refuses the token; the escrowed
        # recovery key typed there boots.
        cp "$T/initrd.img" "$T/initrd2.img"
        mkdir -p "$T/extra/etc" && echo changed >"$T/extra/etc/changed"
        (cd "$T/extra" && find . | cpio -o -H newc 2>/dev/null) >>"$T/initrd2.img"
        boot recovery --initrd "$T/initrd2.img" --append "$append" "${disks[@]}" --until "$END" --timeout 400 \
                --answer "Recovery key or passphrase for root=$(cat "$T/recovery")"
        expect_console "cvmseal: root: automatic unlock refused: the boot state changed" "changed initramfs"
        expect_console "CVMSEAL-TEST: root mounted" "the escrowed recovery key at the prompt"
        expect_console "CVMSEAL-TEST: rekey-final $during_sum +/during.bin" "the file written during the rekey, by the recovery key"
        ;;
token-only)
        first_boot
        expect_console "CVMSEAL-TEST: data-enroll exit 0" "enroll of the data volume in the guest"
        expect_console "CVMSEAL-TEST: token-only exit 0" "cryptsetup open --token-only"
        expect_console "CVMSEAL-TEST: data content CVMSEAL-DATA-OK" "the data volume's content through dm-crypt"
        ;;
*)
        fail "unknown scenario $scenario"
        ;;
esac
echo "PASS: $scenario"
