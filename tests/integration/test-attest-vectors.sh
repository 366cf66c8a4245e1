#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `cvmseal attest verify` against the real test vectors of ../shared/testdata (README.md there):
# reports and quotes made by AMD and Intel CPUs, Azure's paravisor vTPM and real UEFI firmware.
# Every vector verifies as the README says, and is rejected after a one-byte change in a region that
# is signed (or hashed) (exit 4, the check named in --json "failures"), and when truncated (exit 10).
#
#   SNP (milan-gosevguest, -virtee, -trustee)  pass with the VCEK and the Milan ASK/ARK and the nonce
#                 their REPORT_DATA carries; gosevguest's DEBUG guest policy fails "snp-debug" without
#                 allow-debug; a byte changed below 0x2A0, or in R or S, fails "snp-signature" (CHIP_ID
#                 and REPORTED_TCB also fail the VCEK's extensions, REPORT_DATA "freshness"); truncated:
#                 10; the Genoa ASK/ARK fails "snp-chain" only; another chip's VCEK fails
#                 "snp-signature" and "snp-vcek-chip-id"; a bare report is fresh only when REPORT_DATA
#                 is the nonce, zero-padded ("freshness"; no nonce at all fails it too); both hwID
#                 encodings of a VCEK parse.
#   VLEK          before and after the VLEK's expiry the only failure is "snp-chain" (no ASVK here):
#                 the signature verifies; a changed byte adds "snp-signature".
#   TDX (SPR, Azure TD)  pass at 2025-06-01; a byte of the header or TD report body fails
#                 "tdx-signature" (REPORT_DATA "freshness" too); the QE report's data or signer fail
#                 the QE checks; truncated: 10; at 2040 "tdx-chain".
#   Azure SNP vTPM (trustee v0 and v1)  pass (the quote by HCLAkPub over the challenge makes the HCL
#                 report fresh); the runtime claims, the HCLAkPub, the HCL's SNP report, the quote
#                 signature, a PCR value, the nonce, the policy PCRs each fail their own check (and
#                 "freshness" when the quote no longer answers the nonce by HCLAkPub); the HCL
#                 truncated: 10; a foreign snp-report fails "hcl-snp".
#   HCL alone     kinvolk's SNP HCL: the binding holds, no VCEK ("snp-chain"), nothing makes it fresh
#                 (no user-data, no quote); the TDX HCL: the binding holds, nothing signed to check
#                 ("evidence"), its user-data (64 zero bytes: nothing was written to NV 0x01400002)
#                 is not the nonce ("freshness"), an all-zero nonce proves nothing; a foreign TD quote
#                 fails "hcl-tdx-quote"; a changed claim byte fails "hcl-binding" for both.
#   event logs    replayed, they give tpm2_eventlog's sha256 PCRs (no "replays to" failure, the event
#                 count agrees), yet "event-log" fails: no quote by a key that hardware vouches for
#                 covers those PCRs; a wrong PCR value or a changed digest in the log fails
#                 "event-log" naming the PCR; truncated: 10.
#   replay        (issue 11, item 4: the attacker holds the disk and answers for the vTPM) a genuine
#                 but old SNP report (trustee's, at a fixed time) with a quote over the fresh nonce by
#                 a key of the attacker's: "freshness" and "tpm-quote-ak", exit 4, and the quote's PCRs
#                 vouch for nothing (policy "pcrs" and the event log fail); the real Azure evidence with
#                 ak-public of another key, with a quote forged by another key, or without its HCL
#                 report: "tpm-quote-ak".
#   malformed     evidence or policy that is not (only) JSON, empty, with an unknown member, another
#                 version, a wrong type or bad base64: 10; a missing file: 1.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=${CVMSEAL_TESTDATA:-$ROOT/../shared/testdata}
[ -d "$D" ] || skip "no test vectors: $D (\$CVMSEAL_TESTDATA, else ../shared/testdata beside the project) does not exist"
D=$(cd "$D" && pwd)
command -v python3 >/dev/null || skip "python3 is not installed"
command -v openssl >/dev/null || skip "openssl is not installed (it signs the forged quotes)"
# The interpreter itself, not a version manager's shim (slow to start).
PY=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"
ME=$ROOT/tests/attest/make-evidence.py
TE=$ROOT/tests/attest/trustee-to-evidence.py
[ -f "$ME" ] && [ -f "$TE" ] || fail "$ME or $TE is missing"

VECTORS="snp/milan-gosevguest-report.bin snp/milan-gosevguest-vcek.der snp/milan-virtee-report.bin
        snp/milan-virtee-vcek.der snp/milan-trustee-report.bin snp/milan-trustee-vcek.der
        snp/vlek-trustee-report.bin snp/vlek-trustee-vlek.der snp/vcek-hwid-legacy-encoding.der
        snp/vcek-hwid-new-encoding.der snp/certs/ask_ark_milan.pem snp/certs/ask_ark_genoa.pem
        tdx/tdx-quote-v4-spr.dat tdx/az-td-quote-v4.dat
        azure/az-snp-vtpm-evidence-v0.json azure/az-snp-vtpm-evidence-v1.json azure/az-tdx-hcl-report.bin
        azure/az-snp-hcl-report-kinvolk.bin"
