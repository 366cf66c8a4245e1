#!/usr/bin/env python3
"""tpm-fault-proxy.py - inject TPM error responses between a TCTI and swtpm.

A test tool for cvmseal's integration tests.  It sits between a TPM 2.0
client that uses tpm2-tss's swtpm TCTI ("swtpm:path=P") and a real swtpm
started with "--server type=unixio,path=S --ctrl type=unixio,path=S.ctrl",
and lets a test make the "TPM" answer chosen commands with an error code
(TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING, ...) or vanish in the middle
of an operation.  Python 3 standard library only.

Usage:
  tpm-fault-proxy.py --listen P --upstream S [--fail CC:RC:N]...
                     [--drop-after-cc CC] [--log FILE] [--pidfile FILE]
                     [--verbose]

  --listen P          Listen on the unix sockets P (TPM commands) and P.ctrl
                      (swtpm control channel).  A stale socket left at either
                      path is replaced; any other kind of file is an error.
  --upstream S        Forward to swtpm's sockets S and S.ctrl.
  --fail CC:RC:N      The first N commands whose command code is CC are NOT
                      forwarded; the proxy answers each with the 10-byte
                      response  tag 0x8001 (TPM_ST_NO_SESSIONS), size 10,
                      response code RC.  May be given several times; a command
                      is checked against the rules in the order given and
                      consumes one unit of the first matching rule that has
                      units left.  Counts are shared by all connections.
                        CC: hex (0x15E), decimal, "any", or a name:
                            Unseal Load StartAuthSession PolicyPCR ReadPublic
                            FlushContext Create CreatePrimary EvictControl
                            PolicyAuthValue GetRandom PCR_Read (and a few more,
                            see --help); names are case-insensitive and may
                            carry a TPM2_CC_/TPM_CC_ prefix.
                        RC: hex (0x922), decimal, or a name: RETRY (0x922)
                            YIELDED (0x908) TESTING (0x90A) LOCKOUT (0x921)
                            FAILURE (0x101) (and a few more, see --help).
                        N:  a count >= 0.
  --drop-after-cc CC  When a command with code CC arrives (CC as for --fail,
                      "any" allowed), the proxy closes that client connection
                      without answering, shuts down every other open
                      connection, and stops accepting on both sockets: the TPM
                      has vanished mid-operation.  Later connects are refused
                      (ECONNREFUSED).  The proxy keeps running (so its pidfile
                      stays valid) until it is signalled.  This check is made
                      before the --fail rules.
  --forge-ok CC       Commands with code CC are NOT forwarded; the proxy answers
                      each itself with a forged success, as an interposer that
                      swallows a command and claims it ran: for PCR_Event, a
                      response with one sha256 digest of zeros and, per session
                      in the command, an auth area with an empty nonce and an
                      empty HMAC (a password session's answer).  Only commands
                      with one handle and TPML_DIGEST_VALUES out (PCR_Event)
                      are supported.
  --route CC:S2       Commands with code CC go to another swtpm's command socket
                      S2 instead of S (its answer is relayed): an interposer that
                      answers, for instance, ReadPublic of the SRK with a key of
                      its own.
  --log FILE          Append one line per TPM command:
                        cc=0x0000017b GetRandom forwarded rc=0x00000000
                        cc=0x0000017b GetRandom injected rc=0x00000922
                        cc=0x0000017b GetRandom dropped
                      ("forwarded" lines carry swtpm's response code; a
                      command whose response never came says rc=none).  The
                      control channel is not logged.
  --pidfile FILE      Write the proxy's pid to FILE (atomically, via rename)
                      once both sockets are listening.
  --verbose           Connection events and errors on stderr.

The proxy runs until SIGTERM or SIGINT, then closes all connections, removes
its two sockets (and the pidfile) and exits 0.  It serves sequential and
concurrent client connections (one thread per connection).

How it forwards:
  * Command socket: each accepted client connection gets its own upstream
    connection to S, opened at accept time (so the upstream sees exactly the
    connections the client makes, as if it talked to swtpm directly).  The
    proxy reads one whole command (10-byte header: tag u16, size u32, code u32,
    big-endian; then size-10 bytes), decides, and either forwards it and
    relays swtpm's whole response, or answers it itself.  Several commands on
    one connection are handled in turn.  A header with an impossible size
    switches that connection to plain byte forwarding.
  * Control socket: bytes are forwarded unchanged in both directions
    (half-closes and SCM_RIGHTS file descriptors included), one upstream
    connection to S.ctrl per client connection.

Observed with tpm2-tss 3.2.1 (Debian 12) and swtpm 0.7.1: the swtpm TCTI
opens a NEW command-socket connection for every TPM command (connect, write
command, read 10-byte header, read the rest, close).  At initialisation it
also makes one connection to S that it closes without sending anything, and
before the first command it opens S.ctrl once, sends CMD_SET_LOCALITY
(00 00 00 05, locality 00), reads the 4-byte result and closes.  Both the
per-command and the long-lived connection styles are handled here.

Exit status: 0 after a signal, 2 on a usage error, 1 if it cannot start.
"""

