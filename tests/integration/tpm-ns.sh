#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tpm-ns.sh PTY COMMAND...: COMMAND in a private mount namespace where PTY (tpm-pty.py's TPM) is
# /dev/tpmrm0 and /sys/class/tpmrm lists it, as a kernel TPM driver would make them: for programs that
# find their TPM only there (systemd 252's systemd-tpm2 token plugin).  /dev there is a tmpfs holding
# the usual nodes (bound from the real /dev) and tpmrm0; /sys/class a tmpfs with tpmrm/tpmrm0.  Run
# with unshare --mount --propagation private; nothing outside the namespace changes.
set -e
pty=${1:?usage: tpm-ns.sh PTY COMMAND...}
shift
old=$(mktemp -d "${TMPDIR:-/tmp}/cvmseal-olddev.XXXXXX")
mount --rbind /dev "$old"
mount -t tmpfs -o mode=0755 cvmseal-dev /dev
for n in null zero full random urandom tty ptmx; do
        [ -e "$old/$n" ] || continue
        touch "/dev/$n"
        mount --bind "$old/$n" "/dev/$n"
done
mkdir /dev/pts /dev/shm
mount --rbind "$old/pts" /dev/pts
mount --rbind "$old/shm" /dev/shm 2>/dev/null || true
ln -s /proc/self/fd /dev/fd
[ -d "$old/mapper" ] && mkdir /dev/mapper && mount --rbind "$old/mapper" /dev/mapper
touch /dev/tpmrm0
mount --bind "$old/${pty#/dev/}" /dev/tpmrm0
mount -t tmpfs -o mode=0755 cvmseal-sys-class /sys/class
mkdir -p /sys/class/tpmrm/tpmrm0
exec "$@"
