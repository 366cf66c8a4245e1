#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Offline sealing (docs/image-pipeline.md): `srk export` on a target TPM, then `enroll IMG
# --tpm2-srk-pub --pcr-values` with no TPM reachable (a dead socket behind a pcap TCTI that would
# record any command: its capture file must not even appear), then the target unlocks.
#   - target a: the project's ECC P-256 SRK (srk export --create); b: another TPM; c: an Azure-like
#     RSA-2048 SRK made by tpm2_createprimary + tpm2_evictcontrol at 0x81000001
#   - the right PCRs unlock (8 commands: tpm-count.py), wrong predicted PCRs exit 3, another TPM
#     exits 3, a PIN is asked for (7 without, 0 with the right one), the token plugin opens it
#   - an independent implementation: tpm2-tools' tpm2_import + tpm2_load + tpm2_unseal recover the
#     share from the token, and the passphrase derived from it in Python opens the keyslot
#   - usage: a PCR asked for but missing from the file exits 2, a malformed SRK file exits 10
. "$(dirname "$0")/lib.sh"

for tool in tpm2_createprimary tpm2_evictcontrol tpm2_flushcontext tpm2_pcrread tpm2_import tpm2_load tpm2_unseal \
            tpm2_startauthsession tpm2_policypcr tpm2_policyauthvalue \
            tpm2_readpublic python3; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (tpm2-tools, python3)"
done

dead="pcap:swtpm:path=$T/nothing/sock"
export TCTI_PCAP_FILE=$T/pcap
offline() { CVMSEAL_TCTI=$dead "$CVMSEAL" --tcti "$dead" "$@"; }
no_tpm_used() {
        [ ! -e "$TCTI_PCAP_FILE" ] || fail "offline enroll opened a TCTI (the pcap file exists)"
}

# pcr_values TCTI FILE PCR...: FILE = the pcr-values document of those sha256 PCRs of the TPM.
pcr_values() {
        local tcti=$1 file=$2 pcr list=""
        shift 2
        printf '{"sha256": {' >"$file"
        for pcr in "$@"; do
                TPM2TOOLS_TCTI=$tcti tpm2_pcrread "sha256:$pcr" -o "$T/pcr.bin" >/dev/null || fail "tpm2_pcrread"
                printf '%s"%s": "%s"' "$list" "$pcr" "$(od -An -v -tx1 "$T/pcr.bin" | tr -d ' \n')" >>"$file"
                list=", "
        done
        printf '}}\n' >>"$file"
}

ta=$(start_swtpm a) || exit 1
tb=$(start_swtpm b) || exit 1
tc=$(start_swtpm c) || exit 1
key=$T/key

# ---- srk export ----
# No SRK yet: export does not create one unless asked.
expect_exit 1 "$CVMSEAL" --tcti "$ta" srk export --output "$T/a.pub"
expect_in "$err" "no SRK at 0x81000001" "srk export without an SRK"
[ ! -e "$T/a.pub" ] || fail "srk export without an SRK wrote a file"
expect_exit 0 "$CVMSEAL" --tcti "$ta" --json srk export --create --output "$T/a.pub"
pycheck "$out" 'd["type"] == "ecc" and d["key"] == "nistp256" and d["srk-handle"] == "0x81000001" and len(d["name"]) == 68' \
        "srk export --json (ECC)"
a_name=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "$out")
# The name is the TPM's own, and the file is what tpm2_readpublic writes.
TPM2TOOLS_TCTI=$ta tpm2_readpublic -c 0x81000001 -n "$T/a.name" -o "$T/a.tools.pub" >/dev/null || fail "tpm2_readpublic"
[ "$(od -An -v -tx1 "$T/a.name" | tr -d ' \n')" = "$a_name" ] || fail "srk export's name is not the TPM's"
cmp -s "$T/a.pub" "$T/a.tools.pub" || fail "srk export's file differs from tpm2_readpublic -o"
# Without --output: binary on stdout; --json prints the same bytes in base64.
"$CVMSEAL" --tcti "$ta" srk export >"$T/a.stdout.pub" || fail "srk export to stdout"
cmp -s "$T/a.pub" "$T/a.stdout.pub" || fail "srk export to stdout differs"

