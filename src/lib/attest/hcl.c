/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Azure HCL report: what the paravisor (HCL) of an Azure confidential VM writes to vTPM NV index
 * 0x01400001.  It carries the hardware report (SNP or TDX) whose REPORT_DATA is the SHA-256 of the
 * "runtime claims", a JSON document the HCL writes next to it; the claims name the vTPM's attestation
 * key (the JWK "HCLAkPub"), so a TPM2 quote by that key is bound to the hardware report.
 *
 * Layout (every integer little-endian; the NV index may be longer than the report, zero-padded):
 *
 *   0x000  "HCLA"                  magic
 *   0x004  u32 version             1 or 2
 *   0x008  u32 report_size         bytes from 0x000 to the end of the runtime claims
 *   0x00C  u32 request_type
 *   0x010  16 reserved bytes
 *   0x020  1184 bytes              the hardware report: an SNP ATTESTATION_REPORT (report_type 2), or
 *                                  a TDREPORT (report_type 4; 1024 bytes, then zeros)
 *   0x4C0  u32 data_size           bytes from 0x4C0: this 20-byte header and the claims
 *   0x4C4  u32 version             (of this header; 1 in every report seen)
 *   0x4C8  u32 report_type         2: SNP, 4: TDX (1 VBS and 3 TVM are not confidential VMs)
 *   0x4CC  u32 hash_type           1: SHA-256 (2 and 3, SHA-384 and SHA-512, are not used by Azure)
 *   0x4D0  u32 variable_data_size  bytes of runtime-claims JSON
 *   0x4D4  the runtime claims, variable_data_size bytes of JSON
 *
 * The binding is SHA-256 over the claim bytes exactly as stored; they are never re-serialized.  In
 * every report seen (trustee's two SNP reports, kinvolk's v1 SNP report, Constellation's
 * v2 TDX report) the 32 bytes of report data after the digest are zero: the HCL writes the digest
 * and nothing else, so a non-zero tail fails the binding too.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest.h"
#include "crypto-util.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

#define HCL_MAGIC                  "HCLA"
#define HCL_OFF_VERSION            0x004U
#define HCL_OFF_REPORT_SIZE        0x008U
#define HCL_OFF_HW_REPORT          0x020U
#define HCL_HW_REPORT_SIZE         1184U
#define HCL_OFF_DATA               0x4C0U
#define HCL_DATA_HEADER_SIZE       20U
#define HCL_OFF_CLAIMS             (HCL_OFF_DATA + HCL_DATA_HEADER_SIZE)

#define HCL_REPORT_TYPE_SNP        2U
#define HCL_REPORT_TYPE_TDX        4U
#define HCL_HASH_SHA256            1U

#define SNP_OFF_REPORT_DATA        0x50U   /* in the SNP ATTESTATION_REPORT */
#define TDREPORT_OFF_REPORT_DATA   128U    /* in the TDREPORT's REPORTMACSTRUCT */

/* RSA moduli accepted for HCLAkPub: 2048 to 8192 bits (Azure's AK is RSA-2048). */
#define AK_RSA_MIN_BYTES           256U
#define AK_RSA_MAX_BYTES           1024U

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free);

static int bad(const char *why) {
        return log_debug_errno(-EBADMSG, "HCL report: %s", why);
}

