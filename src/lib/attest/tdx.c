/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Intel TDX quotes (DCAP, ECDSA-256-with-P-256), versions 4 and 5.
 *
 * Layout (all integers little-endian; "Intel TDX DCAP Quoting Library API", appendix A):
 *
 *   header          48   version u16, att_key_type u16 (2), tee_type u32 (0x81), reserved 4,
 *                        qe_vendor_id 16, user_data 20
 *   v5 only:         6   body descriptor: type u16 (2: TD report 1.0, 3: TD report 1.5), size u32
 *   body       584/648   the TD report (TDX_BODY_* offsets below); 1.5 appends tee_tcb_svn2 and
 *                        mrservicetd
 *   sig_data_len     4
 *   signature data:      signature 64 (r || s, big-endian) over header [|| descriptor] || body,
 *                        attestation key 64 (X || Y),
 *                        certification data: type u16 (6: QE report certification data), size u32,
 *                          QE report 384 (an SGX report body), its signature 64 (by the PCK key),
 *                          QE authentication data: size u16, bytes,
 *                          certification data: type u16 (5: PCK certificate chain, PEM), size u32
 *
 * Every length must match the bytes that follow exactly.  What comes after the signature data is
 * signed by nobody and ignored: Azure pads the quote to a fixed buffer size, and go-tdx-guest's
 * production sample carries a text marker there.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

#define TDX_HEADER_SIZE 48U
#define TDX_DESCRIPTOR_SIZE 6U
#define TDX_BODY_10_SIZE 584U
#define TDX_BODY_15_SIZE 648U
#define TDX_ATT_KEY_ECDSA_P256 2U
#define TDX_TEE_TYPE 0x81U

#define TDX_BODY_TYPE_10 2U
#define TDX_BODY_TYPE_15 3U

/* TD report body offsets. */
#define TDX_BODY_TEE_TCB_SVN 0U
#define TDX_BODY_MRSEAM 16U
#define TDX_BODY_TD_ATTRIBUTES 120U
#define TDX_BODY_XFAM 128U
#define TDX_BODY_MRTD 136U
#define TDX_BODY_MRCONFIGID 184U
#define TDX_BODY_MROWNER 232U
#define TDX_BODY_MROWNERCONFIG 280U
#define TDX_BODY_RTMR0 328U
#define TDX_BODY_REPORT_DATA 520U
#define TDX_BODY_TEE_TCB_SVN2 584U   /* TD report 1.5 */
#define TDX_BODY_MRSERVICETD 600U    /* TD report 1.5 */

#define TDX_TD_ATTRIBUTES_DEBUG 0x01U   /* bit 0 of byte 0 */

/* Certification data types. */
#define TDX_CERT_PCK_CHAIN 5U
#define TDX_CERT_QE_REPORT 6U

/* The QE report: an SGX REPORT body. */
#define TDX_QE_REPORT_SIZE 384U
#define TDX_QE_ATTRIBUTES 48U
#define TDX_QE_MRSIGNER 128U
#define TDX_QE_ISVPRODID 256U
#define TDX_QE_ISVSVN 258U
#define TDX_QE_REPORT_DATA 320U
#define TDX_SGX_ATTRIBUTES_DEBUG 0x02U  /* bit 1 of byte 0 */

/* The TD quoting enclave Intel signs (its QE identity: MRSIGNER and ISVPRODID 2).  Without this check
 * any enclave the PCE certifies on the platform could sign TD quotes of its own making. */
static const uint8_t intel_td_qe_mrsigner[32] = {
        0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
        0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
};
#define TDX_QE_ISVPRODID_TD 2U

/* A PCK chain is leaf, PCK platform or processor CA, root: a few more are tolerated, not hundreds. */
#define TDX_PCK_CHAIN_MAX 8

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD *, EVP_MD_free);

static const char *strna(const char *s) {
        return s ?: "n/a";
}

static void x509_stack_freep(STACK_OF(X509) **p) {
        if (*p)
                sk_X509_pop_free(*p, X509_free);
}

static void x509_info_stack_freep(STACK_OF(X509_INFO) **p) {
        if (*p)
                sk_X509_INFO_pop_free(*p, X509_INFO_free);
}

/* ---- parsing ---- */

struct cursor {
        const uint8_t *p;
        size_t left;
};

