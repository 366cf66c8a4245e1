/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libcryptsetup layer (src/lib/luks/luks.c) on a real LUKS2 image file (no device-mapper needed):
 * opening refuses what is not LUKS2, keyslots are added with cvmseal's PBKDF2 and open with their
 * passphrase alone, and a token is removed before the keyslots that it alone references, never
 * taking the volume's last one. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libcryptsetup.h>

#include "luks.h"
#include "macro.h"
#include "secret.h"

static char dir[64], image[96];

static cvmseal_secret *secret(const char *s) {
        cvmseal_secret *p = cvmseal_secret_new_from(s, strlen(s));

        assert_non_null(p);
        return p;
}

/* A 16 MiB LUKS2 image, keyslot 0 for "original" (fast PBKDF2: a test). */
static int setup(void **state) {
        struct crypt_pbkdf_type fast = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
                                         .flags = CRYPT_PBKDF_NO_BENCHMARK };
        struct crypt_device *cd = NULL;
        int fd;

        snprintf(dir, sizeof(dir), "/tmp/cvmseal-test-luks.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(image, sizeof(image), "%s/img", dir);
        fd = open(image, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 16 << 20), 0);
        close(fd);

        assert_int_equal(crypt_init(&cd, image), 0);
        assert_int_equal(crypt_set_pbkdf_type(cd, &fast), 0);
        assert_int_equal(crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, NULL), 0);
        assert_int_equal(crypt_keyslot_add_by_volume_key(cd, 0, NULL, 64, "original", 8), 0);
        crypt_free(cd);
        return 0;
}

static int teardown(void **state) {
        unlink(image);
        rmdir(dir);
        return 0;
}

