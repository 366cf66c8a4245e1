/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Azure HCL report (vTPM NV 0x01400001): hcl_report_parse(), then hcl_verify_binding() with the
 * parsed report's own report data (the SNP report's REPORT_DATA, or the TDREPORT's at 128), and
 * the HCLAkPub key it returns.
 *
 * Fix-ups: an input that does not parse as it is gets the "HCLA" magic, a version in 1..2, a
 * report_size and data_size cut to fit, report_type 2 or 4, hash_type 1 and a claims size that fits.
 * The request_type word at 0x0C (ignored by the parser) steers: bit 0 writes SHA-256 of the runtime
 * claims into the report data first (and zeros after it), so that the binding holds and the claims
 * are read further (vm-configuration, user-data).
 */
#include "attest.h"
#include "fuzz.h"
#include "macro.h"

#define HCL_OFF_REQUEST_TYPE 0x0CU
#define HCL_OFF_HW_REPORT 0x20U
#define HCL_OFF_DATA 0x4C0U
#define HCL_OFF_CLAIMS 0x4D4U

/* Where the binding's report data lies, in the whole HCL report. */
static size_t report_data_offset(uint32_t report_type) {
        return HCL_OFF_HW_REPORT + (report_type == 2 ? 0x50U : 128U);
}

static void check(uint8_t *buf, size_t size) {
        struct hcl_report h;
        struct attest_verdict v = {};
        EVP_PKEY *ak = NULL;
        uint8_t report_data[64];

        if (hcl_report_parse(buf, size, &h) < 0)
                return;
        if (buf[HCL_OFF_REQUEST_TYPE] & 1) {
                uint8_t *rd = buf + report_data_offset(h.report_type);
                unsigned n = 0;

                FUZZ_ASSERT(EVP_Digest(h.claims, h.claims_size, rd, &n, EVP_sha256(), NULL) == 1 && n == 32);
                memset(rd + 32, 0, 32);
        }
        memcpy(report_data, buf + report_data_offset(h.report_type), sizeof(report_data));
        if (attest_verdict_init(&v) < 0)
                return;
        (void) hcl_verify_binding(&h, report_data, &v, &ak);
        EVP_PKEY_free(ak);
        attest_verdict_done(&v);
}

static uint8_t *fix_up(const uint8_t *data, size_t size, size_t *ret_size) {
        uint32_t report_size, data_size, claims_size, version;
        size_t n = size > HCL_OFF_CLAIMS ? size : HCL_OFF_CLAIMS;
        uint8_t *b = calloc(1, n);

        if (!b)
                return NULL;
        memcpy(b, data, size);
        memcpy(b, "HCLA", 4);
        version = fuzz_le32(b + 4);
        fuzz_put_le32(b + 4, 1 + (version & 1));
        report_size = fuzz_le32(b + 8);
        if (report_size < HCL_OFF_CLAIMS || report_size > n)
                report_size = (uint32_t) (HCL_OFF_CLAIMS + report_size % (n - HCL_OFF_CLAIMS + 1));
        fuzz_put_le32(b + 8, report_size);
        data_size = fuzz_le32(b + HCL_OFF_DATA);
        if (data_size < 20 || data_size > report_size - HCL_OFF_DATA)
                data_size = 20 + data_size % (report_size - HCL_OFF_CLAIMS + 1);
        fuzz_put_le32(b + HCL_OFF_DATA, data_size);
        fuzz_put_le32(b + HCL_OFF_DATA + 8, (b[HCL_OFF_DATA + 8] & 1) ? 4 : 2);
        fuzz_put_le32(b + HCL_OFF_DATA + 12, 1);
        claims_size = fuzz_le32(b + HCL_OFF_DATA + 16);
        if (claims_size > data_size - 20)
                claims_size = data_size - 20;
        fuzz_put_le32(b + HCL_OFF_DATA + 16, claims_size);
        *ret_size = n;
        return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct hcl_report h;
        uint8_t *b;
        size_t n = size;

        fuzz_setup_log();
        if (size > 64 * 1024)
                return 0;

        if (hcl_report_parse(data, size, &h) == 0) {
                b = malloc(size);
                if (!b)
                        return 0;
                memcpy(b, data, size);
        } else {
                b = fix_up(data, size, &n);
                if (!b)
                        return 0;
        }
        check(b, n);
        free(b);
        ERR_clear_error();
        return 0;
}
