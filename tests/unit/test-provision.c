/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The provisioning marker (src/lib/provision.c): a valid marker parses to what it says; every member
 * missing, of the wrong type, out of range or unknown is -EBADMSG (it is read from an unauthenticated
 * disk); and on a real LUKS2 image file, add writes what find reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libcryptsetup.h>

#include "luks.h"
#include "macro.h"
#include "provision.h"
#include "secret.h"

#define PASS "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="     /* 32 bytes */
#define POLICY_TEXT "{\"version\":1,\"require\":[\"snp\"]}"
#define POLICY_B64 "eyJ2ZXJzaW9uIjoxLCJyZXF1aXJlIjpbInNucCJdfQ=="
#define URI "pkcs11:token=cvmseal;object=share;type=secret-key"

static const char valid[] =
        "{\"type\":\"cvmseal-provision\",\"keyslots\":[\"1\"],\"version\":1,\"passphrase\":\"" PASS "\","
        "\"enroll\":{\"pcrs\":[4,7,9],\"attest-policy\":\"" POLICY_B64 "\",\"hsm\":\"" URI "\"}}";

static void test_valid(void **state) {
        _cleanup_(provision_marker_done) struct provision_marker m = {};

        (void) state;
        assert_int_equal(provision_marker_parse(valid, &m), 0);
        assert_int_equal(m.token_id, -1);
        assert_int_equal(m.keyslot, 1);
        assert_int_equal(cvmseal_secret_size(m.passphrase), 44);
        assert_memory_equal(cvmseal_secret_data(m.passphrase), PASS, 44);
        assert_int_equal(m.pcr_mask, (1u << 4) | (1u << 7) | (1u << 9));
        assert_string_equal(m.attest_policy, POLICY_TEXT);
        assert_string_equal(m.hsm_uri, URI);
}

static void test_minimal(void **state) {
        _cleanup_(provision_marker_done) struct provision_marker m = {}, gone = {};

        (void) state;
        assert_int_equal(provision_marker_parse("{\"type\":\"cvmseal-provision\",\"keyslots\":[\"31\"],\"version\":1,"
                                                "\"passphrase\":\"" PASS "\",\"enroll\":{}}", &m), 0);
        assert_int_equal(m.keyslot, 31);
        assert_int_equal(m.pcr_mask, 0);
        assert_null(m.attest_policy);
        assert_null(m.hsm_uri);

        /* What libcryptsetup leaves after the provisioning keyslot was destroyed. */
        assert_int_equal(provision_marker_parse("{\"type\":\"cvmseal-provision\",\"keyslots\":[],\"version\":1,"
                                                "\"passphrase\":\"" PASS "\",\"enroll\":{}}", &gone), 0);
        assert_int_equal(gone.keyslot, -1);
}

/* Sets (or with value NULL deletes) member key of the valid marker (of its "enroll" object when
 * in_enroll) and expects -EBADMSG. */
static void expect_bad_at(int line, bool in_enroll, const char *key, json_object *value) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(valid);
        _cleanup_(provision_marker_done) struct provision_marker m = {};
        json_object *o = j;
        int r;

        assert_non_null(j);
        if (in_enroll)
                assert_true(json_object_object_get_ex(j, "enroll", &o));
        if (value)
                json_object_object_add(o, key, value);
        else
                json_object_object_del(o, key);
        r = provision_marker_parse(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), &m);
        if (r != -EBADMSG)
                fail_msg("line %d: %s%s: got %d, want -EBADMSG", line, in_enroll ? "enroll." : "", key, r);
        assert_null(m.passphrase);
}
#define expect_bad(in_enroll, key, value) expect_bad_at(__LINE__, in_enroll, key, value)

static json_object *array_of(const char *json) {
        return json_tokener_parse(json);
}

