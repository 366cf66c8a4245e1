#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian packages (debian/) of this tree, the files git knows as they are in the work tree,
# in a copy under OUT (default build-deb/), with `dpkg-buildpackage -us -uc -b`, and runs lintian on
# them; the .deb files, the .changes and lintian's report are in OUT.  Exits non-zero when the build
# fails or lintian reports an error (warnings are listed, not fatal).
# Usage: tools/build-deb.sh [OUT]       (tools/install-deps.sh tests installs debhelper and lintian)
#        CVMSEAL_DEB_LINTIAN=0 skips lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-deb}")
version=$(dpkg-parsechangelog -S Version)
rm -rf "$out"
mkdir -p "$out/cvmseal-$version"
# The tree as git knows it (no build directories), with the work tree's changes.
git ls-files -z | tar -c --null -T - | tar -x -C "$out/cvmseal-$version"
echo "build-deb: building the packages of cvmseal $version in $out (dpkg-buildpackage -us -uc -b)..." >&2
(cd "$out/cvmseal-$version" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
        tail -n 60 "$out/build.log" >&2
        echo "build-deb: dpkg-buildpackage failed; its log: $out/build.log" >&2
        exit 1
}
ls "$out"/*.deb >&2
if [ "${CVMSEAL_DEB_LINTIAN:-1}" = 0 ]; then
        echo "build-deb: lintian skipped (CVMSEAL_DEB_LINTIAN=0)" >&2
        exit 0
fi
echo "build-deb: lintian..." >&2
lintian --fail-on error --display-info "$out"/*.changes >"$out/lintian.log" 2>&1 && rc=0 || rc=$?
cat "$out/lintian.log" >&2
if [ "$rc" -ne 0 ]; then
        echo "build-deb: lintian reports errors (above)" >&2
        exit 1
fi
echo "build-deb: no lintian error" >&2