# ---- the Azure-like RSA SRK on c ----
TPM2TOOLS_TCTI=$tc tpm2_createprimary -Q -C o -G rsa2048 -c "$T/rsa.ctx" || fail "tpm2_createprimary rsa2048"
TPM2TOOLS_TCTI=$tc tpm2_evictcontrol -Q -C o -c "$T/rsa.ctx" 0x81000001 || fail "tpm2_evictcontrol"
# Without a resource manager tpm2-tools leave their transient objects loaded: flush them.
TPM2TOOLS_TCTI=$tc tpm2_flushcontext -t || fail "tpm2_flushcontext"
expect_exit 0 "$CVMSEAL" --tcti "$tc" --json srk export --output "$T/c.pub"
pycheck "$out" 'd["type"] == "rsa" and d["key"] == "rsa2048"' "srk export --json (RSA)"

# ---- the boot state to predict: PCR 7 extended on a, b and c alike ----
for t in "$ta" "$tb" "$tc"; do pcr_extend "$t" 7; done
pcr_values "$ta" "$T/pv.json" 7
pcr_values "$tc" "$T/pv-c.json" 7
printf '{"sha256": {"7": "%064x"}}\n' 5 >"$T/pv-wrong.json"

# ---- offline enroll for a (ECC): no TPM at all ----
img=$T/img
make_image "$img" "$key"
expect_exit 0 offline --json enroll "$img" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv.json"
no_tpm_used
pycheck "$out" 'd["offline"] is True and d["verified"] is False and d["pcrs"] == [7, 15] and d["srk-name"] == "'"$a_name"'"' \
        "offline enroll --json"
expect_exit 0 offline enroll "$img" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv.json"
no_tpm_used
expect_in "$err" "Sealed offline for the TPM whose SRK is $a_name" "offline enroll message"
expect_in "$err" "not unsealed to check" "offline enroll message"
cryptsetup token export --token-id 0 "$img" >"$T/token.json" || fail "token export"
tok=$(cat "$T/token.json")
pycheck "$tok" 'd["tpm2"]["srk-name"] == "'"$a_name"'" and set(d["tpm2"]["import"]) == {"seed"} and d["tpm2"]["pcrs"] == [7, 15]' \
        "the token of an offline enrollment"

expect_exit 0 "$CVMSEAL" --json list "$img"
pycheck "$out" 'd["tokens"][0]["offline"] is True and d["tokens"][0]["srk-name"] == "'"$a_name"'"' "list of an offline token"

# a unlocks it: one Import more than an online token.
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$img" --token 0
expect_in "$err" "^Token 0 opens keyslot" "unlock on the target"
expect_exit 0 "$CVMSEAL" --tcti "$ta" --json unlock --test "$img" --token 1
# The commands of that unlock: the online path's seven, and the Import.
TCTI_PCAP_FILE=$T/unlock.pcap expect_exit 0 "$CVMSEAL" --tcti "pcap:$ta" unlock --test "$img" --token 0
expect_exit 0 python3 "$(dirname "$0")/../bench/tpm-count.py" --json "$T/unlock.pcap"
pycheck "$out" 'd["commands"] == ["ReadPublic", "Import", "Load", "StartAuthSession", "PolicyPCR", "PolicyAuthValue", "Unseal", "FlushContext"]' \
        "the TPM commands of an offline token's unlock"

# b is another TPM (its own SRK): exit 3.
expect_exit 0 "$CVMSEAL" --tcti "$tb" srk export --create --output "$T/b.pub"
expect_exit 3 "$CVMSEAL" --tcti "$tb" unlock --test "$img" --token 0
expect_in "$err" "this is not the TPM the token was sealed to" "unlock on another TPM"

