#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kill -9 during enroll never costs the volume.  One normal enroll is timed first (D ms); then, 30
# times, on a fresh copy of the same image, an enroll runs in the background and gets SIGKILL after a
# random delay in [0, D] (stratified: iteration i draws from the i-th thirtieth of D, so every phase
# is hit; $CVMSEAL_TEST_SEED replays a run).  After each kill:
#   - the original key still opens keyslot 0;
#   - the LUKS2 metadata loads, and both header copies are checked (a copy left behind by the kill,
#     with an older seqid, is counted: libcryptsetup takes the newer one);
#   - every cvmseal token is whole: `list --json` says valid, and `unlock --test --token ID` opens its
#     keyslot; or there is none.  Never a malformed or half-written token;
#   - an image whose bytes changed but whose metadata did not (the kill fell while libcryptsetup
#     wrote a new keyslot's key material, before its metadata) is counted, as is any other change;
#   - keyslots that no token references, other than keyslot 0, are orphans: an enroll killed after
#     adding its keyslot and before writing its token leaves one.  They are counted, and each must be
#     named by the pending record (a "cvmseal-pending" token, src/lib/luks/pending.h) written before it;
#   - then one more enroll, not killed, runs on the same image: it finishes what the record
#     describes (the unfinished token and its keyslots are undone), so afterwards no orphan and no
#     record is left, and every keyslot but 0 belongs to a token: interruptions do not pile up.
# swtpm has no resource manager: objects and sessions of a killed enroll stay loaded in the TPM (the
# kernel's /dev/tpmrm0 would flush them).  They are counted and flushed after each kill, as the
# kernel would; the last enroll proves the TPM is usable.  The counts are reported on stderr.
. "$(dirname "$0")/lib.sh"
# Under ASan (tests/run.sh's build-asan) a SIGKILL that lands while LeakSanitizer stops the world
# at exit leaves "Unable to get registers from thread" in the sanitizer log: an artifact of the kill,
# not a finding.  The processes this test kills run without leak detection; every other check of
# ASan and UBSan stays on, and the other tests check for leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

command -v python3 >/dev/null || skip "python3 is not installed"
for tool in tpm2_getcap tpm2_flushcontext; do
        command -v "$tool" >/dev/null || skip "$tool (tpm2-tools) is not installed"
done
PY=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"
ROUNDS=${CVMSEAL_KILL_ROUNDS:-30}
SEED=${CVMSEAL_TEST_SEED:-$(( $$ % 32768 ))}
RANDOM=$SEED

tcti=$(start_swtpm tpm) || exit 1
key=$T/key
make_image "$T/base" "$key"
base_sum=$(header_sum "$T/base")
cryptsetup luksDump --dump-json-metadata "$T/base" >"$T/base.meta" 2>/dev/null || fail "luksDump of the base image"

now_ms() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 )); }

# ---- how long a normal enroll takes ----
# The first enroll creates the SRK: time the next three, on fresh copies, and take the median.
cp --sparse=always "$T/base" "$T/img"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/img" --unlock-key-file "$key"
times=()
for _ in 1 2 3; do
        cp --sparse=always "$T/base" "$T/img"
        t0=$(now_ms)
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/img" --unlock-key-file "$key"
        times+=($(( $(now_ms) - t0 )))
done
D=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
note "a normal enroll takes $D ms; kill delays in [0, $D] ms; seed $SEED"

