/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The strict JSON readers (src/lib/util/json-util.c) that every document from the disk goes through:
 * a member's presence and type, unknown members, blobs of bounded size, and the "type", "version" and
 * "keyslots" members of a LUKS2 token (the cvmseal token and the provisioning marker alike). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "json-util.h"
#include "macro.h"

static const struct json_doc doc = { "test document", "" };

static json_object *parse(const char *text) {
        json_object *j = json_tokener_parse(text);

        assert_non_null(j);
        return j;
}

static void test_member_and_only_members(void **state) {
        json_object *j = parse("{\"a\": 1, \"b\": \"x\"}");

        assert_non_null(json_member(&doc, j, "a", json_type_int));
        assert_null(json_member(&doc, j, "a", json_type_string));   /* wrong type */
        assert_null(json_member(&doc, j, "c", json_type_int));      /* absent */
        assert_int_equal(json_only_members(&doc, j, (const char *const[]) { "a", "b", NULL }), 0);
        assert_int_equal(json_only_members(&doc, j, (const char *const[]) { "a", NULL }), -EBADMSG);
        json_object_put(j);
}

static void test_blob(void **state) {
        json_object *j = parse("{\"h\": \"00ff\", \"bad\": \"0g\", \"b\": \"AAE=\"}");
        uint8_t *p = NULL;
        size_t n = 0;

        assert_int_equal(json_get_blob(&doc, j, "h", JSON_BLOB_HEX, 2, 2, &p, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(p[1], 0xff);
        free(p);
        p = NULL;
        assert_int_equal(json_get_blob(&doc, j, "h", JSON_BLOB_HEX, 3, 8, &p, &n), -EBADMSG);  /* too short */
        assert_int_equal(json_get_blob(&doc, j, "bad", JSON_BLOB_HEX, 1, 8, &p, &n), -EBADMSG);
        assert_int_equal(json_get_blob(&doc, j, "b", 0, 2, 2, &p, &n), 0);
        assert_int_equal(p[1], 0x01);
        free(p);
        p = NULL;
        assert_int_equal(json_get_blob(&doc, j, "none", JSON_BLOB_OPTIONAL, 1, 8, &p, &n), 0);
        assert_null(p);
        assert_int_equal(json_get_blob(&doc, j, "none", 0, 1, 8, &p, &n), -EBADMSG);
        json_object_put(j);
}

static void test_type_version(void **state) {
        static const struct {
                const char *json;
                int r, version;
        } cases[] = {
                { "{\"type\": \"cvmseal\", \"version\": 2}", 0, 2 },
                { "{\"type\": \"cvmseal\", \"version\": 1}", 0, 1 },
                { "{\"type\": \"cvmseal\", \"version\": 3}", -EBADMSG, 0 },     /* newer than this reads */
                { "{\"type\": \"cvmseal\", \"version\": 0}", -EBADMSG, 0 },
                { "{\"type\": \"cvmseal\", \"version\": -1}", -EBADMSG, 0 },
                { "{\"type\": \"cvmseal\", \"version\": 4294967298}", -EBADMSG, 0 },  /* 2^32 + 2 */
                { "{\"type\": \"cvmseal\", \"version\": \"2\"}", -EBADMSG, 0 }, /* a string */
                { "{\"type\": \"cvmseal\"}", -EBADMSG, 0 },
                { "{\"type\": \"systemd-tpm2\", \"version\": 2}", -EBADMSG, 0 },
                { "{\"type\": 1, \"version\": 2}", -EBADMSG, 0 },
                { "{\"version\": 2}", -EBADMSG, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_object *j = parse(cases[i].json);
                int version = -1;

                print_message("%s\n", cases[i].json);
                assert_int_equal(json_get_type_version(&doc, j, "cvmseal", 1, 2, &version), cases[i].r);
                if (cases[i].r == 0)
                        assert_int_equal(version, cases[i].version);
                json_object_put(j);
        }
}

static void test_keyslot(void **state) {
        static const struct {
                const char *json;
                bool optional;
                int r, keyslot;
        } cases[] = {
                { "{\"keyslots\": [\"0\"]}", false, 0, 0 },
                { "{\"keyslots\": [\"31\"]}", false, 0, 31 },
                { "{\"keyslots\": [\"7\"]}", true, 0, 7 },
                { "{\"keyslots\": []}", true, 0, -1 },         /* the marker after its keyslot is gone */
                { "{\"keyslots\": []}", false, -EBADMSG, 0 },  /* a cvmseal token opens exactly one */
                { "{\"keyslots\": [\"1\", \"2\"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [\"1\", \"2\"]}", true, -EBADMSG, 0 },
                { "{\"keyslots\": [\"32\"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [\"-1\"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [\"07\"]}", false, -EBADMSG, 0 },  /* not as libcryptsetup writes it */
                { "{\"keyslots\": [\"+7\"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [\" 7\"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [\"7 \"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [\"\"]}", false, -EBADMSG, 0 },
                { "{\"keyslots\": [7]}", false, -EBADMSG, 0 },       /* a number, not a string */
                { "{\"keyslots\": \"7\"}", false, -EBADMSG, 0 },
                { "{}", true, -EBADMSG, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_object *j = parse(cases[i].json);
                int keyslot = -2;

                print_message("%s%s\n", cases[i].json, cases[i].optional ? " (optional)" : "");
                assert_int_equal(json_get_keyslot(&doc, j, cases[i].optional, &keyslot), cases[i].r);
                if (cases[i].r == 0)
                        assert_int_equal(keyslot, cases[i].keyslot);
                json_object_put(j);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_member_and_only_members),
                cmocka_unit_test(test_blob),
                cmocka_unit_test(test_type_version),
                cmocka_unit_test(test_keyslot),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
