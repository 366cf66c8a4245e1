/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TDX quotes: the two real v4 quotes of ../shared/testdata verify (signature, QE report, PCK chain to
 * the pinned Intel SGX root); every byte that is signed is covered by a named check; every
 * truncation and bad length is -EBADMSG; the policy's checks are named; a chain that ends at a root
 * made here fails "tdx-chain" unless the policy trusts that root.  v5 quotes (no public vector) are
 * synthesized: a quote re-signed by an attestation key made here, whose QE report is re-signed by a
 * PCK chain made here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest.h"
#include "encoding.h"
#include "macro.h"
#include "testdata.h"

/* 2025-06-01T00:00:00Z: both PCK chains are valid (SPR PCK 2022-09-20..2029, Azure PCK
 * 2025-02-22..2032, PCK Platform CA 2018..2033, root 2018..2049). */
#define T_VALID ((time_t) 1748736000)
#define T_2035 ((time_t) 2051222400)   /* after the PCK Platform CA expired */
#define T_2021 ((time_t) 1609459200)   /* before the SPR PCK certificate was issued */

#define SPR_MRTD "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb"
#define AZ_MRTD "888b31b57a1cad6a358ce8c6a08f40198fa171596e01f70d5f360ee4798150983e55d2f89d804c3bfec06a44220c91b2"
#define OTHER_MRTD "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Offsets in a v4 quote. */
#define O_BODY 48U
#define O_TD_ATTRIBUTES (O_BODY + 120U)
#define O_MRTD (O_BODY + 136U)
#define O_RTMR0 (O_BODY + 328U)
#define O_SIG_SIZE (O_BODY + 584U)
#define O_SIG (O_SIG_SIZE + 4U)
#define O_AK (O_SIG + 64U)
#define O_CERT_TYPE (O_AK + 64U)
#define O_CERT_SIZE (O_CERT_TYPE + 2U)
#define O_QE_REPORT (O_CERT_SIZE + 4U)
#define O_QE_SIG (O_QE_REPORT + 384U)
#define O_AUTH_SIZE (O_QE_SIG + 64U)
#define O_AUTH (O_AUTH_SIZE + 2U)

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);

static void x509_stack_freep(STACK_OF(X509) **p) {
        if (*p)
                sk_X509_pop_free(*p, X509_free);
}

static uint8_t *spr, *az;          /* the SPR quote without go-tdx-guest's trailing marker; Azure's as is */
static size_t spr_size, spr_file_size, az_size;
static STACK_OF(X509) *intel_certs;   /* the SPR quote's PCK chain: leaf, platform CA, root */

/* Made here: an attestation key, and a PCK chain (root, CA, leaf) with Intel's names. */
static EVP_PKEY *test_ak, *fake_root_key, *fake_ca_key, *fake_pck_key;
static X509 *fake_root, *fake_ca, *fake_pck;

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint8_t *dup(const uint8_t *p, size_t n) {
        uint8_t *c = malloc(n ? n : 1);

        assert_non_null(c);
        memcpy(c, p, n);
        return c;
}

/* ---- verdict helpers ---- */

static bool has_failure(const struct attest_verdict *v, const char *check) {
        size_t n = strlen(check);

        for (size_t i = 0; i < json_object_array_length(v->failures); i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(v->failures, i));

                if (strncmp(s, check, n) == 0 && s[n] == ':')
                        return true;
        }
        return false;
}

/* Parses and verifies; the failures must be exactly the checks named (NULL-terminated list). */
static void expect_checks(const uint8_t *buf, size_t size, const char *policy, time_t t, STACK_OF(X509) *roots,
                          const char *const *checks) {
        _cleanup_(json_object_putp) json_object *p = policy ? json_tokener_parse(policy) : NULL;
        struct attest_trust trust = { .time = t, .extra_roots = roots };
        struct attest_verdict v;
        struct tdx_quote q;
        size_t n = 0;

        if (policy)
                assert_non_null(p);
        assert_int_equal(tdx_quote_parse(buf, size, &q), 0);
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(tdx_verify(&q, p, &trust, &v), 0);
        for (const char *const *c = checks; *c; c++, n++)
                if (!has_failure(&v, *c))
                        fail_msg("expected a failure of %s; failures: %s", *c, json_object_to_json_string(v.failures));
        if (json_object_array_length(v.failures) != n)
                fail_msg("expected %zu failures; failures: %s", n, json_object_to_json_string(v.failures));
        assert_true(attest_verdict_pass(&v) == (n == 0));
        attest_verdict_done(&v);
}

#define EXPECT(buf, size, policy, t, roots, ...) \
        expect_checks(buf, size, policy, t, roots, (const char *const[]) { __VA_ARGS__, NULL })
#define EXPECT_PASS(buf, size, policy, t, roots) \
        expect_checks(buf, size, policy, t, roots, (const char *const[]) { NULL })

/* A copy of buf with one byte changed, expecting the checks named. */
static void flip(const uint8_t *buf, size_t size, size_t off, uint8_t mask, const char *const *checks) {
        _cleanup_free_ uint8_t *c = dup(buf, size);

        c[off] ^= mask;
        ERR_clear_error();
        expect_checks(c, size, NULL, T_VALID, NULL, checks);
        /* A failed check is a verdict, not an OpenSSL error left behind for the caller. */
        assert_int_equal(ERR_peek_error(), 0);
}

