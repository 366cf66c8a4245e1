#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Without a TPM, cvmseal says so with exit 6 and changes nothing: through a swtpm socket that does
# not exist or a device node that does not exist, enroll exits 6 naming the TCTI and leaves the LUKS2
# header as it was (no new keyslot, no token), and unlock of an enrolled image exits 6 (--print-key
# writing nothing).  Then the TPM vanishes in the middle of an operation (tpm-fault-proxy.py closes
# the connection when Unseal, or Create, arrives): unlock --print-key and enroll exit 6, promptly,
# with nothing on stdout and the header unchanged.  The swtpm is then left holding the vanished
# clients' objects: if unlock fails because of that, its message must name the TPM, not the LUKS2
# metadata.  After a TPM reboot the image unlocks, enroll works, and the original key still opens.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"
command -v timeout >/dev/null || skip "timeout is not installed"
PROXY=$(cd "$(dirname "$0")" && pwd)/tpm-fault-proxy.py
[ -f "$PROXY" ] || fail "$PROXY is missing"

# expect_fixed TEXT STRING WHAT: fails unless TEXT contains STRING literally.
expect_fixed() {
        grep -qF -- "$2" <<<"$1" || fail "${3:-output} does not contain '$2': $1"
}

# unchanged IMG SUM: fails unless IMG's header is SUM and it still has only keyslot 0 and no token.
unchanged() {
        [ "$(header_sum "$1")" = "$2" ] || fail "the LUKS2 header of $1 changed"
        expect_exit 0 "$CVMSEAL" list --json "$1"
        pycheck "$out" "d['tokens'] == [] and d['keyslots'] == [{'id': 0, 'cvmseal': False}]" "$1 after a failed enroll"
}

# start_proxy NAME ARGS...: a tpm-fault-proxy in front of the swtpm, listening on $T/NAME (log
# $T/NAME.log); the cleanup trap of lib.sh stops it.  Prints nothing; sets $proxy_tcti.
start_proxy() {
        local name=$1
        shift
        python3 "$PROXY" --listen "$T/$name" --upstream "$T/tpm/sock" --log "$T/$name.log" \
                --pidfile "$T/$name.pid" "$@" 2>"$T/$name.err" &
        _pids+=($!)
        for _ in $(seq 1 200); do
                [ -s "$T/$name.pid" ] && break
                kill -0 "$!" 2>/dev/null || break
                sleep 0.05
        done
        [ -s "$T/$name.pid" ] || fail "the proxy $name did not start: $(cat "$T/$name.err")"
        proxy_tcti="swtpm:path=$T/$name"
}

tcti=$(start_swtpm tpm) || exit 1
img=$T/img
fresh=$T/fresh
key=$T/key
make_image "$img" "$key"
make_image "$fresh" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
hi=$(header_sum "$img")
hf=$(header_sum "$fresh")

# ---- no TPM behind the TCTI ----
for nope in "swtpm:path=$T/nope.sock" "device:/nonexistent/tpm"; do
        expect_exit 6 "$CVMSEAL" --tcti "$nope" enroll "$fresh" --unlock-key-file "$key"
        expect_fixed "$err" "cvmseal: no TPM is available through '$nope'" "enroll through $nope"
        unchanged "$fresh" "$hf"

        expect_exit 6 "$CVMSEAL" --tcti "$nope" unlock --test "$img"
        expect_fixed "$err" "cvmseal: no TPM is available through '$nope'" "unlock through $nope"
        [ -z "$out" ] || fail "unlock --test through $nope printed on stdout: $out"

        "$CVMSEAL" --tcti "$nope" unlock --print-key "$img" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
        [ "$rc" = 6 ] || fail "--print-key through $nope exited $rc, expected 6: $(cat "$T/pk.err")"
        [ ! -s "$T/pk" ] || fail "--print-key through $nope wrote on stdout"

        expect_exit 6 "$CVMSEAL" --tcti "$nope" --json unlock --test "$img"
        pycheck "$out" "d['exit-code'] == 6 and '$nope' in d['error']" "--json error through $nope"
done
[ "$(header_sum "$img")" = "$hi" ] || fail "unlock without a TPM changed the LUKS2 header"

