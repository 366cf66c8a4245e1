#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Moving a volume to cvmseal without its passphrase (docs/migration.md): `enroll --unlock-token ID`
# takes the existing keyslot's secret from another token, `--wipe-token` then removes that token and its
# keyslot.  Each volume's passphrase keyslot is destroyed first, so the other token is the only way in.
#
#   systemd-tpm2  a token made by Debian's systemd-cryptenroll (--tpm2-device names the TPM) on a swtpm
#                 that is a character device (tpm-pty.py), seen as /dev/tpmrm0 in a private mount
#                 namespace (tpm-ns.sh): systemd 252's token plugin finds TPMs only in /sys/class/tpmrm.
#                 With PCR 7 changed the plugin refuses: exit 1, the header unchanged.  In the enrolled
#                 state: a cvmseal token and a recovery key are added through libcryptsetup's token API,
#                 the systemd token and its keyslot are gone, and cvmseal alone unlocks (unlock --test,
#                 --print-key opens the keyslot); the recovery key opens the volume.
#   clevis        a clevis tpm2 binding (clevis luks bind, TPM2TOOLS_TCTI on a swtpm socket): the
#                 secret comes from `clevis luks pass` through a pipe; with PCR 7 changed clevis fails:
#                 exit 1, nothing changed; then the same migration, and cvmseal alone unlocks.  The
#                 passphrase never appears on any command line (argv of every process while clevis runs
#                 is checked through /proc).
#   refusals      --unlock-token of no token: 8; with --unlock-key-file as well, or --wipe-token alone:
#                 2; --unlock-token of a token with no plugin here (type "other"): 1.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
for tool in python3 tpm2_pcrextend unshare; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done
key=$T/key

# kill_passphrase IMG: destroys keyslot 0 (the passphrase's): the other token is then the only way in.
kill_passphrase() {
        cryptsetup luksKillSlot --batch-mode "$1" 0 >/dev/null 2>&1 || fail "luksKillSlot $1 0"
        ! cryptsetup open --test-passphrase --key-file "$key" "$1" 2>/dev/null || fail "the passphrase still opens $1"
}

# migrated IMG TCTI [KEYSLOTS]: after a migration with --wipe-token and --recovery-key: one cvmseal
# token, no other, KEYSLOTS keyslots (2: its own and the recovery keyslot), cvmseal alone unlocks, its
# key opens its keyslot, the recovery key opens the volume.
migrated() {
        local img=$1 tcti=$2 n=${3:-2}
        expect_exit 0 "$CVMSEAL" --json list "$img"
        pycheck "$out" "[t['type'] for t in d['tokens']] == ['cvmseal'] and len(d['keyslots']) == $n" \
                "$img after the migration: only the cvmseal token, $n keyslots"
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
        "$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/pk" || fail "unlock --print-key"
        cryptsetup open --test-passphrase --key-file "$T/pk" "$img" || fail "the cvmseal key does not open $img"
        printf '%s' "$recovery" >"$T/recovery"
        cryptsetup open --test-passphrase --key-file "$T/recovery" "$img" || fail "the recovery key does not open $img"
}

# ---- systemd-cryptenroll's systemd-tpm2 token ----
plugin=$(ls /usr/lib/*/cryptsetup/libcryptsetup-token-systemd-tpm2.so /lib/*/cryptsetup/libcryptsetup-token-systemd-tpm2.so \
        2>/dev/null | head -n1)
if ! command -v systemd-cryptenroll >/dev/null || [ -z "$plugin" ]; then
        note "SKIP systemd-tpm2: systemd-cryptenroll or its token plugin is not installed (package systemd)"
elif [ "$(id -u)" != 0 ]; then
        note "SKIP systemd-tpm2: a private mount namespace for /dev/tpmrm0 needs root"
