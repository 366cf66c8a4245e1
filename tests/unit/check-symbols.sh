#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The library exports exactly the symbols of its version script, each with the script's version:
# nothing internal leaks, nothing listed is missing.
set -eu
lib=$1 sym=$2
command -v nm >/dev/null || { echo "SKIP: nm (binutils) is not installed"; exit 77; }
version=$(sed -n 's/^\([A-Z0-9_.]*\) {.*/\1/p' "$sym" | head -n 1)
want=$(sed -n 's/^[[:space:]]*\(cvmseal_[a-z0-9_]*\);/\1@@'"$version"'/p' "$sym" | sort)
got=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
if [ "$want" != "$got" ]; then
        echo "exported symbols differ from $sym:"
        printf '%s\n' "$want" >"${TMPDIR:-/tmp}/want.$$"
        printf '%s\n' "$got" | diff -u "${TMPDIR:-/tmp}/want.$$" - || true
        rm -f "${TMPDIR:-/tmp}/want.$$"
        exit 1
fi
echo "$(printf '%s\n' "$got" | wc -l) symbols, all in $version"
