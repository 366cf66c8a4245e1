#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fault injection ("Hardening"): with tests/fault/fault-inject.so preloaded, one allocation, OpenSSL,
# tpm2-tss or libcryptsetup call made by libcvmseal or the cvmseal binary fails at a time, and each
# failure must be reported with its documented exit code, without a crash, a hang, or anything lost.
#
# For each operation (enroll on a TPM without an SRK, enroll --recovery-key on a TPM with one,
# unlock --test, unlock --print-key, attest verify of the real Azure evidence of ../shared), a run
# without a fault counts the calls of every interposed function (FAULT_LOG); then each call of each
# function fails in turn (tpm2-tss calls twice: a TCTI I/O error, then TSS2_ESYS_RC_MEMORY), all of
# them up to $FAULT_CAP calls of a function (3 x that for attest verify), else that many spread evenly
# from the first call to the last.  Each run must:
#   - end in time (timeout 20) without a signal or a sanitizer report, and not print "(null)";
#   - exit with the code that expected() below gives for that function: 6 for a TPM that fails to
#     answer, 1 for out of memory or a failed library call, 10 where a parser fails (the token or the
#     evidence cannot be read), 4 where a verification fails (a signature, a certificate chain);
#     0 only for the calls whose failure is tolerated by design (Esys_FlushContext, Esys_TR_Close:
#     cleanup whose result is ignored), or when the failed call was made again and succeeded (a
#     probe, such as the search for the certificate that signed an SNP report: the run logs more
#     calls of that function than the run without a fault did);
#   - for attest verify of evidence with a wrong SNP report or TPM quote signature (verify-bad-snp,
#     verify-bad-quote): never exit 0, whatever fails;
#   - lose nothing: after enroll, keyslot 0 still opens with the original key, and either there is
#     no cvmseal token and exactly the keyslots there were (no orphan keyslot), or one whole token
#     (`list --json` valid, its keyslot present, `unlock --test` works) and one keyslot more (two
#     with --recovery-key, whose printed key must open), and exit 0 always means a whole token;
#     after unlock, the LUKS2 header is unchanged, --print-key printed nothing unless it exited 0
#     (and then the key opens), and a plain unlock still works; no object or session stays loaded
#     in the swtpm (it has no resource manager) unless the fault hit FlushContext itself.
# Two double faults then check enroll's undo path: the token cannot be removed after the check of the
# new keyslot failed (asserted: never a token without its keyslot), and the new keyslot cannot be
# destroyed after the token could not be written (reported only: that orphan cannot be avoided).
# Prints a summary: the fault points per operation and their outcomes.
#
# Environment: CVMSEAL, FAULT_SHIM (set by meson); FAULT_CAP (default 30) and FAULT_JOBS (default 2)
# bound the time; CVMSEAL_TESTDATA (default ../shared/testdata beside the source tree); FAULT_RESULTS,
# a file that receives every run (operation, function, call, mode, exit code, verdict; tab-separated).
. "$(dirname "$0")/../integration/lib.sh"

: "${FAULT_SHIM:?FAULT_SHIM must point at fault-inject.so}"
[ -f "$FAULT_SHIM" ] || fail "no fault-injection shim at $FAULT_SHIM"
for tool in python3 timeout tpm2_getcap tpm2_evictcontrol tpm2_flushcontext; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, coreutils, tpm2-tools)"
done
# The interpreter itself: a version manager's shim can take half a second to start, once per run.
PY=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"
here=$(cd "$(dirname "$0")" && pwd)
data=${CVMSEAL_TESTDATA:-$here/../../../shared/testdata}
CAP=${FAULT_CAP:-30}
VCAP=${FAULT_CAP_VERIFY:-$((3 * CAP))} # attest verify needs no TPM: its runs are ten times cheaper
JOBS=${FAULT_JOBS:-2}
SECONDS=0