# Wrong predicted PCRs: enrolls (nothing can tell offline), then the target refuses with exit 3.
img2=$T/img2
make_image "$img2" "$key"
expect_exit 0 offline enroll "$img2" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv-wrong.json"
expect_exit 3 "$CVMSEAL" --tcti "$ta" unlock --test "$img2"
expect_in "$err" "the TPM policy is not satisfied" "unlock with wrongly predicted PCRs"

# ---- the RSA SRK (c), with a PIN ----
img3=$T/img3
make_image "$img3" "$key"
printf '4711\n' >"$T/pin"
printf '4712\n' >"$T/badpin"
expect_exit 0 offline enroll "$img3" --unlock-key-file "$key" --tpm2-srk-pub "$T/c.pub" --pcr-values "$T/pv-c.json" \
        --pin-file "$T/pin"
no_tpm_used
expect_exit 7 "$CVMSEAL" --tcti "$tc" unlock --test "$img3" </dev/null
expect_exit 7 "$CVMSEAL" --tcti "$tc" unlock --test "$img3" --pin-file "$T/badpin"
TCTI_PCAP_FILE=$T/pin.pcap expect_exit 0 "$CVMSEAL" --tcti "pcap:$tc" unlock --test "$img3" --pin-file "$T/pin"
expect_exit 0 python3 "$(dirname "$0")/../bench/tpm-count.py" --json "$T/pin.pcap"
pycheck "$out" 'd["total"] == 8 and d["commands"][1] == "Import" and "PolicyAuthValue" in d["commands"]' \
        "the TPM commands of an offline PIN token's unlock"
expect_exit 3 "$CVMSEAL" --tcti "$ta" unlock --test "$img3" --pin-file "$T/pin"

