/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tpm2.h"

/* The attestation gate (ops.c): evidence collected with a fresh nonce, verified against the policy
 * (its exact bytes).  0 on pass; -EBADE with the failed checks in *ret_failures (optional) on fail;
 * -EPROTO when the platform's evidence is malformed; -EBADMSG when the policy is.  ret_digest gets
 * SHA-256 of the policy bytes; ret_ak (optional) the AK that the evidence's hardware report vouches for
 * (an Azure HCL report's HCLAkPub), or NULL when none does. */
int attest_gate(tpm2_context *tpm, const uint8_t *policy_text, size_t policy_size, char **ret_failures,
                uint8_t ret_digest[32], EVP_PKEY **ret_ak);

/* ---- shared with reseal.c (the steps of enroll and unlock that reseal and rotate repeat) ---- */

struct crypt_device;
struct token;
struct cvmseal_enroll_params;

/* Parses an attestation policy (text) strictly and gives the digest of its exact bytes. */
int attest_policy_check(const char *text, uint8_t ret_digest[32]);
/* What an HSM binding is bound to: LUKS UUID (36 characters) || token id (big-endian). */
void binding_aad(const char *uuid, int token_id, uint8_t aad[40]);
/* The data sealed in the TPM: the TPM share, then the HSM PIN when there is one. */
int sealed_data(const cvmseal_secret *share, const cvmseal_secret *hsm_pin, cvmseal_secret **ret);
/* Binds token t (id) to the HSM key of params->hsm_uri (of params->hsm_provider) with a fresh HSM
 * share; ret_verified (optional): false when bound from a public key alone. */
int enroll_hsm(const struct cvmseal_enroll_params *params, const char *uuid, int id, struct token *t,
               cvmseal_secret **ret_share, cvmseal_secret **ret_pin, bool *ret_verified);
/* Token id as libcryptsetup stored it parses strictly and is consistent. */
int token_check_written(struct crypt_device *cd, int id);
/* Writes token t at id (-ENOSPC when the metadata area is full). */
int token_add(struct crypt_device *cd, int id, const struct token *t);
/* Loads cvmseal token id strictly (-ENOMEDIUM: none there, or not a cvmseal token). */
int token_load(struct crypt_device *cd, int id, struct token *ret);
/* Splits unsealed data into the TPM share and the HSM PIN (when the binding has one). */
int split_sealed(const struct token *t, cvmseal_secret *data, cvmseal_secret **ret_pin);

/* From a loaded token to its keyslot passphrase: the checks that need no TPM, [the attestation
 * gate,] the unseal, [the HSM,] the KDF.  hsm_pin: the HSM PIN when the token does not seal one;
 * ret_hsm_pin (optional) gets the sealed one. */
int token_derive(struct crypt_device *cd, tpm2_context *tpm, int id, const struct token *t, const cvmseal_secret *pin,
                 const cvmseal_secret *hsm_pin, char **ret_attest_failures, cvmseal_secret **ret_passphrase,
                 cvmseal_secret **ret_hsm_pin);

struct cvmseal_enroll_result;

/* cvmseal_enroll(), and for a rekey (rekey.h): with vk_new, the token's keyslot holds vk_new (bound to
 * no segment yet) and a second keyslot, its twin, holds the volume's current key under the same
 * passphrase; no recovery key, no offline sealing.  ret_passphrase (optional): the token's keyslot
 * passphrase. */
int enroll_internal(const char *device, const cvmseal_secret *unlock_key, const struct cvmseal_enroll_params *params,
                    const cvmseal_secret *vk_new, struct cvmseal_enroll_result *ret, cvmseal_secret **ret_passphrase);
