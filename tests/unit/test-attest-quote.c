/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TPM2 quotes.  Real ones: trustee's two Azure SNP evidence files, whose quotes are signed by the AK
 * that the HCL report's runtime claims name (HCLAkPub), over the 24 sha256 PCRs, with the verifier's
 * nonce "challenge" as extraData.  Synthetic ones, signed here, for what Azure does not use: ECDSA
 * (P-256, P-384), RSA-PSS, SHA-384, and AKs given as TPM2B_PUBLIC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "encoding.h"
#include "macro.h"
#include "testdata.h"

/* hcl.c's helper, not yet in attest.h. */

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);

#define NONCE "challenge"

/* ---- trustee's evidence ---- */

struct evidence {
        uint8_t *hcl;
        size_t hcl_size;
        uint8_t message[1024];
        size_t message_size;
        uint8_t signature[sizeof(TPMT_SIGNATURE)];   /* marshalled TPMT_SIGNATURE */
        size_t signature_size;
        json_object *pcrs;                           /* {"0": "<hex>", ...} */
        EVP_PKEY *ak;                                /* HCLAkPub */
};

static void evidence_done(struct evidence *e) {
        free(e->hcl);
        json_object_put(e->pcrs);
        EVP_PKEY_free(e->ak);
}

/* A byte string in either of trustee's forms: an array of byte values (v0) or hex (v1). */
static size_t bytes_of(json_object *j, uint8_t *out, size_t max) {
        if (json_object_is_type(j, json_type_array)) {
                size_t n = json_object_array_length(j);

                assert_true(n <= max);
                for (size_t i = 0; i < n; i++)
                        out[i] = (uint8_t) json_object_get_int(json_object_array_get_idx(j, i));
                return n;
        } else {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t n;

                assert_int_equal(hex_decode(json_object_get_string(j), &buf, &n), 0);
                assert_true(n <= max);
                memcpy(out, buf, n);
                return n;
        }
}

static void evidence_load(const char *name, struct evidence *ret) {
        _cleanup_free_ uint8_t *text = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *r, *q, *m, *s, *p;
        TPMT_SIGNATURE sig = { .sigAlg = TPM2_ALG_RSASSA };
        struct attest_verdict v = {};
        struct hcl_report h = {};
        const uint8_t *rd;
        size_t n, off = 0;

        text = testdata_read(name, &n);
        j = json_tokener_parse((const char *) text);
        assert_non_null(j);
        *ret = (struct evidence) {};

        if (json_object_object_get_ex(j, "report", &r)) {
                ret->hcl = malloc(json_object_array_length(r));
                assert_non_null(ret->hcl);
                ret->hcl_size = bytes_of(r, ret->hcl, json_object_array_length(r));
                assert_true(json_object_object_get_ex(j, "quote", &q));
        } else {
                /* base64url with padding. */
                assert_true(json_object_object_get_ex(j, "hcl_report", &r));
                assert_int_equal(testdata_base64url(json_object_get_string(r), &ret->hcl, &ret->hcl_size), 0);
                assert_true(json_object_object_get_ex(j, "tpm_quote", &q));
        }

        assert_true(json_object_object_get_ex(q, "message", &m));
        ret->message_size = bytes_of(m, ret->message, sizeof(ret->message));

        /* trustee keeps the bare RSASSA signature; the evidence document wants a TPMT_SIGNATURE. */
        assert_true(json_object_object_get_ex(q, "signature", &s));
        sig.signature.rsassa.hash = TPM2_ALG_SHA256;
        sig.signature.rsassa.sig.size = (UINT16) bytes_of(s, sig.signature.rsassa.sig.buffer,
                                                          sizeof(sig.signature.rsassa.sig.buffer));
        assert_int_equal(sig.signature.rsassa.sig.size, 256);
        assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, ret->signature, sizeof(ret->signature), &off), 0);
        ret->signature_size = off;

        /* PCRs as a list of 24 values: into {"0": "<hex>", ...}. */
        assert_true(json_object_object_get_ex(q, "pcrs", &p));
        assert_int_equal(json_object_array_length(p), 24);
        ret->pcrs = json_object_new_object();
        for (size_t i = 0; i < 24; i++) {
                uint8_t value[32];
                char key[4];
                _cleanup_free_ char *hex = NULL;

                assert_int_equal(bytes_of(json_object_array_get_idx(p, i), value, sizeof(value)), 32);
                hex = hex_encode(value, 32);
                snprintf(key, sizeof(key), "%zu", i);
                json_object_object_add(ret->pcrs, key, json_object_new_string(hex));
        }

        /* The AK: HCLAkPub, from a report whose binding holds. */
        assert_int_equal(hcl_report_parse(ret->hcl, ret->hcl_size, &h), 0);
        assert_int_equal(hcl_hw_report_data(&h, &rd), 0);
        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(hcl_verify_binding(&h, rd, &v, &ret->ak), 0);
        assert_true(attest_verdict_pass(&v));
        assert_non_null(ret->ak);
        attest_verdict_done(&v);
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