# With an ASan build, its runtime must come first, and its malloc wins over the shim's.
preload=$FAULT_SHIM
asan=$(ldd "$CVMSEAL" 2>/dev/null | awk '/libasan/ { print $3 }')
[ -n "$asan" ] && preload="$asan:$FAULT_SHIM"

# The shim's functions that neither libcvmseal nor the binary imports are never counted: say which.
if command -v nm >/dev/null; then
        lib=$(ldd "$CVMSEAL" 2>/dev/null | awk '/libcvmseal/ { print $3 }')
        imported=$(nm -D --undefined-only "$CVMSEAL" ${lib:+"$lib"} 2>/dev/null | awk '{ sub(/@.*/, "", $2); print $2 }' | sort -u)
        wrapped=$(nm -D --defined-only "$FAULT_SHIM" | awk '$2 == "T" { print $3 }' | sort -u)
        unused=$(comm -23 <(printf '%s\n' "$wrapped") <(printf '%s\n' "$imported") | tr '\n' ' ')
        [ -z "$unused" ] || note "interposed but not imported by cvmseal or libcvmseal (never counted): $unused"
fi

TPM_FUNCS='^(Esys_|Tss2_TctiLdr_)'
SANITIZER='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|MemorySanitizer|runtime error:'

# expected OP FUNCTION MODE: the exit codes allowed when FUNCTION fails during OP (MODE: io or memory
# for tpm2-tss, "-" otherwise).  From the mapping in the code: tpm2_rc_to_errno (a TCTI error is
# -ENODEV, exit 6; TSS2_ESYS_RC_MEMORY is -ENOMEM, exit 1; any TctiLdr failure is -ENODEV), luks.c
# (libcryptsetup's -EIO/-ENOMEM as is, exit 1), cli_exit_code (-ENOMEM, -EIO: 1; -EBADMSG: 10;
# -EBADE or a failed check: 4).
expected() {
        local op=$1 f=$2 mode=$3
        # Evidence whose signature is wrong fails whatever else fails: never 0, never a crash.
        case $op in verify-bad-*) echo "1 4 10"; return ;; esac
        case $f in
        # Cleanup whose failure is ignored on purpose: the operation succeeds.
        Esys_FlushContext | Esys_TR_Close) echo 0 ;;
        # The first call gives the object its authValue (the token's binding); the second overwrites
        # ESAPI's copy after the Unseal, and its result is ignored (the object is flushed next).
        Esys_TR_SetAuth) if [ "$mode" = memory ]; then echo "0 1"; else echo "0 6"; fi ;;
        Tss2_TctiLdr_Initialize) echo 6 ;;
        Esys_*) if [ "$mode" = memory ]; then echo 1; else echo 6; fi ;;
        # Reading a token or evidence that does not parse is "malformed"; marshalling our own
        # structures is not (an internal failure: 1).  Enroll reads back the token it has just
        # written: there a decoder failure is its own (1), not a malformed token.
        # provision reads the marker (input: 10) and then enrolls (its read-back: 1).
        # The pinned SRK (local configuration) is unmarshalled too: a failure there is this
        # machine's (1), in every operation.
        Tss2_MU_*_Unmarshal) case $op in enroll*) echo 1 ;; *) echo "1 10" ;; esac ;;
        Tss2_MU_*_Marshal) echo 1 ;;
        crypt_*) echo 1 ;;
        malloc | calloc | realloc | strdup | strndup) echo 1 ;;
        # OpenSSL calls that fail only when memory runs out.
        EVP_MD_CTX_new | EVP_KDF_CTX_new | EVP_PKEY_CTX_new_from_pkey | EVP_PKEY_CTX_new_from_name | \
        EVP_PKEY_dup | BIO_new_mem_buf | BN_bin2bn | ECDSA_SIG_new | i2d_ECDSA_SIG | OSSL_PARAM_BLD_new | \
        OSSL_PARAM_BLD_to_param | X509_STORE_new | X509_STORE_add_cert | X509_STORE_CTX_new_ex | \
        X509_STORE_CTX_init) echo 1 ;;
        # Decoders: their failure means the input does not parse (in enroll: the read-back, 1).
        EVP_DecodeBlock | OPENSSL_hexstr2buf_ex | d2i_X509 | PEM_read_bio_X509 | EVP_PKEY_fromdata_init | \
        EVP_PKEY_fromdata) case $op in enroll*) echo 1 ;; provision) echo "1 10" ;; *) echo 10 ;; esac ;;
        # Encoding: of a passphrase or a token in enroll (1); in unlock and verify also the canonical-form
        # check of base64_decode (10).
        EVP_EncodeBlock) case $op in enroll*) echo 1 ;; *) echo "1 10" ;; esac ;;
        # A verification that errors out fails its check.
        EVP_DigestVerify | X509_verify_cert) echo 4 ;;
        # Other OpenSSL operations (digests, HKDF, DRBG): an internal failure (1); during attest verify
        # it may also fail the check it serves (4).
        *) case $op in verify*) echo "1 4" ;; *) echo 1 ;; esac ;;
        esac
}