#define FLIP(buf, size, off, ...) flip(buf, size, off, 0x01, (const char *const[]) { __VA_ARGS__, NULL })

static int parse_mutated(const uint8_t *buf, size_t size, size_t off, const uint8_t *bytes, size_t n) {
        _cleanup_free_ uint8_t *c = dup(buf, size);
        struct tdx_quote q;

        memcpy(c + off, bytes, n);
        return tdx_quote_parse(c, size, &q);
}

/* ---- building quotes ---- */

struct parts {
        uint16_t version, body_type;
        uint8_t header[48];
        uint8_t body[648];
        size_t body_size;
        uint8_t sig[64], ak[64];
        uint8_t qe_report[384], qe_sig[64];
        uint8_t auth[256];
        size_t auth_size;
        uint16_t pck_type;
        uint8_t *pck;   /* not owned */
        size_t pck_size;
};

static void parts_from(const uint8_t *buf, size_t size, struct parts *p) {
        struct tdx_quote q;

        assert_int_equal(tdx_quote_parse(buf, size, &q), 0);
        memset(p, 0, sizeof(*p));
        p->version = q.version;
        p->body_type = 2;
        memcpy(p->header, q.header, 48);
        memcpy(p->body, q.body, q.body_size);
        p->body_size = q.body_size;
        memcpy(p->sig, q.signature, 64);
        memcpy(p->ak, q.attestation_key, 64);
        memcpy(p->qe_report, q.qe_report, 384);
        memcpy(p->qe_sig, q.qe_report_signature, 64);
        assert_true(q.qe_auth_data_size <= sizeof(p->auth));
        memcpy(p->auth, q.qe_auth_data, q.qe_auth_data_size);
        p->auth_size = q.qe_auth_data_size;
        p->pck_type = 5;
        p->pck = (uint8_t *) q.cert_data;
        p->pck_size = q.cert_data_size;
}

static size_t signed_size(const struct parts *p) {
        return 48 + (p->version == 5 ? 6 : 0) + p->body_size;
}

static uint8_t *build(const struct parts *p, size_t *ret_size) {
        size_t qe_size = 384 + 64 + 2 + p->auth_size + 6 + p->pck_size;
        size_t sig_size = 64 + 64 + 6 + qe_size;
        size_t size = signed_size(p) + 4 + sig_size, o = 0;
        uint8_t *b = calloc(1, size);

        assert_non_null(b);
        memcpy(b, p->header, 48);
        put16(b, p->version);
        o = 48;
        if (p->version == 5) {
                put16(b + o, p->body_type);
                put32(b + o + 2, (uint32_t) p->body_size);
                o += 6;
        }
        memcpy(b + o, p->body, p->body_size);
        o += p->body_size;
        put32(b + o, (uint32_t) sig_size);
        o += 4;
        memcpy(b + o, p->sig, 64);
        memcpy(b + o + 64, p->ak, 64);
        o += 128;
        put16(b + o, 6);
        put32(b + o + 2, (uint32_t) qe_size);
        o += 6;
        memcpy(b + o, p->qe_report, 384);
        memcpy(b + o + 384, p->qe_sig, 64);
        put16(b + o + 448, (uint16_t) p->auth_size);
        o += 450;
        memcpy(b + o, p->auth, p->auth_size);
        o += p->auth_size;
        put16(b + o, p->pck_type);
        put32(b + o + 2, (uint32_t) p->pck_size);
        o += 6;
        memcpy(b + o, p->pck, p->pck_size);
        o += p->pck_size;
        assert_int_equal(o, size);
        *ret_size = size;
        return b;
}

/* ECDSA P-256 SHA-256, as r || s. */
static void sign_rs(EVP_PKEY *key, const uint8_t *data, size_t size, uint8_t rs[64]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        unsigned char der[80];
        const unsigned char *p = der;
        size_t n = sizeof(der);
        const BIGNUM *r, *s;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL), 1);
        assert_int_equal(EVP_DigestSign(ctx, der, &n, data, size), 1);
        sig = d2i_ECDSA_SIG(NULL, &p, (long) n);
        assert_non_null(sig);
        ECDSA_SIG_get0(sig, &r, &s);
        assert_int_equal(BN_bn2binpad(r, rs, 32), 32);
        assert_int_equal(BN_bn2binpad(s, rs + 32, 32), 32);
}

static void public_xy(EVP_PKEY *key, uint8_t xy[64]) {
        uint8_t point[65];
        size_t n = 0;

        assert_int_equal(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &n), 1);
        assert_int_equal(n, 65);
        assert_int_equal(point[0], 0x04);
        memcpy(xy, point + 1, 64);
}

static void sha256(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t out[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, a, an), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, b, bn), 1);
        assert_int_equal(EVP_DigestFinal_ex(ctx, out, NULL), 1);
}

/* Re-signs the quote with test_ak and binds that key into the QE report, which pck_key re-signs. */
static void resign(struct parts *p, EVP_PKEY *pck_key) {
        uint8_t *b;
        size_t size;

        public_xy(test_ak, p->ak);
        memset(p->qe_report + 320, 0, 64);
        sha256(p->ak, 64, p->auth, p->auth_size, p->qe_report + 320);
        sign_rs(pck_key, p->qe_report, 384, p->qe_sig);
        b = build(p, &size);
        sign_rs(test_ak, b, signed_size(p), p->sig);
        free(b);
}

