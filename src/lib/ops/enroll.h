/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "cvmseal.h"

struct crypt_device;
struct token;

/* The data sealed in the TPM: the TPM share, then the HSM PIN when there is one. */
int sealed_data(const cvmseal_secret *share, const cvmseal_secret *hsm_pin, cvmseal_secret **ret);
/* Binds token t (id) to the HSM key of params->hsm_uri (of params->hsm_provider) with a fresh HSM
 * share; ret_verified (optional): false when bound from a public key alone. */
int enroll_hsm(const struct cvmseal_enroll_params *params, const char *uuid, int id, struct token *t,
               cvmseal_secret **ret_share, cvmseal_secret **ret_pin, bool *ret_verified);
/* Token id as libcryptsetup stored it parses strictly and is consistent with its sealed object. */
int token_check_written(struct crypt_device *cd, int id);

/* cvmseal_enroll(), and for a rekey (rekey.h): with vk_new, the token's keyslot holds vk_new (bound to
 * no segment yet) and a second keyslot, its twin, holds the volume's current key under the same
 * passphrase; no recovery key, no offline sealing.  ret_passphrase (optional): the token's keyslot
 * passphrase. */
int enroll_internal(const char *device, const cvmseal_secret *unlock_key, const struct cvmseal_enroll_params *params,
                    const cvmseal_secret *vk_new, struct cvmseal_enroll_result *ret, cvmseal_secret **ret_passphrase);
