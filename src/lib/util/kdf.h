/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cvmseal.h"

#define CVMSEAL_SHARE_SIZE 32U
#define CVMSEAL_SALT_SIZE 32U
#define CVMSEAL_KDF_INFO_PREFIX "cvmseal v1"
#define CVMSEAL_KDF_INFO_PREFIX_V2 "cvmseal v2"

/* passphrase = base64(HKDF-SHA256(ikm = tpm_share || hsm_share, salt,
 *                                 info = "cvmseal v1" || LUKS UUID (36 characters) || be32(token id)
 *                                        [|| SHA-256(attestation policy bytes)]))
 * hsm_share may be NULL (a token that is not HSM-bound); policy_digest NULL for a token without an
 * attestation gate.  The result is a NUL-terminated 44-character string in a secret buffer (its size
 * excludes the NUL). */
int kdf_derive_passphrase(const cvmseal_secret *tpm_share, const cvmseal_secret *hsm_share,
                          const uint8_t *salt, size_t salt_size, const char *luks_uuid, int token_id,
                          const uint8_t policy_digest[32], cvmseal_secret **ret);

/* Version 2 tokens: passphrase = base64(HKDF-SHA256(ikm = tpm_share || hsm_share, salt,
 *                                                    info = "cvmseal v2" || the token's binding))
 * The binding (token_binding()) covers the UUID, the token id, the attestation policy and every other
 * member, so the passphrase is bound to all of them. */
int kdf_derive_passphrase_v2(const cvmseal_secret *tpm_share, const cvmseal_secret *hsm_share, const uint8_t *salt,
                             size_t salt_size, const uint8_t binding[32], cvmseal_secret **ret);

/* HKDF-SHA256 (RFC 5869) into out. */
int kdf_hkdf_sha256(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt, size_t salt_size,
                    const uint8_t *info, size_t info_size, uint8_t *out, size_t out_size);

/* Random bytes from the OpenSSL private DRBG. */
int kdf_random(void *p, size_t n);
/* A new secret of size random bytes (a share). */
int kdf_random_secret(size_t size, cvmseal_secret **ret);

/* A recovery key: 256 random bits as 64 lower-case hex digits in 8 groups of 8, joined by '-'
 * (71 characters, NUL-terminated; the size excludes the NUL).  The text is the keyslot's passphrase. */
int kdf_recovery_key(cvmseal_secret **ret);
