/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * PCR prediction (`cvmseal pcr predict`, docs/image-pipeline.md "PCR prediction"): the SHA-256 PCR
 * values a boot will give, from the TCG event log of a boot of the same machine (firmware, boot
 * path), with the kernel and the initrd replaced by new ones.
 *
 * The log is rewritten in memory and replayed by eventlog_replay(), so StartupLocality, H-CRTM and
 * every strictness rule of the replay apply unchanged:
 *
 *   kernel  Every EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4 whose SHA-256 digest is that of the
 *           last EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4 is the Linux kernel's (firmware
 *           measures the last image it loads before the OS, and some loaders - GRUB through shim -
 *           make it load the kernel twice: both events carry the same digest).  Each bank's digest
 *           of these events becomes the Authenticode digest of the new kernel (authenticode.h).
 *           A log without such an event is -ENOMSG.
 *   initrd  The Linux EFI stub (kernel commit "efi/libstub: measure loaded initrd info into the
 *           TPM", 2022; in Debian's 6.1), when it loads the initrd through the LoadFile2
 *           protocol: INITRD_MEDIA_GUID) measures the initrd's bytes into PCR 9 with an EV_EVENT_TAG
 *           event, tagged event ID 0x8F3B22EC and data "Linux initrd\0".  Each bank's digest of
 *           those events becomes the digest of the new initrd; a log without one gets one appended
 *           (after every other event: the stub measures the initrd last in PCR 9).  An empty initrd
 *           is not measured by the stub: its events are dropped.
 *
 * Measurements made by a boot loader (GRUB's EV_IPL events of files in PCR 9 and of commands in
 * PCR 8) and by the OS after ExitBootServices (systemd's PCR 11/15, IMA) are not predicted: they
 * stay as the log has them, or are absent from it.
 */

#include <stddef.h>
#include <stdint.h>

#include "pcr-values.h"

#define LINUX_INITRD_EVENT_TAG_ID UINT32_C(0x8F3B22EC)
#define LINUX_LOAD_OPTIONS_EVENT_TAG_ID UINT32_C(0x8F3B22ED)

struct pcr_predict_params {
        const uint8_t *kernel;          /* NULL: the kernel the log measured */
        size_t kernel_size;
        const uint8_t *initrd;          /* NULL: the initrd the log measured (or none) */
        size_t initrd_size;
};

/* The predicted SHA-256 values of the PCRs in pcr_mask (0: every PCR the rewritten log extends).  A
 * PCR the log does not extend has its reset value: zero, all-ones for PCRs 17-22.  -EBADMSG for a
 * malformed log or kernel image, or a log without a SHA-256 bank; -ENOMSG when a kernel is given but
 * the log has no EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4. */
int pcr_predict(const uint8_t *log, size_t log_size, const struct pcr_predict_params *p, uint32_t pcr_mask,
                struct pcr_values *ret);
