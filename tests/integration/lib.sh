# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared harness for the integration tests: each test sources this file, gets a private temporary
# directory, its own swtpm on a unix socket, LUKS2 image files, and a trap that kills everything it
# started.  Nothing depends on a daemon left running.
#
# Environment (set by meson): CVMSEAL = the command-line binary under test.

set -u
set -o pipefail

: "${CVMSEAL:?CVMSEAL must point at the cvmseal binary}"

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

for tool in swtpm cryptsetup; do
        command -v "$tool" >/dev/null || skip "$tool is not installed"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cvmseal-test.XXXXXX") || fail "mktemp"
_pids=()

# alive PID: the process runs (a zombie that init has not reaped yet does not count).
alive() {
        local state
        state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
        [ "${state:0:1}" != Z ]
}

cleanup() {
        local p f
        # start_swtpm usually runs in a command substitution (a subshell): its pids are in files.
        for f in "$T"/*/swtpm.pid; do
                [ -f "$f" ] && _pids+=("$(cat "$f")")
        done
        for p in "${_pids[@]}"; do
                kill "$p" 2>/dev/null
        done
        for p in "${_pids[@]}"; do
                # Not a child when it was started in a subshell: wait for it to go all the same.
                wait "$p" 2>/dev/null || while alive "$p"; do sleep 0.02; done
        done
        rm -rf "$T"
}
trap cleanup EXIT

# Keep tpm2-tss quiet unless the test asks otherwise; the tool sets this too.
export TSS2_LOG=${TSS2_LOG:-all+none}
# The lock record of this test's "boot" (docs/boot.md), never the machine's /run/cvmseal.
export CVMSEAL_LOCK_RECORD=$T/lock.json
# This test's local configuration (docs/configuration.md: the pinned SRK, cvmseal.conf), never the
# machine's /etc/cvmseal.  A test that starts a second TPM and enrolls to it uses another directory.
export CVMSEAL_CONFDIR=$T/conf

# start_swtpm NAME: starts a fresh swtpm whose state lives in $T/NAME and whose TPM command socket is
# $T/NAME/sock; prints the TCTI string.  The state survives stop_swtpm/start_swtpm, like a reboot.
start_swtpm() {
        local name=${1:-tpm} dir="$T/${1:-tpm}" i
        mkdir -p "$dir"
        rm -f "$dir/sock" "$dir/sock.ctrl"
        swtpm socket --tpm2 --tpmstate dir="$dir" \
                --server type=unixio,path="$dir/sock" \
                --ctrl type=unixio,path="$dir/sock.ctrl" \
                --flags not-need-init,startup-clear \
                --pid file="$dir/pid" >"$dir/log" 2>&1 &
        _pids+=($!)
        echo $! >"$dir/swtpm.pid"
        for i in $(seq 1 100); do
                [ -S "$dir/sock" ] && [ -S "$dir/sock.ctrl" ] && break
                sleep 0.05
        done
        [ -S "$dir/sock" ] || fail "swtpm $name did not start: $(cat "$dir/log")"
        echo "swtpm:path=$dir/sock"
}

# stop_swtpm NAME: stops that swtpm (its state stays on disk).
stop_swtpm() {
        local dir="$T/${1:-tpm}" pid
        pid=$(cat "$dir/swtpm.pid" 2>/dev/null) || return 0
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || while alive "$pid"; do sleep 0.02; done
        rm -f "$dir/swtpm.pid"
}

# pcr_extend TCTI PCR: extends a sha256 PCR with a fixed digest, as a changed boot would.
pcr_extend() {
        command -v tpm2_pcrextend >/dev/null || skip "tpm2-tools is not installed"
        TPM2TOOLS_TCTI="$1" tpm2_pcrextend "$2:sha256=$(printf '%064x' 1)" >/dev/null \
                || fail "tpm2_pcrextend $2"
}

# make_image FILE KEYFILE [SIZE]: a LUKS2 image file whose keyslot 0 opens with KEYFILE.
# PBKDF2 with few iterations keeps the tests fast; the tool's own keyslots are fast by design.
make_image() {
        local img=$1 key=$2 size=${3:-32M}
        [ -e "$key" ] || head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"
        truncate -s "$size" "$img"
        cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 \
                --pbkdf-force-iterations 1000 --key-file "$key" "$img" >/dev/null \
                || fail "luksFormat $img"
}

# expect_exit CODE CMD...: runs CMD, stores stdout in $out and stderr in $err, and fails unless
# it exited with CODE.
expect_exit() {
        local want=$1 got
        shift
        out=$("$@" 2>"$T/stderr") && got=0 || got=$?
        err=$(cat "$T/stderr")
        if [ "$got" != "$want" ]; then
                echo "stdout: $out" >&2
                echo "stderr: $err" >&2
                fail "'$*' exited $got, expected $want"
        fi
}

# expect_in TEXT PATTERN WHAT: fails unless TEXT matches the extended regular expression PATTERN.
expect_in() {
        grep -Eq -- "$2" <<<"$1" || fail "${3:-output} does not match '$2': $1"
}

# header_sum IMG: a digest of the LUKS2 header areas (everything before the data segment), to
# prove that a failed operation changed nothing.
header_sum() {
        head -c 16777216 "$1" | sha256sum | cut -d' ' -f1
}

# start_softhsm [LABEL] [PIN]: a private SoftHSM2 (its own SOFTHSM2_CONF and token directory under
# $T) with one initialized token; exports SOFTHSM2_CONF.  p11-kit finds SoftHSM2 through its
# registered module, so pkcs11:token=LABEL URIs work without module-path.
start_softhsm() {
        local label=${1:-cvmseal} pin=${2:-1234}
        command -v softhsm2-util >/dev/null || skip "softhsm2 is not installed"
        mkdir -p "$T/softhsm/tokens"
        printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
                "$T/softhsm/tokens" >"$T/softhsm/softhsm2.conf"
        export SOFTHSM2_CONF="$T/softhsm/softhsm2.conf"
        softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin 0000 >/dev/null \
                || fail "softhsm2-util --init-token"
}

# key_opens KEYFILE IMG [SLOT]: fails unless KEYFILE opens IMG (keyslot SLOT, if given).
key_opens() {
        cryptsetup open --test-passphrase ${3:+--key-slot "$3"} --key-file "$1" "$2" 2>"$T/cs.err" \
                || fail "cryptsetup does not open $2${3:+ keyslot $3} with $1: $(cat "$T/cs.err")"
}

# pycheck JSON EXPR WHAT: fails unless the Python expression EXPR holds, with d = the parsed JSON.
pycheck() {
        command -v python3 >/dev/null || skip "python3 is not installed"
        python3 -c 'import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>"$T/py.err" \
                || fail "$3: [$2] does not hold for: ${1:0:3000} $(cat "$T/py.err")"
}

# pyedit IN OUT CODE: OUT = the JSON document IN after the Python statements CODE changed d.
pyedit() {
        command -v python3 >/dev/null || skip "python3 is not installed"
        python3 -c 'import base64, json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=1)' "$1" "$2" "$3" 2>"$T/py.err" || fail "pyedit [$3]: $(cat "$T/py.err")"
}

# start_proxy NAME ARGS...: tests/integration/tpm-fault-proxy.py (ARGS: --fail, --drop-after-cc,
# --forge-ok, --route) in front of the swtpm whose command socket is $PROXY_UPSTREAM, listening on
# $T/NAME/p.  Sets PTCTI (its TCTI), PLOG (its log of every command) and PPID_ (its pid).
start_proxy() {
        local name=$1 pid
        shift
        : "${PROXY_UPSTREAM:?set PROXY_UPSTREAM to the swtpm command socket the proxy forwards to}"
        mkdir -p "$T/$name"
        PLOG=$T/$name/log
        : >"$PLOG"
        python3 "$(dirname "${BASH_SOURCE[0]}")/tpm-fault-proxy.py" --listen "$T/$name/p" --upstream "$PROXY_UPSTREAM" \
                "$@" --log "$PLOG" --pidfile "$T/$name/pid" 2>"$T/$name/err" &
        pid=$!
        _pids+=("$pid")
        for _ in $(seq 1 200); do
                [ -s "$T/$name/pid" ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
        done
        [ -s "$T/$name/pid" ] || fail "proxy $name did not start: $(cat "$T/$name/err")"
        [ "$(cat "$T/$name/pid")" = "$pid" ] || fail "proxy $name: its pidfile does not hold its pid"
        PTCTI="swtpm:path=$T/$name/p"
        PPID_=$pid
}

# stop_proxy: stops the proxy start_proxy started last.
stop_proxy() {
        kill "$PPID_" 2>/dev/null
        wait "$PPID_" 2>/dev/null
}