static int take(struct cursor *c, size_t n, const char *what, const uint8_t **ret) {
        if (n > c->left)
                return log_debug_errno(-EBADMSG, "TDX quote: truncated in %s (%zu bytes needed, %zu left)",
                                       what, n, c->left);
        *ret = c->p;
        c->p += n;
        c->left -= n;
        return 0;
}

static int take_u16(struct cursor *c, const char *what, uint16_t *ret) {
        const uint8_t *p;
        int r = take(c, 2, what, &p);

        if (r < 0)
                return r;
        *ret = le16(p);
        return 0;
}

static int take_u32(struct cursor *c, const char *what, uint32_t *ret) {
        const uint8_t *p;
        int r = take(c, 4, what, &p);

        if (r < 0)
                return r;
        *ret = le32(p);
        return 0;
}

static void parse_body(const uint8_t *b, struct tdx_quote *q) {
        memcpy(q->tee_tcb_svn, b + TDX_BODY_TEE_TCB_SVN, sizeof(q->tee_tcb_svn));
        memcpy(q->mrseam, b + TDX_BODY_MRSEAM, sizeof(q->mrseam));
        memcpy(q->td_attributes, b + TDX_BODY_TD_ATTRIBUTES, sizeof(q->td_attributes));
        memcpy(q->xfam, b + TDX_BODY_XFAM, sizeof(q->xfam));
        memcpy(q->mrtd, b + TDX_BODY_MRTD, sizeof(q->mrtd));
        memcpy(q->mrconfigid, b + TDX_BODY_MRCONFIGID, sizeof(q->mrconfigid));
        memcpy(q->mrowner, b + TDX_BODY_MROWNER, sizeof(q->mrowner));
        memcpy(q->mrownerconfig, b + TDX_BODY_MROWNERCONFIG, sizeof(q->mrownerconfig));
        for (size_t i = 0; i < 4; i++)
                memcpy(q->rtmr[i], b + TDX_BODY_RTMR0 + 48 * i, 48);
        memcpy(q->report_data, b + TDX_BODY_REPORT_DATA, sizeof(q->report_data));
}

/* The QE report certification data (type 6), exactly size bytes at c. */
static int parse_qe_cert_data(struct cursor *outer, uint32_t size, struct tdx_quote *q) {
        struct cursor c;
        const uint8_t *p;
        uint16_t auth_size, type;
        uint32_t inner_size;
        int r;

        r = take(outer, size, "the QE report certification data", &p);
        if (r < 0)
                return r;
        c = (struct cursor) { p, size };

        r = take(&c, TDX_QE_REPORT_SIZE, "the QE report", &q->qe_report);
        if (r < 0)
                return r;
        r = take(&c, 64, "the QE report signature", &p);
        if (r < 0)
                return r;
        memcpy(q->qe_report_signature, p, 64);
        r = take_u16(&c, "the QE authentication data size", &auth_size);
        if (r < 0)
                return r;
        r = take(&c, auth_size, "the QE authentication data", &q->qe_auth_data);
        if (r < 0)
                return r;
        q->qe_auth_data_size = auth_size;

        r = take_u16(&c, "the PCK certification data type", &type);
        if (r < 0)
                return r;
        r = take_u32(&c, "the PCK certification data size", &inner_size);
        if (r < 0)
                return r;
        /* Types 1 to 5 identify the PCK (PPID in clear or encrypted, PCK leaf, PCK chain); only a
         * chain can be verified without a certificate cache: tdx_verify() says so for the others. */
        if (type < 1 || type > TDX_CERT_PCK_CHAIN)
                return log_debug_errno(-EBADMSG, "TDX quote: PCK certification data of unknown type %u", type);
        r = take(&c, inner_size, "the PCK certification data", &p);
        if (r < 0)
                return r;
        if (type == TDX_CERT_PCK_CHAIN) {
                q->cert_data = p;
                q->cert_data_size = inner_size;
        }
        if (c.left != 0)
                return log_debug_errno(-EBADMSG, "TDX quote: %zu bytes after the PCK certification data", c.left);
        return 0;
}

