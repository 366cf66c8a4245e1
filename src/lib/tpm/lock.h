/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "tpm2.h"

/*
 * The lock PCR (docs/boot.md, "The lock PCR"): once the initramfs has handled every volume it extends
 * PCR 15 with a fixed event, and every token is sealed to PCR 15's value from before that extension,
 * so nothing sealed by cvmseal unseals again until the next boot.
 *
 * The extension is recorded, before it is made, in $CVMSEAL_LOCK_RECORD (default
 * /run/cvmseal/lock.json, which survives the switch to the real root): {"pcr": 15, "bank": "sha256",
 * "before": "<hex>", "after": "<hex>"}.  Enrollment after the lock reads "before" from it.
 */

#define CVMSEAL_LOCK_MASK (UINT32_C(1) << CVMSEAL_LOCK_PCR)
#define CVMSEAL_LOCK_RECORD_DEFAULT "/run/cvmseal/lock.json"
#define CVMSEAL_LOCK_EVENT "cvmseal: initramfs done, lock"
#define LOCK_VOLUME_INFO "cvmseal lock volume v1"

/* Notes that this boot unlocked volume uuid with passphrase, for the lock to measure: the file
 * <the lock record's directory>/volumes/<uuid> holds hex(HMAC-SHA256(passphrase, "cvmseal lock volume
 * v1" NUL || uuid)).  The lock's event then ends with "; volumes sha256:<hex>", the digest of every
 * note, so that PCR 15 differs when another volume (a swapped disk) was unlocked, as systemd's
 * tpm2-measure-pcr= makes it. */
int lock_note_volume(const char *uuid, const cvmseal_secret *passphrase);

/* The path of the lock record ($CVMSEAL_LOCK_RECORD, else the default). */
const char *lock_record_path(void);

/* The value of the lock PCR before the lock of this boot: the record's "before" when there is a
 * record, else the PCR's current value (one PCR_Read).  ret_locked: whether the lock has been applied
 * (or is about to be), i.e. whether the current value differs from the returned one. */
int lock_pcr_value(tpm2_context *c, uint8_t ret[32], bool *ret_locked);

/* The current values of the PCRs of mask (ascending order), read through an audit session salted
 * with the pinned SRK (the SRK the TPM shows when none is pinned): an interposer cannot choose them. */
int lock_pcr_read(tpm2_context *c, uint32_t mask, uint8_t values[][32]);

/* The PCR values to seal to for mask: the current ones (lock_pcr_read()), and for the lock PCR its
 * value before the lock.  values: 32 bytes each, ascending PCR order; now (optional): the current
 * values as read, the lock PCR's included.  ret_locked as above (false when mask has no lock PCR). */
int lock_seal_values(tpm2_context *c, uint32_t mask, uint8_t values[][32], uint8_t now[][32], bool *ret_locked);