# check IMG: sets $state (untouched | area | record | token | orphan | other) and $orphans, and fails on anything
# that is not allowed.
check() {
        local img=$1 tokens rc
        cryptsetup open --test-passphrase --key-slot 0 --key-file "$key" "$img" 2>"$T/cs.err" \
                || fail "round $round: the original key no longer opens keyslot 0: $(cat "$T/cs.err")"
        cryptsetup luksDump --dump-json-metadata "$img" >"$T/meta" 2>"$T/cs.err" \
                || fail "round $round: the LUKS2 metadata does not load: $(cat "$T/cs.err")"
        if [ -s "$T/cs.err" ]; then note "round $round: luksDump says: $(cat "$T/cs.err")"; fi
        "$CVMSEAL" --tcti "$tcti" --json list "$img" >"$T/list" 2>"$T/list.err" \
                || fail "round $round: list exited non-zero: $(cat "$T/list.err")"
        # One line per cvmseal token: "ID KEYSLOT VALID"; then "orphans N", "slots N", "hdr SEQ1 SEQ2".
        "$PY" - "$img" "$T/meta" "$T/list" >"$T/state" 2>"$T/py.err" <<'EOF' || fail "round $round: $(cat "$T/py.err")"
import json, struct, sys
meta = json.load(open(sys.argv[2]))
lst = json.load(open(sys.argv[3]))
luks_tokens = {int(k): v for k, v in meta["tokens"].items()}
listed = {t["id"]: t for t in lst["tokens"]}
referenced, named, pending = set(), set(), 0
for tid, tok in sorted(luks_tokens.items()):
    referenced.update(int(k) for k in tok.get("keyslots", []))
    if tok.get("type") == "cvmseal-pending":
        pending += 1
        named.update(a["keyslot"] for a in tok.get("added", []))
    if tok.get("type") != "cvmseal":
        continue
    t = listed.get(tid, {})
    print(tid, ",".join(tok.get("keyslots", [])) or "-", "valid" if t.get("valid") else "INVALID")
slots = {int(k) for k in meta["keyslots"]}
print("orphans", len([s for s in slots if s != 0 and s not in referenced]))
print("unnamed", len([s for s in slots if s != 0 and s not in referenced and s not in named]))
print("pending", pending)
print("slots", len(slots))
with open(sys.argv[1], "rb") as f:
    h1 = f.read(4096)
    hdr_size = struct.unpack(">Q", h1[8:16])[0]
    f.seek(hdr_size)
    h2 = f.read(4096)
seq = [struct.unpack(">Q", h[16:24])[0] if h[:6] in (b"LUKS\xba\xbe", b"SKUL\xba\xbe") else -1 for h in (h1, h2)]
print("hdr", seq[0], seq[1])
EOF
        orphans=$(sed -n 's/^orphans //p' "$T/state")
        pending=$(sed -n 's/^pending //p' "$T/state")
        slots=$(sed -n 's/^slots //p' "$T/state")
        [ "$(sed -n 's/^unnamed //p' "$T/state")" = 0 ] \
                || fail "round $round: an orphan keyslot that no pending record names: $(cat "$T/state") $(cat "$T/meta")"
        [ "$pending" -le 1 ] || fail "round $round: $pending pending records"
        tokens=$(grep -cE '^[0-9]+ ' "$T/state")
        grep -q ' INVALID$' "$T/state" && fail "round $round: a malformed cvmseal token: $(cat "$T/state") $(cat "$T/list")"
        [ "$tokens" -le 1 ] || fail "round $round: $tokens cvmseal tokens after one enroll: $(cat "$T/state")"
        if [ "$tokens" = 1 ]; then
                local id slot
                read -r id slot _ < <(grep -E '^[0-9]+ ' "$T/state")
                [ "$slot" != - ] || fail "round $round: token $id names no keyslot"
                "$CVMSEAL" --tcti "$tcti" unlock --test "$img" --token "$id" >/dev/null 2>"$T/ul.err" && rc=0 || rc=$?
                [ "$rc" = 0 ] || fail "round $round: token $id is there but does not unlock (exit $rc): $(cat "$T/ul.err")"
                state=token
        elif [ "$(header_sum "$img")" = "$base_sum" ]; then
                state=untouched
        elif cmp -s "$T/meta" "$T/base.meta"; then
                state=area # the metadata is the old one; a keyslot's key material area was (partly) written
        elif [ "$orphans" -gt 0 ]; then
                state=orphan
        elif [ "$pending" -gt 0 ]; then
                state=record # only the pending record was written
        else
                state=other
        fi
        read -r _ seq1 seq2 < <(grep '^hdr ' "$T/state")
        [ "$seq1" -ge 0 ] && [ "$seq2" -ge 0 ] || fail "round $round: a LUKS2 binary header is gone: $(cat "$T/state")"
        if [ "$seq1" != "$seq2" ]; then
                split_headers=$((split_headers + 1))
                note "round $round: the header copies differ (seqid $seq1 and $seq2): the kill fell between the two writes"
        fi
}

