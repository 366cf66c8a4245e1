/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TSS2_RC to errno (the exit codes hang on it), the retry classification, and the software policy
 * digest against digests the TPM itself computed in trial sessions (tpm2_createpolicy,
 * tpm2_policypcr + tpm2_policyauthvalue on swtpm). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_common.h>
#include <tss2/tss2_esys.h>

#include "encoding.h"
#include "macro.h"
#include "secret.h"
#include "tpm2.h"

static void test_rc_to_errno(void **state) {
        static const struct {
                TSS2_RC rc;
                int r;
        } cases[] = {
                { TSS2_RC_SUCCESS, 0 },
                { TPM2_RC_POLICY_FAIL | TPM2_RC_S | TPM2_RC_1, -EPERM },   /* Unseal, PCRs changed */
                { TPM2_RC_PCR_CHANGED, -EPERM },
                { TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1, -EACCES },    /* wrong PIN */
                { TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1, -EACCES },
                { TPM2_RC_LOCKOUT, -ENOLCK },
                { TPM2_RC_RETRY, -ETIMEDOUT },
                { TPM2_RC_YIELDED, -ETIMEDOUT },
                { TPM2_RC_TESTING, -ETIMEDOUT },
                { TSS2_RESMGR_TPM_RC_LAYER | TPM2_RC_RETRY, -ETIMEDOUT },  /* from a resource manager */
                { TPM2_RC_HANDLE | TPM2_RC_H | TPM2_RC_1, -ENOENT },       /* ReadPublic of a missing SRK */
                { TPM2_RC_INTEGRITY | TPM2_RC_P | TPM2_RC_1, -EBADMSG },   /* Load of a damaged blob */
                { TPM2_RC_SIZE | TPM2_RC_P | TPM2_RC_2, -EBADMSG },
                { TPM2_RC_OBJECT_MEMORY, -ENOBUFS },
                { TPM2_RC_SESSION_MEMORY, -ENOBUFS },
                { TPM2_RC_FAILURE, -ENODEV },
                { TPM2_RC_INITIALIZE, -ENODEV },
                { TSS2_TCTI_RC_IO_ERROR, -ENODEV },                          /* connection lost */
                { TSS2_TCTI_RC_NO_CONNECTION, -ENODEV },
                { TSS2_ESYS_RC_MEMORY, -ENOMEM },
                { TSS2_ESYS_RC_MALFORMED_RESPONSE, -EBADMSG },
                { TSS2_ESYS_RC_TRY_AGAIN, -ETIMEDOUT },
                { TSS2_ESYS_RC_BAD_REFERENCE, -EIO },
                { TPM2_RC_NV_LOCKED, -EIO },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (tpm2_rc_to_errno(cases[i].rc) != cases[i].r)
                        fail_msg("0x%x: got %d, want %d", (unsigned) cases[i].rc, tpm2_rc_to_errno(cases[i].rc),
                                 cases[i].r);
}

static void test_rc_is_retry(void **state) {
        assert_true(tpm2_rc_is_retry(TPM2_RC_RETRY));
        assert_true(tpm2_rc_is_retry(TPM2_RC_YIELDED));
        assert_true(tpm2_rc_is_retry(TPM2_RC_TESTING));
        assert_true(tpm2_rc_is_retry(TSS2_RESMGR_TPM_RC_LAYER | TPM2_RC_RETRY));
        assert_false(tpm2_rc_is_retry(TSS2_RC_SUCCESS));
        assert_false(tpm2_rc_is_retry(TPM2_RC_LOCKOUT));
        assert_false(tpm2_rc_is_retry(TPM2_RC_POLICY_FAIL | TPM2_RC_S | TPM2_RC_1));
        /* A TCTI error whose low bits happen to equal RETRY is not a TPM asking to retry. */
        assert_false(tpm2_rc_is_retry(TSS2_TCTI_RC_LAYER | TPM2_RC_RETRY));
}

static void expect_digest(uint32_t mask, const uint8_t values[][32], bool pin, const char *hex) {
        _cleanup_free_ char *got = NULL;
        TPM2B_DIGEST d = {};

        assert_int_equal(tpm2_policy_digest(mask, values, pin, &d), 0);
        assert_int_equal(d.size, 32);
        got = hex_encode(d.buffer, d.size);
        assert_string_equal(got, hex);
}

static void test_policy_digest(void **state) {
        uint8_t zero[1][32] = {}, two[2][32];

        memset(two[0], 0x01, 32);
        memset(two[1], 0x07, 32);

        /* tpm2_createpolicy --policy-pcr -l sha256:7 -f <32 zero bytes> */
        expect_digest(UINT32_C(1) << 7, (const uint8_t (*)[32]) zero, false,
                      "8b5682d81b29435d08d79278150611dc7e5923b2fefcce684a09577b40130a8b");
        /* tpm2_policypcr -l sha256:0,7 -f <32 x 0x01, 32 x 0x07>; tpm2_policyauthvalue */
        expect_digest((UINT32_C(1) << 0) | (UINT32_C(1) << 7), (const uint8_t (*)[32]) two, true,
                      "2ed0c510bd1361b990d8f30a58c7775e23b25953997a494c282eb29eac67ff7a");

        {
                TPM2B_DIGEST d;

                assert_int_equal(tpm2_policy_digest(0, (const uint8_t (*)[32]) zero, false, &d), -EINVAL);
                assert_int_equal(tpm2_policy_digest(UINT32_C(1) << 24, (const uint8_t (*)[32]) zero, false, &d),
                                 -EINVAL);
        }
}

static void test_pin_auth(void **state) {
        _cleanup_secret_ cvmseal_secret *pin = cvmseal_secret_new_from("1234", 4);
        _cleanup_free_ char *hex = NULL;
        TPM2B_AUTH a = {};

        assert_int_equal(tpm2_pin_auth(pin, &a), 0);
        assert_int_equal(a.size, 32);
        hex = hex_encode(a.buffer, a.size);
        /* printf 1234 | sha256sum */
        assert_string_equal(hex, "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rc_to_errno),
                cmocka_unit_test(test_rc_is_retry),
                cmocka_unit_test(test_policy_digest),
                cmocka_unit_test(test_pin_auth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
