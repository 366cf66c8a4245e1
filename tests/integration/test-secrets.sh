#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Secrets stay where they belong.  Every command that handles a secret runs with KNOWN, distinctive
# secrets (an unlock key, a TPM PIN, an HSM PIN, and wrong ones of each), three times over: plainly,
# with -v, and with -v and TSS2_LOG=all+trace:
#   hsm keygen --hsm-pin-file; enroll with --unlock-key-file FILE and -, --pin-file FILE and -,
#   --recovery-key, --hsm with --hsm-pin-file and with pin-source=; unlock --test, --print-key and
#   NAME (device-mapper permitting); list, list --json; remove; and the refusals (a wrong unlock key,
#   a wrong PIN, a wrong HSM PIN).
# None of those secrets, nor the derived passphrases (--print-key) nor the recovery key, appears on
# stderr, on stdout (except the passphrase from --print-key and the recovery key from
# --recovery-key), in the LUKS2 JSON metadata, in an exported token, anywhere in the image file, or in
# any file under the test directory (swtpm's state, SoftHSM's token); the commands create no file
# (strace: every file they create or write is the image or SoftHSM's token store) and leave nothing
# in their working, home or temporary directories.  In -v and trace mode the stderr is also searched
# for the secrets as hex, the way tpm2-tss dumps buffers.
# The interface never needs a secret in argv: every option of --help that takes a value takes a file
# ('-' for standard input), a TCTI, a PCR list, an id or a URI; the one way to put a secret in argv,
# pin-value= in an HSM URI, works but warns, and is not stored.  While a command is held in the middle
# of an unseal (a proxy stalls the TPM command after Unseal), /proc shows: its argv is the one given,
# no secret in its argv or environment, core dumps off (RLIMIT_CORE 0/0), secret memory locked
# (VmLck > 0), and the PIN only in locked, MADV_DONTDUMP mappings.  A process that is not dumpable
# has its /proc/PID files owned by root: run as another user (setpriv, when root), cvmseal's
# /proc/PID/environ is root's while a plain `cat` run the same way keeps its own.
# Reported, not failed (CVMSEAL_TEST_STRICT=1 makes them fail): copies of secrets that tpm2-tss keeps
# in its heap, and the unlock key buffer that cannot be locked under an 8 MiB RLIMIT_MEMLOCK.
. "$(dirname "$0")/lib.sh"

