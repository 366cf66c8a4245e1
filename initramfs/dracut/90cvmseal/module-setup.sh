#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# dracut module for cvmseal: unlocks LUKS2 volumes sealed to the vTPM from the initramfs, provisions a
# pipeline-built image on its first boot, and extends the lock PCR before the switch to the real root.
#
# systemd initrd: systemd-cryptsetup@.service opens the volume through libcryptsetup's token plugin
# (libcryptsetup-token-cvmseal.so); a drop-in runs cvmseal-provision before it, cvmseal-generator hands
# it rd.cvmseal.tcti, and cvmseal-lock.service runs `cvmseal lock` after cryptsetup.target, before
# initrd.target and the switch root, and from emergency.target/rescue.target.
# Without systemd: dracut's cryptroot-ask runs `cryptsetup luksOpen`, which tries the token plugin
# before it asks for a passphrase; a wrapper around cryptroot-ask runs cvmseal-provision first, and
# the pre-pivot and emergency hooks run `cvmseal lock`.
#
# Settings (dracut.conf.d; all optional, for a build tree or a non-standard layout):
#   cvmseal_binary=PATH        the cvmseal program (default: cvmseal in $PATH)
#   cvmseal_token_plugin=PATH  libcryptsetup-token-cvmseal.so (default: the one in libcryptsetup's
#                              token directory)
#   cvmseal_tokendir=DIR       libcryptsetup's token directory, as compiled into libcryptsetup
#                              (default: read from libcryptsetup itself)
#   cvmseal_pkcs11_modules="NAME.module ..."  the p11-kit module configurations to include (default:
#                              every one in /etc/pkcs11/modules and /usr/share/p11-kit/modules except
#                              trust-policy modules); "none": no PKCS#11 module
#   cvmseal_confdir=DIR        the configuration to copy to /etc/cvmseal (default: /etc/cvmseal)
#   cvmseal_lockscript=PATH    the lock helper shared with initramfs-tools (default: PREFIX/lib/cvmseal/
#                              cvmseal-lock.sh, or initramfs/cvmseal-lock.sh in the source tree)

# The cvmseal program on the host.
cvmseal_find_binary() {
        if [[ $cvmseal_binary ]]; then
                [[ -x $cvmseal_binary ]] && echo "$cvmseal_binary"
                return
        fi
        find_binary cvmseal
}

# libcryptsetup's external token directory: the path compiled into libcryptsetup (its
# crypt_token_external_path()), found in the library itself; else LIBDIR/cryptsetup, meson's and
# cryptsetup's default.
cvmseal_tokendir() {
        local lib dir

        if [[ $cvmseal_tokendir ]]; then
                echo "$cvmseal_tokendir"
                return 0
        fi
        lib=$(ldconfig -p 2> /dev/null | sed -n 's/^[[:space:]]*libcryptsetup\.so\.12 (.*) => //p' | head -n 1)
        [[ $lib && -e $lib ]] || return 1
        dir=$(tr -c '[:print:]' '\n' < "$lib" | grep -E '^/[[:alnum:]_./-]*/cryptsetup$' | grep -v '^/run/' | head -n 1)
        [[ $dir ]] || dir="${lib%/*}/cryptsetup"
        echo "$dir"
}

# The lock helper shared with the initramfs-tools scripts (initramfs/cvmseal-lock.sh, installed as
# PREFIX/lib/cvmseal/cvmseal-lock.sh): its policy on a failed lock is the project's one.
cvmseal_find_lockscript() {
        local f bin
        bin=$(cvmseal_find_binary)
        for f in "$cvmseal_lockscript" "$moddir/../../cvmseal-lock.sh" "${bin%/bin/*}/lib/cvmseal/cvmseal-lock.sh" \
                /usr/lib/cvmseal/cvmseal-lock.sh /usr/local/lib/cvmseal/cvmseal-lock.sh; do
                [[ $f && -f $f ]] && {
                        echo "$f"
                        return 0
                }
        done
        return 1
}

# The token plugin on the host.
cvmseal_find_token_plugin() {
        local dir

        if [[ $cvmseal_token_plugin ]]; then
                [[ -f $cvmseal_token_plugin ]] && echo "$cvmseal_token_plugin"
                return
        fi
        dir=$(cvmseal_tokendir) || return 1
        [[ -f $dir/libcryptsetup-token-cvmseal.so ]] && echo "$dir/libcryptsetup-token-cvmseal.so"
}

# called by dracut
check() {
        [[ $(cvmseal_find_binary) ]] || {
                dwarning "cvmseal: the cvmseal program is not installed"
                return 1
        }
        [[ $(cvmseal_find_token_plugin) ]] || {
                dwarning "cvmseal: libcryptsetup-token-cvmseal.so is not installed"
                return 1
        }
        # Host-only images need it only when the host has an encrypted volume.
        if [[ $hostonly ]]; then
                local fs
                for fs in "${host_fs_types[@]}"; do
                        [[ $fs == "crypto_LUKS" ]] && return 0
                done
                return 255
        fi
        return 0
}

