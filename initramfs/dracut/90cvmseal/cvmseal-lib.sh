#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shell helpers of cvmseal's dracut module (sourced).  The kernel command line is untrusted text: it
# is split on blanks with globbing off, and a value is only compared, or checked against a strict
# pattern before it is used.  Never arithmetic on an unchecked value: bash evaluates the operands of
# $(( )) as expressions, array subscripts included, and runs the command substitutions in them
# (t='a[$(reboot)]'; $((t * 5)) runs reboot); dash and busybox sh refuse them, or read 010 as octal.

# Where the kernel command line, the TPM's device node and the firmware's description of it are
# (tests point them elsewhere).
_cvmseal_cmdline=/proc/cmdline
_cvmseal_dev=/dev
_cvmseal_sys=/sys

cvmseal_log() {
        echo "cvmseal: $*" >&2
}

# cvmseal_getarg KEY: the value of KEY=VALUE on the kernel command line (the last one wins); returns 1
# when there is none, or it is empty.  The words are split on blanks only: with globbing off, a word
# such as "rd.cvmseal.tcti=*" is that word, not the names of files that match it.
cvmseal_getarg() (
        set -f
        IFS=' 	
'
        _v=
        read -r _line 2>/dev/null <"$_cvmseal_cmdline"
        for _o in $_line; do
                case $_o in
                "$1="*) _v=${_o#"$1="} ;;
                esac
        done
        [ -n "$_v" ] || exit 1
        printf '%s\n' "$_v"
)

# cvmseal_getarg_seconds KEY DEFAULT MIN MAX: KEY's value when it is a whole number of seconds from MIN
# to MAX (decimal digits only; leading zeros dropped, so 010 is ten), else DEFAULT; says on the
# console when it refuses a value (without printing it).  The only way the module turns a command-line
# value into a number.
cvmseal_getarg_seconds() {
        local _v
        if ! _v=$(cvmseal_getarg "$1"); then
                echo "$2"
                return 0
        fi
        case $_v in
        *[!0-9]*) ;;
        *)
                while :; do
                        case $_v in
                        0?*) _v=${_v#0} ;;
                        *) break ;;
                        esac
                done
                # At most 6 digits: test's -ge/-le would fail on a number beyond its integers.
                if [ "${#_v}" -le 6 ] && [ "$_v" -ge "$3" ] && [ "$_v" -le "$4" ]; then
                        echo "$_v"
                        return 0
                fi
                ;;
        esac
        cvmseal_log "$1= refused: not a whole number of seconds from $3 to $4; $2 s instead"
        echo "$2"
}

# cvmseal_tcti_ok TCTI: whether TCTI is one the module takes from the kernel command line: tpm2-tss's
# device TCTI on a TPM character device, device:/dev/tpmrmN or device:/dev/tpmN (N: 1 to 3 digits).
# The command line is measured, but it still chooses no other TCTI library (nor options for one): only
# the device TCTI is in the image, and a path elsewhere would have cvmseal write TPM commands to it.
cvmseal_tcti_ok() {
        case $1 in
        device:/dev/tpmrm[0-9] | device:/dev/tpmrm[0-9][0-9] | device:/dev/tpmrm[0-9][0-9][0-9]) return 0 ;;
        device:/dev/tpm[0-9] | device:/dev/tpm[0-9][0-9] | device:/dev/tpm[0-9][0-9][0-9]) return 0 ;;
        esac
        return 1
}

# cvmseal_tcti: prints rd.cvmseal.tcti's value when cvmseal_tcti_ok accepts it; returns 1 when there is
# none, and when it is refused (said on the console, without the value).
cvmseal_tcti() {
        local _v
        _v=$(cvmseal_getarg rd.cvmseal.tcti) || return 1
        if cvmseal_tcti_ok "$_v"; then
                printf '%s\n' "$_v"
                return 0
        fi
        cvmseal_log "rd.cvmseal.tcti= refused: only device:/dev/tpmrmN and device:/dev/tpmN are accepted; the default TPM is used"
        return 1
}

# cvmseal_export_tcti: $CVMSEAL_TCTI for cvmseal and the token plugin (when they run in this process's
# environment: the provisioning helper, the lock, cryptroot-ask without systemd) from rd.cvmseal.tcti;
# a refused value unsets it.  Without rd.cvmseal.tcti the environment's value stays (tests set one).
cvmseal_export_tcti() {
        local _v
        if _v=$(cvmseal_tcti); then
                export CVMSEAL_TCTI="$_v"
        elif cvmseal_getarg rd.cvmseal.tcti > /dev/null; then
                unset CVMSEAL_TCTI
        fi
}

# cvmseal_env: the environment of cvmseal and the token plugin, for the module's entry points.  Without
# systemd, the kernel command line's KEY=VALUE words are init's environment: no configuration directory
# or lock record of cvmseal's comes from there; the TCTI is cvmseal_export_tcti's.
cvmseal_env() {
        unset CVMSEAL_CONFDIR CVMSEAL_LOCK_RECORD
        cvmseal_export_tcti
}

# cvmseal_tcti_dropin DIR: with systemd, the token plugin runs inside systemd-cryptsetup, whose
# environment is its unit's: writes DIR/systemd-cryptsetup@.service.d/cvmseal-tcti.conf with
# Environment=CVMSEAL_TCTI=... when rd.cvmseal.tcti is accepted (DIR: a generator's output directory;
# a template's drop-in applies to every instance, generated ones included).  Nothing otherwise.
cvmseal_tcti_dropin() {
        local _v
        _v=$(cvmseal_tcti) || return 0
        mkdir -p "$1/systemd-cryptsetup@.service.d" || return 1
        printf '# cvmseal-generator: rd.cvmseal.tcti\n[Service]\nEnvironment=CVMSEAL_TCTI=%s\n' "$_v" \
                > "$1/systemd-cryptsetup@.service.d/cvmseal-tcti.conf"
}

# cvmseal_wait_tpm: waits up to rd.cvmseal.tpm_timeout seconds (default 10, at most 600) for /dev/tpmrm0
# (or the device $CVMSEAL_TCTI names; no wait for another TCTI) when the
# firmware describes a TPM (ACPI MSFT0101, the TPM 2.0 device of CRB and TIS alike) whose driver has not
# bound yet.  systemd-cryptsetup can start as soon as the disk appears, before the TPM's driver is
# loaded; the token plugin would then find no TPM and a passphrase would be asked for.  Returns 1 when
# there is no TPM.
cvmseal_wait_tpm() {
        local _t _i _d
        case ${CVMSEAL_TCTI:-} in
        "") _d=$_cvmseal_dev/tpmrm0 ;;
        device:/dev/*) _d=$_cvmseal_dev/${CVMSEAL_TCTI#device:/dev/} ;;
        *) return 0 ;;
        esac
        [ -e "$_d" ] && return 0
        ls -d "$_cvmseal_sys"/bus/acpi/devices/MSFT0101:* > /dev/null 2>&1 || [ -e "$_cvmseal_sys/class/tpm/tpm0" ] || return 1
        _t=$(cvmseal_getarg_seconds rd.cvmseal.tpm_timeout 10 0 600)
        _i=$((_t * 5))
        while [ "$_i" -gt 0 ]; do
                [ -e "$_d" ] && return 0
                sleep 0.2
                _i=$((_i - 1))
        done
        cvmseal_log "no TPM device (/dev/${_d##*/}) after ${_t} s"
        return 1
}
