#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The host owns the disk (issue 11, docs/threat-model.md): every member of a version 2 token, of the
# first-boot marker and of a pending record is changed in turn, and none of the changes releases a
# secret, loads code, skips the gate or destroys a keyslot.
#
# - Token: an image whose token 0 has every kind of member (PCRs 7+15 and their values, the SRK, an
#   HSM binding to a SoftHSM2 key, an attestation policy that the Azure-like vTPM of
#   tests/attest/azure-vtpm.py satisfies).  Every leaf of its JSON is edited (hex and base64 values
#   changed by one bit, numbers, booleans, lists and strings replaced), every member removed, and a
#   few additions made (a module-path= naming a shared object that records being loaded, an unknown
#   member).  For each: `unlock --test` through the pcap TCTI exits with a refusal code (3, 4, 8, 10:
#   never 0), the capture shows that the TPM either never got an Unseal or refused every one (the
#   share never leaves the TPM), nothing was loaded, the header is unchanged and the original key
#   still opens.  The intact token passes the same harness (the checks can fail).  A TCTI named by a
#   path (--tcti, $CVMSEAL_TCTI) is never loaded either.
# - Marker (`image encrypt`, version 2): every leaf edited and every member removed; `provision`
#   exits 10 (or 8 when it is no marker any more) without sending the TPM anything, the header is
#   unchanged; a marker planted on an enrolled volume that names the recovery keyslot is refused
#   and the recovery key still opens.  The intact marker provisions (the checks can fail).
# - Pending record: a genuine record (its MAC computed from the documentation and the dumped volume
#   key) names a keyslot that carries its fingerprint; with any member edited, the next writing run
#   (enroll) leaves that keyslot alone; the genuine record makes it go (the checks can fail).  A genuine
#   record written back after its enrollment finished (a replay) removes neither the token it added
#   nor its keyslot.
. "$(dirname "$0")/lib.sh"

for tool in python3 openssl tpm2_createprimary tpm2_evictcontrol tpm2_nvdefine tpm2_getcap cc softhsm2-util; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (python3, openssl, tpm2-tools, a C compiler, softhsm2)"
done
HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURE=$HERE/../attest/azure-vtpm.py
COUNT=$HERE/../bench/tpm-count.py
BINDING=$HERE/token-binding.py

tcti=$(start_swtpm tpm) || exit 1
sock=${tcti#swtpm:path=}
fx=$T/fx
export CVMSEAL_TSM_DIR="" CVMSEAL_EVENT_LOG="" CVMSEAL_CERT_CACHE=$fx/certs TPM2TOOLS_TCTI=$tcti
mkdir -p "$CVMSEAL_CONFDIR/roots"
python3 "$FIXTURE" --tcti "$tcti" --out "$fx" >"$T/fixture.out" 2>&1 || fail "azure-vtpm.py: $(cat "$T/fixture.out")"
cp "$fx/ark.pem" "$CVMSEAL_CONFDIR/roots/test-ark.pem"

PIN=4321
start_softhsm cvmseal "$PIN"
printf '%s\n' "$PIN" >"$T/hsm-pin"
URI="pkcs11:token=cvmseal;object=share;type=secret-key"
expect_exit 0 "$CVMSEAL" hsm keygen --hsm "$URI" --hsm-pin-file "$T/hsm-pin"

# A shared object that records being loaded: a module-path= to it must never be dlopen()ed.
printf '#include <stdio.h>\n__attribute__((constructor)) static void loaded(void) { FILE *f = fopen("%s", "w"); if (f) fclose(f); }\n' \
        "$T/LOADED" >"$T/trap.c"
cc -shared -fPIC -o "$T/trap.so" "$T/trap.c" || fail "cannot build the trap module"

key=$T/key
img=$T/img
make_image "$img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$img" --unlock-key-file "$key" --tpm2-pcrs 7 \
        --hsm "$URI" --hsm-pin-file "$T/hsm-pin" --attest-policy "$fx/policy.json"
cryptsetup token export --token-id 0 "$img" >"$T/token.json" || fail "token export"
pycheck "$(cat "$T/token.json")" "d['version'] == 2 and 'hsm' in d and 'attest' in d" "the enrolled token"

# unsealed_in PCAP: exit 0 when the capture holds an Unseal that the TPM answered with success.
unsealed_in() {
        [ -s "$1" ] || return 1
        python3 "$COUNT" --json "$1" >"$T/cmds.json" || fail "tpm-count.py $1"
        python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if any(c == "Unseal" and rc == 0 for c, rc in zip(d["commands"], d["rcs"])) else 1)' "$T/cmds.json"
}
# commands_in PCAP: how many TPM commands the capture holds.
commands_in() {
        [ -s "$1" ] || { echo 0; return; }
        python3 "$COUNT" --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])'
}