int hcl_report_parse(const uint8_t *buf, size_t size, struct hcl_report *ret) {
        uint32_t version, report_size, data_size, report_type, hash_type, claims_size;

        if (!buf || !ret)
                return -EINVAL;
        if (size < HCL_OFF_CLAIMS)
                return bad("shorter than its headers");
        if (memcmp(buf, HCL_MAGIC, 4) != 0)
                return bad("no \"HCLA\" magic");

        version = le32(buf + HCL_OFF_VERSION);
        if (version < 1 || version > 2)
                return log_debug_errno(-EBADMSG, "HCL report: unknown version %" PRIu32, version);

        report_size = le32(buf + HCL_OFF_REPORT_SIZE);
        if (report_size < HCL_OFF_CLAIMS || report_size > size)
                return log_debug_errno(-EBADMSG, "HCL report: report size %" PRIu32 " outside %u..%zu",
                                       report_size, HCL_OFF_CLAIMS, size);

        data_size = le32(buf + HCL_OFF_DATA);
        report_type = le32(buf + HCL_OFF_DATA + 8);
        hash_type = le32(buf + HCL_OFF_DATA + 12);
        claims_size = le32(buf + HCL_OFF_DATA + 16);

        /* Both sizes count from their own start: compare by subtraction, nothing can overflow. */
        if (data_size < HCL_DATA_HEADER_SIZE || data_size > report_size - HCL_OFF_DATA)
                return log_debug_errno(-EBADMSG, "HCL report: data size %" PRIu32 " does not fit the report",
                                       data_size);
        if (claims_size > data_size - HCL_DATA_HEADER_SIZE)
                return log_debug_errno(-EBADMSG, "HCL report: %" PRIu32 " bytes of runtime claims overrun the data",
                                       claims_size);
        if (report_type != HCL_REPORT_TYPE_SNP && report_type != HCL_REPORT_TYPE_TDX)
                return log_debug_errno(-EBADMSG, "HCL report: report type %" PRIu32 " is neither SNP (2) nor TDX (4)",
                                       report_type);
        if (hash_type != HCL_HASH_SHA256)
                return log_debug_errno(-EBADMSG, "HCL report: hash type %" PRIu32 " is not SHA-256 (1)", hash_type);

        *ret = (struct hcl_report) {
                .version = version,
                .report_type = report_type,
                .hw_report = buf + HCL_OFF_HW_REPORT,
                .hash_type = hash_type,
                .claims = buf + HCL_OFF_CLAIMS,
                .claims_size = claims_size,
        };
        return 0;
}

int hcl_report_size(const uint8_t *buf, size_t size, size_t *ret) {
        uint32_t version, report_size;

        if (!buf || !ret)
                return -EINVAL;
        if (size < HCL_OFF_HW_REPORT || memcmp(buf, HCL_MAGIC, 4) != 0)
                return bad("no \"HCLA\" header");
        version = le32(buf + HCL_OFF_VERSION);
        report_size = le32(buf + HCL_OFF_REPORT_SIZE);
        if (version < 1 || version > 2 || report_size < HCL_OFF_CLAIMS || report_size > HCL_REPORT_MAX)
                return log_debug_errno(-EBADMSG, "HCL report: version %" PRIu32 ", report size %" PRIu32
                                       " are not an HCL report's", version, report_size);
        *ret = report_size;
        return 0;
}

int hcl_hw_report_data(const struct hcl_report *h, const uint8_t **ret) {
        if (!h || !h->hw_report || !ret)
                return -EINVAL;
        switch (h->report_type) {
        case HCL_REPORT_TYPE_SNP:
                *ret = h->hw_report + SNP_OFF_REPORT_DATA;
                return 0;
        case HCL_REPORT_TYPE_TDX:
                *ret = h->hw_report + TDREPORT_OFF_REPORT_DATA;
                return 0;
        default:
                return bad("unknown report type");
        }
}

/* ---- the runtime claims ---- */

/* The whole claim bytes must be one JSON object (trailing white space or NULs are tolerated: they
 * are covered by the digest all the same). */
static int claims_parse(const uint8_t *p, size_t size, json_object **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        size_t end;

        if (size == 0 || size > INT_MAX)
                return bad("the runtime claims are empty or too large");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, (const char *) p, (int) size);
        if (!o || json_tokener_get_error(tok) != json_tokener_success)
                return log_debug_errno(-EBADMSG, "HCL report: the runtime claims are not JSON: %s",
                                       json_tokener_error_desc(json_tokener_get_error(tok)));
        end = json_tokener_get_parse_end(tok);
        for (size_t i = end; i < size; i++)
                if (p[i] != 0 && !strchr(" \t\r\n", p[i]))
                        return bad("the runtime claims have bytes after the JSON document");
        if (!json_object_is_type(o, json_type_object))
                return bad("the runtime claims are not a JSON object");

        *ret = TAKE_PTR(o);
        return 0;
}

