#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shell helpers of cvmseal's dracut module (sourced).  The kernel command line is untrusted text: it
# is split on blanks with globbing off, and a value is only compared, or checked against a strict
# pattern before it is used.

# Where the kernel command line is (tests point it elsewhere).
_cvmseal_cmdline=/proc/cmdline

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

_cvmseal_tcti=$(cvmseal_getarg rd.cvmseal.tcti) && export CVMSEAL_TCTI="$_cvmseal_tcti"
unset _cvmseal_tcti

# cvmseal_wait_tpm: waits up to rd.cvmseal.tpm_timeout seconds (default 10) for /dev/tpmrm0 when the
# firmware describes a TPM (ACPI MSFT0101, the TPM 2.0 device of CRB and TIS alike) whose driver has not
# bound yet.  systemd-cryptsetup can start as soon as the disk appears, before the TPM's driver is
# loaded; the token plugin would then find no TPM and a passphrase would be asked for.  Returns 1 when
# there is no TPM.
cvmseal_wait_tpm() {
        local _t _i
        [ -n "$CVMSEAL_TCTI" ] && return 0
        [ -e /dev/tpmrm0 ] && return 0
        ls -d /sys/bus/acpi/devices/MSFT0101:* > /dev/null 2>&1 || [ -e /sys/class/tpm/tpm0 ] || return 1
        _t=$(cvmseal_getarg rd.cvmseal.tpm_timeout) || _t=10
        _i=$((_t * 5))
        while [ "$_i" -gt 0 ]; do
                [ -e /dev/tpmrm0 ] && return 0
                sleep 0.2
                _i=$((_i - 1))
        done
        cvmseal_log "no TPM device (/dev/tpmrm0) after ${_t} s"
        return 1
}
