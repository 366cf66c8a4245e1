/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one error table (util/strerror.c, ops/error-message.c): every errno the command line documents
 * maps to its documented exit code and to words, and the token plugin gets the command line's words. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cvmseal.h"
#include "macro.h"

/* DESIGN's exit-code table, errno by errno (as the man page documents it). */
static const struct {
        int r, code;
} documented[] = {
        { -EPERM, 3 },       { -EREMCHG, 3 },     { -ENOMSG, 3 },      { -EBADE, 4 },
        { -ENOKEY, 5 },      { -EKEYREVOKED, 5 }, { -EKEYEXPIRED, 5 }, { -ENOTUNIQ, 5 },
        { -ENODEV, 6 },      { -ETIMEDOUT, 6 },   { -ENOBUFS, 6 },     { -ENOANO, 7 },
        { -EACCES, 7 },      { -EMEDIUMTYPE, 8 }, { -ENOMEDIUM, 8 },   { -ENOLCK, 9 },
        { -EBADMSG, 10 },    { -EPROTO, 10 },     { -ENOENT, 1 },      { -EKEYREJECTED, 1 },
        { -ENOSPC, 1 },      { -EBUSY, 1 },       { -ENOTSUP, 1 },     { -ENOMEM, 1 },
        { -EIO, 1 },         { -EINVAL, 1 },      { -EINPROGRESS, 1 }, { -EEXIST, 1 },
};

static void test_exit_codes(void **state) {
        assert_int_equal(cvmseal_exit_code(0), CVMSEAL_EXIT_OK);
        assert_int_equal(cvmseal_exit_code(7), CVMSEAL_EXIT_OK);
        for (size_t i = 0; i < ELEMENTSOF(documented); i++) {
                const char *text = cvmseal_strerror(documented[i].r);
                char msg[1024];

                if (cvmseal_exit_code(documented[i].r) != documented[i].code)
                        fail_msg("errno %d: exit %d, want %d", -documented[i].r, cvmseal_exit_code(documented[i].r),
                                 documented[i].code);
                assert_non_null(text);
                assert_true(strlen(text) > 0);
                /* The message says the same exit code, and is never empty. */
                assert_int_equal(cvmseal_error_message(documented[i].r, NULL, msg, sizeof(msg)), documented[i].code);
                assert_true(strlen(msg) > 0);
        }
        /* An errno the table does not know: strerror()'s words, exit 1. */
        assert_string_equal(cvmseal_strerror(-EROFS), strerror(EROFS));
        assert_int_equal(cvmseal_exit_code(-EROFS), 1);
}

/* The token plugin passes no context: it gets the table's words, which the command line's messages
 * carry after "DEVICE: " (or around the device, for the shaped ones). */
static void test_plugin_and_cli_agree(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(documented); i++) {
                int r = documented[i].r;
                const char *text = cvmseal_strerror(r);
                char plugin[1024], cli[1024];

                (void) cvmseal_error_message(r, NULL, plugin, sizeof(plugin));
                assert_string_equal(plugin, text);
                (void) cvmseal_error_message(r, &(const struct cvmseal_error_context) { .subject = "img", .token_id = 2 },
                                             cli, sizeof(cli));
                if (!strstr(cli, text))
                        fail_msg("errno %d: the command line says '%s', the plugin '%s'", -r, cli, plugin);
        }
}

static void test_shapes(void **state) {
        char msg[1024];

        (void) cvmseal_error_message(-EPERM, &(const struct cvmseal_error_context) { .subject = "img", .token_id = -1 },
                                     msg, sizeof(msg));
        assert_string_equal(msg, "img: the TPM policy is not satisfied: the boot state (the PCRs) differs from the "
                                 "enrolled one, or the lock PCR has been extended");
        (void) cvmseal_error_message(-ENOMEDIUM, &(const struct cvmseal_error_context) { .subject = "img", .token_id = 3 },
                                     msg, sizeof(msg));
        assert_string_equal(msg, "img has no cvmseal token 3");
        (void) cvmseal_error_message(-ENOMEDIUM, &(const struct cvmseal_error_context) { .subject = "img", .token_id = -1 },
                                     msg, sizeof(msg));
        assert_string_equal(msg, "img has no cvmseal token");
        (void) cvmseal_error_message(-EMEDIUMTYPE, &(const struct cvmseal_error_context) { .subject = "img" }, msg,
                                     sizeof(msg));
        assert_string_equal(msg, "img is not a LUKS2 device");
        (void) cvmseal_error_message(-ENOTSUP, &(const struct cvmseal_error_context) { .subject = "img", .name = "root" },
                                     msg, sizeof(msg));
        assert_string_equal(msg, "cannot activate root: device-mapper is not available here");
        (void) cvmseal_error_message(-ENODEV,
                                     &(const struct cvmseal_error_context) { .subject = "img", .tcti = "swtpm:path=/x",
                                                                             .tpm_detail = true },
                                     msg, sizeof(msg));
        assert_string_equal(msg, "no TPM is available through 'swtpm:path=/x'");
        (void) cvmseal_error_message(-ETIMEDOUT,
                                     &(const struct cvmseal_error_context) { .subject = "img", .tcti = "swtpm:path=/x",
                                                                             .tpm_detail = true },
                                     msg, sizeof(msg));
        assert_string_equal(msg, "the TPM at 'swtpm:path=/x' kept asking to retry; try again later");
        /* Without the detail (the plugin): no TCTI, no subject. */
        (void) cvmseal_error_message(-ENODEV, &(const struct cvmseal_error_context) { .subject = "img" }, msg, sizeof(msg));
        assert_string_equal(msg, "no TPM is available");
        /* Truncated, never overrun. */
        assert_int_equal(cvmseal_error_message(-EKEYEXPIRED, NULL, msg, 8), 5);
        assert_int_equal(strlen(msg), 7);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_plugin_and_cli_agree),
                cmocka_unit_test(test_shapes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
