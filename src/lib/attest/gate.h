/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tpm2.h"

/* The attestation gate of a token (gate.c): evidence collected with a fresh nonce, verified against
 * the policy (its exact bytes).  0 on pass; -EBADE with the failed checks in *ret_failures (optional)
 * on fail; -EPROTO when the platform's evidence is malformed; -EBADMSG when the policy is.
 * ret_digest gets SHA-256 of the policy bytes; ret_ak (optional) the AK that the evidence's hardware
 * report vouches for (an Azure HCL report's HCLAkPub), or NULL when none does. */
int attest_gate(tpm2_context *tpm, const uint8_t *policy_text, size_t policy_size, char **ret_failures,
                uint8_t ret_digest[32], EVP_PKEY **ret_ak);

/* Parses an attestation policy (text) strictly, refuses the test-only members that a token must not
 * carry, and gives the digest of its exact bytes. */
int attest_policy_check(const char *text, uint8_t ret_digest[32]);
