#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cvmseal-generator NORMAL_DIR EARLY_DIR LATE_DIR (a systemd generator, systemd initrd only): hands
# rd.cvmseal.tcti= to systemd-cryptsetup@.service, in whose process the token plugin runs and reads
# $CVMSEAL_TCTI (a drop-in with Environment=, checked by cvmseal_tcti_ok: device:/dev/tpmrmN or
# device:/dev/tpmN only).  Generators run before any unit is loaded, so the drop-in applies to the
# volumes' units from the start.  What it refuses goes to the kernel log (and the console).
. /usr/lib/cvmseal/cvmseal-lib.sh
[ -w /dev/kmsg ] && exec 2> /dev/kmsg
cvmseal_tcti_dropin "${1:?usage: cvmseal-generator NORMAL_DIR [EARLY_DIR LATE_DIR]}"