EVENTLOGS="arch-linux bootorder moklisttrusted postcode uefiaction uefiservices uefivar"
for f in $VECTORS; do
        [ -f "$D/$f" ] || skip "the test vector $D/$f is absent"
done
for l in $EVENTLOGS; do
        [ -f "$D/eventlog/event-$l.bin" ] && [ -f "$D/eventlog/expected/event-$l.bin.yaml" ] \
                || skip "the event log $D/eventlog/event-$l.bin or its expected output is absent"
done
# The vectors are the ground truth only if they are the ones listed (SHA256SUMS lists itself, with
# the digest of an empty file: leave that line out).
if [ -f "$D/SHA256SUMS" ]; then
        (cd "$D" && grep -v ' \./SHA256SUMS$' SHA256SUMS | sha256sum --check --quiet --strict) >"$T/sums" 2>&1 \
                || fail "the test vectors differ from $D/SHA256SUMS: $(cat "$T/sums")"
fi

# -I -S: no user or site packages (make-evidence.py uses the standard library), and a quick start.
me() { "$PY" -I -S "$ME" "$@"; }
# job NAME build|edit ARGS...: queues $T/NAME.json = make-evidence.py build|edit ARGS...; run_jobs
# makes every queued document in one run, in order.
: >"$T/jobs"
job() {
        local name=$1 IFS=$'\t'
        shift
        printf '%s\t%s\n' "$T/$name.json" "$*" >>"$T/jobs"
}
run_jobs() {
        me batch <"$T/jobs" 2>"$T/me.err" || fail "make-evidence.py batch: $(cat "$T/me.err")"
        : >"$T/jobs"
}
# policy NAME JSON: $T/NAME.policy
policy() { printf '%s\n' "$2" >"$T/$1.policy"; }
zeros() { printf "%0${1}d" 0; }

# One make-evidence.py reads every verdict (`serve`): a few hundred interpreter starts add up.
coproc VERDICTS { "$PY" -I -S "$ME" serve 2>"$T/serve.err"; }
_pids+=("$VERDICTS_PID")
# read_verdict FILE: what `make-evidence.py verdict FILE` prints.
read_verdict() {
        local line v=
        printf '%s\n' "$1" >&"${VERDICTS[1]}" || fail "make-evidence.py serve is gone: $(cat "$T/serve.err")"
        while IFS= read -r line <&"${VERDICTS[0]}"; do
                [ "$line" = . ] && { printf '%s' "$v"; return 0; }
                v+=$line$'\n'
        done
        fail "make-evidence.py serve is gone: $(cat "$T/serve.err")"
}

