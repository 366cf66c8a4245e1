/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Offline sealing in software (src/lib/tpm/tpm2-duplicate.c):
 *   - KDFa and KDFe against vectors computed from TPM 2.0 Part 1's formulas (11.4.10.2 and 11.4.10.3)
 *     by a separate implementation (Python's hmac and hashlib), several blocks and two hashes;
 *   - the import blob, unwrapped here as a TPM would (the SRK's private key: ECDH or RSA-OAEP, the
 *     seed, the HMAC over encSensitive || name, AES-CFB), for an ECC P-256 and an RSA-2048 SRK,
 *     with and without a PIN: the sensitive area holds the data, the PIN's authValue and a seed whose
 *     hash with the data is the public area's unique; the object has no fixedTPM/fixedParent;
 *   - the SRK public parser refuses what is no storage key, and trailing bytes.
 * That TPMs accept the blob is the integration test's part (swtpm's TPM2_Import and tpm2-tools'
 * tpm2_import, test-offline-seal.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "encoding.h"
#include "macro.h"
#include "secret.h"
#include "tpm2-duplicate.h"
#include "tpm2.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static void assert_hex(const void *p, size_t n, const char *want) {
        _cleanup_free_ char *hex = hex_encode(p, n);

        assert_non_null(hex);
        assert_string_equal(hex, want);
}

static void test_kdfa(void **state) {
        uint8_t key[48], name[34], out[48];

        for (size_t i = 0; i < sizeof(key); i++)
                key[i] = (uint8_t) i;
        name[0] = 0x00;
        name[1] = 0x0b;
        memset(name + 2, 0xaa, 32);

        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA256, key, 32, "STORAGE", name, sizeof(name), NULL, 0, out, 16), 0);
        assert_hex(out, 16, "0415b32b6f43896a87e7b29be8f2ac14");
        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA256, key, 32, "INTEGRITY", NULL, 0, NULL, 0, out, 32), 0);
        assert_hex(out, 32, "bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e");
        /* Two blocks, and contextU || contextV. */
        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA256, key, 32, "TEST", "\x01\x02", 2, "\x03", 1, out, 48), 0);
        assert_hex(out, 48, "88aa3c4d49af2036c84bc86746dd8e2e57f39466bf357ccd3ed64b3df2316d8c"
                            "6aee2b12186959be619ffb925b8af0cb");
        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA384, key, 48, "STORAGE", name, sizeof(name), NULL, 0, out, 32), 0);
        assert_hex(out, 32, "5762ba59194554860a86caa8ef9c49d4723c9cb78947672254d95e7d074e6c3e");

        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA1 + 0x77, key, 32, "X", NULL, 0, NULL, 0, out, 16), -EINVAL);
        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA256, key, 0, "X", NULL, 0, NULL, 0, out, 16), -EINVAL);
}

static void test_kdfe(void **state) {
        uint8_t z[32], u[32], v[32], out[48];

        for (size_t i = 0; i < sizeof(z); i++)
                z[i] = (uint8_t) (0x40 + i);
        memset(u, 0x11, sizeof(u));
        memset(v, 0x22, sizeof(v));

        assert_int_equal(tpm2_kdfe(TPM2_ALG_SHA256, z, 32, "DUPLICATE", u, 32, v, 32, out, 32), 0);
        assert_hex(out, 32, "071b24ac1b8bb8b252dcba6b1800c3726eed979a19efb62caae0243de4aa412a");
        assert_int_equal(tpm2_kdfe(TPM2_ALG_SHA256, z, 32, "DUPLICATE", u, 32, v, 32, out, 48), 0);
        assert_hex(out, 48, "071b24ac1b8bb8b252dcba6b1800c3726eed979a19efb62caae0243de4aa412a"
                            "ebb4fb36665e2ffae2cd5bf578d0eb94");
}

/* ---- a software "TPM" that imports ---- */

static const TPMT_SYM_DEF_OBJECT aes128cfb = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };

static void srk_template(TPM2_ALG_ID type, TPM2B_PUBLIC *ret) {
        *ret = (TPM2B_PUBLIC) {
                .publicArea = {
                        .type = type,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                },
        };
        if (type == TPM2_ALG_ECC) {
                ret->publicArea.parameters.eccDetail.symmetric = aes128cfb;
                ret->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                ret->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
                ret->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        } else {
                ret->publicArea.parameters.rsaDetail.symmetric = aes128cfb;
                ret->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
                ret->publicArea.parameters.rsaDetail.keyBits = 2048;
        }
}