# ---- inputs ----

cat >"$T/check-enroll.py" <<'EOF'
# check-enroll.py DUMP LIST LIST_RC EXIT RECOVERY: the LUKS2 state after an enroll, from
# `cryptsetup luksDump --dump-json-metadata` and `cvmseal list --json`; prints one problem a line,
# or "TOKEN" when there is one whole cvmseal token.
import json, sys
dump = json.load(open(sys.argv[1]))
list_rc, rc, recovery = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
slots = sorted(dump["keyslots"], key=int)
tokens = {k: v for k, v in dump["tokens"].items() if v.get("type") == "cvmseal"}
problems = []
if not tokens:
    if slots != ["0"]:
        problems.append("orphan keyslot: keyslots %s and no cvmseal token" % slots)
    if rc == 0:
        problems.append("exit 0 but no cvmseal token")
else:
    if len(tokens) != 1:
        problems.append("%d cvmseal tokens" % len(tokens))
    for tid, t in tokens.items():
        ks = t.get("keyslots", [])
        if len(ks) != 1 or ks[0] not in dump["keyslots"]:
            problems.append("half token: token %s names keyslots %s, the keyslots are %s" % (tid, ks, slots))
    try:
        listed = json.load(open(sys.argv[2]))["tokens"] if list_rc == 0 else None
    except ValueError:
        listed = None
    if listed is None:
        problems.append("cvmseal list --json failed (exit %d)" % list_rc)
    elif not all(x.get("valid") is True for x in listed if x.get("type") == "cvmseal"):
        problems.append("broken token: list --json says %s" % json.dumps(listed))
    want = 3 if recovery and rc == 0 else 2
    if len(slots) != want:
        problems.append("keyslots %s with one token after exit %d, expected %d keyslots" % (slots, rc, want))
for p in problems:
    print(p)
if tokens and not problems:
    print("TOKEN")
EOF

verify_ok=
if [ -f "$data/azure/az-snp-vtpm-evidence-v1.json" ] && [ -f "$data/snp/certs/ask_ark_milan.pem" ]; then
        "$PY" "$here/../attest/trustee-to-evidence.py" "$data/azure/az-snp-vtpm-evidence-v1.json" \
                --chain "$data/snp/certs/ask_ark_milan.pem" >"$T/evidence.json" 2>"$T/conv.err" \
                || fail "trustee-to-evidence.py: $(cat "$T/conv.err")"
        echo '{"version": 1, "require": ["snp", "azure-hcl", "tpm-quote"]}' >"$T/policy.json"
        # The same evidence with one bit of a signature flipped: the SNP report's (r, in the HCL report
        # after its 32-byte header, at 0x2A0 of the SNP report), and the TPM quote's (its last byte).
        # No fault may make either pass.
        "$PY" - "$T" <<'EOF' || fail "cannot make the tampered evidence"