/* Certificates with Intel's names, so that only the keys differ. */
static X509_NAME *intel_name(const char *cn) {
        X509_NAME *n = X509_NAME_new();

        assert_non_null(n);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *) "Intel Corporation", -1, -1, 0), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "L", MBSTRING_ASC, (const unsigned char *) "Santa Clara", -1, -1, 0), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "ST", MBSTRING_ASC, (const unsigned char *) "CA", -1, -1, 0), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *) "US", -1, -1, 0), 1);
        return n;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca) {
        static long serial = 1;
        X509 *x = X509_new();
        X509_NAME *name = intel_name(cn);
        X509V3_CTX ctx;

        assert_non_null(x);
        assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
        assert_int_equal(X509_set_subject_name(x, name), 1);
        assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
        X509_NAME_free(name);
        assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t) 1577836800));   /* 2020 */
        assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t) 2208988800));    /* 2040 */
        assert_int_equal(X509_set_pubkey(x, key), 1);

        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        add_ext(x, &ctx, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
        add_ext(x, &ctx, NID_subject_key_identifier, "hash");
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
        assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
        return x;
}

/* The PEM of the certificates, as a quote carries it (NUL-terminated, as Azure's). */
static uint8_t *pem_of(X509 *const *certs, size_t n, size_t *ret_size) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long len;
        uint8_t *out;

        assert_non_null(bio);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(PEM_write_bio_X509(bio, certs[i]), 1);
        len = BIO_get_mem_data(bio, &data);
        assert_true(len > 0);
        out = malloc((size_t) len + 1);
        assert_non_null(out);
        memcpy(out, data, (size_t) len);
        out[len] = 0;
        *ret_size = (size_t) len + 1;
        return out;
}

static STACK_OF(X509) *stack_of(X509 *x) {
        STACK_OF(X509) *s = sk_X509_new_null();

        assert_non_null(s);
        assert_true(X509_up_ref(x) == 1);
        assert_true(sk_X509_push(s, x) > 0);
        return s;
}

/* ---- tests ---- */

static void test_spr_v4(void **state) {
        struct attest_trust trust = { .time = T_VALID };
        struct attest_verdict v;
        struct tdx_quote q;
        json_object *c, *o;

        /* go-tdx-guest appended "\nextra bytes(only for testing purpose)\n" after the signature data:
         * signed by nobody, those bytes are not part of the quote, and the file as shipped verifies. */
        assert_int_equal(spr_file_size - spr_size, 39);
        {
                size_t n;
                _cleanup_free_ uint8_t *whole = testdata_read("tdx/tdx-quote-v4-spr.dat", &n);

                assert_int_equal(tdx_quote_parse(whole, n, &q), 0);
                assert_int_equal(q.raw_size, spr_size);
                EXPECT_PASS(whole, n, "{}", T_VALID, NULL);
        }

        assert_int_equal(tdx_quote_parse(spr, spr_size, &q), 0);
        assert_int_equal(q.version, 4);
        assert_int_equal(q.att_key_type, 2);
        assert_int_equal(q.tee_type, 0x81);
        assert_ptr_equal(q.header, spr);
        assert_ptr_equal(q.body, spr + 48);
        assert_int_equal(q.body_size, 584);
        assert_int_equal(q.qe_auth_data_size, 32);
        assert_ptr_equal(q.qe_report, spr + O_QE_REPORT);
        assert_int_equal(q.cert_data_size, 3677);
        assert_memory_equal(q.cert_data, "-----BEGIN CERTIFICATE-----", 27);
        assert_int_equal(q.raw_size, spr_size);

        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(tdx_verify(&q, NULL, &trust, &v), 0);
        if (!attest_verdict_pass(&v))
                fail_msg("failures: %s", json_object_to_json_string(v.failures));
        c = v.claims;
        assert_true(json_object_object_get_ex(c, "platform", &o));
        assert_string_equal(json_object_get_string(o), "tdx");
        assert_true(json_object_object_get_ex(c, "measurement", &o));
        assert_string_equal(json_object_get_string(o), SPR_MRTD);
        assert_true(json_object_object_get_ex(c, "debug", &o));
        assert_false(json_object_get_boolean(o));
        assert_true(json_object_object_get_ex(c, "td-attributes", &o));
        assert_string_equal(json_object_get_string(o), "0000004000000000");
        assert_true(json_object_object_get_ex(c, "report-data", &o));
        assert_int_equal(json_object_get_string_len(o), 128);
        assert_true(json_object_object_get_ex(c, "mrseam", &o));
        assert_int_equal(json_object_get_string_len(o), 96);
        assert_true(json_object_object_get_ex(c, "rtmrs", &o));
        assert_int_equal(json_object_object_length(o), 4);
        assert_true(json_object_object_get_ex(o, "3", &o));
        assert_int_equal(json_object_get_string_len(o), 96);
        assert_true(json_object_object_get_ex(c, "tcb", &o));
        {
                json_object *svn;

                assert_true(json_object_object_get_ex(o, "qe-svn", &svn));
                assert_int_equal(json_object_get_int(svn), le16(spr + O_QE_REPORT + 258));
        }
        assert_true(json_object_object_get_ex(o, "tee-tcb-svn", &o));
        assert_int_equal(json_object_get_string_len(o), 32);
        attest_verdict_done(&v);

        /* The policy reads the signed body, not the parsed copy. */
        assert_int_equal(tdx_quote_parse(spr, spr_size, &q), 0);
        q.mrtd[0] ^= 1;
        q.td_attributes[0] |= 1;
        {
                _cleanup_(json_object_putp) json_object *pol = json_tokener_parse("{\"mrtd\":[\"" SPR_MRTD "\"]}");

                assert_int_equal(attest_verdict_init(&v), 0);
                assert_int_equal(tdx_verify(&q, pol, &trust, &v), 0);
                assert_true(attest_verdict_pass(&v));
                assert_true(json_object_object_get_ex(v.claims, "measurement", &o));
                assert_string_equal(json_object_get_string(o), SPR_MRTD);
                attest_verdict_done(&v);
        }

        /* The same with an empty policy and with the policy's own MRTD. */
        EXPECT_PASS(spr, spr_size, "{}", T_VALID, NULL);
        EXPECT_PASS(spr, spr_size, "{\"mrtd\":[\"" OTHER_MRTD "\",\"" SPR_MRTD "\"],\"allow-debug\":false}", T_VALID, NULL);
}

