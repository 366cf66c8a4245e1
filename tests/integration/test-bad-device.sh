#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What is not a usable cvmseal volume is refused with exit 8, before any TPM is contacted, and left
# as it was: a plain file (zeros, random bytes, or shorter than a LUKS header, even empty) and a
# LUKS1 image make list, unlock and enroll exit 8 with "is not a LUKS2 device"; a LUKS2 image
# without a token, or with only a foreign token, makes unlock exit 8 with "has no cvmseal token" and
# `remove --token 0` exit 8 without removing the foreign token; `unlock --token 5` where there is no
# token 5 exits 8 and names it, while a foreign token beside a cvmseal one does not stop unlock; a
# path that does not exist exits 1 with "no such file"; libcryptsetup does not print on stderr
# by itself; and each refused image still opens with its original key.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is not installed"

file_sum() { sha256sum "$1" | cut -d' ' -f1; }

# only_cvmseal_lines TEXT WHAT: fails unless every line of TEXT is one of cvmseal's own messages.
only_cvmseal_lines() {
        ! grep -qv '^cvmseal: ' <<<"$1" || fail "$2: stderr has lines that are not cvmseal's: $1"
}

# A TCTI with no TPM behind it: exit 8 rather than 6 proves that the device is judged first.
nope="swtpm:path=$T/nope.sock"
key=$T/key
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key"

# not_luks2 FILE: list, unlock (--test and --print-key) and enroll all exit 8, "is not a LUKS2
# device", and FILE is not modified.
not_luks2() {
        local f=$1 sum
        sum=$(file_sum "$f")
        expect_exit 8 "$CVMSEAL" --tcti "$nope" list "$f"
        expect_in "$err" "^cvmseal: $f is not a LUKS2 device$" "list $f"
        only_cvmseal_lines "$err" "list $f"
        [ -z "$out" ] || fail "list $f printed on stdout: $out"
        expect_exit 8 "$CVMSEAL" --tcti "$nope" unlock --test "$f"
        expect_in "$err" "^cvmseal: $f is not a LUKS2 device$" "unlock --test $f"
        only_cvmseal_lines "$err" "unlock --test $f"
        expect_exit 8 "$CVMSEAL" --tcti "$nope" unlock --print-key "$f"
        [ -z "$out" ] || fail "unlock --print-key $f printed on stdout"
        expect_exit 8 "$CVMSEAL" --tcti "$nope" enroll "$f" --unlock-key-file "$key"
        expect_in "$err" "^cvmseal: $f is not a LUKS2 device$" "enroll $f"
        only_cvmseal_lines "$err" "enroll $f"
        expect_exit 8 "$CVMSEAL" --tcti "$nope" --json list "$f"
        pycheck "$out" "d['exit-code'] == 8 and 'not a LUKS2 device' in d['error']" "list --json $f"
        [ "$(file_sum "$f")" = "$sum" ] || fail "$f was modified"
}

# ---- plain files ----
truncate -s 4M "$T/zeros"
not_luks2 "$T/zeros"
head -c 1M /dev/urandom >"$T/random"
not_luks2 "$T/random"

# ---- LUKS1 ----
truncate -s 8M "$T/luks1"
cryptsetup luksFormat --type luks1 --batch-mode --pbkdf-force-iterations 1000 --key-file "$key" "$T/luks1" \
        >/dev/null || fail "luksFormat --type luks1"
not_luks2 "$T/luks1"
key_opens "$key" "$T/luks1"

# ---- a path that does not exist ----
gone=$T/does-not-exist
for argv in "list $gone" "unlock --test $gone" "enroll $gone --unlock-key-file $key" "remove $gone --token 0"; do
        # shellcheck disable=SC2086 # split on purpose: no blanks in these paths (mktemp)
        expect_exit 1 "$CVMSEAL" --tcti "$nope" $argv
        expect_in "$err" "^cvmseal: $gone: no such file" "$argv"
done
[ ! -e "$gone" ] || fail "$gone was created"

