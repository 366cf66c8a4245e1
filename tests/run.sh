#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite on a fresh Debian 12: installs what it needs, builds, builds the Debian packages
# (tools/build-deb.sh: dpkg-buildpackage and lintian), compiles the project with -Werror as gcc
# release, gcc debugoptimized and clang builds (build-werror-*), runs every suite, then
# runs the unit and integration suites again in a second tree built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc), leak detection on.  docs/testing.md says what each run proves.
#
# Usage: tests/run.sh [meson test arguments...]     (e.g. --suite unit, or a test's name)
#   Without arguments: every suite in build/, then unit + integration in build-asan/.
#   With arguments: the same arguments in both trees (the ASan tree never runs the valgrind and
#   fault suites).
#   CVMSEAL_ASAN=0 skips the ASan tree.
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything the whole suite needs, the boot suite included (tools/install-deps.sh).
tools/install-deps.sh tests boot
# clang, for the clang tree of the warnings builds below (not in install-deps.sh's lists).
if [ "${CVMSEAL_WERROR_BUILDS:-1}" != 0 ] && ! command -v clang >/dev/null; then
        sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "tests/run.sh: installing clang (apt-get)" >&2
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang >/dev/null
fi
if [ ! -f build/build.ninja ]; then
        meson setup build -Dtests=enabled -Dman=enabled
elif ! meson introspect build --buildoptions | python3 -c 'import json, sys
sys.exit(0 if all(o["value"] == "enabled" for o in json.load(sys.stdin) if o["name"] in ("tests", "man")) else 1)'; then
        # A tree the demo configured (tools/demo.sh: no tests, no man page).
        meson configure build -Dtests=enabled -Dman=enabled
fi
ninja -C build
# The Debian packages (debian/), built in build-deb/ and checked by lintian (an error fails the run);
# test-deb installs and removes them in a chroot, and the boot suite installs them into its guest.
tools/build-deb.sh build-deb
export CVMSEAL_DEB_DIR=$PWD/build-deb
# A failure here does not stop the ASan run: one CI run reports both.
status=0

# ---- warnings as errors in the builds that users and distributions make ----
# gcc with -Dbuildtype=release (-O3 inlines more, and -Wmaybe-uninitialized sees more), gcc with
# debugoptimized, and clang: each tree configured once, then built (compiled, not tested) with
# -Werror, the unit tests and fuzz harnesses included.  About 90 s on 2 cores from scratch, a few
# seconds when nothing changed.  CVMSEAL_WERROR_BUILDS=0 skips them.  A failure is reported, and the
# suites run all the same.
if [ "${CVMSEAL_WERROR_BUILDS:-1}" != 0 ]; then
        start=$SECONDS
        for tree in release:gcc:release debugoptimized:gcc:debugoptimized clang:clang:debugoptimized; do
                IFS=: read -r name cc buildtype <<<"$tree"
                dir=build-werror-$name
                if [ ! -f "$dir/build.ninja" ] &&
                   ! out=$(CC=$cc meson setup "$dir" -Dbuildtype="$buildtype" -Dwerror=true -Dtests=enabled \
                                -Dman=disabled 2>&1); then
                        echo "$out" >&2
                        echo "tests/run.sh: cannot configure $dir ($cc, $buildtype)" >&2
                        status=1
                        continue
                fi
                if ! out=$(ninja -C "$dir" -j2 2>&1); then
                        echo "$out" >&2
                        echo "tests/run.sh: $dir ($cc, $buildtype, -Werror) does not build" >&2
                        status=1
                fi
        done
        echo "tests/run.sh: the -Werror builds (gcc release, gcc debugoptimized, clang) took $((SECONDS - start)) s" >&2
fi

meson test -C build --print-errorlogs --num-processes "$(nproc)" "$@" || status=$?

[ "${CVMSEAL_ASAN:-1}" != 0 ] || exit "$status"

# ---- the ASan + UBSan tree ----
# -Db_lundef=false: the sanitizer runtimes resolve the shared objects' __asan_*/__ubsan_* symbols
# only at load time.  -fno-omit-frame-pointer: whole allocation stacks in leak reports (ASan's fast
# unwinder follows frame pointers).  gcc, as CI's compiler; the man page is already built in build/.
if [ ! -f build-asan/build.ninja ]; then
        CC=gcc meson setup build-asan -Dtests=enabled -Dman=disabled \
                -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-omit-frame-pointer
fi
ninja -C build-asan