# called by dracut: crypt brings cryptsetup, cryptroot-ask (without systemd) or systemd-cryptsetup and
# its generator (with systemd); dm brings device-mapper.
depends() {
        echo crypt dm
        return 0
}

# called by dracut: the TPM drivers (often built in: instmods skips built-in ones) and dm-crypt.
installkernel() {
        hostonly='' instmods tpm tpm_tis_core tpm_tis tpm_crb
        instmods dm_crypt
}

# A library the program needs that the host resolves outside the standard directories (a build tree:
# meson's $ORIGIN RUNPATH, which does not hold in the image) is installed into the image's library
# directory as well, where the loader finds it through the cache dracut builds.
cvmseal_inst_nonstandard_libs() {
        local bin=$1 lib dest

        # Where the host keeps libcryptsetup: a directory the loader searches in any case.
        dest=$(ldd "$bin" 2> /dev/null | sed -n 's/.*libcryptsetup\.so\.[0-9]* => \(\/[^ ]*\) .*/\1/p' | head -n 1)
        dest=${dest%/*}
        [[ $dest ]] || dest=/usr/lib

        while read -r lib; do
                [[ $lib == /* && -e $lib ]] || continue
                case "${lib%/*}" in
                        /lib | /lib64 | /usr/lib | /usr/lib64 | /lib/*-linux-gnu | /usr/lib/*-linux-gnu | /usr/local/lib*) continue ;;
                esac
                inst_library "$lib" "$dest/${lib##*/}"
        done < <(ldd "$bin" 2> /dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p')
}

# The PKCS#11 modules registered with p11-kit, and their configuration.
cvmseal_inst_pkcs11() {
        local confdirs confdir moddir conf name path

        [[ $cvmseal_pkcs11_modules == none ]] && return 0
        confdirs="$(pkg-config --variable=p11_system_config_modules p11-kit-1 2> /dev/null)"
        [[ $confdirs ]] || confdirs=/etc/pkcs11/modules
        conf="$(pkg-config --variable=p11_package_config_modules p11-kit-1 2> /dev/null)"
        confdirs+=" ${conf:-/usr/share/p11-kit/modules}"
        moddir=$(pkg-config --variable=p11_module_path p11-kit-1 2> /dev/null)
        [[ $moddir ]] || moddir=$(dirname "$(ldconfig -p | sed -n 's/^[[:space:]]*libp11-kit\.so\.0 (.*) => //p' | head -n 1)")/pkcs11

        inst_multiple -o /etc/pkcs11/pkcs11.conf
        for confdir in $confdirs; do
                for conf in "$dracutsysrootdir$confdir"/*.module; do
                        [[ -f $conf ]] || continue
                        name=${conf##*/}
                        if [[ $cvmseal_pkcs11_modules ]]; then
                                [[ " $cvmseal_pkcs11_modules " == *" $name "* ]] || continue
                        else
                                # Trust stores (p11-kit-trust) hold certificates, not keys.
                                grep -qE '^[[:space:]]*trust-policy:[[:space:]]*yes' "$conf" && continue
                        fi
                        path=$(sed -n 's/^[[:space:]]*module:[[:space:]]*//p' "$conf" | head -n 1)
                        [[ $path ]] || continue
                        [[ $path == /* ]] || path="$moddir/$path"
                        if [[ -e $dracutsysrootdir$path ]]; then
                                inst_simple "${conf#"$dracutsysrootdir"}"
                                inst_library "$path"
                        else
                                dwarning "cvmseal: PKCS#11 module $path (${conf##*/}) not found"
                        fi
                done
        done
}

