/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The provisioning marker (src/lib/luks/provision.c): a valid marker parses to what it says; every member
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
        assert_int_equal(cvmseal_secret_size(m.secret), 44);
        assert_memory_equal(cvmseal_secret_data(m.secret), PASS, 44);
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
        assert_null(m.secret);
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

        /* "rekey": false only (true is said by leaving it out). */
        expect_bad(true, "rekey", json_object_new_boolean(true));
        expect_bad(true, "rekey", json_object_new_string("false"));
        expect_bad(true, "rekey", json_object_new_int(0));

        /* "recovery-key": the DER of an RSA public key of 2048 to 4096 bits, in base64. */
        expect_bad(true, "recovery-key", json_object_new_int(1));
        expect_bad(true, "recovery-key", json_object_new_string(""));
        expect_bad(true, "recovery-key", json_object_new_string("not base64!"));
        expect_bad(true, "recovery-key", json_object_new_string(POLICY_B64));   /* not a key */
        /* An EC P-256 public key: not RSA. */
        expect_bad(true, "recovery-key", json_object_new_string(
                "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVe//GQX0uNs/K2KS+RbUXm1X6JsjqhygER15frMxfLrGODvwhL4vrXUygcHN+jFF"
                "BgyFCxD219V0RzJow4jY/A=="));
        /* RSA of 1024 bits: too short. */
        expect_bad(true, "recovery-key", json_object_new_string(
                "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDgeudjYIo7Xe99yuk/1DCn3j6EYKdUSHXjX1WLJpI962r0SkKmonwstfkDbxJn"
                "COb8okHl8qleUOreflbyMr7uqscwRo+Lds9UVqK6xCAMBjJzFsiIY8gX6WqiKgJ3EMEcVhjUSjRnRCbJBsXpoAhGcrB2wo66QKVT"
                "VU473BmtIwIDAQAB"));
}

static void test_rekey_member(void **state) {
        _cleanup_(provision_marker_done) struct provision_marker m = {}, d = {};

        (void) state;
        assert_int_equal(provision_marker_parse("{\"type\":\"cvmseal-provision\",\"keyslots\":[\"1\"],\"version\":1,"
                                                "\"passphrase\":\"" PASS "\",\"enroll\":{\"rekey\":false}}", &m), 0);
        assert_true(m.no_rekey);
        assert_null(m.recovery_key);
        assert_int_equal(provision_marker_parse(valid, &d), 0);
        assert_false(d.no_rekey);
}

