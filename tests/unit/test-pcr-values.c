/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pcr-values document (src/lib/tpm/pcr-values.h): strict parsing, file reading, round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "pcr-values.h"

#define H7 "07070707070707070707070707070707070707070707070707070707070707aa"
#define H14 "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0eFF"

static int parse(const char *s, struct pcr_values *v) {
        return pcr_values_parse(s, strlen(s), v);
}

static void test_parse_good(void **state) {
        struct pcr_values v;

        assert_int_equal(parse("{\"sha256\": {\"7\": \"" H7 "\", \"14\": \"" H14 "\"}}\n", &v), 0);
        assert_int_equal(v.mask, (1U << 7) | (1U << 14));
        assert_int_equal(v.sha256[7][0], 0x07);
        assert_int_equal(v.sha256[7][31], 0xaa);
        assert_int_equal(v.sha256[14][31], 0xff);

        assert_int_equal(parse("{\"sha256\":{\"0\":\"" H7 "\",\"23\":\"" H7 "\"}}", &v), 0);
        assert_int_equal(v.mask, (1U << 0) | (1U << 23));

        /* An empty bank is well-formed; the consumer checks the PCRs it needs. */
        assert_int_equal(parse("{\"sha256\": {}}", &v), 0);
        assert_int_equal(v.mask, 0);

        /* Not NUL-terminated: only size bytes are read. */
        assert_int_equal(pcr_values_parse("{\"sha256\": {}}XXXX", 14, &v), 0);
}

static void test_parse_bad(void **state) {
        static const char *const bad[] = {
                "",
                "   ",
                "[]",
                "\"sha256\"",
                "{}",
                "{\"sha256\": []}",
                "{\"sha256\": null}",
                "{\"sha256\": {}, \"sha1\": {}}",                      /* another bank */
                "{\"sha1\": {\"7\": \"" H7 "\"}}",
                "{\"sha256\": {}, \"version\": 1}",                    /* unknown member */
                "{\"sha256\": {\"24\": \"" H7 "\"}}",                  /* out of 0-23 */
                "{\"sha256\": {\"-1\": \"" H7 "\"}}",
                "{\"sha256\": {\"07\": \"" H7 "\"}}",                  /* leading zero */
                "{\"sha256\": {\"00\": \"" H7 "\"}}",
                "{\"sha256\": {\"+7\": \"" H7 "\"}}",
                "{\"sha256\": {\" 7\": \"" H7 "\"}}",
                "{\"sha256\": {\"7 \": \"" H7 "\"}}",
                "{\"sha256\": {\"\": \"" H7 "\"}}",
                "{\"sha256\": {\"0x7\": \"" H7 "\"}}",
                "{\"sha256\": {\"100\": \"" H7 "\"}}",
                "{\"sha256\": {\"7\": 7}}",                            /* not a string */
                "{\"sha256\": {\"7\": null}}",
                "{\"sha256\": {\"7\": \"" H7 "00\"}}",                 /* 33 bytes */
                "{\"sha256\": {\"7\": \"0707\"}}",                     /* 2 bytes */
                "{\"sha256\": {\"7\": \"" "g707070707070707070707070707070707070707070707070707070707070707" "\"}}",
                "{\"sha256\": {\"7\": \"" "0707070707070707070707070707070707070707070707070707070707070707 " "\"}}",
                "{\"sha256\": {\"7\": \"" H7 "\", \"7\": \"" H14 "\"}}",   /* duplicate */
                "{\"sha256\": {}, \"sha256\": {\"7\": \"" H7 "\"}}",
                "{\"sha256\": {\"7\": \"" H7 "\"}} {}",                 /* trailing data */
                "{\"sha256\": {\"7\": \"" H7 "\"}",                     /* truncated */
                "{\"sha256\": {\"7\": \"" H7 "\",}}",                   /* trailing comma */
                "{'sha256': {}}",
                "/* x */ {\"sha256\": {}}",
        };
        struct pcr_values v;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = parse(bad[i], &v);

                if (r != -EBADMSG)
                        fail_msg("accepted or wrong error %d: %s", r, bad[i]);
        }
        /* An embedded NUL. */
        assert_int_equal(pcr_values_parse("{\"sha256\": {}}\0", 15, &v), -EBADMSG);
        assert_int_equal(pcr_values_parse(NULL, 0, &v), -EBADMSG);
}

static void test_escaped_names(void **state) {
        struct pcr_values v;

        /* A member name written with an escape is still that name: "\u0037" is "7". */
        assert_int_equal(parse("{\"sha256\": {\"\\u0037\": \"" H7 "\"}}", &v), 0);
        assert_int_equal(v.mask, 1U << 7);
        assert_int_equal(parse("{\"sha256\": {\"\\u0037\": \"" H7 "\", \"7\": \"" H7 "\"}}", &v), -EBADMSG);
        /* A colon or quote inside a value does not count as a member name. */
        assert_int_equal(parse("{\"sha256\": {\"7\": \"\\\":\"}}", &v), -EBADMSG);
}

static void test_round_trip(void **state) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        struct pcr_values v = {}, w;
        const char *s;

        v.mask = (1U << 0) | (1U << 9) | (1U << 23);
        for (unsigned i = 0; i < 32; i++) {
                v.sha256[0][i] = (uint8_t) i;
                v.sha256[9][i] = (uint8_t) (0x90 + i);
                v.sha256[23][i] = 0xff;
        }
        v.sha256[5][0] = 1;   /* not in the mask: not written */
        assert_int_equal(pcr_values_to_json(&v, &j), 0);
        s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
        assert_non_null(strstr(s, "\"0\":\"000102"));
        assert_non_null(strstr(s, "\"23\":\"ffff"));
        assert_null(strstr(s, "\"5\""));
        /* Ascending order. */
        assert_true(strstr(s, "\"0\"") < strstr(s, "\"9\"") && strstr(s, "\"9\"") < strstr(s, "\"23\""));
        assert_int_equal(parse(s, &w), 0);
        assert_int_equal(w.mask, v.mask);
        assert_memory_equal(w.sha256[0], v.sha256[0], 32);
        assert_memory_equal(w.sha256[9], v.sha256[9], 32);
        assert_memory_equal(w.sha256[23], v.sha256[23], 32);
}

static void test_read_file(void **state) {
        char path[] = "/tmp/test-pcr-values-XXXXXX";
        struct pcr_values v;
        FILE *f;
        int fd;

        assert_int_equal(pcr_values_read_file("/nonexistent/pcr-values.json", &v), -ENOENT);

        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs("{\"sha256\": {\"14\": \"" H14 "\"}}\n", f);
        fclose(f);
        assert_int_equal(pcr_values_read_file(path, &v), 0);
        assert_int_equal(v.mask, 1U << 14);

        /* Too large. */
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("{\"sha256\": {}}", f);
        for (unsigned i = 0; i < 70000; i++)
                fputc(' ', f);
        fclose(f);
        assert_int_equal(pcr_values_read_file(path, &v), -EBADMSG);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_escaped_names),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_read_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
