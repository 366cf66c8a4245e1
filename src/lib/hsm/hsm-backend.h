/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a backend provides to hsm.c.  The mechanisms' framing (IVs, the AAD digest of RSA-OAEP, key
 * checks) lives in hsm.c, so a backend only moves bytes through its HSM. */

#include <json-c/json.h>

#include "cvmseal.h"
#include "hsm-types.h"

struct hsm_backend {
        const char *scheme;  /* the URI scheme it serves, with the colon: "pkcs11:" */

        int (*open)(const char *uri, const cvmseal_secret *pin, void **ret);
        void (*close)(void *key);
        /* Kind, sensitivity and extractability of the key (RSA keys as HSM_RSA_OAEP_SHA256). */
        int (*describe)(void *key, enum hsm_mechanism *ret_mechanism, bool *ret_sensitive, bool *ret_extractable);
        /* A value that identifies the key and reveals nothing of it (0 bytes when none). */
        int (*key_check)(void *key, uint8_t *buf, size_t *size);
        /* AES-GCM in the HSM. */
        int (*gcm_encrypt)(void *key, const uint8_t iv[HSM_IV_SIZE], const uint8_t *aad, size_t aad_size,
                           const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size);
        int (*gcm_decrypt)(void *key, const uint8_t iv[HSM_IV_SIZE], const uint8_t *aad, size_t aad_size,
                           const uint8_t *in, size_t in_size, cvmseal_secret **ret);
        /* RSA: the public key (for encryption in software) and OAEP-SHA256 decryption in the HSM. */
        int (*rsa_public)(void *key, uint8_t **ret_n, size_t *ret_n_size, uint8_t **ret_e, size_t *ret_e_size);
        /* -EOPNOTSUPP when the HSM does not take OAEP with that hash. */
        int (*rsa_oaep_decrypt)(void *key, bool sha256, const uint8_t *in, size_t in_size, cvmseal_secret **ret);
        /* OpenSSL providers, NULL elsewhere: the key's public half as DER SubjectPublicKeyInfo (RSA
         * and EC keys alike: encryption and the key check are done from it in software), and ECDH
         * of the key with a peer's uncompressed point (the shared secret: the x coordinate). */
        int (*public_spki)(void *key, uint8_t **ret, size_t *ret_size);
        int (*ecdh)(void *key, const uint8_t *peer, size_t peer_size, cvmseal_secret **ret);

        int (*uri_public)(const char *uri, char **ret);
        int (*uri_pin)(const char *uri, cvmseal_secret **ret);
        /* A URI read from the disk: -EPERM when it names code (a module path) or a PIN source. */
        int (*uri_stored_check)(const char *uri);
        int (*keygen)(const char *uri, const cvmseal_secret *pin, json_object **ret_info);
};

extern const struct hsm_backend hsm_pkcs11_backend;
/* Serves bindings with a "provider"; its keys are opened with hsm_provider_open(), not open(). */
extern const struct hsm_backend hsm_provider_backend;
int hsm_provider_open(const char *provider, const char *uri, const uint8_t *blob, size_t blob_size, void **ret);
/* Makes a key with the provider, the way it allows (docs/hsm.md, "Keys"), for a uri that names it by
 * {key-blob}: the key blob it gives.  hsm_provider_keygen() (hsm.h) proves it opens. */
int hsm_provider_keygen_blob(const char *provider, const char *uri, uint8_t **ret_blob, size_t *ret_blob_size);

/* The private file that a provider opens by path for a key blob, or with lock for a secret (AziHSM
 * imports an RSA key from a file): a memfd reached as /proc/self/fd/N when that works (and memfd is
 * true), else a file of mode 0600 created O_EXCL under dir (NULL: /run/cvmseal, made 0700).  Done:
 * wiped (a locked mapping), emptied, removed. */
#define HSM_RUN_DIR "/run/cvmseal"
struct blob_file {
        int fd;
        char path[64 + sizeof(HSM_RUN_DIR)];
        bool named;          /* a file under the directory (else a memfd) */
        void *map;           /* the locked mapping of a secret's memfd, or NULL */
        size_t size;
};
#define BLOB_FILE_NULL { .fd = -1 }
int hsm_blob_file(const uint8_t *data, size_t size, bool lock, const char *dir, bool memfd, struct blob_file *ret);
void hsm_blob_file_done(struct blob_file *f);
