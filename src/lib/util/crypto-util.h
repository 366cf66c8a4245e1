/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

/* An RSA public key from its big-endian modulus and exponent (OSSL_PARAM_BLD, EVP_PKEY_fromdata). */
int rsa_public_key(const uint8_t *n, size_t n_size, const uint8_t *e, size_t e_size, EVP_PKEY **ret);

/* The OpenSSL digest name and size of the TPM hash algorithms cvmseal accepts (SHA-256, SHA-384: an
 * SRK's nameAlg, a quote's signature scheme); NULL for any other. */
const char *tpm2_hash_md_name(TPMI_ALG_HASH alg, size_t *ret_size);