int tdx_quote_parse(const uint8_t *buf, size_t size, struct tdx_quote *ret) {
        struct tdx_quote q = {};
        struct cursor c = { buf, size }, sig;
        const uint8_t *p;
        uint32_t sig_size, cert_size;
        uint16_t cert_type;
        int r;

        if (!buf)
                return -EINVAL;

        r = take(&c, TDX_HEADER_SIZE, "the header", &q.header);
        if (r < 0)
                return r;
        q.version = le16(q.header);
        q.att_key_type = le16(q.header + 2);
        q.tee_type = le32(q.header + 4);
        if (q.version != 4 && q.version != 5)
                return log_debug_errno(-EBADMSG, "TDX quote: version %u is not supported (4 and 5 are)", q.version);
        if (q.att_key_type != TDX_ATT_KEY_ECDSA_P256)
                return log_debug_errno(-EBADMSG, "TDX quote: attestation key type %u is not ECDSA P-256", q.att_key_type);
        if (q.tee_type != TDX_TEE_TYPE)
                return log_debug_errno(-EBADMSG, "TDX quote: TEE type 0x%x is not TDX", q.tee_type);

        if (q.version == 4)
                q.body_size = TDX_BODY_10_SIZE;
        else {
                uint16_t type;
                uint32_t body_size;

                r = take_u16(&c, "the body descriptor", &type);
                if (r < 0)
                        return r;
                r = take_u32(&c, "the body descriptor", &body_size);
                if (r < 0)
                        return r;
                if (!(type == TDX_BODY_TYPE_10 && body_size == TDX_BODY_10_SIZE) &&
                    !(type == TDX_BODY_TYPE_15 && body_size == TDX_BODY_15_SIZE))
                        return log_debug_errno(-EBADMSG, "TDX quote: body type %u of size %u is not a TD report",
                                               type, body_size);
                q.body_size = body_size;
        }
        r = take(&c, q.body_size, "the TD report body", &q.body);
        if (r < 0)
                return r;
        parse_body(q.body, &q);

        r = take_u32(&c, "the signature data size", &sig_size);
        if (r < 0)
                return r;
        r = take(&c, sig_size, "the signature data", &p);
        if (r < 0)
                return r;
        sig = (struct cursor) { p, sig_size };

        r = take(&sig, 64, "the quote signature", &p);
        if (r < 0)
                return r;
        memcpy(q.signature, p, 64);
        r = take(&sig, 64, "the attestation key", &p);
        if (r < 0)
                return r;
        memcpy(q.attestation_key, p, 64);
        r = take_u16(&sig, "the certification data type", &cert_type);
        if (r < 0)
                return r;
        r = take_u32(&sig, "the certification data size", &cert_size);
        if (r < 0)
                return r;
        if (cert_type != TDX_CERT_QE_REPORT)
                return log_debug_errno(-EBADMSG, "TDX quote: certification data of type %u, not a QE report (6)", cert_type);
        r = parse_qe_cert_data(&sig, cert_size, &q);
        if (r < 0)
                return r;
        if (sig.left != 0)
                return log_debug_errno(-EBADMSG, "TDX quote: %zu bytes after the certification data", sig.left);

        /* What follows is signed by nobody: it is not part of the quote (raw_size stops before it). */
        if (c.left > 0)
                log_debug("TDX quote: ignoring %zu bytes after the signature data", c.left);

        q.raw = buf;
        q.raw_size = size - c.left;
        *ret = q;
        return 0;
}

/* ---- crypto ---- */

static int sha256_two(OSSL_LIB_CTX *libctx, const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size,
                      uint8_t out[32]) {
        _cleanup_(EVP_MD_freep) EVP_MD *md = EVP_MD_fetch(libctx, "SHA256", NULL);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n = 0;

        if (!md || !ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, a_size) != 1 ||
            EVP_DigestUpdate(ctx, b, b_size) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32)
                return log_debug_errno(-EIO, "SHA-256 failed");
        return 0;
}

/* A P-256 public key from X || Y.  NULL when the point is not on the curve (or memory ran out). */
static EVP_PKEY *p256_from_xy(OSSL_LIB_CTX *libctx, const uint8_t xy[64]) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;
        uint8_t point[65];

        point[0] = 0x04;   /* uncompressed */
        memcpy(point + 1, xy, 64);
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
                return NULL;
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(libctx, "EC", NULL);
        if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1)
                return NULL;
        (void) ERR_set_mark();   /* a point off the curve is the evidence's fault, not an error of ours */
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                pkey = NULL;
        (void) ERR_pop_to_mark();
        return pkey;
}

