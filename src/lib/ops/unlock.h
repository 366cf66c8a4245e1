/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "cvmseal.h"
#include "tpm2.h"

struct crypt_device;
struct token;

/* Splits unsealed data into the TPM share and the HSM PIN (when the binding has one). */
int split_sealed(const struct token *t, cvmseal_secret *data, cvmseal_secret **ret_pin);

/* From a loaded token to its keyslot passphrase: the checks that need no TPM, [the attestation
 * gate,] the unseal, [the HSM,] the KDF.  hsm_pin: the HSM PIN when the token does not seal one;
 * ret_hsm_pin (optional) gets the sealed one. */
int token_derive(struct crypt_device *cd, tpm2_context *tpm, int id, const struct token *t, const cvmseal_secret *pin,
                 const cvmseal_secret *hsm_pin, char **ret_attest_failures, cvmseal_secret **ret_passphrase,
                 cvmseal_secret **ret_hsm_pin);

/* Unseals token id and derives its passphrase (*tpm is opened when NULL); with check_keyslot, also
 * opens the keyslot with it (and activates params->name when given). */
int unlock_token(struct crypt_device *cd, tpm2_context **tpm, int id, const struct cvmseal_unlock_params *params,
                 bool check_keyslot, cvmseal_secret **ret_passphrase, int *ret_keyslot, int *ret_version);
