#!/bin/bash
# test-fault-proxy.sh - prove tests/integration/tpm-fault-proxy.py against a
# real swtpm and tpm2-tools (tpm2-tss swtpm TCTI).
#
# Starts a private swtpm in a mktemp -d directory and, for each case, a fresh
# proxy in front of it, then checks with tpm2-tools
# (TPM2TOOLS_TCTI=swtpm:path=P, TSS2_LOG=all+none) that:
#   1. tpm2_getrandom 8 works through the proxy with no faults, and the
#      control channel is forwarded (swtpm_ioctl -c, if installed);
#   2. with --fail GetRandom:RETRY:2 it still succeeds (ESAPI resubmits a
#      RETRY) and the log shows exactly 2 injected answers;
#   3. with --fail GetRandom:RETRY:20 tpm2_getrandom fails with 0x922;
#   4. --drop-after-cc GetRandom makes it fail without hanging, later
#      connects fail too, and the swtpm behind is unharmed;
#   5. several concurrent clients, and one client sending several commands on
#      one connection, all get answers, with the fault counts shared.
# The proxy must exit 0 on SIGTERM and remove its sockets.
#
# Exit: 0 pass, 1 fail (with a message), 77 skip (swtpm/tpm2-tools absent).
# Every wait is bounded; tools run under `timeout 20`.

set -u

PY=${PYTHON:-python3}

skip() { echo "SKIP: $*"; exit 77; }

for c in swtpm tpm2_getrandom timeout "$PY"; do
    command -v "$c" >/dev/null 2>&1 ||
        skip "$c not found (apt-get install swtpm swtpm-tools tpm2-tools python3)"
