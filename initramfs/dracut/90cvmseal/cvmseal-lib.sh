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

_cvmseal_tcti=$(cvmseal_getarg rd.cvmseal.tcti) && export CVMSEAL_TCTI="$_cvmseal_tcti"
unset _cvmseal_tcti

# cvmseal_wait_tpm: waits up to rd.cvmseal.tpm_timeout seconds (default 10, at most 600) for /dev/tpmrm0 when the
# firmware describes a TPM (ACPI MSFT0101, the TPM 2.0 device of CRB and TIS alike) whose driver has not
# bound yet.  systemd-cryptsetup can start as soon as the disk appears, before the TPM's driver is
# loaded; the token plugin would then find no TPM and a passphrase would be asked for.  Returns 1 when
# there is no TPM.
cvmseal_wait_tpm() {
        local _t _i
        [ -n "$CVMSEAL_TCTI" ] && return 0
        [ -e "$_cvmseal_dev/tpmrm0" ] && return 0
        ls -d "$_cvmseal_sys"/bus/acpi/devices/MSFT0101:* > /dev/null 2>&1 || [ -e "$_cvmseal_sys/class/tpm/tpm0" ] || return 1
        _t=$(cvmseal_getarg_seconds rd.cvmseal.tpm_timeout 10 0 600)
        _i=$((_t * 5))
        while [ "$_i" -gt 0 ]; do
                [ -e "$_cvmseal_dev/tpmrm0" ] && return 0
                sleep 0.2
                _i=$((_i - 1))
        done
        cvmseal_log "no TPM device (/dev/tpmrm0) after ${_t} s"
        return 1
}