# verify RC POLICY EVIDENCE: `cvmseal --json attest verify` exits RC; with 0 or 4 the verdict is
# "pass" or "fail" accordingly, $names holds the failed checks (sorted, each once) and $claims the
# claims (NAME=VALUE lines); with 10 there is no verdict, only the error.
names= claims= last=
verify() {
        local want=$1 v
        names= claims= last="$3 against $2"
        expect_exit "$want" "$CVMSEAL" --json attest verify --policy "$T/$2.policy" "$T/$3.json"
        case $want in
        0 | 4)
                printf '%s\n' "$out" >"$T/verdict.json"
                read_verdict "$T/verdict.json" >"$T/verdict.txt"
                v=$(cat "$T/verdict.txt")
                [ "$(head -n1 <<<"$v")" != error ] || fail "$last: not a verdict: $(sed -n 2p <<<"$v"): $out"
                names=$(sed -n 2p <<<"$v")
                claims=$(sed -n '3,$p' <<<"$v")
                if [ "$want" = 0 ]; then
                        [ "$(head -n1 <<<"$v")" = pass ] && [ -z "$names" ] || fail "$last: exit 0 but not a clean pass: $out"
                else
                        [ "$(head -n1 <<<"$v")" = fail ] && [ -n "$names" ] || fail "$last: exit 4 but no failed check: $out"
                fi
                ;;
        10)
                grep -q '"verdict"' <<<"$out" && fail "$last: malformed, yet a verdict: $out"
                expect_in "$out" '"exit-code": 10' "$last: the --json error"
                ;;
        esac
}
# exactly CHECK...: the failed checks are exactly these (each may fail more than once).
exactly() {
        local want
        want=$(printf '%s\n' "$@" | LC_ALL=C sort -u | tr '\n' ' ')
        [ "${names:+$names }" = "$want" ] || fail "$last: the failed checks are '$names', expected exactly '$*': $out"
}
has() {
        local c
        for c; do
                [[ " $names " == *" $c "* ]] || fail "$last: '$c' did not fail (failed: '$names'): $out"
        done
}
lacks() {
        local c
        for c; do
                [[ " $names " != *" $c "* ]] || fail "$last: '$c' failed (failed: '$names'): $out"
        done
}
# claim NAME VALUE: the verdict's claims.NAME (tcb.snp: a member of an object) is VALUE (strings
# bare, the rest compact JSON; "" for absent); claim NAME: there is such a claim.
claim() {
        local got
        got=$(grep -m1 "^$1=" <<<"$claims") || got=
        got=${got#"$1="}
        if [ $# -lt 2 ]; then
                [ -n "$got" ] || fail "$last: no claim $1: $out"
        else
                [ "$got" = "$2" ] || fail "$last: claims.$1 is '$got', expected '$2'"
        fi
}

MILAN=$D/snp/certs/ask_ark_milan.pem
GENOA=$D/snp/certs/ask_ark_genoa.pem

# ---- SNP reports signed by a VCEK ----
SNP_FLIPS="0x08 0x90 0x29f"        # the guest policy, MEASUREMENT, the last signed byte
SNP_SIG_FLIPS="0x2a0 0x2e8 0x2d0"  # R, S, and a high byte of R that must be zero
for n in gosevguest virtee trustee; do
        job "$n" build --snp-report "$D/snp/milan-$n-report.bin" --cert-der "$D/snp/milan-$n-vcek.der" --cert-pem "$MILAN" \
                --nonce-report-data
        job "$n-nononce" build --snp-report "$D/snp/milan-$n-report.bin" --cert-der "$D/snp/milan-$n-vcek.der" \
                --cert-pem "$MILAN"
        for off in $SNP_FLIPS $SNP_SIG_FLIPS 0x50 0x180 0x1a0; do
                job "$n-flip-$off" edit "$T/$n.json" --flip "snp-report:$off"
        done
        job "$n-short" edit "$T/$n.json" --truncate snp-report:1000
        job "$n-genoa" build --snp-report "$D/snp/milan-$n-report.bin" --cert-der "$D/snp/milan-$n-vcek.der" \
                --cert-pem "$GENOA" --nonce-report-data
done
# Another chip's VCEK (with the same TCB).
job virtee-other-vcek build --snp-report "$D/snp/milan-virtee-report.bin" --cert-der "$D/snp/milan-trustee-vcek.der" \
        --cert-pem "$MILAN" --nonce-report-data
for nonce in 0102030405 01020304050000 0102030406; do
        job "gosevguest-nonce-$nonce" edit "$T/gosevguest.json" --set "nonce=\"$nonce\""
done
# The two encodings of the hwID extension (raw 64 bytes; a DER OCTET STRING around them): test
# certificates that sign nothing and chain to nothing, whose hwID is 00 01 .. 3f.
for enc in legacy new; do
        cert=$D/snp/vcek-hwid-$enc-encoding.der
        hwid=$(me hwid "$cert") || fail "no hwID in $cert"
        [ "$hwid" = "$(printf '%02x' $(seq 0 63))" ] || fail "the hwID of $cert is $hwid"
        job "hwid-$enc" build --snp-report "$D/snp/milan-trustee-report.bin" --cert-der "$cert" --cert-pem "$MILAN" \
                --nonce-report-data
        job "hwid-$enc-match" edit "$T/hwid-$enc.json" --put "snp-report:0x1a0:$hwid"
done
run_jobs

policy snp '{"version":1,"require":["snp"],"snp":{"allow-debug":true}}'
policy snp-nodebug '{"version":1,"require":["snp"]}'
for n in gosevguest virtee trustee; do
        verify 0 snp "$n"
        claim platform snp
        claim signing-key vcek
        claim version 2
        claim vmpl 0
        for off in $SNP_FLIPS $SNP_SIG_FLIPS; do
                verify 4 snp "$n-flip-$off"
                exactly snp-signature
        done
        verify 4 snp "$n-flip-0x180" # REPORTED_TCB: no longer the VCEK's
        exactly snp-signature snp-vcek-tcb
        verify 4 snp "$n-flip-0x1a0" # CHIP_ID: no longer the VCEK's hwID
        exactly snp-signature snp-vcek-chip-id
        verify 4 snp "$n-flip-0x50" # REPORT_DATA: no longer the nonce
        exactly snp-signature freshness
        verify 10 snp "$n-short"
        verify 4 snp "$n-genoa"
        exactly snp-chain
        verify 4 snp "$n-nononce" # nothing to tell a fresh report from a replayed one
        exactly freshness
        expect_in "$out" '"freshness: no nonce' "$n without a nonce"
done
# gosevguest's guest policy is 0xB0000: DEBUG (bit 19) set; the others' is not.
verify 4 snp-nodebug gosevguest
exactly snp-debug
claim debug true
for n in virtee trustee; do
        verify 0 snp-nodebug "$n"
        claim debug false
done
expect_exit 4 "$CVMSEAL" attest verify --policy "$T/snp-nodebug.policy" "$T/gosevguest.json"
expect_in "$out" '^fail$' "the plain verdict"
expect_in "$out" '^  snp-debug: ' "the plain verdict"
verify 0 snp virtee
claim tcb.bootloader 3 # REPORTED_TCB 0x7308000000000003
claim tcb.tee 0
claim tcb.snp 8
claim tcb.microcode 115
verify 4 snp virtee-other-vcek
exactly snp-signature snp-vcek-chip-id
# A bare report carries the nonce in REPORT_DATA: gosevguest's is 0102030405, zero-padded.
verify 0 snp gosevguest-nonce-0102030405
verify 0 snp gosevguest-nonce-01020304050000
verify 4 snp gosevguest-nonce-0102030406
exactly freshness
expect_in "$out" "\"freshness: the SNP report's REPORT_DATA is not the nonce" "a bare report for another nonce"
policy snp-nonce '{"version":1,"require":["snp"],"snp":{"allow-debug":true},"nonce":"0102030406"}'
verify 4 snp-nonce gosevguest
exactly freshness
for enc in legacy new; do
        verify 4 snp "hwid-$enc"
        has snp-vcek-chip-id
        expect_in "$out" "snp-vcek-chip-id: the VCEK's hwID differs" "hwid-$enc"
        verify 4 snp "hwid-$enc-match" # CHIP_ID set to the certificate's hwID
        has snp-signature
        lacks snp-vcek-chip-id
done

# ---- the VLEK report (v3, VMPL 1): no ASVK in the testdata, so the chain cannot hold ----
job vlek build --snp-report "$D/snp/vlek-trustee-report.bin" --cert-der "$D/snp/vlek-trustee-vlek.der" --cert-pem "$MILAN" \
        --nonce-report-data
for off in 0x50 0x90 0x29f; do
        job "vlek-flip-$off" edit "$T/vlek.json" --flip "snp-report:$off"
done
job vlek-short edit "$T/vlek.json" --truncate snp-report:1000
run_jobs
policy vlek-2025 '{"version":1,"require":["snp"],"snp":{"allow-debug":true},"time":"2025-06-01T00:00:00Z"}'
policy vlek-2026 '{"version":1,"require":["snp"],"snp":{"allow-debug":true},"time":"2026-01-01T00:00:00Z"}'
verify 4 vlek-2025 vlek
exactly snp-chain
claim signing-key vlek
claim version 3
claim vmpl 1
verify 4 vlek-2026 vlek
exactly snp-chain
for off in 0x90 0x29f; do
        verify 4 vlek-2025 "vlek-flip-$off"
        exactly snp-signature snp-chain
done
verify 4 vlek-2025 vlek-flip-0x50
exactly snp-signature snp-chain freshness
verify 10 vlek-2025 vlek-short

# ---- TDX quotes (v4): header [0, 0x30), TD report body [0x30, 0x278), signature 0x27C,
# attestation key 0x2BC, QE report 0x302 ----
TDX_FLIPS="0x1c 0x30 0xb8" # header user data, body start, MRTD
for q in tdx-quote-v4-spr az-td-quote-v4; do
        job "$q" build --tdx-quote "$D/tdx/$q.dat" --nonce-report-data
        for off in $TDX_FLIPS 0x238 0x277 0x2c0 0x442 0x382; do
                job "$q-flip-$off" edit "$T/$q.json" --flip "tdx-quote:$off"
        done
        job "$q-short" edit "$T/$q.json" --truncate tdx-quote:1000
done
run_jobs
policy tdx '{"version":1,"require":["tdx"],"tdx":{},"time":"2025-06-01T00:00:00Z"}'
policy tdx-2040 '{"version":1,"require":["tdx"],"tdx":{},"time":"2040-06-01T00:00:00Z"}'
for q in tdx-quote-v4-spr az-td-quote-v4; do
        verify 0 tdx "$q"
        claim platform tdx
        for off in $TDX_FLIPS; do
                verify 4 tdx "$q-flip-$off"
                exactly tdx-signature
        done
        for off in 0x238 0x277; do # REPORT_DATA (its last byte ends the body): no longer the nonce
                verify 4 tdx "$q-flip-$off"
                exactly tdx-signature freshness
        done
        verify 4 tdx "$q-flip-0x2c0" # the attestation key
        exactly tdx-signature tdx-qe-report-data
        verify 4 tdx "$q-flip-0x442" # the QE report's REPORT_DATA
        exactly tdx-qe-report-data tdx-qe-signature
        verify 4 tdx "$q-flip-0x382" # the QE report's MRSIGNER
        exactly tdx-qe-identity tdx-qe-signature
        verify 10 tdx "$q-short"
        verify 4 tdx-2040 "$q"
        exactly tdx-chain
done

# ---- Azure SNP vTPM evidence (HCL report + TPM quote), trustee's v0 and v1 ----
for v in 0 1; do
        for chain in milan genoa; do
                "$PY" -I -S "$TE" "$D/azure/az-snp-vtpm-evidence-v$v.json" --chain "$D/snp/certs/ask_ark_$chain.pem" \
                        >"$T/az$v-$chain.json" 2>"$T/te.err" || fail "trustee-to-evidence.py v$v: $(cat "$T/te.err")"
        done
        a=az$v-milan
        # The runtime claims: one character of vmUniqueId (the JSON stays valid); HCLAkPub's modulus.
        claims_off=$(me offset "$T/$a.json" azure-hcl-report 'vmUniqueId":"') || fail "$a: no vmUniqueId in the claims"
        ak_off=$(me offset "$T/$a.json" azure-hcl-report '"kid":"HCLAkPub","key_ops":["sign"],"kty":"RSA","e":"AQAB","n":"') \
                || fail "$a: no HCLAkPub"
        hw=$(me extract "$T/$a.json" azure-hcl-report 0x20 1184) || fail "$a: no SNP report in the HCL"
        job "$a-claims" edit "$T/$a.json" --flip "azure-hcl-report:$((claims_off + 13))"
        job "$a-akpub" edit "$T/$a.json" --flip "azure-hcl-report:$((ak_off + 80))"
        # The HCL's SNP report (at 0x20): MEASUREMENT, the last signed byte; REPORT_DATA.
        for off in $((0x20 + 0x90)) $((0x20 + 0x29f)) $((0x20 + 0x50)); do
                job "$a-snp-$off" edit "$T/$a.json" --flip "azure-hcl-report:$off"
        done
        job "$a-quote-sig" edit "$T/$a.json" --flip tpm-quote.signature:100
        job "$a-quote-msg" edit "$T/$a.json" --flip tpm-quote.message:40 # in the clock info
        job "$a-pcr5" edit "$T/$a.json" --set "pcrs.sha256.5=\"$(zeros 64)\""
        job "$a-pcr7-forged" edit "$T/$a.json" --set "pcrs.sha256.7=\"$(zeros 63)7\""
        job "$a-ev-nonce" edit "$T/$a.json" --set 'nonce="00112233"'
        job "$a-hcl-short" edit "$T/$a.json" --truncate azure-hcl-report:1500
        job "$a-same-snp" edit "$T/$a.json" --set "snp-report=\"$hw\""
        job "$a-other-snp" edit "$T/$a.json" --set "snp-report=\"$(base64 -w0 "$D/snp/milan-virtee-report.bin")\""
done
run_jobs
policy azure '{"version":1,"require":["snp","azure-hcl","tpm-quote"]}'
policy azure-nonce '{"version":1,"require":["snp","azure-hcl","tpm-quote"],"nonce":"00112233"}'
policy azure-challenge '{"version":1,"require":["snp","azure-hcl","tpm-quote"],"nonce":"6368616c6c656e6765"}'
policy azure-pcr7-bad "{\"version\":1,\"require\":[\"snp\",\"azure-hcl\",\"tpm-quote\"],\"pcrs\":{\"sha256\":{\"7\":\"$(zeros 63)7\"}}}"
for v in 0 1; do
        a=az$v-milan
        pcr7=$(me get "$T/$a.json" pcrs.sha256.7) || fail "$a: no PCR 7"
        verify 0 azure "$a"
        claim platform snp
        claim azure-hcl-report-type snp
        claim signing-key vcek
        claim pcrs.sha256.7 "$pcr7"
        verify 4 azure "$a-claims"
        exactly hcl-binding
        verify 4 azure "$a-akpub" # the binding breaks, and the quote does not verify with that key
        exactly hcl-binding tpm-quote-signature freshness
        for off in $((0x20 + 0x90)) $((0x20 + 0x29f)); do
                verify 4 azure "$a-snp-$off"
                exactly snp-signature
        done
        verify 4 azure "$a-snp-$((0x20 + 0x50))"
        exactly snp-signature hcl-binding
        # The quote no longer answers the nonce by HCLAkPub: nothing makes the HCL report fresh.
        verify 4 azure "$a-quote-sig"
        exactly tpm-quote-signature freshness
        verify 4 azure "$a-quote-msg"
        exactly tpm-quote-signature freshness
        verify 4 azure "$a-pcr5"
        exactly tpm-quote-pcrs
        # The quote's extraData is trustee's verifier nonce, "challenge".
        verify 0 azure-challenge "$a"
        verify 4 azure-nonce "$a"
        exactly tpm-quote-nonce freshness
        verify 4 azure "$a-ev-nonce"
        exactly tpm-quote-nonce freshness
        verify 10 azure "$a-hcl-short"
        policy "$a-pcr7" "{\"version\":1,\"require\":[\"snp\",\"azure-hcl\",\"tpm-quote\"],\"pcrs\":{\"sha256\":{\"7\":\"$pcr7\"}}}"
        verify 0 "$a-pcr7" "$a"
        verify 4 azure-pcr7-bad "$a"
        exactly pcrs
        verify 4 azure-pcr7-bad "$a-pcr7-forged" # the evidence's PCR 7 says so, the quote does not
        exactly tpm-quote-pcrs pcrs
        verify 4 azure "az$v-genoa"
        exactly snp-chain
        verify 0 azure "$a-same-snp" # a separate snp-report: the HCL's own
        verify 4 azure "$a-other-snp" # another VM's
        has hcl-snp
done

# ---- replay (issue 11, item 4): an old genuine report, a fresh quote by the attacker's key ----
# The attacker holds the disk and answers for the vTPM: it kept a genuine SNP report from an earlier
# attestation, and signs a quote over the verifier's fresh nonce with a key of its own, naming that
# key as ak-public.  Before the fix the report's REPORT_DATA went unchecked beside any quote, and the
# quote was checked with the key it named itself: this evidence passed.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/foreign.key" 2>"$T/ossl.err" \
        || fail "openssl genpkey: $(cat "$T/ossl.err")"
fresh=$(printf '%064x' 0xf7e54)
pcr7=$(printf '%063d1' 0)
job replay-base build --snp-report "$D/snp/milan-trustee-report.bin" --cert-der "$D/snp/milan-trustee-vcek.der" \
        --cert-pem "$MILAN" --nonce "$fresh"
job replay edit "$T/replay-base.json" --set "pcrs.sha256.7=\"$pcr7\"" --quote "$T/foreign.key"
# The same report answering its own nonce (fresh), with the attacker's quote beside it.
job replay-own-nonce build --snp-report "$D/snp/milan-trustee-report.bin" --cert-der "$D/snp/milan-trustee-vcek.der" \
        --cert-pem "$MILAN" --nonce-report-data
job replay-own-nonce-q edit "$T/replay-own-nonce.json" --set "pcrs.sha256.7=\"$pcr7\"" --quote "$T/foreign.key"
# An event log with the PCR values it replays to, "quoted" by the attacker's key.
job replay-log-base build --snp-report "$D/snp/milan-trustee-report.bin" --cert-der "$D/snp/milan-trustee-vcek.der" \
        --cert-pem "$MILAN" --nonce "$fresh" --event-log "$D/eventlog/event-arch-linux.bin" \
        --pcrs-yaml "$D/eventlog/expected/event-arch-linux.bin.yaml"
job replay-log edit "$T/replay-log-base.json" --quote "$T/foreign.key"
# The real Azure evidence: ak-public of another key; the quote forged by another key over the same
# challenge and PCRs; the HCL report taken away (the quote alone).
job az1-foreign-ak edit "$T/az1-milan.json" --ak-public "$T/foreign.key"
job az1-forged edit "$T/az1-milan.json" --quote "$T/foreign.key"
job az1-forged-noak edit "$T/az1-forged.json" --delete tpm-quote.ak-public
job az1-nohcl edit "$T/az1-milan.json" --delete azure-hcl-report
run_jobs
policy replay '{"version":1,"require":["snp","tpm-quote"],"time":"2025-06-01T00:00:00Z"}'
policy replay-pcrs "{\"version\":1,\"require\":[\"snp\",\"tpm-quote\"],\"time\":\"2025-06-01T00:00:00Z\",\"pcrs\":{\"sha256\":{\"7\":\"$pcr7\"}}}"
policy replay-log '{"version":1,"require":["snp","tpm-quote","event-log"],"time":"2025-06-01T00:00:00Z"}'
policy replay-snp '{"version":1,"require":["snp"],"time":"2025-06-01T00:00:00Z"}'
verify 0 replay-snp replay-own-nonce # the report alone, answering its own nonce: the signature and chain hold
verify 4 replay replay
exactly freshness tpm-quote-ak
expect_in "$out" '"tpm-quote-ak: the quote.s key is not vouched for by a hardware report' "the replayed report"
expect_in "$out" "\"freshness: the SNP report's REPORT_DATA is not the nonce" "the replayed report"
expect_exit 4 "$CVMSEAL" attest verify --policy "$T/replay.policy" "$T/replay.json"
expect_in "$out" '^fail$' "the plain verdict on the replayed report"
expect_in "$out" '^  freshness: ' "the plain verdict on the replayed report"
expect_in "$out" '^  tpm-quote-ak: ' "the plain verdict on the replayed report"
# The attacker's PCR values vouch for nothing: the policy's reference values fail on them, even equal.
verify 4 replay-pcrs replay
exactly freshness tpm-quote-ak pcrs
claim pcrs ""
# A fresh report does not make the attacker's quote count.
verify 4 replay replay-own-nonce-q
exactly tpm-quote-ak
verify 4 replay-pcrs replay-own-nonce-q
exactly tpm-quote-ak pcrs
# The log agrees with the PCR values, which only the attacker's key "quoted".
verify 4 replay-log replay-log
exactly freshness tpm-quote-ak event-log
grep -q 'replays to' <<<"$out" && fail "the replayed log does not replay to its PCRs: $out"
# The real Azure evidence, its quote by another key than HCLAkPub.
verify 4 azure-challenge az1-foreign-ak # ak-public names another key: the quote is not checked at all
exactly tpm-quote-ak freshness
expect_in "$out" "ak-public is not the HCL report's HCLAkPub" "ak-public of another key"
verify 4 azure-challenge az1-forged # signed by that other key, which it names
exactly tpm-quote-ak freshness
verify 4 azure-challenge az1-forged-noak # signed by another key, checked with HCLAkPub
exactly tpm-quote-signature freshness
policy quote-only '{"version":1,"require":["tpm-quote"]}'
verify 4 quote-only az1-nohcl # the genuine quote, but no hardware report names its key
exactly tpm-quote-ak
expect_in "$out" '"tpm-quote-ak: .*there is no HCL report' "a quote without an HCL report"

# An HCL report of the TDX kind made up entirely by the attacker: runtime claims naming its own key as
# HCLAkPub and the verifier's nonce as user-data, their SHA-256 in a TDREPORT that nothing signs, and a
# quote by that key.  Nothing hardware vouches for any of it (no TD quote): "hcl-tdx".
python3 - "$T/foreign.key" "$fresh" "$T/forged-hcl-base.json" <<'EOF' || fail "forging the HCL report"
import base64, hashlib, json, struct, subprocess, sys
key, nonce, out = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3]
mod = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"], capture_output=True, text=True,
                     check=True).stdout.strip().split("=")[1]
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
claims = json.dumps({"keys": [{"kid": "HCLAkPub", "kty": "RSA", "n": b64u(bytes.fromhex(mod)), "e": b64u(b"\x01\x00\x01")}],
                     "user-data": (nonce + bytes(64 - len(nonce))).hex().upper()}, separators=(",", ":")).encode()
