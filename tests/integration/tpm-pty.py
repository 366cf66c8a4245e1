#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A TPM character device without a kernel driver, for programs that only open /dev/tpmrmN.

systemd 252's systemd-tpm2 token plugin (Debian 12) finds its TPM through /sys/class/tpmrm and opens
/dev/tpmrmN, with no way to name a TCTI.  This fixture gives swtpm a pseudo-terminal in raw mode as
its character device (`swtpm chardev --fd`): the pty's other end behaves as a TPM device node, one
command written, one response read.  tests/integration/tpm-ns.sh mounts it at /dev/tpmrm0 in a private
mount namespace.  Like a TPM without the kernel's resource manager, it keeps what a client leaves
loaded: flush after a program that does not (tpm2_flushcontext).

Usage: tpm-pty.py STATE_DIR      starts swtpm and prints "PTY PID" (swtpm's pid: kill it to stop the
                                 TPM; it holds the pty's both ends), then exits.
Standard library only.
"""
import os, pty, subprocess, sys, tty

state = sys.argv[1]
os.makedirs(state, exist_ok=True)
master, slave = pty.openpty()
tty.setraw(slave)
# swtpm keeps the slave open too: without any holder of it, its reads of the master would end.
swtpm = subprocess.Popen(["swtpm", "chardev", "--tpm2", "--fd", str(master), "--tpmstate", "dir=" + state,
                          "--flags", "not-need-init,startup-clear", "--log", "file=" + os.path.join(state, "log")],
                         pass_fds=(master, slave), start_new_session=True)
print(os.ttyname(slave), swtpm.pid, flush=True)