static void test_azure_v4(void **state) {
        _cleanup_free_ uint8_t *c = dup(az, az_size);
        struct tdx_quote q;

        /* Azure pads the quote with zeros to 5006 bytes. */
        assert_int_equal(az_size, 5006);
        assert_int_equal(tdx_quote_parse(az, az_size, &q), 0);
        assert_int_equal(q.raw_size, 4936);
        assert_memory_equal(q.cert_data + q.cert_data_size - 1, "\0", 1);
        EXPECT_PASS(az, az_size, "{\"mrtd\":[\"" AZ_MRTD "\"]}", T_VALID, NULL);
        EXPECT_PASS(az, 4936, NULL, T_VALID, NULL);

        /* What follows the quote is not part of it: changing it changes nothing. */
        c[az_size - 1] = 1;
        c[4936] = 0x80;
        assert_int_equal(tdx_quote_parse(c, az_size, &q), 0);
        assert_int_equal(q.raw_size, 4936);
        EXPECT_PASS(c, az_size, NULL, T_VALID, NULL);
}

static void test_certificate_time(void **state) {
        EXPECT(spr, spr_size, NULL, T_2035, NULL, "tdx-chain");
        EXPECT(spr, spr_size, NULL, T_2021, NULL, "tdx-chain");
        EXPECT(az, az_size, NULL, T_2035, NULL, "tdx-chain");
}

static void test_tampered(void **state) {
        const uint8_t *bufs[] = { spr, az };
        size_t sizes[] = { spr_size, az_size };

        for (size_t i = 0; i < 2; i++) {
                const uint8_t *b = bufs[i];
                size_t n = sizes[i];

                FLIP(b, n, 20, "tdx-signature");                          /* header: user data */
                FLIP(b, n, O_MRTD, "tdx-signature");                      /* body: MRTD */
                FLIP(b, n, O_BODY + 583, "tdx-signature");                /* body: last byte of the report data */
                FLIP(b, n, O_SIG + 10, "tdx-signature");                  /* the signature's r */
                FLIP(b, n, O_SIG + 63, "tdx-signature");                  /* the signature's s */
                FLIP(b, n, O_AK + 5, "tdx-signature", "tdx-qe-report-data");
                FLIP(b, n, O_AK + 63, "tdx-signature", "tdx-qe-report-data");
                FLIP(b, n, O_QE_REPORT + 64, "tdx-qe-signature");         /* QE MRENCLAVE */
                FLIP(b, n, O_QE_REPORT + 258, "tdx-qe-signature");        /* QE ISVSVN */
                FLIP(b, n, O_QE_REPORT + 320, "tdx-qe-signature", "tdx-qe-report-data");
                FLIP(b, n, O_QE_REPORT + 383, "tdx-qe-signature", "tdx-qe-report-data");
                FLIP(b, n, O_QE_REPORT + 128, "tdx-qe-signature", "tdx-qe-identity");   /* QE MRSIGNER */
                FLIP(b, n, O_QE_SIG + 1, "tdx-qe-signature");
                FLIP(b, n, O_QE_SIG + 40, "tdx-qe-signature");
                FLIP(b, n, O_AUTH, "tdx-qe-report-data");
                FLIP(b, n, O_AUTH + 31, "tdx-qe-report-data");
        }
}

static void test_truncated(void **state) {
        struct tdx_quote q;

        /* Every cut point of the SPR quote, from the header to the last byte of the PEM chain. */
        for (size_t n = 0; n < spr_size; n++)
                if (tdx_quote_parse(spr, n, &q) != -EBADMSG)
                        fail_msg("a quote cut at %zu bytes parses", n);
        /* Azure's: any cut inside the quote fails, any cut inside the padding does not. */
        for (size_t n = 0; n < az_size; n++)
                assert_int_equal(tdx_quote_parse(az, n, &q), n < 4936 ? -EBADMSG : 0);
        assert_int_equal(tdx_quote_parse(NULL, 0, &q), -EINVAL);
}

