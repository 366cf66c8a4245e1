#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# /sbin/cryptroot-ask (without systemd): dracut's crypt module runs this for every LUKS volume it opens
# (udev rule -> initqueue, arguments: DEVICE LUKSNAME [IS_KEYSOURCE [TRIES]]).  cvmseal provisions the
# volume first (a pipeline-built image's first boot), then dracut's own cryptroot-ask opens it:
# `cryptsetup luksOpen` tries the token plugin before it asks for a passphrase.  The plugin runs in
# cryptsetup's process: rd.cvmseal.tcti reaches it through $CVMSEAL_TCTI, exported here.
. /usr/lib/cvmseal/cvmseal-lib.sh
cvmseal_env
# The firmware's event log, for the attestation evidence and for the plugin's diagnosis of a refusal
# (the event that changed a PCR): dracut without systemd does not mount securityfs.
[ -d /sys/kernel/security/tpm0 ] || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
/usr/lib/cvmseal/cvmseal-provision "$1" "$2"
exec /sbin/cryptroot-ask.dracut "$@"