static EVP_PKEY *make_srk(TPM2_ALG_ID type, TPM2B_PUBLIC *ret) {
        EVP_PKEY *k;
        BIGNUM *bn = NULL;

        srk_template(type, ret);
        if (type == TPM2_ALG_ECC) {
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                assert_non_null(k);
                assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bn), 1);
                assert_int_equal(BN_bn2binpad(bn, ret->publicArea.unique.ecc.x.buffer, 32), 32);
                BN_free(bn);
                bn = NULL;
                assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &bn), 1);
                assert_int_equal(BN_bn2binpad(bn, ret->publicArea.unique.ecc.y.buffer, 32), 32);
                ret->publicArea.unique.ecc.x.size = ret->publicArea.unique.ecc.y.size = 32;
        } else {
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
                assert_non_null(k);
                assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
                assert_int_equal(BN_bn2binpad(bn, ret->publicArea.unique.rsa.buffer, 256), 256);
                ret->publicArea.unique.rsa.size = 256;
        }
        BN_free(bn);
        return k;
}

/* The seed, recovered with the SRK's private key (TPM2_Import's first step). */
static void recover_seed(EVP_PKEY *srk_key, const TPM2B_PUBLIC *srk, const TPM2B_ENCRYPTED_SECRET *in, uint8_t seed[32]) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, srk_key, NULL);
        size_t n = 32;

        assert_non_null(ctx);
        if (srk->publicArea.type == TPM2_ALG_RSA) {
                uint8_t out[256];
                size_t out_size = sizeof(out);

                assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
                assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
                assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", NULL), 1);
                assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup("DUPLICATE", 10), 10), 1);
                assert_int_equal(in->size, 256);
                assert_int_equal(EVP_PKEY_decrypt(ctx, out, &out_size, in->secret, in->size), 1);
                assert_int_equal(out_size, 32);
                memcpy(seed, out, 32);
        } else {
                TPMS_ECC_POINT q = {};
                size_t off = 0;
                uint8_t point[65], z[32];
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *peer = NULL;
                _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
                OSSL_PARAM params[3];

                assert_int_equal(Tss2_MU_TPMS_ECC_POINT_Unmarshal(in->secret, in->size, &off, &q), TSS2_RC_SUCCESS);
                assert_int_equal(off, in->size);
                assert_int_equal(q.x.size, 32);
                assert_int_equal(q.y.size, 32);
                point[0] = 4;
                memcpy(point + 1, q.x.buffer, 32);
                memcpy(point + 33, q.y.buffer, 32);
                params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) "P-256", 0);
                params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
                params[2] = OSSL_PARAM_construct_end();
                assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
                assert_int_equal(EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params), 1);
                assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
                assert_int_equal(EVP_PKEY_derive_set_peer(ctx, peer), 1);
                assert_int_equal(EVP_PKEY_derive(ctx, z, &n), 1);
                assert_int_equal(n, 32);
                assert_int_equal(tpm2_kdfe(TPM2_ALG_SHA256, z, 32, "DUPLICATE", q.x.buffer, 32,
                                           srk->publicArea.unique.ecc.x.buffer, 32, seed, 32), 0);
        }
}

/* What TPM2_Import checks and decrypts: the outer HMAC, then the sensitive area. */
static void unwrap(EVP_PKEY *srk_key, const TPM2B_PUBLIC *srk, const struct tpm2_sealed *s, TPMT_SENSITIVE *ret) {
        uint8_t seed[32], sym[16], hmac_key[32], mac[32], iv[16] = {}, plain[sizeof(TPM2B_SENSITIVE)];
        uint8_t mac_in[sizeof(TPM2B_PRIVATE) + sizeof(TPM2B_NAME)];
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        TPM2B_SENSITIVE sens = {};
        TPM2B_NAME name;
        size_t mac_size = 0, enc_size, off = 0;
        int len = 0;

        recover_seed(srk_key, srk, &s->seed, seed);
        assert_int_equal(tpm2_public_name(&s->public, &name), 0);
        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA256, seed, 32, "STORAGE", name.name, name.size, NULL, 0, sym, 16), 0);
        assert_int_equal(tpm2_kdfa(TPM2_ALG_SHA256, seed, 32, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, 32), 0);

        /* duplicate = [32]16 || HMAC || encSensitive */
        assert_true(s->private.size > 34);
        assert_int_equal(s->private.buffer[0], 0);
        assert_int_equal(s->private.buffer[1], 32);
        enc_size = s->private.size - 34;
        memcpy(mac_in, s->private.buffer + 34, enc_size);
        memcpy(mac_in + enc_size, name.name, name.size);
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, 32, mac_in, enc_size + name.size, mac,
                                  sizeof(mac), &mac_size));
        assert_memory_equal(mac, s->private.buffer + 2, 32);

        assert_non_null(c);
        assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_128_cfb128(), NULL, sym, iv), 1);
        assert_int_equal(EVP_DecryptUpdate(c, plain, &len, s->private.buffer + 34, (int) enc_size), 1);
        assert_int_equal((size_t) len, enc_size);
        EVP_CIPHER_CTX_free(c);
        assert_int_equal(Tss2_MU_TPM2B_SENSITIVE_Unmarshal(plain, enc_size, &off, &sens), TSS2_RC_SUCCESS);
        assert_int_equal(off, enc_size);
        *ret = sens.sensitiveArea;
}