static bool is_p256(EVP_PKEY *pkey) {
        char group[64];

        return pkey && EVP_PKEY_is_a(pkey, "EC") &&
               EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1 &&
               (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

/* ECDSA P-256 with SHA-256, the signature as r || s (32 bytes each, big-endian).  1: valid,
 * 0: invalid, negative errno: could not check. */
static int ecdsa_p256_verify(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, const uint8_t rs[64], const uint8_t *data,
                             size_t size) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
        _cleanup_(BN_freep) BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char der[80], *p = der;   /* a P-256 signature is at most 72 bytes of DER */
        int der_size, ok;

        if (!sig || !r || !s || !ctx)
                return -ENOMEM;
        if (ECDSA_SIG_set0(sig, r, s) != 1)
                return -ENOMEM;
        r = s = NULL;   /* owned by sig now */
        der_size = i2d_ECDSA_SIG(sig, NULL);
        if (der_size <= 0 || (size_t) der_size > sizeof(der) || i2d_ECDSA_SIG(sig, &p) != der_size)
                return log_debug_errno(-EIO, "Cannot encode an ECDSA signature");

        if (EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", libctx, NULL, pkey, NULL) != 1)
                return log_debug_errno(-EIO, "Cannot set up ECDSA verification");
        /* A bad signature leaves errors in OpenSSL's queue: not ours to keep, nor the caller's to see. */
        (void) ERR_set_mark();
        ok = EVP_DigestVerify(ctx, der, (size_t) der_size, data, size);
        (void) ERR_pop_to_mark();
        return ok == 1;
}

/* Splits the PEM chain strictly (certificates separated by white space, NULs at the end only) and
 * parses every certificate. */
static int parse_pck_chain(OSSL_LIB_CTX *libctx, const uint8_t *data, size_t size, STACK_OF(X509) **ret) {
        _cleanup_(x509_info_stack_freep) STACK_OF(X509_INFO) *infos = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        const char *s = (const char *) data;
        size_t i = 0;
        int n = 0;

        while (size > 0 && data[size - 1] == 0)
                size--;
        if (size == 0 || size > INT_MAX)
                return log_debug_errno(-EBADMSG, "TDX quote: the PCK certificate chain is empty or too long");

        for (;;) {
                const char *end;

                while (i < size && s[i] != 0 && strchr(" \t\r\n", s[i]))
                        i++;
                if (i == size)
                        break;
                if (size - i < strlen(PEM_BEGIN) || memcmp(s + i, PEM_BEGIN, strlen(PEM_BEGIN)) != 0)
                        return log_debug_errno(-EBADMSG, "TDX quote: the PCK certificate chain holds something other than PEM certificates");
                end = memmem(s + i, size - i, PEM_END, strlen(PEM_END));
                if (!end)
                        return log_debug_errno(-EBADMSG, "TDX quote: a PEM certificate of the PCK chain has no end");
                i = (size_t) (end - s) + strlen(PEM_END);
                if (++n > TDX_PCK_CHAIN_MAX)
                        return log_debug_errno(-EBADMSG, "TDX quote: the PCK chain has more than %d certificates",
                                               TDX_PCK_CHAIN_MAX);
        }
        if (n == 0)
                return log_debug_errno(-EBADMSG, "TDX quote: the PCK certificate chain holds no certificate");

        bio = BIO_new_mem_buf(data, (int) size);
        certs = sk_X509_new_null();
        if (!bio || !certs)
                return -ENOMEM;
        (void) ERR_set_mark();
        infos = PEM_X509_INFO_read_bio_ex(bio, NULL, NULL, NULL, libctx, NULL);
        (void) ERR_pop_to_mark();
        if (!infos || sk_X509_INFO_num(infos) != n)
                return log_debug_errno(-EBADMSG, "TDX quote: a certificate of the PCK chain does not parse");
        for (int k = 0; k < n; k++) {
                X509_INFO *info = sk_X509_INFO_value(infos, k);

                if (!info->x509 || info->crl || info->x_pkey)
                        return log_debug_errno(-EBADMSG, "TDX quote: the PCK chain holds something other than certificates");
                if (!sk_X509_push(certs, info->x509))
                        return -ENOMEM;
                info->x509 = NULL;   /* owned by certs now */
        }

        *ret = TAKE_PTR(certs);
        return 0;
}

/* ---- policy ---- */

struct tdx_policy {
        uint8_t (*mrtd)[48];     /* the allow-list, or NULL: any */
        size_t n_mrtd;
        bool allow_debug;
        unsigned rtmr_mask;      /* bit i: rtmr[i] is required */
        uint8_t rtmr[4][48];
};

static void tdx_policy_done(struct tdx_policy *p) {
        free(p->mrtd);
        p->mrtd = NULL;
}

static int policy_bad(const char *member, const char *why) {
        return log_debug_errno(-EBADMSG, "attestation policy: tdx member '%s' %s", member, why);
}

static int policy_hex48(json_object *o, const char *member, uint8_t out[48]) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_string))
                return policy_bad(member, "has an entry that is not a string");
        r = hex_decode(json_object_get_string(o), &buf, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || n != 48)
                return policy_bad(member, "has an entry that is not 48 bytes of hex");
        memcpy(out, buf, 48);
        return 0;
}

