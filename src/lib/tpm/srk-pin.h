/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

/*
 * The pinned SRK (docs/configuration.md, "tpm2-srk.pub"; docs/threat-model.md).
 *
 * Every secret crosses the TPM channel in a session whose salt is encrypted to the SRK.  The SRK's
 * public area comes over that channel and its expected name from the token, both of which the host
 * can forge together: it would then read the salt, and the Unseal response.  So the name a session
 * may be salted to comes from local configuration: $CVMSEAL_CONFDIR/tpm2-srk.pub, the SRK's
 * marshalled TPM2B_PUBLIC as `cvmseal srk export` writes it, which the initramfs carries.  An online
 * enroll writes it when it is absent (trust on first use: enroll trusts the channel anyway, since
 * Create's sensitive data crosses it); a pipeline puts the target's `srk export` there.
 */

/* The pinned SRK's name: 0, -ENOENT when nothing is pinned, -EIO when the file is no SRK. */
int srk_pin_load(TPM2B_NAME *ret_name);

/* Checks name against the pin: 0 when it is the pinned one or nothing is pinned (*ret_pinned tells
 * which), -EREMCHG when another SRK is pinned, -EIO when the pin file is damaged. */
int srk_pin_check(const uint8_t *name, size_t size, bool *ret_pinned);

/* Pins the SRK whose marshalled TPM2B_PUBLIC is pub when nothing is pinned yet: 1 when written, 0 when
 * it was pinned already, -EREMCHG when another SRK is pinned.  Written atomically (a temporary file,
 * then link: a pin written meanwhile is never replaced), mode 0644: it is public. */
int srk_pin_save(const uint8_t *pub, size_t size);