import argparse
import errno
import os
import select
import signal
import socket
import stat
import struct
import sys
import threading

TPM_ST_NO_SESSIONS = 0x8001
HEADER_LEN = 10
MAX_MESSAGE = 1 << 20  # far above any real TPM 2.0 command or response size

COMMAND_CODES = {
    # those named in cvmseal's tests
    "Unseal": 0x15E,
    "Load": 0x157,
    "StartAuthSession": 0x176,
    "PolicyPCR": 0x17F,
    "ReadPublic": 0x173,
    "FlushContext": 0x165,
    "Create": 0x153,
    "CreatePrimary": 0x131,
    "EvictControl": 0x120,
    "PolicyAuthValue": 0x16B,
    "GetRandom": 0x17B,
    "PCR_Read": 0x17E,
    "PCR_Event": 0x13C,
    # a few more that are handy
    "Startup": 0x144,
    "Shutdown": 0x145,
    "SelfTest": 0x143,
    "GetCapability": 0x17A,
    "GetTestResult": 0x17C,
    "PCR_Extend": 0x182,
    "PolicyGetDigest": 0x189,
    "PolicySecret": 0x151,
    "PolicyOR": 0x171,
    "PolicyCommandCode": 0x16C,
    "PolicyRestart": 0x180,
    "PolicyPassword": 0x18C,
    "PolicyAuthorize": 0x16A,
    "NV_Read": 0x14E,
    "NV_ReadPublic": 0x169,
    "NV_DefineSpace": 0x12A,
    "NV_Write": 0x137,
    "ContextSave": 0x162,
    "ContextLoad": 0x161,
    "LoadExternal": 0x167,
    "Quote": 0x158,
    "Sign": 0x15D,
    "VerifySignature": 0x177,
    "HMAC": 0x155,
    "Hash": 0x17D,
    "TestParms": 0x18A,
}
CC_NAMES = {v: k for k, v in COMMAND_CODES.items()}

RESPONSE_CODES = {
    "RETRY": 0x922,
    "YIELDED": 0x908,
    "TESTING": 0x90A,
    "LOCKOUT": 0x921,
    "FAILURE": 0x101,
    # a few more
    "CANCELED": 0x909,
    "MEMORY": 0x904,
    "NV_RATE": 0x920,
    "NV_UNAVAILABLE": 0x923,
    "INITIALIZE": 0x100,
}

ANY = None  # command-code value meaning "every command"


def cc_name(cc):
    return CC_NAMES.get(cc, "?")


def parse_number(text):
    return int(text, 0)  # 0x.. hex, or decimal


def parse_cc(text):
    """Command code: 'any', a name, hex or decimal.  Returns int or ANY."""
    t = text.strip()
    if t.lower() == "any":
        return ANY
    low = t.lower()
    for prefix in ("tpm2_cc_", "tpm_cc_"):
        if low.startswith(prefix):
            low = low[len(prefix):]
            break
    for name, code in COMMAND_CODES.items():
        if name.lower() == low:
            return code
    try:
        value = parse_number(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "unknown command code %r (use hex like 0x15E, 'any', or one of: %s)"
            % (text, " ".join(COMMAND_CODES)))
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError("command code %r out of range" % text)
    return value


