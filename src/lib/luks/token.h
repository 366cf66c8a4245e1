/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "hsm.h"

#define CVMSEAL_TOKEN_TYPE "cvmseal"
#define CVMSEAL_TOKEN_VERSION 2        /* what enroll, reseal and rotate write */
#define CVMSEAL_TOKEN_VERSION_MIN 1    /* what unlock still reads (with a warning) */
#define TOKEN_BLOB_MAX 4096U
#define TOKEN_BINDING_PREFIX "cvmseal token binding v2"

/* A cvmseal LUKS2 token, as docs/token-format.md describes it. */
struct token {
        int version;
        int keyslot;
        uint8_t salt[32];
        struct {
                uint32_t srk_handle;
                uint8_t *srk_name;
                size_t srk_name_size;
                char *pcr_bank;           /* "sha256" */
                uint32_t pcr_mask;
                /* Version 2: the PCR values the object is sealed to (indexed by PCR number), for the
                 * PCRs of pcr_values_mask: every PCR of pcr_mask, or with a signed policy only the
                 * fixed ones (the lock PCR).  Not secret; they let the policy digest be checked
                 * without a TPM and let `diagnose` name the PCR that changed. */
                uint32_t pcr_values_mask;
                uint8_t pcr_values[CVMSEAL_PCR_MAX][32];
                bool pin;
                uint8_t *policy;          /* the object's authPolicy, for display and checks */
                size_t policy_size;
                uint8_t *public;          /* marshalled TPM2B_PUBLIC */
                size_t public_size;
                uint8_t *private;         /* marshalled TPM2B_PRIVATE (sealed offline: the duplicate) */
                size_t private_size;
                uint8_t *import_seed;     /* sealed offline: marshalled TPM2B_ENCRYPTED_SECRET, else NULL */
                size_t import_seed_size;
                /* --tpm2-public-key (signed-policy.h): the signing key's marshalled TPM2B_PUBLIC and its
                 * name, else NULL.  pcr_mask then holds the PCRs the signed policies cover, plus the
                 * lock PCR, which is a fixed PolicyPCR after PolicyAuthorize. */
                uint8_t *pubkey;
                size_t pubkey_size;
                uint8_t *pubkey_name;
                size_t pubkey_name_size;
        } tpm2;
        bool has_hsm;
        struct hsm_binding hsm;   /* when has_hsm */
        uint8_t *attest_policy;   /* the attestation policy's exact bytes (a JSON document), or NULL */
        size_t attest_policy_size;
};

void token_done(struct token *t);

/* Strict: every member present with its type and in its range, nothing unknown.  -EBADMSG (with a
 * debug message naming the member) on anything else. */
int token_from_json(json_object *j, struct token *ret);
int token_from_string(const char *s, struct token *ret);
int token_to_json(const struct token *t, json_object **ret);

/* The token's binding (version 2, docs/token-format.md "The binding"):
 *   SHA-256(TOKEN_BINDING_PREFIX || NUL || LUKS UUID (36 characters) || be32(token id) || canonical)
 * where canonical is token_to_json()'s output (JSON_C_TO_STRING_PLAIN | NOSLASHESCAPE) without
 * tpm2.public, tpm2.private and tpm2.import: every member that decides how the secret is released
 * or where it goes.  The sealed object's authValue is derived from it (token_auth_value()), so the
 * TPM itself refuses an Unseal for a token any of whose members was changed. */
int token_binding(const struct token *t, const char *uuid, int token_id, uint8_t ret[32]);

/* The sealed object's authValue for a version 2 token: SHA-256(binding [|| SHA-256(PIN)]). */
int token_auth_value(const uint8_t binding[32], const cvmseal_secret *pin, uint8_t ret[32]);

/* SHA-256 of the whole token as cvmseal writes it (every member, the object included): what a pending
 * record names a token by, so that a record never removes another token that took the same id. */
int token_digest(const struct token *t, uint8_t ret[32]);

/* Is this a cvmseal token (by its type), whatever the state of the rest? */
bool token_json_is_cvmseal(const char *s);

/* The PCR list of a mask as a JSON array of numbers. */
json_object *pcr_mask_to_json(uint32_t mask);

/* ---- in the LUKS2 header ---- */

struct crypt_device;

/* What an HSM binding is bound to: LUKS UUID (36 characters) || token id (big-endian). */
void binding_aad(const char *uuid, int token_id, uint8_t aad[40]);
/* Writes token t at id (-ENOSPC when the metadata area is full). */
int token_add(struct crypt_device *cd, int id, const struct token *t);
/* Loads cvmseal token id strictly (-ENOMEDIUM: none there, or not a cvmseal token). */
int token_load(struct crypt_device *cd, int id, struct token *ret);