# try_token NAME: token 0 of a copy of the image replaced by $T/m/NAME.json; unlock --test through
# the pcap TCTI; $rc, $T/try.pcap.  Returns 2 when libcryptsetup refuses to import the token.
try_token() {
        cp --sparse=always "$img" "$T/try.img" || fail "cp"
        cryptsetup token remove --token-id 0 "$T/try.img" || fail "token remove"
        cryptsetup token import --token-id 0 --json-file "$T/m/$1.json" "$T/try.img" 2>/dev/null || return 2
        sum=$(header_sum "$T/try.img")
        rm -f "$T/try.pcap" "$T/LOADED"
        TCTI_PCAP_FILE=$T/try.pcap "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" unlock --test "$T/try.img" \
                >"$T/try.out" 2>"$T/try.err" </dev/null && rc=0 || rc=$?
        return 0
}

# ---- the intact token passes the harness: the checks below can fail ----
mkdir -p "$T/m"
cp "$T/token.json" "$T/m/intact.json"
try_token intact || fail "the intact token does not import"
[ "$rc" = 0 ] || fail "the intact token does not unlock ($rc): $(cat "$T/try.err")"
unsealed_in "$T/try.pcap" || fail "the pcap check does not see the intact token's Unseal"

# ---- every member of the token ----
python3 - "$T/token.json" "$T/m" "$T/trap.so" <<'EOF' >"$T/mutations" || fail "making the mutations"
import base64, binascii, copy, json, sys

tok, out, trap = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
names = []

def save(name, t):
    json.dump(t, open("%s/%s.json" % (out, name), "w"))
    names.append(name)

def get(t, path):
    for k in path:
        t = t[k]
    return t

def put(t, path, v):
    for k in path[:-1]:
        t = t[k]
    t[path[-1]] = v

def flip_b64(s):
    b = bytearray(base64.b64decode(s))
    b[len(b) // 2] ^= 0x01
    return base64.b64encode(bytes(b)).decode()

def edited(path, v):
    key = path[-1]
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if isinstance(v, list):
        return {"keyslots": ["0"], "pcrs": [4, 7, 15]}.get(key, v[:-1] or v + v)
    if isinstance(v, str):
        others = {"type": "cvmseal-other", "pcr-bank": "sha1", "mechanism": "rsa-oaep-sha256",
                  "uri": "pkcs11:token=cvmseal;object=other;type=secret-key"}
        if key in others and (key != "type" or len(path) == 1) and not (key == "type" and path[0] == "kdf"):
            return others[key]
        if path == ["kdf", "type"]:
            return "pbkdf2"
        try:
            int(v, 16)
            return v[:-1] + ("0" if v[-1] != "0" else "1")
        except ValueError:
            pass
        try:
            base64.b64decode(v, validate=True)
            return flip_b64(v)
        except (binascii.Error, ValueError):
            return v + "x"
    raise SystemExit("no edit for %r" % (path,))

def walk(t, path):
    if isinstance(t, dict):
        for k, v in t.items():
            p = path + [k]
            d = copy.deepcopy(tok)
            sub = get(d, path)
            del sub[k]
            save("del." + ".".join(p), d)
            walk(v, p)
    else:
        d = copy.deepcopy(tok)
        put(d, path, edited(path, t))
        save("edit." + ".".join(path), d)

walk(tok, [])
# Semantic edits, each a well-formed token that would widen the release if it were believed.
d = copy.deepcopy(tok)
d["attest"]["policy"] = base64.b64encode(b'{"version": 1, "require": ["snp"], "snp": {"allow-debug": true}}').decode()
save("attest-permissive", d)
for sep in ("?", ";"):
    d = copy.deepcopy(tok)
    d["hsm"]["uri"] += sep + "module-path=" + trap
    save("module-path" + ("-query" if sep == "?" else "-path"), d)
d = copy.deepcopy(tok)
d["hsm"]["uri"] += "?pin-source=/etc/hostname"
save("pin-source", d)
d = copy.deepcopy(tok)
d["x-future"] = True
save("unknown-member", d)
d = copy.deepcopy(tok)
d["version"] = 1
del d["tpm2"]["pcr-values"]
save("downgrade-v1", d)
print("\n".join(names))
EOF
n=0 refused_by_cs=0
declare -A codes=()
while IFS= read -r m; do
        try_token "$m" || { refused_by_cs=$((refused_by_cs + 1)); continue; }
        n=$((n + 1))
        case $rc in
        3 | 4 | 8 | 10) ;;
        *) fail "$m: unlock --test exited $rc, not a refusal (3, 4, 8, 10): $(cat "$T/try.err")" ;;
        esac
        codes[$rc]=$(( ${codes[$rc]:-0} + 1 ))
        ! unsealed_in "$T/try.pcap" || fail "$m: the TPM unsealed the share for the changed token (exit $rc)"
        [ ! -e "$T/LOADED" ] || fail "$m: the module named in the token was loaded"
        [ "$(header_sum "$T/try.img")" = "$sum" ] || fail "$m: the header changed"
        cryptsetup open --test-passphrase --key-slot 0 --key-file "$key" "$T/try.img" || fail "$m: the key no longer opens"
        grep -q "^cvmseal: " "$T/try.err" || fail "$m: no message on stderr (exit $rc)"
