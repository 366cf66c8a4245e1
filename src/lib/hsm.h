/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cvmseal.h"

/*
 * The local HSM key cache, behind a small interface so that backends other than PKCS#11 (Azure's
 * integrated HSM with its own C API and "masked" key blobs) can go beside it: a backend opens a key
 * named by a URI, tells what it is, and asks the HSM to encrypt or decrypt a share.  No backend
 * ever reads secret key material out of the HSM.  docs/hsm.md describes the mapping.
 *
 * Errors: -ENOKEY when the module, token or key is not there (or the URI names none), -EKEYREVOKED
 * when the HSM refuses (wrong PIN, a key not fit for the binding, a ciphertext that does not
 * decrypt), -EBADMSG when the stored binding is malformed.
 */

enum hsm_mechanism {
        HSM_AES_256_GCM,       /* an AES-256 secret key; AAD binds the share to volume and token */
        HSM_RSA_OAEP_SHA256,   /* an RSA key pair; the share is followed by SHA-256(AAD) */
        HSM_RSA_OAEP_SHA1,     /* the same, for HSMs whose OAEP knows only SHA-1 (SoftHSM 2.6) */
        _HSM_MECHANISM_MAX,
};

const char *hsm_mechanism_to_string(enum hsm_mechanism m);
int hsm_mechanism_from_string(const char *s);

#define HSM_IV_SIZE 12U
#define HSM_TAG_SIZE 16U
#define HSM_KEY_CHECK_MAX 32U
#define HSM_CIPHERTEXT_MAX 1024U  /* RSA-8192 */
#define HSM_PIN_MAX 96U           /* sealed in the TPM with the 32-byte share: 128 bytes at most */

/* What the token keeps of an HSM binding. */
struct hsm_binding {
        char *uri;                            /* without pin-value and pin-source */
        enum hsm_mechanism mechanism;
        uint8_t iv[HSM_IV_SIZE];              /* AES-GCM only */
        uint8_t key_check[HSM_KEY_CHECK_MAX]; /* identifies the key without revealing it */
        size_t key_check_size;                /* 0: the HSM gives no check value */
        uint8_t *ciphertext;
        size_t ciphertext_size;
        bool pin;                             /* the HSM PIN is sealed with the TPM share */
};

void hsm_binding_done(struct hsm_binding *b);

typedef struct hsm_key hsm_key;

/* Parses uri (RFC 7512 pkcs11: URIs) and opens the one key it names, logging in with pin (NULL:
 * the URI's pin-value or pin-source, else no login).  ret_pin_used (optional) tells whether a PIN
 * was needed. */
int hsm_key_open(const char *uri, const cvmseal_secret *pin, hsm_key **ret);
void hsm_key_free(hsm_key *k);

/* The PIN the URI itself carries (pin-value, or the file that pin-source names); NULL when none. */
int hsm_uri_pin(const char *uri, cvmseal_secret **ret);

/* The URI without its PIN attributes and module path: what may be stored and shown. */
int hsm_uri_public(const char *uri, char **ret);

/* A URI read from a LUKS2 header or a marker names a key only: -EPERM when it names code to load (a
 * PKCS#11 module path) or a PIN source, -EINVAL when it is no HSM URI.  Local configuration (p11-kit's
 * registered modules) decides the code. */
int hsm_uri_stored_check(const char *uri);

/* Checks that the key is fit for a binding: sensitive and not extractable (unless allowed), of a
 * supported kind, able to decrypt. */
int hsm_key_check(hsm_key *k, bool allow_extractable);

/* Encrypts a 32-byte share for the binding, with aad bound to it. */
int hsm_seal(hsm_key *k, const uint8_t *aad, size_t aad_size, const cvmseal_secret *share,
             struct hsm_binding *ret);

/* Decrypts the share of a binding.  -EKEYREVOKED when the key is not the one it was sealed with,
 * -EBADMSG when it is but the ciphertext does not decrypt (a damaged binding). */
int hsm_unseal(hsm_key *k, const struct hsm_binding *b, const uint8_t *aad, size_t aad_size,
               cvmseal_secret **ret);

/* Creates a key fit for a binding where the URI says (type=secret-key: AES-256; type=private:
 * RSA-3072), token-resident, sensitive and never extractable.  ret_info describes it. */
int hsm_keygen(const char *uri, const cvmseal_secret *pin, json_object **ret_info);

/* The token's JSON form of a binding, and back (strict, as token.c). */
int hsm_binding_to_json(const struct hsm_binding *b, json_object **ret);
int hsm_binding_from_json(json_object *o, struct hsm_binding *ret);
