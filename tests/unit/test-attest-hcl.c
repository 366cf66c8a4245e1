/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Azure HCL report, with real reports: trustee's two SNP evidence files, kinvolk's v1 SNP report
 * (padded to 2048 bytes) and Constellation's v2 TDX report.  The binding holds with the hardware
 * report's own report data; one changed claim byte breaks it; every cut, a wrong magic and every
 * out-of-range header field is -EBADMSG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "attest.h"
#include "encoding.h"
#include "macro.h"
#include "testdata.h"

/* hcl.c's helper, not yet in attest.h. */

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static void put_le32(uint8_t *p, uint32_t x) {
        p[0] = (uint8_t) x;
        p[1] = (uint8_t) (x >> 8);
        p[2] = (uint8_t) (x >> 16);
        p[3] = (uint8_t) (x >> 24);
}

/* trustee's evidence: v0 holds the report as an array of byte values, v1 as base64url. */
static uint8_t *evidence_hcl_report(const char *name, size_t *ret_size) {
        _cleanup_free_ uint8_t *text = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *r;
        uint8_t *buf;
        size_t n;

        text = testdata_read(name, &n);
        j = json_tokener_parse((const char *) text);
        assert_non_null(j);

        if (json_object_object_get_ex(j, "report", &r)) {
                assert_true(json_object_is_type(r, json_type_array));
                n = json_object_array_length(r);
                buf = malloc(n);
                assert_non_null(buf);
                for (size_t i = 0; i < n; i++)
                        buf[i] = (uint8_t) json_object_get_int(json_object_array_get_idx(r, i));
        } else {
                assert_true(json_object_object_get_ex(j, "hcl_report", &r));
                assert_int_equal(testdata_base64url(json_object_get_string(r), &buf, &n), 0);
        }
        *ret_size = n;
        return buf;
}