# ---- LUKS2 without a token ----
img=$T/img
make_image "$img" "$key"
h=$(header_sum "$img")
expect_exit 0 "$CVMSEAL" list --json "$img"
pycheck "$out" "d['tokens'] == [] and d['keyslots'] == [{'id': 0, 'cvmseal': False}]" "list --json without a token"
expect_exit 8 "$CVMSEAL" --tcti "$nope" unlock --test "$img"
expect_in "$err" "^cvmseal: $img has no cvmseal token$" "unlock without a token"
expect_exit 8 "$CVMSEAL" --tcti "$nope" unlock --print-key "$img"
[ -z "$out" ] || fail "unlock --print-key without a token printed on stdout"
expect_exit 8 "$CVMSEAL" --tcti "$nope" remove "$img" --token 0
expect_in "$err" "^cvmseal: $img has no cvmseal token 0$" "remove --token 0 without a token"
[ "$(header_sum "$img")" = "$h" ] || fail "the LUKS2 header without a token changed"

# ---- LUKS2 with only a foreign token ----
printf '{"type":"other","keyslots":[]}' >"$T/other.json"
cryptsetup token import --token-id 0 --json-file "$T/other.json" "$img" || fail "cryptsetup token import"
h=$(header_sum "$img")
expect_exit 0 "$CVMSEAL" list --json "$img"
pycheck "$out" "d['tokens'] == [{'id': 0, 'type': 'other'}]" "list --json with a foreign token"
expect_exit 0 "$CVMSEAL" list "$img"
expect_in "$out" "^0 +other +\(not a cvmseal token\)$" "list with a foreign token"
expect_exit 8 "$CVMSEAL" --tcti "$nope" unlock --test "$img"
expect_in "$err" "^cvmseal: $img has no cvmseal token$" "unlock with only a foreign token"
expect_exit 8 "$CVMSEAL" --tcti "$nope" unlock --test --token 0 "$img"
expect_in "$err" "^cvmseal: $img has no cvmseal token 0$" "unlock --token 0 on a foreign token"
expect_exit 8 "$CVMSEAL" --tcti "$nope" remove "$img" --token 0
expect_in "$err" "^cvmseal: $img has no cvmseal token 0$" "remove --token 0 on a foreign token"
[ "$(header_sum "$img")" = "$h" ] || fail "a refused operation changed the header with a foreign token"
tok=$(cryptsetup token export --token-id 0 "$img") || fail "the foreign token is gone"
pycheck "$tok" "d == {'type': 'other', 'keyslots': []}" "the foreign token after remove was refused"
key_opens "$key" "$img" 0

# ---- a cvmseal token beside the foreign one; a token id that does not exist ----
tcti=$(start_swtpm tpm) || exit 1
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json enroll "$img" --unlock-key-file "$key"
pycheck "$out" "d['token'] == 1" "enroll beside a foreign token 0"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" --json unlock --test "$img"
pycheck "$out" "d['token'] == 1" "unlock skips the foreign token"
h=$(header_sum "$img")
expect_exit 8 "$CVMSEAL" --tcti "$tcti" unlock --test --token 5 "$img"
expect_in "$err" "^cvmseal: $img has no cvmseal token 5$" "unlock --token 5"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" unlock --print-key --token 5 "$img"
[ -z "$out" ] || fail "unlock --print-key --token 5 printed on stdout"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" unlock --test --token 0 "$img"
expect_in "$err" "^cvmseal: $img has no cvmseal token 0$" "unlock --token 0 (foreign) beside a cvmseal token"
expect_exit 8 "$CVMSEAL" --tcti "$tcti" remove "$img" --token 5
expect_exit 8 "$CVMSEAL" --tcti "$tcti" remove "$img" --token 0
[ "$(header_sum "$img")" = "$h" ] || fail "a refused operation changed the header"
expect_exit 0 "$CVMSEAL" --tcti "$tcti" unlock --test --token 1 "$img"
key_opens "$key" "$img" 0

# ---- last, the cases that found bugs (so that a failure here hides nothing above) ----
# Files shorter than a LUKS header are not LUKS2 devices either: cryptsetup isLuks and luksDump
# say "not a valid LUKS device" about them.
echo hello >"$T/short"
not_luks2 "$T/short"
: >"$T/empty"
not_luks2 "$T/empty"

# ---- a directory: refused, and libcryptsetup's own complaint does not leak to stderr ----
mkdir "$T/dir"
"$CVMSEAL" --tcti "$nope" list "$T/dir" >/dev/null 2>"$T/dir.err" && rc=0 || rc=$?
[ "$rc" = 1 ] || [ "$rc" = 8 ] || fail "list of a directory exited $rc: $(cat "$T/dir.err")"
only_cvmseal_lines "$(cat "$T/dir.err")" "list of a directory"
exit 0
