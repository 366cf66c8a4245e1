/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token parser's hex and base64, and the JWK's base64url, must take canonical input only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "encoding.h"
#include "macro.h"

static void test_hex(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *s = NULL;
        size_t n;

        assert_int_equal(hex_decode("00ff7A", &buf, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(buf, "\x00\xff\x7a", 3);
        s = hex_encode(buf, n);
        assert_string_equal(s, "00ff7a");

        assert_int_equal(hex_decode("0", &buf, &n), -EINVAL);
        assert_int_equal(hex_decode("0g", &buf, &n), -EINVAL);
        assert_int_equal(hex_decode("00:ff", &buf, &n), -EINVAL);
        assert_int_equal(hex_decode(" 00", &buf, &n), -EINVAL);
}

static void test_base64(void **state) {
        static const struct {
                const char *in;
                int r;
                size_t n;
        } cases[] = {
                { "", 0, 0 },
                { "QQ==", 0, 1 },
                { "QUI=", 0, 2 },
                { "QUJD", 0, 3 },
                { "QR==", -EINVAL, 0 },   /* non-zero unused bits: not canonical */
                { "QQ=", -EINVAL, 0 },    /* not a multiple of 4 */
                { "Q===", -EINVAL, 0 },
                { "QQ=A", -EINVAL, 0 },   /* data after padding */
                { "QU JD", -EINVAL, 0 },  /* white space */
                { "QUJD\n", -EINVAL, 0 },
                { "QU-D", -EINVAL, 0 },   /* url-safe alphabet */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t *buf = NULL;
                size_t n = 99;

                assert_int_equal(base64_decode(cases[i].in, &buf, &n), cases[i].r);
                if (cases[i].r == 0) {
                        _cleanup_free_ char *again = base64_encode(buf, n);

                        assert_int_equal(n, cases[i].n);
                        assert_string_equal(again, cases[i].in);
                }
                free(buf);
        }
}

static void test_base64url(void **state) {
        static const struct {
                const char *in;
                int r;
                size_t n;
                const char *out;
        } cases[] = {
                { "", 0, 0, "" },
                { "QQ", 0, 1, "A" },
                { "QUI", 0, 2, "AB" },
                { "QUJD", 0, 3, "ABC" },
                { "-_8", 0, 2, "\xfb\xff" },
                { "Q", -EINVAL, 0, NULL },     /* one character of a group: no byte */
                { "QR", -EINVAL, 0, NULL },    /* non-zero unused bits */
                { "QQ==", -EINVAL, 0, NULL },  /* padding */
                { "QU+D", -EINVAL, 0, NULL },  /* the standard alphabet */
                { "QU/D", -EINVAL, 0, NULL },
                { "QU JD", -EINVAL, 0, NULL },
                { "QUJD\n", -EINVAL, 0, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t *buf = NULL;
                size_t n = 99;

                assert_int_equal(base64url_decode(cases[i].in, &buf, &n), cases[i].r);
                if (cases[i].r == 0) {
                        assert_int_equal(n, cases[i].n);
                        assert_memory_equal(buf, cases[i].out, n);
                }
                free(buf);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hex),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_base64url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