/* Verifies and expects exactly the failed check named (NULL: a pass). */
static void expect_verdict(const uint8_t *m, size_t m_size, const uint8_t *s, size_t s_size, EVP_PKEY *ak,
                           const char *nonce, json_object *pcrs, const char *failed) {
        struct attest_verdict v = {};

        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(tpm_quote_verify(m, m_size, s, s_size, ak, (const uint8_t *) nonce, nonce ? strlen(nonce) : 0,
                                          pcrs, &v), 0);
        if (failed) {
                assert_int_equal(json_object_array_length(v.failures), 1);
                assert_true(has_failure(&v, failed));
        } else
                assert_true(attest_verdict_pass(&v));
        /* PCR values are claimed only when both the signature and the digest hold. */
        assert_int_equal(json_object_object_get_ex(v.claims, "pcrs", NULL),
                         !failed || streq_ptr(failed, "tpm-quote-nonce"));
        attest_verdict_done(&v);
}

static void expect_malformed(const uint8_t *m, size_t m_size, const uint8_t *s, size_t s_size, EVP_PKEY *ak,
                             json_object *pcrs) {
        struct attest_verdict v = {};

        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(tpm_quote_verify(m, m_size, s, s_size, ak, (const uint8_t *) NONCE, strlen(NONCE), pcrs, &v),
                         -EBADMSG);
        /* Malformed evidence is told apart from a failed check: nothing is recorded. */
        assert_int_equal(json_object_array_length(v.failures), 0);
        assert_int_equal(json_object_object_length(v.claims), 0);
        attest_verdict_done(&v);
}

static const char *const evidence_files[] = {
        "azure/az-snp-vtpm-evidence-v0.json",
        "azure/az-snp-vtpm-evidence-v1.json",
};

static void test_real(void **state) {
        for (size_t f = 0; f < ELEMENTSOF(evidence_files); f++) {
                _cleanup_(evidence_done) struct evidence e = {};
                struct attest_verdict v = {};
                json_object *pcrs, *bank, *clock, *x;

                evidence_load(evidence_files[f], &e);
                assert_int_equal(attest_verdict_init(&v), 0);
                assert_int_equal(tpm_quote_verify(e.message, e.message_size, e.signature, e.signature_size, e.ak,
                                                  (const uint8_t *) NONCE, strlen(NONCE), e.pcrs, &v), 0);
                assert_true(attest_verdict_pass(&v));

                /* The 24 PCRs the quote covers, as given. */
                assert_true(json_object_object_get_ex(v.claims, "pcrs", &pcrs));
                assert_true(json_object_object_get_ex(pcrs, "sha256", &bank));
                assert_int_equal(json_object_object_length(bank), 24);
                for (int i = 0; i < 24; i++) {
                        json_object *given, *claimed;
                        char key[4];

                        snprintf(key, sizeof(key), "%d", i);
                        assert_true(json_object_object_get_ex(e.pcrs, key, &given));
                        assert_true(json_object_object_get_ex(bank, key, &claimed));
                        assert_string_equal(json_object_get_string(claimed), json_object_get_string(given));
                }
                assert_true(json_object_object_get_ex(v.claims, "tpm-quote-clock", &clock));
                assert_true(json_object_object_get_ex(clock, "safe", &x));
                assert_true(json_object_get_boolean(x));
                assert_true(json_object_object_get_ex(clock, "clock", &x));
                assert_true(json_object_is_type(x, json_type_string));
                attest_verdict_done(&v);
        }
}

