#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite on a fresh Debian 12: installs what it needs, builds, runs every suite.
# Usage: tests/run.sh [meson test arguments...]     (e.g. --suite unit)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
        meson setup build -Dtests=enabled -Dman=enabled
fi
ninja -C build
meson test -C build --print-errorlogs --num-processes "$(nproc)" "$@"
