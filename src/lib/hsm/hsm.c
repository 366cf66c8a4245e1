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
 *   ECDH-P256/P384:  ECIES, for OpenSSL providers whose ECDH returns the shared secret:
 *                    E = an ephemeral key on the HSM key's curve, Z = ECDH(E, HSM key),
 *                    K = HKDF-SHA256(Z, salt = "", info = "cvmseal hsm ecdh v1" || E's point || key check),
 *                    ciphertext = AES-256-GCM(K, iv = 12 random bytes, aad, share) || 16-byte tag;
 *                    the token keeps E's public point; the HSM computes Z at unlock
 *
 * aad = LUKS UUID || token id: a binding copied to another volume or token does not decrypt there.
 * Encryption needs only the public key, so a provider key can be bound offline, from its public half
 * (hsm_seal_public()); the key check of a provider key is SHA-256 of its DER SubjectPublicKeyInfo.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "encoding.h"
#include "crypto-util.h"
#include "hsm-backend.h"
#include "hsm.h"
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


#define ECDH_INFO_PREFIX "cvmseal hsm ecdh v1"

static bool mechanism_is_ecdh(enum hsm_mechanism m) {
        return m == HSM_ECDH_P256 || m == HSM_ECDH_P384;
}

static size_t ecdh_point_size(enum hsm_mechanism m) {
        return m == HSM_ECDH_P256 ? 65 : m == HSM_ECDH_P384 ? 97 : 0;
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
        free(b->provider);
        free(b->key_blob);
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

int hsm_key_open_provider(const char *provider, const char *uri, const uint8_t *blob, size_t blob_size,
                          hsm_key **ret) {
        hsm_key *k;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->backend = &hsm_provider_backend;
        r = hsm_provider_open(provider, uri, blob, blob_size, &k->data);
        if (r < 0) {
                free(k);
                return r;
        }
        *ret = k;
        return 0;
}

int hsm_key_open_binding(const struct hsm_binding *b, const cvmseal_secret *pin, hsm_key **ret) {
        if (b->provider)
                return hsm_key_open_provider(b->provider, b->uri, b->key_blob, b->key_blob_size, ret);
        return hsm_key_open(b->uri, pin, ret);
}

int hsm_binding_usable(const struct hsm_binding *b) {
        int r;

        if (!b->provider)
                return 0;
        r = hsm_provider_allowed(b->provider, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                /* The header names code that local configuration does not load (or cannot be read). */
                return log_debug_errno(-EBADMSG, "The token names the OpenSSL provider '%s', which %s",
                                       b->provider, r == -EPERM ? "local configuration does not allow (hsm-provider = NAME)"
                                                                : "is not a bare name or cannot be checked");
        return 0;
}

void hsm_key_free(hsm_key *k) {
        if (!k)
                return;
        k->backend->close(k->data);
        free(k);
}

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

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);

/* A public key from its DER SubjectPublicKeyInfo, in software, with its mechanism and key check
 * (SHA-256 of the DER, re-encoded so that the check does not depend on how a provider spells it). */
static int spki_parse(const uint8_t *der, size_t size, EVP_PKEY **ret_pub, enum hsm_mechanism *ret_mechanism,
                      uint8_t ret_check[32]) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        _cleanup_free_ uint8_t *canonical = NULL;
        const uint8_t *p = der;
        enum hsm_mechanism m;
        unsigned md = 0;
        int n;

        pub = d2i_PUBKEY(NULL, &p, (long) size);
        if (!pub || p != der + size) {
                ERR_clear_error();
                return log_debug_ret(-EKEYEXPIRED, "The HSM key's public half is not a SubjectPublicKeyInfo");
        }
        if (EVP_PKEY_is_a(pub, "RSA")) {
                int bits = EVP_PKEY_get_bits(pub);

                if (bits < 2048 || bits > 8192)
                        return log_debug_ret(-EKEYEXPIRED, "The RSA key has %d bits, not 2048 to 8192", bits);
                m = HSM_RSA_OAEP_SHA256;
        } else if (EVP_PKEY_is_a(pub, "EC")) {
                char group[64];

                if (EVP_PKEY_get_group_name(pub, group, sizeof(group), NULL) != 1)
                        return log_debug_ret(-EKEYEXPIRED, "The EC key names no curve");
                if (streq_ptr(group, "prime256v1") || streq_ptr(group, "P-256"))
                        m = HSM_ECDH_P256;
                else if (streq_ptr(group, "secp384r1") || streq_ptr(group, "P-384"))
                        m = HSM_ECDH_P384;
                else
                        return log_debug_ret(-EKEYEXPIRED, "The EC key is on %s, not P-256 or P-384", group);
        } else
                return log_debug_ret(-EKEYEXPIRED, "The HSM key is neither an RSA nor an EC key");

        n = i2d_PUBKEY(pub, &canonical);
        if (n <= 0 || EVP_Digest(canonical, (size_t) n, ret_check, &md, EVP_sha256(), NULL) != 1 || md != 32) {
                ERR_clear_error();
                return -EIO;
        }
        *ret_pub = TAKE_PTR(pub);
        *ret_mechanism = m;
        return 0;
}

/* The uncompressed point of an EC public key. */
static int ec_point(EVP_PKEY *pub, uint8_t *buf, size_t max, size_t *ret_size) {
        size_t n = 0;

        if (EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, max, &n) != 1 || n < 1 ||
            buf[0] != 0x04) {
                ERR_clear_error();
                return log_debug_ret(-EIO, "Cannot encode the EC point uncompressed");
        }
        *ret_size = n;
        return 0;
}