static void test_real_failures(void **state) {
        for (size_t f = 0; f < ELEMENTSOF(evidence_files); f++) {
                _cleanup_(evidence_done) struct evidence e = {};
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = NULL, *ec = NULL;
                _cleanup_(json_object_putp) json_object *pcrs = NULL;
                uint8_t sig[sizeof(e.signature)];

                evidence_load(evidence_files[f], &e);

                /* One byte of the signature (the last of the RSA signature). */
                memcpy(sig, e.signature, e.signature_size);
                sig[e.signature_size - 1] ^= 0x01;
                expect_verdict(e.message, e.message_size, sig, e.signature_size, e.ak, NONCE, e.pcrs,
                               "tpm-quote-signature");
                /* One byte of the message: the last of clockInfo.clock (magic 4, type 2, qualifiedSigner 2 + 34,
                 * extraData 2 + 9: the clock is at 53 to 60). */
                {
                        uint8_t m[sizeof(e.message)];

                        memcpy(m, e.message, e.message_size);
                        m[60] ^= 0x01;
                        expect_verdict(m, e.message_size, e.signature, e.signature_size, e.ak, NONCE, e.pcrs,
                                       "tpm-quote-signature");
                }

                /* Another nonce, a shorter one, none. */
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, e.ak, "challengf", e.pcrs,
                               "tpm-quote-nonce");
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, e.ak, "challeng", e.pcrs,
                               "tpm-quote-nonce");
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, e.ak, NULL, e.pcrs,
                               "tpm-quote-nonce");

                /* One PCR value changed. */
                assert_int_equal(json_object_deep_copy(e.pcrs, &pcrs, NULL), 0);
                json_object_object_add(pcrs, "9",
                                       json_object_new_string("0000000000000000000000000000000000000000000000000000000000000001"));
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, e.ak, NONCE, pcrs,
                               "tpm-quote-pcrs");
                /* PCRs the quote does not cover may be given: they change nothing. */
                json_object_put(TAKE_PTR(pcrs));
                assert_int_equal(json_object_deep_copy(e.pcrs, &pcrs, NULL), 0);
                json_object_object_add(pcrs, "24", json_object_new_string("00"));
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, e.ak, NONCE, pcrs, NULL);

                /* Other AKs. */
                rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
                ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                assert_non_null(rsa);
                assert_non_null(ec);
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, rsa, NONCE, e.pcrs,
                               "tpm-quote-signature");
                expect_verdict(e.message, e.message_size, e.signature, e.signature_size, ec, NONCE, e.pcrs,
                               "tpm-quote-signature");
        }
}

/* v0 and v1 come from the same VM (the same AK), one minute apart: each signature is its own. */
static void test_real_swapped(void **state) {
        _cleanup_(evidence_done) struct evidence a = {}, b = {};

        evidence_load(evidence_files[0], &a);
        evidence_load(evidence_files[1], &b);
        assert_true(EVP_PKEY_eq(a.ak, b.ak) == 1);
        assert_int_equal(a.message_size, b.message_size);
        assert_memory_not_equal(a.message, b.message, a.message_size);
        expect_verdict(a.message, a.message_size, b.signature, b.signature_size, a.ak, NONCE, a.pcrs, "tpm-quote-signature");
        expect_verdict(b.message, b.message_size, b.signature, b.signature_size, a.ak, NONCE, b.pcrs, NULL);
}

