/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The evidence and policy documents (src/lib/attest/evidence.h, docs/attestation-policy.md):
 * evidence_from_json() -> evidence_to_json() -> evidence_from_json() keeps every member's bytes
 * (synthetic members, and the real reports, quotes, event log and certificates of
 * ../shared/testdata); every member of the wrong type, encoding or length, an unknown member, a
 * version other than 1, a cut encoding, a foreign document is -EBADMSG.  The policy: its members,
 * the same refusals, the test-only members refused from the disk, and what it needs of the TPM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "encoding.h"
#include "evidence.h"
#include "macro.h"
#include "testdata.h"

static bool have_testdata;

/* ---- helpers ---- */

static json_object *parse_text(const char *s) {
        json_object *j = json_tokener_parse(s);

        if (!j)
                fail_msg("test bug: not JSON: %s", s);
        return j;
}

static int evidence_parse(json_object *j, struct evidence *e) {
        return evidence_from_json(j, e);
}

static int evidence_text(const char *s) {
        _cleanup_(json_object_putp) json_object *j = parse_text(s);
        _cleanup_(evidence_done) struct evidence e = {};

        return evidence_parse(j, &e);
}

static json_object *b64_string(const uint8_t *p, size_t n) {
        _cleanup_free_ char *s = base64_encode(p, n);

        assert_non_null(s);
        return json_object_new_string(s);
}

static json_object *hex_string(const uint8_t *p, size_t n) {
        _cleanup_free_ char *s = hex_encode(p, n);

        assert_non_null(s);
        return json_object_new_string(s);
}

static uint8_t *pattern(size_t n, uint8_t seed) {
        uint8_t *p = malloc(n ? n : 1);

        assert_non_null(p);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed + i * 7 + (i >> 8));
        return p;
}

/* A self-signed P-256 certificate, as PEM. */
static char *make_cert_pem(const char *cn) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        BIO *bio = BIO_new(BIO_s_mem());
        X509_NAME *name;
        char *data, *ret;
        long n;

        assert_non_null(key);
        assert_non_null(x);
        assert_non_null(bio);
        assert_int_equal(X509_set_version(x, 2), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
        name = X509_get_subject_name(x);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_issuer_name(x, name), 1);
        assert_int_equal(X509_set_pubkey(x, key), 1);
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        assert_int_equal(PEM_write_bio_X509(bio, x), 1);
        n = BIO_get_mem_data(bio, &data);
        ret = strndup(data, (size_t) n);
        assert_non_null(ret);
        BIO_free(bio);
        X509_free(x);
        EVP_PKEY_free(key);
        return ret;
}

static X509 *pem_cert(const char *pem) {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *x;

        assert_non_null(bio);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(x);
        return x;
}

static void assert_blob(const struct blob *b, const uint8_t *p, size_t n) {
        if (!p) {
                assert_null(b->data);
                assert_int_equal(b->size, 0);
                return;
        }
        assert_non_null(b->data);
        assert_int_equal(b->size, n);
        assert_memory_equal(b->data, p, n);
}

/* ---- a complete synthetic document ---- */

#define HCL_SIZE 2600
#define SNP_SIZE 1184
#define TDX_SIZE 5006
#define MSG_SIZE 145
#define SIG_SIZE 262
#define AK_SIZE 280
#define LOG_SIZE 3000

struct doc {
        uint8_t nonce[32];
        uint8_t *hcl, *snp, *tdx, *msg, *sig, *ak, *log;
        char *pem[2];
        char pcr0[65], pcr23[65];
};

static void doc_init(struct doc *d) {
        for (size_t i = 0; i < sizeof(d->nonce); i++)
                d->nonce[i] = (uint8_t) (0xc0 + i);
        d->hcl = pattern(HCL_SIZE, 1);
        d->snp = pattern(SNP_SIZE, 2);
        d->tdx = pattern(TDX_SIZE, 3);
        d->msg = pattern(MSG_SIZE, 4);
        d->sig = pattern(SIG_SIZE, 5);
        d->ak = pattern(AK_SIZE, 6);
        d->log = pattern(LOG_SIZE, 7);
        d->pem[0] = make_cert_pem("VCEK");
        d->pem[1] = make_cert_pem("ASK");
        memset(d->pcr0, 'a', 64);
        d->pcr0[64] = 0;
        memset(d->pcr23, 'F', 64);
        d->pcr23[64] = 0;
}

