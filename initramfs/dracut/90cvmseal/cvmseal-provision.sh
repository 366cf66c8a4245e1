#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cvmseal-provision DEVICE [NAME]
# cvmseal-provision --unit INSTANCE   (from systemd-cryptsetup@INSTANCE.service: the device it binds to)
#
# Runs before a volume is opened: waits for the TPM when the firmware describes one, then
# `cvmseal provision DEVICE`, which enrolls a pipeline-built image to this VM's vTPM on its first boot
# (and does nothing when the volume carries no provisioning marker).  Never fails the unlock: whatever
# happens, the volume is then opened as configured (token, passphrase or recovery key).
#
# A volume in the middle of its rekey (docs/boot.md, "First boot: the rekey") is opened here, as NAME,
# by `cvmseal unlock` (which also hands the rekey over to the booted system): libcryptsetup 2.6
# refuses to activate a volume in reencryption through a token plugin, so neither systemd-cryptsetup
# nor cryptsetup could; they find it open and are done.
#
# Kernel command line: rd.cvmseal.tpm_timeout=SECONDS (default 10, 0 to 600),
# rd.cvmseal.provision_timeout=SECONDS (default 300, 1 to 86400; 0 would mean no timeout at all),
# rd.cvmseal.tcti=TCTI (sets $CVMSEAL_TCTI for cvmseal and the token plugin).

PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /usr/lib/cvmseal/cvmseal-lib.sh
cvmseal_env

# unit_device UNIT: the device UNIT binds to (BindsTo=X.device: X is the escaped device path), from
# the generator's unit file, else from systemd (which prints the value C-escaped and quoted).  Call it
# in a command substitution.
unit_device() {
        local deps="" u f
        for f in /run/systemd/generator/"$1" /etc/systemd/system/"$1" /run/systemd/system/"$1"; do
                [ -f "$f" ] || continue
                while IFS= read -r u; do
                        case "$u" in
                                BindsTo=*) deps="$deps ${u#BindsTo=}" ;;
                        esac
                done < "$f"
                break
        done
        if [ -z "$deps" ]; then
                deps=$(systemctl show --property=BindsTo --value "$1" 2> /dev/null \
                        | sed -e 's/"//g' -e 's/\\\\/\\/g') || deps=""
                # systemctl's complaint, asked again, into a variable (no file).
                [ -n "$deps" ] || cvmseal_log "systemctl show $1: $(systemctl show --property=BindsTo --value "$1" 2>&1 > /dev/null)"
        fi
        # Split on blanks only (it runs in a command substitution: set -f stays there): unit names
        # come from crypttab and the kernel command line (rd.luks.*) through the generator.
        set -f
        for u in $deps; do
                case "$u" in
                        *.device)
                                systemd-escape --unescape --path "${u%.device}"
                                return
                                ;;
                esac
        done
}

if [ "$1" = "--unit" ]; then
        # systemd-cryptsetup-generator binds each systemd-cryptsetup@ unit to its backing device's unit
        # (BindsTo=dev-disk-by\x2duuid-....device).
        unit="systemd-cryptsetup@$2.service"
        name=$(systemd-escape --unescape "$2" 2> /dev/null) || name=""
        dev=$(unit_device "$unit")
        if [ -z "$dev" ]; then
                cvmseal_log "$unit: no backing device found; not provisioning"
                exit 0
        fi
else
        dev=$1
        name=${2:-}
fi

[ -b "$dev" ] || [ -f "$dev" ] || {
        cvmseal_log "$dev: no such device; not provisioning"
        exit 0
}

cvmseal_wait_tpm

timeout=$(cvmseal_getarg_seconds rd.cvmseal.provision_timeout 300 1 86400)
# What cvmseal says, into a variable (no file).
if command -v timeout > /dev/null 2>&1; then
        err=$(timeout "$timeout" cvmseal provision "$dev" 2>&1 < /dev/null > /dev/null)
else
        err=$(cvmseal provision "$dev" 2>&1 < /dev/null > /dev/null)
fi
rc=$?
# What cvmseal says (enrolled, attestation failed and why...), but not the every-boot "nothing to do";
# without control characters (it can quote what it read from the LUKS2 header or the TPM channel).
err=$(printf '%s\n' "$err" | tr -d '\000-\010\013-\037\177')
while IFS= read -r line; do
        case "$line" in
                "" | *"has no pending enrollment"*) ;;
                "cvmseal: "*) echo "$line" >&2 ;;
                *) cvmseal_log "$line" ;;
        esac
done << EOT
$err
EOT
case $rc in
        0) ;;
        124) cvmseal_log "$dev: provisioning timed out; opening the volume as configured" ;;
        *) cvmseal_log "$dev: the first-boot enrollment failed (exit $rc); opening the volume as configured" ;;
esac

# In the middle of a rekey: open it here (see above).  NAME is a device-mapper name: no '/'.
case "$name" in
        "" | */* | .*) exit 0 ;;
esac
[ -b "/dev/mapper/$name" ] && exit 0
case "$(cvmseal --json rekey --status "$dev" 2> /dev/null < /dev/null | tr -d ' \n')" in
        *'"state":"running"'* | *'"state":"starting"'*)
                if err=$(cvmseal unlock "$dev" "$name" 2>&1 < /dev/null > /dev/null); then
                        echo "cvmseal: $name: opened during its rekey (the booted system goes on with it)" >&2
                else
                        err=$(printf '%s\n' "$err" | tr -d '\000-\010\013-\037\177')
                        cvmseal_log "$name: cannot open it during its rekey: $err"
                fi
                ;;
esac
exit 0