static void test_malformed(void **state) {
        uint8_t b[4];
        uint32_t sig_size = le32(spr + O_SIG_SIZE), cert_size = le32(spr + O_CERT_SIZE);
        uint16_t auth_size = le16(spr + O_AUTH_SIZE);
        size_t o_pck_type = O_AUTH + auth_size, o_pck_size = o_pck_type + 2;
        uint32_t pck_size = le32(spr + o_pck_size);
        struct tdx_quote q;

        assert_int_equal(tdx_quote_parse(spr, spr_size, &q), 0);
        for (uint16_t version = 0; version < 10; version++) {
                put16(b, version);
                if (version != 4)
                        assert_int_equal(parse_mutated(spr, spr_size, 0, b, 2), -EBADMSG);
        }
        put16(b, 3);   /* attestation key type: ECDSA P-384 */
        assert_int_equal(parse_mutated(spr, spr_size, 2, b, 2), -EBADMSG);
        put32(b, 0);   /* TEE type: SGX */
        assert_int_equal(parse_mutated(spr, spr_size, 4, b, 4), -EBADMSG);
        put32(b, sig_size + 1);
        assert_int_equal(parse_mutated(spr, spr_size, O_SIG_SIZE, b, 4), -EBADMSG);
        put32(b, sig_size - 1);
        assert_int_equal(parse_mutated(spr, spr_size, O_SIG_SIZE, b, 4), -EBADMSG);
        put32(b, UINT32_MAX);
        assert_int_equal(parse_mutated(spr, spr_size, O_SIG_SIZE, b, 4), -EBADMSG);
        /* Azure's padding leaves room for a longer signature data: the lengths inside must fill it. */
        put32(b, le32(az + O_SIG_SIZE) + 1);
        assert_int_equal(parse_mutated(az, az_size, O_SIG_SIZE, b, 4), -EBADMSG);
        put32(b, le32(az + O_CERT_SIZE) + 1);
        assert_int_equal(parse_mutated(az, az_size, O_CERT_SIZE, b, 4), -EBADMSG);
        put16(b, 5);   /* a PCK chain where the QE report certification data belongs */
        assert_int_equal(parse_mutated(spr, spr_size, O_CERT_TYPE, b, 2), -EBADMSG);
        put32(b, cert_size - 1);
        assert_int_equal(parse_mutated(spr, spr_size, O_CERT_SIZE, b, 4), -EBADMSG);
        put32(b, cert_size + 1);
        assert_int_equal(parse_mutated(spr, spr_size, O_CERT_SIZE, b, 4), -EBADMSG);
        put16(b, auth_size + 1);
        assert_int_equal(parse_mutated(spr, spr_size, O_AUTH_SIZE, b, 2), -EBADMSG);
        put16(b, auth_size - 1);
        assert_int_equal(parse_mutated(spr, spr_size, O_AUTH_SIZE, b, 2), -EBADMSG);
        put16(b, 0xffff);
        assert_int_equal(parse_mutated(spr, spr_size, O_AUTH_SIZE, b, 2), -EBADMSG);
        put16(b, 7);   /* platform manifest */
        assert_int_equal(parse_mutated(spr, spr_size, o_pck_type, b, 2), -EBADMSG);
        put16(b, 0);
        assert_int_equal(parse_mutated(spr, spr_size, o_pck_type, b, 2), -EBADMSG);
        put32(b, pck_size - 1);
        assert_int_equal(parse_mutated(spr, spr_size, o_pck_size, b, 4), -EBADMSG);
        put32(b, pck_size + 1);
        assert_int_equal(parse_mutated(spr, spr_size, o_pck_size, b, 4), -EBADMSG);
}