static void doc_done(struct doc *d) {
        free(d->hcl);
        free(d->snp);
        free(d->tdx);
        free(d->msg);
        free(d->sig);
        free(d->ak);
        free(d->log);
        free(d->pem[0]);
        free(d->pem[1]);
}

static json_object *doc_json(const struct doc *d) {
        json_object *j = json_object_new_object(), *q = json_object_new_object(), *p = json_object_new_object(),
                    *s = json_object_new_object(), *c = json_object_new_array();

        json_object_object_add(j, "version", json_object_new_int(1));
        json_object_object_add(j, "nonce", hex_string(d->nonce, sizeof(d->nonce)));
        json_object_object_add(j, "azure-hcl-report", b64_string(d->hcl, HCL_SIZE));
        json_object_object_add(j, "snp-report", b64_string(d->snp, SNP_SIZE));
        json_object_object_add(j, "tdx-quote", b64_string(d->tdx, TDX_SIZE));
        json_object_array_add(c, json_object_new_string(d->pem[0]));
        json_object_array_add(c, json_object_new_string(d->pem[1]));
        json_object_object_add(j, "certificates", c);
        json_object_object_add(q, "message", b64_string(d->msg, MSG_SIZE));
        json_object_object_add(q, "signature", b64_string(d->sig, SIG_SIZE));
        json_object_object_add(q, "ak-public", b64_string(d->ak, AK_SIZE));
        json_object_object_add(j, "tpm-quote", q);
        json_object_object_add(s, "0", json_object_new_string(d->pcr0));
        json_object_object_add(s, "23", json_object_new_string(d->pcr23));
        json_object_object_add(p, "sha256", s);
        json_object_object_add(j, "pcrs", p);
        json_object_object_add(j, "event-log", b64_string(d->log, LOG_SIZE));
        return j;
}

static void assert_doc(const struct doc *d, const struct evidence *e) {
        json_object *v;

        assert_int_equal(e->version, 1);
        assert_blob(&e->nonce, d->nonce, sizeof(d->nonce));
        assert_blob(&e->hcl_report, d->hcl, HCL_SIZE);
        assert_blob(&e->snp_report, d->snp, SNP_SIZE);
        assert_blob(&e->tdx_quote, d->tdx, TDX_SIZE);
        assert_true(e->has_quote);
        assert_blob(&e->quote_message, d->msg, MSG_SIZE);
        assert_blob(&e->quote_signature, d->sig, SIG_SIZE);
        assert_blob(&e->quote_ak, d->ak, AK_SIZE);
        assert_blob(&e->event_log, d->log, LOG_SIZE);
        assert_non_null(e->certificates);
        assert_int_equal(sk_X509_num(e->certificates), 2);
        for (int i = 0; i < 2; i++) {
                X509 *x = pem_cert(d->pem[i]);

                assert_int_equal(X509_cmp(x, sk_X509_value(e->certificates, i)), 0);
                X509_free(x);
        }
        assert_non_null(e->pcrs_sha256);
        assert_int_equal(json_object_object_length(e->pcrs_sha256), 2);
        assert_true(json_object_object_get_ex(e->pcrs_sha256, "0", &v));
        assert_string_equal(json_object_get_string(v), d->pcr0);
        assert_true(json_object_object_get_ex(e->pcrs_sha256, "23", &v));
        assert_string_equal(json_object_get_string(v), d->pcr23);
}

/* ---- evidence ---- */

static void test_round_trip(void **state) {
        _cleanup_(json_object_putp) json_object *j = NULL, *out1 = NULL, *out2 = NULL, *again = NULL;
        _cleanup_(evidence_done) struct evidence e1 = {}, e2 = {};
        struct doc d;

        doc_init(&d);
        j = doc_json(&d);
        assert_int_equal(evidence_parse(j, &e1), 0);
        assert_doc(&d, &e1);

        assert_int_equal(evidence_to_json(&e1, &out1), 0);
        /* Through text, as it travels. */
        again = parse_text(json_object_to_json_string_ext(out1, JSON_C_TO_STRING_PLAIN));
        assert_int_equal(evidence_parse(again, &e2), 0);
        assert_doc(&d, &e2);
        assert_int_equal(evidence_to_json(&e2, &out2), 0);
        assert_string_equal(json_object_to_json_string_ext(out1, JSON_C_TO_STRING_PLAIN),
                            json_object_to_json_string_ext(out2, JSON_C_TO_STRING_PLAIN));
        /* The same members as the input, and the same values. */
        assert_int_equal(json_object_object_length(out1), json_object_object_length(j));
        json_object_object_foreach(j, key, val) {
                json_object *o;

                assert_true(json_object_object_get_ex(out1, key, &o));
                if (json_object_is_type(val, json_type_string))
                        assert_string_equal(json_object_get_string(o), json_object_get_string(val));
        }
        doc_done(&d);
}

