#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what cvmseal needs to build, test (sanitizer and valgrind runs included) and run its demo
# on Debian 12, from Debian's archive.
# Usage: tools/install-deps.sh [--bench]     (--bench adds clevis, the benchmark's anchor)
set -euo pipefail

packages=(
        # build
        build-essential meson ninja-build pkg-config scdoc
        libcryptsetup-dev libtss2-dev libssl-dev libjson-c-dev libcmocka-dev libp11-kit-dev
        # run: the TCTI modules tpm2-tss loads with dlopen
        libtss2-tcti-device0 libtss2-tcti-swtpm0 libtss2-tcti-pcap0 libtss2-tctildr0
        # tests and demo: swtpm as the vTPM, cryptsetup and tpm2-tools as independent witnesses
        swtpm swtpm-tools tpm2-tools cryptsetup-bin python3 binutils procps
        # the recovery escrow: the tests decrypt it as its owner does (openssl pkeyutl)
        openssl
        # an independent Authenticode implementation for test-pcr-predict
        osslsigncode
        softhsm2 p11-kit opensc
        # the OpenSSL provider HSM backend's real provider in tests (keys inside a second swtpm)
        tpm2-openssl
        # hardening runs (tests/run.sh, docs/testing.md): the ASan/UBSan runtimes of gcc 12 for
        # build-asan (build-essential brings them today; named so they cannot go missing), and
        # valgrind for the valgrind suite (libc6-dbg: glibc's symbols, for its redirections and stacks)
        libasan8 libubsan1 valgrind libc6-dbg
        # the boot suite (tests/boot): QEMU with OVMF, the Debian kernel, both initramfs generators
        # (dracut-core, not dracut: dracut conflicts with initramfs-tools), and what the guest's root
        # file system is made of
        qemu-system-x86 ovmf linux-image-amd64 initramfs-tools cryptsetup-initramfs dracut-core
        busybox cpio zstd e2fsprogs kmod util-linux
)
if [ "${1:-}" = "--bench" ]; then
        packages+=(clevis clevis-tpm2 clevis-luks)
fi

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
fi
echo "Installing: ${missing[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
