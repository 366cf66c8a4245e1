/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "hsm.h"

#define CVMSEAL_TOKEN_TYPE "cvmseal"
#define CVMSEAL_TOKEN_VERSION 1
#define TOKEN_BLOB_MAX 4096U

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

/* Is this a cvmseal token (by its type), whatever the state of the rest? */
bool token_json_is_cvmseal(const char *s);

/* The PCR list of a mask as a JSON array of numbers. */
json_object *pcr_mask_to_json(uint32_t mask);
