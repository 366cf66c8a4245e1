/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The attestation gate (src/lib/attest/gate.c).  attest_policy_check(): a policy that goes into a token
 * is parsed strictly (unknown members, wrong types and values refused), may not carry the test-only
 * members "roots" and "time" (there is no build that allows them there: only `attest verify --policy`,
 * the operator's own file, honours them), and its digest is SHA-256 of its exact bytes.  attest_gate()
 * without a TPM (the sources of evidence are files here): a bad policy is refused before anything is
 * collected, the failed checks come back joined by "; ", malformed evidence is -EPROTO, and a genuine
 * SNP report of ../shared/testdata is refused because it does not answer this unlock's nonce. */
#include <errno.h>
#include <ftw.h>
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
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest.h"
#include "encoding.h"
#include "evidence.h"
#include "gate.h"
#include "macro.h"
#include "testdata.h"

#define MINIMAL "{\"version\":1,\"require\":[\"snp\"]}"
#define PCR7 "\"7\":\"0000000000000000000000000000000000000000000000000000000000000007\""

/* A self-signed certificate made with openssl for this file. */
static const char ROOT_PEM[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBjjCCATOgAwIBAgIUIoLLo/+jGg7QZ3CscCIleBazY4wwCgYIKoZIzj0EAwIw\n"
        "HDEaMBgGA1UEAwwRY3Ztc2VhbCB0ZXN0IHJvb3QwHhcNMjYxMjA2MDIzNTI2WhcN\n"
        "MzYxMjAzMDIzNTI2WjAcMRowGAYDVQQDDBFjdm1zZWFsIHRlc3Qgcm9vdDBZMBMG\n"
        "ByqGSM49AgEGCCqGSM49AwEHA0IABJwJLfJVSTSz6zClkxKRnJzqGcNC4N4K9P5z\n"
        "oP4T+qlomh3jb7TdrFVqqiW/kuzlHoDAvXD10sXGZA6liSrCYPKjUzBRMB0GA1Ud\n"
        "DgQWBBTSiV+/slPSiaKTLvrWv5uE0mnSqjAfBgNVHSMEGDAWgBTSiV+/slPSiaKT\n"
        "LvrWv5uE0mnSqjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDr\n"
        "bBScn/fFvcr/x0iaNXerM1hvjHLYEj1JhrD8pXppWQIhANHSBZuMEoWqPYYzDe5b\n"
        "qDzZ49j9kKkXnZA+hPHG7Sur\n"
        "-----END CERTIFICATE-----\n";

static char dir[64], conf[96], certs[96], tsm[96];
static bool testdata_missing;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int group_setup(void **state) {
        snprintf(dir, sizeof(dir), "/tmp/cvmseal-test-gate.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(conf, sizeof(conf), "%s/conf", dir);
        snprintf(certs, sizeof(certs), "%s/certs", dir);
        snprintf(tsm, sizeof(tsm), "%s/tsm", dir);
        assert_int_equal(mkdir(conf, 0700), 0);
        assert_int_equal(mkdir(certs, 0700), 0);
        assert_int_equal(mkdir(tsm, 0700), 0);
        /* No extra roots, an empty certificate cache, no event log. */
        assert_int_equal(setenv("CVMSEAL_CONFDIR", conf, 1), 0);
        assert_int_equal(setenv("CVMSEAL_CERT_CACHE", certs, 1), 0);
        assert_int_equal(setenv("CVMSEAL_EVENT_LOG", "", 1), 0);
        return 0;
}

static int group_teardown(void **state) {
        return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void sha256(const void *p, size_t n, uint8_t ret[32]) {
        unsigned k = 0;

        assert_int_equal(EVP_Digest(p, n, ret, &k, EVP_sha256(), NULL), 1);
}

static void write_file(const char *path, const void *p, size_t n) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}

/* ---- attest_policy_check() ---- */

static void expect_valid(const char *text) {
        uint8_t digest[32], want[32];
        int r = attest_policy_check(text, digest);

        if (r != 0)
                fail_msg("%s: refused (%d)", text, r);
        sha256(text, strlen(text), want);
        assert_memory_equal(digest, want, 32);
}

static void expect_bad_at(int line, const char *text) {
        uint8_t digest[32];
        int r;

        memset(digest, 0xaa, sizeof(digest));
        r = attest_policy_check(text, digest);
        if (r != -EBADMSG)
                fail_msg("line %d: %s: got %d, want -EBADMSG", line, text, r);
        for (size_t i = 0; i < sizeof(digest); i++)
                assert_int_equal(digest[i], 0xaa);          /* not written on failure */
}
#define expect_bad(text) expect_bad_at(__LINE__, text)

static void test_policy_valid(void **state) {
        expect_valid(MINIMAL);
        expect_valid("{\"version\":1,\"require\":[\"snp\",\"tdx\",\"azure-hcl\",\"tpm-quote\",\"event-log\"]}");
        expect_valid("{\"version\":1,\"require\":[\"tpm-quote\"],\"pcrs\":{\"sha256\":{" PCR7 "}}}");
        expect_valid("{\"version\":1,\"require\":[\"snp\"],\"snp\":{},\"tdx\":{},\"nonce\":\"00ff\"}");
}

/* The digest is over the exact bytes: a space, the order of members, a newline make another policy. */
static void test_policy_digest_exact_bytes(void **state) {
        /* The concatenations in parentheses are one string each (clang -Wstring-concatenation). */
        static const char *const same[] = {
                MINIMAL,
                "{\"version\": 1,\"require\":[\"snp\"]}",
                "{\"require\":[\"snp\"],\"version\":1}",
                (MINIMAL "\n"),
                ("\t" MINIMAL),
        };
        uint8_t d[ELEMENTSOF(same)][32];

        for (size_t i = 0; i < ELEMENTSOF(same); i++) {
                expect_valid(same[i]);
                assert_int_equal(attest_policy_check(same[i], d[i]), 0);
                for (size_t k = 0; k < i; k++)
                        assert_memory_not_equal(d[i], d[k], 32);
        }
}

static void test_policy_malformed(void **state) {
        /* Not a JSON object. */
        expect_bad("");
        expect_bad("{");
        expect_bad("{\"version\":1,\"require\":[\"snp\"]");
        expect_bad("[]");
        expect_bad("null");
        expect_bad("1");
        expect_bad("\"" MINIMAL "\"");

        /* version */
        expect_bad("{\"require\":[\"snp\"]}");
        expect_bad("{\"version\":\"1\",\"require\":[\"snp\"]}");
        expect_bad("{\"version\":2,\"require\":[\"snp\"]}");
        expect_bad("{\"version\":1.0,\"require\":[\"snp\"]}");
        /* require */
        expect_bad("{\"version\":1}");
        expect_bad("{\"version\":1,\"require\":[]}");
        expect_bad("{\"version\":1,\"require\":\"snp\"}");
        expect_bad("{\"version\":1,\"require\":[\"sgx\"]}");
        expect_bad("{\"version\":1,\"require\":[\"snp\",1]}");
        expect_bad("{\"version\":1,\"require\":[[\"snp\"]]}");
        expect_bad("{\"version\":1,\"require\":[\"SNP\"]}");
        /* unknown members, members of the wrong type */
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"comment\":\"x\"}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"Roots\":[]}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"snp\":\"x\"}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"tdx\":[]}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"pcrs\":\"7\"}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"pcrs\":{\"sha1\":{}}}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"pcrs\":{\"sha256\":{\"24\":\"00\"}}}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"pcrs\":{\"sha256\":{\"7\":\"00\"}}}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"nonce\":\"zz\"}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"nonce\":1}");
}

/* The test-only members, whatever their value: refused in a policy that goes into a token, though
 * the policy reader itself takes them (for `attest verify --policy`). */
static void test_policy_test_only_members(void **state) {
        _cleanup_free_ char *roots = NULL;
        static const char *const times[] = { "\"2025-06-01T00:00:00Z\"", "\"2038-01-19T03:14:08Z\"",
                                             "\"1970-01-01T00:00:00Z\"", "\"yesterday\"", "0" };
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        json_object *pem = json_object_new_string(ROOT_PEM);
        char text[256];

        assert_non_null(pem);
        assert_true(asprintf(&roots, "{\"version\":1,\"require\":[\"snp\"],\"roots\":[%s]}",
                             json_object_to_json_string(pem)) > 0);
        json_object_put(pem);

        j = json_tokener_parse(roots);
        assert_non_null(j);
        assert_int_equal(attest_policy_from_json(j, &p), 0);
        assert_non_null(p.roots);
        assert_int_equal(sk_X509_num(p.roots), 1);

        expect_bad(roots);
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"roots\":[]}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"roots\":[\"not a certificate\"]}");
        expect_bad("{\"version\":1,\"require\":[\"snp\"],\"roots\":\"x\"}");
        for (size_t i = 0; i < ELEMENTSOF(times); i++) {
                snprintf(text, sizeof(text), "{\"version\":1,\"require\":[\"snp\"],\"time\":%s}", times[i]);
                expect_bad(text);
        }
}

/* ---- attest_gate() ---- */

/* The gate with no TPM, the configfs-tsm source at tsm_dir ("": none). */
static int gate_n(const char *tsm_dir, const char *policy, size_t size, char **ret_failures, uint8_t ret_digest[32],
                  EVP_PKEY **ret_ak) {
        assert_int_equal(setenv("CVMSEAL_TSM_DIR", tsm_dir, 1), 0);
        return attest_gate(NULL, (const uint8_t *) policy, size, ret_failures, ret_digest, ret_ak);
}

static int gate(const char *tsm_dir, const char *policy, char **ret_failures, uint8_t ret_digest[32], EVP_PKEY **ret_ak) {
        return gate_n(tsm_dir, policy, strlen(policy), ret_failures, ret_digest, ret_ak);
}

static void test_gate_failures_joined(void **state) {
        static const char policy[] = "{\"version\":1,\"require\":[\"snp\",\"tdx\",\"azure-hcl\"]}";
        _cleanup_free_ char *failures = strdup("a stale message");
        EVP_PKEY *ak = (EVP_PKEY *) 0x1;
        uint8_t digest[32], want[32];

        assert_non_null(failures);
        assert_int_equal(gate("", policy, &failures, digest, &ak), -EBADE);
        assert_string_equal(failures,
                            "require: the policy requires an SNP report and the evidence has none; "
                            "require: the policy requires a TDX quote and the evidence has none; "
                            "require: the policy requires an Azure HCL report and the evidence has none; "
                            "evidence: nothing to verify: no SNP report, TDX quote or TPM quote");
        sha256(policy, strlen(policy), want);
        assert_memory_equal(digest, want, 32);
        assert_ptr_equal(ak, (EVP_PKEY *) 0x1);              /* written only on a pass */

        /* ret_failures is optional. */
        assert_int_equal(gate("", policy, NULL, digest, NULL), -EBADE);
}

/* A policy the gate refuses: -EBADMSG before anything is collected (no configfs-tsm entry made). */
static void test_gate_bad_policy(void **state) {
        static const char *const bad[] = {
                "{\"version\":1,\"require\":[\"snp\"],\"time\":\"2025-06-01T00:00:00Z\"}",
                "{\"version\":1,\"require\":[\"snp\"],\"roots\":[]}",
                "{\"version\":1,\"require\":[]}",
                "not json",
        };
        char *failures = NULL;
        uint8_t digest[32], want[32];
        char entry[160];
        struct stat st;

        snprintf(entry, sizeof(entry), "%s/cvmseal-%d", tsm, (int) getpid());
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(gate(tsm, bad[i], &failures, digest, NULL), -EBADMSG);
                assert_null(failures);
                assert_int_equal(stat(entry, &st), -1);
        }
        /* Only the policy_size bytes are the policy (and the digest is theirs). */
        assert_int_equal(gate_n("", MINIMAL "garbage", strlen(MINIMAL), &failures, digest, NULL), -EBADE);
        sha256(MINIMAL, strlen(MINIMAL), want);
        assert_memory_equal(digest, want, 32);
        free(failures);
}