hw = bytearray(1184)
hw[128:160] = hashlib.sha256(claims).digest()                  # the TDREPORT's REPORT_DATA
body = bytearray(b"HCLA" + struct.pack("<III", 2, 0, 0) + bytes(16)) + hw + \
       struct.pack("<IIIII", 20 + len(claims), 1, 4, 1, len(claims)) + claims
body[8:12] = struct.pack("<I", len(body))
json.dump({"version": 1, "nonce": nonce.hex(), "azure-hcl-report": base64.b64encode(bytes(body)).decode(),
           "pcrs": {"sha256": {"7": "ab" * 32}}}, open(out, "w"))
EOF
job forged-hcl edit "$T/forged-hcl-base.json" --quote "$T/foreign.key"
run_jobs
policy forged-hcl "{\"version\":1,\"require\":[\"azure-hcl\",\"tpm-quote\"],\"pcrs\":{\"sha256\":{\"7\":\"$(printf 'ab%.0s' $(seq 32))\"}}}"
verify 4 forged-hcl forged-hcl
has hcl-tdx
expect_in "$out" '"hcl-tdx: the HCL report.s TDREPORT is vouched for by no TD quote' "a made-up TDX HCL report"

# ---- HCL reports alone ----
job kinvolk build --hcl-report "$D/azure/az-snp-hcl-report-kinvolk.bin" --cert-pem "$MILAN"
job tdx-hcl build --hcl-report "$D/azure/az-tdx-hcl-report.bin"
job tdx-hcl-other-quote build --hcl-report "$D/azure/az-tdx-hcl-report.bin" --tdx-quote "$D/tdx/az-td-quote-v4.dat"
run_jobs
for h in kinvolk tdx-hcl; do
        off=$(me offset "$T/$h.json" azure-hcl-report 'vmUniqueId":"') || fail "$h: no vmUniqueId"
        job "$h-claims" edit "$T/$h.json" --flip "azure-hcl-report:$((off + 13))"
        job "$h-short" edit "$T/$h.json" --truncate azure-hcl-report:1500