import base64, json, sys
t = sys.argv[1]
e = json.load(open(t + "/evidence.json"))
hcl = bytearray(base64.b64decode(e["azure-hcl-report"]))
hcl[32 + 0x2A0] ^= 1
json.dump(dict(e, **{"azure-hcl-report": base64.b64encode(bytes(hcl)).decode()}),
          open(t + "/evidence-bad-snp.json", "w"))
sig = bytearray(base64.b64decode(e["tpm-quote"]["signature"]))
sig[-1] ^= 1
e["tpm-quote"]["signature"] = base64.b64encode(bytes(sig)).decode()
json.dump(e, open(t + "/evidence-bad-quote.json", "w"))
EOF
        verify_ok=1
else
        note "no Azure evidence under $data: attest verify is not exercised"
fi

# ---- one operation's fault matrix, in worker directory $W with TPM $tcti ----

# bad WHAT: records a failure of the current run (with its reproducer); the matrix goes on.
# With $report_only set, it is only reported (in the notes).
bad() {
        local repro="FAULT_FUNCTION=$f FAULT_CALL=$n" sink=failures
        [ -n "$report_only" ] && sink=notes
        [ -n "$spec" ] && repro="FAULT_SPEC=$spec"
        [ "$mode" = memory ] && repro+=" FAULT_TSS_RC=memory"
        # operation, fault point, problem, reproducer (one line each: newlines of messages become spaces)
        local point=${spec:-$f#$n}
        [ "$mode" = - ] || point+="/$mode"
        printf '%s\t%s\t%s\t%s\n' "$op" "$point" "$(tr '\n\t' '  ' <<<"$*")" \
                "LD_PRELOAD=$FAULT_SHIM $repro ${cmd[*]}" >>"$W/$sink"
        [ -n "$report_only" ] && verdict=noted || verdict=FAIL
}

# The TPM's loaded objects and sessions (it has no resource manager): none may be left, except when
# the fault stopped a FlushContext.
tpm_leftovers() {
        local h
        h=$(TPM2TOOLS_TCTI=$tcti tpm2_getcap handles-transient 2>&1; TPM2TOOLS_TCTI=$tcti tpm2_getcap handles-loaded-session 2>&1)
        [ -z "$h" ] && return 0
        [ "$f" = Esys_FlushContext ] || bad "left in the TPM: $(tr '\n' ' ' <<<"$h")"
        TPM2TOOLS_TCTI=$tcti tpm2_flushcontext -t >/dev/null 2>&1
        TPM2TOOLS_TCTI=$tcti tpm2_flushcontext -l >/dev/null 2>&1
        TPM2TOOLS_TCTI=$tcti tpm2_flushcontext -s >/dev/null 2>&1
}

op_setup() {
        case $op in
        enroll | enroll-recovery)
                make_image "$W/pristine" "$W/key" 20M
                cmd=("$CVMSEAL" --tcti "$tcti" enroll "$W/img" --unlock-key-file "$W/key")
                if [ "$op" = enroll-recovery ]; then
                        cmd+=(--recovery-key)
                        # This one runs with the SRK in place (no CreatePrimary, no EvictControl).
                        cp --sparse=always "$W/pristine" "$W/img"
                        "$CVMSEAL" --tcti "$tcti" enroll "$W/img" --unlock-key-file "$W/key" >/dev/null 2>"$W/setup.err" \
                                || fail "$op: setup enroll: $(cat "$W/setup.err")"
                fi ;;
        unlock-test | unlock-print-key)
                make_image "$W/img" "$W/key" 20M
                "$CVMSEAL" --tcti "$tcti" enroll "$W/img" --unlock-key-file "$W/key" >/dev/null 2>"$W/setup.err" \
                        || fail "$op: setup enroll: $(cat "$W/setup.err")"
                # The LUKS2 header areas (what header_sum covers), to compare with cmp: faster.
                head -c 16777216 "$W/img" >"$W/header"
                if [ "$op" = unlock-test ]; then
                        cmd=("$CVMSEAL" --tcti "$tcti" unlock --test "$W/img")
                else
                        cmd=("$CVMSEAL" --tcti "$tcti" unlock --print-key "$W/img")
                fi ;;
        provision)
                # A pipeline image with its first-boot marker (no attestation policy: the TPM and
                # libcryptsetup paths of the first boot).
                head -c 1M /dev/urandom >"$W/raw"
                [ -e "$W/key" ] || head -c 32 /dev/urandom | base64 | tr -d '\n' >"$W/key"
                rm -f "$W/pristine"
                "$CVMSEAL" image encrypt "$W/raw" "$W/pristine" --unlock-key-file "$W/key" --fast-kdf \
                        --tpm2-pcrs 7 >/dev/null 2>"$W/setup.err" || fail "$op: setup image encrypt: $(cat "$W/setup.err")"
                cmd=("$CVMSEAL" --tcti "$tcti" provision "$W/img") ;;
        verify)
                cmd=("$CVMSEAL" attest verify --policy "$T/policy.json" "$T/evidence.json") ;;
        verify-bad-snp | verify-bad-quote)
                cmd=("$CVMSEAL" attest verify --policy "$T/policy.json" "$T/evidence-${op#verify-}.json") ;;
        esac
}