static int jwk_member(json_object *jwk, const char *key, uint8_t **ret, size_t *ret_size) {
        json_object *m;
        int r;

        if (!json_object_object_get_ex(jwk, key, &m) || !json_object_is_type(m, json_type_string))
                return log_debug_errno(-EBADMSG, "HCL report: HCLAkPub has no string member \"%s\"", key);
        r = base64url_decode(json_object_get_string(m), ret, ret_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_debug_errno(-EBADMSG, "HCL report: HCLAkPub's \"%s\" is not base64url", key);
        return 0;
}

/* HCLAkPub (an RSA JWK) as a key: 0 and *ret = NULL when the claims name no HCLAkPub. */
static int claims_ak(json_object *claims, EVP_PKEY **ret) {
        _cleanup_free_ uint8_t *n = NULL, *e = NULL;
        json_object *keys, *jwk = NULL, *kty;
        size_t n_size, e_size, count;
        int r;

        if (!json_object_object_get_ex(claims, "keys", &keys)) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(keys, json_type_array))
                return bad("the runtime claims' \"keys\" is not an array");

        count = json_object_array_length(keys);
        for (size_t i = 0; i < count; i++) {
                json_object *k = json_object_array_get_idx(keys, i), *kid;

                if (!json_object_is_type(k, json_type_object))
                        return bad("a member of \"keys\" is not an object");
                if (!json_object_object_get_ex(k, "kid", &kid) || !json_object_is_type(kid, json_type_string) ||
                    !streq_ptr(json_object_get_string(kid), "HCLAkPub"))
                        continue;
                if (jwk)
                        return bad("two keys are named HCLAkPub");
                jwk = k;
        }
        if (!jwk) {
                *ret = NULL;
                return 0;
        }

        if (!json_object_object_get_ex(jwk, "kty", &kty) || !json_object_is_type(kty, json_type_string) ||
            !streq_ptr(json_object_get_string(kty), "RSA"))
                return bad("HCLAkPub is not an RSA key");
        r = jwk_member(jwk, "n", &n, &n_size);
        if (r < 0)
                return r;
        r = jwk_member(jwk, "e", &e, &e_size);
        if (r < 0)
                return r;
        /* RFC 7518 6.3.1: no leading zero octets. */
        if (n_size < AK_RSA_MIN_BYTES || n_size > AK_RSA_MAX_BYTES || n[0] == 0)
                return log_debug_errno(-EBADMSG, "HCL report: HCLAkPub's modulus has %zu bytes", n_size);
        if (e_size == 0 || e_size > 8 || e[0] == 0 || !(e[e_size - 1] & 1))
                return bad("HCLAkPub's exponent is not valid");

        r = rsa_public_key(n, n_size, e, e_size, ret);
        if (r < 0)
                return log_debug_errno(r == -ENOMEM ? r : -EBADMSG, "HCL report: HCLAkPub is not a usable RSA key");
        return 0;
}

void hcl_claims_done(struct hcl_claims *c) {
        if (!c)
                return;
        EVP_PKEY_free(c->ak);
        *c = (struct hcl_claims) {};
}

/* "user-data": what was last written to the user-data index 0x01400002 (64 bytes), as 128 hex
 * digits (Constellation's real TDX report and trustee's SNP reports: zeros, never written; the
 * Azure-like vTPM of the tests writes the same encoding).  Anything else carries no nonce. */
static int claims_user_data(json_object *claims, bool *ret_has, uint8_t ret[64]) {
        _cleanup_free_ uint8_t *d = NULL;
        json_object *m;
        size_t n;
        int r;

        *ret_has = false;
        if (!json_object_object_get_ex(claims, "user-data", &m))
                return 0;
        if (!json_object_is_type(m, json_type_string))
                return bad("the runtime claims' \"user-data\" is not a string");
        if (json_object_get_string_len(m) != 128 ||
            strspn(json_object_get_string(m), "0123456789abcdefABCDEF") != 128) {
                log_debug("HCL report: \"user-data\" is not 64 bytes of hex: it carries no nonce");
                return 0;
        }
        /* 128 hex digits: a decoder that fails on them is no reason to call the report fresh or not. */
        r = hex_decode(json_object_get_string(m), &d, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || n != 64)
                return bad("the runtime claims' \"user-data\" does not decode");
        memcpy(ret, d, 64);
        *ret_has = true;
        return 0;
}

