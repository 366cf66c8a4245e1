#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# enroll refuses an unlock key it cannot use, before it touches the TPM or writes the header: a key
# file that opens no keyslot exits 1 with "opens no keyslot" (even when no TPM is reachable: the key
# is checked first), an empty key file exits 1 saying it is empty, a missing key file or a directory
# exits 1 naming the path, and enroll without --unlock-key-file is a usage error (exit 2).  After
# every refusal the LUKS2 header is byte-for-byte unchanged, no token or keyslot was added, and the
# original key still opens the image; the right key (from a file or from stdin) then enrolls.
. "$(dirname "$0")/lib.sh"

TCTI=$(start_swtpm tpm)
KEY=$T/key
IMG=$T/img
make_image "$IMG" "$KEY"
SUM=$(header_sum "$IMG")
cryptsetup luksDump "$IMG" | grep -E '^  [0-9]+: ' >"$T/slots.before" || fail "luksDump"

# unchanged WHAT: the header, the keyslots and the tokens are as make_image left them.
unchanged() {
        [ "$(header_sum "$IMG")" = "$SUM" ] || fail "$1: the LUKS2 header changed"
        cryptsetup luksDump "$IMG" | grep -E '^  [0-9]+: ' >"$T/slots.after"
        cmp -s "$T/slots.before" "$T/slots.after" || fail "$1: keyslots/tokens changed: $(cat "$T/slots.after")"
        expect_exit 0 "$CVMSEAL" --json list "$IMG"
        expect_in "$(tr -d ' \n' <<<"$out")" '"tokens":\[\],' "$1: list --json tokens"
        cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "$1: the original key no longer opens"
}

# A key that opens no keyslot.
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$T/wrong"
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$T/wrong"
expect_in "$err" "^cvmseal: $IMG: the unlock key opens no keyslot$" "wrong key: stderr"
[ -z "$out" ] || fail "wrong key: something on stdout: $out"
unchanged "wrong key"

# The same with --json: an error document on stdout, the message on stderr.
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" --json enroll "$IMG" --unlock-key-file "$T/wrong"
expect_in "$err" "opens no keyslot" "wrong key --json: stderr"
expect_in "$out" '"exit-code": 1' "wrong key --json: stdout"
expect_in "$out" '"error": ".*opens no keyslot' "wrong key --json: stdout"
unchanged "wrong key --json"

# The key is checked before the TPM: with no TPM at all, a wrong key is still exit 1, not 6.
expect_exit 1 "$CVMSEAL" --tcti "swtpm:path=$T/no-such-socket" enroll "$IMG" --unlock-key-file "$T/wrong"
expect_in "$err" "opens no keyslot" "wrong key, no TPM: stderr"
unchanged "wrong key, no TPM"

# The right key with a newline after it is another key (as for cryptsetup --key-file).
{ cat "$KEY"; echo; } >"$T/key-nl"
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$T/key-nl"
expect_in "$err" "opens no keyslot" "key with a newline: stderr"
unchanged "key with a newline"

# A wrong key on standard input.
out=$("$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file - <"$T/wrong" 2>"$T/stderr") && rc=0 || rc=$?
[ "$rc" = 1 ] || fail "wrong key on stdin: exit $rc, expected 1: $(cat "$T/stderr")"
expect_in "$(cat "$T/stderr")" "opens no keyslot" "wrong key on stdin: stderr"
unchanged "wrong key on stdin"

# An empty key file.
: >"$T/empty"
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$T/empty"
expect_in "$err" "^cvmseal: $T/empty: the unlock key file is empty$" "empty key file: stderr"
[ -z "$out" ] || fail "empty key file: something on stdout: $out"
unchanged "empty key file"

# An empty standard input.
out=$("$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file - </dev/null 2>"$T/stderr") && rc=0 || rc=$?
[ "$rc" = 1 ] || fail "empty stdin: exit $rc, expected 1: $(cat "$T/stderr")"
expect_in "$(cat "$T/stderr")" "empty" "empty stdin: stderr"
unchanged "empty stdin"

# A key file that does not exist: the message names it.
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$T/no-such-key"
expect_in "$err" "^cvmseal: .*$T/no-such-key" "missing key file: stderr"
expect_in "$err" "No such file or directory" "missing key file: stderr"
[ -z "$out" ] || fail "missing key file: something on stdout: $out"
unchanged "missing key file"

# A directory is not a key file.
mkdir "$T/keydir"
expect_exit 1 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file "$T/keydir"
expect_in "$err" "^cvmseal: .*$T/keydir" "directory as key file: stderr"
unchanged "directory as key file"

# No --unlock-key-file at all: a usage error, nothing on stdout.
expect_exit 2 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG"
expect_in "$err" "^cvmseal: .*--unlock-key-file" "no --unlock-key-file: stderr"
[ -z "$out" ] || fail "no --unlock-key-file: something on stdout: $out"
expect_exit 2 "$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file
expect_in "$err" "^cvmseal: " "--unlock-key-file without its argument: stderr"
unchanged "no --unlock-key-file"

# The right key, on standard input, enrolls: the refusals above were about the key alone.
out=$("$CVMSEAL" --tcti "$TCTI" enroll "$IMG" --unlock-key-file - <"$KEY" 2>"$T/stderr") \
        || fail "enroll with the right key on stdin: $(cat "$T/stderr")"
expect_in "$(cat "$T/stderr")" "token 0 opens keyslot 1" "enroll: stderr"
expect_exit 0 "$CVMSEAL" --tcti "$TCTI" unlock --test "$IMG"
cryptsetup open --test-passphrase --key-file "$KEY" "$IMG" || fail "the original key no longer opens after enroll"
exit 0