static void test_policy(void **state) {
        static const char *const bad[] = {
                "[]",
                "\"tdx\"",
                "{\"mrtd\":\"" SPR_MRTD "\"}",
                "{\"mrtd\":[]}",
                "{\"mrtd\":[1]}",
                "{\"mrtd\":[\"" SPR_MRTD "00\"]}",
                "{\"mrtd\":[\"zz\"]}",
                "{\"allow-debug\":1}",
                "{\"allow-debug\":\"false\"}",
                "{\"rtmrs\":[]}",
                "{\"rtmrs\":{\"4\":\"" SPR_MRTD "\"}}",
                "{\"rtmrs\":{\"00\":\"" SPR_MRTD "\"}}",
                "{\"rtmrs\":{\"0\":5}}",
                "{\"rtmrs\":{\"0\":\"abcd\"}}",
                "{\"measurements\":[\"" SPR_MRTD "\"]}",
                "{\"mrtd\":[\"" SPR_MRTD "\"],\"vmpl\":0}",
        };
        _cleanup_free_ char *rtmr1 = NULL, *rtmr3 = NULL, *policy = NULL;
        _cleanup_free_ uint8_t *debug = dup(spr, spr_size);
        struct attest_trust trust = { .time = T_VALID };
        struct tdx_quote q;

        assert_int_equal(tdx_quote_parse(spr, spr_size, &q), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(json_object_putp) json_object *p = json_tokener_parse(bad[i]);
                struct attest_verdict v;

                assert_non_null(p);
                assert_int_equal(attest_verdict_init(&v), 0);
                if (tdx_verify(&q, p, &trust, &v) != -EBADMSG)
                        fail_msg("policy %s is accepted", bad[i]);
                attest_verdict_done(&v);
        }

        EXPECT(spr, spr_size, "{\"mrtd\":[\"" OTHER_MRTD "\"]}", T_VALID, NULL, "tdx-mrtd");
        EXPECT(spr, spr_size, "{\"mrtd\":[\"" AZ_MRTD "\"]}", T_VALID, NULL, "tdx-mrtd");
        EXPECT(az, az_size, "{\"mrtd\":[\"" SPR_MRTD "\"]}", T_VALID, NULL, "tdx-mrtd");

        /* The RTMRs: the quote's own values pass, one wrong value is named. */
        rtmr1 = hex_encode(spr + O_RTMR0 + 48, 48);
        rtmr3 = hex_encode(spr + O_RTMR0 + 3 * 48, 48);
        assert_true(asprintf(&policy, "{\"rtmrs\":{\"1\":\"%s\",\"3\":\"%s\"}}", rtmr1, rtmr3) > 0);
        EXPECT_PASS(spr, spr_size, policy, T_VALID, NULL);
        free(policy);
        assert_true(asprintf(&policy, "{\"rtmrs\":{\"1\":\"%s\",\"2\":\"%s\"}}", rtmr1, rtmr3) > 0);
        EXPECT(spr, spr_size, policy, T_VALID, NULL, "tdx-rtmr");
        free(policy);
        assert_true(asprintf(&policy, "{\"mrtd\":[\"%s\"],\"rtmrs\":{\"0\":\"%s\"}}", OTHER_MRTD, rtmr3) > 0);
        EXPECT(spr, spr_size, policy, T_VALID, NULL, "tdx-mrtd", "tdx-rtmr");

        /* TD_ATTRIBUTES.DEBUG: set in the body (so the signature breaks too), refused by default. */
        debug[O_TD_ATTRIBUTES] |= 0x01;
        EXPECT(debug, spr_size, NULL, T_VALID, NULL, "tdx-signature", "tdx-debug");
        EXPECT(debug, spr_size, "{\"allow-debug\":false}", T_VALID, NULL, "tdx-signature", "tdx-debug");
        EXPECT(debug, spr_size, "{\"allow-debug\":true}", T_VALID, NULL, "tdx-signature");
}

/* The SPR quote's chain with its root replaced by a self-signed root with the same name. */
static void test_chain_root_replaced(void **state) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *roots = stack_of(fake_root);
        _cleanup_free_ uint8_t *pem = NULL, *b = NULL, *same_pem = NULL, *same = NULL;
        X509 *chain[3] = { sk_X509_value(intel_certs, 0), sk_X509_value(intel_certs, 1), fake_root };
        struct parts p;
        size_t size;

        /* The rebuilt quote with Intel's own chain (written out again) still passes. */
        parts_from(spr, spr_size, &p);
        same_pem = pem_of((X509 *const[]) { chain[0], chain[1], sk_X509_value(intel_certs, 2) }, 3, &p.pck_size);
        p.pck = same_pem;
        same = build(&p, &size);
        EXPECT_PASS(same, size, NULL, T_VALID, NULL);

        pem = pem_of(chain, 3, &p.pck_size);
        p.pck = pem;
        b = build(&p, &size);
        EXPECT(b, size, NULL, T_VALID, NULL, "tdx-chain");
        /* Even when the policy trusts that root: it did not sign the PCK Platform CA. */
        EXPECT(b, size, NULL, T_VALID, roots, "tdx-chain");
}

/* A whole PCK chain made here, which signs the QE report: only the root tells it from Intel's. */
static void test_chain_forged(void **state) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *roots = stack_of(fake_root);
        _cleanup_free_ uint8_t *pem = NULL, *b = NULL, *two = NULL, *b2 = NULL;
        struct parts p;
        size_t size;

        parts_from(spr, spr_size, &p);
        pem = pem_of((X509 *const[]) { fake_pck, fake_ca, fake_root }, 3, &p.pck_size);
        p.pck = pem;
        sign_rs(fake_pck_key, p.qe_report, 384, p.qe_sig);
        b = build(&p, &size);
        EXPECT(b, size, NULL, T_VALID, NULL, "tdx-chain");
        EXPECT_PASS(b, size, NULL, T_VALID, roots);
        /* Intel's root in the policy does not help. */
        {
                _cleanup_(x509_stack_freep) STACK_OF(X509) *intel = stack_of(sk_X509_value(intel_certs, 2));

                EXPECT(b, size, NULL, T_VALID, intel, "tdx-chain");
        }

        /* Without the root in the quote, the policy's root completes the chain. */
        two = pem_of((X509 *const[]) { fake_pck, fake_ca }, 2, &p.pck_size);
        p.pck = two;
        b2 = build(&p, &size);
        EXPECT(b2, size, NULL, T_VALID, NULL, "tdx-chain");
        EXPECT_PASS(b2, size, NULL, T_VALID, roots);
}

