/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The HSM binding, independent of the backend: which backend serves a URI, the framing of each
 * mechanism, the key check, and the binding's JSON form in the token.
 *
 *   AES-256-GCM:     ciphertext = GCM(key, iv = 12 random bytes, aad, share) || 16-byte tag
 *   RSA-OAEP-SHA256: ciphertext = OAEP-SHA256(public key, share || SHA-256(aad))
 *                    (PKCS#11 modules commonly refuse an OAEP label, so the AAD travels as a digest
 *                    inside the plaintext and is compared, in constant time, after decryption)
 *   RSA-OAEP-SHA1:   the same with OAEP's hash and MGF1 on SHA-1, chosen at enrollment only when the
 *                    HSM refuses SHA-256 (SoftHSM 2.6 does); OAEP's security does not rest on the
 *                    collision resistance that SHA-1 has lost
 *
 * aad = LUKS UUID || token id: a binding copied to another volume or token does not decrypt there.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "encoding.h"
#include "crypto-util.h"
#include "hsm-backend.h"
#include "json-util.h"
#include "kdf.h"
#include "log.h"
#include "macro.h"
#include "secret.h"

struct hsm_key {
        const struct hsm_backend *backend;
        void *data;
};

static const struct hsm_backend *const backends[] = {
        &hsm_pkcs11_backend,
};

static const char *const mechanism_names[_HSM_MECHANISM_MAX] = {
        [HSM_AES_256_GCM] = "aes-256-gcm",
        [HSM_RSA_OAEP_SHA256] = "rsa-oaep-sha256",
        [HSM_RSA_OAEP_SHA1] = "rsa-oaep-sha1",
};

const char *hsm_mechanism_to_string(enum hsm_mechanism m) {
        return m >= 0 && m < _HSM_MECHANISM_MAX ? mechanism_names[m] : NULL;
}

int hsm_mechanism_from_string(const char *s) {
        for (int m = 0; m < _HSM_MECHANISM_MAX; m++)
                if (streq_ptr(s, mechanism_names[m]))
                        return m;
        return -EINVAL;
}

static const struct hsm_backend *backend_for(const char *uri) {
        for (size_t i = 0; uri && i < ELEMENTSOF(backends); i++)
                if (strncmp(uri, backends[i]->scheme, strlen(backends[i]->scheme)) == 0)
                        return backends[i];
        log_debug("No HSM backend serves this URI (expected %s...)", backends[0]->scheme);
        return NULL;
}

void hsm_binding_done(struct hsm_binding *b) {
        if (!b)
                return;
        free(b->uri);
        free(b->ciphertext);
        memset(b, 0, sizeof(*b));
}

int hsm_uri_public(const char *uri, char **ret) {
        const struct hsm_backend *b = backend_for(uri);

        return b ? b->uri_public(uri, ret) : -EINVAL;
}

int hsm_uri_stored_check(const char *uri) {
        const struct hsm_backend *b = backend_for(uri);

        if (!b)
                return -EINVAL;
        return b->uri_stored_check ? b->uri_stored_check(uri) : 0;
}

int hsm_uri_pin(const char *uri, cvmseal_secret **ret) {
        const struct hsm_backend *b = backend_for(uri);

        return b ? b->uri_pin(uri, ret) : -EINVAL;
}

int hsm_key_open(const char *uri, const cvmseal_secret *pin, hsm_key **ret) {
        const struct hsm_backend *b = backend_for(uri);
        hsm_key *k;
        int r;

        if (!b)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->backend = b;
        r = b->open(uri, pin, &k->data);
        if (r < 0) {
                free(k);
                return r;
        }
        *ret = k;
        return 0;
}

