/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Intel TDX quote (v4, v5): tdx_quote_parse(), then tdx_verify() with no policy and with a fixed
 * one (signature, QE report binding and identity, PCK chain to the pinned Intel root, QE report
 * signature, MRTD/RTMR/debug).
 *
 * Fix-ups: an input that does not parse as it is gets a header that passes (version 4 or 5, ECDSA
 * P-256, TDX), a valid v5 body descriptor, and every length of the signature data recomputed from
 * the bytes that are there (signature data size, QE report certification data size, QE
 * authentication data size cut to fit, PCK certification data type in 1..5 and its size), so that
 * mutations land in the QE report, the authentication data and the PCK chain.  Header byte 8
 * (reserved, ignored by the parser) steers: bit 0 replaces the attestation key by a test key,
 * signs the quote with it and puts SHA-256(key || authentication data) in the QE report, so that
 * the quote signature and the QE binding pass.
 */
#include <openssl/ec.h>
#include <openssl/core_names.h>

#include "attest.h"
#include "fuzz.h"
#include "macro.h"

#define HEADER 48U
#define BODY_10 584U
#define BODY_15 648U
#define QE_REPORT 384U
#define QE_REPORT_DATA 320U
#define SIG_FIXED 134U      /* signature 64, attestation key 64, type 2, size 4 */
#define QE_FIXED (QE_REPORT + 64U + 2U + 6U)

static EVP_PKEY *key;
static uint8_t key_xy[64];
static json_object *policy;

static void setup(void) {
        static bool done;
        uint8_t point[65];
        size_t n = 0;

        if (done)
                return;
        done = true;
        key = EVP_EC_gen("P-256");
        FUZZ_ASSERT(key);
        FUZZ_ASSERT(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &n) == 1);
        FUZZ_ASSERT(n == 65 && point[0] == 0x04);
        memcpy(key_xy, point + 1, 64);

        policy = json_tokener_parse(
                "{\"mrtd\":[\"000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000\"],\"allow-debug\":false,"
                "\"rtmrs\":{\"0\":\"000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000\"}}");
        FUZZ_ASSERT(policy);
}

static void verify(const uint8_t *buf, size_t size, bool with_policy) {
        struct tdx_quote q;
        struct attest_verdict v = {};

        if (tdx_quote_parse(buf, size, &q) < 0)
                return;
        if (attest_verdict_init(&v) < 0)
                return;
        (void) tdx_verify(&q, with_policy ? policy : NULL, NULL, &v);
        attest_verdict_done(&v);
}

/* r || s, big-endian, of ECDSA P-256 SHA-256 over data. */
static void sign_p256(const uint8_t *data, size_t size, uint8_t out[64]) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t der[80];
        const uint8_t *p = der;
        size_t der_size = sizeof(der);
        ECDSA_SIG *sig;
        const BIGNUM *r, *s;

        FUZZ_ASSERT(md);
        FUZZ_ASSERT(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) == 1);
        FUZZ_ASSERT(EVP_DigestSign(md, der, &der_size, data, size) == 1);
        sig = d2i_ECDSA_SIG(NULL, &p, (long) der_size);
        FUZZ_ASSERT(sig);
        ECDSA_SIG_get0(sig, &r, &s);
        FUZZ_ASSERT(BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32);
        ECDSA_SIG_free(sig);
        EVP_MD_CTX_free(md);
}

/* The fixed-up copy; NULL when out of memory. */
static uint8_t *fix_up(const uint8_t *data, size_t size, size_t *ret_size) {
        size_t body, prefix, need, off, sig_size, qe_size, auth_max, auth, n;
        uint16_t version, type;
        uint8_t *b;

        /* Room for the fixed parts at least (the largest body: v5 with a 1.5 report). */
        need = HEADER + 6 + BODY_15 + 4 + SIG_FIXED + QE_FIXED;
        n = size > need ? size : need;
        b = calloc(1, n);
        if (!b)
                return NULL;
        memcpy(b, data, size);

        version = (b[0] & 1) ? 5 : 4;
        fuzz_put_le16(b, version);
        fuzz_put_le16(b + 2, 2);
        fuzz_put_le32(b + 4, 0x81);
        if (version == 5) {
                type = (b[HEADER] & 1) ? 3 : 2;
                body = type == 3 ? BODY_15 : BODY_10;
                fuzz_put_le16(b + HEADER, type);
                fuzz_put_le32(b + HEADER + 2, (uint32_t) body);
                prefix = HEADER + 6;
        } else {
                body = BODY_10;
                prefix = HEADER;
        }
        off = prefix + body;
        /* Everything after the body is signature data: no padding. */
        sig_size = n - off - 4;
        fuzz_put_le32(b + off, (uint32_t) sig_size);
        off += 4 + 128;
        qe_size = sig_size - SIG_FIXED;
        fuzz_put_le16(b + off, 6);
        fuzz_put_le32(b + off + 2, (uint32_t) qe_size);
        off += 6 + QE_REPORT + 64;
        auth_max = qe_size - QE_FIXED;
        auth = (size_t) b[off] | (size_t) b[off + 1] << 8;
        if (auth > auth_max)
                auth = auth_max > 0 ? auth % (auth_max + 1) : 0;
        fuzz_put_le16(b + off, (uint16_t) auth);
        off += 2 + auth;
        type = (uint16_t) (b[off] | b[off + 1] << 8);
        if (type < 1 || type > 5)
                type = 1 + type % 5;
        fuzz_put_le16(b + off, type);
        fuzz_put_le32(b + off + 2, (uint32_t) (auth_max - auth));
        *ret_size = n;
        return b;
}

/* A quote that tdx_quote_parse() accepted, signed again by the test key with the QE binding set. */
static void resign(uint8_t *b, size_t size) {
        struct tdx_quote q;
        size_t ak_off, sig_off, signed_size;
        EVP_MD_CTX *md;
        unsigned n = 0;
        uint8_t *qe;

        if (tdx_quote_parse(b, size, &q) < 0)
                return;
        signed_size = (size_t) (q.body + q.body_size - b);
        sig_off = signed_size + 4;
        ak_off = sig_off + 64;
        memcpy(b + ak_off, key_xy, 64);
        qe = b + ak_off + 64 + 6;
        md = EVP_MD_CTX_new();
        FUZZ_ASSERT(md);
        FUZZ_ASSERT(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, key_xy, 64) == 1 &&
                    EVP_DigestUpdate(md, q.qe_auth_data, q.qe_auth_data_size) == 1 &&
                    EVP_DigestFinal_ex(md, qe + QE_REPORT_DATA, &n) == 1 && n == 32);
        memset(qe + QE_REPORT_DATA + 32, 0, 32);
        EVP_MD_CTX_free(md);
        sign_p256(b, signed_size, b + sig_off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct tdx_quote q;
        uint8_t *b = NULL;
        size_t n = size;

        fuzz_setup_log();
        setup();
        if (size > 64 * 1024)
                return 0;

        if (tdx_quote_parse(data, size, &q) == 0) {
                b = malloc(size ?: 1);
                if (!b)
                        return 0;
                memcpy(b, data, size);
        } else {
                verify(data, size, false);   /* the error paths of the parser */
                b = fix_up(data, size, &n);
                if (!b)
                        return 0;
        }

        if (n >= HEADER && (b[8] & 1))
                resign(b, n);
        verify(b, n, false);
        verify(b, n, true);

        free(b);
        ERR_clear_error();
        return 0;
}