static void test_not_a_marker(void **state) {
        _cleanup_(provision_marker_done) struct provision_marker m = {}, ok = {};

        (void) state;
        assert_int_equal(provision_marker_parse("", &m), -EBADMSG);
        assert_int_equal(provision_marker_parse("not json", &m), -EBADMSG);
        assert_int_equal(provision_marker_parse("[]", &m), -EBADMSG);
        assert_int_equal(provision_marker_parse("\"cvmseal-provision\"", &m), -EBADMSG);
        assert_null(m.secret);

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

/* A version 2 marker for the add/find tests. */
static void marker_v2(struct provision_marker *m, const char *secret, uint32_t pcr_mask, const char *policy,
                      const char *uri) {
        *m = (struct provision_marker) { .token_id = -1, .keyslot = -1, .version = 2, .pcr_mask = pcr_mask };
        m->secret = cvmseal_secret_new_from(secret, strlen(secret));
        assert_non_null(m->secret);
        m->attest_policy = policy ? strdup(policy) : NULL;
        m->hsm_uri = uri ? strdup(uri) : NULL;
}

static void test_add_find(void **state) {
        char path[] = "/tmp/test-provision.XXXXXX";
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *pass = NULL, *derived = NULL;
        _cleanup_(provision_marker_done) struct provision_marker m = {}, gone = {}, want = {}, bad = {};
        const char *json = NULL;
        int slot, id = -1, other;

        (void) state;
        make_image(path, &cd, &pass, &slot);

        /* No marker yet; another token type does not count. */
        assert_int_equal(crypt_token_json_set(cd, 0, "{\"type\":\"cvmseal-test-other\",\"keyslots\":[]}"), 0);
        assert_int_equal(provision_marker_find(cd, &m), -ENOENT);

        /* Refused arguments write nothing. */
        marker_v2(&bad, "short", 0, NULL, NULL);
        assert_int_equal(provision_marker_add(cd, slot, &bad, &id), -EINVAL);
        provision_marker_done(&bad);
        marker_v2(&bad, PASS, UINT32_C(1) << 24, NULL, NULL);
        assert_int_equal(provision_marker_add(cd, slot, &bad, &id), -EINVAL);
        provision_marker_done(&bad);
        marker_v2(&bad, PASS, 0, "", NULL);
        assert_int_equal(provision_marker_add(cd, slot, &bad, &id), -EINVAL);
        provision_marker_done(&bad);
        marker_v2(&bad, PASS, 0, NULL, "file:/x");
        assert_int_equal(provision_marker_add(cd, slot, &bad, &id), -EINVAL);
        provision_marker_done(&bad);
        /* A URI with a PIN or a module path: the caller must give the stored form. */
        marker_v2(&bad, PASS, 0, NULL, URI "?pin-value=1234");
        assert_int_equal(provision_marker_add(cd, slot, &bad, &id), -EINVAL);
        provision_marker_done(&bad);
        assert_int_equal(id, -1);
        assert_int_equal(provision_marker_find(cd, &m), -ENOENT);

        /* The keyslot's passphrase is derived from the secret and the members (make_image added
         * keyslot 3 with PASS itself, which a version 2 marker does not open: replace it). */
        marker_v2(&want, PASS, (1u << 7) | (1u << 9), POLICY_TEXT, URI);
        assert_int_equal(provision_keyslot_passphrase(&want, crypt_get_uuid(cd), &derived), 0);
        assert_int_equal(cvmseal_secret_size(derived), 44);
        assert_memory_not_equal(cvmseal_secret_data(derived), PASS, 44);
        assert_int_equal(crypt_keyslot_change_by_passphrase(cd, slot, slot, PASS, 44,
                                                            (const char *) cvmseal_secret_data(derived), 44), slot);

        assert_int_equal(provision_marker_add(cd, slot, &want, &id), 0);
        assert_int_equal(id, 1);
        assert_int_equal(crypt_token_json_get(cd, id, &json), id);
        assert_non_null(strstr(json, "\"secret\":\"" PASS "\""));
        assert_non_null(strstr(json, "\"version\":2"));
        assert_int_equal(crypt_token_is_assigned(cd, id, slot), 0);

        assert_int_equal(provision_marker_find(cd, &m), 0);
        assert_int_equal(m.token_id, 1);
        assert_int_equal(m.version, 2);
        assert_int_equal(m.keyslot, slot);
        assert_memory_equal(cvmseal_secret_data(m.secret), PASS, 44);
        assert_int_equal(m.pcr_mask, (1u << 7) | (1u << 9));
        assert_string_equal(m.attest_policy, POLICY_TEXT);
        assert_string_equal(m.hsm_uri, URI);

        /* What the marker read back derives opens the keyslot it names. */
        cvmseal_secret_free(TAKE_PTR(derived));
        assert_int_equal(provision_keyslot_passphrase(&m, crypt_get_uuid(cd), &derived), 0);
        assert_int_equal(crypt_activate_by_passphrase(cd, NULL, m.keyslot, (const char *) cvmseal_secret_data(derived),
                                                      cvmseal_secret_size(derived), 0), slot);

        /* A second marker is not the first one. */
        assert_int_equal(provision_marker_add(cd, slot, &want, &other), 0);
        assert_int_equal(other, 2);
        provision_marker_done(&m);
        assert_int_equal(provision_marker_find(cd, &m), 0);
        assert_int_equal(m.token_id, 1);
        assert_int_equal(crypt_token_json_set(cd, other, NULL), other);

        /* Damaged on disk: -EBADMSG. */
        assert_int_equal(crypt_token_json_set(cd, 1, "{\"type\":\"cvmseal-provision\",\"keyslots\":[\"3\"],\"version\":2,"
                                                     "\"secret\":\"" PASS "\",\"enroll\":{\"pcrs\":[99]}}"), 1);
        provision_marker_done(&m);
        assert_int_equal(provision_marker_find(cd, &m), -EBADMSG);

        /* The keyslot destroyed (an interrupted first boot): the marker is still found, with keyslot -1. */
        assert_int_equal(crypt_token_json_set(cd, 1, NULL), 1);
        assert_int_equal(provision_marker_add(cd, slot, &want, &id), 0);
        assert_int_equal(crypt_keyslot_destroy(cd, slot), 0);
        assert_int_equal(provision_marker_find(cd, &gone), 0);
        assert_int_equal(gone.token_id, id);
        assert_int_equal(gone.keyslot, -1);

        unlink(path);
}

/* Every member of a version 2 marker is bound into the keyslot's passphrase: changing any one (or the
 * volume) gives another passphrase; version 1's passphrase is the secret itself. */
static void test_passphrase_binding(void **state) {
        static const char uuid[] = "01234567-89ab-cdef-0123-456789abcdef", other_uuid[] = "01234567-89ab-cdef-0123-456789abcdee";
        _cleanup_(provision_marker_done) struct provision_marker base = {}, v = {};
        _cleanup_secret_ cvmseal_secret *p0 = NULL, *p = NULL;

        (void) state;
        marker_v2(&base, PASS, 1u << 7, POLICY_TEXT, URI);
        assert_int_equal(provision_keyslot_passphrase(&base, uuid, &p0), 0);

        assert_int_equal(provision_keyslot_passphrase(&base, other_uuid, &p), 0);
        assert_memory_not_equal(cvmseal_secret_data(p), cvmseal_secret_data(p0), 44);
        cvmseal_secret_free(TAKE_PTR(p));

        const struct { uint32_t mask; const char *policy, *uri, *secret; } edits[] = {
                { 1u << 4, POLICY_TEXT, URI, PASS },                    /* other PCRs */
                { 1u << 7, NULL, URI, PASS },                           /* the gate removed */
                { 1u << 7, "{\"version\":1,\"require\":[\"tdx\"]}", URI, PASS },   /* another policy */
                { 1u << 7, POLICY_TEXT, NULL, PASS },                   /* the HSM removed */
                { 1u << 7, POLICY_TEXT, "pkcs11:token=other;object=share;type=secret-key", PASS },
                { 0, POLICY_TEXT, URI, PASS },                          /* the default PCRs */
                { 1u << 7, POLICY_TEXT, URI, "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" },
        };
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                marker_v2(&v, edits[i].secret, edits[i].mask, edits[i].policy, edits[i].uri);
                assert_int_equal(provision_keyslot_passphrase(&v, uuid, &p), 0);
                if (memcmp(cvmseal_secret_data(p), cvmseal_secret_data(p0), 44) == 0)
                        fail_msg("edit %zu gives the same passphrase", i);
                cvmseal_secret_free(TAKE_PTR(p));
                provision_marker_done(&v);
        }

        /* Version 1: the secret is the passphrase. */
        marker_v2(&v, PASS, 1u << 7, NULL, NULL);
        v.version = 1;
        assert_int_equal(provision_keyslot_passphrase(&v, uuid, &p), 0);
        assert_memory_equal(cvmseal_secret_data(p), PASS, 44);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_top_members),
                cmocka_unit_test(test_enroll_members),
                cmocka_unit_test(test_rekey_member),
                cmocka_unit_test(test_not_a_marker),
                cmocka_unit_test(test_add_find),
                cmocka_unit_test(test_passphrase_binding),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
