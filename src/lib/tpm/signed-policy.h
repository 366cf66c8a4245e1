/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Signed PCR policies (TPM2_PolicyAuthorize), docs/image-pipeline.md "Signed policies".
 *
 * A token enrolled with --tpm2-public-key seals its share to
 *
 *     authPolicy = PolicyAuthorize(keySign = the signing key's TPM name, policyRef = SIGNED_POLICY_REF)
 *                  [-> PolicyPCR(fixed PCRs, fixed values)]   (the lock PCR; none by default)
 *                  [-> PolicyAuthValue]                       (version 2 tokens always: the binding
 *                                                              [and PIN]; version 1: a PIN)
 *
 * and a "signed policy" document, written by `cvmseal policy sign`, approves one set of PCR values:
 *
 *     approvedPolicy = PolicyPCR(sha256: pcrs, values)        (tpm2_policy_digest, no PIN)
 *     aHash          = SHA-256(approvedPolicy || SIGNED_POLICY_REF)
 *     signature      = RSASSA-PKCS1-v1_5-SHA256 or ECDSA-P256-SHA256 over aHash
 *
 * The document, a JSON object (every member required, nothing unknown):
 *
 *     {"version": 1,
 *      "pcrs": {"sha256": {"7": "<hex>", ...}},      (the pcr-values document, src/lib/tpm/pcr-values.h)
 *      "policy": "<hex: approvedPolicy, 32 bytes>",
 *      "key": "<hex: the signing key's TPM name, 34 bytes>",
 *      "signature": "<base64: the marshalled TPMT_SIGNATURE>",
 *      "created": "YYYY-MM-DDTHH:MM:SSZ"}
 *
 * Only approvedPolicy and the fixed policyRef are signed: "created" only orders documents that the
 * TPM would accept equally.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>

#include "cvmseal.h"
#include "pcr-values.h"
#include "token.h"
#include "tpm2.h"

/* The policyRef of every cvmseal signed policy: it separates cvmseal's approvals from anything else
 * the same key signs (a systemd-measure signature over the same PCRs, with an empty policyRef, does
 * not unlock a cvmseal token, and the other way round). */
#define SIGNED_POLICY_REF "cvmseal/pcr-policy/v1"
#define SIGNED_POLICY_REF_SIZE (sizeof(SIGNED_POLICY_REF) - 1)
#define SIGNED_POLICY_VERSION 1
#define SIGNED_POLICY_MAX_SIZE (64U * 1024U)
#define SIGNED_POLICY_MAX_FILES 64U
#define SIGNED_POLICY_DIR_DEFAULT "/etc/cvmseal/signed-policies"

/* A fixed PolicyPCR that follows PolicyAuthorize (the lock PCR at its pre-lock value): mask 0 for
 * none.  values[] is indexed by PCR number, as in struct pcr_values. */
struct signed_policy_fixed {
        uint32_t mask;
        uint8_t values[CVMSEAL_PCR_MAX][32];
};

/* The TPM2B_PUBLIC of a signing key as LoadExternal takes it, the same template as tpm2-tools'
 * `tpm2_loadexternal -G rsa|ecc -u KEY.pem` (userWithAuth | decrypt | sign, scheme NULL), so its
 * name is the one tpm2-tools computes.  RSA of 2048 to 4096 bits or ECC P-256; -EKEYREJECTED for any
 * other key. */
int signed_policy_key_from_pkey(EVP_PKEY *pkey, TPM2B_PUBLIC *ret);
/* From a PEM public key (or certificate-less SubjectPublicKeyInfo) text. */
int signed_policy_key_from_pem(const char *pem, size_t size, TPM2B_PUBLIC *ret);
/* The OpenSSL key of a TPM2B_PUBLIC made by signed_policy_key_from_pkey(); -EBADMSG otherwise. */
int signed_policy_key_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **ret);
/* nameAlg (sha256) || SHA-256(marshalled TPMT_PUBLIC). */
int signed_policy_key_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *ret);
/* The key a token records (tpm2.public-key): unmarshals exactly, is of cvmseal's template, and has the
 * recorded name.  -EBADMSG otherwise. */
int signed_policy_token_key(const uint8_t *pub, size_t pub_size, const uint8_t *name, size_t name_size,
                            TPM2B_PUBLIC *ret);
