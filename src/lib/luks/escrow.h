/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The recovery key of a first boot, escrowed to its owner (docs/token-format.md, "The recovery
 * escrow"): the first boot makes a recovery key in the VM (its keyslots hold the new volume key of
 * the rekey, and a twin the old one), encrypts it to the owner's RSA public key from the
 * provisioning marker (RSA-OAEP, SHA-256 and MGF1-SHA-256) and keeps only the ciphertext, in a LUKS2
 * token of type "cvmseal-recovery".  Whoever built the image knows the public key, never the
 * recovery key; the owner decrypts it with openssl.
 */

#include <stddef.h>
#include <stdint.h>

#include <libcryptsetup.h>

#include "cvmseal.h"

#define ESCROW_TOKEN_TYPE "cvmseal-recovery"
#define ESCROW_KEY_MAX 2048U          /* DER SubjectPublicKeyInfo of an RSA key of 4096 bits and less */

/* 0 when der is the DER SubjectPublicKeyInfo of an RSA key of 2048 to 4096 bits; -EINVAL otherwise. */
int escrow_key_check(const uint8_t *der, size_t size);

/* The DER SubjectPublicKeyInfo of a PEM public key (an RSA key of 2048 to 4096 bits). */
int escrow_key_from_pem(const char *pem, uint8_t **ret_der, size_t *ret_size);

/* Encrypts the recovery key to der and writes the token naming keyslot (a keyslot the recovery key
 * opens).  Returns the token id. */
int escrow_token_add(struct crypt_device *cd, int keyslot, const uint8_t *der, size_t der_size,
                     const cvmseal_secret *recovery_key);