int hcl_report_ak(const struct hcl_report *h, EVP_PKEY **ret) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        int r;

        if (!h || !h->claims || !ret)
                return -EINVAL;
        r = claims_parse(h->claims, h->claims_size, &claims);
        if (r < 0)
                return r;
        return claims_ak(claims, ret);
}

int hcl_verify(const struct hcl_report *h, const uint8_t report_data[64], struct attest_verdict *v,
               struct hcl_claims *ret) {
        static const uint8_t zero[32] = {};
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        uint8_t digest[32], user_data[64] = {};
        unsigned digest_size = 0;
        bool bound = true, has_user_data = false;
        json_object *m;
        int r;

        if (!h || !h->claims || !report_data || !v || !ret)
                return -EINVAL;
        if (h->hash_type != HCL_HASH_SHA256)
                return bad("the runtime claims are not hashed with SHA-256");

        if (EVP_Digest(h->claims, h->claims_size, digest, &digest_size, EVP_sha256(), NULL) != 1 ||
            digest_size != sizeof(digest))
                return log_debug_errno(-EIO, "HCL report: SHA-256 failed");

        if (memcmp(digest, report_data, sizeof(digest)) != 0) {
                _cleanup_free_ char *want = hex_encode(digest, sizeof(digest)), *have = hex_encode(report_data, 32);

                if (!want || !have)
                        return -ENOMEM;
                r = attest_fail(v, "hcl-binding", "the report data %s is not the SHA-256 of the runtime claims (%s)",
                                have, want);
                if (r < 0)
                        return r;
                bound = false;
        } else if (memcmp(report_data + 32, zero, sizeof(zero)) != 0) {
                r = attest_fail(v, "hcl-binding", "bytes 32 to 63 of the report data are not zero");
                if (r < 0)
                        return r;
                bound = false;
        }

        r = claims_parse(h->claims, h->claims_size, &claims);
        if (r < 0)
                return r;

        r = claims_ak(claims, &ak);
        if (r < 0)
                return r;
        if (!ak) {
                r = attest_fail(v, "hcl-ak", "no HCLAkPub in the runtime claims");
                if (r < 0)
                        return r;
        }

        r = claims_user_data(claims, &has_user_data, user_data);
        if (r < 0)
                return r;

        /* Claims only for what the hardware report vouches for. */
        if (bound) {
                if (json_object_object_get_ex(claims, "vm-configuration", &m)) {
                        json_object *copy = NULL;

                        if (!json_object_is_type(m, json_type_object))
                                return bad("the runtime claims' \"vm-configuration\" is not an object");
                        if (json_object_deep_copy(m, &copy, NULL) < 0)
                                return -ENOMEM;
                        r = attest_claim(v, "azure-vm-configuration", copy);
                        if (r < 0)
                                return r;
                }
                if (json_object_object_get_ex(claims, "user-data", &m)) {
                        r = attest_claim(v, "azure-user-data", json_object_new_string(json_object_get_string(m)));
                        if (r < 0)
                                return r;
                }
        }

        /* The AK and the user data are returned even when the binding failed (the verdict says so),
         * so that the quote can still be checked and the verdict names every failed check. */
        *ret = (struct hcl_claims) {
                .ak = TAKE_PTR(ak),
                .bound = bound,
                .has_user_data = has_user_data,
        };
        memcpy(ret->user_data, user_data, sizeof(user_data));
        return 0;
}

int hcl_verify_binding(const struct hcl_report *h, const uint8_t report_data[64], struct attest_verdict *v,
                       EVP_PKEY **ret_ak) {
        _cleanup_(hcl_claims_done) struct hcl_claims c = {};
        int r;

        r = hcl_verify(h, report_data, v, &c);
        if (r < 0)
                return r;
        if (ret_ak)
                *ret_ak = TAKE_PTR(c.ak);
        return 0;
}