/* An EC public key on the curve of m from an uncompressed point, checked to be on the curve:
 * -EBADMSG when it is not (a damaged token). */
static int ec_point_parse(enum hsm_mechanism m, const uint8_t *point, size_t size, EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL, *check = NULL;
        EVP_PKEY *pkey = NULL;
        OSSL_PARAM params[3];

        if (size != ecdh_point_size(m) || point[0] != 0x04)
                return log_debug_ret(-EBADMSG, "The ephemeral point is not an uncompressed point of the curve");
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     (char *) (m == HSM_ECDH_P256 ? "P-256" : "P-384"), 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *) point, size);
        params[2] = OSSL_PARAM_construct_end();
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
                ERR_clear_error();
                return log_debug_ret(-EBADMSG, "The ephemeral point is not on the curve");
        }
        check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
                ERR_clear_error();
                EVP_PKEY_free(pkey);
                return log_debug_ret(-EBADMSG, "The ephemeral point is not a valid public key of the curve");
        }
        *ret = pkey;
        return 0;
}

/* K = HKDF-SHA256(Z, "", "cvmseal hsm ecdh v1" || ephemeral point || key check). */
static int ecdh_kdf(const cvmseal_secret *z, const uint8_t *point, size_t point_size, const uint8_t check[32],
                    cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *key = cvmseal_secret_new(32);
        uint8_t info[sizeof(ECDH_INFO_PREFIX) - 1 + HSM_EC_POINT_MAX + 32];
        size_t prefix = sizeof(ECDH_INFO_PREFIX) - 1;
        int r;

        if (!key)
                return -ENOMEM;
        memcpy(info, ECDH_INFO_PREFIX, prefix);
        memcpy(info + prefix, point, point_size);
        memcpy(info + prefix + point_size, check, 32);
        r = kdf_hkdf_sha256(cvmseal_secret_data(z), cvmseal_secret_size(z), (const uint8_t *) "", 0, info,
                            prefix + point_size + 32,
                            cvmseal_secret_data_mut(key), 32);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(key);
        return 0;
}

/* AES-256-GCM in software with a key derived by ECDH (the key never comes from the HSM itself). */
static int gcm_soft(bool encrypt, const cvmseal_secret *key, const uint8_t iv[HSM_IV_SIZE], const uint8_t *aad,
                    size_t aad_size, const uint8_t *in, size_t in_size, uint8_t *out) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0, fin = 0;

        if (!ctx)
                return -ENOMEM;
        if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), cvmseal_secret_data(key), iv, encrypt ? 1 : 0, NULL) != 1 ||
            EVP_CipherUpdate(ctx, NULL, &n, aad, (int) aad_size) != 1)
                goto fail;
        if (encrypt) {
                if (EVP_CipherUpdate(ctx, out, &n, in, (int) in_size) != 1 || EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 ||
                    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, HSM_TAG_SIZE, out + in_size) != 1)
                        goto fail;
                return 0;
        }
        if (in_size != CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, HSM_TAG_SIZE, (void *) (in + CVMSEAL_SHARE_SIZE)) != 1 ||
            EVP_CipherUpdate(ctx, out, &n, in, CVMSEAL_SHARE_SIZE) != 1)
                goto fail;
        if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1) {
                ERR_clear_error();
                return log_debug_ret(-EKEYREVOKED, "The AES-GCM tag of the HSM share does not verify");
        }
        return 0;