# ---- RSA without a PIN, through the token plugin ----
img4=$T/img4
make_image "$img4" "$key"
expect_exit 0 offline enroll "$img4" --unlock-key-file "$key" --tpm2-srk-pub "$T/c.pub" --pcr-values "$T/pv-c.json"
expect_exit 0 "$CVMSEAL" --tcti "$tc" unlock --test "$img4"
# The plugin, as test-token-plugin.sh runs it (cryptsetup's token directory bind-mounted; needs root).
tokendir=$(dirname "$(find /usr/lib /lib -name 'libcryptsetup.so.12' 2>/dev/null | head -n 1)")/cryptsetup
if [ -f "${CVMSEAL_TOKEN_PLUGIN:-}" ] && [ -n "${CVMSEAL_LIBDIR:-}" ] && unshare -m true 2>/dev/null; then
        mkdir -p "$T/tokens"
        cp "$CVMSEAL_TOKEN_PLUGIN" "$T/tokens/"
        cp "$tokendir"/*.so "$T/tokens/" 2>/dev/null || true
        cs() {
                LD_LIBRARY_PATH="$CVMSEAL_LIBDIR" unshare -m sh -c \
                        'mkdir -p "$1" && mount --bind "$2" "$1" && shift 2 && exec cryptsetup "$@"' \
                        sh "$tokendir" "$T/tokens" "$@"
        }
        CVMSEAL_TCTI=$tc expect_exit 0 cs open --test-passphrase --token-only "$img4"
        CVMSEAL_TCTI=$ta cs open --test-passphrase --token-only "$img4" >/dev/null 2>&1 \
                && fail "the token plugin opened an offline token on another TPM"
else
        note "token plugin part skipped (no plugin, or no mount namespace)"
fi

# ---- an independent implementation: tpm2-tools imports what enroll wrote ----
# The token's blobs are tpm2-tools' file formats: TPM2B_PUBLIC (-u), TPM2B_PRIVATE (-i) and
# TPM2B_ENCRYPTED_SECRET (-s, as tpm2_duplicate writes it).
python3 - "$T/token.json" "$T" <<'EOF' || fail "splitting the token"
import base64, json, sys
d = json.load(open(sys.argv[1]))["tpm2"]
t = sys.argv[2]
open(t + "/obj.pub", "wb").write(base64.b64decode(d["public"]))
open(t + "/obj.dup", "wb").write(base64.b64decode(d["private"]))
seed = base64.b64decode(d["import"]["seed"])
assert int.from_bytes(seed[:2], "big") == len(seed) - 2
open(t + "/obj.seed", "wb").write(seed)
EOF
TPM2TOOLS_TCTI=$ta tpm2_import -Q -C 0x81000001 -u "$T/obj.pub" -i "$T/obj.dup" -s "$T/obj.seed" -r "$T/obj.priv" \
        2>"$T/tools.err" || fail "tpm2_import refuses the duplicate: $(cat "$T/tools.err")"
TPM2TOOLS_TCTI=$ta tpm2_load -Q -C 0x81000001 -u "$T/obj.pub" -r "$T/obj.priv" -c "$T/obj.ctx" 2>"$T/tools.err" \
        || fail "tpm2_load: $(cat "$T/tools.err")"
# The policy session: PolicyPCR, then PolicyAuthValue with the authValue that docs/token-format.md
# derives from the token's binding (token-binding.py, no cvmseal code).
uuid=$(cryptsetup luksUUID "$img")
auth=$(python3 "$(dirname "$0")/token-binding.py" "$T/token.json" "$uuid" 0) || fail "token-binding.py"
TPM2TOOLS_TCTI=$ta tpm2_startauthsession --policy-session -S "$T/s.ctx" 2>"$T/tools.err" || fail "tpm2_startauthsession"
TPM2TOOLS_TCTI=$ta tpm2_policypcr -Q -S "$T/s.ctx" -l sha256:7,15 2>"$T/tools.err" || fail "tpm2_policypcr"
TPM2TOOLS_TCTI=$ta tpm2_policyauthvalue -Q -S "$T/s.ctx" 2>"$T/tools.err" || fail "tpm2_policyauthvalue"
TPM2TOOLS_TCTI=$ta tpm2_unseal -c "$T/obj.ctx" -p "session:$T/s.ctx+hex:$auth" -o "$T/share" 2>"$T/tools.err" \
        || fail "tpm2_unseal: $(cat "$T/tools.err")"
TPM2TOOLS_TCTI=$ta tpm2_flushcontext -t && TPM2TOOLS_TCTI=$ta tpm2_flushcontext -s || fail "tpm2_flushcontext"
[ "$(stat -c %s "$T/share")" = 32 ] || fail "the unsealed share is not 32 bytes"
# The passphrase, as docs/token-format.md defines it, opens the token's keyslot.
binding=$(python3 "$(dirname "$0")/token-binding.py" --binding "$T/token.json" "$uuid" 0) || fail "token-binding.py --binding"
python3 - "$T/token.json" "$T/share" "$binding" >"$T/pass" <<'EOF' || fail "deriving the passphrase"
import base64, hashlib, hmac, json, struct, sys
tok = json.load(open(sys.argv[1]))
share = open(sys.argv[2], "rb").read()
salt = base64.b64decode(tok["kdf"]["salt"])
info = b"cvmseal v2" + bytes.fromhex(sys.argv[3])
prk = hmac.new(salt, share, hashlib.sha256).digest()
okm = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
sys.stdout.write(base64.b64encode(okm).decode())
EOF
slot=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keyslots"][0])' "$T/token.json")
key_opens "$T/pass" "$img" "$slot"

# ---- a damaged import blob: the right TPM refuses it as malformed (10), and nothing is lost ----
# retoken IMG IN CODE: token 0 of IMG replaced by IN after the Python statements CODE changed d.
retoken() {
        pyedit "$2" "$T/edited.json" "$3"
        cryptsetup token remove --token-id 0 "$1" || fail "token remove"
        cryptsetup token import --token-id 0 --json-file "$T/edited.json" "$1" || fail "token import"
}
cp "$img" "$T/img-bad"
# The duplicate, one bit of its encrypted sensitive area flipped: the outer HMAC fails at Import.
retoken "$T/img-bad" "$T/token.json" 'p = bytearray(base64.b64decode(d["tpm2"]["private"])); p[-3] ^= 1; d["tpm2"]["private"] = base64.b64encode(bytes(p)).decode()'
expect_exit 10 "$CVMSEAL" --tcti "$ta" unlock --test "$T/img-bad" --token 0
# The seed: an ECC point that is no point of the curve.
retoken "$T/img-bad" "$T/token.json" 's = bytearray(base64.b64decode(d["tpm2"]["import"]["seed"])); s[10] ^= 1; d["tpm2"]["import"]["seed"] = base64.b64encode(bytes(s)).decode()'
expect_exit 10 "$CVMSEAL" --tcti "$ta" unlock --test "$T/img-bad" --token 0
# An unknown member in "import", and an "import" that is no object: malformed before any TPM command.
retoken "$T/img-bad" "$T/token.json" 'd["tpm2"]["import"]["inner"] = "x"'
expect_exit 10 "$CVMSEAL" --tcti "$dead" unlock --test "$T/img-bad" --token 0
retoken "$T/img-bad" "$T/token.json" 'd["tpm2"]["import"] = d["tpm2"]["import"]["seed"]'
expect_exit 10 "$CVMSEAL" --tcti "$dead" unlock --test "$T/img-bad" --token 0
# Without its seed the duplicate is loaded as a private area: the TPM refuses it (10).
retoken "$T/img-bad" "$T/token.json" 'del d["tpm2"]["import"]'
expect_exit 10 "$CVMSEAL" --tcti "$ta" unlock --test "$T/img-bad" --token 0
rm -f "$TCTI_PCAP_FILE"
key_opens "$key" "$T/img-bad" 0

# ---- usage and malformed input ----
img5=$T/img5
make_image "$img5" "$key"
h=$(header_sum "$img5")
expect_exit 2 offline enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv.json" \
        --tpm2-pcrs 7,8
expect_in "$err" "lacks a value for a PCR of --tpm2-pcrs" "a PCR missing from the file"
printf '{"sha256": {}}\n' >"$T/pv-empty.json"
expect_exit 2 offline enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv-empty.json"
expect_in "$err" "has no PCR value to seal to" "an empty pcr-values document"
expect_exit 2 offline enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub"
head -c 100 /dev/urandom >"$T/junk.pub"
expect_exit 10 offline enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/junk.pub" --pcr-values "$T/pv.json"
expect_in "$err" "not an SRK public area" "a malformed SRK file"
printf '{"sha256": {"7": "00"}}' >"$T/pv-bad.json"
expect_exit 10 offline enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv-bad.json"
expect_exit 2 offline enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv.json" \
        --hsm "pkcs11:token=x;object=y"
no_tpm_used
[ "$(header_sum "$img5")" = "$h" ] || fail "a refused offline enroll changed the LUKS2 header"

# --tpm2-pcrs selects among the file's PCRs; the lock PCR's value is the file's when it has one.
pcr_values "$ta" "$T/pv2.json" 0 7 15
expect_exit 0 offline --json enroll "$img5" --unlock-key-file "$key" --tpm2-srk-pub "$T/a.pub" --pcr-values "$T/pv2.json" \
        --tpm2-pcrs 0,7
pycheck "$out" 'd["pcrs"] == [0, 7, 15]' "offline enroll --tpm2-pcrs 0,7"
expect_exit 0 "$CVMSEAL" --tcti "$ta" unlock --test "$img5"
no_tpm_used
exit 0