/* A configfs-tsm entry as the kernel shows it (inblob, generation, provider, outblob). */
static void make_tsm_entry(const char *provider, const void *outblob, size_t size) {
        char entry[160], path[200];

        snprintf(entry, sizeof(entry), "%s/cvmseal-%d", tsm, (int) getpid());
        assert_int_equal(mkdir(entry, 0700), 0);
        snprintf(path, sizeof(path), "%s/inblob", entry);
        write_file(path, "", 0);
        snprintf(path, sizeof(path), "%s/generation", entry);
        write_file(path, "1\n", 2);
        snprintf(path, sizeof(path), "%s/provider", entry);
        write_file(path, provider, strlen(provider));
        snprintf(path, sizeof(path), "%s/outblob", entry);
        write_file(path, outblob, size);
}

static void remove_tsm_entry(void) {
        char entry[160];

        snprintf(entry, sizeof(entry), "%s/cvmseal-%d", tsm, (int) getpid());
        assert_int_equal(nftw(entry, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* What the platform gave is not an SNP report: -EPROTO (the evidence, not the token, is malformed). */
static void test_gate_malformed_evidence(void **state) {
        uint8_t junk[100] = { 1, 2, 3 };
        struct stat st;
        char *failures = NULL;
        uint8_t digest[32];
        char path[200];

        make_tsm_entry("sev_guest\n", junk, sizeof(junk));
        assert_int_equal(gate(tsm, MINIMAL, &failures, digest, NULL), -EPROTO);
        assert_null(failures);
        /* The gate wrote this unlock's nonce for the report (32 bytes, zero-padded to 64). */
        snprintf(path, sizeof(path), "%s/cvmseal-%d/inblob", tsm, (int) getpid());
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 64);
        remove_tsm_entry();
}

/* A genuine SNP report (with its VCEK and AMD's chain) that answers another nonce: refused, and only
 * for that. */
static void test_gate_replayed_report(void **state) {
        _cleanup_free_ uint8_t *report = NULL, *vcek_der = NULL, *chain = NULL;
        _cleanup_free_ char *failures = NULL, *hex = NULL, *policy = NULL;
        struct snp_report parsed;
        const uint8_t *p;
        uint8_t digest[32];
        size_t report_size, vcek_size, chain_size;
        char path[200];
        X509 *vcek;
        FILE *f;

        if (testdata_missing)
                skip();
        report = testdata_read("snp/milan-virtee-report.bin", &report_size);
        vcek_der = testdata_read("snp/milan-virtee-vcek.der", &vcek_size);
        chain = testdata_read("snp/certs/ask_ark_milan.pem", &chain_size);
        p = vcek_der;
        vcek = d2i_X509(NULL, &p, (long) vcek_size);
        assert_non_null(vcek);
        snprintf(path, sizeof(path), "%s/vcek.pem", certs);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(PEM_write_X509(f, vcek), 1);
        assert_int_equal(fclose(f), 0);
        X509_free(vcek);
        snprintf(path, sizeof(path), "%s/ask_ark_milan.pem", certs);
        write_file(path, chain, chain_size);

        make_tsm_entry("sev_guest\n", report, report_size);
        assert_int_equal(gate(tsm, MINIMAL, &failures, digest, NULL), -EBADE);
        assert_string_equal(failures, "freshness: the SNP report's REPORT_DATA is not the nonce");

        /* A policy that names the report's own REPORT_DATA as its nonce changes nothing: the gate
         * checks the nonce it made. */
        assert_int_equal(snp_report_parse(report, report_size, &parsed), 0);
        hex = hex_encode(parsed.report_data, 64);
        assert_non_null(hex);
        assert_true(asprintf(&policy, "{\"version\":1,\"require\":[\"snp\"],\"nonce\":\"%s\"}", hex) > 0);
        assert_int_equal(gate(tsm, policy, &failures, digest, NULL), -EBADE);
        assert_string_equal(failures, "freshness: the SNP report's REPORT_DATA is not the nonce");
        remove_tsm_entry();
        unlink(path);
        snprintf(path, sizeof(path), "%s/vcek.pem", certs);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_valid),
                cmocka_unit_test(test_policy_digest_exact_bytes),
                cmocka_unit_test(test_policy_malformed),
                cmocka_unit_test(test_policy_test_only_members),
                cmocka_unit_test(test_gate_failures_joined),
                cmocka_unit_test(test_gate_bad_policy),
                cmocka_unit_test(test_gate_malformed_evidence),
                cmocka_unit_test(test_gate_replayed_report),
        };
        char sums[4096];
        int r;

        snprintf(sums, sizeof(sums), "%s/SHA256SUMS", testdata_dir());
        testdata_missing = access(sums, F_OK) < 0;
        r = cmocka_run_group_tests(tests, group_setup, group_teardown);
        if (r == 0 && testdata_missing) {
                printf("SKIP: the test vectors are not there (%s): test_gate_replayed_report needs them; "
                       "the other tests passed\n", sums);
                return 77;
        }
        return r;
}