done
HERE=$(cd "$(dirname "$0")" && pwd)
PROXY="$HERE/tpm-fault-proxy.py"
[ -f "$PROXY" ] || { echo "FAIL: $PROXY missing"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/fproxy.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }
if [ ${#W} -gt 80 ]; then          # unix socket paths are limited to 107 bytes
    rmdir "$W"; W=$(mktemp -d /tmp/fproxy.XXXXXX) || { echo "FAIL: mktemp"; exit 1; }
fi
SWTPM_PID=
PROXY_PIDS=()

# stop PID: SIGTERM, wait up to 10 s, then SIGKILL.  Returns the exit status.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 137
    fi
    wait "$pid" 2>/dev/null
}

cleanup() {
    local p
    for p in "${PROXY_PIDS[@]}"; do stop_pid "$p"; done
    [ -n "$SWTPM_PID" ] && stop_pid "$SWTPM_PID"
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

LAST_NAME=
dump() {
    local f
    for f in "$W"/*.log "$W"/*.err "$W"/out "$W"/err; do
        [ -s "$f" ] || continue
        echo "---- ${f#$W/}"; tail -n 40 "$f"
    done
}
fail() { echo "FAIL: $*"; dump; exit 1; }
ok() { echo "ok: $*"; }

export TSS2_LOG=all+none

# ---- swtpm -----------------------------------------------------------------
S=$W/swtpm.sock
mkdir "$W/state"
swtpm socket --tpm2 --tpmstate dir="$W/state" \
    --server type=unixio,path="$S" --ctrl type=unixio,path="$S.ctrl" \
    --flags not-need-init,startup-clear >"$W/swtpm.err" 2>&1 &
SWTPM_PID=$!
for i in $(seq 100); do
    [ -S "$S" ] && [ -S "$S.ctrl" ] && break
    kill -0 "$SWTPM_PID" 2>/dev/null || break
    sleep 0.1
done
[ -S "$S" ] && [ -S "$S.ctrl" ] || fail "swtpm did not create its sockets"

# getrandom TCTI-PATH: runs tpm2_getrandom --hex 8, stdout in $W/out,
# stderr in $W/err; returns its status (124 = timed out).
getrandom() {
    TPM2TOOLS_TCTI="swtpm:path=$1" timeout 20 tpm2_getrandom --hex 8 \
        >"$W/out" 2>"$W/err"
}

getrandom "$S" || fail "tpm2_getrandom straight to swtpm fails (status $?)"
grep -Eqx '[0-9a-f]{16}' "$W/out" || fail "odd tpm2_getrandom output: $(cat "$W/out")"
ok "swtpm answers directly"

# ---- proxy helpers ---------------------------------------------------------
# start_proxy NAME ARGS...: proxy listening on $W/NAME, log $W/NAME.log.
# Sets P (listen path) and PX (pid).
start_proxy() {
    local name=$1 i pid; shift
    P=$W/$name
    "$PY" "$PROXY" --listen "$P" --upstream "$S" "$@" \
        --log "$W/$name.log" --pidfile "$W/$name.pid" 2>"$W/$name.err" &
    PX=$!
    PROXY_PIDS+=("$PX")
    for i in $(seq 100); do
        [ -s "$W/$name.pid" ] && break
        kill -0 "$PX" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$W/$name.pid" ] || fail "proxy $name wrote no pidfile"
    pid=$(cat "$W/$name.pid")
    [ "$pid" = "$PX" ] || fail "proxy $name pidfile says $pid, pid is $PX"
    [ -S "$P" ] && [ -S "$P.ctrl" ] || fail "proxy $name is not listening on $P and $P.ctrl"
    touch "$W/$name.log"
}

# stop_proxy: SIGTERM the current proxy; it must exit 0 and remove its sockets.
stop_proxy() {
    local st
    stop_pid "$PX"; st=$?
    local keep=() p
    for p in "${PROXY_PIDS[@]}"; do [ "$p" = "$PX" ] || keep+=("$p"); done
    PROXY_PIDS=("${keep[@]}")
    [ "$st" -eq 0 ] || fail "proxy exited with status $st on SIGTERM"
    [ ! -e "$P" ] && [ ! -e "$P.ctrl" ] || fail "proxy left its sockets behind"
}

count() { grep -c -- "$1" "$2"; }     # count PATTERN FILE (0 if none)

GR_FWD='cc=0x0000017b GetRandom forwarded rc=0x00000000'
GR_RETRY='cc=0x0000017b GetRandom injected rc=0x00000922'

# ---- 1. no faults ------------------------------------------------------------
start_proxy p1
getrandom "$P" || fail "1: tpm2_getrandom through the proxy fails (status $?)"
grep -Eqx '[0-9a-f]{16}' "$W/out" || fail "1: odd output: $(cat "$W/out")"
[ "$(count "$GR_FWD" "$W/p1.log")" -eq 1 ] || fail "1: log lacks one forwarded GetRandom"
[ "$(count injected "$W/p1.log")" -eq 0 ] || fail "1: something was injected"
if command -v swtpm_ioctl >/dev/null 2>&1; then
    want=$(timeout 20 swtpm_ioctl --unix "$S.ctrl" -c 2>&1)
    got=$(timeout 20 swtpm_ioctl --unix "$P.ctrl" -c 2>&1) ||
        fail "1: swtpm_ioctl -c through the proxy failed: $got"
    [ "$got" = "$want" ] || fail "1: control channel: '$got', direct: '$want'"
    ctrl_note=", control channel forwarded ($got)"
else
    ctrl_note=" (swtpm_ioctl absent: control channel only used by the TCTI)"
fi
stop_proxy
ok "1: tpm2_getrandom works through the proxy with no faults$ctrl_note"

# ---- 2. two RETRYs are absorbed by ESAPI ----------------------------------------
start_proxy p2 --fail GetRandom:RETRY:2
getrandom "$P" || fail "2: tpm2_getrandom fails despite only 2 RETRYs (status $?)"
grep -Eqx '[0-9a-f]{16}' "$W/out" || fail "2: odd output: $(cat "$W/out")"
n=$(count "$GR_RETRY" "$W/p2.log")
[ "$n" -eq 2 ] || fail "2: log shows $n injected RETRYs, want 2"
[ "$(count "$GR_FWD" "$W/p2.log")" -eq 1 ] || fail "2: GetRandom not forwarded once after the RETRYs"
stop_proxy
ok "2: --fail GetRandom:RETRY:2: tpm2_getrandom succeeds, 2 injected RETRYs logged"

# ---- 3. endless RETRY makes it fail ----------------------------------------------
start_proxy p3 --fail GetRandom:RETRY:20
getrandom "$P"; st=$?
[ "$st" -ne 124 ] || fail "3: tpm2_getrandom hung"
[ "$st" -ne 0 ] || fail "3: tpm2_getrandom succeeded despite 20 RETRYs"
grep -q '0x922' "$W/err" || fail "3: failure does not mention 0x922: $(cat "$W/err")"
n=$(count "$GR_RETRY" "$W/p3.log")
[ "$n" -ge 2 ] && [ "$n" -lt 20 ] || fail "3: $n injected RETRYs (ESAPI should give up early)"
[ "$(count 'GetRandom forwarded' "$W/p3.log")" -eq 0 ] || fail "3: a GetRandom got through"
stop_proxy
ok "3: --fail GetRandom:RETRY:20: tpm2_getrandom fails (status $st, ESAPI submitted $n times, gave up with 0x922)"

# ---- 4. the TPM vanishes ---------------------------------------------------------
start_proxy p4 --drop-after-cc GetRandom
getrandom "$P"; st=$?
[ "$st" -ne 124 ] || fail "4: tpm2_getrandom hung after the drop"
[ "$st" -ne 0 ] || fail "4: tpm2_getrandom succeeded although the TPM vanished"
[ "$(count 'cc=0x0000017b GetRandom dropped' "$W/p4.log")" -eq 1 ] || fail "4: log lacks the drop"
why=$(grep -m1 -o 'Esys_GetRandom([^)]*) - [^,]*' "$W/err")
lines=$(wc -l <"$W/p4.log")
getrandom "$P"; st2=$?
[ "$st2" -ne 124 ] || fail "4: second tpm2_getrandom hung"
[ "$st2" -ne 0 ] || fail "4: proxy still answers after the drop"
[ "$(wc -l <"$W/p4.log")" -eq "$lines" ] || fail "4: proxy still accepted commands after the drop"
"$PY" -c '
import socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except ConnectionRefusedError:
        continue
    sys.exit("%s still accepts connections" % path)
' "$P" "$P.ctrl" 2>"$W/err" || fail "4: $(cat "$W/err")"
kill -0 "$PX" 2>/dev/null || fail "4: proxy died after the drop"
stop_proxy
getrandom "$S" || fail "4: swtpm no longer answers directly after the drop (status $?)"
ok "4: --drop-after-cc GetRandom: tpm2_getrandom fails at once (status $st: ${why:-?}), later connects fail, swtpm unharmed"

# ---- 5. concurrent clients and several commands per connection -------------------
start_proxy p5 --fail GetRandom:RETRY:2
pids=()
for i in 1 2 3 4; do
    TPM2TOOLS_TCTI="swtpm:path=$P" timeout 20 tpm2_getrandom --hex 8 \
        >"$W/c$i.out" 2>"$W/c$i.err" &
    pids+=($!)
done
for i in 1 2 3 4; do
    wait "${pids[$((i-1))]}" || fail "5: concurrent tpm2_getrandom $i failed: $(cat "$W/c$i.err")"
    grep -Eqx '[0-9a-f]{16}' "$W/c$i.out" || fail "5: concurrent client $i: odd output"
done
[ "$(count "$GR_RETRY" "$W/p5.log")" -eq 2 ] || fail "5: RETRY count not shared by concurrent clients"
[ "$(count "$GR_FWD" "$W/p5.log")" -eq 4 ] || fail "5: not 4 GetRandoms forwarded"
stop_proxy

# A raw client: 3 threads, each on ONE connection sends 3 GetRandom(8) in a
# row, resubmitting on RETRY; the proxy injects 3 RETRYs in all.
start_proxy p6 --fail 0x17B:RETRY:3
timeout 20 "$PY" - "$P" >"$W/out" 2>"$W/err" <<'EOF' || fail "5: raw multi-command client: $(cat "$W/err")"
import socket, struct, sys, threading
path = sys.argv[1]
retries, errors = [], []
def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("EOF after %d of %d bytes" % (len(b), n))
        b += d
    return b
def client(k):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        done = 0
        while done < 3:
            s.sendall(struct.pack(">HIIH", 0x8001, 12, 0x17B, 8))
            tag, size, rc = struct.unpack(">HII", recv_exact(s, 10))
            body = recv_exact(s, size - 10)
            if rc == 0x922:
                retries.append(k)
                continue
            if rc != 0 or size != 20 or struct.unpack(">H", body[:2])[0] != 8:
                raise ValueError("client %d: rc=0x%x size=%d" % (k, rc, size))
            done += 1
        s.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client, args=(k,)) for k in range(3)]
for t in ts: t.start()
for t in ts: t.join()
if errors or len(retries) != 3:
    sys.exit("errors=%r retries=%d" % (errors, len(retries)))
print("ok")
EOF
[ "$(count "$GR_RETRY" "$W/p6.log")" -eq 3 ] || fail "5: raw client: not 3 injected RETRYs"
[ "$(count "$GR_FWD" "$W/p6.log")" -eq 9 ] || fail "5: raw client: not 9 GetRandoms forwarded"
stop_proxy
ok "5: 4 concurrent tpm2_getrandom and 3 concurrent 3-command connections all answered; fault counts shared"

echo "PASS: tpm-fault-proxy"
exit 0