static int policy_parse(json_object *o, struct tdx_policy *ret) {
        _cleanup_(tdx_policy_done) struct tdx_policy p = {};
        int r;

        if (!o) {
                *ret = p;
                return 0;
        }
        if (!json_object_is_type(o, json_type_object))
                return log_debug_errno(-EBADMSG, "attestation policy: tdx is not an object");

        json_object_object_foreach(o, key, val) {
                if (streq_ptr(key, "mrtd")) {
                        size_t n;

                        if (!json_object_is_type(val, json_type_array))
                                return policy_bad(key, "is not an array");
                        n = json_object_array_length(val);
                        if (n == 0)
                                return policy_bad(key, "allows nothing");
                        p.mrtd = calloc(n, sizeof(*p.mrtd));
                        if (!p.mrtd)
                                return -ENOMEM;
                        for (size_t i = 0; i < n; i++) {
                                r = policy_hex48(json_object_array_get_idx(val, i), key, p.mrtd[i]);
                                if (r < 0)
                                        return r;
                        }
                        p.n_mrtd = n;
                } else if (streq_ptr(key, "allow-debug")) {
                        if (!json_object_is_type(val, json_type_boolean))
                                return policy_bad(key, "is not a boolean");
                        p.allow_debug = json_object_get_boolean(val);
                } else if (streq_ptr(key, "rtmrs")) {
                        if (!json_object_is_type(val, json_type_object))
                                return policy_bad(key, "is not an object");
                        json_object_object_foreach(val, index, value) {
                                if (strlen(index) != 1 || index[0] < '0' || index[0] > '3')
                                        return policy_bad(key, "names an RTMR other than \"0\" to \"3\"");
                                r = policy_hex48(value, key, p.rtmr[index[0] - '0']);
                                if (r < 0)
                                        return r;
                                p.rtmr_mask |= 1U << (index[0] - '0');
                        }
                } else
                        return log_debug_errno(-EBADMSG, "attestation policy: unknown member '%s' in tdx", key);
        }

        *ret = p;
        p.mrtd = NULL;
        return 0;
}

/* ---- verification ---- */

