/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The secret buffer: reads files byte for byte (or strips newlines for PINs), refuses what is too
 * long or empty, and is locked where the process may lock memory. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret.h"

static int pipe_with(const char *data, size_t n) {
        int p[2];

        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], data, n), (ssize_t) n);
        close(p[1]);
        return p[0];
}

static void test_read(void **state) {
        _cleanup_secret_ cvmseal_secret *a = NULL, *b = NULL, *c = NULL;
        int fd;

        fd = pipe_with("key\n\0x", 6);
        assert_int_equal(cvmseal_secret_read_fd(fd, 0, false, &a), 0);
        close(fd);
        assert_int_equal(cvmseal_secret_size(a), 6);
        assert_memory_equal(cvmseal_secret_data(a), "key\n\0x", 6);

        fd = pipe_with("1234\r\n\n", 7);
        assert_int_equal(cvmseal_secret_read_fd(fd, 0, true, &b), 0);
        close(fd);
        assert_int_equal(cvmseal_secret_size(b), 4);
        assert_memory_equal(cvmseal_secret_data(b), "1234", 4);

        fd = pipe_with("12345", 5);
        assert_int_equal(cvmseal_secret_read_fd(fd, 4, false, &c), -EFBIG);
        close(fd);
        assert_null(c);

        fd = pipe_with("\n", 1);
        assert_int_equal(cvmseal_secret_read_fd(fd, 0, true, &c), -ENODATA);
        close(fd);

        assert_int_equal(cvmseal_secret_read_file("/nonexistent/key", 0, false, &c), -ENOENT);
}

static void test_read_line(void **state) {
        _cleanup_secret_ cvmseal_secret *a = NULL, *b = NULL, *c = NULL;
        char rest[8] = {};
        int fd;

        /* One line; what follows stays unread. */
        fd = pipe_with("1234\nnext", 9);
        assert_int_equal(cvmseal_secret_read_line(fd, 64, &a), 0);
        assert_int_equal(cvmseal_secret_size(a), 4);
        assert_memory_equal(cvmseal_secret_data(a), "1234", 4);
        assert_int_equal(read(fd, rest, sizeof(rest)), 4);
        assert_string_equal(rest, "next");
        close(fd);

        fd = pipe_with("abc", 3); /* EOF ends the line too */
        assert_int_equal(cvmseal_secret_read_line(fd, 64, &b), 0);
        assert_int_equal(cvmseal_secret_size(b), 3);
        close(fd);

        fd = pipe_with("\n", 1);
        assert_int_equal(cvmseal_secret_read_line(fd, 64, &c), -ENODATA);
        close(fd);
        fd = pipe_with("123456", 6);
        assert_int_equal(cvmseal_secret_read_line(fd, 4, &c), -EFBIG);
        close(fd);
        assert_null(c);
}

static void test_equal_and_wipe(void **state) {
        uint8_t buf[16];

        assert_true(secret_equal("abcd", "abcd", 4));
        assert_false(secret_equal("abcd", "abce", 4));
        memset(buf, 0x55, sizeof(buf));
        secure_wipe(buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++)
                assert_int_equal(buf[i], 0);
}

static void test_truncate(void **state) {
        _cleanup_secret_ cvmseal_secret *s = cvmseal_secret_new_from("abcdef", 6);
        const uint8_t *p = cvmseal_secret_data(s);

        cvmseal_secret_truncate(s, 2);
        assert_int_equal(cvmseal_secret_size(s), 2);
        assert_int_equal(p[2], 0); /* the cut bytes are wiped */
        assert_int_equal(p[5], 0);
        assert_null(cvmseal_secret_new(CVMSEAL_SECRET_MAX + 1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read),
                cmocka_unit_test(test_read_line),
                cmocka_unit_test(test_equal_and_wipe),
                cmocka_unit_test(test_truncate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
