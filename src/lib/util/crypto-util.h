/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* An RSA public key from its big-endian modulus and exponent (OSSL_PARAM_BLD, EVP_PKEY_fromdata). */
int rsa_public_key(const uint8_t *n, size_t n_size, const uint8_t *e, size_t e_size, EVP_PKEY **ret);