MODULE=${SOFTHSM2_MODULE:-/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so}
for tool in python3 softhsm2-util od tpm2_dictionarylockout; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[ -f "$MODULE" ] || skip "the SoftHSM2 module $MODULE is not there"
# The interpreter itself, not a version manager's shim: it runs many times.
PY=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"
STRICT=${CVMSEAL_TEST_STRICT:-0}
case $CVMSEAL in /*) ;; *) CVMSEAL=$PWD/$CVMSEAL ;; esac # the commands run in another directory

rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

KEY="unlock-key-$(rnd)"
PIN="tpm-pin-$(rnd)"
HPIN="hsm-pin-$(rnd)"
WKEY="wrong-key-$(rnd)"
WPIN="wrong-pin-$(rnd)"
WHPIN="wrong-hsm-pin-$(rnd)"
declare -A SECRET=([unlock-key]=$KEY [pin]=$PIN [hsm-pin]=$HPIN [wrong-key]=$WKEY [wrong-pin]=$WPIN
                   [wrong-hsm-pin]=$WHPIN)

mkdir -p "$T/in" "$T/out" "$T/cwd" "$T/home" "$T/tmp"
printf '%s' "$KEY" >"$T/in/key"
printf '%s' "$WKEY" >"$T/in/wkey"
printf '%s\n' "$PIN" >"$T/in/pin"
printf '%s\n' "$WPIN" >"$T/in/wpin"
printf '%s\n' "$HPIN" >"$T/in/hpin"
printf '%s\n' "$WHPIN" >"$T/in/whpin"

start_softhsm cvmseal "$HPIN"
TCTI=$(start_swtpm tpm) || exit 1
URI='pkcs11:token=cvmseal;object=disk;type=secret-key'
# The wrong PINs below would reach swtpm's default DA limit (3): raise it.
TPM2TOOLS_TCTI=$TCTI tpm2_dictionarylockout -s -n 1000 -t 1 -l 1 >/dev/null 2>"$T/da.err" \
        || fail "tpm2_dictionarylockout: $(cat "$T/da.err")"

STRACE=()
if command -v strace >/dev/null && strace -f -qq -e trace=none -o /dev/null true 2>/dev/null; then
        STRACE=(strace -f -qq -e trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,truncate)
else
        note "strace is unavailable or cannot trace here: the file-creation check is skipped"
fi

# run NAME WANT MODE STDIN ARGS...: runs cvmseal in $T/cwd with a private HOME and TMPDIR; stdout in
# $T/out/NAME.MODE.out, stderr in .err; fails unless it exits WANT (a list: "0|1").  MODE: plain, v
# (-v) or trace (-v and TSS2_LOG=all+trace).  In plain mode it runs under strace (.strace).
run() {
        local name=$1 want=$2 mode=$3 in=$4 rc
        shift 4
        local pre=() env=(HOME="$T/home" TMPDIR="$T/tmp")
        case $mode in
        v) pre=(-v) ;;
        trace) pre=(-v); env+=(TSS2_LOG=all+trace) ;;
        esac
        local tracer=()
        [ "$mode" = plain ] && [ ${#STRACE[@]} -gt 0 ] && tracer=("${STRACE[@]}" -o "$T/out/$name.$mode.strace")
        (cd "$T/cwd" && env "${env[@]}" "${tracer[@]}" "$CVMSEAL" "${pre[@]}" --tcti "$TCTI" "$@" \
                <"$in" >"$T/out/$name.$mode.out" 2>"$T/out/$name.$mode.err") && rc=0 || rc=$?
        grep -Eqx -- "$want" <<<"$rc" || fail "$name ($mode): cvmseal $* exited $rc, expected $want: $(head -c 2000 "$T/out/$name.$mode.err")"
}

# ---- the interface: no option takes a secret value ----
"$CVMSEAL" --help >"$T/help" 2>&1 || fail "cvmseal --help: $(cat "$T/help")"
grep -oE -- '--[a-z0-9-]+ [A-Z][A-Z0-9-]*' "$T/help" | sort -u >"$T/valued"
[ -s "$T/valued" ] || fail "--help lists no option that takes a value: $(cat "$T/help")"
while read -r opt meta; do
        case $meta in
        FILE | CONF | LIST | ID | URI | STORE-URI | HEX | PEM | EVIDENCE | DEVICE | NAME | COMMAND) ;;
        *) fail "--help: option $opt takes '$meta', which may be a secret" ;;
        esac
done <"$T/valued"
note "options with values: $(tr '\n' ' ' <"$T/valued")"
grep -q "FILE may be '-' for standard input" "$T/help" || fail "--help does not say that FILE may be '-'"

declare -A PASS=()
RK=
for mode in plain v trace; do
        img=$T/img.$mode
        make_image "$img" "$T/in/key"
        g="pkcs11:token=cvmseal;object=gen-$mode;type=secret-key"

        [ "$mode" = plain ] && run keygen0 0 plain /dev/null hsm keygen --hsm "$URI" --hsm-pin-file "$T/in/hpin"
        run keygen 0 "$mode" /dev/null hsm keygen --hsm "$g" --hsm-pin-file "$T/in/hpin"
        run enroll-pin 0 "$mode" /dev/null enroll "$img" --unlock-key-file "$T/in/key" --pin-file "$T/in/pin" --recovery-key
        rk=$(cat "$T/out/enroll-pin.$mode.out")
        [ -n "$rk" ] && [ "$(wc -l <"$T/out/enroll-pin.$mode.out")" = 1 ] || fail "enroll --recovery-key printed no key ($mode)"
        RK+="$rk"$'\n'
        run enroll-hsm 0 "$mode" "$T/in/key" enroll "$img" --unlock-key-file - --hsm "$URI" --hsm-pin-file "$T/in/hpin"
        run enroll-both 0 "$mode" "$T/in/pin" --json enroll "$img" --unlock-key-file "$T/in/key" --pin-file - \
                --hsm "$URI?pin-source=file:$T/in/hpin"
        # pin-value= is the one secret argv can carry: it works, warns, and is not stored.
        run enroll-pinvalue 0 "$mode" /dev/null enroll "$img" --unlock-key-file "$T/in/key" --hsm "$URI?pin-value=$HPIN"
        grep -q "warning: pin-value= puts the HSM PIN on the command line" "$T/out/enroll-pinvalue.$mode.err" \
                || fail "enroll with pin-value= does not warn ($mode): $(cat "$T/out/enroll-pinvalue.$mode.err")"

        run unlock-test 0 "$mode" /dev/null unlock --test "$img" --token 0 --pin-file "$T/in/pin"
        run printkey0 0 "$mode" /dev/null unlock --print-key "$img" --token 0 --pin-file "$T/in/pin"
        run printkey1 0 "$mode" /dev/null unlock --print-key "$img" --token 1
        run printkey2 0 "$mode" "$T/in/pin" unlock --print-key "$img" --token 2 --pin-file -
        run printkey3 0 "$mode" /dev/null unlock --print-key "$img" --token 3
        for t in 0 1 2 3; do
                p=$(cat "$T/out/printkey$t.$mode.out")
                [ -n "$p" ] || fail "--print-key of token $t printed nothing ($mode)"
                printf '%s' "$p" | cryptsetup open --test-passphrase --key-file - "$img" 2>/dev/null \
                        || fail "the --print-key passphrase of token $t does not open $img"
                PASS[$mode.$t]=$p
        done
        # Activation needs device-mapper: without it, exit 1 and the message, and still no secret.
        run unlock-name "0|1" "$mode" /dev/null unlock "$img" "cvmseal-secrets-$$" --token 1
        if grep -q "device-mapper is not available" "$T/out/unlock-name.$mode.err"; then
                [ "$mode" = plain ] && note "no device-mapper here: unlock NAME was refused (its output is still searched)"
        else
                cryptsetup close "cvmseal-secrets-$$" 2>/dev/null || fail "unlock NAME exited 0 but cvmseal-secrets-$$ is not there"
        fi
        run list 0 "$mode" /dev/null list "$img"
        run list-json 0 "$mode" /dev/null --json list "$img"

        # Refusals: a wrong unlock key, a wrong PIN, a wrong HSM PIN.
        run wrong-key 1 "$mode" /dev/null enroll "$img" --unlock-key-file "$T/in/wkey"
        grep -q "the unlock key opens no keyslot" "$T/out/wrong-key.$mode.err" || fail "wrong key: $(cat "$T/out/wrong-key.$mode.err")"
        run wrong-pin 7 "$mode" /dev/null unlock --test "$img" --token 0 --pin-file "$T/in/wpin"
        run wrong-hsm-pin 5 "$mode" /dev/null enroll "$img" --unlock-key-file "$T/in/key" --hsm "$URI" --hsm-pin-file "$T/in/whpin"

        # The metadata and the tokens, before the removals.
        cryptsetup luksDump --dump-json-metadata "$img" >"$T/out/metadata.$mode" 2>&1 || fail "luksDump $img: $(cat "$T/out/metadata.$mode")"
        for t in 0 1 2 3; do
                cryptsetup token export --token-id "$t" "$img" >"$T/out/token$t.$mode" 2>&1 || fail "token export $t: $(cat "$T/out/token$t.$mode")"
                grep -q '"type":"cvmseal"' "$T/out/token$t.$mode" || fail "token $t of $img is not a cvmseal token"
        done
        run remove2 0 "$mode" /dev/null --json remove "$img" --token 2
        run remove1 0 "$mode" /dev/null remove "$img" --token 1
done

# ---- where each secret may appear ----
cat >"$T/leakscan.py" <<'EOF'
"""leakscan.py SECRETS [--hex] [--allow VALUE]... FILE...: prints "FILE: contains the NAME (FORM)"
for each secret of SECRETS (lines NAME<TAB>VALUE) found in a FILE, as raw bytes and, with --hex,
as hex and in tpm2-tss's "0000: 0102..." buffer dumps joined up; exits 1 if any.  Values given with
--allow are not looked for."""
import binascii, re, sys

args = sys.argv[1:]
secrets = [l.rstrip("\n").split("\t", 1) for l in open(args.pop(0)) if "\t" in l]
hexmode, allow, files = False, set(), []
while args:
    a = args.pop(0)
    if a == "--hex":
        hexmode = True
    elif a == "--allow":
        allow.add(args.pop(0))
    else:
        files.append(a)
bad = 0
for f in files:
    data = open(f, "rb").read()
    forms = [("raw", data)]
    if hexmode:
        joined = "".join(re.findall(r"(?m)^[0-9a-f]{4}: ([0-9a-f]+)", data.decode("latin1"))).encode()
        forms += [("hex", data.lower()), ("tpm2-tss hex dump", joined)]
    for name, value in secrets:
        if not value or value in allow:
            continue
        for form, hay in forms:
            needle = value.encode() if form == "raw" else binascii.hexlify(value.encode())
            if needle in hay:
                print("%s: contains the %s (%s)" % (f, name, form))
                bad = 1
sys.exit(bad)
EOF
{
        for name in "${!SECRET[@]}"; do
                printf '%s\t%s\n' "$name" "${SECRET[$name]}"
        done
        for k in "${!PASS[@]}"; do
                printf 'passphrase (%s)\t%s\n' "$k" "${PASS[$k]}"
        done
        while IFS= read -r rk; do
                [ -z "$rk" ] || printf 'recovery key\t%s\n' "$rk"
        done <<<"$RK"
} >"$T/secrets.tsv"

# absent [--hex] [--allow VALUE]... FILE...: no secret in those files.
absent() {
        "$PY" "$T/leakscan.py" "$T/secrets.tsv" "$@" >"$T/leaks" 2>&1 || fail "a secret leaked: $(cat "$T/leaks")"
}

# stderr: no secret, in -v and trace mode not as hex either.  The HSM PIN is sealed in the TPM with
# the TPM share, so tpm2-tss's trace (which dumps the Create command's sensitive data and the
# decrypted Unseal response) shows it: that is the trace level the caller asked for, reported here
# rather than failed.
absent "$T"/out/*.plain.err
absent --hex "$T"/out/*.v.err
absent --hex --allow "$HPIN" "$T"/out/*.trace.err
trace_leaks=
for f in "$T"/out/*.trace.err; do
        j=$(grep -oE '^[0-9a-f]{4}: [0-9a-f]+' "$f" | cut -d' ' -f2 | tr -d '\n')
        if grep -qF -- "$(hex "$HPIN")" <<<"$j"; then trace_leaks+="$(basename "$f" .trace.err) "; fi
done
[ -z "$trace_leaks" ] || note "KNOWN (tpm2-tss): with TSS2_LOG=all+trace the HSM PIN is in the buffer dumps of: $trace_leaks"

# stdout: the passphrase only from --print-key (exactly it), the recovery key only from enroll
# --recovery-key.
plain_outs=()
for f in "$T"/out/*.out; do
        b=$(basename "$f" .out)
        case $b in
        printkey?.*)
                t=${b#printkey}
                t=${t%%.*}
                m=${b#*.}
                [ "$(cat "$f")" = "${PASS[$m.$t]}" ] || fail "$b: stdout is not exactly the passphrase"
                absent --allow "${PASS[$m.$t]}" "$f"
                ;;
        enroll-pin.*) absent --allow "$(cat "$f")" "$f" ;;
        *) plain_outs+=("$f") ;;
        esac
done
absent "${plain_outs[@]}"
# The LUKS2 metadata, the exported tokens, the image files, and every other file under the test
# directory (swtpm's state, SoftHSM's token), but the inputs and the outputs above.
absent --hex "$T"/out/metadata.* "$T"/out/token?.*
# A pin-value URI is stored without it.
grep -q 'pin-value' "$T"/out/token3.* "$T"/out/metadata.* && fail "a token stores pin-value"
mapfile -d '' others < <(find "$T" -type f ! -path "$T/in/*" ! -path "$T/out/*" ! -name secrets.tsv ! -name leaks -print0)
absent "${others[@]}"
note "no secret in $(ls "$T"/out/*.err | wc -l) stderr and $(ls "$T"/out/*.out | wc -l) stdout captures, the metadata, the tokens, or ${#others[@]} other files"

# ---- files left behind ----
for d in cwd tmp; do
        [ -z "$(ls -A "$T/$d")" ] || fail "cvmseal left files in its $d: $(ls -lA "$T/$d")"
done
left=$(cd "$T/home" && find . -mindepth 1 ! -type d)
[ -z "$left" ] || fail "cvmseal left files in its HOME: $left"
[ -z "$(ls -A "$T/home")" ] || note "an empty directory was made in HOME (p11-kit's cache): $(cd "$T/home" && find . -mindepth 1 -type d | tr '\n' ' ')"
if [ ${#STRACE[@]} -gt 0 ]; then
        for f in "$T"/out/*.strace; do
                # Calls that create, write, move or remove a file, and succeeded.
                grep -E 'O_CREAT|O_WRONLY|O_RDWR|O_TRUNC|^[0-9]+ +(creat|mkdir|mkdirat|rename|renameat2?|link|linkat|symlink|symlinkat|unlink|unlinkat|truncate)\(' "$f" \
                        | grep -vE '= -1 ' | grep -oE '"[^"]*"' | tr -d '"' | sort -u >"$f.paths"
                while IFS= read -r p; do
                        case $p in
                        "$T"/img.* | "$T"/softhsm/tokens/* | /dev/mapper/* | /dev/null | /dev/tty) ;;
                        "$T/home/.cache") ;; # p11-kit makes it (empty), checked above
                        /run/cryptsetup | /run/cryptsetup/*) ;; # libcryptsetup's metadata locks
                        # The pinned SRK (public) that enroll writes when nothing is pinned yet.
                        "$CVMSEAL_CONFDIR" | "$CVMSEAL_CONFDIR"/tpm2-srk.pub | "$CVMSEAL_CONFDIR"/tpm2-srk.pub.*) ;;
                        # The volume notes the lock measures: an HMAC keyed with the passphrase, not it.
                        "$T"/volumes | "$T"/volumes/*) ;;
                        *) fail "$(basename "$f" .strace) created or wrote $p" ;;
                        esac
                done <"$f.paths"
        done
fi

# ---- /proc while an unseal is held ----
cat >"$T/stall.py" <<'EOF'
"""stall.py LISTEN UPSTREAM CC AFTER_CC STALLED RELEASE PIDFILE: forwards TPM commands from LISTEN
(and LISTEN.ctrl) to swtpm at UPSTREAM (and UPSTREAM.ctrl); holds the first command with code CC
that follows an answered command with code AFTER_CC (hex): creates STALLED, and sends it on once
RELEASE exists.  PIDFILE is written once both sockets listen."""
import os, socket, struct, sys, threading, time

listen, upstream, cc_s, after_s, stalled, release, pidfile = sys.argv[1:8]
stall_cc, after_cc = int(cc_s, 16), int(after_s, 16)
state = {"armed": after_cc == 0, "done": False}
lock = threading.Lock()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            break
        b += d
    return b


def serve_cmd(c):
    up = socket.socket(socket.AF_UNIX)
    try:
        up.connect(upstream)
        while True:
            h = recv_exact(c, 10)
            if len(h) < 10:
                break
            cc = struct.unpack(">HII", h)[2]
            body = recv_exact(c, struct.unpack(">HII", h)[1] - 10)
            with lock:
                hold = cc == stall_cc and state["armed"] and not state["done"]
                state["done"] |= hold
            if hold:
                open(stalled, "w").close()
                while not os.path.exists(release):
                    time.sleep(0.01)
            up.sendall(h + body)
            rh = recv_exact(up, 10)
            if len(rh) < 10:
                break
            rest = recv_exact(up, struct.unpack(">HII", rh)[1] - 10)
            # Armed before the answer goes out: tpm2-tss's swtpm TCTI opens a new connection for
            # every command, so the next command may reach another thread the moment the client
            # has this answer (CI once saw the FlushContext pass unheld).
            with lock:
                state["armed"] |= cc == after_cc
            c.sendall(rh + rest)
    except OSError:
        pass
    finally:
        c.close()
        up.close()


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve_ctrl(c):
    up = socket.socket(socket.AF_UNIX)
    try:
        up.connect(upstream + ".ctrl")
    except OSError:
        c.close()
        return
    t = threading.Thread(target=pipe, args=(up, c), daemon=True)
    t.start()
    pipe(c, up)
    t.join()
    c.close()
    up.close()


def accept_loop(ls, fn):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()


socks = []
for path in (listen, listen + ".ctrl"):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(16)
    socks.append(s)
threading.Thread(target=accept_loop, args=(socks[1], serve_ctrl), daemon=True).start()
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(pidfile + ".tmp", pidfile)
accept_loop(socks[0], serve_cmd)
EOF
cat >"$T/memscan.py" <<'EOF'
"""memscan.py PID NAME=HEX...: one line per occurrence of each secret in PID's memory:
NAME ADDRESS MAPPING FLAGS (the mapping's smaps VmFlags: 'lo' mlocked, 'dd' not in core dumps)."""
import re, sys
pid = int(sys.argv[1])
secrets = [(a.split("=", 1)[0], bytes.fromhex(a.split("=", 1)[1])) for a in sys.argv[2:]]
maps, cur = [], None
with open("/proc/%d/smaps" % pid) as f:
    for line in f:
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if m:
            cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16), "perms": m.group(3),
                   "path": m.group(4) or "[anon]", "flags": ""}
            maps.append(cur)
        elif line.startswith("VmFlags:") and cur:
            cur["flags"] = line.split(":", 1)[1].strip()
with open("/proc/%d/mem" % pid, "rb", 0) as mem:
    for mp in maps:
        if not mp["perms"].startswith("r") or mp["path"] in ("[vvar]", "[vsyscall]"):
            continue
        try:
            mem.seek(mp["start"])
            data = mem.read(mp["end"] - mp["start"])
        except OSError:
            continue
        for name, s in secrets:
            i = data.find(s)
            while i >= 0:
                print("%s 0x%x %s %s" % (name, mp["start"] + i, mp["path"], mp["flags"].replace(" ", ",")))
                i = data.find(s, i + 1)
EOF

proxy_n=0
# held_unseal NAME ARGS...: runs `cvmseal --tcti <stalling proxy> ARGS` in the background, held at
# the FlushContext that follows Unseal (the unsealed secret is then in the process); sets $cpid and
# $held_dir.  release_unseal finishes it and checks it exits 0.
held_unseal() {
        local name=$1 i
        shift
        proxy_n=$((proxy_n + 1))
        held_dir=$T/held$proxy_n
        mkdir -p "$held_dir"
        "$PY" "$T/stall.py" "$held_dir/sock" "$T/tpm/sock" 165 15e "$held_dir/stalled" "$held_dir/release" \
                "$held_dir/pid" 2>"$held_dir/proxy.err" &
        _pids+=($!)
        for i in $(seq 1 200); do
                [ -s "$held_dir/pid" ] && break
                sleep 0.02
        done
        [ -s "$held_dir/pid" ] || fail "the stalling proxy did not start: $(cat "$held_dir/proxy.err")"
        HELD_ARGV=("$CVMSEAL" --tcti "swtpm:path=$held_dir/sock" "$@")
        "${HELD_ARGV[@]}" >"$held_dir/out" 2>"$held_dir/err" </dev/null &
        cpid=$!
        _pids+=($cpid)
        for i in $(seq 1 500); do
                [ -e "$held_dir/stalled" ] && break
                alive "$cpid" || fail "$name ended before its unseal was held: $(cat "$held_dir/err")"
                sleep 0.02
        done
        [ -e "$held_dir/stalled" ] || fail "$name: the unseal was never held"
}
release_unseal() {
        local rc
        touch "$held_dir/release"
        wait "$cpid" && rc=0 || rc=$?
        [ "$rc" = 0 ] || fail "the held command exited $rc: $(cat "$held_dir/err")"
}

# in_locked NAME SCANFILE: every occurrence of NAME in the scan is in a locked ('lo'), not-dumped
# ('dd') mapping.  (No pipes into grep -q: with pipefail, an early exit would hide a match.)
in_locked() {
        local lines bad
        lines=$(grep "^$1 " "$2")
        [ -n "$lines" ] || fail "the $1 is not in the process's memory at all: the scan cannot see it"
        bad=$(grep -vE ' ([a-z]+,)*lo(,[a-z]+)*$' <<<"$lines"; grep -vE ',dd(,|$)' <<<"$lines")
        [ -z "$bad" ]
}
strict_or_note() {
        if [ "$STRICT" = 1 ]; then fail "$*"; else note "KNOWN: $*"; fi
}

img=$T/img.held
make_image "$img" "$T/in/key"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/in/key" --pin-file "$T/in/pin"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" enroll "$img" --unlock-key-file "$T/in/key" --hsm "$URI" --hsm-pin-file "$T/in/hpin"

# A PIN token, held after its Unseal: the PIN and the unsealed share are in the process.
held_unseal "unlock --print-key (PIN)" unlock --print-key "$img" --token 0 --pin-file "$T/in/pin"
tr '\0' '\n' <"/proc/$cpid/cmdline" >"$T/cmdline" || fail "cannot read /proc/$cpid/cmdline"
[ "$(cat "$T/cmdline")" = "$(printf '%s\n' "${HELD_ARGV[@]}")" ] || fail "argv differs from the one given: $(cat "$T/cmdline")"
absent "$T/cmdline"
tr '\0' '\n' <"/proc/$cpid/environ" >"$T/environ" || fail "cannot read /proc/$cpid/environ"
absent "$T/environ"
grep -Eq '^Max core file size +0 +0 +bytes' "/proc/$cpid/limits" \
        || fail "core dumps are not off (soft and hard): $(grep core "/proc/$cpid/limits")"
vmlck=$(sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$cpid/status")
[ "${vmlck:-0}" -gt 0 ] || fail "VmLck is ${vmlck:-absent} while cvmseal holds the PIN and the unsealed share (RLIMIT_MEMLOCK $(ulimit -l))"
"$PY" "$T/memscan.py" "$cpid" "pin=$(hex "$PIN")" \
        "auth-value=$(printf '%s' "$PIN" | sha256sum | cut -c1-64)" >"$T/scan-pin" 2>"$T/scan.err" \
        || fail "memscan: $(cat "$T/scan.err")"
in_locked pin "$T/scan-pin" || fail "the PIN is in memory that is not locked or not excluded from core dumps: $(grep '^pin ' "$T/scan-pin")"
n=$(grep -c '^auth-value ' "$T/scan-pin")
[ "$n" = 0 ] || strict_or_note "the PIN's authValue (SHA-256 of the PIN) is in $n unlocked heap location(s) after Unseal (tpm2-tss's session copy)"
release_unseal
cryptsetup open --test-passphrase --key-file "$held_dir/out" "$img" 2>/dev/null || fail "the held --print-key printed no working key"
note "held unseal: VmLck $vmlck kB; PIN found only in locked, MADV_DONTDUMP memory"

# An HSM-bound token, held after its Unseal: the HSM PIN (sealed with the share) is in the process.
held_unseal "unlock --test (HSM)" unlock --test "$img" --token 1
"$PY" "$T/memscan.py" "$cpid" "hsm-pin=$(hex "$HPIN")" >"$T/scan-hpin" 2>"$T/scan.err" || fail "memscan: $(cat "$T/scan.err")"
if ! in_locked hsm-pin "$T/scan-hpin"; then
        strict_or_note "the unsealed HSM PIN stays in unlocked heap memory after Unseal (tpm2-tss decrypts the response in its command buffer): $(grep -vE ',lo,' "$T/scan-hpin" | tr '\n' ' ')"
fi
release_unseal

# ---- not dumpable: /proc/PID files of a non-dumpable process belong to root ----
# cvmseal blocks reading the unlock key from a FIFO (nothing written yet), run as another user so that
# root ownership means "not dumpable".  A plain `cat` run the same way is the control.
AS=() OWNER=
if [ "$(id -u)" != 0 ]; then
        OWNER=$(id -u)
elif command -v setpriv >/dev/null; then
        AS=(setpriv --reuid 65534 --regid 65534 --clear-groups)
        OWNER=65534
fi
if [ -n "$OWNER" ]; then
        mkdir -p "$T/fifo"
        mkfifo "$T/fifo/key" "$T/fifo/ctl" "$T/fifo/pin"
        blocked_pid() { # blocked_pid FIFO CMD...: starts CMD reading FIFO; prints its pid once it blocks
                local fifo=$1 p
                shift
                "${AS[@]}" "$@" <"$fifo" >/dev/null 2>"$T/blocked.err" &
                p=$!
                _pids+=($p)
                echo "$p"
        }
        exec 7<>"$T/fifo/key" 8<>"$T/fifo/ctl" 9<>"$T/fifo/pin"
        p1=$(blocked_pid "$T/fifo/key" "$CVMSEAL" enroll /nonexistent --unlock-key-file -)
        p2=$(blocked_pid "$T/fifo/ctl" cat)
        p3=$(blocked_pid "$T/fifo/pin" "$CVMSEAL" unlock --test /nonexistent --pin-file -)
        printf 'part-of-a-key' >&7
        for p in $p1 $p2 $p3; do
                for _ in $(seq 1 250); do
                        [ "$(sed -n 's/^Uid:\t\([0-9]*\).*/\1/p' "/proc/$p/status" 2>/dev/null)" = "$OWNER" ] \
                                && grep -q '^State:.*S (sleeping)' "/proc/$p/status" && break
                        sleep 0.02
                done
        done
        sleep 0.2 # the key bytes written above are read
        own1=$(stat -c %u "/proc/$p1/environ") own2=$(stat -c %u "/proc/$p2/environ") own3=$(stat -c %u "/proc/$p3/environ")
        [ "$own2" = "$OWNER" ] || fail "control: /proc/PID/environ of a dumpable cat run as $OWNER belongs to $own2"
        [ "$own1" = 0 ] || fail "cvmseal enroll (uid $OWNER) is dumpable: its /proc/PID/environ belongs to $own1"
        [ "$own3" = 0 ] || fail "cvmseal unlock (uid $OWNER) is dumpable: its /proc/PID/environ belongs to $own3"
        grep -Eq '^Max core file size +0 +0 +bytes' "/proc/$p1/limits" || fail "core dumps are on in cvmseal run as $OWNER"
        lck1=$(sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$p1/status")
        lck3=$(sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$p3/status")
        memlock=$("${AS[@]}" sh -c 'ulimit -l')
        note "as uid $OWNER (RLIMIT_MEMLOCK $memlock kB): VmLck $lck1 kB while reading the unlock key, $lck3 kB while reading the PIN"
        if [ "$memlock" = unlimited ] || [ "$memlock" -ge 64 ]; then
                [ "${lck3:-0}" -gt 0 ] || fail "the PIN buffer is not locked in cvmseal run as $OWNER (RLIMIT_MEMLOCK $memlock kB)"
        fi
        [ "${lck1:-0}" -gt 0 ] || strict_or_note "the unlock key buffer (8 MiB, read from a file or stdin) is not locked under RLIMIT_MEMLOCK $memlock kB, run as uid $OWNER"
        exec 7>&- 8>&- 9>&-
        for p in $p1 $p2 $p3; do
                wait "$p" 2>/dev/null
        done
else
        note "root without setpriv: the dumpable check is skipped"
fi
exit 0
