/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one PIN reader (util/pin.c): a file with the library's limits, no prompt without a terminal. */
#include <errno.h>
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
#include "secret.h"

static char path[] = "/tmp/cvmseal-test-pin.XXXXXX";

static void put(const char *text) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static void test_pin_file(void **state) {
        _cleanup_secret_ cvmseal_secret *pin = NULL;
        char hsm_long[CVMSEAL_HSM_PIN_MAX + 2];

        put("1234\r\n");
        assert_int_equal(cvmseal_pin_read(path, NULL, false, CVMSEAL_PIN_MAX, &pin), 0);
        assert_int_equal(cvmseal_secret_size(pin), 4); /* the newline dropped */
        assert_memory_equal(cvmseal_secret_data(pin), "1234", 4);
        cvmseal_secret_free(TAKE_PTR(pin));

        put("\n");
        assert_int_equal(cvmseal_pin_read(path, NULL, false, CVMSEAL_PIN_MAX, &pin), -ENODATA);
        assert_null(pin);

        /* An HSM PIN of the library's limit passes, one byte more does not. */
        memset(hsm_long, 'x', sizeof(hsm_long));
        hsm_long[CVMSEAL_HSM_PIN_MAX] = 0;
        put(hsm_long);
        assert_int_equal(cvmseal_pin_read(path, NULL, false, CVMSEAL_HSM_PIN_MAX, &pin), 0);
        assert_int_equal(cvmseal_secret_size(pin), CVMSEAL_HSM_PIN_MAX);
        cvmseal_secret_free(TAKE_PTR(pin));
        hsm_long[CVMSEAL_HSM_PIN_MAX] = 'x';
        hsm_long[CVMSEAL_HSM_PIN_MAX + 1] = 0;
        put(hsm_long);
        assert_int_equal(cvmseal_pin_read(path, NULL, false, CVMSEAL_HSM_PIN_MAX, &pin), -EFBIG);
        assert_int_equal(cvmseal_pin_read(path, NULL, false, CVMSEAL_PIN_MAX, &pin), 0);

        assert_int_equal(cvmseal_pin_read("/nonexistent/cvmseal", NULL, false, CVMSEAL_PIN_MAX, &pin), -ENOENT);
}

static void test_pin_no_terminal(void **state) {
        cvmseal_secret *pin = NULL;

        assert_int_equal(cvmseal_pin_read(NULL, NULL, false, CVMSEAL_PIN_MAX, &pin), -EINVAL); /* nowhere to read */
        assert_int_equal(cvmseal_pin_read(path, NULL, false, 0, &pin), -EINVAL);
        if (isatty(STDIN_FILENO))
                skip();
        /* A pipeline never gets a prompt. */
        assert_int_equal(cvmseal_pin_read(NULL, "PIN: ", true, CVMSEAL_PIN_MAX, &pin), -ENOANO);
        assert_null(pin);
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
                cmocka_unit_test(test_pin_file),
                cmocka_unit_test(test_pin_no_terminal),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