static void test_minimal(void **state) {
        _cleanup_(json_object_putp) json_object *j = parse_text("{\"version\": 1}"), *out = NULL;
        _cleanup_(evidence_done) struct evidence e = {};

        assert_int_equal(evidence_parse(j, &e), 0);
        assert_int_equal(e.version, 1);
        assert_null(e.nonce.data);
        assert_null(e.snp_report.data);
        assert_null(e.certificates);
        assert_null(e.pcrs_sha256);
        assert_false(e.has_quote);
        assert_int_equal(evidence_to_json(&e, &out), 0);
        assert_string_equal(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN), "{\"version\":1}");

        /* An empty certificate list and a quote without its optional AK. */
        evidence_done(&e);
        json_object_put(j);
        json_object_put(out);
        out = NULL;
        j = parse_text("{\"version\": 1, \"certificates\": [], \"tpm-quote\": {\"message\": \"AQID\", \"signature\": \"BAU=\"}}");
        assert_int_equal(evidence_parse(j, &e), 0);
        assert_non_null(e.certificates);
        assert_int_equal(sk_X509_num(e.certificates), 0);
        assert_true(e.has_quote);
        assert_blob(&e.quote_message, (const uint8_t *) "\1\2\3", 3);
        assert_blob(&e.quote_signature, (const uint8_t *) "\4\5", 2);
        assert_blob(&e.quote_ak, NULL, 0);
        assert_int_equal(evidence_to_json(&e, &out), 0);
        assert_string_equal(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
                            "{\"version\":1,\"tpm-quote\":{\"message\":\"AQID\",\"signature\":\"BAU=\"}}");
}

static void test_version_and_members(void **state) {
        static const char *const bad[] = {
                "{}",
                "{\"nonce\": \"00\"}",
                "{\"version\": 0}",
                "{\"version\": 2}",
                "{\"version\": -1}",
                "{\"version\": 4294967297}",
                "{\"version\": \"1\"}",
                "{\"version\": 1.0}",
                "{\"version\": true}",
                "{\"version\": null}",
                "{\"version\": [1]}",
                "{\"version\": 1, \"extra\": 1}",
                "{\"version\": 1, \"Nonce\": \"00\"}",
                "{\"version\": 1, \"pcr\": {}}",
                "{\"version\": 1, \"tpm-quote\": {\"message\": \"AQID\", \"signature\": \"BAU=\", \"ak\": \"AA==\"}}",
                "[{\"version\": 1}]",
                "\"version\"",
                "1",
        };
        _cleanup_(evidence_done) struct evidence e = {};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = evidence_text(bad[i]);

                if (r != -EBADMSG)
                        fail_msg("got %d, not -EBADMSG: %s", r, bad[i]);
        }
        assert_int_equal(evidence_from_json(NULL, &e), -EBADMSG);
}

static const struct blob *member_blob(const struct evidence *e, const char *key) {
        if (streq_ptr(key, "nonce"))
                return &e->nonce;
        if (streq_ptr(key, "azure-hcl-report"))
                return &e->hcl_report;
        if (streq_ptr(key, "snp-report"))
                return &e->snp_report;
        if (streq_ptr(key, "tdx-quote"))
                return &e->tdx_quote;
        if (streq_ptr(key, "event-log"))
                return &e->event_log;
        if (streq_ptr(key, "tpm-quote.message"))
                return &e->quote_message;
        if (streq_ptr(key, "tpm-quote.signature"))
                return &e->quote_signature;
        assert_string_equal(key, "tpm-quote.ak-public");
        return &e->quote_ak;
}

