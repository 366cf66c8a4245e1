/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token schema: a valid token parses and writes back the same; every member missing, of the
 * wrong type, out of range or unknown is -EBADMSG (the token is read from an unauthenticated disk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "token.h"
#include "tpm2.h"

#define NAME34 "000b" "0102030405060708091011121314151617181920212223242526272829303132"
#define POLICY "8b5682d81b29435d08d79278150611dc7e5923b2fefcce684a09577b40130a8b"

static const char valid[] =
        "{\"type\":\"cvmseal\",\"keyslots\":[\"1\"],\"version\":1,"
        "\"kdf\":{\"type\":\"hkdf-sha256\",\"salt\":\"qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=\"},"
        "\"tpm2\":{\"srk-handle\":2164260865,\"srk-name\":\"" NAME34 "\",\"pcr-bank\":\"sha256\","
        "\"pcrs\":[0,7],\"pin\":true,\"policy\":\"" POLICY "\",\"public\":\"AAQBAgME\",\"private\":\"AAIBAg==\"}}";

static void test_valid_roundtrip(void **state) {
        _cleanup_(token_done) struct token t = {};
        _cleanup_(json_object_putp) json_object *j = NULL;

        assert_int_equal(token_from_string(valid, &t), 0);
        assert_int_equal(t.version, 1);
        assert_int_equal(t.keyslot, 1);
        assert_int_equal(t.salt[0], 0xaa);
        assert_int_equal(t.tpm2.srk_handle, 0x81000001);
        assert_int_equal(t.tpm2.srk_name_size, 34);
        assert_int_equal(t.tpm2.pcr_mask, (1u << 0) | (1u << 7));
        assert_true(t.tpm2.pin);
        assert_int_equal(t.tpm2.policy_size, 32);
        assert_int_equal(t.tpm2.public_size, 6);
        assert_int_equal(t.tpm2.private_size, 4);

        assert_int_equal(token_to_json(&t, &j), 0);
        assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), valid);
        assert_true(token_json_is_cvmseal(valid));
        assert_false(token_json_is_cvmseal("{\"type\":\"systemd-tpm2\"}"));
        assert_false(token_json_is_cvmseal("not json"));
}

/* Applies a mutation to the valid token at path ("tpm2.pcrs"...) and expects -EBADMSG. */
static void expect_bad(const char *object, const char *key, json_object *value) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(valid);
        _cleanup_(token_done) struct token t = {};
        json_object *o = j;

        assert_non_null(j);
        if (object)
                assert_true(json_object_object_get_ex(j, object, &o));
        if (value)
                json_object_object_add(o, key, value);
        else
                json_object_object_del(o, key);

        if (token_from_json(j, &t) != -EBADMSG)
                fail_msg("mutating %s.%s was accepted", object ?: "", key);
}

static void test_missing_members(void **state) {
        static const char *const top[] = { "type", "keyslots", "version", "kdf", "tpm2" };
        static const char *const tpm2[] = { "srk-handle", "srk-name", "pcr-bank", "pcrs", "pin",
                                            "policy", "public", "private" };

        for (size_t i = 0; i < ELEMENTSOF(top); i++)
                expect_bad(NULL, top[i], NULL);
        for (size_t i = 0; i < ELEMENTSOF(tpm2); i++)
                expect_bad("tpm2", tpm2[i], NULL);
        expect_bad("kdf", "salt", NULL);
        expect_bad("kdf", "type", NULL);
}