/* The marshalled TPM2B_PUBLIC and the name of a key, for the token. */
int signed_policy_token_key_marshal(const TPM2B_PUBLIC *key, uint8_t **ret_pub, size_t *ret_pub_size,
                                    uint8_t **ret_name, size_t *ret_name_size);

/* The sealed object's authPolicy: PolicyAuthorize(key_name, SIGNED_POLICY_REF), then the fixed
 * PolicyPCR (fixed NULL or mask 0: none), then PolicyAuthValue when pin.  In software. */
int signed_policy_authorize_digest(const TPM2B_NAME *key_name, const struct signed_policy_fixed *fixed, bool pin,
                                   TPM2B_DIGEST *ret);
/* approvedPolicy for the PCRs of mask (values indexed by PCR number); -EINVAL when v lacks one. */
int signed_policy_approved(const struct pcr_values *v, uint32_t mask, TPM2B_DIGEST *ret);
/* aHash = SHA-256(approvedPolicy || SIGNED_POLICY_REF). */
int signed_policy_ahash(const TPM2B_DIGEST *approved, uint8_t ret[32]);

struct signed_policy {
        struct pcr_values pcrs;
        TPM2B_DIGEST approved;
        TPM2B_NAME key_name;
        TPMT_SIGNATURE signature;
        time_t created;
        char *path;            /* where it was found (for debug messages), or NULL */
};

void signed_policy_done(struct signed_policy *p);

/* Strict parser of the document (size bytes, need not be NUL-terminated): -EBADMSG on anything
 * malformed.  Checks the form only, not the signature. */
int signed_policy_parse(const char *text, size_t size, struct signed_policy *ret);
/* Verifies in software: the key's name is the document's, approvedPolicy is the digest of its PCR
 * values over exactly mask, and the signature over aHash is the key's.  -EKEYREJECTED when not. */
int signed_policy_verify(const struct signed_policy *p, const TPM2B_PUBLIC *key, uint32_t mask);

/* Signs the PCRs of mask (0: every PCR in v) with the private key; created is the document's time
 * (0: now).  Returns the document. */
int signed_policy_sign(EVP_PKEY *key, const struct pcr_values *v, uint32_t mask, time_t created, json_object **ret);

/* The signed-policy directory: $CVMSEAL_SIGNED_POLICY_DIR, else SIGNED_POLICY_DIR_DEFAULT. */
const char *signed_policy_dir(void);

/* Reads every "*.json" file of dir, keeps (at most SIGNED_POLICY_MAX_FILES of) those that parse and
 * verify with key over mask (the others are skipped with a debug message), newest first.
 * 0 with *ret_n possibly 0. */
int signed_policy_load_dir(const char *dir, const TPM2B_PUBLIC *key, uint32_t mask, struct signed_policy **ret,
                           size_t *ret_n);
void signed_policy_free_array(struct signed_policy *a, size_t n);

/* Unseals with the first of policies (newest first) whose PCR values are the TPM's: ReadPublic of the
 * SRK, Load, LoadExternal(key), StartAuthSession, PolicyPCR(values) (again with the next document
 * while the TPM answers that the values differ), VerifySignature, PolicyAuthorize, [PolicyPCR(fixed)],
 * [PolicyAuthValue], Unseal, FlushContext x2.  The fixed PolicyPCR (fixed_mask, 0: none) is sent with an
 * empty digest: the TPM takes the current values and Unseal fails (-EPERM) when they are not the sealed
 * ones, so unlock needs no PCR_Read.  -ENOMSG when no document matches the PCRs. */
int signed_policy_unseal(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle,
                         const TPM2B_PUBLIC *key, const struct signed_policy *policies, size_t n_policies,
                         uint32_t fixed_mask, const TPM2B_AUTH *auth, cvmseal_secret **ret);

/* ---- for unlock.c ---- */

/* Unseals the object of a token that has tpm2.public-key, with the newest signed policy of
 * signed_policy_dir() that verifies and matches this boot's PCRs.  -ENOMSG when none does. */
int signed_policy_unseal_token(tpm2_context *c, const struct token *t, const struct tpm2_sealed *sealed,
                               const TPM2B_AUTH *auth, cvmseal_secret **ret);
