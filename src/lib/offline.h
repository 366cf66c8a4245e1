/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "cvmseal.h"
#include "tpm2.h"

/*
 * Offline enrollment (DESIGN, "Image pipeline"; docs/image-pipeline.md): cvmseal_enroll() with
 * params->srk_public seals for another machine's TPM, to PCR values read from a pcr-values document,
 * and touches no TPM.
 */

/* The sealing step of an offline enrollment: the target SRK from params->srk_public, the values of the
 * PCRs of mask from params->pcr_values, the policy over them [+ PIN], and the import blob.  The lock
 * PCR, when mask has it only because enroll adds it (not in params->pcr_mask), takes the document's
 * value if it has one, else its value before the lock in a normal boot: 32 zero bytes.
 * -EDOM: a PCR of params->pcr_mask is not in the document; -EBADMSG: the document or the SRK's public
 * area is malformed; -EOPNOTSUPP: the SRK is no storage key this can seal to. */
int offline_seal(const struct cvmseal_enroll_params *params, uint32_t mask, const cvmseal_secret *data,
                 struct tpm2_sealed *ret);