void hsm_key_free(hsm_key *k) {
        if (!k)
                return;
        k->backend->close(k->data);
        free(k);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(hsm_key *, hsm_key_free);

int hsm_key_check(hsm_key *k, bool allow_extractable) {
        enum hsm_mechanism m;
        bool sensitive, extractable;
        int r;

        r = k->backend->describe(k->data, &m, &sensitive, &extractable);
        if (r < 0)
                return r;
        if (!sensitive)
                return log_debug_ret(-EKEYEXPIRED, "The HSM key is not sensitive: its value can be read out");
        if (extractable && !allow_extractable)
                return log_debug_ret(-EKEYEXPIRED, "The HSM key is extractable");
        return 0;
}

static void aad_digest(const uint8_t *aad, size_t aad_size, uint8_t out[32]) {
        unsigned n;

        (void) EVP_Digest(aad, aad_size, out, &n, EVP_sha256(), NULL);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

/* RSA-OAEP-SHA256 with the HSM key's public half, in software: encryption needs no secret. */
static int rsa_oaep_encrypt(hsm_key *k, bool sha256, const uint8_t *in, size_t in_size, uint8_t **ret,
                            size_t *ret_size) {
        const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha1();
        _cleanup_free_ uint8_t *n = NULL, *e = NULL, *out = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *enc = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        size_t n_size, e_size, out_size = 0;
        int r;

        r = k->backend->rsa_public(k->data, &n, &n_size, &e, &e_size);
        if (r < 0)
                return r;
        if (n_size < 256 || n_size > HSM_CIPHERTEXT_MAX)
                return log_debug_ret(-EKEYREVOKED, "The RSA key is shorter than 2048 bits or longer than 8192");

        r = rsa_public_key(n, n_size, e, e_size, &pkey);
        if (r < 0)
                return log_debug_ret(r == -ENOMEM ? r : -EKEYREVOKED, "The HSM's RSA public key is not usable");

        enc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!enc || EVP_PKEY_encrypt_init(enc) != 1 || EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(enc, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(enc, md) != 1 ||
            EVP_PKEY_encrypt(enc, NULL, &out_size, in, in_size) != 1)
                return log_debug_errno(-EIO, "RSA-OAEP encryption failed");
        out = malloc(out_size);
        if (!out)
                return -ENOMEM;
        if (EVP_PKEY_encrypt(enc, out, &out_size, in, in_size) != 1)
                return log_debug_errno(-EIO, "RSA-OAEP encryption failed");

        *ret = TAKE_PTR(out);
        *ret_size = out_size;
        return 0;
}

int hsm_seal(hsm_key *k, const uint8_t *aad, size_t aad_size, const cvmseal_secret *share, struct hsm_binding *ret) {
        struct hsm_binding b = {};
        enum hsm_mechanism m;
        bool sensitive, extractable;
        int r;

        if (cvmseal_secret_size(share) != CVMSEAL_SHARE_SIZE)
                return -EINVAL;
        r = k->backend->describe(k->data, &m, &sensitive, &extractable);
        if (r < 0)
                return r;
        b.mechanism = m;
        b.key_check_size = sizeof(b.key_check);
        r = k->backend->key_check(k->data, b.key_check, &b.key_check_size);
        if (r < 0)
                return r;

        if (m == HSM_AES_256_GCM) {
                size_t n = CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE;

                r = kdf_random(b.iv, sizeof(b.iv));
                if (r < 0)
                        return r;
                b.ciphertext = malloc(n);
                if (!b.ciphertext)
                        return -ENOMEM;
                r = k->backend->gcm_encrypt(k->data, b.iv, aad, aad_size, cvmseal_secret_data(share),
                                            CVMSEAL_SHARE_SIZE, b.ciphertext, &n);
                if (r < 0 || n != CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE) {
                        hsm_binding_done(&b);
                        return r < 0 ? r : log_debug_errno(-EIO, "AES-GCM gave %zu bytes", n);
                }
                b.ciphertext_size = n;
        } else {
                _cleanup_secret_ cvmseal_secret *plain = cvmseal_secret_new(CVMSEAL_SHARE_SIZE + 32), *probe = NULL;

                if (!plain)
                        return -ENOMEM;
                memcpy(cvmseal_secret_data_mut(plain), cvmseal_secret_data(share), CVMSEAL_SHARE_SIZE);
                aad_digest(aad, aad_size, cvmseal_secret_data_mut(plain) + CVMSEAL_SHARE_SIZE);

                /* OAEP-SHA256 where the HSM can decrypt it, else OAEP-SHA1. */
                for (int sha256 = 1; sha256 >= 0; sha256--) {
                        free(b.ciphertext);
                        b.ciphertext = NULL;
                        r = rsa_oaep_encrypt(k, sha256, cvmseal_secret_data(plain), cvmseal_secret_size(plain),
                                             &b.ciphertext, &b.ciphertext_size);
                        if (r < 0)
                                break;
                        r = k->backend->rsa_oaep_decrypt(k->data, sha256, b.ciphertext, b.ciphertext_size, &probe);
                        cvmseal_secret_free(probe);
                        probe = NULL;
                        b.mechanism = sha256 ? HSM_RSA_OAEP_SHA256 : HSM_RSA_OAEP_SHA1;
                        if (r != -EOPNOTSUPP)
                                break;
                        log_debug("The HSM refuses RSA-OAEP with SHA-256%s", sha256 ? "; trying SHA-1" : "");
                }
                if (r < 0) {
                        hsm_binding_done(&b);
                        return r == -EOPNOTSUPP ? -EKEYEXPIRED : r;
                }
        }

        *ret = b;
        return 0;
}

int hsm_unseal(hsm_key *k, const struct hsm_binding *b, const uint8_t *aad, size_t aad_size, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *plain = NULL;
        uint8_t check[HSM_KEY_CHECK_MAX], digest[32];
        size_t check_size = sizeof(check);
        bool same_key = false;
        enum hsm_mechanism m;
        bool sensitive, extractable;
        int r;

        r = k->backend->describe(k->data, &m, &sensitive, &extractable);
        if (r < 0)
                return r;
        if (m == HSM_RSA_OAEP_SHA256 && b->mechanism == HSM_RSA_OAEP_SHA1)
                m = HSM_RSA_OAEP_SHA1;
        if (m != b->mechanism)
                return log_debug_ret(-EKEYREVOKED, "The HSM key is not of the kind the token was bound with (%s)",
                                       hsm_mechanism_to_string(b->mechanism));

        /* A replaced key fails here, before it is asked to decrypt anything. */
        r = k->backend->key_check(k->data, check, &check_size);
        if (r < 0)
                return r;
        if (b->key_check_size > 0) {
                if (check_size != b->key_check_size || !secret_equal(check, b->key_check, check_size))
                        return log_debug_ret(-EKEYREVOKED, "The HSM key is not the one the token was bound to");
                same_key = true;
        }

        if (m == HSM_AES_256_GCM)
                r = k->backend->gcm_decrypt(k->data, b->iv, aad, aad_size, b->ciphertext, b->ciphertext_size, &plain);
        else
                r = k->backend->rsa_oaep_decrypt(k->data, m == HSM_RSA_OAEP_SHA256, b->ciphertext, b->ciphertext_size,
                                                 &plain);
        /* Modules report a failed GCM tag or OAEP decoding in their own ways (SoftHSM 2.6:
         * CKR_GENERAL_ERROR): a refusal all the same. */
        if (r == -EOPNOTSUPP || r == -EIO)
                r = -EKEYREVOKED;
        if (r == -EKEYREVOKED && same_key)
                /* The right key refuses the ciphertext: the binding is what is damaged. */
                return log_debug_ret(-EBADMSG, "The HSM share in the token does not decrypt with its key");
        if (r < 0)
                return r;

        if (m != HSM_AES_256_GCM) {
                aad_digest(aad, aad_size, digest);
                if (cvmseal_secret_size(plain) != CVMSEAL_SHARE_SIZE + 32 ||
                    !secret_equal(cvmseal_secret_data(plain) + CVMSEAL_SHARE_SIZE, digest, 32))
                        return log_debug_errno(same_key ? -EBADMSG : -EKEYREVOKED,
                                               "The HSM share is bound to another volume or token");
                cvmseal_secret_truncate(plain, CVMSEAL_SHARE_SIZE);
        }
        if (cvmseal_secret_size(plain) != CVMSEAL_SHARE_SIZE)
                return log_debug_ret(-EBADMSG, "The HSM share has the wrong size");

        *ret = TAKE_PTR(plain);
        return 0;
}

int hsm_keygen(const char *uri, const cvmseal_secret *pin, json_object **ret_info) {
        const struct hsm_backend *b = backend_for(uri);

        return b ? b->keygen(uri, pin, ret_info) : -EINVAL;
}

_public_ int cvmseal_hsm_keygen(const char *uri, const cvmseal_secret *pin, json_object **ret_info) {
        _cleanup_secret_ cvmseal_secret *uri_pin = NULL;
        int r;

        if (!pin) {
                r = hsm_uri_pin(uri, &uri_pin);
                if (r < 0)
                        return r;
                pin = uri_pin;
        }
        return hsm_keygen(uri, pin, ret_info);
}

_public_ int cvmseal_hsm_uri_pin(const char *uri, cvmseal_secret **ret) {
        return hsm_uri_pin(uri, ret);
}

_public_ int cvmseal_hsm_uri_public(const char *uri, char **ret) {
        return hsm_uri_public(uri, ret);
}

/* ---- JSON ---- */

static const struct json_doc doc_hsm = { "cvmseal token", "hsm." };

int hsm_binding_to_json(const struct hsm_binding *b, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        r = json_add(o, "uri", json_object_new_string(b->uri));
        if (r >= 0)
                r = json_add(o, "mechanism", json_object_new_string(hsm_mechanism_to_string(b->mechanism)));
        if (r >= 0 && b->mechanism == HSM_AES_256_GCM)
                r = json_add_blob(o, "iv", false, b->iv, sizeof(b->iv));
        if (r >= 0)
                r = json_add_blob(o, "key-check", true, b->key_check, b->key_check_size);
        if (r >= 0)
                r = json_add_blob(o, "ciphertext", false, b->ciphertext, b->ciphertext_size);
        if (r >= 0)
                r = json_add(o, "pin", json_object_new_boolean(b->pin));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int hsm_binding_from_json(json_object *o, struct hsm_binding *ret) {
        _cleanup_(hsm_binding_done) struct hsm_binding b = {};
        _cleanup_free_ uint8_t *iv = NULL, *check = NULL;
        size_t iv_size, check_size;
        bool gcm;
        json_object *v;
        int m, r;

        if (!json_object_is_type(o, json_type_object))
                return json_bad(&(const struct json_doc) { "cvmseal token", "" }, "hsm", "is not an object");
        r = json_only_members(&doc_hsm, o,
                              (const char *const[]) { "uri", "mechanism", "iv", "key-check", "ciphertext", "pin", NULL });
        if (r < 0)
                return r;

        v = json_member(&doc_hsm, o, "uri", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!backend_for(json_object_get_string(v)))
                return json_bad(&doc_hsm, "uri", "names no HSM this version knows");
        b.uri = strdup(json_object_get_string(v));
        if (!b.uri)
                return -ENOMEM;

        v = json_member(&doc_hsm, o, "mechanism", json_type_string);
        if (!v)
                return -EBADMSG;
        m = hsm_mechanism_from_string(json_object_get_string(v));
        if (m < 0)
                return json_bad(&doc_hsm, "mechanism", "is not aes-256-gcm, rsa-oaep-sha256 or rsa-oaep-sha1");
        b.mechanism = (enum hsm_mechanism) m;
        gcm = b.mechanism == HSM_AES_256_GCM;

        if (gcm) {
                r = json_get_blob(&doc_hsm, o, "iv", 0, HSM_IV_SIZE, HSM_IV_SIZE, &iv, &iv_size);
                if (r < 0)
                        return r;
                memcpy(b.iv, iv, HSM_IV_SIZE);
        } else if (json_object_object_get_ex(o, "iv", NULL))
                return json_bad(&doc_hsm, "iv", "is given for a mechanism that takes none");

        r = json_get_blob(&doc_hsm, o, "key-check", JSON_BLOB_HEX, 0, HSM_KEY_CHECK_MAX, &check, &check_size);
        if (r < 0)
                return r;
        memcpy(b.key_check, check, check_size);
        b.key_check_size = check_size;

        r = json_get_blob(&doc_hsm, o, "ciphertext", 0, gcm ? CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE : 256,
                     gcm ? CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE : HSM_CIPHERTEXT_MAX, &b.ciphertext, &b.ciphertext_size);
        if (r < 0)
                return r;

        v = json_member(&doc_hsm, o, "pin", json_type_boolean);
        if (!v)
                return -EBADMSG;
        b.pin = json_object_get_boolean(v);

        *ret = b;
        memset(&b, 0, sizeof(b));
        return 0;
}
