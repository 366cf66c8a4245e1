/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SEV-SNP reports: the real reports of ../shared/testdata verify with their VCEKs and the AMD chains;
 * a changed byte, a wrong ARK, a wrong chip or TCB, and every policy member are caught under their
 * check's name; malformed reports and policies are -EBADMSG.  Reports signed by a test VCEK under a
 * test root (trust.extra_roots) cover what no public vector does (the Turin TCB layout, a passing
 * verdict with every policy member set). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest.h"
#include "encoding.h"
#include "macro.h"
#include "testdata.h"

#define T_2025_06_01 ((time_t) 1748736000)

static X509 *load_der(const char *name) {
        _cleanup_free_ uint8_t *buf = NULL;
        const uint8_t *p;
        size_t n;
        X509 *x;

        buf = testdata_read(name, &n);
        p = buf;
        x = d2i_X509(NULL, &p, (long) n);
        assert_non_null(x);
        return x;
}

/* Appends every certificate of a PEM file (ASK then ARK) to sk. */
static void add_pem(STACK_OF(X509) *sk, const char *name) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        BIO *b;
        X509 *x;
        int count = 0;

        buf = testdata_read(name, &n);
        b = BIO_new_mem_buf(buf, (int) n);
        assert_non_null(b);
        while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
                assert_true(sk_X509_push(sk, x) > 0);
                count++;
        }
        BIO_free(b);
        assert_int_equal(count, 2);
}

static STACK_OF(X509) *evidence(const char *leaf, const char *chain) {
        STACK_OF(X509) *sk = sk_X509_new_null();

        assert_non_null(sk);
        if (leaf)
                assert_true(sk_X509_push(sk, load_der(leaf)) > 0);
        if (chain)
                add_pem(sk, chain);
        return sk;
}

static void certs_free(STACK_OF(X509) **sk) {
        sk_X509_pop_free(*sk, X509_free);
        *sk = NULL;
}

static bool has_failure(const struct attest_verdict *v, const char *check) {
        size_t len = strlen(check);

        for (size_t i = 0; i < json_object_array_length(v->failures); i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(v->failures, i));

                if (strncmp(s, check, len) == 0 && s[len] == ':')
                        return true;
        }
        return false;
}

static size_t n_failures(const struct attest_verdict *v) {
        return json_object_array_length(v->failures);
}

static void print_failures(const struct attest_verdict *v) {
        for (size_t i = 0; i < n_failures(v); i++)
                print_message("  failure: %s\n", json_object_get_string(json_object_array_get_idx(v->failures, i)));
}

static json_object *claim(const struct attest_verdict *v, const char *key) {
        json_object *o = NULL;

        assert_true(json_object_object_get_ex(v->claims, key, &o));
        return o;
}

/* Verifies report (its bytes) with certs under the "snp" policy given as JSON text (or NULL). */
static int verify(const uint8_t *report, STACK_OF(X509) *certs, const char *policy_json,
                  const struct attest_trust *trust, struct attest_verdict *v) {
        _cleanup_(json_object_putp) json_object *policy = NULL;
        struct snp_report r;
        int k;

        if (policy_json) {
                policy = json_tokener_parse(policy_json);
                assert_non_null(policy);
        }
        assert_int_equal(snp_report_parse(report, SNP_REPORT_SIZE, &r), 0);
        assert_int_equal(attest_verdict_init(v), 0);
        k = snp_verify(&r, certs, policy, trust, v);
        if (n_failures(v) > 0)
                print_failures(v);
        return k;
}

static uint64_t le64_at(const uint8_t *p) {
        uint64_t x = 0;

        for (int i = 7; i >= 0; i--)
                x = x << 8 | p[i];
        return x;
}

static void put_le32(uint8_t *p, uint32_t x) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (x >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t x) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (x >> (8 * i));
}

/* ---- the real reports ---- */

static const struct {
        const char *name;
        uint64_t policy;
        uint64_t reported_tcb;
} milan[] = {
        { "milan-gosevguest", 0xB0000, 0x4405000000000002 },
        { "milan-virtee", 0x30000, 0x7308000000000003 },
        { "milan-trustee", 0x3001F, 0x7308000000000003 },
};