done <"$T/mutations"
[ "$n" -ge 40 ] || fail "only $n token mutations reached cvmseal"
note "token: $n changes refused (exit codes: $(for c in "${!codes[@]}"; do printf '%s x%s ' "$c" "${codes[$c]}"; done)), $refused_by_cs refused by libcryptsetup itself"
rm -f "$T/try.img"

# A TCTI that names a path (the kernel command line fills init's environment) loads nothing either.
rm -f "$T/LOADED"
expect_exit 2 "$CVMSEAL" --tcti "$T/trap.so" unlock --test "$img"
CVMSEAL_TCTI="$T/trap.so:x" "$CVMSEAL" unlock --test "$img" >/dev/null 2>&1 && fail "an unlock through a TCTI path passed"
CVMSEAL_TCTI="pcap:$T/trap.so" "$CVMSEAL" unlock --test "$img" >/dev/null 2>&1 && fail "an unlock through a pcap TCTI path passed"
[ ! -e "$T/LOADED" ] || fail "a TCTI named by a path was loaded"

# ---- every member of the first-boot marker ----
head -c 4M /dev/urandom >"$T/raw"
expect_exit 0 "$CVMSEAL" image encrypt "$T/raw" "$T/fresh.img" --unlock-key-file "$key" --fast-kdf \
        --tpm2-pcrs 7 --attest-policy "$fx/policy.json" --hsm "$URI" --json
ptoken=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["provision-token"])' "$out")
cryptsetup token export --token-id "$ptoken" "$T/fresh.img" >"$T/marker.json" || fail "marker export"
pycheck "$(cat "$T/marker.json")" "d['version'] == 2 and set(d['enroll']) == {'pcrs', 'attest-policy', 'hsm'}" "the marker"

# try_marker NAME: the marker of a copy of the fresh image replaced by $T/mm/NAME.json; provision
# through the pcap TCTI; $rc.  Returns 2 when libcryptsetup refuses the marker.
try_marker() {
        cp --sparse=always "$T/fresh.img" "$T/try.img" || fail "cp"
        cryptsetup token remove --token-id "$ptoken" "$T/try.img" || fail "token remove"
        cryptsetup token import --token-id "$ptoken" --json-file "$T/mm/$1.json" "$T/try.img" 2>/dev/null || return 2
        sum=$(header_sum "$T/try.img")
        rm -f "$T/try.pcap"
        TCTI_PCAP_FILE=$T/try.pcap "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" provision "$T/try.img" \
                --hsm-pin-file "$T/hsm-pin" >"$T/try.out" 2>"$T/try.err" </dev/null && rc=0 || rc=$?
        return 0
}
mkdir -p "$T/mm"
cp "$T/marker.json" "$T/mm/intact.json"
python3 - "$T/marker.json" "$T/mm" <<'EOF' >"$T/marker-mutations" || fail "making the marker mutations"
import base64, copy, json, sys