op_prepare() {
        case $op in
        enroll)
                cp --sparse=always "$W/pristine" "$W/img"
                # No SRK: the run creates and persists it (CreatePrimary, EvictControl).
                TPM2TOOLS_TCTI=$tcti tpm2_evictcontrol -C o -c 0x81000001 >/dev/null 2>&1 || true ;;
        enroll-recovery | provision)
                cp --sparse=always "$W/pristine" "$W/img" ;;
        esac
}

# op_check: what must hold after the run (rc, $W/out, $W/err).
op_check() {
        local state list_rc
        [[ $op == verify* ]] || tpm_leftovers
        case $op in
        enroll | enroll-recovery)
                cryptsetup open --test-passphrase --key-slot 0 --key-file "$W/key" "$W/img" 2>/dev/null \
                        || bad "the original key no longer opens keyslot 0"
                cryptsetup luksDump --dump-json-metadata "$W/img" >"$W/dump.json" 2>"$W/dump.err" \
                        || { bad "luksDump fails: $(cat "$W/dump.err")"; return; }
                "$CVMSEAL" list --json "$W/img" >"$W/list.json" 2>/dev/null && list_rc=0 || list_rc=$?
                state=$("$PY" "$T/check-enroll.py" "$W/dump.json" "$W/list.json" "$list_rc" "$rc" \
                        "$([ "$op" = enroll-recovery ] && echo 1 || echo 0)" 2>&1) || state="check-enroll.py: $state"
                while IFS= read -r line; do
                        [ -n "$line" ] && [ "$line" != TOKEN ] && bad "$line"
                done <<<"$state"
                if [ "$state" = TOKEN ]; then
                        "$CVMSEAL" --tcti "$tcti" unlock --test "$W/img" >/dev/null 2>"$W/u.err" \
                                || bad "the token left by the run does not unlock: $(cat "$W/u.err")"
                fi
                if [ "$op" = enroll-recovery ] && [ "$rc" = 0 ]; then
                        head -n 1 "$W/out" | tr -d '\n' | cryptsetup open --test-passphrase --key-file - "$W/img" 2>/dev/null \
                                || bad "the printed recovery key opens no keyslot"
                fi ;;
        unlock-test | unlock-print-key)
                cmp -s -n 16777216 "$W/img" "$W/header" || bad "the LUKS2 header changed"
                if [ "$op" = unlock-print-key ]; then
                        if [ "$rc" = 0 ]; then
                                cryptsetup open --test-passphrase --key-file - "$W/img" <"$W/out" 2>/dev/null \
                                        || bad "the printed key opens no keyslot"
                        elif [ -s "$W/out" ]; then
                                bad "exit $rc, yet --print-key wrote on stdout"
                        fi
                fi
                "$CVMSEAL" --tcti "$tcti" unlock --test "$W/img" >/dev/null 2>"$W/u.err" \
                        || bad "a plain unlock fails after the run: $(cat "$W/u.err")" ;;
        provision)
                # Whatever failed, the key file still opens - until the rekey has started (then the
                # volume opens only with a passphrase of both keys: the token's, checked below) - and
                # the next boot's provision (no fault) finishes the first boot: one cvmseal token that
                # unseals, no marker.
                if cryptsetup luksDump "$W/img" 2>/dev/null | grep -q "reencrypt"; then
                        [ "$rc" = 0 ] || bad "exit $rc, yet the rekey started"
                else
                        cryptsetup open --test-passphrase --key-slot 0 --key-file "$W/key" "$W/img" 2>/dev/null \
                                || bad "the key file no longer opens keyslot 0"
                fi
                "$CVMSEAL" --tcti "$tcti" provision "$W/img" >/dev/null 2>"$W/p.err" \
                        || bad "the next provision does not finish the first boot: $(cat "$W/p.err")"
                "$CVMSEAL" --tcti "$tcti" unlock --test "$W/img" >/dev/null 2>"$W/u.err" \
                        || bad "after the next provision the token does not unlock: $(cat "$W/u.err")"
                cryptsetup luksDump --dump-json-metadata "$W/img" >"$W/dump.json" 2>/dev/null \
                        || { bad "luksDump fails"; return; }
                "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