static const char *claim_string(const struct attest_verdict *v, const char *key, const char *member) {
        json_object *o;

        if (!json_object_object_get_ex(v->claims, key, &o))
                return NULL;
        if (member && !json_object_object_get_ex(o, member, &o))
                return NULL;
        return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static bool has_failure(const struct attest_verdict *v, const char *check) {
        size_t n = json_object_array_length(v->failures), len = strlen(check);

        for (size_t i = 0; i < n; i++) {
                const char *f = json_object_get_string(json_object_array_get_idx(v->failures, i));

                if (strncmp(f, check, len) == 0 && f[len] == ':')
                        return true;
        }
        return false;
}

static void assert_rsa2048(EVP_PKEY *ak) {
        assert_non_null(ak);
        assert_true(EVP_PKEY_is_a(ak, "RSA"));
        assert_int_equal(EVP_PKEY_get_bits(ak), 2048);
}

/* Parses buf, checks the binding with the hardware report's own report data, and returns the AK. */
static void check_bound(const uint8_t *buf, size_t size, uint32_t version, uint32_t report_type,
                        size_t claims_size, const char *vm_unique_id, bool user_data) {
        struct attest_verdict v = {};
        struct hcl_report h = {};
        const uint8_t *rd = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;

        assert_int_equal(hcl_report_parse(buf, size, &h), 0);
        assert_int_equal(h.version, version);
        assert_int_equal(h.report_type, report_type);
        assert_int_equal(h.hash_type, 1);
        assert_ptr_equal(h.hw_report, buf + 0x20);
        assert_ptr_equal(h.claims, buf + 0x4D4);
        assert_int_equal(h.claims_size, claims_size);
        assert_int_equal(h.claims[0], '{');
        assert_int_equal(h.claims[h.claims_size - 1], '}');

        /* SNP: REPORT_DATA at 0x50 of the SNP report; TDX: the TDREPORT's report data at 128. */
        assert_int_equal(hcl_hw_report_data(&h, &rd), 0);
        assert_ptr_equal(rd, h.hw_report + (report_type == 2 ? 0x50 : 128));

        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(hcl_verify_binding(&h, rd, &v, &ak), 0);
        assert_true(attest_verdict_pass(&v));
        assert_rsa2048(ak);
        assert_string_equal(claim_string(&v, "azure-vm-configuration", "vmUniqueId"), vm_unique_id);
        if (user_data)
                assert_string_equal(claim_string(&v, "azure-user-data", NULL),
                                    "0000000000000000000000000000000000000000000000000000000000000000"
                                    "0000000000000000000000000000000000000000000000000000000000000000");
        else
                assert_false(json_object_object_get_ex(v.claims, "azure-user-data", NULL));
        attest_verdict_done(&v);

        /* hcl_verify(): the same, and the user data decoded (the 64 bytes of NV 0x01400002, which
         * nobody wrote in these reports: zeros), for the freshness check. */
        {
                _cleanup_(hcl_claims_done) struct hcl_claims c = {};
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *named = NULL;
                static const uint8_t zero[64] = {};

                assert_int_equal(attest_verdict_init(&v), 0);
                assert_int_equal(hcl_verify(&h, rd, &v, &c), 0);
                assert_true(attest_verdict_pass(&v));
                assert_true(c.bound);
                assert_int_equal(EVP_PKEY_eq(c.ak, ak), 1);
                assert_int_equal(c.has_user_data, user_data);
                if (user_data)
                        assert_memory_equal(c.user_data, zero, 64);
                attest_verdict_done(&v);

                /* What collect asks before it quotes: does the report name the AK? */
                assert_int_equal(hcl_report_ak(&h, &named), 0);
                assert_int_equal(EVP_PKEY_eq(named, ak), 1);
        }

        /* The other platform's report data is something else: the binding fails there. */
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(hcl_verify_binding(&h, h.hw_report + (report_type == 2 ? 128 : 0x50), &v, NULL), 0);
        assert_false(attest_verdict_pass(&v));
        assert_true(has_failure(&v, "hcl-binding"));
        assert_false(json_object_object_get_ex(v.claims, "azure-vm-configuration", NULL));
        attest_verdict_done(&v);
}

static void test_snp_trustee(void **state) {
        static const char *const files[] = { "azure/az-snp-vtpm-evidence-v0.json", "azure/az-snp-vtpm-evidence-v1.json" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t size;

                buf = evidence_hcl_report(files[i], &size);
                assert_int_equal(size, 2600);
                check_bound(buf, size, 1, 2, 1110, "26F8BC30-774E-4290-8E7A-535F3B672AEE", true);
        }
}

static void test_tdx_constellation(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;

        buf = testdata_read("azure/az-tdx-hcl-report.bin", &size);
        assert_int_equal(size, 2600);
        check_bound(buf, size, 2, 4, 1200, "8C85CE00-A0EB-497B-87EF-CA9609E6C757", true);
}

static void test_snp_kinvolk(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct hcl_report h = {};
        size_t size;

        buf = testdata_read("azure/az-snp-hcl-report-kinvolk.bin", &size);
        assert_int_equal(size, 2048);
        check_bound(buf, size, 1, 2, 583, "BAEFD3E1-184B-4C4C-AB88-0BDAD260505F", false);

        /* report_size 1819 ends exactly at the end of the claims; the rest is padding. */
        assert_int_equal(hcl_report_parse(buf, size, &h), 0);
        assert_ptr_equal(h.claims + h.claims_size, buf + 1819);
        assert_int_equal(hcl_report_parse(buf, 1819, &h), 0);
        assert_int_equal(hcl_report_parse(buf, 1818, &h), -EBADMSG);
}

/* One byte of the claims changed (inside vmUniqueId: the JSON stays valid) breaks the binding. */
static void test_claims_changed(void **state) {
        static const char *const files[] = { "azure/az-snp-hcl-report-kinvolk.bin", "azure/az-tdx-hcl-report.bin" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
                struct attest_verdict v = {};
                struct hcl_report h = {};
                const uint8_t *rd;
                uint8_t *p;
                size_t size;

                buf = testdata_read(files[i], &size);
                assert_int_equal(hcl_report_parse(buf, size, &h), 0);
                assert_int_equal(hcl_hw_report_data(&h, &rd), 0);
                p = memmem(buf + 0x4D4, h.claims_size, "\"vmUniqueId\":\"", 14);
                assert_non_null(p);
                p[14] = p[14] == '1' ? '2' : '1';

                assert_int_equal(attest_verdict_init(&v), 0);
                assert_int_equal(hcl_verify_binding(&h, rd, &v, &ak), 0);
                assert_false(attest_verdict_pass(&v));
                assert_int_equal(json_object_array_length(v.failures), 1);
                assert_true(has_failure(&v, "hcl-binding"));
                /* The claims of an unbound report are not claimed; the AK still comes back (the verdict
                 * has failed already) so that the quote's checks can run. */
                assert_false(json_object_object_get_ex(v.claims, "azure-vm-configuration", NULL));
                assert_rsa2048(ak);
                attest_verdict_done(&v);
        }
}

/* The 32 bytes after the digest must be zero (they are in every report seen). */
static void test_report_data_tail(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct attest_verdict v = {};
        struct hcl_report h = {};
        const uint8_t *rd;
        uint8_t copy[64];
        size_t size;

        buf = testdata_read("azure/az-snp-hcl-report-kinvolk.bin", &size);
        assert_int_equal(hcl_report_parse(buf, size, &h), 0);
        assert_int_equal(hcl_hw_report_data(&h, &rd), 0);
        memcpy(copy, rd, 64);
        copy[63] = 1;
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(hcl_verify_binding(&h, copy, &v, NULL), 0);
        assert_true(has_failure(&v, "hcl-binding"));
        attest_verdict_done(&v);
}

/* Claims whose digest matches the report data given, but which say something else. */
static int verify_edited(const char *find, const char *replace, struct attest_verdict *v, EVP_PKEY **ret_ak) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct hcl_report h = {};
        uint8_t rd[64] = {};
        unsigned n;
        uint8_t *p;
        size_t size;

        buf = testdata_read("azure/az-tdx-hcl-report.bin", &size);
        assert_int_equal(hcl_report_parse(buf, size, &h), 0);
        assert_int_equal(strlen(find), strlen(replace));
        p = memmem(buf + 0x4D4, h.claims_size, find, strlen(find));
        assert_non_null(p);
        memcpy(p, replace, strlen(replace));
        assert_int_equal(EVP_Digest(h.claims, h.claims_size, rd, &n, EVP_sha256(), NULL), 1);
        return hcl_verify_binding(&h, rd, v, ret_ak);
}

