/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvmseal.h"
#include "token.h"
#include "tpm2.h"

/*
 * A token's sealed object, both ways: sealing a version 2 token (enroll, reseal, rotate, the first
 * boot) and unsealing a token of any version (unlock, the plugin, reseal).  One place, so that the
 * binding of a token to its object (docs/token-format.md, "The binding") is made and checked the
 * same way everywhere.
 */

/* Where and to what a token is sealed. */
struct seal_params {
        tpm2_context *tpm;              /* online: this TPM (its pinned SRK); NULL: offline */
        const uint8_t *srk_public;      /* offline: the target SRK's marshalled TPM2B_PUBLIC */
        size_t srk_public_size;
        const TPM2B_PUBLIC *signing_key;/* PolicyAuthorize by this key (signed policies), or NULL */
        uint32_t mask;                  /* the token's PCRs (with signing_key: what the signed policies
                                           cover, plus the lock PCR when it is fixed) */
        const uint8_t (*values)[32];    /* indexed by PCR number: the value of every PCR of mask (with
                                           signing_key: of the lock PCR only) */
        const cvmseal_secret *pin;      /* NULL: no PIN (the object is then noda) */
};

/* Seals data for token t as version 2: fills t->version and t->tpm2 (SRK handle and name, PCRs and
 * their values, PIN flag, policy, the object [, import seed] [, signing key]), with the object's
 * authValue derived from t's binding (uuid, id), so every member of t must be final but the object:
 * keyslot, salt, hsm, attest.  Online, the SRK must be the pinned one (-EREMCHG), and is pinned when
 * nothing is (srk-pin.h).  ret_binding gets the binding. */
int seal_token(const struct seal_params *p, const cvmseal_secret *data, const char *uuid, int id, struct token *t,
               uint8_t ret_binding[32]);

/* The sealed object of a token, after every check that needs no TPM: the blobs unmarshal exactly, the
 * object is of cvmseal's kind, its authPolicy is the token's policy, and (version 2) that policy is
 * the one the token's PCRs, values and signing key give, with PolicyAuthValue; noda agrees with "pin".
 * -EBADMSG otherwise.  list, validate and unlock all rely on it. */
int token_sealed(const struct token *t, struct tpm2_sealed *ret);

/* What unseal_token() checks before it sends anything to the TPM: token_sealed(), the pinned SRK
 * (-EREMCHG when the token names another), the PIN (-ENOANO when one is needed and not given).  Callers
 * that talk to the TPM before unsealing (the attestation gate) call it first. */
int token_precheck(const struct token *t, const cvmseal_secret *pin, struct tpm2_sealed *ret);

/* Unseals token t (id, on the volume of uuid): the checks of token_sealed(), the pinned SRK (-EREMCHG
 * before any TPM command when the token names another), the PIN (-ENOANO), then the TPM.  A version 2
 * token without a PIN whose authorization the TPM refuses was changed after it was sealed: -EBADMSG. */
int unseal_token(tpm2_context *tpm, const struct token *t, const char *uuid, int id, const cvmseal_secret *pin,
                 cvmseal_secret **ret);

/* The keyslot passphrase of token t from its shares (docs/token-format.md, "The passphrase"):
 * version 2 binds it to the token's binding, version 1 to the UUID, the token id and the attestation
 * policy's digest (policy_digest, NULL without a policy; ignored for version 2). */
int token_passphrase(const struct token *t, const char *uuid, int id, const cvmseal_secret *tpm_share,
                     const cvmseal_secret *hsm_share, const uint8_t policy_digest[32], cvmseal_secret **ret);

/* Values of the PCRs of mask from ascending order (as tpm2_pcr_read() gives them) to by PCR number. */
void values_by_pcr(uint32_t mask, const uint8_t ranked[][32], uint8_t ret[CVMSEAL_PCR_MAX][32]);
