/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The recovery escrow of a first boot (escrow.h). */
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "escrow.h"
#include "json-util.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static int key_load(const uint8_t *der, size_t size, EVP_PKEY **ret) {
        const unsigned char *p = der;
        EVP_PKEY *k;
        int bits;

        if (!der || size == 0 || size > ESCROW_KEY_MAX)
                return -EINVAL;
        k = d2i_PUBKEY(NULL, &p, (long) size);
        if (!k)
                return log_debug_errno(-EINVAL, "The recovery public key is not a DER SubjectPublicKeyInfo");
        bits = EVP_PKEY_get_bits(k);
        if (p != der + size || !EVP_PKEY_is_a(k, "RSA") || bits < 2048 || bits > 4096) {
                EVP_PKEY_free(k);
                return log_debug_errno(-EINVAL, "The recovery public key is not an RSA key of 2048 to 4096 bits");
        }
        *ret = k;
        return 0;
}

int escrow_key_check(const uint8_t *der, size_t size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;

        return key_load(der, size, &k);
}

int escrow_key_from_pem(const char *pem, uint8_t **ret_der, size_t *ret_size) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        unsigned char *der = NULL;
        int n, r;

        b = BIO_new_mem_buf(pem, -1);
        if (!b)
                return -ENOMEM;
        k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        if (!k)
                return log_debug_errno(-EINVAL, "Not a PEM public key");
        n = i2d_PUBKEY(k, &der);
        if (n <= 0)
                return -EINVAL;
        r = escrow_key_check(der, (size_t) n);
        if (r < 0) {
                OPENSSL_free(der);
                return r;
        }
        *ret_der = malloc((size_t) n);
        if (!*ret_der) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        memcpy(*ret_der, der, (size_t) n);
        OPENSSL_free(der);
        *ret_size = (size_t) n;
        return 0;
}

static int escrow_encrypt(const uint8_t *der, size_t der_size, const cvmseal_secret *plain, uint8_t **ret, size_t *ret_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_free_ uint8_t *out = NULL;
        size_t n = 0;
        int r;

        r = key_load(der, der_size, &k);
        if (r < 0)
                return r;
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", NULL) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA256", NULL) != 1)
                return log_debug_errno(-EIO, "Cannot set up RSA-OAEP-SHA256");
        if (EVP_PKEY_encrypt(ctx, NULL, &n, cvmseal_secret_data(plain), cvmseal_secret_size(plain)) != 1)
                return -EIO;
        out = malloc(n);
        if (!out)
                return -ENOMEM;
        if (EVP_PKEY_encrypt(ctx, out, &n, cvmseal_secret_data(plain), cvmseal_secret_size(plain)) != 1)
                return log_debug_errno(-EIO, "RSA-OAEP encryption failed");
        *ret = TAKE_PTR(out);
        *ret_size = n;
        return 0;
}

int escrow_token_add(struct crypt_device *cd, int keyslot, const uint8_t *der, size_t der_size,
                     const cvmseal_secret *recovery_key) {
        _cleanup_(json_object_putp) json_object *j = json_object_new_object(), *ks = json_object_new_array();
        _cleanup_free_ uint8_t *ct = NULL;
        uint8_t fp[32];
        unsigned fp_size = 0;
        size_t ct_size = 0;
        char slot[16];
        int r, id;

        if (!j || !ks)
                return -ENOMEM;
        r = escrow_encrypt(der, der_size, recovery_key, &ct, &ct_size);
        if (r < 0)
                return r;
        if (EVP_Digest(der, der_size, fp, &fp_size, EVP_sha256(), NULL) != 1)
                return -EIO;

        snprintf(slot, sizeof(slot), "%d", keyslot);
        if (json_object_array_add(ks, json_object_new_string(slot)) < 0)
                return -ENOMEM;
        r = json_add(j, "type", json_object_new_string(ESCROW_TOKEN_TYPE));
        if (r >= 0)
                r = json_add(j, "keyslots", TAKE_PTR(ks));
        if (r >= 0)
                r = json_add(j, "version", json_object_new_int(1));
        if (r >= 0)
                r = json_add_blob(j, "key-sha256", true, fp, sizeof(fp));
        if (r >= 0)
                r = json_add_blob(j, "ciphertext", false, ct, ct_size);
        if (r < 0)
                return r;
        id = luks_token_free_id(cd);
        if (id < 0)
                return id;
        r = crypt_token_json_set(cd, id, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        if (r < 0)
                return log_debug_errno(r == -EINVAL ? -ENOSPC : r, "Cannot write the recovery escrow (token %d)", id);
        log_debug("Escrowed the recovery key of keyslot %d to the owner's key in token %d", keyslot, id);
        return id;
}
