/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signed PCR policies (src/lib/tpm/signed-policy.h): the signing key's TPM name and the PolicyAuthorize
 * digests against what swtpm computed (tpm2_loadexternal -C o -G rsa|ecc -u KEY.pub -n NAME, then trial
 * sessions: tpm2_policyauthorize -n NAME -q REF [, tpm2_policypcr -l sha256:15 -f <32 zero bytes>]
 * [, tpm2_policyauthvalue]); the approved policy against tpm2_policypcr; the document: sign, parse,
 * verify, and every kind of tampering or malformation refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "encoding.h"
#include "macro.h"
#include "secret.h"
#include "signed-policy.h"

static const char rsa_pub[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkqsDFEn0k2qYXR1/RVpX\n"
        "6YhYpicOxIuULFwy3fLu8VFzESlYqTqy555N6wNla3NGVNoCXT/AUhw1ANOvtLr3\n"
        "bleMdqZE1RjWdHipA5KxglgMiTOMycJtQDRxfIUkANK93oAeYf6iMWe7wYtmUoRH\n"
        "VlK8E5wyqEH9k6594flPCsY2HTYRzTXrQAHNyKxrzbZskR39WxWgQAEfeb+r8wnp\n"
        "8NsSfnUyt6a0U+e6WY9dT+gynpniRZp3JFb681+EmZGG+tozmFYqx3MIfdSZmdq6\n"
        "Y2/UGEl8ncpT9IMvSJDiLP6DZrCMO6Q5Hp1Qu1fEpHZ1fUKyGHHwnV2HYTC7oR+b\n"
        "pQIDAQAB\n"
        "-----END PUBLIC KEY-----\n";

static const char ec_pub[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEptS1ddhcjnRCOXi9Hvx7lt7dGNja\n"
        "Y+08vP0Ka6tsiJjREE/jeJLtny6y2g5YBvmUSnZTwS7QkE0Gkw1eFWVIQA==\n"
        "-----END PUBLIC KEY-----\n";

/* From swtpm, as the file comment says. */
#define RSA_NAME "000bbaf08b4a0761755481b6f5bb62f6bbf8ccd056d1f0504d23ca27c918bd58571f"
#define RSA_AUTHORIZE "aeffeb63f6b8f7e5455c76a9ba520c74882b4a3388144810d6ea5d1bca2729f5"
#define RSA_AUTHORIZE_PIN "77553708f8b91de7d16daac8f1587e6f1d01aa82aecbda40d47338a3fa309c76"
#define RSA_AUTHORIZE_LOCK "d38af00826a1572f25a7697cb0e8e41920f3c9d680ddc5484bf7e029139d06c1"
#define RSA_AUTHORIZE_LOCK_PIN "b65e5810383b086aed55fb1226651dae9e7014ac020484b3dd3bc436f3b3dac5"
#define EC_NAME "000bcef001540bce35cfafd649bc6a2478337e64003469c969cd6f53df3d7eb6e093"
#define EC_AUTHORIZE "78a76b2a7a73e6d8359a69fb99d7484335c47a2372f75ef9e19991fd3071f003"
#define EC_AUTHORIZE_PIN "d10a5d4d4476cde9ac8b82e88b85fb31440cd16892f9b6b4aaab1762ca3c9c57"
#define EC_AUTHORIZE_LOCK "75c94ea4fa8362ccc839fa92c885f2d5b6443784729a635779f4544eb99cb58c"
#define EC_AUTHORIZE_LOCK_PIN "0c6cdad82eb18c36ccf57d86a8fd9acabad191cc09797261681659efc989d7a9"
/* tpm2_policypcr -l sha256:7 -f <32 x 0x07> */
#define APPROVED_PCR7 "558849a0429135265c3dd6805ac252c2eca1ee7604742129c96f58d8821c2a89"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static void expect_hex(const void *p, size_t n, const char *hex) {
        _cleanup_free_ char *got = hex_encode(p, n);

        assert_non_null(got);
        assert_string_equal(got, hex);
}

static void check_key(const char *pem, const char *name_hex, const char *authorize, const char *authorize_pin,
                      const char *authorize_lock, const char *authorize_lock_pin) {
        struct signed_policy_fixed lock = { .mask = UINT32_C(1) << 15 }; /* the lock PCR at zero */
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        TPM2B_PUBLIC pub, again;
        TPM2B_NAME name;
        TPM2B_DIGEST d;

        assert_int_equal(signed_policy_key_from_pem(pem, strlen(pem), &pub), 0);
        assert_int_equal(signed_policy_key_name(&pub, &name), 0);
        expect_hex(name.name, name.size, name_hex);

        assert_int_equal(signed_policy_authorize_digest(&name, NULL, false, &d), 0);
        expect_hex(d.buffer, d.size, authorize);
        assert_int_equal(signed_policy_authorize_digest(&name, NULL, true, &d), 0);
        expect_hex(d.buffer, d.size, authorize_pin);
        assert_int_equal(signed_policy_authorize_digest(&name, &lock, false, &d), 0);
        expect_hex(d.buffer, d.size, authorize_lock);
        assert_int_equal(signed_policy_authorize_digest(&name, &lock, true, &d), 0);
        expect_hex(d.buffer, d.size, authorize_lock_pin);

        /* The key survives the trip through OpenSSL unchanged (the template is canonical). */
        assert_int_equal(signed_policy_key_to_pkey(&pub, &pkey), 0);
        assert_int_equal(signed_policy_key_from_pkey(pkey, &again), 0);
        assert_memory_equal(&again, &pub, sizeof(pub));
}

static void test_key_names_and_digests(void **state) {
        check_key(rsa_pub, RSA_NAME, RSA_AUTHORIZE, RSA_AUTHORIZE_PIN, RSA_AUTHORIZE_LOCK, RSA_AUTHORIZE_LOCK_PIN);
        check_key(ec_pub, EC_NAME, EC_AUTHORIZE, EC_AUTHORIZE_PIN, EC_AUTHORIZE_LOCK, EC_AUTHORIZE_LOCK_PIN);
}

static void test_approved(void **state) {
        struct pcr_values v = { .mask = UINT32_C(1) << 7 };
        uint8_t packed[1][32];
        TPM2B_DIGEST d, e;

        memset(v.sha256[7], 0x07, 32);
        assert_int_equal(signed_policy_approved(&v, v.mask, &d), 0);
        expect_hex(d.buffer, d.size, APPROVED_PCR7);
        /* The same digest as the PCR policy of a plain token. */
        memset(packed[0], 0x07, 32);
        assert_int_equal(tpm2_policy_digest(v.mask, (const uint8_t (*)[32]) packed, false, &e), 0);
        assert_memory_equal(d.buffer, e.buffer, 32);
        /* A PCR the values lack. */
        assert_int_equal(signed_policy_approved(&v, v.mask | 1, &d), -EINVAL);
}

static void test_key_refused(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        TPM2B_PUBLIC pub;

        assert_non_null(small);
        assert_non_null(p384);
        assert_non_null(ed);
        assert_int_equal(signed_policy_key_from_pkey(small, &pub), -EKEYREJECTED);
        assert_int_equal(signed_policy_key_from_pkey(p384, &pub), -EKEYREJECTED);
        assert_int_equal(signed_policy_key_from_pkey(ed, &pub), -EKEYREJECTED);
        assert_int_equal(signed_policy_key_from_pem("not a key", 9, &pub), -EKEYREJECTED);

        /* A public area of another template (here: a restricted key) is not one cvmseal wrote. */
        assert_int_equal(signed_policy_key_from_pem(rsa_pub, strlen(rsa_pub), &pub), 0);
        pub.publicArea.objectAttributes |= TPMA_OBJECT_RESTRICTED;
        assert_int_equal(signed_policy_key_to_pkey(&pub, &pkey), -EBADMSG);
}

/* A document signed by a fresh key of the type, as text. */
static char *sign_doc(EVP_PKEY *key, TPM2B_PUBLIC *ret_pub) {
        struct pcr_values v = { .mask = (UINT32_C(1) << 4) | (UINT32_C(1) << 7) };
        _cleanup_(json_object_putp) json_object *j = NULL;

        memset(v.sha256[4], 0x44, 32);
        memset(v.sha256[7], 0x77, 32);
        assert_int_equal(signed_policy_key_from_pkey(key, ret_pub), 0);
        assert_int_equal(signed_policy_sign(key, &v, 0, (time_t) 1767225600, &j), 0); /* 2026-01-01 */
        return strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
}

static int parse_verify(const char *text, const TPM2B_PUBLIC *pub, uint32_t mask) {
        struct signed_policy p;
        int r;

        r = signed_policy_parse(text, strlen(text), &p);
        if (r < 0)
                return r;
        r = signed_policy_verify(&p, pub, mask);
        signed_policy_done(&p);
        return r;
}

/* text with the first occurrence of from replaced by to. */
static char *replace(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        char *s;

        assert_non_null(at);
        assert_true(asprintf(&s, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from)) > 0);
        return s;
}