static void test_open(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        char other[128];
        int fd;

        assert_int_equal(luks_open(image, &cd), 0);
        assert_false(luks_in_reencryption(cd));
        assert_true(luks_keyslot_active(cd, 0));
        assert_false(luks_keyslot_active(cd, 1));

        assert_int_equal(luks_open("/nonexistent/cvmseal-image", &cd), -ENOENT);
        assert_int_equal(luks_open(dir, &cd), -EMEDIUMTYPE);             /* a directory */
        snprintf(other, sizeof(other), "%s/zeros", dir);
        fd = open(other, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        close(fd);
        assert_int_equal(luks_open(other, &cd), -EMEDIUMTYPE);           /* no header */
        unlink(other);
}

static void test_keyslots(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *original = secret("original"), *pass = secret("a passphrase of the token"),
                                        *wrong = secret("wrong"), *vk = NULL;
        struct crypt_pbkdf_type pbkdf = {};
        int slot;

        assert_int_equal(luks_open(image, &cd), 0);
        assert_int_equal(luks_volume_key(cd, wrong, &vk), -EKEYREJECTED);
        assert_true(luks_volume_key(cd, original, &vk) >= 0);
        assert_int_equal(cvmseal_secret_size(vk), 64);

        /* Keyslot 1 is asked not to be used: the next free one is 2. */
        slot = luks_keyslot_add_except(cd, vk, pass, UINT32_C(1) << 1, false);
        assert_int_equal(slot, 2);
        assert_int_equal(crypt_keyslot_get_pbkdf(cd, slot, &pbkdf), 0);
        assert_string_equal(pbkdf.type, CRYPT_KDF_PBKDF2);
        assert_int_equal(luks_activate(cd, NULL, slot, pass), slot);
        assert_int_equal(luks_activate(cd, NULL, 0, pass), -EKEYREJECTED);  /* not keyslot 0's */
        assert_true(luks_has_other_keyslot(cd, UINT32_C(1) << 0));
        assert_false(luks_has_other_keyslot(cd, (UINT32_C(1) << 0) | (UINT32_C(1) << 2)));
}

static void test_token_remove(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *original = secret("original"), *pass = secret("a passphrase of the token"),
                                        *vk = NULL;
        uint32_t removed = 0;
        int a, b;

        assert_int_equal(luks_open(image, &cd), 0);
        assert_true(luks_volume_key(cd, original, &vk) >= 0);
        a = luks_keyslot_add(cd, vk, pass);
        b = luks_keyslot_add(cd, vk, pass);
        assert_true(a > 0 && b > 0 && a != b);

        /* Token 0 references a and b; token 1 references b too. */
        assert_int_equal(crypt_token_json_set(cd, 0, "{\"type\": \"cvmseal-test\", \"keyslots\": []}"), 0);
        assert_int_equal(crypt_token_json_set(cd, 1, "{\"type\": \"cvmseal-test\", \"keyslots\": []}"), 1);
        assert_int_equal(crypt_token_assign_keyslot(cd, 0, a), 0);
        assert_int_equal(crypt_token_assign_keyslot(cd, 0, b), 0);
        assert_int_equal(crypt_token_assign_keyslot(cd, 1, b), 1);

        /* Token 0 goes with a, its own keyslot; b stays for token 1. */
        assert_int_equal(luks_token_remove(cd, 0, LUKS_ALL_KEYSLOTS, &removed), 0);
        assert_int_equal(removed, UINT32_C(1) << a);
        assert_int_equal(crypt_token_status(cd, 0, NULL), CRYPT_TOKEN_INACTIVE);
        assert_false(luks_keyslot_active(cd, a));
        assert_true(luks_keyslot_active(cd, b));
        assert_true(luks_keyslot_active(cd, 0));

        /* With keyslot 0 gone, token 1's keyslot is the volume's last: nothing changes. */
        assert_int_equal(crypt_keyslot_destroy(cd, 0), 0);
        assert_int_equal(luks_token_remove(cd, 1, LUKS_ALL_KEYSLOTS, &removed), -EBUSY);
        assert_int_equal(crypt_token_status(cd, 1, NULL), CRYPT_TOKEN_EXTERNAL_UNKNOWN);
        assert_true(luks_keyslot_active(cd, b));
        assert_int_equal(luks_activate(cd, NULL, b, pass), b);
}

static void test_token_remove_only(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *original = secret("original"), *pass = secret("a passphrase of the token"),
                                        *vk = NULL;
        uint32_t removed = UINT32_MAX;
        int a, b;

        assert_int_equal(luks_open(image, &cd), 0);
        assert_true(luks_volume_key(cd, original, &vk) >= 0);
        a = luks_keyslot_add(cd, vk, pass);
        b = luks_keyslot_add(cd, vk, pass);
        assert_int_equal(crypt_token_json_set(cd, 0, "{\"type\": \"cvmseal-test\", \"keyslots\": []}"), 0);
        assert_int_equal(crypt_token_assign_keyslot(cd, 0, a), 0);
        assert_int_equal(crypt_token_assign_keyslot(cd, 0, b), 0);

        /* Only the keyslot that this run proved is the token's (enroll --wipe-token): a keyslot the
         * header merely assigns to the token (the host's word) stays. */
        assert_int_equal(luks_token_remove(cd, 0, UINT32_C(1) << b, &removed), 0);
        assert_int_equal(removed, UINT32_C(1) << b);
        assert_true(luks_keyslot_active(cd, a));
        assert_false(luks_keyslot_active(cd, b));
        assert_int_equal(crypt_token_status(cd, 0, NULL), CRYPT_TOKEN_INACTIVE);
}

static void test_active(void **state) {
        char *name = NULL, *backing = NULL;

        /* No mapping of a made-up volume is active (and no device-mapper is needed to say so). */
        assert_int_equal(luks_active("00000000-0000-0000-0000-000000000000", &name, &backing), -ENODEV);
        assert_null(name);
        assert_null(backing);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keyslots, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token_remove_only, setup, teardown),
                cmocka_unit_test(test_active),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
