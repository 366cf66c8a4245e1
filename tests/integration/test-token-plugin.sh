#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The LUKS2 token plugin inside the real cryptsetup binary, in the shape of cryptsetup's own plugin
# tests: enroll with cvmseal, `cryptsetup open --test-passphrase --token-only`, luksDump through the
# plugin's dump, export / remove / import at the same id and reopen, a changed PCR refused (and named), no TPM
# answered with -EAGAIN (cryptsetup then finds no usable token), a PIN token without a PIN refused.
# cryptsetup 2.6 loads plugins only from its compiled-in directory, so the test bind-mounts a copy of
# that directory with the freshly built plugin in a private mount namespace (needs root).
. "$(dirname "$0")/lib.sh"

: "${CVMSEAL_TOKEN_PLUGIN:?the built libcryptsetup-token-cvmseal.so}"
: "${CVMSEAL_LIBDIR:?the directory of the built libcvmseal.so}"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
tokendir=$(dirname "$(find /usr/lib /lib -name 'libcryptsetup.so.12' 2>/dev/null | head -n 1)")/cryptsetup
unshare -m true 2>/dev/null || skip "cannot make a mount namespace (not root?)"

mkdir -p "$T/tokens"
cp "$CVMSEAL_TOKEN_PLUGIN" "$T/tokens/"
cp "$tokendir"/*.so "$T/tokens/" 2>/dev/null || true

# cs ARGS...: cryptsetup with our plugin in its token directory.
cs() {
        LD_LIBRARY_PATH="$CVMSEAL_LIBDIR" unshare -m sh -c 'mkdir -p "$1" && mount --bind "$2" "$1" && shift 2 && exec cryptsetup "$@"' \
                sh "$tokendir" "$T/tokens" "$@"
}

TCTI=$(start_swtpm tpm)
export CVMSEAL_TCTI=$TCTI
IMG=$T/disk.img KEY=$T/key
make_image "$IMG" "$KEY"

expect_exit 0 "$CVMSEAL" enroll "$IMG" --unlock-key-file "$KEY"

# Through the plugin, no passphrase.
expect_exit 0 cs open --test-passphrase --token-only "$IMG"
expect_exit 0 cs open --test-passphrase --token-only --token-id 0 "$IMG"
expect_exit 0 cs luksDump "$IMG"
expect_in "$out" "cvmseal version: 2" "luksDump through the plugin"
expect_in "$out" "TPM PCRs: +sha256:7" "luksDump through the plugin"

# Export, remove, import at the same id, reopen: the passphrase is bound to the token id.
cryptsetup token export --token-id 0 "$IMG" >"$T/token.json" || fail "token export"
cryptsetup token remove --token-id 0 "$IMG" || fail "token remove"
expect_exit 1 cs open --test-passphrase --token-only "$IMG"
cs token import --token-id 0 --json-file "$T/token.json" "$IMG" >/dev/null 2>&1 || fail "token import"
expect_exit 0 cs open --test-passphrase --token-only "$IMG"

# The plugin validates what is imported: a damaged token is refused by cryptsetup itself.
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); del t["kdf"]; json.dump(t,open(sys.argv[2],"w"))' \
        "$T/token.json" "$T/bad.json"
expect_exit 1 cs token import --token-id 5 --json-file "$T/bad.json" "$IMG"
expect_in "$err" "cvmseal token: malformed" "cryptsetup token import of a damaged token"

# Another boot state: refused, and the header is untouched.
sum=$(header_sum "$IMG")
pcr_extend "$TCTI" 7
expect_exit 1 cs open --test-passphrase --token-only "$IMG"
[ "$(header_sum "$IMG")" = "$sum" ] || fail "a refused open changed the header"
# The refusal says which PCR differs (cvmseal diagnose's PCR part), before any passphrase is asked.
expect_in "$err" "cvmseal token 0: the TPM policy is not satisfied" "the plugin's reason"
expect_in "$err" "cvmseal token 0: PCR 7 differs from the enrolled value" "the plugin's diagnosis"

# No TPM: -EAGAIN, cryptsetup finds no usable token, and tpm2-tss stays quiet.
stop_swtpm tpm
# The plugin never changes its host's environment (setenv() in a host process races the host's own
# threads): neither it nor libcvmseal imports a function that could.
for so in "$CVMSEAL_TOKEN_PLUGIN" "$CVMSEAL_LIBDIR"/libcvmseal.so.0; do
        [ -e "$so" ] || fail "$so is missing"
        ! nm -D --undefined-only "$so" | grep -Ew "(setenv|putenv|unsetenv|clearenv)" \
                || fail "$so imports a function that changes the environment"
done
# No TPM: tpm2-tss is not even asked (so it prints nothing), without TSS2_LOG.
(unset TSS2_LOG; CVMSEAL_TCTI="swtpm:path=$T/nothing" expect_exit 1 cs open --test-passphrase --token-only "$IMG"
 if grep -q "tcti" <<<"$err"; then fail "tpm2-tss printed on cryptsetup's stderr: $err"; fi)

# A reboot: the token opens again; the original key still opens too.
TCTI=$(start_swtpm tpm)
expect_exit 0 cs open --test-passphrase --token-only "$IMG"
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "the original key no longer opens"

# The plugin's private OpenSSL library context: a host whose default context finds no algorithm
# (default properties fips=yes, and no FIPS provider) does not change what the plugin gets.  The
# same configuration breaks cvmseal itself, which uses the default context: the test can fail.
printf 'openssl_conf = init\n[init]\nalg_section = evp\n[evp]\ndefault_properties = fips=yes\n' >"$T/fips.cnf"
OPENSSL_CONF=$T/fips.cnf expect_exit 0 cs open --test-passphrase --token-only "$IMG"
if OPENSSL_CONF=$T/fips.cnf "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG" 2>/dev/null; then
        fail "the fips=yes configuration does not bite: the test proves nothing"
fi

# A PIN token without a PIN (no terminal): -ENOANO, and no prompt hangs.
printf 1234 >"$T/pin"
IMG2=$T/pin.img
make_image "$IMG2" "$KEY"
expect_exit 0 "$CVMSEAL" enroll "$IMG2" --unlock-key-file "$KEY" --pin-file "$T/pin"
expect_exit 0 "$CVMSEAL" unlock "$IMG2" --test --pin-file "$T/pin"
out=$(timeout 20 bash -c "$(declare -f cs); T='$T' tokendir='$tokendir' CVMSEAL_LIBDIR='$CVMSEAL_LIBDIR' cs open --test-passphrase --token-only '$IMG2'" </dev/null 2>&1) && fail "a PIN token opened without its PIN"
[ $? -ne 124 ] || fail "cryptsetup hung on a PIN token"

echo "ok: token plugin"