static void test_milan_reports(void **state) {
        const struct attest_trust trust = { .time = T_2025_06_01 };

        for (size_t i = 0; i < ELEMENTSOF(milan); i++) {
                char path[256];
                _cleanup_free_ uint8_t *buf = NULL;
                _cleanup_free_ char *chip = NULL;
                STACK_OF(X509) *certs;
                struct attest_verdict v;
                struct snp_report r;
                json_object *tcb;
                size_t n;
                bool debug = milan[i].policy & (UINT64_C(1) << 19);

                print_message("%s\n", milan[i].name);
                snprintf(path, sizeof(path), "snp/%s-report.bin", milan[i].name);
                buf = testdata_read(path, &n);
                assert_int_equal(n, SNP_REPORT_SIZE);
                assert_int_equal(snp_report_parse(buf, n, &r), 0);
                assert_int_equal(r.version, 2);
                assert_int_equal(r.vmpl, 0);
                assert_int_equal(r.policy, milan[i].policy);
                assert_int_equal(r.reported_tcb, milan[i].reported_tcb);
                assert_int_equal(r.signature_algo, 1);
                assert_int_equal(r.signing_key, 0);
                assert_ptr_equal(r.raw, buf);
                assert_memory_equal(r.measurement, buf + 0x90, 48);
                assert_memory_equal(r.chip_id, buf + 0x1A0, 64);

                snprintf(path, sizeof(path), "snp/%s-vcek.der", milan[i].name);
                certs = evidence(path, "snp/certs/ask_ark_milan.pem");

                /* The policy's defaults forbid a debug guest: go-sev-guest's report has DEBUG set. */
                assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
                if (debug) {
                        assert_int_equal(n_failures(&v), 1);
                        assert_true(has_failure(&v, "snp-debug"));
                } else
                        assert_true(attest_verdict_pass(&v));

                assert_string_equal(json_object_get_string(claim(&v, "platform")), "snp");
                assert_int_equal(json_object_get_int(claim(&v, "version")), 2);
                assert_int_equal(json_object_get_int(claim(&v, "vmpl")), 0);
                assert_int_equal(json_object_get_boolean(claim(&v, "debug")), debug);
                assert_string_equal(json_object_get_string(claim(&v, "signing-key")), "vcek");
                chip = hex_encode(buf + 0x1A0, 64);
                assert_string_equal(json_object_get_string(claim(&v, "chip-id")), chip);
                assert_int_equal(strlen(json_object_get_string(claim(&v, "report-data"))), 128);
                assert_int_equal(strlen(json_object_get_string(claim(&v, "measurement"))), 96);
                assert_int_equal(strlen(json_object_get_string(claim(&v, "host-data"))), 64);
                tcb = claim(&v, "tcb");
                assert_int_equal(json_object_get_int(json_object_object_get(tcb, "bootloader")),
                                 (int) (milan[i].reported_tcb & 0xff));
                assert_int_equal(json_object_get_int(json_object_object_get(tcb, "tee")),
                                 (int) ((milan[i].reported_tcb >> 8) & 0xff));
                assert_int_equal(json_object_get_int(json_object_object_get(tcb, "snp")),
                                 (int) ((milan[i].reported_tcb >> 48) & 0xff));
                assert_int_equal(json_object_get_int(json_object_object_get(tcb, "microcode")),
                                 (int) (milan[i].reported_tcb >> 56));
                assert_false(json_object_object_get_ex(tcb, "fmc", NULL));
                attest_verdict_done(&v);

                /* A policy that allows debugging passes every one of them. */
                assert_int_equal(verify(buf, certs, "{\"allow-debug\": true}", &trust, &v), 0);
                assert_true(attest_verdict_pass(&v));
                attest_verdict_done(&v);

                certs_free(&certs);
        }
}

static void test_virtee_tcb_claims(void **state) {
        const struct attest_trust trust = { .time = T_2025_06_01 };
        _cleanup_free_ uint8_t *buf = NULL;
        STACK_OF(X509) *certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_milan.pem");
        struct attest_verdict v;
        json_object *tcb;
        size_t n;

        buf = testdata_read("snp/milan-virtee-report.bin", &n);
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(attest_verdict_pass(&v));
        /* 0x7308000000000003: bootloader 3, tee 0, snp 8, microcode 0x73. */
        tcb = claim(&v, "tcb");
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "bootloader")), 3);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "tee")), 0);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "snp")), 8);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "microcode")), 0x73);
        attest_verdict_done(&v);
        certs_free(&certs);
}