done
run_jobs
policy hcl-snp '{"version":1,"require":["snp","azure-hcl"]}'
verify 4 hcl-snp kinvolk
exactly snp-chain freshness # the binding holds; no VCEK for this chip is public; no nonce, no quote
expect_in "$out" '"snp-chain: no VCEK' "kinvolk"
claim platform snp
claim azure-hcl-report-type snp
claim azure-vm-configuration
claim azure-user-data ""
verify 4 hcl-snp kinvolk-claims
exactly hcl-binding snp-chain freshness
verify 10 hcl-snp kinvolk-short

policy hcl '{"version":1,"require":["azure-hcl"]}'
verify 4 hcl tdx-hcl
exactly evidence freshness hcl-tdx # the binding holds; without a TD quote nothing signed is there to verify
claim azure-hcl-report-type tdx
claim azure-vm-configuration
claim azure-user-data "$(zeros 128)" # the user-data index as Azure copies it: 64 bytes, in hex
verify 4 hcl tdx-hcl-claims
exactly hcl-binding evidence freshness hcl-tdx
# Its user-data is 64 zero bytes: not the nonce of a verifier; an all-zero nonce proves nothing.
policy hcl-nonce '{"version":1,"require":["azure-hcl"],"nonce":"0102"}'
verify 4 hcl-nonce tdx-hcl
exactly evidence freshness hcl-tdx
expect_in "$out" '"freshness: the HCL report is not fresh: its runtime claims. user-data is not the nonce' "the TDX HCL"
policy hcl-zero "{\"version\":1,\"require\":[\"azure-hcl\"],\"nonce\":\"$(zeros 128)\"}"
verify 4 hcl-zero tdx-hcl
exactly evidence freshness hcl-tdx
expect_in "$out" '"freshness: the nonce is all zeros' "an all-zero nonce"
verify 10 hcl tdx-hcl-short
# A TD quote of another VM next to it: its REPORT_DATA is not the TDREPORT's.
policy hcl-tdx '{"version":1,"require":["tdx","azure-hcl"],"time":"2025-06-01T00:00:00Z"}'
verify 4 hcl-tdx tdx-hcl-other-quote
exactly hcl-tdx-quote freshness

