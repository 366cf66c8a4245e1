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

/* The values to seal to offline, indexed by PCR number, for the PCRs of mask: from the pcr-values
 * document params->pcr_values.  The lock PCR, when mask has it only because enroll adds it (not in
 * params->pcr_mask), takes the document's value if it has one, else its value before the lock in a
 * normal boot: 32 zero bytes.  -EDOM: a PCR of params->pcr_mask is not in the document; -EBADMSG: the
 * document is malformed. */
int offline_values(const struct cvmseal_enroll_params *params, uint32_t mask, uint8_t values[CVMSEAL_PCR_MAX][32]);