static void test_vlek(void **state) {
        const struct attest_trust trust = { .time = T_2025_06_01 };
        _cleanup_free_ uint8_t *buf = NULL;
        STACK_OF(X509) *certs;
        struct attest_verdict v;
        struct snp_report r;
        size_t n;

        buf = testdata_read("snp/vlek-trustee-report.bin", &n);
        assert_int_equal(snp_report_parse(buf, n, &r), 0);
        assert_int_equal(r.version, 3);
        assert_int_equal(r.vmpl, 1);
        assert_int_equal(r.signing_key, 1);
        assert_int_equal(r.cpuid_fam_id, 0x19);
        assert_int_equal(r.cpuid_mod_id, 0x01);
        assert_int_equal(r.cpuid_step, 0x01);

        /* The signature and the TCB verify; no ASVK is public, so the chain cannot. */
        certs = evidence("snp/vlek-trustee-vlek.der", NULL);
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_false(has_failure(&v, "snp-signature"));
        assert_int_equal(n_failures(&v), 1);
        assert_string_equal(json_object_get_string(claim(&v, "signing-key")), "vlek");
        assert_int_equal(json_object_get_int(claim(&v, "vmpl")), 1);
        assert_int_equal(json_object_get_int(claim(&v, "version")), 3);
        attest_verdict_done(&v);

        /* The Milan ASK does not issue VLEKs (the ASVK does). */
        add_pem(certs, "snp/certs/ask_ark_milan.pem");
        assert_int_equal(verify(buf, certs, "{\"vmpl\": 1}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        /* The same report checked against a VCEK names the wrong key kind. */
        certs_free(&certs);
        certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_milan.pem");
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-signature"));
        assert_true(has_failure(&v, "snp-vcek-chip-id"));
        attest_verdict_done(&v);
        certs_free(&certs);
}

/* trustee's test VCEKs: hwID 00 01 .. 3f, raw or wrapped in an OCTET STRING.  They do not chain (and
 * sign no report), so a synthesized report shows that each hwID and TCB is read correctly. */
static void test_hwid_encodings(void **state) {
        static const struct {
                const char *name;
                uint64_t tcb;
        } certs_[] = {
                { "snp/vcek-hwid-legacy-encoding.der", 0xA90A000000000003 },
                { "snp/vcek-hwid-new-encoding.der", 0x1E00000000000000 },
        };
        const struct attest_trust trust = { .time = T_2025_06_01 };

        for (size_t i = 0; i < ELEMENTSOF(certs_); i++) {
                uint8_t report[SNP_REPORT_SIZE] = {};
                STACK_OF(X509) *certs = evidence(certs_[i].name, NULL);
                struct attest_verdict v;

                put_le32(report + 0x0, 2);
                put_le32(report + 0x34, 1);
                put_le64(report + 0x180, certs_[i].tcb);
                for (int b = 0; b < 64; b++)
                        report[0x1A0 + b] = (uint8_t) b;

                assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
                assert_false(has_failure(&v, "snp-vcek-chip-id"));
                assert_false(has_failure(&v, "snp-vcek-tcb"));
                assert_true(has_failure(&v, "snp-signature"));
                attest_verdict_done(&v);

                report[0x1A0 + 63] ^= 1;
                assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
                assert_true(has_failure(&v, "snp-vcek-chip-id"));
                attest_verdict_done(&v);

                report[0x1A0 + 63] ^= 1;
                report[0x1A0 + 0] ^= 1;
                report[0x186] ^= 1;   /* SNP SPL */
                assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
                assert_true(has_failure(&v, "snp-vcek-chip-id"));
                assert_true(has_failure(&v, "snp-vcek-tcb"));
                attest_verdict_done(&v);
                certs_free(&certs);
        }
}

/* No public Turin report: a synthesized v3 Turin report with the VCEK's hwID and TCB shows the chain
 * and the extensions verify (the signature cannot). */
static void test_turin_vcek(void **state) {
        const struct attest_trust trust = { .time = T_2025_06_01 };
        uint8_t report[SNP_REPORT_SIZE] = {};
        static const uint8_t hwid[8] = { 0x1E, 0x55, 0x0A, 0x8E, 0xE5, 0xCF, 0x9F, 0x4D };
        STACK_OF(X509) *certs = evidence("snp/turin-virtee-vcek.der", "snp/certs/ask_ark_turin.pem");
        struct attest_verdict v;

        put_le32(report + 0x0, 3);
        put_le32(report + 0x34, 1);
        put_le64(report + 0x180, 0x0900000000000000);   /* fmc 0, bl 0, tee 0, snp 0, microcode 9 */
        report[0x188] = 0x1A;
        memcpy(report + 0x1A0, hwid, sizeof(hwid));

        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_false(has_failure(&v, "snp-chain"));
        assert_false(has_failure(&v, "snp-vcek-tcb"));
        assert_false(has_failure(&v, "snp-vcek-chip-id"));
        assert_true(has_failure(&v, "snp-signature"));
        assert_int_equal(n_failures(&v), 1);
        assert_true(json_object_object_get_ex(claim(&v, "tcb"), "fmc", NULL));
        attest_verdict_done(&v);

        /* A Turin VCEK with a report of CPUID family 0x19 (Milan) does not match. */
        report[0x188] = 0x19;
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-vcek-tcb"));
        attest_verdict_done(&v);
        certs_free(&certs);

        /* The Milan chain does not issue it. */
        report[0x188] = 0x1A;
        certs = evidence("snp/turin-virtee-vcek.der", "snp/certs/ask_ark_milan.pem");
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        attest_verdict_done(&v);
        certs_free(&certs);
}

static void test_tampered(void **state) {
        static const size_t offsets[] = { 0x04, 0x10, 0x50, 0x95, 0xC0, 0x140, 0x1E0, 0x208, 0x29F };
        const struct attest_trust trust = { .time = T_2025_06_01 };
        _cleanup_free_ uint8_t *buf = NULL;
        STACK_OF(X509) *certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_milan.pem");
        struct attest_verdict v;
        size_t n;

        buf = testdata_read("snp/milan-virtee-report.bin", &n);
        for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
                buf[offsets[i]] ^= 0x01;
                assert_int_equal(verify(buf, certs, "{\"allow-debug\": true}", &trust, &v), 0);
                assert_true(has_failure(&v, "snp-signature"));
                assert_false(has_failure(&v, "snp-chain"));
                attest_verdict_done(&v);
                buf[offsets[i]] ^= 0x01;
        }

        /* R and S themselves. */
        buf[0x2A0] ^= 0x01;
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);
        buf[0x2A0] ^= 0x01;
        buf[0x2E8 + 10] ^= 0x80;
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);
        buf[0x2E8 + 10] ^= 0x80;

        /* The reserved tail of the signature field is not signed. */
        buf[0x400] ^= 0x01;
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(attest_verdict_pass(&v));
        attest_verdict_done(&v);
        buf[0x400] ^= 0x01;

        /* An algorithm other than ECDSA P-384 is refused. */
        buf[0x34] = 2;
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);
        certs_free(&certs);
}