static void check_document(EVP_PKEY *key, EVP_PKEY *other) {
        const uint32_t mask = (UINT32_C(1) << 4) | (UINT32_C(1) << 7);
        _cleanup_free_ char *text = NULL, *t = NULL;
        TPM2B_PUBLIC pub, other_pub;
        struct signed_policy p;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *v;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_size;
        char hex[65];

        text = sign_doc(key, &pub);
        assert_non_null(text);
        assert_int_equal(signed_policy_key_from_pkey(other, &other_pub), 0);

        /* Good, and what it says. */
        assert_int_equal(signed_policy_parse(text, strlen(text), &p), 0);
        assert_int_equal(p.pcrs.mask, mask);
        assert_int_equal(p.pcrs.sha256[7][0], 0x77);
        assert_int_equal((long long) p.created, 1767225600LL);
        signed_policy_done(&p);
        assert_non_null(strstr(text, "\"created\":\"2026-01-01T00:00:00Z\""));
        assert_int_equal(parse_verify(text, &pub, mask), 0);

        /* Another key, other PCRs than the token's. */
        assert_int_equal(parse_verify(text, &other_pub, mask), -EKEYREJECTED);
        assert_int_equal(parse_verify(text, &pub, UINT32_C(1) << 7), -EKEYREJECTED);

        /* Another PCR value (the signature no longer matches: 'policy' is checked first, then with a
         * consistent 'policy' the signature). */
        t = replace(text, "77777777", "77777776");
        assert_int_equal(parse_verify(t, &pub, mask), -EKEYREJECTED);

        /* A flipped signature byte. */
        j = json_tokener_parse(text);
        assert_non_null(j);
        assert_true(json_object_object_get_ex(j, "signature", &v));
        assert_int_equal(base64_decode(json_object_get_string(v), &sig, &sig_size), 0);
        sig[sig_size - 1] ^= 1;
        {
                _cleanup_free_ char *b = base64_encode(sig, sig_size);

                json_object_object_add(j, "signature", json_object_new_string(b));
        }
        assert_int_equal(parse_verify(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), &pub, mask),
                         -EKEYREJECTED);

        /* The approved policy of other values, with the original signature. */
        json_object_put(j);
        j = json_tokener_parse(text);
        memset(hex, 'a', 64);
        hex[64] = 0;
        json_object_object_add(j, "policy", json_object_new_string(hex));
        assert_int_equal(parse_verify(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), &pub, mask),
                         -EKEYREJECTED);
}