def parse_rc(text):
    t = text.strip()
    low = t.upper()
    for prefix in ("TPM2_RC_", "TPM_RC_"):
        if low.startswith(prefix):
            low = low[len(prefix):]
            break
    if low in RESPONSE_CODES:
        return RESPONSE_CODES[low]
    try:
        value = parse_number(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "unknown response code %r (use hex like 0x922 or one of: %s)"
            % (text, " ".join(RESPONSE_CODES)))
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError("response code %r out of range" % text)
    return value


class FailRule:
    def __init__(self, cc, rc, count, spec):
        self.cc = cc
        self.rc = rc
        self.left = count
        self.spec = spec


def parse_route(text):
    cc, sep, path = text.partition(":")
    if not sep or not path:
        raise argparse.ArgumentTypeError("--route wants CC:SOCKET, got %r" % text)
    return parse_cc(cc), path


def parse_fail(text):
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            "--fail wants CC:RC:N, got %r" % text)
    cc = parse_cc(parts[0])
    rc = parse_rc(parts[1])
    try:
        count = int(parts[2], 10)
    except ValueError:
        raise argparse.ArgumentTypeError("bad count in --fail %r" % text)
    if count < 0:
        raise argparse.ArgumentTypeError("negative count in --fail %r" % text)
    return FailRule(cc, rc, count, text)


def forge_success(tag, body):
    """A success answer to a one-handle command whose output is a TPML_DIGEST_VALUES (PCR_Event),
    made up by the proxy: one sha256 digest of zeros; with sessions, one password-style auth response
    (empty nonce, the command's session attributes, empty HMAC) per command session."""
    params = struct.pack(">IH", 1, 0x000B) + bytes(32)
    if tag != 0x8002:
        out = params
        return struct.pack(">HII", TPM_ST_NO_SESSIONS, HEADER_LEN + len(out), 0) + out
    # body: handle (4), authorizationSize (4), sessions...
    auth_size = struct.unpack(">I", body[4:8])[0]
    auths, off, end = b"", 8, 8 + auth_size
    while off < end:
        off += 4                                              # sessionHandle
        nsize = struct.unpack(">H", body[off:off + 2])[0]
        off += 2 + nsize                                      # nonceCaller
        attrs = body[off]
        off += 1
        hsize = struct.unpack(">H", body[off:off + 2])[0]
        off += 2 + hsize                                      # hmac
        auths += struct.pack(">HBH", 0, attrs, 0)
    out = struct.pack(">I", len(params)) + params + auths
    return struct.pack(">HII", 0x8002, HEADER_LEN + len(out), 0) + out


def recv_exact(sock, n):
    """Read exactly n bytes; returns fewer only at EOF."""
    chunks = []
    got = 0
    while got < n:
        data = sock.recv(n - got)
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