static void test_malformed(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct snp_report r;
        size_t n;

        buf = testdata_read("snp/milan-virtee-report.bin", &n);
        assert_int_equal(snp_report_parse(buf, n - 1, &r), -EBADMSG);
        assert_int_equal(snp_report_parse(buf, 0x2A0, &r), -EBADMSG);
        assert_int_equal(snp_report_parse(buf, 0, &r), -EBADMSG);
        assert_int_equal(snp_report_parse(NULL, n, &r), -EBADMSG);
        {
                uint8_t longer[SNP_REPORT_SIZE + 1] = {};

                memcpy(longer, buf, n);
                assert_int_equal(snp_report_parse(longer, sizeof(longer), &r), -EBADMSG);
        }
        for (uint32_t version = 0; version < 8; version++) {
                buf[0] = (uint8_t) version;
                assert_int_equal(snp_report_parse(buf, n, &r), version >= 2 && version <= 5 ? 0 : -EBADMSG);
        }
        buf[0] = 2;
        buf[1] = 1;   /* version 0x102 */
        assert_int_equal(snp_report_parse(buf, n, &r), -EBADMSG);
}

static void test_policy(void **state) {
        static const char *const malformed[] = {
                "[]",
                "{\"unknown\": 1}",
                "{\"measurements\": \"00\"}",
                "{\"measurements\": [\"0011\"]}",
                "{\"measurements\": [\"zz\"]}",
                "{\"measurements\": [1]}",
                "{\"allow-debug\": \"no\"}",
                "{\"allow-debug\": 0}",
                "{\"vmpl\": 4}",
                "{\"vmpl\": -1}",
                "{\"vmpl\": \"0\"}",
                "{\"min-tcb\": 3}",
                "{\"min-tcb\": {\"bios\": 1}}",
                "{\"min-tcb\": {\"snp\": 256}}",
                "{\"min-tcb\": {\"snp\": \"8\"}}",
                "{\"host-data\": \"00\"}",
                "{\"host-data\": 0}",
        };
        const struct attest_trust trust = { .time = T_2025_06_01 };
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *meas = NULL, *policy = NULL;
        STACK_OF(X509) *certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_milan.pem");
        struct attest_verdict v;
        size_t n;

        buf = testdata_read("snp/milan-virtee-report.bin", &n);
        meas = hex_encode(buf + 0x90, 48);
        assert_non_null(meas);

        /* Every member set, all satisfied. */
        assert_true(asprintf(&policy,
                             "{\"measurements\": [\"%0*d\", \"%s\"], \"allow-debug\": false, \"vmpl\": 0,"
                             " \"min-tcb\": {\"bootloader\": 3, \"tee\": 0, \"snp\": 8, \"microcode\": 115},"
                             " \"host-data\": \"%0*d\"}", 96, 0, meas, 64, 0) > 0);
        assert_int_equal(verify(buf, certs, policy, &trust, &v), 0);
        assert_true(attest_verdict_pass(&v));
        attest_verdict_done(&v);

        assert_int_equal(verify(buf, certs, "{\"measurements\": [\"" "00112233445566778899aabbccddeeff"
                                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"]}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-measurement"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        assert_int_equal(verify(buf, certs, "{\"measurements\": []}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-measurement"));
        attest_verdict_done(&v);

        assert_int_equal(verify(buf, certs, "{\"vmpl\": 1}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-vmpl"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        assert_int_equal(verify(buf, certs, "{\"min-tcb\": {\"microcode\": 116}}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-tcb"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        assert_int_equal(verify(buf, certs, "{\"min-tcb\": {\"snp\": 9, \"bootloader\": 4}}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-tcb"));
        assert_int_equal(n_failures(&v), 2);
        attest_verdict_done(&v);

        /* No FMC before Turin: a minimum above 0 cannot hold. */
        assert_int_equal(verify(buf, certs, "{\"min-tcb\": {\"fmc\": 1}}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-tcb"));
        attest_verdict_done(&v);

        assert_int_equal(verify(buf, certs, "{\"host-data\": \"01000000000000000000000000000000"
                                "00000000000000000000000000000000\"}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-host-data"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        /* DEBUG (policy bit 19) set: the policy refuses it, and the signature no longer holds. */
        buf[0x8 + 2] |= 0x08;
        assert_int_equal(verify(buf, certs, "{}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-debug"));
        assert_true(has_failure(&v, "snp-signature"));
        assert_int_equal(n_failures(&v), 2);
        assert_true(json_object_get_boolean(claim(&v, "debug")));
        attest_verdict_done(&v);
        assert_int_equal(verify(buf, certs, "{\"allow-debug\": true}", &trust, &v), 0);
        assert_false(has_failure(&v, "snp-debug"));
        assert_true(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);
        buf[0x8 + 2] &= (uint8_t) ~0x08;

        /* Malformed policies: -EBADMSG, and nothing is recorded. */
        for (size_t i = 0; i < ELEMENTSOF(malformed); i++) {
                print_message("policy %s\n", malformed[i]);
                assert_int_equal(verify(buf, certs, malformed[i], &trust, &v), -EBADMSG);
                assert_int_equal(n_failures(&v), 0);
                attest_verdict_done(&v);
        }
        certs_free(&certs);
}

static void test_wrong_ark_and_no_certs(void **state) {
        const struct attest_trust trust = { .time = T_2025_06_01 };
        _cleanup_free_ uint8_t *buf = NULL;
        STACK_OF(X509) *certs;
        struct attest_verdict v;
        size_t n;

        buf = testdata_read("snp/milan-virtee-report.bin", &n);

        certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_genoa.pem");
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_false(has_failure(&v, "snp-signature"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);
        certs_free(&certs);

        /* The VCEK alone: no ARK to chain to. */
        certs = evidence("snp/milan-virtee-vcek.der", NULL);
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        attest_verdict_done(&v);
        certs_free(&certs);

        /* Another chip's VCEK (a real one, with a good chain). */
        certs = evidence("snp/milan-trustee-vcek.der", "snp/certs/ask_ark_milan.pem");
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-signature"));
        assert_true(has_failure(&v, "snp-vcek-chip-id"));
        assert_false(has_failure(&v, "snp-chain"));
        attest_verdict_done(&v);
        certs_free(&certs);

        /* Only the CAs, or nothing at all. */
        certs = evidence(NULL, "snp/certs/ask_ark_milan.pem");
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(v.failures, 0)), "no VCEK"));
        attest_verdict_done(&v);
        certs_free(&certs);

        assert_int_equal(verify(buf, NULL, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        /* Expired: the VCEK's validity ends in 2030. */
        {
                const struct attest_trust later = { .time = (time_t) 2000000000 + 100000000 };

                certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_milan.pem");
                assert_int_equal(verify(buf, certs, NULL, &later, &v), 0);
                assert_true(has_failure(&v, "snp-chain"));
                attest_verdict_done(&v);
                certs_free(&certs);
        }
}

/* ---- a test root, a test VCEK, and reports signed by it ---- */

static EVP_PKEY *keygen(void) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

        assert_non_null(k);
        return k;
}

static void add_ext_conf(X509 *x, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *e;

        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
}

static void add_ext_raw(X509 *x, const char *oid, const uint8_t *p, size_t n) {
        ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509_EXTENSION *e;

        assert_non_null(obj);
        assert_non_null(os);
        assert_int_equal(ASN1_OCTET_STRING_set(os, p, (int) n), 1);
        e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca) {
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();

        assert_non_null(x);
        assert_non_null(name);
        assert_int_equal(X509_set_version(x, 2), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_subject_name(x, name), 1);
        assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
        X509_NAME_free(name);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -86400));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
        assert_int_equal(X509_set_pubkey(x, key), 1);
        if (ca) {
                add_ext_conf(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
                add_ext_conf(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign");
        }
        return x;
}

static void sign_cert(X509 *x, EVP_PKEY *issuer_key) {
        assert_true(X509_sign(x, issuer_key, EVP_sha384()) > 0);
}

/* Signs [0, 0x2A0) of report with key, R and S little-endian at 0x2A0 and 0x2E8. */
static void sign_report(uint8_t *report, EVP_PKEY *key) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t der[128];
        const uint8_t *p = der;
        size_t len = sizeof(der);
        ECDSA_SIG *sig;
        const BIGNUM *r, *s;

        assert_non_null(md);
        assert_int_equal(EVP_DigestSignInit_ex(md, NULL, "SHA384", NULL, NULL, key, NULL), 1);
        assert_int_equal(EVP_DigestSign(md, der, &len, report, SNP_SIGNED_SIZE), 1);
        EVP_MD_CTX_free(md);
        sig = d2i_ECDSA_SIG(NULL, &p, (long) len);
        assert_non_null(sig);
        ECDSA_SIG_get0(sig, &r, &s);
        assert_int_equal(BN_bn2lebinpad(r, report + 0x2A0, 72), 72);
        assert_int_equal(BN_bn2lebinpad(s, report + 0x2E8, 72), 72);
        ECDSA_SIG_free(sig);
}

struct test_pki {
        EVP_PKEY *root_key, *leaf_key;
        X509 *root, *leaf;
};

/* A root and a VCEK with the given product name, TCB SPLs (fmc < 0: none) and hwID extension bytes. */
static void test_pki_make(struct test_pki *t, const char *product, int fmc, uint8_t bl, uint8_t tee, uint8_t snp,
                          uint8_t ucode, const uint8_t *hwid, size_t hwid_size) {
        uint8_t product_der[32], spl[3] = { 0x02, 0x01, 0 };
        size_t plen = strlen(product);

        t->root_key = keygen();
        t->leaf_key = keygen();
        t->root = make_cert("cvmseal test ARK", t->root_key, NULL, NULL, true);
        sign_cert(t->root, t->root_key);
        t->leaf = make_cert("SEV-VCEK", t->leaf_key, t->root, t->root_key, false);

        product_der[0] = 0x16;   /* IA5String */
        product_der[1] = (uint8_t) plen;
        memcpy(product_der + 2, product, plen);
        add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.2", product_der, plen + 2);
        if (fmc >= 0) {
                spl[2] = (uint8_t) fmc;
                add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.3.9", spl, 3);
        }
        spl[2] = bl;
        add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.3.1", spl, 3);
        spl[2] = tee;
        add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.3.2", spl, 3);
        spl[2] = snp;
        add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.3.3", spl, 3);
        spl[2] = ucode;
        add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.3.8", spl, 3);
        add_ext_raw(t->leaf, "1.3.6.1.4.1.3704.1.4", hwid, hwid_size);
        sign_cert(t->leaf, t->root_key);
}

static void test_pki_done(struct test_pki *t) {
        X509_free(t->root);
        X509_free(t->leaf);
        EVP_PKEY_free(t->root_key);
        EVP_PKEY_free(t->leaf_key);
}

static STACK_OF(X509) *stack_of(X509 *a, X509 *b) {
        STACK_OF(X509) *sk = sk_X509_new_null();

        assert_non_null(sk);
        assert_true(sk_X509_push(sk, a) > 0);
        if (b)
                assert_true(sk_X509_push(sk, b) > 0);
        return sk;
}

/* An extra root is trusted for its own key only: it neither rescues the Milan VCEK under the Genoa
 * chain, nor trusts another certificate that merely bears its name. */
static void test_extra_root(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct test_pki t;
        STACK_OF(X509) *extra, *certs;
        EVP_PKEY *other_key = keygen();
        X509 *other_root;
        struct attest_trust trust = { .time = T_2025_06_01 };
        struct attest_verdict v;
        uint8_t report[SNP_REPORT_SIZE] = {}, hwid[64];
        size_t n;

        for (int b = 0; b < 64; b++)
                hwid[b] = (uint8_t) (0xA0 ^ b);
        test_pki_make(&t, "Milan-B0", -1, 3, 0, 8, 0x73, hwid, sizeof(hwid));
        extra = stack_of(t.root, NULL);
        trust.extra_roots = extra;

        assert_true(attest_root_trusted(&trust, ATTEST_ROOT_AMD_ARK, t.root));

        buf = testdata_read("snp/milan-virtee-report.bin", &n);
        certs = evidence("snp/milan-virtee-vcek.der", "snp/certs/ask_ark_genoa.pem");
        assert_int_equal(verify(buf, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        attest_verdict_done(&v);
        certs_free(&certs);

        /* A report signed by the test VCEK passes under the test root, and only then. */
        put_le32(report + 0x0, 2);
        put_le64(report + 0x8, 0x30000);
        put_le32(report + 0x34, 1);
        put_le64(report + 0x180, 0x7308000000000003);
        memcpy(report + 0x1A0, hwid, sizeof(hwid));
        sign_report(report, t.leaf_key);

        trust.time = 0;   /* the test certificates are valid around now */
        certs = stack_of(t.leaf, NULL);
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(attest_verdict_pass(&v));
        attest_verdict_done(&v);

        trust.extra_roots = NULL;
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_false(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);
        sk_X509_free(certs);

        /* Another key under the same name, trusted; the real root only travels with the evidence. */
        other_root = make_cert("cvmseal test ARK", other_key, NULL, NULL, true);
        sign_cert(other_root, other_key);
        trust.extra_roots = stack_of(other_root, NULL);
        assert_false(attest_root_trusted(&trust, ATTEST_ROOT_AMD_ARK, t.root));
        certs = stack_of(t.leaf, t.root);
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-chain"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);
        sk_X509_free(certs);
        sk_X509_free(trust.extra_roots);

        /* The hwID in its newer encoding (an OCTET STRING inside the extension) binds the same. */
        {
                struct test_pki t2;
                uint8_t wrapped[66] = { 0x04, 0x40 };

                memcpy(wrapped + 2, hwid, sizeof(hwid));
                test_pki_make(&t2, "Milan-B0", -1, 3, 0, 8, 0x73, wrapped, sizeof(wrapped));
                trust.extra_roots = stack_of(t2.root, NULL);
                sign_report(report, t2.leaf_key);
                certs = stack_of(t2.leaf, NULL);
                assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
                assert_true(attest_verdict_pass(&v));
                attest_verdict_done(&v);
                sk_X509_free(certs);
                sk_X509_free(trust.extra_roots);
                test_pki_done(&t2);
        }

        /* The same OCTET STRING with a long-form length is BER, not DER: refused. */
        {
                struct test_pki t2;
                uint8_t wrapped[67] = { 0x04, 0x81, 0x40 };

                memcpy(wrapped + 3, hwid, sizeof(hwid));
                test_pki_make(&t2, "Milan-B0", -1, 3, 0, 8, 0x73, wrapped, sizeof(wrapped));
                trust.extra_roots = stack_of(t2.root, NULL);
                sign_report(report, t2.leaf_key);
                certs = stack_of(t2.leaf, NULL);
                assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
                assert_true(has_failure(&v, "snp-vcek-chip-id"));
                assert_int_equal(n_failures(&v), 1);
                attest_verdict_done(&v);
                sk_X509_free(certs);
                sk_X509_free(trust.extra_roots);
                test_pki_done(&t2);
        }

        X509_free(other_root);
        EVP_PKEY_free(other_key);
        sk_X509_free(extra);
        test_pki_done(&t);
}

/* The Turin TCB layout (FMC byte 0, bootloader 1, TEE 2, SNP 3, microcode 7), 8-byte hwID. */
static void test_turin_layout(void **state) {
        static const uint8_t hwid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        struct test_pki t;
        struct attest_trust trust = {};
        struct attest_verdict v;
        uint8_t report[SNP_REPORT_SIZE] = {};
        STACK_OF(X509) *certs;
        json_object *tcb;

        test_pki_make(&t, "Turin", 1, 2, 3, 4, 5, hwid, sizeof(hwid));
        trust.extra_roots = stack_of(t.root, NULL);
        certs = stack_of(t.leaf, NULL);

        put_le32(report + 0x0, 3);
        put_le64(report + 0x8, 0x30000);
        put_le32(report + 0x30, 2);
        put_le32(report + 0x34, 1);
        put_le64(report + 0x180, 0x0500000004030201);
        report[0x188] = 0x1A;
        report[0x189] = 0x02;
        memcpy(report + 0x1A0, hwid, sizeof(hwid));
        report[0x1A0 + 20] = 0x55;   /* past Turin's 8 bytes: not part of the hwID */
        sign_report(report, t.leaf_key);

        assert_int_equal(verify(report, certs, "{\"vmpl\": 2, \"min-tcb\": {\"fmc\": 1, \"bootloader\": 2,"
                                " \"tee\": 3, \"snp\": 4, \"microcode\": 5}}", &trust, &v), 0);
        assert_true(attest_verdict_pass(&v));
        tcb = claim(&v, "tcb");
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "fmc")), 1);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "bootloader")), 2);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "tee")), 3);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "snp")), 4);
        assert_int_equal(json_object_get_int(json_object_object_get(tcb, "microcode")), 5);
        attest_verdict_done(&v);

        assert_int_equal(verify(report, certs, "{\"min-tcb\": {\"fmc\": 2}}", &trust, &v), 0);
        assert_true(has_failure(&v, "snp-tcb"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        /* A REPORTED_TCB in the Milan layout with the same numbers does not match the Turin VCEK. */
        put_le64(report + 0x180, 0x0504000000000302);
        sign_report(report, t.leaf_key);
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-vcek-tcb"));
        assert_false(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);

        /* The hwID is the chip id's first 8 bytes. */
        put_le64(report + 0x180, 0x0500000004030201);
        report[0x1A0 + 7] ^= 0xFF;
        sign_report(report, t.leaf_key);
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-vcek-chip-id"));
        assert_int_equal(n_failures(&v), 1);
        attest_verdict_done(&v);

        /* MASK_CHIP_ID: a zero chip id is not compared. */
        memset(report + 0x1A0, 0, 64);
        report[0x48] = 0x02;
        sign_report(report, t.leaf_key);
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(attest_verdict_pass(&v));
        attest_verdict_done(&v);

        /* SIGNING_KEY 7 (none) is never accepted. */
        report[0x48] = 7 << 2;
        sign_report(report, t.leaf_key);
        assert_int_equal(verify(report, certs, NULL, &trust, &v), 0);
        assert_true(has_failure(&v, "snp-signature"));
        attest_verdict_done(&v);

        assert_int_equal(le64_at(report + 0x180), 0x0500000004030201);
        sk_X509_free(certs);
        sk_X509_free(trust.extra_roots);
        test_pki_done(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_milan_reports),
                cmocka_unit_test(test_virtee_tcb_claims),
                cmocka_unit_test(test_vlek),
                cmocka_unit_test(test_hwid_encodings),
                cmocka_unit_test(test_turin_vcek),
                cmocka_unit_test(test_tampered),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_wrong_ark_and_no_certs),
                cmocka_unit_test(test_extra_root),
                cmocka_unit_test(test_turin_layout),
        };

        testdata_require();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
