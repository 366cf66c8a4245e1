/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one reader of files that are not secrets (util/fileio.c): whole, bounded, NUL-terminated;
 * exactly one JSON document; and the one writer (truncate, new, atomic). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cvmseal.h"
#include "macro.h"

static char path[] = "/tmp/cvmseal-test-fileio.XXXXXX";

static void put(const void *data, size_t size) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, size, f), size);
        assert_int_equal(fclose(f), 0);
}

static void test_read_file(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t *big;
        size_t n = 7;

        put("abc", 3);
        assert_int_equal(cvmseal_read_file(path, 3, &buf, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal((char *) buf, "abc"); /* NUL-terminated */
        free(TAKE_PTR(buf));
        assert_int_equal(cvmseal_read_file(path, 2, &buf, &n), -EFBIG);
        assert_null(buf);

        /* More than one read buffer's worth (64 KiB), exactly at the limit, then one byte over. */
        big = calloc(1, 200000);
        assert_non_null(big);
        put(big, 200000);
        free(big);
        assert_int_equal(cvmseal_read_file(path, 200000, &buf, &n), 0);
        assert_int_equal(n, 200000);
        free(TAKE_PTR(buf));
        assert_int_equal(cvmseal_read_file(path, 199999, &buf, &n), -EFBIG);

        put("", 0);
        assert_int_equal(cvmseal_read_file(path, 10, &buf, &n), 0);
        assert_int_equal(n, 0);
        free(TAKE_PTR(buf));
        assert_int_equal(cvmseal_read_file("/nonexistent/cvmseal", 10, &buf, &n), -ENOENT);
        assert_int_equal(cvmseal_read_file(NULL, 10, &buf, &n), -EINVAL);
}

static void test_read_json_file(void **state) {
        json_object *j = NULL;
        char *text = NULL;

        put(" {\"a\": 1}\n", 10);
        assert_int_equal(cvmseal_read_json_file(path, 100, &text, &j), 0);
        assert_string_equal(text, " {\"a\": 1}\n");
        assert_int_equal(json_object_get_int(json_object_object_get(j, "a")), 1);
        free(text);
        json_object_put(j);
        assert_int_equal(cvmseal_read_json_file(path, 100, NULL, &j), 0);
        json_object_put(j);

        put("{} {}", 5); /* trailing text */
        assert_int_equal(cvmseal_read_json_file(path, 100, NULL, &j), -EPROTO);
        put("{\"a\"", 4); /* cut short */
        assert_int_equal(cvmseal_read_json_file(path, 100, NULL, &j), -EPROTO);
        put("{}\0", 3);   /* a NUL inside */
        assert_int_equal(cvmseal_read_json_file(path, 100, NULL, &j), -EPROTO);
        put("", 0);
        assert_int_equal(cvmseal_read_json_file(path, 100, NULL, &j), -EPROTO);
        put("[1, 2, 3]", 9);
        assert_int_equal(cvmseal_read_json_file(path, 5, NULL, &j), -EFBIG);
}

static void test_write_file(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        json_object *j = NULL;
        char other[64];
        size_t n = 0;

        /* Truncating, then atomic: the content replaced each time. */
        assert_int_equal(cvmseal_write_file(path, "0123456789", 10, 0), 0);
        assert_int_equal(cvmseal_write_file(path, "abc", 3, 0), 0);
        assert_int_equal(cvmseal_read_file(path, 100, &buf, &n), 0);
        assert_string_equal((char *) buf, "abc");
        free(TAKE_PTR(buf));
        assert_int_equal(cvmseal_write_file(path, "atomic\n", 7, CVMSEAL_WRITE_ATOMIC), 0);
        assert_int_equal(cvmseal_read_file(path, 100, &buf, &n), 0);
        assert_string_equal((char *) buf, "atomic\n");
        free(TAKE_PTR(buf));

        /* A new file never replaces one that exists; it is made when none does. */
        assert_int_equal(cvmseal_write_file(path, "x", 1, CVMSEAL_WRITE_NEW), -EEXIST);
        snprintf(other, sizeof(other), "%s.new", path);
        (void) unlink(other);
        assert_int_equal(cvmseal_write_file(other, "new", 3, CVMSEAL_WRITE_NEW), 0);
        assert_int_equal(cvmseal_read_file(other, 100, &buf, &n), 0);
        assert_string_equal((char *) buf, "new");
        free(TAKE_PTR(buf));
        assert_int_equal(unlink(other), 0);
        assert_int_equal(cvmseal_write_file("/nonexistent/cvmseal", "x", 1, CVMSEAL_WRITE_ATOMIC), -ENOENT);
        assert_int_equal(cvmseal_write_file(NULL, "x", 1, 0), -EINVAL);
        /* A replacement cannot promise never to replace: both flags are refused, and the file stays. */
        assert_int_equal(cvmseal_write_file(path, "y", 1, CVMSEAL_WRITE_NEW | CVMSEAL_WRITE_ATOMIC), -EINVAL);
        assert_int_equal(cvmseal_read_file(path, 100, &buf, &n), 0);
        assert_string_equal((char *) buf, "atomic\n");
        /* json-c takes an int length. */
        assert_int_equal(cvmseal_read_json_file(path, (size_t) INT_MAX + 1, NULL, &j), -EINVAL);
        assert_null(j);
}

static int setup(void **state) {
        int fd = mkstemp(path);

        if (fd < 0)
                return -1;
        close(fd);
        return 0;
}

static int teardown(void **state) {
        unlink(path);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read_file),
                cmocka_unit_test(test_read_json_file),
                cmocka_unit_test(test_write_file),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