# ---- the TPM vanishes when Unseal is sent ----
start_proxy drop-unseal --drop-after-cc Unseal
start=$SECONDS
timeout 20 "$CVMSEAL" --tcti "$proxy_tcti" unlock --print-key "$img" >"$T/pk" 2>"$T/pk.err" && rc=0 || rc=$?
[ "$rc" != 124 ] || fail "unlock hung when the TPM vanished"
[ "$rc" = 6 ] || fail "unlock through a vanishing TPM exited $rc, expected 6: $(cat "$T/pk.err")"
[ $((SECONDS - start)) -le 10 ] || fail "unlock took $((SECONDS - start)) s to notice that the TPM vanished"
[ ! -s "$T/pk" ] || fail "unlock through a vanishing TPM wrote $(wc -c <"$T/pk") bytes on stdout"
expect_fixed "$(cat "$T/pk.err")" "cvmseal: no TPM is available through '$proxy_tcti'" "unlock through a vanishing TPM"
grep -q 'Load forwarded rc=0x00000000' "$T/drop-unseal.log" || fail "the sealed object was never loaded: $(cat "$T/drop-unseal.log")"
grep -q 'Unseal dropped' "$T/drop-unseal.log" || fail "the proxy did not drop Unseal: $(cat "$T/drop-unseal.log")"
[ "$(header_sum "$img")" = "$hi" ] || fail "unlock through a vanishing TPM changed the LUKS2 header"

# ---- the TPM vanishes when enroll sends Create ----
start_proxy drop-create --drop-after-cc Create
timeout 20 "$CVMSEAL" --tcti "$proxy_tcti" enroll "$fresh" --unlock-key-file "$key" >"$T/en" 2>"$T/en.err" \
        && rc=0 || rc=$?
[ "$rc" != 124 ] || fail "enroll hung when the TPM vanished"
[ "$rc" = 6 ] || fail "enroll through a vanishing TPM exited $rc, expected 6: $(cat "$T/en.err")"
[ ! -s "$T/en" ] || fail "enroll through a vanishing TPM wrote on stdout: $(cat "$T/en")"
expect_fixed "$(cat "$T/en.err")" "cvmseal: no TPM is available through '$proxy_tcti'" "enroll through a vanishing TPM"
grep -q 'Create dropped' "$T/drop-create.log" || fail "the proxy did not drop Create: $(cat "$T/drop-create.log")"
unchanged "$fresh" "$hf"

# ---- the TPM vanishes when enroll verifies its sealed object (Unseal) ----
start_proxy drop-verify --drop-after-cc Unseal
timeout 20 "$CVMSEAL" --tcti "$proxy_tcti" enroll "$fresh" --unlock-key-file "$key" >"$T/en" 2>"$T/en.err" \
        && rc=0 || rc=$?
[ "$rc" = 6 ] || fail "enroll, TPM vanishing at its check, exited $rc, expected 6: $(cat "$T/en.err")"
grep -q 'Create forwarded rc=0x00000000' "$T/drop-verify.log" || fail "enroll did not seal: $(cat "$T/drop-verify.log")"
grep -q 'Unseal dropped' "$T/drop-verify.log" || fail "the proxy did not drop Unseal: $(cat "$T/drop-verify.log")"
unchanged "$fresh" "$hf"

# ---- what the vanished clients left behind ----
# swtpm has no resource manager: the objects and sessions of the dropped connections stay loaded
# (as on a TPM used without /dev/tpmrm0), and its object memory may now be full.  If unlock fails
# for that reason, it must say the TPM is out of room, not blame the LUKS2 header, whose metadata
# is intact (a misleading message here sends an operator off deleting keyslots).
"$CVMSEAL" --tcti "$tcti" unlock --test "$img" >/dev/null 2>"$T/full.err" && rc=0 || rc=$?
if [ "$rc" != 0 ]; then
        leftovers=$(TPM2TOOLS_TCTI=$tcti tpm2_getcap handles-transient 2>/dev/null | tr '\n' ' ')
        { grep -q 'TPM' "$T/full.err" && ! grep -q 'LUKS2 metadata' "$T/full.err"; } \
                || fail "unlock on a TPM with leftover objects ($leftovers) exited $rc and blames the wrong thing: $(cat "$T/full.err")"
        note "unlock on a TPM with leftover objects ($leftovers): exit $rc: $(cat "$T/full.err")"
fi
[ "$(header_sum "$img")" = "$hi" ] || fail "unlock on a full TPM changed the LUKS2 header"

# ---- nothing was lost: after a reboot of the TPM (transient state gone) everything works ----
stop_swtpm tpm
tcti=$(start_swtpm tpm) || exit 1
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$img"
key_opens "$key" "$img" 0
key_opens "$key" "$fresh" 0
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$fresh" --unlock-key-file "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$fresh"
exit 0
