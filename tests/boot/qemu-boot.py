#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Boots a guest under QEMU (TCG) with OVMF and swtpm as its vTPM, and drives its serial console.

The vTPM is an swtpm on a control socket in --tpm-state (its state survives from boot to boot,
like a real vTPM's NV; PCRs reset at each boot).  The console is the guest's ttyS0 on this
process's pipes: every byte is written to --log; --answer REGEX=TEXT types TEXT (and a newline)
once REGEX has appeared (for the recovery prompt); the boot ends when --until REGEX appears, the
guest powers off, or --timeout passes.  With --poweroff-after REGEX, a boot that reached --until and
REGEX (the guest's last words before it powers off) is given the time to power off by itself: the
guest kernel then sends TPM2_Shutdown, as at a real power-off.  A vTPM cut off without it counts the
next start as a dictionary-attack failure (swtpm locks out after 3): a machine booted four times
would find its vTPM in lockout.

--tpm-drop-at CC cuts the TPM channel the way a host that sits on it can: QEMU's TPM commands go
through this process, and the first command whose code is CC (e.g. PCR_Event, the lock's extension)
is not forwarded: the channel is closed instead, and QEMU answers that command and every later one
with a TPM failure.  (QEMU's emulator backend sends its commands on a socket that it hands to swtpm
over the control channel, CMD_SET_DATAFD; this process relays the control channel and puts itself in
the middle of that socket.)  The log gets a line "[qemu-boot: TPM channel dropped at ...]".

Exit status: 0 when --until was seen (or the guest powered off, without --until), 124 on timeout,
1 otherwise.  The test reads the log.
"""
import argparse
import array
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

# TPM 2.0 command codes --tpm-drop-at knows by name (hex codes are taken too).
TPM_CC = {"PCR_Extend": 0x182, "PCR_Event": 0x13C, "PCR_Read": 0x17E, "Unseal": 0x15E, "Load": 0x157,
          "StartAuthSession": 0x176, "GetRandom": 0x17B}


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class ChannelCutter:
    """Relays QEMU's swtpm control channel, and QEMU's TPM command socket, which it intercepts;
    closes the command socket at the first command whose code is drop_cc."""

    def __init__(self, listen_path, upstream_path, drop_cc, log):
        self.drop_cc, self.log = drop_cc, log
        self.upstream_path = upstream_path
        if os.path.exists(listen_path):
            os.unlink(listen_path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(listen_path)
        self.server.listen(1)
        threading.Thread(target=self.control, daemon=True).start()

    def control(self):
        qemu, _ = self.server.accept()
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(self.upstream_path)
        fdsize = array.array("i").itemsize
        while True:
            r, _, _ = select.select([qemu, up], [], [])
            if qemu in r:
                data, anc, _, _ = qemu.recvmsg(4096, socket.CMSG_SPACE(4 * fdsize))
                if not data:
                    break
                fds = array.array("i")
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(payload[:len(payload) - len(payload) % fdsize])
                if fds:
                    # CMD_SET_DATAFD: QEMU's end of its command socket goes to us, swtpm gets ours.
                    guest = socket.socket(fileno=fds[0])
                    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                    up.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [theirs.fileno()]))])
                    theirs.close()
                    for fd in fds[1:]:
                        os.close(fd)
                    threading.Thread(target=self.commands, args=(guest, mine), daemon=True).start()
                else:
                    up.sendall(data)
            if up in r:
                data = up.recv(4096)
                if not data:
                    break
                qemu.sendall(data)

    def commands(self, guest, tpm):
        while True:
            hdr = recv_exact(guest, 10)
            if hdr is None:
                break
            _, size, cc = struct.unpack(">HII", hdr)
            body = recv_exact(guest, max(size - 10, 0))
            if body is None:
                break
            if cc == self.drop_cc:
                names = [n for n, c in TPM_CC.items() if c == cc]
                self.log("TPM channel dropped at %s (command 0x%x)" % ((names or ["?"])[0], cc))
                break
            tpm.sendall(hdr + body)
            rhdr = recv_exact(tpm, 10)
            if rhdr is None:
                break
            _, rsize, _ = struct.unpack(">HII", rhdr)
            rbody = recv_exact(tpm, max(rsize - 10, 0))
            if rbody is None:
                break
            guest.sendall(rhdr + rbody)
        guest.close()
        tpm.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ovmf-code", default="/usr/share/OVMF/OVMF_CODE_4M.fd")
    ap.add_argument("--ovmf-vars", required=True, help="a writable copy of OVMF_VARS (kept between boots)")
    ap.add_argument("--tpm-state", required=True, help="swtpm's state directory")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--append", default="")
    ap.add_argument("--disk", action="append", default=[], help="a raw virtio disk (vda, vdb...)")
    ap.add_argument("--answer", action="append", default=[], help="REGEX=TEXT")
    ap.add_argument("--until", default=None, help="stop once this regular expression appears")
    ap.add_argument("--poweroff-after", default=None, metavar="REGEX",
                    help="when --until is seen and so is REGEX, give the guest up to 30 s to power off by itself")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--memory", default="1024")
    ap.add_argument("--smp", default="1")
    ap.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                    help="kvm for the benchmarks (tests/bench), where /dev/kvm is there")
    ap.add_argument("--log", required=True)
    ap.add_argument("--tpm-drop-at", metavar="CC", default=None,
                    help="cut the TPM channel at the first command with this code (%s, or hex)" % ", ".join(TPM_CC))
    a = ap.parse_args()
    drop_cc = None
    if a.tpm_drop_at:
        drop_cc = TPM_CC.get(a.tpm_drop_at)
        if drop_cc is None:
            drop_cc = int(a.tpm_drop_at, 16)

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("qemu-system-x86_64 is not installed", file=sys.stderr)
        return 77

    state = os.path.abspath(a.tpm_state)
    os.makedirs(state, exist_ok=True)
    ctrl = os.path.join(state, "ctrl.sock")
    if os.path.exists(ctrl):
        os.unlink(ctrl)
    swtpm = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state,
         "--ctrl", "type=unixio,path=" + ctrl, "--log", "file=" + os.path.join(state, "swtpm.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(ctrl):
            break
        time.sleep(0.02)
    else:
        swtpm.kill()
        print("swtpm did not start", file=sys.stderr)
        return 1

    log = open(a.log, "wb")
    log_lock = threading.Lock()

    def note(text):
        with log_lock:
            log.write(("\n[qemu-boot: %s]\n" % text).encode())
            log.flush()

    chardev = ctrl
    if drop_cc is not None:
        chardev = os.path.join(state, "cut.sock")
        ChannelCutter(chardev, ctrl, drop_cc, note)

    # TCG by default (the suite's boots run anywhere); the benchmarks may ask for KVM.
    accel = ["-accel", "kvm", "-cpu", "host,-arch-capabilities"] if a.accel == "kvm" else ["-cpu", "max"]
    cmd = [qemu, "-machine", "q35"] + accel + ["-m", a.memory, "-smp", a.smp,
           "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
           "-nodefaults",
           "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + a.ovmf_code,
           "-drive", "if=pflash,format=raw,unit=1,file=" + a.ovmf_vars,
           "-chardev", "socket,id=chrtpm,path=" + chardev,
           "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0",
           "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.append]
    for d in a.disk:
        cmd += ["-drive", "if=virtio,format=raw,file=" + d]

    answers = []
    for s in a.answer:
        regex, _, text = s.partition("=")
        answers.append([re.compile(regex), text, False])
    until = re.compile(a.until) if a.until else None
    poweroff_after = re.compile(a.poweroff_after) if a.poweroff_after else None
    stopping = None     # when --until was seen: until when the guest may still power off by itself

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = ""
    status = 1
    try:
        while True:
            left = a.timeout - (time.monotonic() - start)
            if stopping is not None:
                left = stopping - time.monotonic()
                if left <= 0:
                    break
            elif left <= 0:
                status = 124
                break
            r, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
            if not r:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                # QEMU exited: the guest powered off (or QEMU failed).
                proc.wait()
                if stopping is None:
                    status = 0 if until is None and proc.returncode == 0 else 1
                break
            with log_lock:
                log.write(chunk)
                log.flush()
            text += chunk.decode("utf-8", "replace")
            for ans in answers:
                if not ans[2] and ans[0].search(text):
                    ans[2] = True
                    time.sleep(0.5)
                    proc.stdin.write(ans[1].encode() + b"\n")
                    proc.stdin.flush()
            if stopping is None and until and until.search(text):
                status = 0
                if not (poweroff_after and poweroff_after.search(text)):
                    break
                stopping = time.monotonic() + 30
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        swtpm.terminate()
        try:
            swtpm.wait(10)
        except subprocess.TimeoutExpired:
            swtpm.kill()
        note("%.1f s, status %d, QEMU exit %s" % (time.monotonic() - start, status, proc.returncode))
        log.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
