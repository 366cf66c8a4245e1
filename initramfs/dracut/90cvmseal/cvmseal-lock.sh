#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cvmseal-lock: `cvmseal lock` extends the lock PCR once per boot (idempotent: /run/cvmseal/lock.json),
# so that nothing sealed to the boot state unseals again in this boot.  Runs once every volume has
# been handled (opened, refused or recovered), before the switch root, and on the emergency paths.
# The policy is the shared helper's (cvmseal-lock.sh, also used by the initramfs-tools scripts): any
# failure, "no TPM" included, powers the machine off rather than boot on unlocked, unless
# /etc/cvmseal/cvmseal.conf says `tpm = none` and there is indeed no TPM.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /usr/lib/cvmseal/cvmseal-lib.sh
cvmseal_env
. /usr/lib/cvmseal/cvmseal-lock.sh

cvmseal_wait_tpm
cvmseal_lock