static void test_wrong_types_and_ranges(void **state) {
        expect_bad(NULL, "type", json_object_new_string("systemd-tpm2"));
        expect_bad(NULL, "version", json_object_new_string("1"));
        expect_bad(NULL, "version", json_object_new_int(2));
        expect_bad(NULL, "version", json_object_new_int(0));
        expect_bad(NULL, "keyslots", json_object_new_string("1"));
        expect_bad(NULL, "keyslots", json_tokener_parse("[]"));
        expect_bad(NULL, "keyslots", json_tokener_parse("[\"1\",\"2\"]"));
        expect_bad(NULL, "keyslots", json_tokener_parse("[1]"));
        expect_bad(NULL, "keyslots", json_tokener_parse("[\"32\"]"));
        expect_bad(NULL, "keyslots", json_tokener_parse("[\"1x\"]"));
        expect_bad(NULL, "kdf", json_object_new_string("hkdf"));
        expect_bad("kdf", "type", json_object_new_string("pbkdf2"));
        expect_bad("kdf", "salt", json_object_new_string("not base64!"));
        expect_bad("kdf", "salt", json_object_new_string("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqg=="));  /* 31 bytes */
        expect_bad("tpm2", "srk-handle", json_object_new_string("2164260865"));
        expect_bad("tpm2", "srk-handle", json_object_new_int64(0x40000001));
        expect_bad("tpm2", "srk-name", json_object_new_string("zz"));
        expect_bad("tpm2", "srk-name", json_object_new_string("000b01"));
        expect_bad("tpm2", "pcr-bank", json_object_new_string("sha1"));
        expect_bad("tpm2", "pcrs", json_object_new_string("7"));
        expect_bad("tpm2", "pcrs", json_tokener_parse("[]"));
        expect_bad("tpm2", "pcrs", json_tokener_parse("[24]"));
        expect_bad("tpm2", "pcrs", json_tokener_parse("[-1]"));
        expect_bad("tpm2", "pcrs", json_tokener_parse("[7,7]"));
        expect_bad("tpm2", "pcrs", json_tokener_parse("[\"7\"]"));
        expect_bad("tpm2", "pin", json_object_new_string("false"));
        expect_bad("tpm2", "policy", json_object_new_string("00"));
        expect_bad("tpm2", "public", json_object_new_string("AA"));
        expect_bad("tpm2", "private", json_object_new_int(1));
}

static void test_unknown_members(void **state) {
        expect_bad(NULL, "hsm", json_object_new_object());
        expect_bad("tpm2", "extra", json_object_new_boolean(true));
        expect_bad("kdf", "iterations", json_object_new_int(1));
}

/* Sealed offline: tpm2.import = {"seed": <base64>}, strict like the rest. */
static void test_import(void **state) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(valid), *out = NULL;
        _cleanup_(token_done) struct token t = {};
        json_object *tpm2 = NULL, *imp;
        static const char *const bad[] = { "\"AAAA\"", "{}", "{\"seed\":1}", "{\"seed\":\"AA==\"}",
                                           "{\"seed\":\"AAIBAg==\",\"extra\":true}", "{\"seed\":\"not base64\"}" };

        assert_non_null(j);
        assert_true(json_object_object_get_ex(j, "tpm2", &tpm2));
        imp = json_tokener_parse("{\"seed\":\"AAIBAg==\"}");
        json_object_object_add(tpm2, "import", imp);
        assert_int_equal(token_from_json(j, &t), 0);
        assert_int_equal(t.tpm2.import_seed_size, 4);
        assert_int_equal(t.tpm2.import_seed[3], 2);
        assert_int_equal(token_to_json(&t, &out), 0);
        assert_string_equal(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
                            json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_bad("tpm2", "import", json_tokener_parse(bad[i]));
}

static void test_not_json(void **state) {
        struct token t = {};

        assert_int_equal(token_from_string("", &t), -EBADMSG);
        assert_int_equal(token_from_string("[1,2]", &t), -EBADMSG);
        assert_int_equal(token_from_string("{\"type\":\"cvmseal\"", &t), -EBADMSG);
}

static void test_sealed_unmarshal(void **state) {
        struct tpm2_sealed in = {
                .public.publicArea = {
                        .type = TPM2_ALG_KEYEDHASH,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA,
                        .authPolicy = { .size = 32 },
                        .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
                },
                .private = { .size = 3, .buffer = { 1, 2, 3 } },
        }, out;
        _cleanup_free_ uint8_t *pub = NULL, *priv = NULL;
        size_t pub_size, priv_size;
        uint8_t name[34] = { 0, 0x0b };

        assert_int_equal(tpm2_sealed_marshal(&in, &pub, &pub_size, &priv, &priv_size), 0);
        assert_int_equal(tpm2_sealed_unmarshal(pub, pub_size, priv, priv_size, name, sizeof(name), &out), 0);
        assert_int_equal(out.public.publicArea.type, TPM2_ALG_KEYEDHASH);
        assert_int_equal(out.private.size, 3);
        assert_int_equal(out.srk_name.size, 34);

        /* Truncated, trailing bytes, another object type. */
        assert_int_equal(tpm2_sealed_unmarshal(pub, pub_size - 1, priv, priv_size, name, 34, &out), -EBADMSG);
        assert_int_equal(tpm2_sealed_unmarshal(pub, pub_size, priv, priv_size - 1, name, 34, &out), -EBADMSG);
        pub[1] += 1; /* TPM2B size one larger than the data */
        assert_int_equal(tpm2_sealed_unmarshal(pub, pub_size, priv, priv_size, name, 34, &out), -EBADMSG);
        pub[1] -= 1;
        pub[3] = 0x01; /* type TPM2_ALG_RSA */
        assert_int_equal(tpm2_sealed_unmarshal(pub, pub_size, priv, priv_size, name, 34, &out), -EBADMSG);
}

