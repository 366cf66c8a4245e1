#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion (tools/bash-completion/cvmseal) with bash-completion's own helpers: commands,
# subcommands, each command's options as the command line accepts them (every option it offers is one
# that `cvmseal COMMAND --help`-free parsing takes: cvmseal is asked), token ids from the device's header.
. "$(dirname "$0")/lib.sh"

BC=/usr/share/bash-completion/bash_completion
[ -f "$BC" ] || skip "bash-completion is not installed"
COMPLETION=$(cd "$(dirname "$0")/../.." && pwd)/tools/bash-completion/cvmseal

# complete WORDS...: the completions of the last word (may be empty) of "cvmseal WORDS...".
complete_words() {
        bash -c '. "$1"; . "$2"; shift 2
                COMP_WORDS=(cvmseal "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
                COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
                _cvmseal cvmseal "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                printf "%s\n" "${COMPREPLY[@]}"' _ "$BC" "$COMPLETION" "$@"
}

got=$(complete_words "")
for c in enroll unlock list remove reseal rotate diagnose lock attest pcr policy image srk hsm provision; do
        grep -qx "$c" <<<"$got" || fail "no completion for the command $c: $got"
done
[ "$(complete_words di)" = diagnose ] || fail "di does not complete to diagnose"
[ "$(complete_words attest "")" = "$(printf 'collect\nverify')" ] || fail "attest's subcommands"
got=$(complete_words diagnose img --)
for o in --token --event-log --kernel --initrd --hsm-pin-file --json; do
        grep -qx -- "$o" <<<"$got" || fail "diagnose does not offer $o: $got"
done
grep -qx -- --test <<<"$got" && fail "diagnose offers --test"
got=$(complete_words enroll img --unlock)
grep -qx -- --unlock-token <<<"$got" && grep -qx -- --unlock-key-file <<<"$got" || fail "enroll's --unlock-*: $got"

# Every option offered for a command is one the command line accepts for it (with a value where it needs one).
for cmd in enroll unlock list remove reseal rotate provision diagnose; do
        for o in $(complete_words "$cmd" img --); do
                case $o in -h | --help | --version | -v | --verbose | --json | --tcti) continue ;; esac
                "$CVMSEAL" "$cmd" img "$o" x >/dev/null 2>"$T/e"
                ! grep -q "does not apply to this command\|unknown option" "$T/e" \
                        || fail "$cmd offers $o, which cvmseal refuses: $(cat "$T/e")"
        done
done

# Token ids from the device's header.
make_image "$T/img" "$T/key"
printf '{"type": "other", "keyslots": ["0"]}' >"$T/t.json"
cryptsetup token import --token-id 4 --json-file "$T/t.json" "$T/img" || fail "token import"
[ "$(complete_words diagnose "$T/img" --token "")" = 4 ] || fail "--token does not complete the header's token ids"
echo PASS