types = [t["type"] for t in d["tokens"].values()]
sys.exit(0 if types.count("cvmseal") == 1 and "cvmseal-provision" not in types else 1)' "$W/dump.json" \
                        || bad "after the next provision: not exactly one cvmseal token and no marker: $(tr -d '\n' <"$W/dump.json" | head -c 600)" ;;
        verify*)
                [ "$rc" = 0 ] || ! grep -qx pass "$W/out" || bad "exit $rc, yet the verdict printed is pass" ;;
        esac
}

# run_one: one run of "${cmd[@]}" with the faults of $f/$n/$mode (or $spec); sets rc and verdict.
run_one() {
        local allowed calls
        verdict=ok
        op_prepare
        rm -f "$W/run.log"
        if [ -n "$spec" ]; then
                FAULT_SPEC=$spec FAULT_LOG=$W/run.log LD_PRELOAD=$preload timeout 20 "${cmd[@]}" >"$W/out" 2>"$W/err" </dev/null \
                        && rc=0 || rc=$?
        else
                FAULT_FUNCTION=$f FAULT_CALL=$n FAULT_TSS_RC=${mode/-/io} FAULT_LOG=$W/run.log LD_PRELOAD=$preload \
                        timeout 20 "${cmd[@]}" >"$W/out" 2>"$W/err" </dev/null && rc=0 || rc=$?
        fi
        if [ "$rc" = 124 ]; then
                bad "hangs (killed after 20 s)"
        elif [ "$rc" -ge 128 ]; then
                bad "crashes (exit $rc, signal $((rc - 128))): $(tail -n 3 "$W/err")"
        fi
        grep -Eq "$SANITIZER" "$W/err" && bad "sanitizer report: $(grep -Em 3 "$SANITIZER" "$W/err")"
        grep -q '(null)' "$W/err" && bad "prints a NULL string: $(grep -m 1 '(null)' "$W/err")"
        if [ -n "$spec" ]; then
                [ "$rc" != 0 ] || bad "exit 0 with the faults $spec"
        else
                if ! grep -q "^$f FAULT\$" "$W/run.log" 2>/dev/null; then
                        # Not reached: the calls differ from the counting run, which must not happen.
                        bad "call $n of $f was not reached (exit $rc)"
                else
                        allowed=$(expected "$op" "$f" "$mode")
                        calls=$(grep -Ec "^$f( FAULT)?\$" "$W/run.log")
                        if [ "$rc" = 0 ] && [[ " $allowed " != *" 0 "* ]] && [[ $op != verify-bad-* ]] &&
                           ((calls > ${base[$f]:-0})); then
                                # Tolerated: the failed call was made again, and succeeded (a probe
                                # whose failure only means "try the other way").  The state checks
                                # below still apply.
                                verdict=retried
                        elif [[ " $allowed " != *" $rc "* ]]; then
                                bad "exit $rc, expected ${allowed// / or }: $(head -c 300 "$W/err"; [ -s "$W/err" ] || head -c 300 "$W/out")"
                        fi
                fi
        fi
        op_check
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "${spec:-$f}" "$n" "$mode" "$rc" "$verdict" >>"$W/results"
}