# ---- event logs, replayed against tpm2_eventlog's PCR values ----
for l in $EVENTLOGS; do
        job "log-$l" build --event-log "$D/eventlog/event-$l.bin" --pcrs-yaml "$D/eventlog/expected/event-$l.bin.yaml"
done
run_jobs
# The sha256 digest of the last event of event-arch-linux.bin (EV_IPL, PCR 8), in the log itself.
off=$(me offset "$T/log-arch-linux.json" event-log 362d5603871294a44287df0c3c63c120972e5b3897704315b99cf8406ac413b6 --hex) \
        || fail "the last event's sha256 digest is not in event-arch-linux.bin"
job log-digest edit "$T/log-arch-linux.json" --flip "event-log:$((off + 5))"
job log-pcr7 edit "$T/log-arch-linux.json" --set "pcrs.sha256.7=\"$(zeros 64)\""
for n in 15578 1000 100; do
        job "log-short-$n" edit "$T/log-arch-linux.json" --truncate "event-log:$n"
done
run_jobs
policy eventlog '{"version":1,"require":["event-log"]}'
for l in $EVENTLOGS; do
        verify 4 eventlog "log-$l"
        # The log agrees with the PCR values; but a log alone, and PCR values that no quote by a
        # vouched key covers, are vouched for by nothing.
        exactly event-log evidence
        expect_in "$out" '"event-log: no quote by a key that a hardware report vouches for' "log-$l"
        grep -q 'replays to' <<<"$out" && fail "log-$l: the log does not replay to tpm2_eventlog's PCRs: $out"
