# SPDX-License-Identifier: LGPL-2.1-or-later
# The lock (docs/boot.md, "The lock PCR"), shared by the initramfs-tools scripts and the dracut module
# (sourced).  `cvmseal lock` extends the lock PCR so that nothing sealed by cvmseal unseals again in
# this boot.  The lock fails closed: when it cannot be applied, for any reason, the machine powers
# off, and these functions never return to a boot that goes on with the vTPM unlocked.  "TPM
# unavailable" (exit 6) is a failure like any other: a host that drops the TPM channel at the
# PCR_Event must not get a booted system whose sealed objects still unseal.  Only the machine's own
# configuration, in the measured initramfs, may say that there is no vTPM to lock: `tpm = none` in
# /etc/cvmseal/cvmseal.conf (docs/configuration.md).
#
# Nothing here is configured by the environment: the kernel command line's KEY=VALUE words become
# the environment of the initramfs's init.  The callers set PATH; `cvmseal`, `poweroff` and `sleep`
# are looked up in it.

# Where the kernel's own power-off is asked for when `poweroff` is missing or comes back.
_cvmseal_sysrq=/proc/sysrq-trigger

# cvmseal_conf_tpm [FILE]: prints "required" or "none", the `tpm` setting of cvmseal.conf (default
# /etc/cvmseal/cvmseal.conf), and says on standard error what it refused.  The file has the format
# that cvmseal's C reader takes (src/lib/util/config.c): "key = value" lines, blanks around both, '#'
# comments, empty lines; the last `tpm` line wins.  The value is compared, never evaluated.  Anything
# unexpected (a line that is not "key = value", a line over 4096 bytes, a value other than "none" or
# "required", a file that cannot be read) makes the answer "required": fail closed.
cvmseal_conf_tpm() (
        f=${1:-/etc/cvmseal/cvmseal.conf}
        tpm=required
        bad=
        n=0
        cr=$(printf '\r')
        if ! [ -e "$f" ]; then
                echo required
                exit 0
        fi
        if ! [ -f "$f" ] || ! [ -r "$f" ]; then
                echo "cvmseal: $f cannot be read: tpm = required" >&2
                echo required
                exit 0
        fi
        while IFS= read -r line || [ -n "$line" ]; do
                n=$((n + 1))
                if [ "${#line}" -gt 4096 ]; then
                        bad="line $n is longer than 4096 bytes"
                        break
                fi
                line=${line%"$cr"}
                # Blanks (space, tab) around the line.
                line=${line#"${line%%[!	 ]*}"}
                line=${line%"${line##*[!	 ]}"}
                case $line in
                "" | "#"*) continue ;;
                *=*) ;;
                *)
                        bad="line $n is not \"key = value\""
                        break
                        ;;
                esac
                key=${line%%=*}
                key=${key%"${key##*[!	 ]}"}
                [ "$key" = tpm ] || continue
                value=${line#*=}
                value=${value#"${value%%[!	 ]*}"}
                case $value in
                none | required) tpm=$value ;;
                *)
                        bad="line $n: tpm must be \"none\" or \"required\""
                        break
                        ;;
                esac
        done <"$f"
        if [ -n "$bad" ]; then
                echo "cvmseal: $f: $bad: tpm = required" >&2
                tpm=required
        fi
        echo "$tpm"
)

# cvmseal_poweroff: powers the machine off and never returns.  `poweroff -f` first (busybox's powers
# off at once; systemd's asks the manager for an immediate power-off and comes back: the manager
# gets 30 s); when it is missing (dracut without systemd has none), fails or comes back, the
# kernel's own (sysrq "o"); then waits for the end without returning.
cvmseal_poweroff() {
        echo "cvmseal: refusing to continue the boot with the vTPM unlocked: powering off" >&2
        sleep 5
        if poweroff -f 2>/dev/null; then
                sleep 30
        fi
        echo o >"$_cvmseal_sysrq" 2>/dev/null
        while :; do
                sleep 60
        done
}

# cvmseal_lock [CONF]: extends the lock PCR, trying three times.  Returns 0 when the lock is applied
# (or was already), or when `cvmseal lock` finds no TPM (exit 6) and CONF (default
# /etc/cvmseal/cvmseal.conf) says `tpm = none`.  Any other outcome powers the machine off.
cvmseal_lock() {
        local tpm rc try err
        tpm=$(cvmseal_conf_tpm "$1")
        echo "cvmseal: extending the lock PCR 15 (cvmseal lock)" >&2
        rc=1
        err=
        for try in 1 2 3; do
                # cvmseal's own overrides of the lock record and the configuration directory are for
                # tests; in the initramfs nothing may set them.
                err=$(unset CVMSEAL_LOCK_RECORD CVMSEAL_CONFDIR; cvmseal lock 2>&1 >/dev/null)
                rc=$?
                if [ "$rc" -eq 0 ]; then
                        return 0
                fi
                if [ "$rc" -eq 6 ] && [ "$tpm" = none ]; then
                        echo "cvmseal: no vTPM (tpm = none in cvmseal.conf): nothing to lock" >&2
                        return 0
                fi
                [ "$try" -eq 3 ] || sleep 1
        done
        echo "cvmseal: cannot extend the lock PCR (exit $rc):" >&2
        # cvmseal's message, on the console: no control characters (no terminal escapes).
        printf '%s\n' "$err" | tr -d '\000-\010\013-\037\177' | sed 's/^/    /' >&2
        cvmseal_poweroff
}