static void check_sealed(TPM2_ALG_ID type, bool with_pin) {
        _cleanup_secret_ cvmseal_secret *data = cvmseal_secret_new_from("0123456789abcdef0123456789abcdefPIN", 35);
        _cleanup_secret_ cvmseal_secret *pin = cvmseal_secret_new_from("1234", 4);
        TPM2B_AUTH auth;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        TPM2B_DIGEST policy = { .size = 32 }, unique;
        TPM2B_PUBLIC srk;
        TPM2B_NAME srk_name;
        TPMT_SENSITIVE sens;
        struct tpm2_sealed s;
        uint8_t buf[sizeof(TPM2B_PUBLIC)];
        size_t size = 0;
        unsigned n = 0;
        EVP_MD_CTX *ctx;

        memset(policy.buffer, 0x5a, 32);
        k = make_srk(type, &srk);
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&srk, buf, sizeof(buf), &size), TSS2_RC_SUCCESS);
        assert_int_equal(tpm2_srk_public_parse(buf, size, &srk, &srk_name), 0);

        /* The authValue goes into the sensitive area as given (a version 2 token's: derived from its
         * binding and PIN; here the PIN's digest, as version 1 made it). */
        assert_int_equal(tpm2_pin_auth(pin, &auth), 0);
        assert_int_equal(tpm2_seal_offline(&srk, &policy, with_pin ? &auth : NULL, !with_pin, data, &s), 0);
        assert_int_equal(s.srk_name.size, 34);
        assert_memory_equal(s.srk_name.name, srk_name.name, 34);
        assert_memory_equal(s.policy.buffer, policy.buffer, 32);
        assert_int_equal(s.public.publicArea.type, TPM2_ALG_KEYEDHASH);
        assert_memory_equal(s.public.publicArea.authPolicy.buffer, policy.buffer, 32);
        /* Import refuses fixedTPM/fixedParent; noda exactly without a PIN; policy only. */
        assert_int_equal(s.public.publicArea.objectAttributes & (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                                                TPMA_OBJECT_USERWITHAUTH), 0);
        assert_int_equal(!!(s.public.publicArea.objectAttributes & TPMA_OBJECT_NODA), !with_pin);
        assert_int_equal(s.seed.size, type == TPM2_ALG_RSA ? 256 : 2 + 32 + 2 + 32);

        unwrap(k, &srk, &s, &sens);
        assert_int_equal(sens.sensitiveType, TPM2_ALG_KEYEDHASH);
        assert_int_equal(sens.sensitive.bits.size, 35);
        assert_memory_equal(sens.sensitive.bits.buffer, cvmseal_secret_data(data), 35);
        if (with_pin) {
                /* printf 1234 | sha256sum */
                assert_hex(sens.authValue.buffer, sens.authValue.size,
                           "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4");
        } else
                assert_int_equal(sens.authValue.size, 0);
        /* unique = SHA-256(seedValue || data) */
        assert_int_equal(sens.seedValue.size, 32);
        ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, sens.seedValue.buffer, 32), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, sens.sensitive.bits.buffer, 35), 1);
        assert_int_equal(EVP_DigestFinal_ex(ctx, unique.buffer, &n), 1);
        EVP_MD_CTX_free(ctx);
        assert_memory_equal(s.public.publicArea.unique.keyedHash.buffer, unique.buffer, 32);

        /* The token's form of the seed. */
        {
                _cleanup_free_ uint8_t *m = NULL;
                TPM2B_ENCRYPTED_SECRET back;
                size_t msize = 0;

                assert_int_equal(tpm2_import_seed_marshal(&s.seed, &m, &msize), 0);
                assert_int_equal(msize, 2 + s.seed.size);
                assert_int_equal(tpm2_import_seed_unmarshal(m, msize, &back), 0);
                assert_memory_equal(back.secret, s.seed.secret, s.seed.size);
                assert_int_equal(tpm2_import_seed_unmarshal(m, msize - 1, &back), -EBADMSG);
                assert_int_equal(tpm2_import_seed_unmarshal((const uint8_t *) "\0\0", 2, &back), -EBADMSG);
        }
}