static void test_top_members(void **state) {
        (void) state;
        static const char *const required[] = { "type", "keyslots", "version", "passphrase", "enroll" };

        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                expect_bad(false, required[i], NULL);

        expect_bad(false, "type", json_object_new_string("cvmseal"));
        expect_bad(false, "type", json_object_new_int(1));
        expect_bad(false, "version", json_object_new_int(2));
        expect_bad(false, "version", json_object_new_int(0));
        expect_bad(false, "version", json_object_new_string("1"));
        expect_bad(false, "version", json_object_new_double(1.0));
        expect_bad(false, "unknown", json_object_new_string("x"));
        expect_bad(false, "kdf", json_object_new_object());

        expect_bad(false, "keyslots", json_object_new_string("1"));
        expect_bad(false, "keyslots", array_of("[\"1\",\"2\"]"));
        expect_bad(false, "keyslots", array_of("[1]"));
        expect_bad(false, "keyslots", array_of("[\"01\"]"));
        expect_bad(false, "keyslots", array_of("[\"+1\"]"));
        expect_bad(false, "keyslots", array_of("[\" 1\"]"));
        expect_bad(false, "keyslots", array_of("[\"32\"]"));
        expect_bad(false, "keyslots", array_of("[\"-1\"]"));
        expect_bad(false, "keyslots", array_of("[\"\"]"));
        expect_bad(false, "keyslots", array_of("[\"1x\"]"));

        expect_bad(false, "passphrase", json_object_new_int(1));
        expect_bad(false, "passphrase", json_object_new_string(""));
        /* 43 characters, 45 characters, 31 bytes, non-canonical padding bits, not base64. */
        expect_bad(false, "passphrase", json_object_new_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
        expect_bad(false, "passphrase", json_object_new_string(PASS "="));
        expect_bad(false, "passphrase", json_object_new_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="));
        expect_bad(false, "passphrase", json_object_new_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9="));
        expect_bad(false, "passphrase", json_object_new_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8="));
        expect_bad(false, "passphrase", json_object_new_string_len("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw\0Hh8=", 44));

        expect_bad(false, "enroll", json_object_new_string("{}"));
        expect_bad(false, "enroll", json_object_new_array());
}

static void test_enroll_members(void **state) {
        (void) state;

        expect_bad(true, "unknown", json_object_new_int(1));
        expect_bad(true, "pin", json_object_new_boolean(false));

        expect_bad(true, "pcrs", json_object_new_string("7"));
        expect_bad(true, "pcrs", array_of("[]"));
        expect_bad(true, "pcrs", array_of("[24]"));
        expect_bad(true, "pcrs", array_of("[-1]"));
        expect_bad(true, "pcrs", array_of("[7,7]"));
        expect_bad(true, "pcrs", array_of("[\"7\"]"));
        expect_bad(true, "pcrs", array_of("[7.0]"));
        expect_bad(true, "pcrs", array_of("[4294967303]"));
        expect_bad(true, "pcrs", array_of("[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,0]"));

        expect_bad(true, "attest-policy", json_object_new_int(1));
        expect_bad(true, "attest-policy", json_object_new_string(""));
        expect_bad(true, "attest-policy", json_object_new_string("not base64!"));
        expect_bad(true, "attest-policy", json_object_new_string(POLICY_TEXT));
        expect_bad(true, "attest-policy", json_object_new_string("YQBi"));   /* "a\0b" */

        expect_bad(true, "hsm", json_object_new_int(1));
        expect_bad(true, "hsm", json_object_new_string(""));
        expect_bad(true, "hsm", json_object_new_string("file:/etc/key"));
        expect_bad(true, "hsm", json_object_new_string(URI ";pin-value=1234"));
        expect_bad(true, "hsm", json_object_new_string(URI "?pin-source=file:/etc/pin"));
        expect_bad(true, "hsm", json_object_new_string_len(URI "\0x", (int) sizeof(URI) + 1));
}

static void test_not_a_marker(void **state) {
        _cleanup_(provision_marker_done) struct provision_marker m = {}, ok = {};

        (void) state;
        assert_int_equal(provision_marker_parse("", &m), -EBADMSG);
        assert_int_equal(provision_marker_parse("not json", &m), -EBADMSG);
        assert_int_equal(provision_marker_parse("[]", &m), -EBADMSG);
        assert_int_equal(provision_marker_parse("\"cvmseal-provision\"", &m), -EBADMSG);
        assert_null(m.passphrase);

        /* "pin-value" inside another attribute's value is no PIN attribute. */
        assert_int_equal(provision_marker_parse("{\"type\":\"cvmseal-provision\",\"keyslots\":[\"2\"],\"version\":1,"
                                                "\"passphrase\":\"" PASS "\","
                                                "\"enroll\":{\"hsm\":\"pkcs11:object=my-pin-value-key\"}}", &ok), 0);
        assert_string_equal(ok.hsm_uri, "pkcs11:object=my-pin-value-key");
}

/* ---- on a real LUKS2 image file ---- */

static int make_image(char *path, struct crypt_device **ret_cd, cvmseal_secret **ret_pass, int *ret_slot) {
        const struct crypt_pbkdf_type fast = {
                .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        struct crypt_params_luks2 params = { .pbkdf = &fast, .sector_size = 512 };
        uint8_t vk[64];
        struct crypt_device *cd = NULL;
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 20 << 20), 0);
        close(fd);
        memset(vk, 0x5a, sizeof(vk));
        vk[0] = 1;
        assert_int_equal(crypt_init(&cd, path), 0);
        assert_int_equal(crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, (const char *) vk, 64, &params), 0);
        assert_int_equal(crypt_set_pbkdf_type(cd, &fast), 0);
        *ret_pass = cvmseal_secret_new_from(PASS, 44);
        *ret_slot = crypt_keyslot_add_by_volume_key(cd, 3, (const char *) vk, 64, PASS, 44);
        assert_int_equal(*ret_slot, 3);
        *ret_cd = cd;
        return 0;
}

static void test_add_find(void **state) {
        char path[] = "/tmp/test-provision.XXXXXX";
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *pass = NULL, *bad = NULL;
        _cleanup_(provision_marker_done) struct provision_marker m = {}, gone = {};
        const char *json = NULL;
        int slot, id = -1, other;

        (void) state;
        make_image(path, &cd, &pass, &slot);

        /* No marker yet; another token type does not count. */
        assert_int_equal(crypt_token_json_set(cd, 0, "{\"type\":\"cvmseal-test-other\",\"keyslots\":[]}"), 0);
        assert_int_equal(provision_marker_find(cd, &m), -ENOENT);

        /* Refused arguments write nothing. */
        bad = cvmseal_secret_new_from("short", 5);
        assert_int_equal(provision_marker_add(cd, slot, bad, 0, NULL, NULL, &id), -EINVAL);
        assert_int_equal(provision_marker_add(cd, slot, pass, UINT32_C(1) << 24, NULL, NULL, &id), -EINVAL);
        assert_int_equal(provision_marker_add(cd, slot, pass, 0, "", NULL, &id), -EINVAL);
        assert_int_equal(provision_marker_add(cd, slot, pass, 0, NULL, "file:/x", &id), -EINVAL);
        assert_int_equal(id, -1);
        assert_int_equal(provision_marker_find(cd, &m), -ENOENT);

        /* The PIN of the URI is not stored. */
        assert_int_equal(provision_marker_add(cd, slot, pass, (1u << 7) | (1u << 9), POLICY_TEXT,
                                              URI "?pin-value=1234", &id), 0);
        assert_int_equal(id, 1);
        assert_int_equal(crypt_token_json_get(cd, id, &json), id);
        assert_null(strstr(json, "1234"));
        assert_non_null(strstr(json, "\"passphrase\":\"" PASS "\""));
        assert_int_equal(crypt_token_is_assigned(cd, id, slot), 0);

        assert_int_equal(provision_marker_find(cd, &m), 0);
        assert_int_equal(m.token_id, 1);
        assert_int_equal(m.keyslot, slot);
        assert_memory_equal(cvmseal_secret_data(m.passphrase), PASS, 44);
        assert_int_equal(m.pcr_mask, (1u << 7) | (1u << 9));
        assert_string_equal(m.attest_policy, POLICY_TEXT);
        assert_null(strstr(m.hsm_uri, "pin"));
        assert_non_null(strstr(m.hsm_uri, "object=share"));

        /* The passphrase opens the keyslot it names. */
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, m.keyslot, (const char *) cvmseal_secret_data(m.passphrase),
                                                      cvmseal_secret_size(m.passphrase), 0), slot);

        /* A second marker is not the first one. */
        assert_int_equal(provision_marker_add(cd, slot, pass, 0, NULL, NULL, &other), 0);
        assert_int_equal(other, 2);
        provision_marker_done(&m);
        assert_int_equal(provision_marker_find(cd, &m), 0);
        assert_int_equal(m.token_id, 1);
        assert_int_equal(crypt_token_json_set(cd, other, NULL), other);

        /* Damaged on disk: -EBADMSG. */
        assert_int_equal(crypt_token_json_set(cd, 1, "{\"type\":\"cvmseal-provision\",\"keyslots\":[\"3\"],\"version\":1,"
                                                     "\"passphrase\":\"" PASS "\",\"enroll\":{\"pcrs\":[99]}}"), 1);
        provision_marker_done(&m);
        assert_int_equal(provision_marker_find(cd, &m), -EBADMSG);

        /* The keyslot destroyed (an interrupted first boot): the marker is still found, with keyslot -1. */
        assert_int_equal(crypt_token_json_set(cd, 1, NULL), 1);
        assert_int_equal(provision_marker_add(cd, slot, pass, 0, NULL, NULL, &id), 0);
        assert_int_equal(crypt_keyslot_destroy(cd, slot), 0);
        assert_int_equal(provision_marker_find(cd, &gone), 0);
        assert_int_equal(gone.token_id, id);
        assert_int_equal(gone.keyslot, -1);

        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_top_members),
                cmocka_unit_test(test_enroll_members),
                cmocka_unit_test(test_not_a_marker),
                cmocka_unit_test(test_add_find),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