/* Each blob member: its type, its encoding, its length limits. */
static void test_blob_members(void **state) {
        static const struct {
                const char *key;        /* "tpm-quote.x": inside the quote */
                bool hex;
                size_t max;
        } members[] = {
                { "nonce", true, 64 },
                { "azure-hcl-report", false, 16384 },
                { "snp-report", false, 16384 },
                { "tdx-quote", false, 65536 },
                { "event-log", false, 1U << 20 },
                { "tpm-quote.message", false, 4096 },
                { "tpm-quote.signature", false, 4096 },
                { "tpm-quote.ak-public", false, 4096 },
        };
        static const char *const bad_hex[] = { "", "0", "abc", "zz", "0x00", "00 ", " 00", "00\n", "AQID" };
        static const char *const bad_b64[] = { "", "A", "AQI", "AQID\n", "AQ==AQ==", "AQ=", "AR==", "AQID====",
                                                "AQ-_", " AQID", "AQ\u00e9D" };
        struct doc d;

        doc_init(&d);
        for (size_t m = 0; m < ELEMENTSOF(members); m++) {
                const char *key = members[m].key, *dot = strchr(key, '.');
                const char *const *bad = members[m].hex ? bad_hex : bad_b64;
                size_t n_bad = members[m].hex ? ELEMENTSOF(bad_hex) : ELEMENTSOF(bad_b64);

                for (size_t i = 0; i < n_bad + 6 + 2; i++) {
                        _cleanup_(json_object_putp) json_object *j = doc_json(&d);
                        _cleanup_(evidence_done) struct evidence e = {};
                        json_object *parent = j, *v;
                        const char *name = key;
                        uint8_t *big = NULL;
                        int r, want = -EBADMSG;

                        if (dot) {
                                assert_true(json_object_object_get_ex(j, "tpm-quote", &parent));
                                name = dot + 1;
                        }
                        if (i < n_bad)
                                v = json_object_new_string(bad[i]);
                        else if (i < n_bad + 6) {
                                switch (i - n_bad) {
                                case 0: v = json_object_new_int(5); break;
                                case 1: v = NULL; break;                       /* JSON null */
                                case 2: v = json_object_new_object(); break;
                                case 3: v = json_object_new_array(); break;
                                case 4: v = json_object_new_boolean(1); break;
                                default: v = json_object_new_double(1.5); break;
                                }
                        } else {
                                /* The largest size, then one byte more. */
                                size_t n = members[m].max + (i - n_bad - 6);

                                big = pattern(n, 9);
                                v = members[m].hex ? hex_string(big, n) : b64_string(big, n);
                                want = i - n_bad - 6 == 0 ? 0 : -EBADMSG;
                        }
                        json_object_object_add(parent, name, v);
                        r = evidence_parse(j, &e);
                        if (r != want)
                                fail_msg("%s, case %zu: got %d, not %d", key, i, r, want);
                        if (r == 0)
                                assert_blob(member_blob(&e, key), big, members[m].max);
                        free(big);
                }
        }
        doc_done(&d);
}

/* Cutting a base64 member by 1-3 characters makes it non-canonical: refused, never a shorter blob. */
static void test_cut_encodings(void **state) {
        static const char *const keys[] = { "azure-hcl-report", "snp-report", "tdx-quote", "event-log", "nonce" };
        struct doc d;

        doc_init(&d);
        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                for (size_t cut = 1; cut <= 3; cut++) {
                        _cleanup_(json_object_putp) json_object *j = doc_json(&d);
                        _cleanup_(evidence_done) struct evidence e = {};
                        json_object *v;
                        char *s;
                        int r;

                        assert_true(json_object_object_get_ex(j, keys[k], &v));
                        s = strdup(json_object_get_string(v));
                        assert_non_null(s);
                        s[strlen(s) - cut] = 0;
                        json_object_object_add(j, keys[k], json_object_new_string(s));
                        free(s);
                        r = evidence_parse(j, &e);
                        /* A hex nonce cut by two digits is a shorter, valid nonce. */
                        if (strcmp(keys[k], "nonce") == 0 && cut == 2) {
                                assert_int_equal(r, 0);
                                assert_int_equal(e.nonce.size, 31);
                        } else if (r != -EBADMSG)
                                fail_msg("%s cut by %zu: got %d", keys[k], cut, r);
                }
        doc_done(&d);
}