static void test_real_malformed(void **state) {
        _cleanup_(evidence_done) struct evidence e = {};
        _cleanup_(json_object_putp) json_object *pcrs = NULL;
        uint8_t m[sizeof(e.message) + 1], s[sizeof(e.signature) + 1];

        evidence_load(evidence_files[1], &e);

        /* Every cut of the TPMS_ATTEST, a byte too many. */
        for (size_t cut = 0; cut < e.message_size; cut++) {
                uint8_t *copy = malloc(cut ?: 1);

                assert_non_null(copy);
                memcpy(copy, e.message, cut);
                expect_malformed(copy, cut, e.signature, e.signature_size, e.ak, e.pcrs);
                free(copy);
        }
        memcpy(m, e.message, e.message_size);
        m[e.message_size] = 0;
        expect_malformed(m, e.message_size + 1, e.signature, e.signature_size, e.ak, e.pcrs);

        /* The magic, the type (TPM_ST_ATTEST_CERTIFY). */
        m[0] = 0xfe;
        expect_malformed(m, e.message_size, e.signature, e.signature_size, e.ak, e.pcrs);
        memcpy(m, e.message, e.message_size);
        assert_int_equal(m[4], 0x80);
        assert_int_equal(m[5], 0x18);
        m[5] = 0x17;
        expect_malformed(m, e.message_size, e.signature, e.signature_size, e.ak, e.pcrs);

        /* Every cut of the TPMT_SIGNATURE, a byte too many, other algorithms. */
        for (size_t cut = 0; cut < e.signature_size; cut++)
                expect_malformed(e.message, e.message_size, e.signature, cut, e.ak, e.pcrs);
        memcpy(s, e.signature, e.signature_size);
        s[e.signature_size] = 0;
        expect_malformed(e.message, e.message_size, s, e.signature_size + 1, e.ak, e.pcrs);
        assert_int_equal(s[1], 0x14);    /* TPM_ALG_RSASSA */
        assert_int_equal(s[3], 0x0b);    /* TPM_ALG_SHA256 */
        s[3] = 0x04;                     /* SHA-1 */
        expect_malformed(e.message, e.message_size, s, e.signature_size, e.ak, e.pcrs);
        s[3] = 0x0d;                     /* SHA-512 */
        expect_malformed(e.message, e.message_size, s, e.signature_size, e.ak, e.pcrs);
        s[3] = 0x0b;
        s[1] = 0x17;                     /* TPM_ALG_RSAES: not a signature scheme */
        expect_malformed(e.message, e.message_size, s, e.signature_size, e.ak, e.pcrs);

        /* PCR values: one missing, one not 32 bytes, one not hex, none at all. */
        assert_int_equal(json_object_deep_copy(e.pcrs, &pcrs, NULL), 0);
        json_object_object_del(pcrs, "23");
        expect_malformed(e.message, e.message_size, e.signature, e.signature_size, e.ak, pcrs);
        json_object_object_add(pcrs, "23", json_object_new_string("00"));
        expect_malformed(e.message, e.message_size, e.signature, e.signature_size, e.ak, pcrs);
        json_object_object_add(pcrs, "23",
                               json_object_new_string("zz00000000000000000000000000000000000000000000000000000000000000"));
        expect_malformed(e.message, e.message_size, e.signature, e.signature_size, e.ak, pcrs);
        json_object_object_add(pcrs, "23", json_object_new_int(0));
        expect_malformed(e.message, e.message_size, e.signature, e.signature_size, e.ak, pcrs);
        expect_malformed(e.message, e.message_size, e.signature, e.signature_size, e.ak, NULL);
}

/* ---- synthetic quotes ---- */

static void pcr_value(unsigned i, uint8_t out[32]) {
        memset(out, (int) i + 1, 32);
}

static json_object *pcr_values(void) {
        json_object *o = json_object_new_object();

        for (unsigned i = 0; i < 24; i++) {
                uint8_t value[32];
                _cleanup_free_ char *hex = NULL;
                char key[4];

                pcr_value(i, value);
                hex = hex_encode(value, 32);
                snprintf(key, sizeof(key), "%u", i);
                json_object_object_add(o, key, json_object_new_string(hex));
        }
        return o;
}

/* A quote of PCRs 0 and 7 of the sha256 bank (plus, as other_bank is 1, 2 or 3: an empty sha1
 * selection, sha1 PCR 0, sha256 PCR 24), hashed with md. */