static int claim_hex(struct attest_verdict *v, json_object *o, const char *key, const uint8_t *p, size_t n) {
        _cleanup_free_ char *hex = hex_encode(p, n);
        json_object *s;

        if (!hex)
                return -ENOMEM;
        if (!o)
                return attest_claim(v, key, json_object_new_string(hex));
        s = json_object_new_string(hex);
        if (!s || json_object_object_add(o, key, s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        return 0;
}

static int record_claims(const struct tdx_quote *q, struct attest_verdict *v) {
        _cleanup_(json_object_putp) json_object *rtmrs = json_object_new_object(), *tcb = json_object_new_object();
        bool debug = q->td_attributes[0] & TDX_TD_ATTRIBUTES_DEBUG;
        int r;

        if (!rtmrs || !tcb)
                return -ENOMEM;
        for (unsigned i = 0; i < 4; i++) {
                char key[2] = { (char) ('0' + i), 0 };

                r = claim_hex(v, rtmrs, key, q->rtmr[i], 48);
                if (r < 0)
                        return r;
        }
        r = claim_hex(v, tcb, "tee-tcb-svn", q->tee_tcb_svn, 16);
        if (r < 0)
                return r;
        if (q->body_size == TDX_BODY_15_SIZE) {
                r = claim_hex(v, tcb, "tee-tcb-svn2", q->body + TDX_BODY_TEE_TCB_SVN2, 16);
                if (r < 0)
                        return r;
        }
        {
                json_object *svn = json_object_new_int(le16(q->qe_report + TDX_QE_ISVSVN));

                if (!svn || json_object_object_add(tcb, "qe-svn", svn) < 0) {
                        json_object_put(svn);
                        return -ENOMEM;
                }
        }

        if ((r = attest_claim(v, "platform", json_object_new_string("tdx"))) < 0 ||
            (r = claim_hex(v, NULL, "measurement", q->mrtd, 48)) < 0 ||
            (r = claim_hex(v, NULL, "report-data", q->report_data, 64)) < 0 ||
            (r = attest_claim(v, "rtmrs", TAKE_PTR(rtmrs))) < 0 ||
            (r = attest_claim(v, "debug", json_object_new_boolean(debug))) < 0 ||
            (r = attest_claim(v, "tcb", TAKE_PTR(tcb))) < 0 ||
            (r = claim_hex(v, NULL, "td-attributes", q->td_attributes, 8)) < 0 ||
            (r = claim_hex(v, NULL, "xfam", q->xfam, 8)) < 0 ||
            (r = claim_hex(v, NULL, "mrseam", q->mrseam, 48)) < 0 ||
            (r = claim_hex(v, NULL, "mrconfigid", q->mrconfigid, 48)) < 0 ||
            (r = claim_hex(v, NULL, "mrowner", q->mrowner, 48)) < 0 ||
            (r = claim_hex(v, NULL, "mrownerconfig", q->mrownerconfig, 48)) < 0)
                return r;
        if (q->body_size == TDX_BODY_15_SIZE)
                return claim_hex(v, NULL, "mrservicetd", q->body + TDX_BODY_MRSERVICETD, 48);
        return 0;
}

static int check_quote_signature(OSSL_LIB_CTX *libctx, const struct tdx_quote *q, struct attest_verdict *v) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = p256_from_xy(libctx, q->attestation_key);
        size_t signed_size = (size_t) (q->body + q->body_size - q->header);
        int r;

        if (!ak)
                return attest_fail(v, "tdx-signature", "the attestation key is not a P-256 point");
        r = ecdsa_p256_verify(libctx, ak, q->signature, q->header, signed_size);
        if (r < 0)
                return r;
        if (r == 0)
                return attest_fail(v, "tdx-signature", "the quote signature does not verify with the attestation key");
        return 0;
}

static int check_qe_report(OSSL_LIB_CTX *libctx, const struct tdx_quote *q, struct attest_verdict *v) {
        static const uint8_t zero[32] = {};
        const uint8_t *qe = q->qe_report;
        uint8_t digest[32];
        int r;

        /* The QE binds the attestation key (and its authentication data) into its report. */
        r = sha256_two(libctx, q->attestation_key, 64, q->qe_auth_data, q->qe_auth_data_size, digest);
        if (r < 0)
                return r;
        if (memcmp(qe + TDX_QE_REPORT_DATA, digest, 32) != 0 || memcmp(qe + TDX_QE_REPORT_DATA + 32, zero, 32) != 0) {
                r = attest_fail(v, "tdx-qe-report-data",
                                "the QE report data is not SHA-256 of the attestation key and the QE authentication data");
                if (r < 0)
                        return r;
        }

        if (memcmp(qe + TDX_QE_MRSIGNER, intel_td_qe_mrsigner, 32) != 0 || le16(qe + TDX_QE_ISVPRODID) != TDX_QE_ISVPRODID_TD ||
            (qe[TDX_QE_ATTRIBUTES] & TDX_SGX_ATTRIBUTES_DEBUG)) {
                _cleanup_free_ char *signer = hex_encode(qe + TDX_QE_MRSIGNER, 32);

                return attest_fail(v, "tdx-qe-identity",
                                   "the quoting enclave is not Intel's TD QE (MRSIGNER %s, ISVPRODID %u%s)",
                                   strna(signer), le16(qe + TDX_QE_ISVPRODID),
                                   qe[TDX_QE_ATTRIBUTES] & TDX_SGX_ATTRIBUTES_DEBUG ? ", debug" : "");
        }
        return 0;
}

static int check_pck(OSSL_LIB_CTX *libctx, const struct tdx_quote *q, const struct attest_trust *trust,
                     struct attest_verdict *v) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        X509 *pck;
        EVP_PKEY *key;
        int r;

        if (!q->cert_data)
                return attest_fail(v, "tdx-chain", "the quote carries no PCK certificate chain");
        r = parse_pck_chain(libctx, q->cert_data, q->cert_data_size, &certs);
        if (r < 0)
                return r;

        /* The chain is leaf first: the PCK certificate, then its CA, then the root. */
        pck = sk_X509_shift(certs);
        r = attest_verify_chain(trust, ATTEST_ROOT_INTEL_SGX, pck, certs, v, "tdx-chain");
        if (r >= 0) {
                key = X509_get0_pubkey(pck);
                if (!is_p256(key))
                        r = attest_fail(v, "tdx-qe-signature", "the PCK certificate's key is not ECDSA P-256");
                else {
                        r = ecdsa_p256_verify(libctx, key, q->qe_report_signature, q->qe_report, TDX_QE_REPORT_SIZE);
                        if (r == 0)
                                r = attest_fail(v, "tdx-qe-signature", "the QE report signature does not verify with the PCK key");
                }
        }
        X509_free(pck);
        return r < 0 ? r : 0;
}

