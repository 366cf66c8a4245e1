# SPDX-License-Identifier: LGPL-2.1-or-later
# cvmseal_lock: extends the lock PCR (`cvmseal lock`), shared by the initramfs-tools scripts and the
# dracut module.  No TPM: nothing can unseal, nothing to lock.  Any other failure leaves sealed
# objects unsealable in this boot, so the boot does not go on: the machine powers off.
cvmseal_lock() {
        local rc try
        for try in 1 2 3; do
                /usr/bin/cvmseal lock >/dev/null 2>/run/cvmseal-lock.err
                rc=$?
                [ $rc -eq 0 ] && return 0
                [ $rc -eq 6 ] && { echo "cvmseal: no vTPM: nothing to lock" >&2; return 0; }
                sleep 1
        done
        echo "cvmseal: cannot extend the lock PCR (exit $rc): $(cat /run/cvmseal-lock.err 2>/dev/null)" >&2
        echo "cvmseal: refusing to continue the boot with the vTPM unlocked: powering off" >&2
        sleep 5
        poweroff -f 2>/dev/null || echo o >/proc/sysrq-trigger
        exit 1
}