# indexes COUNT CAP: the call indexes to fail: all of 1..COUNT, or CAP of them spread evenly from the
# first to the last.
indexes() {
        local count=$1 cap=$2 k
        if ((count <= cap || cap < 2)); then
                seq 1 "$count"
        else
                for ((k = 0; k < cap; k++)); do
                        echo $((1 + k * (count - 1) / (cap - 1)))
                done
        fi
}

run_op() {
        local counts fname cnt i modes cap=$CAP want=0
        [[ $op == verify* ]] && cap=$VCAP
        [[ $op == verify-bad-* ]] && want=4
        op_setup
        # The counting run: no fault.
        f='' n=0 mode=- spec=''
        op_prepare
        FAULT_LOG=$W/count.log LD_PRELOAD=$preload timeout 20 "${cmd[@]}" >"$W/out" 2>"$W/err" </dev/null && rc=0 || rc=$?
        [ "$rc" = "$want" ] || fail "$op: the run without a fault exits $rc, not $want: $(cat "$W/err" "$W/out")"
        grep -q '^crypt_init$' "$W/count.log" || [[ $op == verify* ]] || fail "$op: the shim counted no crypt_init call"
        [ -n "$asan" ] || grep -q '^malloc$' "$W/count.log" || fail "$op: the shim counted no malloc call"
        counts=$(sort "$W/count.log" | uniq -c | awk '{ print $2, $1 }')
        rm -f "$W/count.log"
        printf '%s\n' "$counts" | sed "s/^/$op /" >>"$W/counts"
        unset base
        declare -gA base=()
        while read -r fname cnt; do
                [ -n "$fname" ] && base[$fname]=$cnt
        done <<<"$counts"

        while read -r fname cnt; do
                [ -n "$fname" ] || continue
                modes=-
                [[ $fname =~ $TPM_FUNCS ]] && modes="io memory"
                for i in $(indexes "$cnt" "$cap"); do
                        for mode in $modes; do
                                f=$fname n=$i spec=''
                                run_one
                        done
                done
        done <<<"$counts"

        if [ "$op" = enroll ]; then
                # Double faults on enroll's undo path.  The new keyslot's check fails, then removing the
                # token fails: the keyslot must stay with its token (a token never outlives its keyslot).
                f=- n=0 mode=- spec=crypt_activate_by_passphrase:1,crypt_token_json_set:2
                run_one
                # The token cannot be written, then its keyslot cannot be destroyed: an orphan keyslot
                # cannot be avoided; only reported.
                spec=crypt_token_json_set:1,crypt_keyslot_destroy:1 report_only=1
                run_one
                spec='' report_only=''
        fi
}