fail:
        ERR_clear_error();
        return log_debug_errno(-EIO, "AES-256-GCM failed");
}

/* Encrypts the share to a public key in software: RSA-OAEP-SHA256 over share || SHA-256(aad), or
 * ECIES for an EC key.  b gets the mechanism, key check, ciphertext (and iv, ephemeral point). */
static int seal_to_public(EVP_PKEY *pub, enum hsm_mechanism m, const uint8_t check[32], const uint8_t *aad,
                          size_t aad_size, const cvmseal_secret *share, struct hsm_binding *b) {
        int r;

        b->mechanism = m;
        memcpy(b->key_check, check, 32);
        b->key_check_size = 32;

        if (m == HSM_RSA_OAEP_SHA256) {
                _cleanup_secret_ cvmseal_secret *plain = cvmseal_secret_new(CVMSEAL_SHARE_SIZE + 32);
                _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *enc = NULL;
                size_t n = 0;

                if (!plain)
                        return -ENOMEM;
                memcpy(cvmseal_secret_data_mut(plain), cvmseal_secret_data(share), CVMSEAL_SHARE_SIZE);
                aad_digest(aad, aad_size, cvmseal_secret_data_mut(plain) + CVMSEAL_SHARE_SIZE);
                enc = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
                if (!enc || EVP_PKEY_encrypt_init(enc) != 1 || EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_OAEP_PADDING) != 1 ||
                    EVP_PKEY_CTX_set_rsa_oaep_md(enc, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(enc, EVP_sha256()) != 1 ||
                    EVP_PKEY_encrypt(enc, NULL, &n, cvmseal_secret_data(plain), cvmseal_secret_size(plain)) != 1 ||
                    n < 256 || n > HSM_CIPHERTEXT_MAX)
                        goto fail;
                b->ciphertext = malloc(n);
                if (!b->ciphertext)
                        return -ENOMEM;
                if (EVP_PKEY_encrypt(enc, b->ciphertext, &n, cvmseal_secret_data(plain), cvmseal_secret_size(plain)) != 1)
                        goto fail;
                b->ciphertext_size = n;
                return 0;
        }

        if (mechanism_is_ecdh(m)) {
                _cleanup_secret_ cvmseal_secret *z = NULL, *key = NULL;
                _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *dctx = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
                size_t zn = 0;

                eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", m == HSM_ECDH_P256 ? "P-256" : "P-384");
                if (!eph)
                        goto fail;
                r = ec_point(eph, b->ephemeral, sizeof(b->ephemeral), &b->ephemeral_size);
                if (r < 0)
                        return r;
                dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
                if (!dctx || EVP_PKEY_derive_init(dctx) != 1 || EVP_PKEY_derive_set_peer(dctx, pub) != 1 ||
                    EVP_PKEY_derive(dctx, NULL, &zn) != 1 || zn == 0 || zn > 66)
                        goto fail;
                z = cvmseal_secret_new(zn);
                if (!z)
                        return -ENOMEM;
                if (EVP_PKEY_derive(dctx, cvmseal_secret_data_mut(z), &zn) != 1)
                        goto fail;
                cvmseal_secret_truncate(z, zn);

                r = ecdh_kdf(z, b->ephemeral, b->ephemeral_size, check, &key);
                if (r < 0)
                        return r;
                r = kdf_random(b->iv, sizeof(b->iv));
                if (r < 0)
                        return r;
                b->ciphertext = malloc(CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE);
                if (!b->ciphertext)
                        return -ENOMEM;
                r = gcm_soft(true, key, b->iv, aad, aad_size, cvmseal_secret_data(share), CVMSEAL_SHARE_SIZE,
                             b->ciphertext);
                if (r < 0)
                        return r;
                b->ciphertext_size = CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE;
                return 0;
        }
        return -EINVAL;
fail:
        ERR_clear_error();
        return log_debug_errno(-EIO, "Encrypting the HSM share to the public key failed");
}