/* The QE identity: a QE report of another enclave, signed by a (trusted) PCK, fails. */
static void test_qe_identity(void **state) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *roots = stack_of(fake_root);
        _cleanup_free_ uint8_t *pem = NULL, *b = NULL, *b2 = NULL, *b3 = NULL;
        struct parts p;
        size_t size;

        parts_from(spr, spr_size, &p);
        pem = pem_of((X509 *const[]) { fake_pck, fake_ca, fake_root }, 3, &p.pck_size);
        p.pck = pem;
        p.qe_report[128] ^= 0xff;                  /* MRSIGNER */
        sign_rs(fake_pck_key, p.qe_report, 384, p.qe_sig);
        b = build(&p, &size);
        EXPECT(b, size, NULL, T_VALID, roots, "tdx-qe-identity");

        p.qe_report[128] ^= 0xff;
        p.qe_report[256] = 1;                      /* ISVPRODID 1: the SGX QE */
        sign_rs(fake_pck_key, p.qe_report, 384, p.qe_sig);
        b2 = build(&p, &size);
        EXPECT(b2, size, NULL, T_VALID, roots, "tdx-qe-identity");

        p.qe_report[256] = 2;
        p.qe_report[48] |= 0x02;                   /* a debug QE */
        sign_rs(fake_pck_key, p.qe_report, 384, p.qe_sig);
        b3 = build(&p, &size);
        EXPECT(b3, size, NULL, T_VALID, roots, "tdx-qe-identity");
}

static void test_pem(void **state) {
        static const char *const bad[] = {
                "",
                "\0\0\0",
                "not a certificate",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\nMIIB\n",
        };
        _cleanup_free_ uint8_t *good = NULL;
        struct attest_trust trust = { .time = T_VALID };
        struct parts p;
        size_t good_size;

        parts_from(spr, spr_size, &p);
        good = dup(p.pck, p.pck_size);
        good_size = p.pck_size;

        for (size_t i = 0; i <= ELEMENTSOF(bad) + 3; i++) {
                _cleanup_free_ uint8_t *pem = NULL, *b = NULL;
                struct attest_verdict v;
                struct tdx_quote q;
                size_t size;

                if (i < ELEMENTSOF(bad)) {
                        p.pck_size = strlen(bad[i]) + (i == 1 ? 3 : 0);
                        pem = dup((const uint8_t *) bad[i], p.pck_size);
                } else if (i == ELEMENTSOF(bad)) {
                        /* text after the last certificate */
                        p.pck_size = good_size + 4;
                        pem = malloc(p.pck_size);
                        assert_non_null(pem);
                        memcpy(pem, good, good_size);
                        memcpy(pem + good_size, "junk", 4);
                } else if (i == ELEMENTSOF(bad) + 1) {
                        /* text before the first certificate */
                        p.pck_size = good_size + 5;
                        pem = malloc(p.pck_size);
                        assert_non_null(pem);
                        memcpy(pem, "junk\n", 5);
                        memcpy(pem + 5, good, good_size);
                } else if (i == ELEMENTSOF(bad) + 2) {
                        /* a NUL between two certificates */
                        pem = dup(good, good_size);
                        p.pck_size = good_size;
                        pem[strstr((char *) pem, "-----END CERTIFICATE-----") - (char *) pem + 25] = 0;
                } else {
                        /* a private key in the chain */
                        const char *key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

                        p.pck_size = good_size - 1 + strlen(key);
                        pem = malloc(p.pck_size);
                        assert_non_null(pem);
                        memcpy(pem, good, good_size - 1);
                        memcpy(pem + good_size - 1, key, strlen(key));
                }
                p.pck = pem;
                b = build(&p, &size);
                assert_int_equal(tdx_quote_parse(b, size, &q), 0);
                assert_int_equal(attest_verdict_init(&v), 0);
                if (tdx_verify(&q, NULL, &trust, &v) != -EBADMSG)
                        fail_msg("PEM case %zu is accepted", i);
                attest_verdict_done(&v);
        }

        /* A PPID instead of a chain (type 3) parses, and cannot be verified without a cache. */
        {
                _cleanup_free_ uint8_t *b = NULL;
                uint8_t ppid[384 + 36] = {};
                size_t size;

                p.pck_type = 3;
                p.pck = ppid;
                p.pck_size = sizeof(ppid);
                b = build(&p, &size);
                EXPECT(b, size, NULL, T_VALID, NULL, "tdx-chain");
        }
}

