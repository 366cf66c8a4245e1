/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* attest_verify()'s freshness rule for an Azure HCL report whose runtime claims carry the nonce
 * ("user-data": the 64 bytes written to NV 0x01400002, in hex), on Constellation's real TDX HCL
 * report.  A TDREPORT is not signed by itself (a TD quote vouches for it), so its report data can be
 * set to the SHA-256 of edited claims and the binding still holds: that is how these tests put a
 * nonce into real claims.  Nothing signed is there to verify ("evidence" always fails); the test is
 * about "freshness" alone.
 *
 *   user-data = the nonce, zero-padded to 64 bytes (lower or upper case): fresh;
 *   another nonce, or user-data that is not 64 bytes of hex: "freshness";
 *   an all-zero nonce (what a report nobody asked for carries): "freshness";
 *   no nonce at all: "freshness". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "attest.h"
#include "encoding.h"
#include "evidence.h"
#include "macro.h"
#include "testdata.h"

#define HCL_OFF_CLAIMS 0x4D4U
#define TDREPORT_REPORT_DATA (0x20U + 128U)

/* The real TDX HCL report with its user-data value (128 characters) replaced by user_data, and the
 * TDREPORT's report data set to SHA-256 of the edited claims. */
static uint8_t *tdx_hcl_with_user_data(const char *user_data, size_t *ret_size) {
        static const char key[] = "\"user-data\":\"";
        uint8_t *buf;
        size_t size, claims_size;
        unsigned n = 0;
        char *p;

        buf = testdata_read("azure/az-tdx-hcl-report.bin", &size);
        claims_size = le32(buf + 0x4D0);
        assert_true(HCL_OFF_CLAIMS + claims_size <= size);
        p = memmem(buf + HCL_OFF_CLAIMS, claims_size, key, strlen(key));
        assert_non_null(p);
        p += strlen(key);
        assert_int_equal(strlen(user_data), 128);
        assert_int_equal(p[128], '"');
        memcpy(p, user_data, 128);

        assert_int_equal(EVP_Digest(buf + HCL_OFF_CLAIMS, claims_size, buf + TDREPORT_REPORT_DATA, &n, EVP_sha256(),
                                    NULL), 1);
        assert_int_equal(n, 32);
        *ret_size = size;
        return buf;
}

/* Verifies {"azure-hcl-report": hcl, "nonce": nonce} against {"require": ["azure-hcl"]}: the
 * failed checks, space-separated, in the verdict's order. */
static char *verdict(const uint8_t *hcl, size_t hcl_size, const char *nonce) {
        _cleanup_(json_object_putp) json_object *ej = json_object_new_object(), *pj = NULL;
        _cleanup_(evidence_done) struct evidence e = {};
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};
        _cleanup_free_ char *b64 = base64_encode(hcl, hcl_size);
        char out[256] = "";

        assert_non_null(b64);
        json_object_object_add(ej, "version", json_object_new_int(1));
        json_object_object_add(ej, "azure-hcl-report", json_object_new_string(b64));
        if (nonce)
                json_object_object_add(ej, "nonce", json_object_new_string(nonce));
        pj = json_tokener_parse("{\"version\": 1, \"require\": [\"azure-hcl\"]}");
        assert_non_null(pj);

        assert_int_equal(evidence_from_json(ej, &e), 0);
        assert_int_equal(attest_policy_from_json(pj, &p), 0);
        assert_int_equal(attest_verify(&e, &p, NULL, &v), 0);
        for (size_t i = 0; i < json_object_array_length(v.failures); i++) {
                const char *f = json_object_get_string(json_object_array_get_idx(v.failures, i));

                if (*out)
                        strcat(out, " ");
                strncat(out, f, strcspn(f, ":"));
        }
        /* The binding holds in every case here. */
        assert_null(strstr(out, "hcl-binding"));
        return strdup(out);
}

#define NONCE "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789"
#define PAD "0000000000000000000000000000000000000000000000000000000000000000"

static void expect(const char *user_data, const char *nonce, const char *failures) {
        _cleanup_free_ uint8_t *hcl = NULL;
        _cleanup_free_ char *got = NULL;
        size_t size;

        hcl = tdx_hcl_with_user_data(user_data, &size);
        got = verdict(hcl, size, nonce);
        if (strcmp(got, failures) != 0)
                fail_msg("user-data %s, nonce %s: failures '%s', expected '%s'", user_data, nonce ?: "(none)", got,
                         failures);
}

static void test_user_data_nonce(void **state) {
        /* The nonce (32 bytes), zero-padded to 64 as collect writes it to NV 0x01400002. */
        expect(NONCE PAD, NONCE, "hcl-tdx evidence");
        /* Hex digits in either case. */
        expect("C0FFEE0123456789C0FFEE0123456789C0FFEE0123456789C0FFEE0123456789" PAD, NONCE, "hcl-tdx evidence");
        /* A 64-byte nonce fills it. */
        expect(NONCE NONCE, NONCE NONCE, "hcl-tdx evidence");
        /* Trailing zeros are padding: the short nonce "c0ffee" is the same as "c0ffee00". */
        expect("c0ffee" PAD "0000000000000000000000000000000000000000000000000000000000", "c0ffee00", "hcl-tdx evidence");
}

static void test_user_data_not_nonce(void **state) {
        /* Another verifier's nonce; a nonce that is a prefix of the user data. */
        expect(NONCE PAD, "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee012345678a", "hcl-tdx freshness evidence");
        expect(NONCE PAD, "c0ffee", "hcl-tdx freshness evidence");
        /* Not hex: carries no nonce (and is not malformed: the verdict names the check). */
        expect("zz" "ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789" PAD, NONCE, "hcl-tdx freshness evidence");
        /* The real report's user data (zeros), against a nonce of zeros: proves nothing. */
        expect(PAD PAD, PAD, "hcl-tdx freshness evidence");
        expect(PAD PAD, "00", "hcl-tdx freshness evidence");
        /* No nonce at all: nothing to tell a fresh report from a replayed one. */
        expect(NONCE PAD, NULL, "hcl-tdx freshness evidence");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_user_data_nonce),
                cmocka_unit_test(test_user_data_not_nonce),
        };

        testdata_require();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