static void test_seal_ecc(void **state) {
        check_sealed(TPM2_ALG_ECC, false);
        check_sealed(TPM2_ALG_ECC, true);
}

static void test_seal_rsa(void **state) {
        check_sealed(TPM2_ALG_RSA, false);
        check_sealed(TPM2_ALG_RSA, true);
}

/* Two seals of the same data differ (fresh seed, fresh obfuscation value). */
static void test_seal_fresh(void **state) {
        _cleanup_secret_ cvmseal_secret *data = cvmseal_secret_new_from("0123456789abcdef0123456789abcdef", 32);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        TPM2B_DIGEST policy = { .size = 32 };
        TPM2B_PUBLIC srk;
        struct tpm2_sealed a, b;

        k = make_srk(TPM2_ALG_ECC, &srk);
        assert_int_equal(tpm2_seal_offline(&srk, &policy, NULL, true, data, &a), 0);
        assert_int_equal(tpm2_seal_offline(&srk, &policy, NULL, true, data, &b), 0);
        assert_memory_not_equal(a.seed.secret, b.seed.secret, a.seed.size);
        assert_memory_not_equal(a.public.publicArea.unique.keyedHash.buffer, b.public.publicArea.unique.keyedHash.buffer, 32);
}

static void test_srk_public_parse(void **state) {
        uint8_t buf[sizeof(TPM2B_PUBLIC) + 1];
        TPM2B_PUBLIC p, out;
        size_t size = 0;

        srk_template(TPM2_ALG_ECC, &p);
        p.publicArea.unique.ecc.x.size = p.publicArea.unique.ecc.y.size = 32;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &size), TSS2_RC_SUCCESS);
        assert_int_equal(tpm2_srk_public_parse(buf, size, &out, NULL), 0);
        buf[size] = 0;
        assert_int_equal(tpm2_srk_public_parse(buf, size + 1, &out, NULL), -EBADMSG);  /* trailing byte */
        assert_int_equal(tpm2_srk_public_parse(buf, size - 1, &out, NULL), -EBADMSG);  /* short */
        assert_int_equal(tpm2_srk_public_parse(buf, 0, &out, NULL), -EBADMSG);

        /* A signing key, a key without restricted, another symmetric mode, a keyedhash object. */
        srk_template(TPM2_ALG_ECC, &p);
        p.publicArea.unique.ecc.x.size = p.publicArea.unique.ecc.y.size = 32;
        p.publicArea.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
        size = 0;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &size), TSS2_RC_SUCCESS);
        assert_int_equal(tpm2_srk_public_parse(buf, size, &out, NULL), -EOPNOTSUPP);

        p.publicArea.objectAttributes &= ~(TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED);
        size = 0;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &size), TSS2_RC_SUCCESS);
        assert_int_equal(tpm2_srk_public_parse(buf, size, &out, NULL), -EOPNOTSUPP);

        srk_template(TPM2_ALG_RSA, &p);
        p.publicArea.unique.rsa.size = 256;
        p.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CBC;
        size = 0;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &size), TSS2_RC_SUCCESS);
        assert_int_equal(tpm2_srk_public_parse(buf, size, &out, NULL), -EOPNOTSUPP);

        p = (TPM2B_PUBLIC) { .publicArea = { .type = TPM2_ALG_KEYEDHASH, .nameAlg = TPM2_ALG_SHA256,
                                             .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                                             .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL } };
        size = 0;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &size), TSS2_RC_SUCCESS);
        assert_int_equal(tpm2_srk_public_parse(buf, size, &out, NULL), -EOPNOTSUPP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kdfa),
                cmocka_unit_test(test_kdfe),
                cmocka_unit_test(test_seal_ecc),
                cmocka_unit_test(test_seal_rsa),
                cmocka_unit_test(test_seal_fresh),
                cmocka_unit_test(test_srk_public_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