static void test_certificates(void **state) {
        struct doc d;

        doc_init(&d);
        for (int i = 0; i < 8; i++) {
                _cleanup_(json_object_putp) json_object *j = doc_json(&d);
                _cleanup_(evidence_done) struct evidence e = {};
                json_object *c = json_object_new_array();
                char *half;

                switch (i) {
                case 0:         /* 17 certificates */
                        for (int k = 0; k < 17; k++)
                                json_object_array_add(c, json_object_new_string(d.pem[k % 2]));
                        break;
                case 1:
                        json_object_array_add(c, json_object_new_string(d.pem[0]));
                        json_object_array_add(c, json_object_new_int(1));
                        break;
                case 2:
                        json_object_array_add(c, json_object_new_string("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                                        "-----END CERTIFICATE-----\n"));
                        break;
                case 3:
                        json_object_array_add(c, json_object_new_string(""));
                        break;
                case 4:         /* a cut PEM */
                        half = strndup(d.pem[0], strlen(d.pem[0]) / 2);
                        assert_non_null(half);
                        json_object_array_add(c, json_object_new_string(half));
                        free(half);
                        break;
                case 5:
                        json_object_array_add(c, NULL);
                        break;
                case 6:
                        json_object_put(c);
                        c = json_object_new_string(d.pem[0]);  /* not in an array */
                        break;
                default:
                        json_object_put(c);
                        c = json_object_new_object();
                        break;
                }
                json_object_object_add(j, "certificates", c);
                if (evidence_parse(j, &e) != -EBADMSG)
                        fail_msg("certificates case %d accepted", i);
        }

        /* 16 are fine. */
        {
                _cleanup_(json_object_putp) json_object *j = doc_json(&d);
                _cleanup_(evidence_done) struct evidence e = {};
                json_object *c = json_object_new_array();

                for (int k = 0; k < 16; k++)
                        json_object_array_add(c, json_object_new_string(d.pem[k % 2]));
                json_object_object_add(j, "certificates", c);
                assert_int_equal(evidence_parse(j, &e), 0);
                assert_int_equal(sk_X509_num(e.certificates), 16);
        }
        doc_done(&d);
}

static void test_tpm_quote(void **state) {
        static const char *const bad[] = {
                "{\"version\": 1, \"tpm-quote\": \"AQID\"}",
                "{\"version\": 1, \"tpm-quote\": []}",
                "{\"version\": 1, \"tpm-quote\": null}",
                "{\"version\": 1, \"tpm-quote\": {}}",
                "{\"version\": 1, \"tpm-quote\": {\"message\": \"AQID\"}}",
                "{\"version\": 1, \"tpm-quote\": {\"signature\": \"AQID\"}}",
                "{\"version\": 1, \"tpm-quote\": {\"ak-public\": \"AQID\"}}",
                "{\"version\": 1, \"tpm-quote\": {\"message\": \"AQID\", \"signature\": \"\"}}",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (evidence_text(bad[i]) != -EBADMSG)
                        fail_msg("accepted: %s", bad[i]);
}

#define H64 "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const bad_pcrs[] = {
        "[]",
        "\"sha256\"",
        "{}",
        "{\"sha1\": {}}",
        "{\"sha256\": {}, \"sha1\": {}}",
        "{\"sha256\": []}",
        "{\"sha256\": null}",
        "{\"sha256\": {\"24\": \"" H64 "\"}}",
        "{\"sha256\": {\"-1\": \"" H64 "\"}}",
        "{\"sha256\": {\"07\": \"" H64 "\"}}",
        "{\"sha256\": {\"00\": \"" H64 "\"}}",
        "{\"sha256\": {\"\": \"" H64 "\"}}",
        "{\"sha256\": {\"x7\": \"" H64 "\"}}",
        "{\"sha256\": {\"7x\": \"" H64 "\"}}",
        "{\"sha256\": {\"0x7\": \"" H64 "\"}}",
        "{\"sha256\": {\"99999999999999999999\": \"" H64 "\"}}",
        "{\"sha256\": {\"7\": 7}}",
        "{\"sha256\": {\"7\": null}}",
        "{\"sha256\": {\"7\": \"" H64 "00\"}}",
        "{\"sha256\": {\"7\": \"00\"}}",
        "{\"sha256\": {\"7\": \"\"}}",
        "{\"sha256\": {\"7\": \"g" H64 "\"}}",
        /* Not the canonical decimal of a PCR number (verify.c and quote.c look up "7"). */
        "{\"sha256\": {\"+7\": \"" H64 "\"}}",
        "{\"sha256\": {\" 7\": \"" H64 "\"}}",
        "{\"sha256\": {\"\\t7\": \"" H64 "\"}}",
        "{\"sha256\": {\"-0\": \"" H64 "\"}}",
        "{\"sha256\": {\"+0\": \"" H64 "\"}}",
};

static void test_pcrs(void **state) {
        char doc[512];

        for (size_t i = 0; i < ELEMENTSOF(bad_pcrs); i++) {
                int r;

                snprintf(doc, sizeof(doc), "{\"version\": 1, \"pcrs\": %s}", bad_pcrs[i]);
                r = evidence_text(doc);
                if (r != -EBADMSG)
                        fail_msg("got %d, not -EBADMSG: %s", r, bad_pcrs[i]);
        }
        assert_int_equal(evidence_text("{\"version\": 1, \"pcrs\": {\"sha256\": {}}}"), 0);
        assert_int_equal(evidence_text("{\"version\": 1, \"pcrs\": {\"sha256\": {\"0\": \"" H64 "\", \"23\": \""
                                       H64 "\", \"10\": \"" H64 "\"}}}"), 0);
}

/* ---- the real vectors ---- */

static char *read_text(const char *name) {
        size_t n;

        return (char *) testdata_read(name, &n);
}

static void test_testdata(void **state) {
        static const struct {
                const char *key, *file;
        } blobs[] = {
                { "azure-hcl-report", "azure/az-tdx-hcl-report.bin" },
                { "snp-report", "snp/milan-virtee-report.bin" },
                { "tdx-quote", "tdx/tdx-quote-v4-spr.dat" },
                { "event-log", "eventlog/event-arch-linux.bin" },
        };
        _cleanup_(json_object_putp) json_object *j = json_object_new_object(), *out = NULL, *again = NULL;
        _cleanup_(evidence_done) struct evidence e = {}, e2 = {};
        _cleanup_free_ char *pem = NULL;
        uint8_t *data[ELEMENTSOF(blobs)];
        size_t size[ELEMENTSOF(blobs)];
        json_object *c = json_object_new_array();
        char *p;

        if (!have_testdata) {
                printf("SKIP test_testdata: the test vectors are not there (%s): they live in ../shared/testdata\n",
                       testdata_dir());
                skip();
        }
        json_object_object_add(j, "version", json_object_new_int(1));
        for (size_t i = 0; i < ELEMENTSOF(blobs); i++) {
                data[i] = testdata_read(blobs[i].file, &size[i]);
                json_object_object_add(j, blobs[i].key, b64_string(data[i], size[i]));
        }
        /* The ASK and ARK, one PEM string each. */
        pem = read_text("snp/certs/ask_ark_milan.pem");
        p = strstr(pem, "-----END CERTIFICATE-----");
        assert_non_null(p);
        p += strlen("-----END CERTIFICATE-----\n");
        json_object_array_add(c, json_object_new_string_len(pem, (int) (p - pem)));
        json_object_array_add(c, json_object_new_string(p));
        json_object_object_add(j, "certificates", c);

        assert_int_equal(evidence_parse(j, &e), 0);
        assert_blob(&e.hcl_report, data[0], size[0]);
        assert_blob(&e.snp_report, data[1], size[1]);
        assert_blob(&e.tdx_quote, data[2], size[2]);
        assert_blob(&e.event_log, data[3], size[3]);
        assert_int_equal(sk_X509_num(e.certificates), 2);
        {
                char cn[64];

                X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(e.certificates, 0)), NID_commonName,
                                          cn, sizeof(cn));
                assert_string_equal(cn, "SEV-Milan");
                X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(e.certificates, 1)), NID_commonName,
                                          cn, sizeof(cn));
                assert_string_equal(cn, "ARK-Milan");
        }

        assert_int_equal(evidence_to_json(&e, &out), 0);
        again = parse_text(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
        assert_int_equal(evidence_parse(again, &e2), 0);
        assert_blob(&e2.hcl_report, data[0], size[0]);
        assert_blob(&e2.snp_report, data[1], size[1]);
        assert_blob(&e2.tdx_quote, data[2], size[2]);
        assert_blob(&e2.event_log, data[3], size[3]);
        assert_int_equal(sk_X509_num(e2.certificates), 2);
        for (int i = 0; i < 2; i++)
                assert_int_equal(X509_cmp(sk_X509_value(e.certificates, i), sk_X509_value(e2.certificates, i)), 0);
        for (size_t i = 0; i < ELEMENTSOF(blobs); i++)
                free(data[i]);

        /* Trustee's Azure evidence is another format: refused, not half-read. */
        for (int v = 0; v < 2; v++) {
                _cleanup_(json_object_putp) json_object *t = NULL;
                _cleanup_(evidence_done) struct evidence te = {};
                _cleanup_free_ char *text = read_text(v ? "azure/az-snp-vtpm-evidence-v1.json"
                                                        : "azure/az-snp-vtpm-evidence-v0.json");

                t = parse_text(text);
                assert_int_equal(evidence_parse(t, &te), -EBADMSG);
                assert_null(te.hcl_report.data);
        }
}