int hsm_seal_public(const char *pem, const uint8_t *aad, size_t aad_size, const cvmseal_secret *share,
                    struct hsm_binding *ret) {
        _cleanup_(hsm_binding_done) struct hsm_binding b = {};
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pem_key = NULL, *pub = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        enum hsm_mechanism m;
        uint8_t check[32];
        int n, r;

        if (!pem || cvmseal_secret_size(share) != CVMSEAL_SHARE_SIZE)
                return -EINVAL;
        bio = BIO_new_mem_buf(pem, -1);
        if (!bio)
                return -ENOMEM;
        pem_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        n = pem_key ? i2d_PUBKEY(pem_key, &der) : -1;
        if (n <= 0) {
                ERR_clear_error();
                return log_debug_ret(-EKEYREJECTED, "The HSM public key is not a PEM public key");
        }
        r = spki_parse(der, (size_t) n, &pub, &m, check);
        if (r < 0)
                return r;
        r = seal_to_public(pub, m, check, aad, aad_size, share, &b);
        if (r < 0)
                return r;
        *ret = b;
        memset(&b, 0, sizeof(b));
        return 0;
}

/* A provider key: its public half in software, its mechanism and its key check. */
static int provider_public(hsm_key *k, EVP_PKEY **ret_pub, enum hsm_mechanism *ret_mechanism, uint8_t ret_check[32]) {
        _cleanup_free_ uint8_t *der = NULL;
        size_t size = 0;
        int r;

        r = k->backend->public_spki(k->data, &der, &size);
        if (r < 0)
                return r;
        return spki_parse(der, size, ret_pub, ret_mechanism, ret_check);
}