mk, out = json.load(open(sys.argv[1])), sys.argv[2]
names = []

def save(name, m):
    json.dump(m, open("%s/%s.json" % (out, name), "w"))
    names.append(name)

def edits(path, v):
    key = path[-1]
    if key == "keyslots":
        return [["0"], []]
    if key == "version":
        return [1, 3]
    if key == "pcrs":
        return [[4, 7], [7, 15]]
    if key == "type":
        return ["cvmseal"]
    if key == "attest-policy":
        return [base64.b64encode(b'{"version": 1, "require": ["snp"], "snp": {"allow-debug": true}}').decode()]
    if key == "hsm":
        return ["pkcs11:token=cvmseal;object=other;type=secret-key", v + "?module-path=/tmp/x.so"]
    if key == "secret":
        b = bytearray(base64.b64decode(v))
        b[0] ^= 1
        return [base64.b64encode(bytes(b)).decode()]
    raise SystemExit("no edit for %r" % (path,))

for k in list(mk):
    m = copy.deepcopy(mk)
    del m[k]
    save("del." + k, m)
    if k == "enroll":
        for e in list(mk["enroll"]):
            m = copy.deepcopy(mk)
            del m["enroll"][e]
            save("del.enroll." + e, m)
            for i, v in enumerate(edits(["enroll", e], mk["enroll"][e])):
                m = copy.deepcopy(mk)
                m["enroll"][e] = v
                save("edit.enroll.%s.%d" % (e, i), m)
    else:
        for i, v in enumerate(edits([k], mk[k])):
            m = copy.deepcopy(mk)
            m[k] = v
            save("edit.%s.%d" % (k, i), m)
m = copy.deepcopy(mk)
m["enroll"]["rekey"] = False
save("add.enroll.rekey", m)
print("\n".join(names))
EOF
n=0 refused_by_cs=0
while IFS= read -r m; do
        try_marker "$m" || { refused_by_cs=$((refused_by_cs + 1)); continue; }
        n=$((n + 1))
        case $rc in
        0) # A marker that is no marker any more (its type changed, say) leaves nothing to do: the
           # volume is not enrolled, nothing changed.
           grep -q "no pending enrollment" "$T/try.err" || fail "$m: provision succeeded with a changed marker" ;;
        10) ;;
        *) fail "$m: provision exited $rc, not 10: $(cat "$T/try.err")" ;;
        esac
        [ "$(commands_in "$T/try.pcap")" = 0 ] || fail "$m: provision sent the TPM commands for a changed marker"
        [ "$(header_sum "$T/try.img")" = "$sum" ] || fail "$m: the header changed"
done <"$T/marker-mutations"
[ "$n" -ge 15 ] || fail "only $n marker mutations reached cvmseal"
note "marker: $n changes refused before any TPM command, $refused_by_cs refused by libcryptsetup itself"
# The intact marker provisions (the harness can succeed).
try_marker intact || fail "the intact marker does not import"
[ "$rc" = 0 ] || fail "the intact marker does not provision ($rc): $(cat "$T/try.err")"
[ "$(commands_in "$T/try.pcap")" -gt 0 ] || fail "the intact marker's provisioning sent nothing to the TPM"

# A junk cvmseal token planted next to the marker does not pass for an interrupted first boot's
# enrollment: the first boot still enrolls (and only then destroys the provisioning keyslot).
cp --sparse=always "$T/fresh.img" "$T/junk.img" || fail "cp"
printf '{"type":"cvmseal","keyslots":[],"version":2}' >"$T/junk.json"
cryptsetup token import --json-file "$T/junk.json" "$T/junk.img" || fail "import the junk token"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json provision "$T/junk.img" --hsm-pin-file "$T/hsm-pin"
pycheck "$out" "d['provisioned'] is True and 'token' in d" "provision beside a junk cvmseal token"

