#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, from Debian's archive, what cvmseal needs on Debian 12 for one job - and only that job:
#
#   tools/install-deps.sh [PROFILE...]
#     (none)   build: a compiler, meson, the libraries' development packages, scdoc, and the TCTI
#              modules tpm2-tss loads at run time
#     demo     build + what tools/demo.sh runs: swtpm as the vTPM, SoftHSM2 as the HSM key cache,
#              cryptsetup, tpm2-tools, openssl and python3 (the Azure-like vTPM fixture)
#     tests    demo + the unit, integration, fuzz, fault and valgrind suites (cmocka, sanitizer
#              runtimes, valgrind, strace, OpenSC, tpm2-openssl, osslsigncode, clevis and
#              systemd-cryptenroll for the migration tests) and the Debian package build and its test
#              (debhelper, lintian, debootstrap)
#     boot     tests + the QEMU boot suite: QEMU, OVMF, a Debian kernel, initramfs-tools and dracut-core
#              (qemu, a kernel and the initramfs generators on this machine: not for a user's laptop)
#     bench    demo + the benchmarks' anchors (clevis)
#   --bench is the old spelling of bench.  tests/run.sh (what CI runs) asks for tests and boot.
#
# Says what it installs and shows apt's progress, one line per package; the whole output of apt is
# in a log file, printed when it fails.
set -euo pipefail

build=(
        build-essential meson ninja-build pkg-config scdoc
        libcryptsetup-dev libtss2-dev libssl-dev libjson-c-dev libp11-kit-dev
        # the TCTI modules tpm2-tss loads with dlopen
        libtss2-tcti-device0 libtss2-tcti-swtpm0 libtss2-tcti-pcap0 libtss2-tctildr0
)
demo=(
        # swtpm as the vTPM, cryptsetup and tpm2-tools as independent witnesses, SoftHSM2 as the HSM
        # key cache, openssl and python3 for the Azure-like vTPM fixture (tests/attest/azure-vtpm.py)
        swtpm swtpm-tools tpm2-tools cryptsetup-bin softhsm2 p11-kit openssl python3 procps
        # (openssl: the tests also decrypt the first boot's recovery escrow as its owner does)
)
tests=(
        libcmocka-dev binutils
        # an independent Authenticode implementation for test-pcr-predict
        osslsigncode
        # pkcs11-tool for the HSM tests; the OpenSSL provider HSM backend's real provider in tests
        opensc tpm2-openssl
        # hardening runs (tests/run.sh, docs/testing.md): the ASan/UBSan runtimes of gcc 12 for
        # build-asan (build-essential brings them today; named so they cannot go missing), valgrind
        # for the valgrind suite (libc6-dbg: glibc's symbols), strace for test-secrets
        libasan8 libubsan1 valgrind libc6-dbg strace util-linux
        # migration (test-migrate-token): systemd-cryptenroll and its libcryptsetup token plugin,
        # clevis's tpm2 pin and LUKS binding
        systemd clevis clevis-tpm2 clevis-luks
        # the Debian package (debian/, test-deb): its build and lintian; bash-completion for
        # test-completion
        debhelper dpkg-dev fakeroot lintian bash-completion
        # test-deb installs and removes the packages in a Debian 12 chroot
        debootstrap
)
boot=(
        # the boot suite (tests/boot): QEMU with OVMF, the Debian kernel, both initramfs generators
        # (dracut-core, not dracut: dracut conflicts with initramfs-tools), and what the guest's root
        # file system is made of
        qemu-system-x86 ovmf linux-image-amd64 initramfs-tools cryptsetup-initramfs dracut-core
        busybox cpio zstd e2fsprogs kmod util-linux
)
bench=(clevis clevis-tpm2 clevis-luks)

packages=("${build[@]}")
profiles=()
for p in "$@"; do
        case "$p" in
        demo) packages+=("${demo[@]}") ;;
        tests) packages+=("${demo[@]}" "${tests[@]}") ;;
        boot) packages+=("${demo[@]}" "${tests[@]}" "${boot[@]}") ;;
        bench | --bench) p=bench; packages+=("${demo[@]}" "${bench[@]}") ;;
        build) ;;
        -h | --help)
                sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'
                exit 0
                ;;
        *)
                echo "install-deps.sh: unknown profile '$p' (demo, tests, boot, bench)" >&2
                exit 2
                ;;
        esac
        profiles+=("$p")
done

missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
what="build${profiles[*]:+ + ${profiles[*]}}"
if [ ${#missing[@]} -eq 0 ]; then
        echo "install-deps: everything for $what is installed" >&2
        exit 0
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
fi
log=$(mktemp "${TMPDIR:-/tmp}/cvmseal-apt.XXXXXX")
trap 'rm -f "$log"' EXIT
echo "install-deps: $what: ${#missing[@]} packages to install from Debian's archive: ${missing[*]}" >&2
echo "install-deps: updating the package lists (apt-get update)..." >&2
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
fi
echo "install-deps: downloading and installing them and their dependencies (apt-get install)..." >&2
# One line per package downloaded and set up; apt's whole output goes to the log.
status=0
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 \
        | tee "$log" \
        | sed -un -e 's/^Get:[0-9]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .*/  downloaded \1/p' \
                  -e 's/^Setting up \([^ ]*\) .*/  set up \1/p' >&2 || status=$?
if [ "$status" -ne 0 ]; then
        echo "install-deps: apt-get install failed; its output:" >&2
        cat "$log" >&2
        exit 1
fi
echo "install-deps: done" >&2
