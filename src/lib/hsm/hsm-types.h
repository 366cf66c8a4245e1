/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The types and limits of an HSM binding, shared by the interface (hsm.h) and its backends
 * (hsm-backend.h): no functions, so a backend depends on nothing of hsm.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvmseal.h"

enum hsm_mechanism {
        HSM_AES_256_GCM,       /* an AES-256 secret key; AAD binds the share to volume and token */
        HSM_RSA_OAEP_SHA256,   /* an RSA key pair; the share is followed by SHA-256(AAD) */
        HSM_RSA_OAEP_SHA1,     /* the same, for HSMs whose OAEP knows only SHA-1 (SoftHSM 2.6) */
        HSM_ECDH_P256,         /* ECIES: ECDH of an ephemeral key and the HSM's P-256 key, HKDF-SHA256,
                                  AES-256-GCM with AAD (OpenSSL providers only) */
        HSM_ECDH_P384,         /* the same with a P-384 key */
        _HSM_MECHANISM_MAX,
};

const char *hsm_mechanism_to_string(enum hsm_mechanism m);
int hsm_mechanism_from_string(const char *s);

#define HSM_IV_SIZE 12U
#define HSM_TAG_SIZE 16U
#define HSM_KEY_CHECK_MAX 32U
#define HSM_CIPHERTEXT_MAX 1024U  /* RSA-8192 */
#define HSM_PIN_MAX CVMSEAL_HSM_PIN_MAX /* sealed in the TPM with the 32-byte share: 128 bytes at most */
#define HSM_EC_POINT_MAX 97U      /* an uncompressed P-384 point */
#define HSM_KEY_BLOB_MAX 8192U    /* a masked key blob kept in the token */
#define HSM_URI_MAX 4096U
#define HSM_PROVIDER_NAME_MAX 64U
/* In the URI of a binding that keeps its key blob: the path of the private file holding the blob. */
#define HSM_KEY_BLOB_PLACEHOLDER "{key-blob}"

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
        /* OpenSSL providers (hsm-provider.c): */
        char *provider;                       /* the provider's name; NULL: PKCS#11 (uri is pkcs11:) */
        uint8_t ephemeral[HSM_EC_POINT_MAX];  /* ECDH: the ephemeral public key, uncompressed */
        size_t ephemeral_size;                /* 0 for the other mechanisms */
        uint8_t *key_blob;                    /* the key blob that uri's {key-blob} names, or NULL */
        size_t key_blob_size;
};