# The marker's "rekey" the other way: an image made with --no-rekey whose marker is edited to rekey
# after all (the member removed, or true): refused like any other edit, before any TPM command.
expect_exit 0 "$CVMSEAL" image encrypt "$T/raw" "$T/norekey.img" --unlock-key-file "$key" --fast-kdf \
        --tpm2-pcrs 7 --no-rekey --json
ptoken2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["provision-token"])' "$out")
cryptsetup token export --token-id "$ptoken2" "$T/norekey.img" >"$T/marker2.json" || fail "marker export"
pycheck "$(cat "$T/marker2.json")" "d['enroll']['rekey'] is False" "the --no-rekey marker"
for edit in "del d['enroll']['rekey']" "d['enroll']['rekey'] = True" "d['enroll']['rekey'] = 'false'"; do
        pyedit "$T/marker2.json" "$T/mm/rekey-edit.json" "$edit"
        cp --sparse=always "$T/norekey.img" "$T/try.img" || fail "cp"
        cryptsetup token remove --token-id "$ptoken2" "$T/try.img" || fail "token remove"
        cryptsetup token import --token-id "$ptoken2" --json-file "$T/mm/rekey-edit.json" "$T/try.img" \
                || fail "import the edited --no-rekey marker"
        sum=$(header_sum "$T/try.img")
        rm -f "$T/try.pcap"
        TCTI_PCAP_FILE=$T/try.pcap "$CVMSEAL" --tcti "pcap:swtpm:path=$sock" provision "$T/try.img" \
                >"$T/try.out" 2>"$T/try.err" </dev/null && rc=0 || rc=$?
        [ "$rc" = 10 ] || fail "[$edit] on a --no-rekey marker: provision exited $rc, not 10: $(cat "$T/try.err")"
        [ "$(commands_in "$T/try.pcap")" = 0 ] || fail "[$edit]: provision sent TPM commands"
        [ "$(header_sum "$T/try.img")" = "$sum" ] || fail "[$edit]: the header changed"
done
rm -f "$T/try.img"

# A marker planted on an enrolled volume, naming its recovery keyslot (with a valid secret of the
# attacker's): refused, the recovery key still opens.
make_image "$T/planted.img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/planted.img" --unlock-key-file "$key" --tpm2-pcrs 7 \
        --recovery-key --json
recovery=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["recovery-key"])' "$out")
rslot=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["recovery-keyslot"])' "$out")
pyedit "$T/marker.json" "$T/planted.json" "d['keyslots'] = ['$rslot']"
cryptsetup token import --json-file "$T/planted.json" "$T/planted.img" || fail "import the planted marker"
sum=$(header_sum "$T/planted.img")
expect_exit 10 "$CVMSEAL" --tcti "$tcti" provision "$T/planted.img"
[ "$(header_sum "$T/planted.img")" = "$sum" ] || fail "the planted marker changed the header"
printf '%s' "$recovery" >"$T/recovery"
key_opens "$T/recovery" "$T/planted.img" "$rslot"

# ---- every member of a pending record ----
make_image "$T/gc.img" "$key"
cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1234 --key-slot 5 \
        --key-file "$key" "$T/gc.img" "$key" || fail "luksAddKey 5"
cryptsetup luksDump --batch-mode --dump-volume-key --volume-key-file "$T/vk" --key-file "$key" "$T/gc.img" >/dev/null \
        || fail "luksDump --dump-volume-key"
python3 - "$T/vk" "$(cryptsetup luksUUID "$T/gc.img")" "$T/pr" <<'EOF' >"$T/record-mutations" || fail "making the records"
import copy, hashlib, hmac, json, os, sys
vk, uuid, out = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
os.makedirs(out)
prk = hmac.new(b"\0" * 32, vk, hashlib.sha256).digest()
key = hmac.new(prk, b"cvmseal pending v2\0" + uuid.encode() + b"\x01", hashlib.sha256).digest()
rec = {"type": "cvmseal-pending", "keyslots": [], "version": 2, "state": "adding", "token": 7,
       "added": [{"keyslot": 5, "iterations": 1234}]}
def signed(r):
    r = {k: v for k, v in r.items() if k != "mac"}
    r["mac"] = hmac.new(key, json.dumps(r, separators=(",", ":")).encode(), hashlib.sha256).hexdigest()
    return r