done
verify 4 eventlog log-pcr7
exactly event-log evidence
expect_in "$out" '"event-log: PCR 7 replays to 3b4a4db4' "a wrong PCR 7"
verify 4 eventlog log-digest
exactly event-log evidence
expect_in "$out" '"event-log: PCR 8 replays to ' "a changed digest of PCR 8"
for n in 15578 1000 100; do
        verify 10 eventlog "log-short-$n"
done

# ---- malformed documents ----
printf 'not json\n' >"$T/m-notjson.json"
: >"$T/m-empty.json"
cat "$T/virtee.json" "$T/virtee.json" >"$T/m-twice.json"
{ cat "$T/virtee.json"; echo garbage; } >"$T/m-garbage.json"
job m-unknown edit "$T/virtee.json" --set 'unknown=1'
job m-v2 edit "$T/virtee.json" --set 'version=2'
job m-vstring edit "$T/virtee.json" --set 'version="1"'
job m-noversion edit "$T/virtee.json" --delete version
job m-b64 edit "$T/virtee.json" --set 'snp-report="@@ not base64 @@"'
job m-type edit "$T/virtee.json" --set 'snp-report=1184'
job m-cert edit "$T/virtee.json" --set 'certificates=["not a certificate"]'
job m-nonce edit "$T/virtee.json" --set "nonce=\"$(zeros 130)\"" # 65 bytes
run_jobs
# malformed POLICY EVIDENCE: exit 10 and no verdict; every case runs, and the ones that do not hold
# are listed together at the end.
wrong=()
malformed() {
        local got
        "$CVMSEAL" --json attest verify --policy "$T/$1.policy" "$T/$2.json" >"$T/m.out" 2>"$T/m.err" && got=0 || got=$?
        if [ "$got" != 10 ] || grep -q '"verdict"' "$T/m.out"; then
                wrong+=("$2 against $1: exit $got, expected 10: $(tr -s ' \n' ' ' <"$T/m.out" | cut -c1-120)")
        fi
}
for m in notjson empty twice garbage unknown v2 vstring noversion b64 type cert nonce; do
        malformed snp "m-$m"