static void make_quote(const char *md, int other_bank, uint8_t *out, size_t *out_size) {
        TPMS_ATTEST a = {
                .magic = TPM2_GENERATED_VALUE,
                .type = TPM2_ST_ATTEST_QUOTE,
                .qualifiedSigner = { .size = 2, .name = { 0x00, 0x0b } },
                .extraData = { .size = strlen(NONCE) },
                .clockInfo = { .clock = 123456789012ULL, .resetCount = 3, .restartCount = 4, .safe = TPM2_YES },
                .firmwareVersion = 0x2000000000000ULL,
        };
        TPMS_QUOTE_INFO *q = &a.attested.quote;
        uint8_t cat[64];
        size_t n = 0, off = 0;

        memcpy(a.extraData.buffer, NONCE, strlen(NONCE));
        q->pcrSelect.count = 1;
        q->pcrSelect.pcrSelections[0] = (TPMS_PCR_SELECTION) { .hash = TPM2_ALG_SHA256, .sizeofSelect = 3,
                                                               .pcrSelect = { 0x81, 0, 0 } };
        if (other_bank == 3) {
                /* PCR 24 too: PC TPMs have 24 PCRs. */
                q->pcrSelect.pcrSelections[0].sizeofSelect = 4;
                q->pcrSelect.pcrSelections[0].pcrSelect[3] = 1;
        } else if (other_bank) {
                q->pcrSelect.count = 2;
                q->pcrSelect.pcrSelections[1] = (TPMS_PCR_SELECTION) { .hash = TPM2_ALG_SHA1, .sizeofSelect = 3,
                                                                       .pcrSelect = { other_bank > 1 ? 1 : 0, 0, 0 } };
        }
        pcr_value(0, cat);
        pcr_value(7, cat + 32);
        assert_int_equal(EVP_Q_digest(NULL, md, NULL, cat, sizeof(cat), q->pcrDigest.buffer, &n), 1);
        q->pcrDigest.size = (UINT16) n;

        assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&a, out, 1024, &off), 0);
        *out_size = off;
}

static void sign_quote(EVP_PKEY *key, TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash, const uint8_t *m, size_t m_size,
                       uint8_t *out, size_t *out_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        TPMT_SIGNATURE sig = { .sigAlg = alg };
        EVP_PKEY_CTX *pctx = NULL;
        uint8_t raw[1024];
        size_t raw_size = sizeof(raw), off = 0;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit_ex(ctx, &pctx, hash == TPM2_ALG_SHA256 ? "SHA256" : "SHA384", NULL, NULL,
                                               key, NULL), 1);
        if (alg == TPM2_ALG_RSAPSS) {
                assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
                assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
        }
        assert_int_equal(EVP_DigestSign(ctx, raw, &raw_size, m, m_size), 1);

        if (alg == TPM2_ALG_ECDSA) {
                const uint8_t *p = raw;
                _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long) raw_size);
                int coord = (EVP_PKEY_get_bits(key) + 7) / 8;

                assert_non_null(e);
                sig.signature.ecdsa.hash = hash;
                assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(e), sig.signature.ecdsa.signatureR.buffer, coord), coord);
                assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(e), sig.signature.ecdsa.signatureS.buffer, coord), coord);
                sig.signature.ecdsa.signatureR.size = sig.signature.ecdsa.signatureS.size = (UINT16) coord;
        } else {
                TPMS_SIGNATURE_RSA *r = alg == TPM2_ALG_RSASSA ? &sig.signature.rsassa : &sig.signature.rsapss;

                r->hash = hash;
                r->sig.size = (UINT16) raw_size;
                memcpy(r->sig.buffer, raw, raw_size);
        }
        assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out, sizeof(TPMT_SIGNATURE), &off), 0);
        *out_size = off;
}

/* The key's public area as an AK's TPM2B_PUBLIC. */
static void make_public(EVP_PKEY *key, TPMA_OBJECT attrs, uint8_t *out, size_t *out_size) {
        TPM2B_PUBLIC pub = {};
        TPMT_PUBLIC *p = &pub.publicArea;
        size_t off = 0;

        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = attrs;
        if (EVP_PKEY_is_a(key, "RSA")) {
                _cleanup_(BN_freep) BIGNUM *n = NULL;

                assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
                p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.rsaDetail.keyBits = (UINT16) EVP_PKEY_get_bits(key);
                p->parameters.rsaDetail.exponent = 0;     /* 65537 */
                p->unique.rsa.size = (UINT16) BN_bn2bin(n, p->unique.rsa.buffer);
        } else {
                _cleanup_(BN_freep) BIGNUM *x = NULL, *y = NULL;
                int coord = (EVP_PKEY_get_bits(key) + 7) / 8;

                assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
                assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
                p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.eccDetail.curveID = coord == 32 ? TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384;
                p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
                assert_int_equal(BN_bn2binpad(x, p->unique.ecc.x.buffer, coord), coord);
                assert_int_equal(BN_bn2binpad(y, p->unique.ecc.y.buffer, coord), coord);
                p->unique.ecc.x.size = p->unique.ecc.y.size = (UINT16) coord;
        }
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out, sizeof(TPM2B_PUBLIC), &off), 0);
        *out_size = off;
}