class Proxy:
    def __init__(self, args):
        self.listen = args.listen
        self.upstream = args.upstream
        self.rules = args.fail or []
        self.forge_ok = set(args.forge_ok)
        self.routes = dict(args.route)
        self.drop_cc = args.drop_after_cc
        self.drop_set = args.drop_after_cc is not None or args.drop_any
        self.verbose = args.verbose
        self.pidfile = args.pidfile
        self.lock = threading.Lock()
        self.log_file = open(args.log, "a", buffering=1) if args.log else None
        self.stopping = threading.Event()
        self.dropped = threading.Event()
        self.open_socks = set()
        self.threads = []
        self.conn_seq = 0
        self.listeners = []
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)

    # -- bookkeeping -------------------------------------------------------
    def say(self, msg):
        if self.verbose:
            sys.stderr.write("tpm-fault-proxy[%d]: %s\n" % (os.getpid(), msg))
            sys.stderr.flush()

    def log(self, line):
        if self.log_file is None:
            return
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def track(self, sock):
        with self.lock:
            if self.dropped.is_set() or self.stopping.is_set():
                return False
            self.open_socks.add(sock)
            return True

    def untrack_close(self, *socks):
        for s in socks:
            if s is None:
                continue
            with self.lock:
                self.open_socks.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def shutdown_all(self):
        with self.lock:
            socks = list(self.open_socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def vanish(self):
        """The TPM disappears: refuse new connects at once (shutdown() on a
        listening unix socket makes connect() fail with ECONNREFUSED and
        wakes the accept loop, which then closes it), end all connections."""
        self.dropped.set()
        for s, _ in list(self.listeners):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.shutdown_all()
        self.wake()

    def wake(self):
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def decide(self, cc):
        """Returns ('drop', None), ('inject', rc), ('forge', None), ('route', S2) or ('forward', None)."""
        with self.lock:
            if self.drop_set and (self.drop_cc is ANY or self.drop_cc == cc):
                return "drop", None
            if cc in self.forge_ok:
                return "forge", None
            if cc in self.routes:
                return "route", self.routes[cc]
            for rule in self.rules:
                if rule.left > 0 and (rule.cc is ANY or rule.cc == cc):
                    rule.left -= 1
                    return "inject", rule.rc
        return "forward", None

    # -- listening ---------------------------------------------------------
    def make_listener(self, path):
        if len(path.encode()) > 107:
            raise OSError(errno.ENAMETOOLONG, "socket path too long", path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise OSError(errno.EEXIST, "exists and is not a socket", path)
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(16)
        s.setblocking(False)
        return s

    def write_pidfile(self):
        if not self.pidfile:
            return
        tmp = "%s.tmp.%d" % (self.pidfile, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, self.pidfile)

    def close_listeners(self):
        for s, _ in self.listeners:
            try:
                s.close()
            except OSError:
                pass
        self.listeners = []

    def run(self):
        cmd_l = self.make_listener(self.listen)
        try:
            ctrl_l = self.make_listener(self.listen + ".ctrl")
        except OSError:
            cmd_l.close()
            os.unlink(self.listen)
            raise
        self.listeners = [(cmd_l, "cmd"), (ctrl_l, "ctrl")]
        self.write_pidfile()
        self.say("listening on %s and %s.ctrl, upstream %s"
                 % (self.listen, self.listen, self.upstream))
        try:
            while not self.stopping.is_set():
                if self.dropped.is_set() and self.listeners:
                    self.say("dropped: no longer accepting")
                    self.close_listeners()
                fds = [s for s, _ in self.listeners] + [self.wake_r]
                try:
                    readable, _, _ = select.select(fds, [], [], 1.0)
                except InterruptedError:
                    continue
                for s in readable:
                    if s is self.wake_r:
                        try:
                            while self.wake_r.recv(64):
                                pass
                        except (BlockingIOError, OSError):
                            pass
                        continue
                    kind = dict((id(ls), k) for ls, k in self.listeners).get(id(s))
                    if kind is None or self.dropped.is_set():
                        continue
                    try:
                        client, _ = s.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        self.say("accept failed: %s" % e)
                        continue
                    client.setblocking(True)
                    self.start_connection(client, kind)
        finally:
            self.cleanup()

    def start_connection(self, client, kind):
        if not self.track(client):
            client.close()
            return
        with self.lock:
            self.conn_seq += 1
            n = self.conn_seq
        target = self.serve_cmd if kind == "cmd" else self.serve_ctrl
        t = threading.Thread(target=self.guard, args=(target, client, n),
                             name="%s-%d" % (kind, n), daemon=True)
        with self.lock:
            self.threads = [x for x in self.threads if x.is_alive()]
            self.threads.append(t)
        t.start()

    def guard(self, target, client, n):
        try:
            target(client, n)
        except Exception as e:  # never let one connection kill the proxy
            self.say("conn %d: error: %r" % (n, e))
            self.untrack_close(client)

    def connect_upstream(self, path, n):
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(path)
        except OSError as e:
            self.say("conn %d: cannot connect to %s: %s" % (n, path, e))
            up.close()
            return None
        if not self.track(up):
            up.close()
            return None
        return up

    def cleanup(self):
        self.stopping.set()
        self.close_listeners()
        self.shutdown_all()
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(2.0)
        for path in (self.listen, self.listen + ".ctrl"):
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
            except OSError:
                pass
        if self.pidfile:
            try:
                with open(self.pidfile) as f:
                    if f.read().strip() == str(os.getpid()):
                        os.unlink(self.pidfile)
            except OSError:
                pass
        if self.log_file:
            self.log_file.close()
        self.say("stopped")

    # -- command channel ---------------------------------------------------
    def serve_cmd(self, client, n):
        up = self.connect_upstream(self.upstream, n)
        if up is None:
            self.untrack_close(client)
            return
        self.say("conn %d: command connection open" % n)
        try:
            while True:
                header = recv_exact(client, HEADER_LEN)
                if len(header) < HEADER_LEN:
                    if header:  # partial command, then EOF: pass it on as is
                        up.sendall(header)
                    break
                tag, size, cc = struct.unpack(">HII", header)
                if size < HEADER_LEN or size > MAX_MESSAGE:
                    self.say("conn %d: malformed command header %s; raw "
                             "forwarding from now on" % (n, header.hex()))
                    up.sendall(header)
                    self.pump(client, up, n)
                    return
                body = recv_exact(client, size - HEADER_LEN)
                if len(body) < size - HEADER_LEN:
                    up.sendall(header + body)
                    break
                action, rc = self.decide(cc)
                if action == "drop":
                    self.log("cc=0x%08x %s dropped" % (cc, cc_name(cc)))
                    self.say("conn %d: cc 0x%x: dropping, TPM vanishes" % (n, cc))
                    self.vanish()
                    break
                if action == "inject":
                    self.log("cc=0x%08x %s injected rc=0x%08x"
                             % (cc, cc_name(cc), rc))
                    client.sendall(struct.pack(">HII", TPM_ST_NO_SESSIONS,
                                               HEADER_LEN, rc))
                    continue
                if action == "forge":
                    self.log("cc=0x%08x %s forged rc=0x00000000" % (cc, cc_name(cc)))
                    client.sendall(forge_success(tag, body))
                    continue
                if action == "route":
                    other = self.connect_upstream(rc, n)
                    if other is None:
                        break
                    try:
                        other.sendall(header + body)
                        rhead = recv_exact(other, HEADER_LEN)
                        _, rsize, rrc = struct.unpack(">HII", rhead)
                        rbody = recv_exact(other, rsize - HEADER_LEN)
                    finally:
                        other.close()
                    self.log("cc=0x%08x %s routed rc=0x%08x" % (cc, cc_name(cc), rrc))
                    client.sendall(rhead + rbody)
                    continue
                up.sendall(header + body)
                rhead = recv_exact(up, HEADER_LEN)
                if len(rhead) < HEADER_LEN:
                    self.log("cc=0x%08x %s forwarded rc=none" % (cc, cc_name(cc)))
                    if rhead:
                        client.sendall(rhead)
                    break
                _, rsize, rrc = struct.unpack(">HII", rhead)
                if rsize < HEADER_LEN or rsize > MAX_MESSAGE:
                    self.log("cc=0x%08x %s forwarded rc=0x%08x"
                             % (cc, cc_name(cc), rrc))
                    client.sendall(rhead)
                    self.pump(client, up, n)
                    return
                rbody = recv_exact(up, rsize - HEADER_LEN)
                self.log("cc=0x%08x %s forwarded rc=%s" % (
                    cc, cc_name(cc),
                    "0x%08x" % rrc if len(rbody) == rsize - HEADER_LEN
                    else "none"))
                client.sendall(rhead + rbody)
                if len(rbody) < rsize - HEADER_LEN:
                    break
        except OSError as e:
            if not (self.stopping.is_set() or self.dropped.is_set()):
                self.say("conn %d: %s" % (n, e))
        finally:
            self.untrack_close(client, up)
            self.say("conn %d: command connection closed" % n)

    # -- control channel (and raw fallback) --------------------------------
    def serve_ctrl(self, client, n):
        up = self.connect_upstream(self.upstream + ".ctrl", n)
        if up is None:
            self.untrack_close(client)
            return
        self.say("conn %d: control connection open" % n)
        self.pump(client, up, n)

    def pump(self, a, b, n):
        """Forward bytes (and passed fds) both ways until both sides are done."""
        peer = {a: b, b: a}
        reading = [a, b]
        fd_space = socket.CMSG_SPACE(16 * struct.calcsize("i"))
        try:
            while reading:
                r, _, _ = select.select(reading, [], [], 1.0)
                if self.stopping.is_set() or self.dropped.is_set():
                    break
                for s in r:
                    data, anc, flags, _ = s.recvmsg(65536, fd_space)
                    fds = []
                    for level, typ, payload in anc:
                        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                            usable = len(payload) - len(payload) % 4
                            fds.extend(struct.unpack(
                                "%di" % (usable // 4), payload[:usable]))
                    try:
                        if not data:
                            reading.remove(s)
                            try:
                                peer[s].shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                            continue
                        if fds:
                            peer[s].sendmsg([data], [(
                                socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                struct.pack("%di" % len(fds), *fds))])
                        else:
                            peer[s].sendall(data)
                    finally:
                        for fd in fds:
                            os.close(fd)
        except OSError as e:
            if not (self.stopping.is_set() or self.dropped.is_set()):
                self.say("conn %d: %s" % (n, e))
        finally:
            self.untrack_close(a, b)
            self.say("conn %d: closed" % n)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser():
    epilog = (
        "command code names: %s\n\nresponse code names: %s\n\n"
        "Example:\n"
        "  tpm-fault-proxy.py --listen $D/p --upstream $D/s \\\n"
        "      --fail GetRandom:RETRY:2 --fail Unseal:0x90A:1 \\\n"
        "      --log $D/proxy.log --pidfile $D/proxy.pid &\n"
        "  TPM2TOOLS_TCTI=swtpm:path=$D/p tpm2_getrandom 8\n"
        % (" ".join("%s(0x%X)" % kv for kv in COMMAND_CODES.items()),
           " ".join("%s(0x%X)" % kv for kv in RESPONSE_CODES.items())))
    p = argparse.ArgumentParser(
        prog="tpm-fault-proxy.py",
        formatter_class=HelpFormatter,
        description=__doc__.split("Usage:")[0].strip() + "\n\n" +
        __doc__[__doc__.index("The proxy runs until"):
                __doc__.index("How it forwards:")].strip(),
        epilog=epilog)
    p.add_argument("--listen", required=True, metavar="P",
                   help="listen on unix sockets P and P.ctrl")
    p.add_argument("--upstream", required=True, metavar="S",
                   help="forward to swtpm's unix sockets S and S.ctrl")
    p.add_argument("--fail", action="append", type=parse_fail,
                   metavar="CC:RC:N",
                   help="answer the first N commands with code CC (hex, name "
                   "or 'any') with a 10-byte response carrying RC (hex or "
                   "name) instead of forwarding them; repeatable")
    p.add_argument("--drop-after-cc", type=parse_cc, metavar="CC",
                   default=argparse.SUPPRESS,
                   help="when a command with code CC (or 'any') arrives, close "
                   "that connection unanswered, close all others and stop "
                   "accepting on both sockets (the TPM vanishes)")
    p.add_argument("--forge-ok", action="append", type=parse_cc, default=[], metavar="CC",
                   help="answer commands CC with a forged success (PCR_Event)")
    p.add_argument("--route", action="append", type=parse_route, default=[], metavar="CC:S2",
                   help="send commands CC to the swtpm command socket S2 instead")
    p.add_argument("--log", metavar="FILE",
                   help="append one line per TPM command: "
                   "'cc=0x... NAME forwarded rc=0x...', "
                   "'cc=0x... NAME injected rc=0x...' or 'cc=0x... NAME dropped'")
    p.add_argument("--pidfile", metavar="FILE",
                   help="write the pid here once both sockets listen")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="connection events and errors on stderr")
    return p


def main(argv):
    args = build_parser().parse_args(argv)
    # "--drop-after-cc any" parses to ANY (None); tell it apart from "absent".
    args.drop_any = hasattr(args, "drop_after_cc") and args.drop_after_cc is ANY
    if not hasattr(args, "drop_after_cc"):
        args.drop_after_cc = None
    try:
        proxy = Proxy(args)
    except OSError as e:
        sys.stderr.write("tpm-fault-proxy: %s\n" % e)
        return 1

    def on_signal(signum, frame):
        proxy.stopping.set()
        proxy.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        proxy.run()
    except OSError as e:
        sys.stderr.write("tpm-fault-proxy: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