/* The token with an AES-GCM HSM binding. */
static const char *const hsm_aes =
        "{\"uri\":\"pkcs11:token=cvmseal;object=disk;type=secret-key\",\"mechanism\":\"aes-256-gcm\","
        "\"iv\":\"AAECAwQFBgcICQoL\",\"key-check\":\"65574d\","
        "\"ciphertext\":\"" "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v" "\",\"pin\":true}";

static void test_hsm_binding(void **state) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(valid);
        _cleanup_(token_done) struct token t = {};
        _cleanup_(json_object_putp) json_object *out = NULL;

        json_object_object_add(j, "hsm", json_tokener_parse(hsm_aes));
        assert_int_equal(token_from_json(j, &t), 0);
        assert_true(t.has_hsm);
        assert_int_equal(t.hsm.mechanism, HSM_AES_256_GCM);
        assert_string_equal(t.hsm.uri, "pkcs11:token=cvmseal;object=disk;type=secret-key");
        assert_int_equal(t.hsm.key_check_size, 3);
        assert_int_equal(t.hsm.ciphertext_size, 48);
        assert_int_equal(t.hsm.iv[11], 11);
        assert_true(t.hsm.pin);

        /* Written back the same. */
        assert_int_equal(token_to_json(&t, &out), 0);
        assert_string_equal(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
                            json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
}

static void expect_bad_hsm(const char *key, json_object *value) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(valid);
        _cleanup_(token_done) struct token t = {};
        json_object *h = json_tokener_parse(hsm_aes);

        if (value)
                json_object_object_add(h, key, value);
        else
                json_object_object_del(h, key);
        json_object_object_add(j, "hsm", h);
        if (token_from_json(j, &t) != -EBADMSG)
                fail_msg("mutating hsm.%s was accepted", key);
}

static void test_hsm_binding_bad(void **state) {
        static const char *const members[] = { "uri", "mechanism", "iv", "key-check", "ciphertext", "pin" };

        for (size_t i = 0; i < ELEMENTSOF(members); i++)
                expect_bad_hsm(members[i], NULL);
        expect_bad_hsm("uri", json_object_new_string("file:/etc/key"));      /* no backend for it */
        expect_bad_hsm("uri", json_object_new_int(1));
        expect_bad_hsm("mechanism", json_object_new_string("des"));
        expect_bad_hsm("iv", json_object_new_string("AAECAwQFBgcICQo="));     /* 11 bytes */
        expect_bad_hsm("key-check", json_object_new_string("xyz"));
        expect_bad_hsm("ciphertext", json_object_new_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")); /* 32 */
        expect_bad_hsm("pin", json_object_new_string("yes"));
        expect_bad_hsm("extra", json_object_new_boolean(true));
        /* An RSA binding takes no IV, and a ciphertext of an RSA key's size. */
        expect_bad_hsm("mechanism", json_object_new_string("rsa-oaep-sha256"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_roundtrip),
                cmocka_unit_test(test_missing_members),
                cmocka_unit_test(test_wrong_types_and_ranges),
                cmocka_unit_test(test_unknown_members),
                cmocka_unit_test(test_import),
                cmocka_unit_test(test_not_json),
                cmocka_unit_test(test_sealed_unmarshal),
                cmocka_unit_test(test_hsm_binding),
                cmocka_unit_test(test_hsm_binding_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