# leftovers: flushes what a killed enroll left loaded in the TPM; counts rounds that had some.
leftovers() {
        local t s
        t=$(TPM2TOOLS_TCTI=$tcti tpm2_getcap handles-transient 2>&1) || fail "tpm2_getcap: $t"
        s=$(TPM2TOOLS_TCTI=$tcti tpm2_getcap handles-loaded-session 2>&1) || fail "tpm2_getcap: $s"
        if [ -n "$t$s" ]; then
                tpm_leftovers=$((tpm_leftovers + 1))
                TPM2TOOLS_TCTI=$tcti tpm2_flushcontext -t >/dev/null 2>&1
                TPM2TOOLS_TCTI=$tcti tpm2_flushcontext -l >/dev/null 2>&1
        fi
}

declare -A count=([untouched]=0 [area]=0 [record]=0 [token]=0 [orphan]=0 [other]=0)
total_orphans=0 split_headers=0 tpm_leftovers=0 finished=0 pending_left=0
start=$(now_ms)
for round in $(seq 1 "$ROUNDS"); do
        cp --sparse=always "$T/base" "$T/img"
        lo=$(( (round - 1) * D / ROUNDS )) hi=$(( round * D / ROUNDS ))
        delay=$(( lo + RANDOM % (hi - lo + 1) ))
        "$CVMSEAL" --tcti "$tcti" enroll "$T/img" --unlock-key-file "$key" >/dev/null 2>"$T/enroll.err" &
        pid=$!
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        # (stderr: bash's own "Killed" report of the job.)
        { kill -9 "$pid"; wait "$pid"; } 2>/dev/null && rc=0 || rc=$?
        if [ "$rc" = 0 ]; then
                finished=$((finished + 1))
        elif [ "$rc" != 137 ]; then
                fail "round $round: the enroll exited $rc before the kill: $(cat "$T/enroll.err")"
        fi
        check "$T/img"
        leftovers
        pending_left=$((pending_left + pending))
        # The next enroll on the same image finishes what the kill left: no orphan, no record after it.
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$T/img" --unlock-key-file "$key"
        cleaned=$(cryptsetup luksDump --dump-json-metadata "$T/img" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
refs = {int(k) for t in d["tokens"].values() for k in t["keyslots"]}
print(sum(t["type"] == "cvmseal-pending" for t in d["tokens"].values()),
      len([s for s in map(int, d["keyslots"]) if s != 0 and s not in refs]),
      sum(t["type"] == "cvmseal" for t in d["tokens"].values()), len(d["keyslots"]))') || fail "round $round: luksDump"
        read -r c_pending c_orphans c_tokens c_slots <<<"$cleaned"
        [ "$c_pending" = 0 ] && [ "$c_orphans" = 0 ] && [ "$c_slots" = $((c_tokens + 1)) ] \
                || fail "round $round: after the next enroll: $c_pending records, $c_orphans orphans, $c_tokens tokens, $c_slots keyslots"
        count[$state]=$((count[$state] + 1))
        total_orphans=$((total_orphans + orphans))
        [ "$state" = other ] && note "round $round (kill at $delay ms): the header changed, with no token and no orphan keyslot"
        [ "$state" = orphan ] && note "round $round (kill at $delay ms): $orphans orphan keyslot(s)"
done
elapsed=$(( $(now_ms) - start ))

# After all that the TPM and the tool still work.
cp --sparse=always "$T/base" "$T/img"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/img" --unlock-key-file "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test "$T/img"

note "$ROUNDS kills in $elapsed ms: untouched ${count[untouched]}, metadata unchanged but key material written ${count[area]}, pending record only ${count[record]}, whole token ${count[token]} ($finished enrolls had finished), orphan keyslot ${count[orphan]} ($total_orphans orphan keyslots), other ${count[other]}"
note "rounds that left a pending record: $pending_left; after the next enroll on the same image: no orphan keyslot and no record in any round"
note "header copies split by the kill: $split_headers; rounds that left objects or sessions loaded in swtpm: $tpm_leftovers"
exit 0