/* ---- the policy ---- */

static int policy_text(const char *s, struct attest_policy *p) {
        _cleanup_(json_object_putp) json_object *j = parse_text(s);

        return attest_policy_from_json(j, p);
}

static void test_policy(void **state) {
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        _cleanup_free_ char *pem = make_cert_pem("test root"), *doc = NULL;
        _cleanup_(json_object_putp) json_object *roots = json_object_new_array();
        enum attest_quote quote;
        uint32_t mask;
        bool log_pcrs;

        json_object_array_add(roots, json_object_new_string(pem));
        assert_true(asprintf(&doc, "{\"version\": 1, \"require\": [\"snp\", \"tdx\", \"azure-hcl\", \"tpm-quote\", "
                             "\"event-log\"], \"snp\": {\"debug\": false}, \"tdx\": {}, \"pcrs\": {\"sha256\": "
                             "{\"7\": \"" H64 "\", \"14\": \"" H64 "\"}}, \"nonce\": \"c0ffee\", \"roots\": %s, "
                             "\"time\": \"2025-06-01T00:00:00Z\"}",
                             json_object_to_json_string(roots)) > 0);
        assert_int_equal(policy_text(doc, &p), 0);
        assert_int_equal(p.version, 1);
        assert_int_equal(p.require, REQUIRE_SNP | REQUIRE_TDX | REQUIRE_AZURE_HCL | REQUIRE_TPM_QUOTE | REQUIRE_EVENT_LOG);
        assert_non_null(p.snp);
        assert_non_null(p.tdx);
        assert_non_null(p.pcrs_sha256);
        assert_blob(&p.nonce, (const uint8_t *) "\xc0\xff\xee", 3);
        assert_int_equal(sk_X509_num(p.roots), 1);
        assert_int_equal(p.time, 1748736000);      /* date -u -d 2025-06-01 +%s */
        assert_int_equal(attest_policy_check_from_disk(&p), -EBADMSG);
        attest_policy_quote(&p, &quote, &mask, &log_pcrs);
        assert_int_equal(quote, ATTEST_QUOTE_MASK);
        assert_int_equal(mask, (1U << 7) | (1U << 14));
        assert_true(log_pcrs);

        /* roots alone, time alone: both refused from the disk. */
        sk_X509_pop_free(p.roots, X509_free);
        p.roots = NULL;
        assert_int_equal(attest_policy_check_from_disk(&p), -EBADMSG);
        p.time = 0;
        assert_int_equal(attest_policy_check_from_disk(&p), 0);
        attest_policy_done(&p);

        /* What the policy needs of the TPM. */
        assert_int_equal(policy_text("{\"version\": 1, \"require\": [\"azure-hcl\"]}", &p), 0);
        assert_int_equal(attest_policy_check_from_disk(&p), 0);
        attest_policy_quote(&p, &quote, &mask, &log_pcrs);
        assert_int_equal(quote, ATTEST_QUOTE_NONE);
        assert_int_equal(mask, 0);
        assert_false(log_pcrs);
        attest_policy_done(&p);
        assert_int_equal(policy_text("{\"version\": 1, \"require\": [\"tpm-quote\"]}", &p), 0);
        attest_policy_quote(&p, &quote, &mask, &log_pcrs);
        assert_int_equal(quote, ATTEST_QUOTE_MASK);
        assert_int_equal(mask, 0);
        assert_false(log_pcrs);
        attest_policy_done(&p);
        assert_int_equal(policy_text("{\"version\": 1, \"require\": [\"snp\"], \"pcrs\": {\"sha256\": {\"0\": \"" H64
                                     "\", \"23\": \"" H64 "\"}}}", &p), 0);
        attest_policy_quote(&p, &quote, &mask, &log_pcrs);
        assert_int_equal(quote, ATTEST_QUOTE_MASK);
        assert_int_equal(mask, (1U << 0) | (1U << 23));
        assert_false(log_pcrs);
        attest_policy_done(&p);
        assert_int_equal(policy_text("{\"version\": 1, \"require\": [\"event-log\", \"event-log\"]}", &p), 0);
        attest_policy_quote(&p, &quote, &mask, &log_pcrs);
        assert_int_equal(quote, ATTEST_QUOTE_MASK);
        assert_true(log_pcrs);
}

