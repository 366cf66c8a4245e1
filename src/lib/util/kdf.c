/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Key derivation.  The LUKS2 keyslot passphrase is derived from the shares with HKDF, so that each
 * share alone is useless and the result is bound to the volume (UUID) and the token (id).  The
 * shares carry 256 bits of entropy, so the keyslot itself needs no slow PBKDF.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "kdf.h"
#include "log.h"
#include "secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF *, EVP_KDF_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF_CTX *, EVP_KDF_CTX_free);

int kdf_hkdf_sha256(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt, size_t salt_size,
                    const uint8_t *info, size_t info_size, uint8_t *out, size_t out_size) {
        _cleanup_(EVP_KDF_freep) EVP_KDF *kdf = NULL;
        _cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *ctx = NULL;
        OSSL_PARAM params[5], *p = params;

        kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
        if (!kdf)
                return log_debug_ret(-EIO, "HKDF is not available from OpenSSL");
        ctx = EVP_KDF_CTX_new(kdf);
        if (!ctx)
                return -ENOMEM;

        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) ikm, ikm_size);
        /* No salt (RFC 5869: a string of HashLen zeros) is no parameter: OpenSSL refuses an empty one. */
        if (salt_size > 0)
                *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) salt, salt_size);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) info, info_size);
        *p = OSSL_PARAM_construct_end();

        if (EVP_KDF_derive(ctx, out, out_size, params) != 1)
                return log_debug_errno(-EIO, "HKDF-SHA256 failed");
        return 0;
}

/* base64(HKDF-SHA256(tpm_share || hsm_share, salt, info)): 44 characters, NUL-terminated. */
static int derive(const cvmseal_secret *tpm_share, const cvmseal_secret *hsm_share, const uint8_t *salt,
                  size_t salt_size, const uint8_t *info, size_t info_size, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *ikm = NULL, *okm = NULL, *pass = NULL;
        size_t tpm_size, hsm_size;
        int r;

        if (!tpm_share || cvmseal_secret_size(tpm_share) != CVMSEAL_SHARE_SIZE)
                return -EINVAL;
        if (hsm_share && cvmseal_secret_size(hsm_share) != CVMSEAL_SHARE_SIZE)
                return -EINVAL;

        tpm_size = cvmseal_secret_size(tpm_share);
        hsm_size = cvmseal_secret_size(hsm_share);
        ikm = cvmseal_secret_new(tpm_size + hsm_size);
        okm = cvmseal_secret_new(32);
        pass = cvmseal_secret_new(45);
        if (!ikm || !okm || !pass)
                return -ENOMEM;
        memcpy(cvmseal_secret_data_mut(ikm), cvmseal_secret_data(tpm_share), tpm_size);
        if (hsm_share)
                memcpy(cvmseal_secret_data_mut(ikm) + tpm_size, cvmseal_secret_data(hsm_share), hsm_size);

        r = kdf_hkdf_sha256(cvmseal_secret_data(ikm), cvmseal_secret_size(ikm), salt, salt_size, info,
                            info_size, cvmseal_secret_data_mut(okm), 32);
        if (r < 0)
                return r;

        /* 32 bytes are 44 base64 characters, then the NUL. */
        if (EVP_EncodeBlock(cvmseal_secret_data_mut(pass), cvmseal_secret_data(okm), 32) != 44)
                return -EIO;
        cvmseal_secret_truncate(pass, 44);

        *ret = TAKE_PTR(pass);
        return 0;
}

int kdf_derive_passphrase(const cvmseal_secret *tpm_share, const cvmseal_secret *hsm_share,
                          const uint8_t *salt, size_t salt_size, const char *luks_uuid, int token_id,
                          const uint8_t policy_digest[32], cvmseal_secret **ret) {
        uint8_t info[sizeof(CVMSEAL_KDF_INFO_PREFIX) - 1 + 36 + 4 + 32];
        size_t info_size = sizeof(info) - (policy_digest ? 0 : 32), prefix = sizeof(CVMSEAL_KDF_INFO_PREFIX) - 1;
        uint32_t id;

        if (!luks_uuid || strlen(luks_uuid) != 36 || token_id < 0)
                return -EINVAL;

        memcpy(info, CVMSEAL_KDF_INFO_PREFIX, prefix);
        memcpy(info + prefix, luks_uuid, 36);
        id = (uint32_t) token_id;
        info[prefix + 36] = (uint8_t) (id >> 24);
        info[prefix + 37] = (uint8_t) (id >> 16);
        info[prefix + 38] = (uint8_t) (id >> 8);
        info[prefix + 39] = (uint8_t) id;
        if (policy_digest)
                memcpy(info + prefix + 40, policy_digest, 32);
        return derive(tpm_share, hsm_share, salt, salt_size, info, info_size, ret);
}

int kdf_derive_passphrase_v2(const cvmseal_secret *tpm_share, const cvmseal_secret *hsm_share, const uint8_t *salt,
                             size_t salt_size, const uint8_t binding[32], cvmseal_secret **ret) {
        uint8_t info[sizeof(CVMSEAL_KDF_INFO_PREFIX_V2) - 1 + 32];

        if (!binding)
                return -EINVAL;
        memcpy(info, CVMSEAL_KDF_INFO_PREFIX_V2, sizeof(CVMSEAL_KDF_INFO_PREFIX_V2) - 1);
        memcpy(info + sizeof(CVMSEAL_KDF_INFO_PREFIX_V2) - 1, binding, 32);
        return derive(tpm_share, hsm_share, salt, salt_size, info, sizeof(info), ret);
}

int kdf_random(void *p, size_t n) {
        if (RAND_priv_bytes(p, (int) n) != 1)
                return log_debug_errno(-EIO, "The OpenSSL DRBG failed");
        return 0;
}

int kdf_random_secret(size_t size, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *s = cvmseal_secret_new(size);
        int r;

        if (!s)
                return -ENOMEM;
        r = kdf_random(cvmseal_secret_data_mut(s), size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int kdf_recovery_key(cvmseal_secret **ret) {
        static const char digits[] = "0123456789abcdef";
        _cleanup_secret_ cvmseal_secret *raw = NULL, *text = NULL;
        uint8_t *t;
        int r;

        raw = cvmseal_secret_new(32);
        text = cvmseal_secret_new(72);
        if (!raw || !text)
                return -ENOMEM;
        r = kdf_random(cvmseal_secret_data_mut(raw), 32);
        if (r < 0)
                return r;

        t = cvmseal_secret_data_mut(text);
        for (size_t i = 0, o = 0; i < 32; i++) {
                uint8_t b = cvmseal_secret_data(raw)[i];

                if (i > 0 && i % 4 == 0)
                        t[o++] = '-';
                t[o++] = (uint8_t) digits[b >> 4];
                t[o++] = (uint8_t) digits[b & 15];
        }
        t[71] = 0;
        cvmseal_secret_truncate(text, 71);

        *ret = TAKE_PTR(text);
        return 0;
}
