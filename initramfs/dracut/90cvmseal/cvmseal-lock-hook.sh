#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# dracut hook (pre-pivot, emergency, shutdown-emergency; sourced): extend the lock PCR.  The helper
# returns only when the lock is applied (or there is no TPM and cvmseal.conf says `tpm = none`); it
# powers the machine off otherwise.  Should it come back with a failure all the same (it could not
# be run), this shell does not go on to the switch root or to an emergency shell: power off here.
if ! /usr/lib/cvmseal/cvmseal-lock; then
        echo "cvmseal: the lock helper failed: powering off" >&2
        poweroff -f
        echo o >/proc/sysrq-trigger
        while :; do sleep 60; done
fi