static void test_policy_refused(void **state) {
        static const char *const bad[] = {
                "[]",
                "{\"require\": [\"snp\"]}",
                "{\"version\": 2, \"require\": [\"snp\"]}",
                "{\"version\": \"1\", \"require\": [\"snp\"]}",
                "{\"version\": 1}",
                "{\"version\": 1, \"require\": []}",
                "{\"version\": 1, \"require\": \"snp\"}",
                "{\"version\": 1, \"require\": [\"sev\"]}",
                "{\"version\": 1, \"require\": [\"snp\", \"SNP\"]}",
                "{\"version\": 1, \"require\": [1]}",
                "{\"version\": 1, \"require\": [null]}",
                "{\"version\": 1, \"require\": [[\"snp\"]]}",
                "{\"version\": 1, \"require\": [\"snp\"], \"extra\": 1}",
                "{\"version\": 1, \"require\": [\"snp\"], \"snp\": []}",
                "{\"version\": 1, \"require\": [\"snp\"], \"snp\": \"debug\"}",
                "{\"version\": 1, \"require\": [\"tdx\"], \"tdx\": 1}",
                "{\"version\": 1, \"require\": [\"snp\"], \"nonce\": \"xyz\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"nonce\": \"\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"nonce\": \"" H64 H64 "00\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"roots\": \"pem\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"roots\": [\"not a certificate\"]}",
                "{\"version\": 1, \"require\": [\"snp\"], \"roots\": [1]}",
                "{\"version\": 1, \"require\": [\"snp\"], \"time\": 1748736000}",
                "{\"version\": 1, \"require\": [\"snp\"], \"time\": \"2025-06-01\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"time\": \"2025-06-01T00:00:00\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"time\": \"2025-06-01T00:00:00+01:00\"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"time\": \"2025-06-01T00:00:00Z \"}",
                "{\"version\": 1, \"require\": [\"snp\"], \"time\": \"yesterday\"}",
        };
        char doc[512];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(attest_policy_done) struct attest_policy p = {};
                int r = policy_text(bad[i], &p);

                if (r != -EBADMSG)
                        fail_msg("got %d, not -EBADMSG: %s", r, bad[i]);
                assert_int_equal(p.require, 0);
        }
        /* The same PCR reader as the evidence's. */
        for (size_t i = 0; i < ELEMENTSOF(bad_pcrs); i++) {
                _cleanup_(attest_policy_done) struct attest_policy p = {};
                int r;

                snprintf(doc, sizeof(doc), "{\"version\": 1, \"require\": [\"snp\"], \"pcrs\": %s}", bad_pcrs[i]);
                r = policy_text(doc, &p);
                if (r != -EBADMSG)
                        fail_msg("got %d, not -EBADMSG: %s", r, bad_pcrs[i]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_version_and_members),
                cmocka_unit_test(test_blob_members),
                cmocka_unit_test(test_cut_encodings),
                cmocka_unit_test(test_certificates),
                cmocka_unit_test(test_tpm_quote),
                cmocka_unit_test(test_pcrs),
                cmocka_unit_test(test_testdata),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_policy_refused),
        };
        char path[4096];
        FILE *f;
        int r;

        snprintf(path, sizeof(path), "%s/SHA256SUMS", testdata_dir());
        f = fopen(path, "re");
        have_testdata = f != NULL;
        if (f)
                fclose(f);

        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (r == 0 && !have_testdata) {
                printf("SKIP: the test vectors are not there (%s): they live in ../shared/testdata; the "
                       "synthetic cases passed\n", path);
                return 77;
        }
        return r;
}