int hsm_key_public_info(hsm_key *k, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        enum hsm_mechanism m;
        uint8_t check[32];
        char *data = NULL;
        long n;
        int r;

        if (!k->backend->public_spki)
                return -EOPNOTSUPP;
        r = provider_public(k, &pub, &m, check);
        if (r < 0)
                return r;
        bio = BIO_new(BIO_s_mem());
        if (!bio || PEM_write_bio_PUBKEY(bio, pub) != 1 || (n = BIO_get_mem_data(bio, &data)) <= 0)
                return -ENOMEM;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "mechanism", json_object_new_string(hsm_mechanism_to_string(m)));
        if (r >= 0)
                r = json_add_blob(o, "fingerprint", true, check, sizeof(check));
        if (r >= 0)
                r = json_add(o, "public-key", json_object_new_string_len(data, (int) n));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int hsm_seal(hsm_key *k, const uint8_t *aad, size_t aad_size, const cvmseal_secret *share, struct hsm_binding *ret) {
        struct hsm_binding b = {};
        enum hsm_mechanism m;
        bool sensitive, extractable;
        int r;

        if (cvmseal_secret_size(share) != CVMSEAL_SHARE_SIZE)
                return -EINVAL;
        if (k->backend->public_spki) {
                /* An OpenSSL provider: encrypted in software to the public half, as offline. */
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
                uint8_t check[32];

                r = provider_public(k, &pub, &m, check);
                if (r < 0)
                        return r;
                r = seal_to_public(pub, m, check, aad, aad_size, share, &b);
                if (r < 0) {
                        hsm_binding_done(&b);
                        return r;
                }
                *ret = b;
                return 0;
        }
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

        if (k->backend->public_spki) {
                /* A provider key: kind and check from its public half (SHA-256 of the SPKI). */
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;

                r = provider_public(k, &pub, &m, check);
                if (r < 0)
                        return r == -EKEYEXPIRED ? -EKEYREVOKED : r;
                check_size = 32;
        } else {
                r = k->backend->describe(k->data, &m, &sensitive, &extractable);
                if (r < 0)
                        return r;
        }
        if (m == HSM_RSA_OAEP_SHA256 && b->mechanism == HSM_RSA_OAEP_SHA1)
                m = HSM_RSA_OAEP_SHA1;
        if (m != b->mechanism)
                return log_debug_ret(-EKEYREVOKED, "The HSM key is not of the kind the token was bound with (%s)",
                                       hsm_mechanism_to_string(b->mechanism));

        /* A replaced key fails here, before it is asked to decrypt anything. */
        if (!k->backend->public_spki) {
                r = k->backend->key_check(k->data, check, &check_size);
                if (r < 0)
                        return r;
        }
        if (b->key_check_size > 0) {
                if (check_size != b->key_check_size || !secret_equal(check, b->key_check, check_size))
                        return log_debug_ret(-EKEYREVOKED, "The HSM key is not the one the token was bound to");
                same_key = true;
        }

        if (mechanism_is_ecdh(m)) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
                _cleanup_secret_ cvmseal_secret *z = NULL, *key = NULL;

                /* A point off the curve is a damaged token, whichever key is there. */
                r = ec_point_parse(m, b->ephemeral, b->ephemeral_size, &eph);
                if (r < 0)
                        return r;
                if (!k->backend->ecdh)
                        return -EKEYREVOKED;
                r = k->backend->ecdh(k->data, b->ephemeral, b->ephemeral_size, &z);
                if (r < 0)
                        /* The HSM refuses ECDH with a valid point: a refusal, not damage. */
                        return r == -ENOMEM ? r : log_debug_errno(r == -ENOKEY ? r : -EKEYREVOKED,
                                                                  "The HSM does not compute the ECDH secret");
                r = ecdh_kdf(z, b->ephemeral, b->ephemeral_size, b->key_check, &key);
                if (r < 0)
                        return r;
                plain = cvmseal_secret_new(CVMSEAL_SHARE_SIZE);
                if (!plain)
                        return -ENOMEM;
                r = gcm_soft(false, key, b->iv, aad, aad_size, b->ciphertext, b->ciphertext_size,
                             cvmseal_secret_data_mut(plain));
        } else if (m == HSM_AES_256_GCM)
                r = k->backend->gcm_decrypt(k->data, b->iv, aad, aad_size, b->ciphertext, b->ciphertext_size, &plain);
        else
                r = k->backend->rsa_oaep_decrypt(k->data, m == HSM_RSA_OAEP_SHA256, b->ciphertext, b->ciphertext_size,
                                                 &plain);
        /* A provider that cannot do OAEP-SHA256 at all (tpm2-openssl 1.1 pads RSA with PKCS#1 v1.5
         * only) is an unfit key, whatever the ciphertext. */
        if (r == -EOPNOTSUPP && k->backend->public_spki)
                return log_debug_ret(-EKEYEXPIRED, "The OpenSSL provider does not decrypt RSA-OAEP-SHA256 with this key");
        /* Modules report a failed GCM tag or OAEP decoding in their own ways (SoftHSM 2.6:
         * CKR_GENERAL_ERROR): a refusal all the same. */
        if (r == -EOPNOTSUPP || r == -EIO)
                r = -EKEYREVOKED;
        if (r == -EKEYREVOKED && same_key)
                /* The right key refuses the ciphertext: the binding is what is damaged. */
                return log_debug_ret(-EBADMSG, "The HSM share in the token does not decrypt with its key");
        if (r < 0)
                return r;

        if (m == HSM_RSA_OAEP_SHA256 || m == HSM_RSA_OAEP_SHA1) {
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

int hsm_provider_keygen(const char *provider, const char *uri, uint8_t **ret_blob, size_t *ret_blob_size,
                        json_object **ret_info) {
        _cleanup_free_ uint8_t *blob = NULL;
        _cleanup_(json_object_putp) json_object *info = NULL;
        hsm_key *key = NULL;
        size_t size = 0;
        int r;

        r = hsm_provider_keygen_blob(provider, uri, &blob, &size);
        if (r < 0)
                return r;

        /* The proof: the blob opens through the URI, as at unlock, and gives its public half. */
        r = hsm_key_open_provider(provider, uri, blob, size, &key);
        if (r < 0)
                return log_debug_errno(r, "The new key blob does not open through the URI");
        r = hsm_key_public_info(key, &info);
        hsm_key_free(key);
        if (r < 0)
                return r;
        if (ret_info) {
                r = json_add(info, "provider", json_object_new_string(provider));
                if (r >= 0)
                        r = json_add(info, "uri", json_object_new_string(uri));
                if (r < 0)
                        return r;
                *ret_info = TAKE_PTR(info);
        }
        *ret_blob = TAKE_PTR(blob);
        *ret_blob_size = size;
        return 0;
}

_public_ int cvmseal_hsm_provider_keygen(const char *provider, const char *uri, uint8_t **ret_blob,
                                         size_t *ret_blob_size, json_object **ret_info) {
        if (!provider || !uri || !ret_blob || !ret_blob_size)
                return -EINVAL;
        return hsm_provider_keygen(provider, uri, ret_blob, ret_blob_size, ret_info);
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
        int r = 0;

        if (!o)
                return -ENOMEM;
        if (b->provider)
                r = json_add(o, "provider", json_object_new_string(b->provider));
        if (r >= 0)
                r = json_add(o, "uri", json_object_new_string(b->uri));
        if (r >= 0)
                r = json_add(o, "mechanism", json_object_new_string(hsm_mechanism_to_string(b->mechanism)));
        if (r >= 0 && mechanism_is_ecdh(b->mechanism))
                r = json_add_blob(o, "ephemeral", false, b->ephemeral, b->ephemeral_size);
        if (r >= 0 && (b->mechanism == HSM_AES_256_GCM || mechanism_is_ecdh(b->mechanism)))
                r = json_add_blob(o, "iv", false, b->iv, sizeof(b->iv));
        if (r >= 0)
                r = json_add_blob(o, "key-check", true, b->key_check, b->key_check_size);
        if (r >= 0)
                r = json_add_blob(o, "ciphertext", false, b->ciphertext, b->ciphertext_size);
        if (r >= 0)
                r = json_add(o, "pin", json_object_new_boolean(b->pin));
        if (r >= 0 && b->key_blob)
                r = json_add_blob(o, "key-blob", false, b->key_blob, b->key_blob_size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* How often needle occurs in s. */
static unsigned occurrences(const char *s, const char *needle) {
        unsigned n = 0;

        for (const char *p = strstr(s, needle); p; p = strstr(p + strlen(needle), needle))
                n++;
        return n;
}

/* A string member that is text: no NUL inside, no control characters, 1 to max bytes. */
static json_object *text_member(const struct json_doc *d, json_object *o, const char *key, size_t max) {
        json_object *v = json_member(d, o, key, json_type_string);
        const char *s;
        size_t n;

        if (!v)
                return NULL;
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
        if (n == 0 || n > max || strlen(s) != n) {
                (void) json_bad(d, key, "is empty, too long or holds a NUL");
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                        (void) json_bad(d, key, "holds a control character");
                        return NULL;
                }
        return v;
}

int hsm_binding_from_json(json_object *o, struct hsm_binding *ret) {
        _cleanup_(hsm_binding_done) struct hsm_binding b = {};
        _cleanup_free_ uint8_t *iv = NULL, *check = NULL, *point = NULL;
        size_t iv_size, check_size, point_size;
        bool gcm, ecdh;
        json_object *v;
        int m, r;

        if (!json_object_is_type(o, json_type_object))
                return json_bad(&(const struct json_doc) { "cvmseal token", "" }, "hsm", "is not an object");
        r = json_only_members(&doc_hsm, o,
                              (const char *const[]) { "provider", "uri", "mechanism", "ephemeral", "iv", "key-check",
                                                      "ciphertext", "pin", "key-blob", NULL });
        if (r < 0)
                return r;

        /* An OpenSSL provider, by a bare name: a path would load code that the disk chose. */
        if (json_object_object_get_ex(o, "provider", NULL)) {
                v = text_member(&doc_hsm, o, "provider", HSM_PROVIDER_NAME_MAX + 1);
                if (!v)
                        return -EBADMSG;
                if (!hsm_provider_name_valid(json_object_get_string(v)))
                        return json_bad(&doc_hsm, "provider", strchr(json_object_get_string(v), '/')
                                                                      ? "is a path: only a bare provider name is accepted"
                                                                      : "is not a bare provider name");
                b.provider = strdup(json_object_get_string(v));
                if (!b.provider)
                        return -ENOMEM;
        }

        v = b.provider ? text_member(&doc_hsm, o, "uri", HSM_URI_MAX) : json_member(&doc_hsm, o, "uri", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!b.provider && !backend_for(json_object_get_string(v)))
                return json_bad(&doc_hsm, "uri", "names no HSM this version knows");
        b.uri = strdup(json_object_get_string(v));
        if (!b.uri)
                return -ENOMEM;

        v = json_member(&doc_hsm, o, "mechanism", json_type_string);
        if (!v)
                return -EBADMSG;
        m = hsm_mechanism_from_string(json_object_get_string(v));
        if (m < 0)
                return json_bad(&doc_hsm, "mechanism", "is not aes-256-gcm, rsa-oaep-sha256, rsa-oaep-sha1, "
                                                       "ecdh-p256-aes-256-gcm or ecdh-p384-aes-256-gcm");
        b.mechanism = (enum hsm_mechanism) m;
        gcm = b.mechanism == HSM_AES_256_GCM;
        ecdh = mechanism_is_ecdh(b.mechanism);
        /* Providers: RSA-OAEP-SHA256 or ECDH (their keys are private keys; no AES, never OAEP-SHA1).
         * PKCS#11: AES-GCM or RSA-OAEP. */
        if (b.provider ? gcm || b.mechanism == HSM_RSA_OAEP_SHA1 : ecdh)
                return json_bad(&doc_hsm, "mechanism", b.provider ? "is not one an OpenSSL provider binding takes"
                                                                  : "is one only an OpenSSL provider binding takes");

        if (ecdh) {
                r = json_get_blob(&doc_hsm, o, "ephemeral", 0, ecdh_point_size(b.mechanism), ecdh_point_size(b.mechanism),
                                  &point, &point_size);
                if (r < 0)
                        return r;
                if (point[0] != 0x04)
                        return json_bad(&doc_hsm, "ephemeral", "is not an uncompressed point");
                memcpy(b.ephemeral, point, point_size);
                b.ephemeral_size = point_size;
        } else if (json_object_object_get_ex(o, "ephemeral", NULL))
                return json_bad(&doc_hsm, "ephemeral", "is given for a mechanism that takes none");

        if (gcm || ecdh) {
                r = json_get_blob(&doc_hsm, o, "iv", 0, HSM_IV_SIZE, HSM_IV_SIZE, &iv, &iv_size);
                if (r < 0)
                        return r;
                memcpy(b.iv, iv, HSM_IV_SIZE);
        } else if (json_object_object_get_ex(o, "iv", NULL))
                return json_bad(&doc_hsm, "iv", "is given for a mechanism that takes none");

        /* A provider key's check is SHA-256 of its SubjectPublicKeyInfo: always 32 bytes. */
        r = json_get_blob(&doc_hsm, o, "key-check", JSON_BLOB_HEX, b.provider ? 32 : 0,
                          b.provider ? 32 : HSM_KEY_CHECK_MAX, &check, &check_size);
        if (r < 0)
                return r;
        memcpy(b.key_check, check, check_size);
        b.key_check_size = check_size;

        r = json_get_blob(&doc_hsm, o, "ciphertext", 0, gcm || ecdh ? CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE : 256,
                          gcm || ecdh ? CVMSEAL_SHARE_SIZE + HSM_TAG_SIZE : HSM_CIPHERTEXT_MAX, &b.ciphertext,
                          &b.ciphertext_size);
        if (r < 0)
                return r;

        v = json_member(&doc_hsm, o, "pin", json_type_boolean);
        if (!v)
                return -EBADMSG;
        b.pin = json_object_get_boolean(v);
        if (b.provider && b.pin)
                return json_bad(&doc_hsm, "pin", "is true for an OpenSSL provider binding, which takes no PIN");

        /* The key blob travels with the volume; the URI names it by {key-blob}, exactly once. */
        if (json_object_object_get_ex(o, "key-blob", NULL)) {
                if (!b.provider)
                        return json_bad(&doc_hsm, "key-blob", "is given for a PKCS#11 binding");
                r = json_get_blob(&doc_hsm, o, "key-blob", 0, 1, HSM_KEY_BLOB_MAX, &b.key_blob, &b.key_blob_size);
                if (r < 0)
                        return r;
        }
        if (b.provider && occurrences(b.uri, HSM_KEY_BLOB_PLACEHOLDER) != (b.key_blob ? 1U : 0U))
                return json_bad(&doc_hsm, "uri", b.key_blob ? "does not name the key blob by " HSM_KEY_BLOB_PLACEHOLDER " once"
                                                            : "names " HSM_KEY_BLOB_PLACEHOLDER " but the binding has no key-blob");

        *ret = b;
        memset(&b, 0, sizeof(b));
        return 0;
}