# called by dracut
install() {
        local bin plugin tokendir confdir f

        bin=$(cvmseal_find_binary)
        plugin=$(cvmseal_find_token_plugin)
        tokendir=$(cvmseal_tokendir)
        if ! [[ $bin && $plugin && $tokendir ]]; then
                dfatal "cvmseal: the cvmseal program or its token plugin is missing"
                return 1
        fi

        # The program, the token plugin where libcryptsetup loads it, and what they link.
        inst_binary "$bin" /usr/bin/cvmseal
        cvmseal_inst_nonstandard_libs "$bin"
        inst_library "$plugin" "$tokendir/libcryptsetup-token-cvmseal.so"
        cvmseal_inst_nonstandard_libs "$plugin"

        # tpm2-tss loads its TCTIs with dlopen: ldd does not see them.
        _arch=${DRACUT_ARCH:-$(uname -m)}
        inst_libdir_file {"tls/$_arch/",tls/,"$_arch/",}"libtss2-tctildr.so.0*" \
                {"tls/$_arch/",tls/,"$_arch/",}"libtss2-tcti-device.so.0*"

        cvmseal_inst_pkcs11

        # Attestation policies, the certificate cache (certs/), signed policies.
        confdir=${cvmseal_confdir:-/etc/cvmseal}
        if [[ -d $dracutsysrootdir$confdir ]]; then
                inst_dir /etc/cvmseal
                while read -r f; do
                        if [[ -d $f ]]; then
                                inst_dir "/etc/cvmseal/${f#"$dracutsysrootdir$confdir"/}"
                        else
                                inst_simple "$f" "/etc/cvmseal/${f#"$dracutsysrootdir$confdir"/}"
                        fi
                done < <(find "$dracutsysrootdir$confdir" -mindepth 1 \( -type f -o -type d \) | sort)
        fi

        inst_multiple cat ls sleep tr sed
        inst_multiple -o timeout
        inst_simple "$moddir/cvmseal-lib.sh" /usr/lib/cvmseal/cvmseal-lib.sh
        if ! f=$(cvmseal_find_lockscript); then
                dfatal "cvmseal: the lock helper cvmseal-lock.sh is missing (set cvmseal_lockscript=)"
                return 1
        fi
        inst_simple "$f" /usr/lib/cvmseal/cvmseal-lock.sh
        # The lock fails closed (docs/configuration.md): without a TPM the initramfs powers the machine
        # off, unless cvmseal.conf says `tpm = none`.  Say so when this machine has no TPM (a pipeline
        # builds for other machines: then it is only a reminder).
        if ! [[ -e /dev/tpmrm0 || -e /sys/class/tpm/tpm0 ]] &&
                [[ $(. "$f"; cvmseal_conf_tpm "$dracutsysrootdir$confdir/cvmseal.conf") != none ]]; then
                dwarning "cvmseal: this machine has no TPM: the initramfs will power it off at the lock, unless $confdir/cvmseal.conf says 'tpm = none'"
        fi
        inst_script "$moddir/cvmseal-provision.sh" /usr/lib/cvmseal/cvmseal-provision
        inst_script "$moddir/cvmseal-lock.sh" /usr/lib/cvmseal/cvmseal-lock
        chmod 0755 "$initdir/usr/lib/cvmseal/cvmseal-provision" "$initdir/usr/lib/cvmseal/cvmseal-lock"

        if dracut_module_included "systemd"; then
                inst_multiple systemctl systemd-escape
                inst_simple "$moddir/cvmseal-lock.service" "$systemdsystemunitdir/cvmseal-lock.service"
                inst_simple "$moddir/cvmseal-cryptsetup.conf" \
                        "$systemdsystemunitdir/systemd-cryptsetup@.service.d/cvmseal.conf"
                # rd.cvmseal.tcti= for the token plugin inside systemd-cryptsetup.
                inst_script "$moddir/cvmseal-generator.sh" "$systemdutildir/system-generators/cvmseal-generator"
                chmod 0755 "$initdir$systemdutildir/system-generators/cvmseal-generator"
                for f in initrd.target initrd-switch-root.target emergency.target rescue.target; do
                        mkdir -p "$initdir$systemdsystemunitdir/$f.wants"
                        ln_r "$systemdsystemunitdir/cvmseal-lock.service" \
                                "$systemdsystemunitdir/$f.wants/cvmseal-lock.service"
                done
        else
                # cryptroot-ask (90crypt, installed before this module) opens each volume: provision it
                # first, with the same device argument, then hand over.
                if [[ -e $initdir/sbin/cryptroot-ask ]]; then
                        mv "$initdir/sbin/cryptroot-ask" "$initdir/sbin/cryptroot-ask.dracut"
                        inst_script "$moddir/cvmseal-cryptroot-ask.sh" /sbin/cryptroot-ask
                        chmod 0755 "$initdir/sbin/cryptroot-ask"
                else
                        dfatal "cvmseal: dracut's crypt module did not install /sbin/cryptroot-ask"
                        return 1
                fi
                # After the root is mounted, before the switch.
                inst_hook pre-pivot 10 "$moddir/cvmseal-lock-hook.sh"
        fi

        # The emergency paths, with or without systemd: dracut's emergency shell (also what systemd's
        # emergency.service runs in a dracut initrd, and what an initqueue timeout starts) sources these
        # hooks.  cvmseal-lock.service covers the rest; the lock is idempotent.
        inst_hook emergency 10 "$moddir/cvmseal-lock-hook.sh"
        inst_hook shutdown-emergency 10 "$moddir/cvmseal-lock-hook.sh"

        dracut_need_initqueue
}