names = []
def save(name, r):
    json.dump(r, open("%s/%s.json" % (out, name), "w"))
    names.append(name)
good = signed(rec)
json.dump(good, open(out + "/genuine.json", "w"))
edits = {"version": [1, 3], "state": ["replacing", "undo"], "token": [8], "mac": ["00" * 32]}
for k, vs in edits.items():
    for i, v in enumerate(vs):
        r = copy.deepcopy(good)
        r[k] = v
        save("edit.%s.%d" % (k, i), r)
for k in ("keyslot", "iterations"):
    r = copy.deepcopy(good)
    r["added"][0][k] += 1
    save("edit.added.%s" % k, r)
r = copy.deepcopy(good)
r["replaces"] = {"token": 0, "keyslot": 5, "iterations": 1234}
save("add.replaces", r)
for k in ("mac", "state", "added", "token", "version"):
    r = copy.deepcopy(good)
    del r[k]
    save("del." + k, r)
print("\n".join(names))
EOF
n=0
while IFS= read -r m; do
        cp --sparse=always "$T/gc.img" "$T/try.img" || fail "cp"
        cryptsetup token import --token-id 3 --json-file "$T/pr/$m.json" "$T/try.img" 2>/dev/null || continue
        n=$((n + 1))
        expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/try.img" --unlock-key-file "$key" --tpm2-pcrs 7 --no-lock-pcr
        key_opens "$key" "$T/try.img" 5
done <"$T/record-mutations"
[ "$n" -ge 10 ] || fail "only $n record mutations reached cvmseal"
cp --sparse=always "$T/gc.img" "$T/try.img" || fail "cp"
cryptsetup token import --token-id 3 --json-file "$T/pr/genuine.json" "$T/try.img" || fail "import the genuine record"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/try.img" --unlock-key-file "$key" --tpm2-pcrs 7 --no-lock-pcr
cryptsetup open --test-passphrase --key-slot 5 --key-file "$key" "$T/try.img" 2>/dev/null \
        && fail "the genuine record's keyslot was not finished: the harness proves nothing"
note "pending record: $n changed records left alone with their keyslot; the genuine one finished"

# A genuine record written back after its operation finished (the host saw it go by): the token it
# added is kept, and so is its keyslot.
make_image "$T/replay.img" "$key"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/replay.img" --unlock-key-file "$key" --tpm2-pcrs 7 --no-lock-pcr --json
rslot=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keyslot"])' "$out")
iters=$(cryptsetup luksDump --dump-json-metadata "$T/replay.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyslots"][sys.argv[1]]["kdf"]["iterations"])' "$rslot")
cryptsetup luksDump --batch-mode --dump-volume-key --volume-key-file "$T/vk2" --key-file "$key" "$T/replay.img" >/dev/null \
        || fail "luksDump --dump-volume-key"
python3 - "$T/vk2" "$(cryptsetup luksUUID "$T/replay.img")" "$rslot" "$iters" >"$T/replayed.json" <<'EOF' || fail "record"
import hashlib, hmac, json, sys
vk, uuid, slot, it = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prk = hmac.new(b"\0" * 32, vk, hashlib.sha256).digest()
key = hmac.new(prk, b"cvmseal pending v2\0" + uuid.encode() + b"\x01", hashlib.sha256).digest()
r = {"type": "cvmseal-pending", "keyslots": [], "version": 2, "state": "adding", "token": 0,
     "added": [{"keyslot": slot, "iterations": it}]}
r["mac"] = hmac.new(key, json.dumps(r, separators=(",", ":")).encode(), hashlib.sha256).hexdigest()
print(json.dumps(r))
EOF
cryptsetup token import --token-id 7 --json-file "$T/replayed.json" "$T/replay.img" || fail "import the replayed record"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" enroll "$T/replay.img" --unlock-key-file "$key" --tpm2-pcrs 7 --no-lock-pcr
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test --token 0 "$T/replay.img"
cryptsetup luksDump "$T/replay.img" | grep -q "^  $rslot: luks2" || fail "the replayed record destroyed keyslot $rslot"
cryptsetup luksDump --dump-json-metadata "$T/replay.img" | grep -q cvmseal-pending && fail "the replayed record is still there"
echo PASS