static void test_document_rsa(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

        check_document(a, b);
}

static void test_document_ec(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

        check_document(a, b);
}

static void test_malformed(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_free_ char *text = NULL;
        TPM2B_PUBLIC pub;
        static const struct {
                const char *from, *to;
        } edits[] = {
                { "\"version\":1", "\"version\":2" },
                { "\"version\":1", "\"version\":\"1\"" },
                { "\"version\":1,", "" },
                { "\"version\":1", "\"version\":1,\"extra\":true" },
                { "\"created\":\"2026-01-01T00:00:00Z\"", "\"created\":\"2026-01-01 00:00:00\"" },
                { "\"created\":\"2026-01-01T00:00:00Z\"", "\"created\":\"2026-13-01T00:00:00Z\"" },
                { "\"created\":\"2026-01-01T00:00:00Z\"", "\"created\":\"2026-02-30T00:00:00Z\"" },
                { "\"created\":\"2026-01-01T00:00:00Z\"", "\"created\":1767225600" },
                { "\"sha256\"", "\"sha1\"" },
                { "\"pcrs\":{\"sha256\":{", "\"pcrs\":{\"sha256\":{\"24\":\"00\"," },
                { "\"key\":\"000b", "\"key\":\"000c00" },
                { "\"key\":\"000b", "\"key\":\"0" },
                { "\"signature\":\"", "\"signature\":\"AAAA" },
                { "\"policy\":\"", "\"policy\":\"zz" },
        };
        struct signed_policy p;

        text = sign_doc(key, &pub);
        assert_non_null(text);
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                _cleanup_free_ char *t = replace(text, edits[i].from, edits[i].to);

                if (signed_policy_parse(t, strlen(t), &p) != -EBADMSG)
                        fail_msg("edit %zu (%s -> %s) was accepted", i, edits[i].from, edits[i].to);
        }
        /* Not JSON, not an object, trailing text, a NUL inside, empty. */
        assert_int_equal(signed_policy_parse("{", 1, &p), -EBADMSG);
        assert_int_equal(signed_policy_parse("[]", 2, &p), -EBADMSG);
        assert_int_equal(signed_policy_parse("", 0, &p), -EBADMSG);
        {
                _cleanup_free_ char *t = NULL;

                assert_true(asprintf(&t, "%s {}", text) > 0);
                assert_int_equal(signed_policy_parse(t, strlen(t), &p), -EBADMSG);
                t[strlen(text)] = 0;
                assert_int_equal(signed_policy_parse(t, strlen(text) + 2, &p), -EBADMSG);
                /* White space after the document is fine. */
                t[strlen(text)] = '\n';
                t[strlen(text) + 1] = 0;
                assert_int_equal(signed_policy_parse(t, strlen(t), &p), 0);
                signed_policy_done(&p);
        }
}

