/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HKDF and the passphrase derivation against vectors computed independently (RFC 5869, and Python's
 * hmac module for the cvmseal derivation), and the recovery-key format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "encoding.h"
#include "kdf.h"
#include "secret.h"

static void test_hkdf_rfc5869_case1(void **state) {
        uint8_t ikm[22], salt[13], info[10], okm[42];
        _cleanup_free_ char *hex = NULL;

        memset(ikm, 0x0b, sizeof(ikm));
        for (unsigned i = 0; i < sizeof(salt); i++)
                salt[i] = (uint8_t) i;
        for (unsigned i = 0; i < sizeof(info); i++)
                info[i] = (uint8_t) (0xf0 + i);

        assert_int_equal(kdf_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), okm, sizeof(okm)), 0);
        hex = hex_encode(okm, sizeof(okm));
        assert_string_equal(hex, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

static const char uuid[] = "01234567-89ab-cdef-0123-456789abcdef";

static cvmseal_secret *range_secret(uint8_t first) {
        cvmseal_secret *s = cvmseal_secret_new(32);

        assert_non_null(s);
        for (unsigned i = 0; i < 32; i++)
                cvmseal_secret_data_mut(s)[i] = (uint8_t) (first + i);
        return s;
}

static void test_derive_passphrase(void **state) {
        _cleanup_secret_ cvmseal_secret *tpm = range_secret(0), *hsm = range_secret(32), *p1 = NULL, *p2 = NULL,
                                        *p3 = NULL, *p4 = NULL;
        uint8_t salt[32];

        memset(salt, 0xaa, sizeof(salt));

        assert_int_equal(kdf_derive_passphrase(tpm, NULL, salt, sizeof(salt), uuid, 3, NULL, &p1), 0);
        assert_int_equal(cvmseal_secret_size(p1), 44);
        assert_string_equal((const char *) cvmseal_secret_data(p1), "7aAEYhbdl51fO5FP+VpFUrblxNtBhKhMhcvu/YRgyqQ=");

        assert_int_equal(kdf_derive_passphrase(tpm, hsm, salt, sizeof(salt), uuid, 3, NULL, &p2), 0);
        assert_string_equal((const char *) cvmseal_secret_data(p2), "nH7WBiDV8ht/1zMYNHH1lDmDYJXHO5gZ6vRcLjHpXJ4=");

        /* Bound to the token id and to the volume. */
        assert_int_equal(kdf_derive_passphrase(tpm, NULL, salt, sizeof(salt), uuid, 4, NULL, &p3), 0);
        assert_string_not_equal((const char *) cvmseal_secret_data(p3), (const char *) cvmseal_secret_data(p1));
        assert_int_equal(kdf_derive_passphrase(tpm, NULL, salt, sizeof(salt), "01234567-89ab-cdef-0123-456789abcdee", 3, NULL, &p4), 0);
        assert_string_not_equal((const char *) cvmseal_secret_data(p4), (const char *) cvmseal_secret_data(p1));
}

static void test_derive_with_policy(void **state) {
        _cleanup_secret_ cvmseal_secret *tpm = range_secret(0), *p = NULL;
        uint8_t salt[32], digest[32];

        memset(salt, 0xaa, sizeof(salt));
        for (unsigned i = 0; i < 32; i++)
                digest[i] = (uint8_t) (100 + i);
        /* The attestation policy's digest ends the info: Python's hmac computed this. */
        assert_int_equal(kdf_derive_passphrase(tpm, NULL, salt, sizeof(salt), uuid, 3, digest, &p), 0);
        assert_string_equal((const char *) cvmseal_secret_data(p), "dWi+xb3rtZFluz/cxSb644r9tUNr0FCXL6bQTFX52Fs=");
}

static void test_derive_rejects(void **state) {
        _cleanup_secret_ cvmseal_secret *tpm = range_secret(0), *short_share = cvmseal_secret_new(31), *p = NULL;
        uint8_t salt[32] = {};

        assert_int_equal(kdf_derive_passphrase(short_share, NULL, salt, sizeof(salt), uuid, 0, NULL, &p), -EINVAL);
        assert_int_equal(kdf_derive_passphrase(tpm, short_share, salt, sizeof(salt), uuid, 0, NULL, &p), -EINVAL);
        assert_int_equal(kdf_derive_passphrase(tpm, NULL, salt, sizeof(salt), "short", 0, NULL, &p), -EINVAL);
        assert_int_equal(kdf_derive_passphrase(tpm, NULL, salt, sizeof(salt), uuid, -1, NULL, &p), -EINVAL);
        assert_null(p);
}

static void test_recovery_key(void **state) {
        _cleanup_secret_ cvmseal_secret *a = NULL, *b = NULL;
        const char *s;

        assert_int_equal(kdf_recovery_key(&a), 0);
        assert_int_equal(kdf_recovery_key(&b), 0);
        assert_int_equal(cvmseal_secret_size(a), 71);
        s = (const char *) cvmseal_secret_data(a);
        assert_int_equal(strlen(s), 71);
        for (unsigned i = 0; i < 71; i++) {
                if (i % 9 == 8)
                        assert_int_equal(s[i], '-');
                else
                        assert_true((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
        }
        assert_string_not_equal(s, (const char *) cvmseal_secret_data(b));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hkdf_rfc5869_case1),
                cmocka_unit_test(test_derive_passphrase),
                cmocka_unit_test(test_derive_with_policy),
                cmocka_unit_test(test_derive_rejects),
                cmocka_unit_test(test_recovery_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