static void test_claims_edited(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        struct attest_verdict v = {};

        /* No HCLAkPub: a failed check, no key. */
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(verify_edited("\"HCLAkPub\"", "\"HCLAkPuX\"", &v, &ak), 0);
        assert_null(ak);
        assert_int_equal(json_object_array_length(v.failures), 1);
        assert_true(has_failure(&v, "hcl-ak"));
        attest_verdict_done(&v);

        /* Malformed JSON, malformed members: -EBADMSG. */
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(verify_edited("{\"keys\":[", "{\"keys\":{", &v, &ak), -EBADMSG);
        assert_int_equal(verify_edited("\"keys\":[{", "\"keys\":[7", &v, &ak), -EBADMSG);
        assert_int_equal(verify_edited("\"kty\":\"RSA\"", "\"kty\":\"EC\" ", &v, &ak), -EBADMSG);
        assert_int_equal(verify_edited("\"e\":\"AQAB\"", "\"e\":\"AQA+\"", &v, &ak), -EBADMSG);
        assert_int_equal(verify_edited("\"vm-configuration\":{", "\"vm-configuration\":[", &v, &ak), -EBADMSG);
        assert_int_equal(verify_edited("\"user-data\":\"", "\"user-data\":[", &v, &ak), -EBADMSG);
        assert_null(ak);
        attest_verdict_done(&v);
}

/* Every cut shorter than report_size is -EBADMSG; every longer one parses (the rest is padding). */
static void test_truncated(void **state) {
        static const char *const files[] = { "azure/az-snp-hcl-report-kinvolk.bin", "azure/az-tdx-hcl-report.bin" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                struct hcl_report h = {};
                size_t size, report_size;

                buf = testdata_read(files[i], &size);
                report_size = buf[8] | buf[9] << 8 | (size_t) buf[10] << 16 | (size_t) buf[11] << 24;
                assert_true(report_size > 0x4D4 && report_size < size);
                for (size_t cut = 0; cut <= size; cut++) {
                        /* An exact-size copy, so that a read past the end is a read past the allocation. */
                        uint8_t *copy = malloc(cut ?: 1);

                        assert_non_null(copy);
                        memcpy(copy, buf, cut);
                        assert_int_equal(hcl_report_parse(copy, cut, &h), cut < report_size ? -EBADMSG : 0);
                        free(copy);
                }
        }
}

static void expect_bad_field(size_t offset, uint32_t value) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct hcl_report h = {};
        size_t size;

        buf = testdata_read("azure/az-tdx-hcl-report.bin", &size);
        assert_int_equal(hcl_report_parse(buf, size, &h), 0);
        put_le32(buf + offset, value);
        assert_int_equal(hcl_report_parse(buf, size, &h), -EBADMSG);
}

static void test_bad_header(void **state) {
        expect_bad_field(0x0, 0x414c4349);        /* "ICLA" */
        expect_bad_field(0x0, 0);
        expect_bad_field(0x4, 0);                 /* version */
        expect_bad_field(0x4, 3);
        expect_bad_field(0x8, 2601);              /* report_size beyond the buffer */
        expect_bad_field(0x8, 0x4D3);             /* shorter than the headers */
        expect_bad_field(0x8, 2435);              /* cuts the claims */
        expect_bad_field(0x4C0, 19);              /* data_size smaller than its header */
        expect_bad_field(0x4C0, 2436 - 0x4C0 + 1);/* data_size beyond the report */
        expect_bad_field(0x4C0, 1219);            /* data_size smaller than header + claims */
        expect_bad_field(0x4C8, 3);               /* report_type TVM */
        expect_bad_field(0x4C8, 1);               /* VBS */
        expect_bad_field(0x4C8, 0);
        expect_bad_field(0x4CC, 2);               /* hash_type SHA-384 */
        expect_bad_field(0x4CC, 0);
        expect_bad_field(0x4D0, 1201);            /* claims overrun data_size */
        expect_bad_field(0x4D0, UINT32_MAX);
        expect_bad_field(0x4C0, UINT32_MAX);
        expect_bad_field(0x8, UINT32_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_snp_trustee),
                cmocka_unit_test(test_tdx_constellation),
                cmocka_unit_test(test_snp_kinvolk),
                cmocka_unit_test(test_claims_changed),
                cmocka_unit_test(test_report_data_tail),
                cmocka_unit_test(test_claims_edited),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_bad_header),
        };

        testdata_require();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
