/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Argument parsing of the command-line contract, and the errno -> exit code table (scripts outside
 * the project depend on both). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

#define ARGV(...) ((char *[]) { "cvmseal", __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof((char *[]) { "cvmseal", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(ret, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (ret), &error)

static const char *error;

static void test_enroll(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "enroll", "/dev/vda2", "--unlock-key-file", "k"), 0);
        assert_int_equal(a.command, CLI_ENROLL);
        assert_string_equal(a.device, "/dev/vda2");
        assert_string_equal(a.unlock_key_file, "k");
        assert_int_equal(a.pcr_mask, 1u << 7); /* the default */
        assert_false(a.tpm2_pin);
        assert_false(a.json);
        assert_null(a.tcti);

        /* Global options before and after the command's name. */
        assert_int_equal(PARSE(&a, "--json", "--tcti", "swtpm:path=/s", "enroll", "img", "--unlock-key-file", "-",
                               "--tpm2-pcrs", "0+2,7", "--recovery-key", "-v"), 0);
        assert_true(a.json);
        assert_string_equal(a.tcti, "swtpm:path=/s");
        assert_int_equal(a.pcr_mask, (1u << 0) | (1u << 2) | (1u << 7));
        assert_true(a.recovery_key);
        assert_int_equal(a.verbose, 1);
        assert_int_equal(PARSE(&a, "enroll", "img", "--json", "--unlock-key-file=k"), 0);
        assert_true(a.json);

        /* A PIN file implies a PIN. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--pin-file", "p"), 0);
        assert_true(a.tpm2_pin);
        assert_string_equal(a.pin_file, "p");
}

static void test_unlock(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "unlock", "img", "--test"), 0);
        assert_int_equal(a.command, CLI_UNLOCK);
        assert_true(a.test);
        assert_null(a.name);
        assert_int_equal(a.token_id, -1);
        assert_int_equal(PARSE(&a, "unlock", "img", "root", "--token", "3"), 0);
        assert_string_equal(a.name, "root");
        assert_int_equal(a.token_id, 3);
        assert_int_equal(PARSE(&a, "unlock", "--print-key", "img", "--pin-file", "-"), 0);
        assert_true(a.print_key);
        assert_string_equal(a.device, "img");
}

static void test_other_commands(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "list", "img", "--json"), 0);
        assert_int_equal(a.command, CLI_LIST);
        assert_int_equal(PARSE(&a, "remove", "img", "--token", "0"), 0);
        assert_int_equal(a.command, CLI_REMOVE);
        assert_int_equal(a.token_id, 0);
        assert_int_equal(PARSE(&a, "--help"), 0);
        assert_int_equal(a.command, CLI_HELP);
        assert_int_equal(PARSE(&a, "unlock", "--help"), 0);
        assert_int_equal(a.command, CLI_HELP);
        assert_int_equal(PARSE(&a, "--version"), 0);
        assert_int_equal(a.command, CLI_VERSION);
}

static void test_usage_errors(void **state) {
        struct cli_args a;

        assert_int_equal(cli_parse(1, ARGV(NULL), &a, &error), -EINVAL);
        assert_non_null(error);
        assert_int_equal(PARSE(&a, "frobnicate", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img"), -EINVAL);                             /* no key file */
        assert_int_equal(PARSE(&a, "enroll", "--unlock-key-file", "k"), -EINVAL);          /* no device */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", "24"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", "7,"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", "-1"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "-", "--pin-file", "-"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--test"), -EINVAL); /* not enroll's */
        assert_int_equal(PARSE(&a, "unlock", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--print-key"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "name", "--test"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--print-key", "--json"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "a/b"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--token", "32"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--token", "x"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--tcti"), -EINVAL);          /* no argument */
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--tcti", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "extra"), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "--recovery-key"), -EINVAL);
        assert_int_equal(PARSE(&a, "remove", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "--no-such-option"), -EINVAL);
}

static void test_exit_codes(void **state) {
        static const struct {
                int r, code;
        } cases[] = {
                { 0, 0 },           { 5, 0 },
                { -EPERM, 3 },      { -EREMCHG, 3 },
                { -EBADE, 4 },
                { -ENOKEY, 5 },     { -EKEYREVOKED, 5 }, { -EKEYEXPIRED, 5 }, { -ENOTUNIQ, 5 },
                { -ENODEV, 6 },     { -ETIMEDOUT, 6 },  { -ENOBUFS, 6 },
                { -ENOANO, 7 },     { -EACCES, 7 },
                { -EMEDIUMTYPE, 8 }, { -ENOMEDIUM, 8 },
                { -ENOLCK, 9 },
                { -EBADMSG, 10 },  { -EPROTO, 10 },
                { -ENOENT, 1 },     { -EKEYREJECTED, 1 }, { -ENOSPC, 1 }, { -EBUSY, 1 },
                { -ENOTSUP, 1 },    { -ENOMEM, 1 },       { -EIO, 1 },    { -EINVAL, 1 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (cli_exit_code(cases[i].r) != cases[i].code)
                        fail_msg("errno %d: exit %d, want %d", cases[i].r, cli_exit_code(cases[i].r), cases[i].code);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enroll),
                cmocka_unit_test(test_unlock),
                cmocka_unit_test(test_other_commands),
                cmocka_unit_test(test_usage_errors),
                cmocka_unit_test(test_exit_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