static int check_policy(const struct tdx_quote *q, const struct tdx_policy *p, struct attest_verdict *v) {
        int r;

        if (p->mrtd) {
                bool found = false;

                for (size_t i = 0; i < p->n_mrtd; i++)
                        if (memcmp(p->mrtd[i], q->mrtd, 48) == 0)
                                found = true;
                if (!found) {
                        _cleanup_free_ char *hex = hex_encode(q->mrtd, 48);

                        r = attest_fail(v, "tdx-mrtd", "MRTD %s is not allowed by the policy", strna(hex));
                        if (r < 0)
                                return r;
                }
        }

        if ((q->td_attributes[0] & TDX_TD_ATTRIBUTES_DEBUG) && !p->allow_debug) {
                r = attest_fail(v, "tdx-debug", "the TD runs in debug mode (TD_ATTRIBUTES.DEBUG) and the policy forbids it");
                if (r < 0)
                        return r;
        }

        for (unsigned i = 0; i < 4; i++)
                if ((p->rtmr_mask & (1U << i)) && memcmp(p->rtmr[i], q->rtmr[i], 48) != 0) {
                        _cleanup_free_ char *hex = hex_encode(q->rtmr[i], 48);

                        r = attest_fail(v, "tdx-rtmr", "RTMR%u is %s, not the value of the policy", i, strna(hex));
                        if (r < 0)
                                return r;
                }
        return 0;
}

int tdx_verify(const struct tdx_quote *q, json_object *policy, const struct attest_trust *trust,
               struct attest_verdict *v) {
        _cleanup_(tdx_policy_done) struct tdx_policy p = {};
        OSSL_LIB_CTX *libctx = trust ? trust->libctx : NULL;
        struct tdx_quote signed_q;
        size_t prefix;
        int r;

        if (!q || !v || !v->claims || !v->failures)
                return -EINVAL;
        /* The signed bytes run from the header to the end of the body: they must be one piece, as
         * tdx_quote_parse() leaves them. */
        prefix = q->version == 5 ? TDX_HEADER_SIZE + TDX_DESCRIPTOR_SIZE : TDX_HEADER_SIZE;
        if (!q->header || !q->body || q->body != q->header + prefix || !q->qe_report ||
            (q->body_size != TDX_BODY_10_SIZE && q->body_size != TDX_BODY_15_SIZE) ||
            (q->qe_auth_data_size > 0 && !q->qe_auth_data))
                return -EINVAL;

        r = policy_parse(policy, &p);
        if (r < 0)
                return r;

        /* Claims and policy read the signed bytes, never copies the caller could have changed. */
        signed_q = *q;
        parse_body(q->body, &signed_q);
        q = &signed_q;

        r = record_claims(q, v);
        if (r < 0)
                return r;
        r = check_quote_signature(libctx, q, v);
        if (r < 0)
                return r;
        r = check_qe_report(libctx, q, v);
        if (r < 0)
                return r;
        r = check_pck(libctx, q, trust, v);
        if (r < 0)
                return r;
        return check_policy(q, &p, v);
}