/* v5 quotes, made from the SPR quote's body: a body descriptor before the TD report (1.0 or 1.5). */
static void test_v5(void **state) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *roots = stack_of(fake_root);
        _cleanup_free_ uint8_t *pem = NULL, *b10 = NULL, *b15 = NULL;
        struct attest_trust trust = { .time = T_VALID, .extra_roots = roots };
        struct attest_verdict v;
        struct tdx_quote q;
        struct parts p;
        size_t size10, size15;
        json_object *o;
        uint8_t d[6];

        parts_from(spr, spr_size, &p);
        pem = pem_of((X509 *const[]) { fake_pck, fake_ca, fake_root }, 3, &p.pck_size);
        p.pck = pem;
        p.version = 5;

        /* TD report 1.0 */
        p.body_type = 2;
        resign(&p, fake_pck_key);
        b10 = build(&p, &size10);
        assert_int_equal(tdx_quote_parse(b10, size10, &q), 0);
        assert_int_equal(q.version, 5);
        assert_int_equal(q.body_size, 584);
        assert_ptr_equal(q.body, b10 + 54);
        assert_memory_equal(q.mrtd, spr + O_MRTD, 48);
        EXPECT_PASS(b10, size10, "{\"mrtd\":[\"" SPR_MRTD "\"]}", T_VALID, roots);
        EXPECT(b10, size10, NULL, T_VALID, NULL, "tdx-chain");
        FLIP(b10, size10, 48 + 6 + 136, "tdx-signature", "tdx-chain");     /* MRTD */
        FLIP(b10, size10, 20, "tdx-signature", "tdx-chain");               /* header */
        FLIP(b10, size10, 54 + 584 + 4 + 70, "tdx-signature", "tdx-qe-report-data", "tdx-chain");   /* AK */

        /* The v4 signature does not verify as v5 (the descriptor is signed) */
        {
                _cleanup_free_ uint8_t *c = NULL;
                struct parts p4;
                size_t n;

                parts_from(spr, spr_size, &p4);
                p4.version = 5;
                p4.body_type = 2;
                c = build(&p4, &n);
                EXPECT(c, n, NULL, T_VALID, NULL, "tdx-signature");
        }

        /* TD report 1.5: TEE_TCB_SVN2 and MRSERVICETD follow the 1.0 fields. */
        p.body_type = 3;
        p.body_size = 648;
        memset(p.body + 584, 0x5a, 16);
        memset(p.body + 600, 0xa5, 48);
        resign(&p, fake_pck_key);
        b15 = build(&p, &size15);
        assert_int_equal(tdx_quote_parse(b15, size15, &q), 0);
        assert_int_equal(q.body_size, 648);
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(tdx_verify(&q, NULL, &trust, &v), 0);
        if (!attest_verdict_pass(&v))
                fail_msg("failures: %s", json_object_to_json_string(v.failures));
        assert_true(json_object_object_get_ex(v.claims, "tcb", &o));
        assert_true(json_object_object_get_ex(o, "tee-tcb-svn2", &o));
        assert_string_equal(json_object_get_string(o), "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
        assert_true(json_object_object_get_ex(v.claims, "mrservicetd", &o));
        assert_memory_equal(json_object_get_string(o), "a5a5a5", 6);
        assert_true(json_object_object_get_ex(v.claims, "measurement", &o));
        assert_string_equal(json_object_get_string(o), SPR_MRTD);
        attest_verdict_done(&v);
        FLIP(b15, size15, 54 + 600, "tdx-signature", "tdx-chain");   /* MRSERVICETD is signed */

        /* Descriptors that do not describe a TD report */
        for (size_t i = 0; i < 4; i++) {
                static const uint16_t types[] = { 2, 3, 1, 4 };
                static const uint32_t sizes[] = { 648, 584, 384, 648 };

                put16(d, types[i]);
                put32(d + 2, sizes[i]);
                assert_int_equal(parse_mutated(b15, size15, 48, d, 6), -EBADMSG);
        }
        for (size_t n = 0; n < size15; n++) {
                struct tdx_quote t;

                if (tdx_quote_parse(b15, n, &t) != -EBADMSG)
                        fail_msg("a v5 quote cut at %zu bytes parses", n);
        }
}

static int setup(void **state) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        struct tdx_quote q;
        X509 *x;

        spr = testdata_read("tdx/tdx-quote-v4-spr.dat", &spr_file_size);
        az = testdata_read("tdx/az-td-quote-v4.dat", &az_size);
        /* The quote proper: header, body, size, signature data. */
        spr_size = O_SIG + le32(spr + O_SIG_SIZE);
        if (spr_size > spr_file_size)
                return -1;

        if (tdx_quote_parse(spr, spr_size, &q) < 0)
                return -1;
        bio = BIO_new_mem_buf(q.cert_data, (int) q.cert_data_size);
        intel_certs = sk_X509_new_null();
        if (!bio || !intel_certs)
                return -1;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
                sk_X509_push(intel_certs, x);
        if (sk_X509_num(intel_certs) != 3)
                return -1;

        test_ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        fake_root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        fake_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        fake_pck_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!test_ak || !fake_root_key || !fake_ca_key || !fake_pck_key)
                return -1;
        fake_root = make_cert(fake_root_key, "Intel SGX Root CA", NULL, NULL, true);
        fake_ca = make_cert(fake_ca_key, "Intel SGX PCK Platform CA", fake_root, fake_root_key, true);
        fake_pck = make_cert(fake_pck_key, "Intel SGX PCK Certificate", fake_ca, fake_ca_key, false);
        return 0;
}

static int teardown(void **state) {
        free(spr);
        free(az);
        sk_X509_pop_free(intel_certs, X509_free);
        X509_free(fake_root);
        X509_free(fake_ca);
        X509_free(fake_pck);
        EVP_PKEY_free(test_ak);
        EVP_PKEY_free(fake_root_key);
        EVP_PKEY_free(fake_ca_key);
        EVP_PKEY_free(fake_pck_key);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spr_v4),
                cmocka_unit_test(test_azure_v4),
                cmocka_unit_test(test_certificate_time),
                cmocka_unit_test(test_tampered),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_chain_root_replaced),
                cmocka_unit_test(test_chain_forged),
                cmocka_unit_test(test_qe_identity),
                cmocka_unit_test(test_pem),
                cmocka_unit_test(test_v5),
        };

        testdata_require();
        return cmocka_run_group_tests(tests, setup, teardown);
}