# worker ID OPS...: runs the operations in turn, with its own swtpm and directory.
worker() {
        local id=$1
        shift
        W=$T/work$id
        mkdir -p "$W"
        : >"$W/results"
        : >"$W/failures"
        : >"$W/counts"
        : >"$W/notes"
        report_only=''
        tcti=$(cat "$T/tcti$id")
        # Each worker's swtpm is another machine: its own configuration (its pinned SRK).
        export CVMSEAL_CONFDIR=$W/conf
        for op in "$@"; do
                run_op
        done
}

ops=(enroll enroll-recovery provision unlock-test unlock-print-key)
[ -n "$verify_ok" ] && ops+=(verify verify-bad-snp verify-bad-quote)
((JOBS < 1)) && JOBS=1
((JOBS > ${#ops[@]})) && JOBS=${#ops[@]}
# The operations go to the workers round-robin, the heavy ones (enroll) first.
declare -a assign
for i in "${!ops[@]}"; do
        assign[i % JOBS]+=" ${ops[i]}"
done
wpids=()
for ((j = 0; j < JOBS; j++)); do
        start_swtpm "tpm$j" >"$T/tcti$j" || exit 1
        # shellcheck disable=SC2086
        worker "$j" ${assign[j]} &
        wpids+=($!)
done
status=0
for p in "${wpids[@]}"; do
        wait "$p" || status=1
done
[ "$status" = 0 ] || fail "a worker failed before its matrix was done (see above)"

# ---- summary ----
cat "$T"/work*/results >"$T/results"
cat "$T"/work*/failures >"$T/failures"
cat "$T"/work*/counts >"$T/counts"
cat "$T"/work*/notes >"$T/notes"
[ -n "${FAULT_RESULTS:-}" ] && cp "$T/results" "$FAULT_RESULTS"

# report FILE: the problems of FILE, grouped by operation and message (the run's paths taken out),
# with the fault points that show each one and the reproducer of the first.
report() {
        "$PY" - "$1" "$T" <<'EOF'
import collections, re, sys
groups = collections.OrderedDict()
for line in open(sys.argv[1]):
    op, point, problem, repro = line.rstrip("\n").split("\t")
    problem = re.sub(re.escape(sys.argv[2]) + r"/work\d+/", "", problem)[:300]
    groups.setdefault((op, problem), []).append((point, repro))
for (op, problem), runs in groups.items():
    print("  %s: %s\n    at %d fault point(s): %s\n    reproduce: %s" % (
        op, problem, len(runs), " ".join(p for p, _ in runs), runs[0][1]))
EOF
}

[ -s "$T/notes" ] && { echo "NOTES (reported, not failures):"; report "$T/notes"; }
[ -s "$T/failures" ] && { echo "FAILURES:"; report "$T/failures"; }
echo "calls counted in the run without a fault (function:count):"
awk '{ l[$1] = l[$1] " " $2 ":" $3 } END { for (op in l) print "  " op ":" l[op] }' "$T/counts" | sort
echo "fault injection: $(wc -l <"$T/results") runs in ${SECONDS} s (cap $CAP calls per function, $VCAP for verify; $JOBS jobs)"
for op in "${ops[@]}"; do
        awk -F'\t' -v op="$op" '
                $1 == op { n++; fn[$2] = 1; ex[$5]++; if ($6 == "FAIL") bad++; if ($6 == "retried") re++ }
                END {
                        nf = 0; for (k in fn) nf++
                        s = ""; for (k in ex) s = s sprintf(" exit %s: %d,", k, ex[k])
                        printf "  %-17s %3d fault points over %2d functions;%s retried: %d, wrong: %d\n", op, n, nf, s, re + 0, bad + 0
                }' "$T/results"
done
if [ -s "$T/failures" ]; then
        fail "fault injection: $(wc -l <"$T/failures") problems in $(awk -F'\t' '{ print $1, $2 }' "$T/failures" | sort -u | wc -l) runs (listed above)"
fi
exit 0