done
policy p-unknown '{"version":1,"require":["snp"],"snp":{"allow-debug":true},"unknown":1}'
policy p-snp-unknown '{"version":1,"require":["snp"],"snp":{"allow-debug":true,"unknown":1}}'
policy p-v2 '{"version":2,"require":["snp"]}'
policy p-require '{"version":1,"require":[]}'
policy p-kind '{"version":1,"require":["snp","sgx"]}'
policy p-time '{"version":1,"require":["snp"],"time":"2025-06-01"}'
policy p-pcr '{"version":1,"require":["snp"],"pcrs":{"sha256":{"24":"00"}}}'
policy p-notjson 'require snp'
policy p-garbage '{"version":1,"require":["snp"]} garbage'
: >"$T/p-empty.policy"
for p in p-unknown p-snp-unknown p-v2 p-require p-kind p-time p-pcr p-notjson p-garbage p-empty; do
        malformed "$p" virtee
done
expect_exit 1 "$CVMSEAL" attest verify --policy "$T/snp.policy" "$T/no-such-evidence.json"
expect_in "$err" 'no-such-evidence.json' "a missing evidence file"
expect_exit 1 "$CVMSEAL" attest verify --policy "$T/no-such.policy" "$T/virtee.json"
expect_in "$err" 'no-such.policy' "a missing policy file"
[ ${#wrong[@]} = 0 ] || fail "malformed documents not rejected as malformed:$(printf '\n  %s' "${wrong[@]}")"

exit 0
