/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local configuration (src/lib/util/config.c): the directory from $CVMSEAL_CONFDIR, the forms of a
 * "key = value" line, the last value winning, a malformed line refused, the whole-file reader's
 * limits.  Each test writes its own directory under mkdtemp(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "macro.h"

static char dir[64];

static int setup(void **state) {
        snprintf(dir, sizeof(dir), "/tmp/cvmseal-test-config.XXXXXX");
        assert_non_null(mkdtemp(dir));
        assert_int_equal(setenv("CVMSEAL_CONFDIR", dir, 1), 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        unsetenv("CVMSEAL_CONFDIR");
        return 0;
}

static void write_file(const char *name, const char *text) {
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

struct collected {
        char values[8][64];
        unsigned n;
};

static int collect(const char *value, void *userdata) {
        struct collected *c = userdata;

        assert_true(c->n < 8);
        snprintf(c->values[c->n++], 64, "%s", value);
        return 0;
}

static void test_dir(void **state) {
        _cleanup_free_ char *p = NULL;

        assert_string_equal(config_dir(), dir);
        p = config_path("tpm2-srk.pub");
        assert_non_null(p);
        assert_true(strncmp(p, dir, strlen(dir)) == 0);
        assert_string_equal(p + strlen(dir), "/tpm2-srk.pub");
        unsetenv("CVMSEAL_CONFDIR");
        assert_string_equal(config_dir(), CONFIG_DIR_DEFAULT);
        setenv("CVMSEAL_CONFDIR", "", 1);
        assert_string_equal(config_dir(), CONFIG_DIR_DEFAULT);
        setenv("CVMSEAL_CONFDIR", dir, 1);
}

static void test_forms(void **state) {
        struct collected c = {};
        _cleanup_free_ char *last = NULL;

        write_file(CONFIG_FILE, "# a comment\n"
                                "\n"
                                "hsm-provider = azihsm_provider\n"
                                "\thsm-provider\t=\tdefault \r\n"
                                "other = x\n"
                                "   # an indented comment\n"
                                "hsm-provider=tpm2\n"
                                "hsm-providers = not this key\n"
                                "hsm-provider = a = b\n");
        assert_int_equal(config_foreach("hsm-provider", collect, &c), 0);
        assert_int_equal(c.n, 4);
        assert_string_equal(c.values[0], "azihsm_provider");
        assert_string_equal(c.values[1], "default");
        assert_string_equal(c.values[2], "tpm2");
        assert_string_equal(c.values[3], "a = b");   /* the first '=' splits */

        assert_int_equal(config_get("other", &last), 0);
        assert_string_equal(last, "x");
        free(last);
        last = NULL;
        assert_int_equal(config_get("hsm-provider", &last), 0);
        assert_string_equal(last, "a = b");          /* the last one wins */
        free(last);
        last = NULL;
        assert_int_equal(config_get("absent", &last), -ENOENT);
        assert_null(last);
}

static void test_malformed(void **state) {
        struct collected c = {};
        _cleanup_free_ char *v = NULL;

        /* A line that is no "key = value" stops the reader: a typo never reads as "not set". */
        write_file(CONFIG_FILE, "hsm-provider = a\nhsm-provider b\n");
        assert_int_equal(config_foreach("hsm-provider", collect, &c), -EBADMSG);
        assert_int_equal(config_get("other", &v), -EBADMSG);
}

static void test_missing(void **state) {
        struct collected c = {};
        _cleanup_free_ char *v = NULL;

        assert_int_equal(config_foreach("hsm-provider", collect, &c), 0);
        assert_int_equal(c.n, 0);
        assert_int_equal(config_get("hsm-provider", &v), -ENOENT);
}

static void test_read_file(void **state) {
        void *p = NULL;
        size_t n = 0;
        char sub[128];

        write_file("blob", "0123456789");
        assert_int_equal(config_read_file("blob", 10, &p, &n), 0);
        assert_int_equal(n, 10);
        assert_memory_equal(p, "0123456789", 10);
        free(p);
        p = NULL;
        assert_int_equal(config_read_file("blob", 9, &p, &n), -EBADMSG);   /* over the limit */
        assert_null(p);
        assert_int_equal(config_read_file("absent", 10, &p, &n), -ENOENT);
        snprintf(sub, sizeof(sub), "%s/a-directory", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_int_equal(config_read_file("a-directory", 10, &p, &n), -EBADMSG);  /* not a regular file */
        write_file("empty", "");
        assert_int_equal(config_read_file("empty", 10, &p, &n), 0);
        assert_int_equal(n, 0);
        free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forms, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
