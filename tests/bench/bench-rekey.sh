#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-rekey.sh (tests/bench/README.md): the rekey, measured inside a guest of the boot suite.
#
# 1. Speed: a BENCH_REKEY_SIZE (4 GiB) LUKS2 data disk, opened in the guest (online, as the first
#    boot's rekey works), is re-encrypted by `cryptsetup reencrypt` (the CLI: its defaults, checksum
#    resilience), then by `cvmseal rekey --unlock-key-file`, then by `cryptsetup reencrypt` again (the
#    first pass also allocates the sparse image on the host); the ratio is cvmseal's speed over the
#    mean of the two cryptsetup runs.  Target: 0.9 or more.
# 2. The first boot's time to its login prompt (the guest init's "root mounted", from the kernel's
#    uptime) with and without the rekey: two first boots of the same root file system, one image made
#    with --no-rekey.  Target: 5 s or less.
#
# BENCH_ACCEL=kvm|tcg (default tcg), BENCH_REKEY_SIZE (default 4G; under TCG the guest re-encrypts
# about 2 MiB/s, so 4G takes about 35 minutes a run).
# Not a test: it fails only when the setup breaks.
. "$(dirname "$0")/../boot/lib-boot.sh"

boot_require mkinitramfs
# TCG unless asked: on the development machine (itself a VM) KVM runs OVMF into a triple fault.
accel=${BENCH_ACCEL:-tcg}
size=${BENCH_REKEY_SIZE:-4G}
note "accelerator: $accel; data disk: $size"

boot_machine
guest_rootfs "$T/rootfs"
rm -rf "$T/rootfs/etc/test/rekey"
# The guest's data-disk part: the same disk re-encrypted three times, timed by the kernel's uptime.
cat >"$T/rootfs/etc/test/bench" <<'EOS'
up() { cut -d' ' -f1 /proc/uptime; }
k=/etc/test/data.key
cryptsetup open --key-file $k /dev/vdb data || echo "CVMSEAL-TEST: bench open failed"
for tool in cryptsetup cvmseal cryptsetup; do
        t0=$(up)
        case $tool in
        cryptsetup) cryptsetup reencrypt --batch-mode --key-file $k --resilience checksum --active-name data /dev/vdb \
                        >/tmp/bench.out 2>&1 ;;
        cvmseal) cvmseal rekey /dev/vdb --unlock-key-file $k >/tmp/bench.out 2>&1 ;;
        esac
        rc=$?
        t1=$(up)
        echo "CVMSEAL-TEST: bench $tool exit $rc from $t0 to $t1: $(tail -c 300 /tmp/bench.out | tr '\n' ' ')"
done
cryptsetup close data
EOS
sed -i 's|^say "END"$|[ -f /etc/test/bench ] \&\& [ -b /dev/vdb ] \&\& . /etc/test/bench\nsay "END"|' "$T/init"
install -m 0755 "$T/init" "$T/rootfs/sbin/init"
grep -q '/etc/test/bench' "$T/rootfs/sbin/init" || fail "the guest's init does not run the benchmark"

key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
make_ext4 "$T/rootfs" "$T/root.ext4" 96M
append="console=ttyS0 root=/dev/mapper/root panic=-1 quiet"
END='CVMSEAL-TEST: END'
PROMPT='Recovery key or passphrase for'

# ---- 2. the first boot's time to the login prompt, without and with the rekey ----
declare -A mounted
for variant in no-rekey rekey; do
        opts=()
        [ "$variant" = no-rekey ] && opts=(--no-rekey)
        rm -f "$T/root-$variant.img"
        expect_exit 0 "$CVMSEAL" image encrypt "$T/root.ext4" "$T/root-$variant.img" --unlock-key-file "$key" \
                --fast-kdf --tpm2-pcrs 4,7,9 --attest-policy "$policy" "${opts[@]}"
        uuid=$(cryptsetup luksUUID "$T/root-$variant.img") || fail "luksUUID"
        printf 'root UUID=%s none luks,initramfs,keyscript=%s\n' "$uuid" "$CVMSEAL_SRCDIR/initramfs/cvmseal-keyscript" \
                >"$T/crypttab"
        make_initramfs "$T/initrd-$variant.img" "$T/crypttab" "$T/conf"
        boot "first-$variant" --accel "$accel" --initrd "$T/initrd-$variant.img" --append "$append" \
                --disk "$T/root-$variant.img" --until "$END|$PROMPT" --timeout 900
        expect_console "CVMSEAL-TEST: root mounted at" "first boot ($variant)"
        mounted[$variant]=$(grep -ao 'CVMSEAL-TEST: root mounted at [0-9.]*' <<<"$console" | awk '{print $NF}')
        note "first boot, $variant: root mounted at ${mounted[$variant]} s of uptime"
done

# ---- 1. speed: the same data disk, three times ----
rm -f "$T/data.img"
truncate -s "$size" "$T/data.img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --key-file "$T/rootfs/etc/test/data.key" "$T/data.img" >/dev/null || fail "luksFormat the data disk"
boot speed --accel "$accel" --initrd "$T/initrd-no-rekey.img" --append "$append" --disk "$T/root-no-rekey.img" \
        --disk "$T/data.img" --until "$END|$PROMPT" --timeout 14400
grep -a 'CVMSEAL-TEST: bench' <<<"$console" | sed 's/^/#   /' >&2
printf '%s\n' "$console" >"$T/speed.console"
python3 - "$size" "${mounted[no-rekey]}" "${mounted[rekey]}" "$accel" "$T/speed.console" <<'EOF' || fail "the benchmark did not run"
import re, sys
size, base, rekey, accel = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
runs = re.findall(r"CVMSEAL-TEST: bench (\S+) exit (\d+) from ([\d.]+) to ([\d.]+)", open(sys.argv[5]).read())
if len(runs) != 3 or any(r[1] != "0" for r in runs):
    sys.exit("runs: %r" % (runs,))
t = [float(r[3]) - float(r[2]) for r in runs]
cs = (t[0] + t[2]) / 2
print("rekey of a %s disk in the guest (%s): cryptsetup reencrypt %.1f s and %.1f s, cvmseal rekey %.1f s: "
      "speed ratio %.2f (target 0.9 or more)" % (size, accel, t[0], t[2], t[1], cs / t[1]))
print("first boot to the login prompt (root mounted): %.2f s without the rekey, %.2f s with it: +%.2f s "
      "(target: 5 s or less)" % (base, rekey, rekey - base))
EOF