static void test_public_sign(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_secret_ cvmseal_secret *pem = NULL, *enc = NULL;
        static const char values[] =
                "{\"sha256\": {\"7\": \"0707070707070707070707070707070707070707070707070707070707070707\"}}";
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        /* An unencrypted PEM private key signs; an encrypted one is refused without a prompt. */
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
        fclose(f);
        pem = cvmseal_secret_new_from(buf, size);
        secure_wipe(buf, size);
        free(buf);
        buf = NULL;
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), (const unsigned char *) "pw", 2, NULL, NULL), 1);
        fclose(f);
        enc = cvmseal_secret_new_from(buf, size);
        free(buf);

        assert_int_equal(cvmseal_policy_sign(pem, values, strlen(values), 0, &doc), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(doc, "policy")),
                            APPROVED_PCR7);
        assert_int_equal(cvmseal_policy_sign(enc, values, strlen(values), 0, &doc), -EKEYREJECTED);
        assert_int_equal(cvmseal_policy_sign(pem, values, strlen(values), UINT32_C(1) << 4, &doc), -EDOM);
        assert_int_equal(cvmseal_policy_sign(pem, "{}", 2, 0, &doc), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_names_and_digests),
                cmocka_unit_test(test_approved),
                cmocka_unit_test(test_key_refused),
                cmocka_unit_test(test_document_rsa),
                cmocka_unit_test(test_document_ec),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_public_sign),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