# Every report goes to a file under build-asan/sanitizer-logs, whatever the test does with the
# process's stderr or exit code (a test that expects a failure, or swallows stderr, would hide one);
# the run fails when any report was written.  abort_on_error/halt_on_error: a report also changes
# the process's exit code, so the test that ran it fails at that command.
logs=$PWD/build-asan/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"

# Two programs of the distribution get a wrapper, first in PATH, in build-asan/asan-path:
# - cryptsetup: test-token-plugin runs it (not instrumented) with our ASan-instrumented plugin and
#   libcvmseal.  The ASan runtime must be the first library of a process ("ASan runtime does not
#   come first in initial library list"), so the wrapper preloads it.  Leak detection then covers
#   cryptsetup and libcryptsetup too; they report nothing today (a leak of theirs would show up in
#   the logs with their frames, and would need an LSan suppression, not a skip).
# - strace: LeakSanitizer cannot work in a traced process ("LeakSanitizer has encountered a fatal
#   error ... does not work under ptrace"), so under strace (test-secrets traces the files cvmseal
#   opens) leak detection is off; every other ASan and UBSan check stays on.
mkdir -p build-asan/asan-path
rm -f build-asan/asan-path/*
asan_rt=$(ldd build-asan/src/token/libcryptsetup-token-cvmseal.so | awk '/libasan\.so/ { print $3; exit }')
real=$(command -v cryptsetup || true)
if [ -n "$asan_rt" ] && [ -n "$real" ]; then
        cat >build-asan/asan-path/cryptsetup <<EOF
#!/bin/sh
# Generated by tests/run.sh: cryptsetup with the ASan runtime preloaded, for the ASan-built plugin.
LD_PRELOAD="$asan_rt\${LD_PRELOAD:+:\$LD_PRELOAD}" exec "$real" "\$@"
EOF
else
        echo "tests/run.sh: no ASan runtime or no cryptsetup: test-token-plugin will fail in build-asan" >&2
fi
real=$(command -v strace || true)
if [ -n "$real" ]; then
        cat >build-asan/asan-path/strace <<EOF
#!/bin/sh
# Generated by tests/run.sh: LeakSanitizer does not work under ptrace; the other checks stay on.
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0" exec "$real" "\$@"
EOF
fi
chmod +x build-asan/asan-path/* 2>/dev/null || true
export PATH="$PWD/build-asan/asan-path:$PATH"

if [ $# -eq 0 ]; then
        # Every unit and integration test but these, which cannot hold under ASan:
        # - test-secrets asserts VmLck > 0 while cvmseal holds a secret, and ASan's mlock()
        #   interceptor does nothing and returns 0 (sanitizer_common: "mlock is unsupported"), so
        #   an ASan build never locks memory.  It runs in build/.
        asan_skip=(test-secrets)
        echo "tests/run.sh: not in build-asan (they run in build/): ${asan_skip[*]}" \
             "(ASan's mlock() does not lock)" >&2
        # By name, each once: a name selects the tests of every suite that has it (test-signed-policy
        # is a unit and an integration test), so a name listed twice would run them twice.
        mapfile -t names < <(meson test -C build-asan --list --suite unit --suite integration 2>/dev/null \
                | sed -n 's|^[^ ]*:[^ ]* / ||p' | sort -u | grep -vxF -f <(printf '%s\n' "${asan_skip[@]}"))
        [ ${#names[@]} -gt 0 ] || { echo "tests/run.sh: no test found in build-asan" >&2; exit 1; }
        set -- "${names[@]}"
else
        # Never there: valgrind cannot run a sanitized binary, and the fault suite's LD_PRELOAD shim
        # would come before the ASan runtime.
        set -- --no-suite valgrind --no-suite fault "$@"
fi
meson test -C build-asan --print-errorlogs --num-processes "$(nproc)" "$@" || status=$?

# An empty file is a process that was killed (a test's SIGKILL or timeout) after its sanitizer had
# opened the log and before it wrote anything: nothing to report, but say so.
empty=$(find "$logs" -type f -empty | wc -l)
[ "$empty" = 0 ] || echo "tests/run.sh: $empty empty sanitizer log(s) in $logs (killed processes)" >&2
reports=$(find "$logs" -type f ! -empty | sort)
if [ -n "$reports" ]; then
        echo "==== sanitizer reports (build-asan) ====" >&2
        for f in $reports; do
                echo "---- $f" >&2
                cat "$f" >&2
        done
        echo "tests/run.sh: $(wc -l <<<"$reports") sanitizer report(s) in build-asan" >&2
        [ "$status" -ne 0 ] || status=1
fi
exit "$status"