else
        # start_pty: a swtpm behind a pty ($pty), its pid among those the trap kills ($pty_pid).
        start_pty() {
                read -r pty pty_pid < <(python3 "$HERE/tpm-pty.py" "$T/ptytpm" 2>"$T/pty.err") \
                        || fail "tpm-pty.py: $(cat "$T/pty.err")"
                [ -c "$pty" ] || fail "tpm-pty.py gave no pty: $(cat "$T/pty.err")"
                # Not in $_pids: the trap's SIGTERM would not end swtpm's read of the pty.
                trap 'kill -KILL "$pty_pid" 2>/dev/null; cleanup' EXIT
                tcti=device:$pty
                export TPM2TOOLS_TCTI=$tcti
        }
        # flush: what a program left loaded in the TPM (systemd's plugin leaves its sessions there when
        # there is no resource manager, and the TPM runs out of them).
        flush() {
                tpm2_flushcontext -t >/dev/null 2>&1
                tpm2_flushcontext -s >/dev/null 2>&1
                tpm2_flushcontext -l >/dev/null 2>&1
        }
        start_pty
        # in_ns COMMAND...: COMMAND where the pty is /dev/tpmrm0 (and /sys/class/tpmrm lists it).
        in_ns() {
                TMPDIR=$T unshare --mount --propagation private bash "$HERE/tpm-ns.sh" "$pty" "$@"
        }
        # cvmseal and tpm2-tools name the pty itself; the plugin finds it as /dev/tpmrm0.
        export CVMSEAL_CONFDIR=$T/conf-systemd
        img=$T/img-systemd
        make_image "$img" "$key"
        chmod 0600 "$key"
        # "Firmware": PCR 7 holds a Secure Boot state.
        in_ns tpm2_pcrextend "7:sha256=$(printf '%064x' 7)" >/dev/null || fail "tpm2_pcrextend"
        in_ns systemd-cryptenroll --unlock-key-file="$key" --tpm2-device=/dev/tpmrm0 --tpm2-pcrs=7 "$img" \
                >"$T/sd.out" 2>&1 || fail "systemd-cryptenroll: $(cat "$T/sd.out")"
        flush
        in_ns cryptsetup open --test-passphrase --token-only "$img" || fail "the systemd-tpm2 token does not open $img"
        flush
        # The host's edit: the operator's own passphrase keyslot assigned to the systemd token in the
        # header.  --wipe-token destroys only the keyslot the token's secret opened: this one stays.
        printf 'the operator keeps this one' >"$T/operator.key"
        cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$key" \
                "$img" "$T/operator.key" || fail "luksAddKey"
        op_slot=$(cryptsetup luksDump --dump-json-metadata "$img" | python3 -c \
                'import json, sys; print(max(int(k) for k in json.load(sys.stdin)["keyslots"]))')
        cryptsetup token export --token-id 0 "$img" >"$T/sd-token.json" || fail "token export"
        python3 -c 'import json, sys; t = json.load(open(sys.argv[1])); t["keyslots"].append(sys.argv[2]); print(json.dumps(t))' \
                "$T/sd-token.json" "$op_slot" >"$T/sd-token2.json" || fail "edit the systemd token"
        cryptsetup token remove --token-id 0 "$img" || fail "token remove"
        cryptsetup token import --token-id 0 --json-file "$T/sd-token2.json" "$img" || fail "token import"
        kill_passphrase "$img"
        sum=$(header_sum "$img")

        # The boot state changed: the plugin refuses, nothing changes.
        in_ns tpm2_pcrextend "7:sha256=$(printf '%064x' 8)" >/dev/null || fail "tpm2_pcrextend"
        in_ns "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-token 0 --wipe-token >"$T/o" 2>"$T/e" && rc=0 || rc=$?
        [ "$rc" = 1 ] || fail "enroll --unlock-token with the systemd token refused exited $rc: $(cat "$T/e")"
        expect_in "$(cat "$T/e")" "the token did not give its keyslot's secret .*nothing was changed" "the refusal"
        [ "$(header_sum "$img")" = "$sum" ] || fail "a refused --unlock-token changed the header"

        # The enrolled state (a reboot of the swtpm: its PCRs start again), then the migration.
        flush
        # swtpm ends its read of the pty only with a signal it cannot catch.
        kill -KILL "$pty_pid"
        while alive "$pty_pid"; do sleep 0.02; done
        start_pty
        in_ns tpm2_pcrextend "7:sha256=$(printf '%064x' 7)" >/dev/null || fail "tpm2_pcrextend"
        in_ns "$CVMSEAL" --tcti "$tcti" --json enroll "$img" --unlock-token 0 --wipe-token --recovery-key \
                >"$T/o" 2>"$T/e" || fail "enroll --unlock-token 0 --wipe-token: $(cat "$T/e")"
        out=$(cat "$T/o")
        pycheck "$out" "d['removed-token'] == 0 and len(d['removed-keyslots']) == 1 and d['verified']" \
                "enroll --unlock-token --wipe-token --json"
        recovery=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["recovery-key"])' "$out")
        pycheck "$out" "$op_slot not in d['removed-keyslots']" "--wipe-token and the keyslot the header assigned"
        migrated "$img" "$tcti" 3
        cryptsetup open --test-passphrase --key-file "$T/operator.key" "$img" \
                || fail "--wipe-token destroyed the keyslot that the header assigned to the token"
        note "systemd-tpm2: migrated, the old token and its keyslot removed (not the one the header added), cvmseal alone unlocks"