#define AK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
                  TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static void synthetic(EVP_PKEY *key, TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash) {
        const char *md = hash == TPM2_ALG_SHA256 ? "SHA256" : "SHA384";
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        _cleanup_(json_object_putp) json_object *pcrs = pcr_values();
        struct attest_verdict v = {};
        uint8_t pub[sizeof(TPM2B_PUBLIC)], m[1024], s[sizeof(TPMT_SIGNATURE)];
        size_t pub_size, m_size, s_size;
        json_object *claim, *bank;

        assert_non_null(key);
        make_public(key, AK_ATTRS, pub, &pub_size);
        assert_int_equal(tpm_public_to_pkey(pub, pub_size, &ak), 0);
        assert_true(EVP_PKEY_eq(ak, key) == 1);

        make_quote(md, 0, m, &m_size);
        sign_quote(key, alg, hash, m, m_size, s, &s_size);

        assert_int_equal(attest_verdict_init(&v), 0);
        assert_int_equal(tpm_quote_verify(m, m_size, s, s_size, ak, (const uint8_t *) NONCE, strlen(NONCE), pcrs, &v), 0);
        assert_true(attest_verdict_pass(&v));
        /* Exactly PCRs 0 and 7 are claimed. */
        assert_true(json_object_object_get_ex(v.claims, "pcrs", &claim));
        assert_true(json_object_object_get_ex(claim, "sha256", &bank));
        assert_int_equal(json_object_object_length(bank), 2);
        assert_true(json_object_object_get_ex(bank, "0", NULL));
        assert_true(json_object_object_get_ex(bank, "7", NULL));
        attest_verdict_done(&v);

        /* Only PCRs 0 and 7 count. */
        json_object_object_add(pcrs, "1", json_object_new_string("00000000000000000000000000000000"
                                                                 "00000000000000000000000000000000"));
        expect_verdict(m, m_size, s, s_size, ak, NONCE, pcrs, NULL);
        json_object_object_add(pcrs, "7", json_object_new_string("00000000000000000000000000000000"
                                                                 "00000000000000000000000000000000"));
        expect_verdict(m, m_size, s, s_size, ak, NONCE, pcrs, "tpm-quote-pcrs");

        /* A changed signature byte (the last byte of S, or of the RSA signature). */
        s[s_size - 1] ^= 0x80;
        json_object_put(pcrs);
        pcrs = pcr_values();
        expect_verdict(m, m_size, s, s_size, ak, NONCE, pcrs, "tpm-quote-signature");
}

