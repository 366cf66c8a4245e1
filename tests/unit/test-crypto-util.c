/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The small OpenSSL helpers (src/lib/util/crypto-util.h): tpm2_hash_md_name() names SHA-256 and
 * SHA-384 with their TPM digest sizes, which OpenSSL's digests of that name have, and nothing else
 * (ret_size then untouched); rsa_public_key() makes the very key whose modulus and exponent it is
 * given (EVP_PKEY_eq, and a signature by the private key verifies with it, a changed one does not),
 * and refuses missing or empty input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto-util.h"
#include "macro.h"

static void test_hash_md_name(void **state) {
        static const struct {
                TPMI_ALG_HASH alg;
                const char *name;
                size_t size;
        } known[] = {
                { TPM2_ALG_SHA256, "SHA256", TPM2_SHA256_DIGEST_SIZE },
                { TPM2_ALG_SHA384, "SHA384", TPM2_SHA384_DIGEST_SIZE },
        };
        /* Others a TPM knows, and values that are no hash at all. */
        static const TPMI_ALG_HASH refused[] = {
                TPM2_ALG_SHA1, TPM2_ALG_SHA512, TPM2_ALG_SM3_256, TPM2_ALG_SHA3_256, TPM2_ALG_SHA3_384,
                TPM2_ALG_SHA3_512, TPM2_ALG_NULL, TPM2_ALG_ERROR, TPM2_ALG_RSA, TPM2_ALG_HMAC, 0x000a, 0xffff,
        };

        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                size_t size = 0;
                const char *name = tpm2_hash_md_name(known[i].alg, &size);
                EVP_MD *md;

                assert_non_null(name);
                assert_string_equal(name, known[i].name);
                assert_int_equal(size, known[i].size);
                /* The name is one OpenSSL knows, and its digest has that size. */
                md = EVP_MD_fetch(NULL, name, NULL);
                assert_non_null(md);
                assert_int_equal(EVP_MD_get_size(md), (int) size);
                EVP_MD_free(md);
        }
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                size_t size = 12345;

                if (tpm2_hash_md_name(refused[i], &size))
                        fail_msg("algorithm 0x%04x accepted", (unsigned) refused[i]);
                assert_int_equal(size, 12345);
        }
}

static size_t bn_param(EVP_PKEY *k, const char *param, uint8_t *buf, size_t max) {
        BIGNUM *bn = NULL;
        int n;

        assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
        n = BN_num_bytes(bn);
        assert_true(n > 0 && (size_t) n <= max);
        assert_int_equal(BN_bn2bin(bn, buf), n);
        BN_free(bn);
        return (size_t) n;
}

static size_t sign(EVP_PKEY *k, const uint8_t *msg, size_t msg_size, uint8_t *sig, size_t sig_max) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t n = sig_max;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k, NULL), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &n, msg, msg_size), 1);
        EVP_MD_CTX_free(ctx);
        return n;
}

static int verify(EVP_PKEY *k, const uint8_t *msg, size_t msg_size, const uint8_t *sig, size_t sig_size) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int r;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, k, NULL), 1);
        r = EVP_DigestVerify(ctx, sig, sig_size, msg, msg_size);
        EVP_MD_CTX_free(ctx);
        return r;
}

static void test_rsa_public_key(void **state) {
        static const uint8_t msg[] = "the TPM's quote";
        uint8_t n[512 + 1], e[8], sig[512];
        size_t n_size, e_size, sig_size;
        EVP_PKEY *priv, *pub = NULL, *other = NULL;

        priv = EVP_RSA_gen(1024);      /* small: valgrind runs the keygen too */
        assert_non_null(priv);
        n_size = bn_param(priv, OSSL_PKEY_PARAM_RSA_N, n + 1, sizeof(n) - 1);
        e_size = bn_param(priv, OSSL_PKEY_PARAM_RSA_E, e, sizeof(e));
        assert_int_equal(n_size, 128);

        assert_int_equal(rsa_public_key(n + 1, n_size, e, e_size, &pub), 0);
        assert_non_null(pub);
        assert_int_equal(EVP_PKEY_get_bits(pub), 1024);
        assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
        sig_size = sign(priv, msg, sizeof(msg), sig, sizeof(sig));
        assert_int_equal(verify(pub, msg, sizeof(msg), sig, sig_size), 1);
        sig[10] ^= 1;
        assert_int_not_equal(verify(pub, msg, sizeof(msg), sig, sig_size), 1);
        sig[10] ^= 1;

        /* A leading zero byte of the modulus (as a fixed-size TPM2B may carry) is the same key. */
        n[0] = 0;
        assert_int_equal(rsa_public_key(n, n_size + 1, e, e_size, &other), 0);
        assert_int_equal(EVP_PKEY_eq(other, priv), 1);
        EVP_PKEY_free(other);
        other = NULL;

        /* Another modulus is another key: the signature does not verify. */
        n[n_size] ^= 2;
        assert_int_equal(rsa_public_key(n + 1, n_size, e, e_size, &other), 0);
        assert_int_not_equal(EVP_PKEY_eq(other, priv), 1);
        assert_int_not_equal(verify(other, msg, sizeof(msg), sig, sig_size), 1);
        EVP_PKEY_free(other);
        other = NULL;
        n[n_size] ^= 2;

        EVP_PKEY_free(pub);
        EVP_PKEY_free(priv);
}

static void test_rsa_public_key_refused(void **state) {
        static const uint8_t n[256] = { 0xc1, [255] = 0x01 }, e[3] = { 0x01, 0x00, 0x01 };
        EVP_PKEY *k = (EVP_PKEY *) 0x1;     /* never written on failure */

        assert_int_equal(rsa_public_key(NULL, sizeof(n), e, sizeof(e), &k), -EINVAL);
        assert_int_equal(rsa_public_key(n, 0, e, sizeof(e), &k), -EINVAL);
        assert_int_equal(rsa_public_key(n, sizeof(n), NULL, sizeof(e), &k), -EINVAL);
        assert_int_equal(rsa_public_key(n, sizeof(n), e, 0, &k), -EINVAL);
        assert_int_equal(rsa_public_key(n, (size_t) INT32_MAX + 1, e, sizeof(e), &k), -EINVAL);
        assert_int_equal(rsa_public_key(n, sizeof(n), e, (size_t) INT32_MAX + 1, &k), -EINVAL);
        assert_int_equal(rsa_public_key(n, sizeof(n), e, sizeof(e), NULL), -EINVAL);
        assert_ptr_equal(k, (EVP_PKEY *) 0x1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hash_md_name),
                cmocka_unit_test(test_rsa_public_key),
                cmocka_unit_test(test_rsa_public_key_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