fi

# ---- a clevis tpm2 binding ----
if ! command -v clevis >/dev/null || ! command -v clevis-luks-pass >/dev/null || ! command -v clevis-encrypt-tpm2 >/dev/null; then
        note "SKIP clevis: clevis, clevis-luks or clevis-tpm2 is not installed (tools/install-deps.sh --bench)"
else
        tcti=$(start_swtpm ctpm) || exit 1
        export TPM2TOOLS_TCTI=$tcti CVMSEAL_CONFDIR=$T/conf-clevis
        pcr_extend "$tcti" 7
        img=$T/img-clevis
        make_image "$img" "$key"
        clevis luks bind -y -k "$key" -d "$img" tpm2 '{"pcr_bank":"sha256","pcr_ids":"7"}' >"$T/cl.out" 2>&1 \
                || fail "clevis luks bind: $(cat "$T/cl.out")"
        kill_passphrase "$img"
        sum=$(header_sum "$img")
        clevis luks pass -d "$img" -s 1 >"$T/clevis.pass" 2>/dev/null || fail "clevis luks pass"
        clevis_slot=$(cryptsetup luksDump --dump-json-metadata "$img" | python3 -c \
                'import json, sys; d = json.load(sys.stdin); print([t["keyslots"][0] for t in d["tokens"].values() if t["type"] == "clevis"][0])')

        # The boot state changed: clevis cannot decrypt, nothing changes.
        pcr_extend "$tcti" 7
        expect_exit 1 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-token 0 --wipe-token
        [ "$(header_sum "$img")" = "$sum" ] || fail "a refused --unlock-token changed the header"
        stop_swtpm ctpm
        start_swtpm ctpm >/dev/null || exit 1
        pcr_extend "$tcti" 7

        # While cvmseal and clevis run, no process's argv holds the passphrase.
        "$CVMSEAL" --tcti "$tcti" --json enroll "$img" --unlock-token 0 --wipe-token --recovery-key >"$T/o" 2>"$T/e" &
        epid=$!
        seen=$T/argv
        : >"$seen"
        while kill -0 "$epid" 2>/dev/null; do
                cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' >>"$seen"
                echo >>"$seen"
        done
        wait "$epid" || fail "enroll --unlock-token 0 (clevis) --wipe-token: $(cat "$T/e")"
        out=$(cat "$T/o")
        pycheck "$out" "d['removed-token'] == 0 and d['removed-keyslots'] == [$clevis_slot]" "the clevis token and keyslot removed"
        grep -q "clevis luks pass -d $img -s $clevis_slot" "$seen" || note "clevis luks pass was not caught running (fast machine)"
        recovery=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["recovery-key"])' "$out")
        "$CVMSEAL" --tcti "$tcti" unlock --print-key "$img" >"$T/newkey" || fail "unlock --print-key after the clevis migration"
        ! grep -qF -f "$T/clevis.pass" "$seen" || fail "clevis's passphrase appeared in a command line"
        ! grep -qF -f "$T/newkey" "$seen" || fail "the new passphrase appeared in a command line"
        migrated "$img" "$tcti"
        note "clevis: migrated through 'clevis luks pass', the old token and keyslot removed, cvmseal alone unlocks"
fi

# ---- refusals ----
tcti=$(start_swtpm rtpm) || exit 1
export CVMSEAL_CONFDIR=$T/conf-r
img=$T/img-r
make_image "$img" "$key"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-token 3
expect_in "$err" "there is no such token" "--unlock-token of no token"
expect_exit 2 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-token 0 --unlock-key-file "$key"
expect_exit 2 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --wipe-token
printf '{"type": "other", "keyslots": ["0"]}' >"$T/other.json"
cryptsetup token import --token-id 1 --json-file "$T/other.json" "$img" || fail "token import"
sum=$(header_sum "$img")
expect_exit 1 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-token 1
expect_in "$err" "nothing here can open a token of that type" "a token without a plugin"
[ "$(header_sum "$img")" = "$sum" ] || fail "a refused --unlock-token changed the header"
echo PASS