static void test_synthetic(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);

        synthetic(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
        synthetic(p384, TPM2_ALG_ECDSA, TPM2_ALG_SHA384);
        synthetic(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA384);
        synthetic(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
        synthetic(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA384);
        synthetic(rsa, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256);
}

/* An ECDSA signature for an RSA AK, an RSA signature for an EC AK; banks without values. */
static void test_synthetic_mismatch(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        _cleanup_(json_object_putp) json_object *pcrs = pcr_values();
        uint8_t m[1024], s[sizeof(TPMT_SIGNATURE)];
        size_t m_size, s_size;

        make_quote("SHA256", 0, m, &m_size);
        sign_quote(ec, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, m, m_size, s, &s_size);
        expect_verdict(m, m_size, s, s_size, rsa, NONCE, pcrs, "tpm-quote-signature");
        sign_quote(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, m, m_size, s, &s_size);
        expect_verdict(m, m_size, s, s_size, ec, NONCE, pcrs, "tpm-quote-signature");
        expect_verdict(m, m_size, s, s_size, rsa, NONCE, pcrs, NULL);
        /* A PSS verification of a PKCS#1 v1.5 signature. */
        s[1] = 0x16;     /* TPM_ALG_RSAPSS */
        expect_verdict(m, m_size, s, s_size, rsa, NONCE, pcrs, "tpm-quote-signature");

        /* A quote hashed with SHA-384 but signed with SHA-256: the PCR digest has the wrong size. */
        make_quote("SHA384", 0, m, &m_size);
        sign_quote(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, m, m_size, s, &s_size);
        expect_verdict(m, m_size, s, s_size, rsa, NONCE, pcrs, "tpm-quote-pcrs");

        /* An empty sha1 selection is nothing; a sha1 PCR has no value in the evidence. */
        make_quote("SHA256", 1, m, &m_size);
        sign_quote(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, m, m_size, s, &s_size);
        expect_verdict(m, m_size, s, s_size, rsa, NONCE, pcrs, NULL);
        make_quote("SHA256", 2, m, &m_size);
        sign_quote(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, m, m_size, s, &s_size);
        expect_malformed(m, m_size, s, s_size, rsa, pcrs);

        /* PCR 24, even with a value. */
        make_quote("SHA256", 3, m, &m_size);
        sign_quote(rsa, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, m, m_size, s, &s_size);
        json_object_object_add(pcrs, "24", json_object_new_string("00000000000000000000000000000000"
                                                                  "00000000000000000000000000000000"));
        expect_malformed(m, m_size, s, s_size, rsa, pcrs);
}

static void expect_bad_public(EVP_PKEY *key, TPMA_OBJECT attrs, size_t offset, uint8_t xor, int size_delta) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        uint8_t pub[sizeof(TPM2B_PUBLIC) + 1] = {};
        size_t pub_size;

        make_public(key, attrs, pub, &pub_size);
        pub[offset] ^= xor;
        assert_int_equal(tpm_public_to_pkey(pub, (size_t) ((int) pub_size + size_delta), &ak), -EBADMSG);
        assert_null(ak);
}

static void test_public_bad(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        uint8_t pub[sizeof(TPM2B_PUBLIC)];
        size_t pub_size;

        /* The good ones first: the failures below are the edits'. */
        make_public(ec, AK_ATTRS, pub, &pub_size);
        assert_int_equal(tpm_public_to_pkey(pub, pub_size, &ak), 0);
        EVP_PKEY_free(ak);
        ak = NULL;
        make_public(rsa, AK_ATTRS, pub, &pub_size);
        assert_int_equal(tpm_public_to_pkey(pub, pub_size, &ak), 0);

        /* Not a restricted signing key. */
        expect_bad_public(rsa, AK_ATTRS & ~TPMA_OBJECT_RESTRICTED, 0, 0, 0);
        expect_bad_public(ec, AK_ATTRS & ~TPMA_OBJECT_SIGN_ENCRYPT, 0, 0, 0);
        expect_bad_public(ec, AK_ATTRS | TPMA_OBJECT_DECRYPT, 0, 0, 0);
        /* A byte too many, one too few. */
        expect_bad_public(rsa, AK_ATTRS, 0, 0, 1);
        expect_bad_public(ec, AK_ATTRS, 0, 0, -1);
        /* Layout: size(2) type(2) nameAlg(2) attrs(4) authPolicy(2) ...  type KEYEDHASH. */
        expect_bad_public(ec, AK_ATTRS, 3, 0x23 ^ 0x08, 0);
        /* ECC: symmetric(2) scheme(2) curve(2) at 12: P-256 (3) -> P-521 (5). */
        expect_bad_public(ec, AK_ATTRS, 17, 0x03 ^ 0x05, 0);
        /* The last byte of y: the point is off the curve. */
        make_public(ec, AK_ATTRS, pub, &pub_size);
        expect_bad_public(ec, AK_ATTRS, pub_size - 1, 0x01, 0);
        /* RSA: symmetric(2) scheme(2) keyBits(2) at 12: 2048 -> 3072 for a 2048-bit modulus. */
        expect_bad_public(rsa, AK_ATTRS, 16, 0x08 ^ 0x0c, 0);
        for (size_t cut = 0; cut < pub_size; cut++) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;

                assert_int_equal(tpm_public_to_pkey(pub, cut, &k), -EBADMSG);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real),
                cmocka_unit_test(test_real_failures),
                cmocka_unit_test(test_real_swapped),
                cmocka_unit_test(test_real_malformed),
                cmocka_unit_test(test_synthetic),
                cmocka_unit_test(test_synthetic_mismatch),
                cmocka_unit_test(test_public_bad),
        };

        testdata_require();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
