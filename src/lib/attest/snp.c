/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AMD SEV-SNP: the ATTESTATION_REPORT (SEV-SNP ABI specification, "ATTESTATION_REPORT Structure"),
 * its ECDSA P-384 signature by the VCEK or VLEK, the key's chain to a pinned AMD ARK, the binding of
 * the VCEK's extensions to the report (TCB, chip id), and the "snp" members of the policy.
 *
 * Report layout (all little-endian; versions 2 to 5 share it, later ones only fill reserved bytes):
 *   0x000 VERSION  0x004 GUEST_SVN  0x008 POLICY  0x010 FAMILY_ID  0x020 IMAGE_ID  0x030 VMPL
 *   0x034 SIGNATURE_ALGO  0x038 CURRENT_TCB  0x040 PLATFORM_INFO  0x048 flags (bit 0 AUTHOR_KEY_EN,
 *   bit 1 MASK_CHIP_ID, bits 2-4 SIGNING_KEY)  0x050 REPORT_DATA  0x090 MEASUREMENT  0x0C0 HOST_DATA
 *   0x0E0 ID_KEY_DIGEST  0x110 AUTHOR_KEY_DIGEST  0x140 REPORT_ID  0x160 REPORT_ID_MA
 *   0x180 REPORTED_TCB  0x188 CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (version 3 and later)
 *   0x1A0 CHIP_ID  0x1E0 COMMITTED_TCB  0x1E8 current/committed firmware versions  0x1F0 LAUNCH_TCB
 *   0x1F8 LAUNCH_MIT_VECTOR, 0x200 CURRENT_MIT_VECTOR (version 5)  0x2A0 SIGNATURE (R: 72 bytes,
 *   S: 72 bytes at 0x2E8, little-endian), over bytes [0, 0x2A0).
 *
 * TCB_VERSION (8 bytes): Milan and Genoa: BOOT_LOADER byte 0, TEE byte 1, SNP byte 6, MICROCODE
 * byte 7.  Turin: FMC byte 0, BOOT_LOADER byte 1, TEE byte 2, SNP byte 3, MICROCODE byte 7.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

#define SNP_OFF_VERSION           0x000
#define SNP_OFF_GUEST_SVN         0x004
#define SNP_OFF_POLICY            0x008
#define SNP_OFF_VMPL              0x030
#define SNP_OFF_SIGNATURE_ALGO    0x034
#define SNP_OFF_CURRENT_TCB       0x038
#define SNP_OFF_PLATFORM_INFO     0x040
#define SNP_OFF_FLAGS             0x048
#define SNP_OFF_REPORT_DATA       0x050
#define SNP_OFF_MEASUREMENT       0x090
#define SNP_OFF_HOST_DATA         0x0C0
#define SNP_OFF_ID_KEY_DIGEST     0x0E0
#define SNP_OFF_AUTHOR_KEY_DIGEST 0x110
#define SNP_OFF_REPORT_ID         0x140
#define SNP_OFF_REPORTED_TCB      0x180
#define SNP_OFF_CPUID_FAM_ID      0x188
#define SNP_OFF_CPUID_MOD_ID      0x189
#define SNP_OFF_CPUID_STEP        0x18A
#define SNP_OFF_CHIP_ID           0x1A0
#define SNP_OFF_COMMITTED_TCB     0x1E0
#define SNP_OFF_SIGNATURE_R       0x2A0
#define SNP_OFF_SIGNATURE_S       0x2E8

#define SNP_FLAG_MASK_CHIP_ID     (UINT32_C(1) << 1)
#define SNP_POLICY_DEBUG          (UINT64_C(1) << 19)
#define SNP_SIGNING_KEY_VCEK      0U
#define SNP_SIGNING_KEY_VLEK      1U
#define SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384 1U

#define SNP_CPUID_FAMILY_TURIN    0x1AU   /* Zen 5; Milan and Genoa are 0x19 */

/* VCEK/VLEK extensions (AMD, "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface"). */
#define OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define OID_BL_SPL       "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE_SPL      "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP_SPL      "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE_SPL    "1.3.6.1.4.1.3704.1.3.8"
#define OID_FMC_SPL      "1.3.6.1.4.1.3704.1.3.9"
#define OID_HWID         "1.3.6.1.4.1.3704.1.4"

#define SNP_TURIN_HWID_SIZE 8U   /* Turin's hwID is the first 8 bytes of CHIP_ID */

DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_IA5STRING *, ASN1_IA5STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);

static inline void sk_X509_shallow_freep(STACK_OF(X509) **p) {
        if (*p)
                sk_X509_free(*p);
}

int snp_report_parse(const uint8_t *buf, size_t size, struct snp_report *ret) {
        struct snp_report r = {};

        if (!buf || size != SNP_REPORT_SIZE)
                return log_debug_errno(-EBADMSG, "SNP report: %zu bytes, expected %u", size, SNP_REPORT_SIZE);

        r.version = le32(buf + SNP_OFF_VERSION);
        if (r.version < 2 || r.version > 5)
                return log_debug_errno(-EBADMSG, "SNP report: version %" PRIu32 " is not supported (2 to 5)",
                                       r.version);

        r.guest_svn = le32(buf + SNP_OFF_GUEST_SVN);
        r.policy = le64(buf + SNP_OFF_POLICY);
        r.vmpl = le32(buf + SNP_OFF_VMPL);
        r.signature_algo = le32(buf + SNP_OFF_SIGNATURE_ALGO);
        r.current_tcb = le64(buf + SNP_OFF_CURRENT_TCB);
        r.platform_info = le64(buf + SNP_OFF_PLATFORM_INFO);
        r.signing_key = (le32(buf + SNP_OFF_FLAGS) >> 2) & 0x7;
        memcpy(r.report_data, buf + SNP_OFF_REPORT_DATA, sizeof(r.report_data));
        memcpy(r.measurement, buf + SNP_OFF_MEASUREMENT, sizeof(r.measurement));
        memcpy(r.host_data, buf + SNP_OFF_HOST_DATA, sizeof(r.host_data));
        memcpy(r.id_key_digest, buf + SNP_OFF_ID_KEY_DIGEST, sizeof(r.id_key_digest));
        memcpy(r.author_key_digest, buf + SNP_OFF_AUTHOR_KEY_DIGEST, sizeof(r.author_key_digest));
        memcpy(r.report_id, buf + SNP_OFF_REPORT_ID, sizeof(r.report_id));
        r.reported_tcb = le64(buf + SNP_OFF_REPORTED_TCB);
        if (r.version >= 3) {
                r.cpuid_fam_id = buf[SNP_OFF_CPUID_FAM_ID];
                r.cpuid_mod_id = buf[SNP_OFF_CPUID_MOD_ID];
                r.cpuid_step = buf[SNP_OFF_CPUID_STEP];
        }
        memcpy(r.chip_id, buf + SNP_OFF_CHIP_ID, sizeof(r.chip_id));
        r.committed_tcb = le64(buf + SNP_OFF_COMMITTED_TCB);
        memcpy(r.signature_r, buf + SNP_OFF_SIGNATURE_R, sizeof(r.signature_r));
        memcpy(r.signature_s, buf + SNP_OFF_SIGNATURE_S, sizeof(r.signature_s));
        r.raw = buf;

        *ret = r;
        return 0;
}

/* ---- TCB ---- */

struct snp_tcb {
        uint8_t fmc;    /* Turin only */
        uint8_t bootloader, tee, snp, microcode;
};

static struct snp_tcb tcb_decode(uint64_t v, bool turin) {
        if (turin)
                return (struct snp_tcb) {
                        .fmc = (uint8_t) v,
                        .bootloader = (uint8_t) (v >> 8),
                        .tee = (uint8_t) (v >> 16),
                        .snp = (uint8_t) (v >> 24),
                        .microcode = (uint8_t) (v >> 56),
                };
        return (struct snp_tcb) {
                .bootloader = (uint8_t) v,
                .tee = (uint8_t) (v >> 8),
                .snp = (uint8_t) (v >> 48),
                .microcode = (uint8_t) (v >> 56),
        };
}

static json_object *tcb_to_json(const struct snp_tcb *t, bool turin) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        if (json_object_object_add(o, "bootloader", json_object_new_int(t->bootloader)) < 0 ||
            json_object_object_add(o, "tee", json_object_new_int(t->tee)) < 0 ||
            json_object_object_add(o, "snp", json_object_new_int(t->snp)) < 0 ||
            json_object_object_add(o, "microcode", json_object_new_int(t->microcode)) < 0 ||
            (turin && json_object_object_add(o, "fmc", json_object_new_int(t->fmc)) < 0))
                return NULL;
        return TAKE_PTR(o);
}

/* ---- policy ---- */

struct snp_policy {
        uint8_t (*measurements)[48];    /* NULL: any */
        size_t n_measurements;
        bool have_measurements;
        bool allow_debug;
        int64_t vmpl;                   /* -1: any */
        bool have_min_tcb;
        struct snp_tcb min_tcb;
        bool have_host_data;
        uint8_t host_data[32];
};

static void snp_policy_done(struct snp_policy *p) {
        free(p->measurements);
        p->measurements = NULL;
}

static int policy_bad(const char *member, const char *why) {
        return log_debug_errno(-EBADMSG, "attestation policy: snp member '%s' %s", member, why);
}

static int only_members(json_object *o, const char *what, const char *const *known) {
        json_object_object_foreach(o, key, val) {
                bool ok = false;

                (void) val;
                for (const char *const *k = known; *k; k++)
                        if (streq_ptr(key, *k))
                                ok = true;
                if (!ok)
                        return log_debug_errno(-EBADMSG, "attestation policy: unknown member '%s' in %s", key, what);
        }
        return 0;
}

static int policy_hex(json_object *v, const char *member, uint8_t *out, size_t size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;
        int r;

        if (!json_object_is_type(v, json_type_string))
                return policy_bad(member, "is not a string");
        r = hex_decode(json_object_get_string(v), &buf, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return policy_bad(member, "is not hex");
        if (n != size)
                return policy_bad(member, "has the wrong length");
        memcpy(out, buf, size);
        return 0;
}

static int policy_byte(json_object *o, const char *key, bool *ret_present, uint8_t *ret) {
        json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ret_present = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return policy_bad(key, "is not a number");
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < 0 || i > 255)
                return policy_bad(key, "is out of range (0 to 255)");
        *ret_present = true;
        *ret = (uint8_t) i;
        return 0;
}

static int snp_policy_parse(json_object *j, struct snp_policy *ret) {
        static const char *const known[] = { "measurements", "allow-debug", "vmpl", "min-tcb", "host-data", NULL };
        static const char *const known_tcb[] = { "bootloader", "tee", "snp", "microcode", "fmc", NULL };
        _cleanup_(snp_policy_done) struct snp_policy p = { .vmpl = -1 };
        json_object *v;
        int r;

        if (!j) {
                *ret = p;
                return 0;
        }
        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "attestation policy: 'snp' is not an object");
        r = only_members(j, "snp", known);
        if (r < 0)
                return r;

        if (json_object_object_get_ex(j, "measurements", &v)) {
                size_t n;

                if (!json_object_is_type(v, json_type_array))
                        return policy_bad("measurements", "is not an array");
                n = json_object_array_length(v);
                p.have_measurements = true;
                if (n > 0) {
                        p.measurements = calloc(n, sizeof(*p.measurements));
                        if (!p.measurements)
                                return -ENOMEM;
                }
                for (size_t k = 0; k < n; k++) {
                        r = policy_hex(json_object_array_get_idx(v, k), "measurements", p.measurements[k], 48);
                        if (r < 0)
                                return r;
                }
                p.n_measurements = n;
        }

        if (json_object_object_get_ex(j, "allow-debug", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        return policy_bad("allow-debug", "is not a boolean");
                p.allow_debug = json_object_get_boolean(v);
        }

        if (json_object_object_get_ex(j, "vmpl", &v)) {
                if (!json_object_is_type(v, json_type_int))
                        return policy_bad("vmpl", "is not a number");
                errno = 0;
                p.vmpl = json_object_get_int64(v);
                if (errno != 0 || p.vmpl < 0 || p.vmpl > 3)
                        return policy_bad("vmpl", "is out of range (0 to 3)");
        }

        if (json_object_object_get_ex(j, "min-tcb", &v)) {
                bool present;

                if (!json_object_is_type(v, json_type_object))
                        return policy_bad("min-tcb", "is not an object");
                r = only_members(v, "snp.min-tcb", known_tcb);
                if (r < 0)
                        return r;
                /* An absent component is not constrained (its minimum is 0). */
                if ((r = policy_byte(v, "bootloader", &present, &p.min_tcb.bootloader)) < 0 ||
                    (r = policy_byte(v, "tee", &present, &p.min_tcb.tee)) < 0 ||
                    (r = policy_byte(v, "snp", &present, &p.min_tcb.snp)) < 0 ||
                    (r = policy_byte(v, "microcode", &present, &p.min_tcb.microcode)) < 0 ||
                    (r = policy_byte(v, "fmc", &present, &p.min_tcb.fmc)) < 0)
                        return r;
                p.have_min_tcb = true;
        }

        if (json_object_object_get_ex(j, "host-data", &v)) {
                r = policy_hex(v, "host-data", p.host_data, sizeof(p.host_data));
                if (r < 0)
                        return r;
                p.have_host_data = true;
        }

        *ret = p;
        p.measurements = NULL;
        return 0;
}

/* ---- the VCEK's extensions ---- */

/* The contents (the extnValue OCTET STRING's bytes) of the one extension with that OID.  -ENOENT when
 * absent, -EBADMSG when it appears twice. */
static int find_ext(X509 *cert, const char *oid, const uint8_t **ret, size_t *ret_size) {
        const ASN1_OCTET_STRING *found = NULL;
        int n = X509_get_ext_count(cert);

        for (int i = 0; i < n; i++) {
                X509_EXTENSION *ext = X509_get_ext(cert, i);
                char txt[80];

                if (OBJ_obj2txt(txt, sizeof(txt), X509_EXTENSION_get_object(ext), 1) <= 0)
                        continue;
                if (strcmp(txt, oid) != 0)
                        continue;
                if (found)
                        return -EBADMSG;
                found = X509_EXTENSION_get_data(ext);
        }
        if (!found)
                return -ENOENT;
        *ret = ASN1_STRING_get0_data(found);
        *ret_size = (size_t) ASN1_STRING_length(found);
        return 0;
}

/* An SPL extension: a DER INTEGER from 0 to 255. */
static int ext_spl(X509 *cert, const char *oid, uint8_t *ret) {
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *i = NULL;
        const uint8_t *p, *q;
        size_t n;
        int64_t value;
        int r;

        r = find_ext(cert, oid, &p, &n);
        if (r < 0)
                return r;
        q = p;
        i = d2i_ASN1_INTEGER(NULL, &q, (long) n);
        if (!i || q != p + n)
                return -EBADMSG;
        if (ASN1_INTEGER_get_int64(&value, i) != 1 || value < 0 || value > 255)
                return -EBADMSG;
        *ret = (uint8_t) value;
        return 0;
}

/* The product name ("Milan-B0", "Genoa", "Turin"...): a DER IA5String.  -ENOENT when absent. */
static int ext_product_name(X509 *cert, char *buf, size_t size) {
        _cleanup_(ASN1_IA5STRING_freep) ASN1_IA5STRING *s = NULL;
        const uint8_t *p, *q;
        size_t n, len;
        int r;

        r = find_ext(cert, OID_PRODUCT_NAME, &p, &n);
        if (r < 0)
                return r;
        q = p;
        s = d2i_ASN1_IA5STRING(NULL, &q, (long) n);
        if (!s || q != p + n)
                return -EBADMSG;
        len = (size_t) ASN1_STRING_length(s);
        if (len >= size || memchr(ASN1_STRING_get0_data(s), 0, len))
                return -EBADMSG;
        memcpy(buf, ASN1_STRING_get0_data(s), len);
        buf[len] = 0;
        return 0;
}

/* The hwID (64 bytes, or 8 on Turin) into ret: the raw bytes as AMD's KDS first issued it, or the
 * same bytes in a DER OCTET STRING as it issues it now. */
static int ext_hwid(X509 *cert, uint8_t ret[64], size_t *ret_size) {
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *s = NULL;
        const uint8_t *p, *q;
        size_t n;
        int r;

        r = find_ext(cert, OID_HWID, &p, &n);
        if (r < 0)
                return r;
        if (n != 64 && n != SNP_TURIN_HWID_SIZE) {
                q = p;
                s = d2i_ASN1_OCTET_STRING(NULL, &q, (long) n);
                /* The whole extension, and in DER: a two-byte header (the tag and a short length). */
                if (!s || q != p + n || (size_t) ASN1_STRING_length(s) + 2 != n)
                        return -EBADMSG;
                p = ASN1_STRING_get0_data(s);
                n -= 2;
                if (n != 64 && n != SNP_TURIN_HWID_SIZE)
                        return -EBADMSG;
        }
        memcpy(ret, p, n);
        *ret_size = n;
        return 0;
}

/* ---- verification ---- */

static bool pkey_is_p384(EVP_PKEY *pkey) {
        char group[32];
        size_t len = 0;

        return pkey && EVP_PKEY_is_a(pkey, "EC") &&
               EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) == 1 &&
               strcmp(group, "secp384r1") == 0;
}

/* The report's signing key among the certificates: an end-entity (not a CA) EC P-384 certificate;
 * when there are several, the one of the kind the report names (a VCEK carries a hwID, a VLEK does
 * not). */
static int signature_valid(const struct snp_report *r, X509 *leaf, const struct attest_trust *trust);

/* The leaf that signed the report: among the P-384 end-entity certificates of the report's kind
 * (VCEK or VLEK), the one whose key verifies the signature.  A certificate cache may hold several
 * (an older VCEK kept after a TCB update), in any order.  When none verifies, the first of the
 * right kind (else the first at all) is returned, so that every check can name what fails. */
static X509 *find_leaf(STACK_OF(X509) *certs, const struct snp_report *r, const struct attest_trust *trust,
                       bool *ret_verified) {
        X509 *first = NULL, *first_kind = NULL;

        *ret_verified = false;

        for (int i = 0; certs && i < sk_X509_num(certs); i++) {
                X509 *c = sk_X509_value(certs, i);
                const uint8_t *p;
                size_t n;
                bool is_vcek;

                if (X509_check_ca(c) != 0 || !pkey_is_p384(X509_get0_pubkey(c)))
                        continue;
                if (!first)
                        first = c;
                is_vcek = find_ext(c, OID_HWID, &p, &n) != -ENOENT;
                if (is_vcek != (r->signing_key == SNP_SIGNING_KEY_VCEK))
                        continue;
                if (!first_kind)
                        first_kind = c;
                if (r->signature_algo == SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384 && signature_valid(r, c, trust) == 1) {
                        *ret_verified = true;
                        return c;
                }
        }
        return first_kind ?: first;
}

/* 1 when the key of leaf verifies the report's signature, 0 when it does not, negative errno. */
static int signature_valid(const struct snp_report *r, X509 *leaf, const struct attest_trust *trust) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        _cleanup_(BN_freep) BIGNUM *br = NULL, *bs = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        uint8_t *p;
        int len, ok;

        br = BN_lebin2bn(r->signature_r, sizeof(r->signature_r), NULL);
        bs = BN_lebin2bn(r->signature_s, sizeof(r->signature_s), NULL);
        sig = ECDSA_SIG_new();
        if (!br || !bs || !sig)
                return -ENOMEM;
        if (ECDSA_SIG_set0(sig, br, bs) != 1)
                return -ENOMEM;
        br = bs = NULL;   /* owned by sig */

        len = i2d_ECDSA_SIG(sig, NULL);
        if (len <= 0)
                return -ENOMEM;
        der = malloc((size_t) len);
        if (!der)
                return -ENOMEM;
        p = der;
        if (i2d_ECDSA_SIG(sig, &p) != len)
                return -ENOMEM;

        md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        if (EVP_DigestVerifyInit_ex(md, NULL, "SHA384", trust ? trust->libctx : NULL, NULL,
                                    X509_get0_pubkey(leaf), NULL) != 1)
                return log_debug_errno(-EIO, "SNP report: cannot set up the ECDSA verification");
        ok = EVP_DigestVerify(md, der, (size_t) len, r->raw, SNP_SIGNED_SIZE);
        ERR_clear_error();
        return ok == 1;
}

/* verified: find_leaf() already verified the signature with this leaf. */
static int verify_signature(const struct snp_report *r, X509 *leaf, bool verified, const struct attest_trust *trust,
                            struct attest_verdict *v) {
        int k;

        if (r->signature_algo != SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384)
                return attest_fail(v, "snp-signature", "signature algorithm %" PRIu32 " is not ECDSA P-384 with SHA-384",
                                   r->signature_algo);
        k = verified ? 1 : signature_valid(r, leaf, trust);
        if (k < 0)
                return k;
        if (k == 0)
                return attest_fail(v, "snp-signature", "the report's signature does not verify with the key of the %s certificate",
                                   r->signing_key == SNP_SIGNING_KEY_VLEK ? "VLEK" : "VCEK");
        return 0;
}

/* Is this a Turin (the TCB layout with FMC)?  The VCEK's product name says; without it, the CPUID
 * family of a version 3 report; without either, the Milan/Genoa layout. */
static int decide_turin(const struct snp_report *r, X509 *leaf, struct attest_verdict *v, bool *ret) {
        char product[64];
        bool have_cpuid = r->version >= 3 && r->cpuid_fam_id != 0;
        bool cpuid_turin = r->cpuid_fam_id == SNP_CPUID_FAMILY_TURIN;
        int k;

        k = leaf ? ext_product_name(leaf, product, sizeof(product)) : -ENOENT;
        if (k == -EBADMSG) {
                *ret = have_cpuid && cpuid_turin;
                return attest_fail(v, "snp-vcek-tcb", "the certificate's product name is malformed");
        }
        if (k < 0) {
                *ret = have_cpuid && cpuid_turin;
                return 0;
        }
        *ret = strncmp(product, "Turin", 5) == 0;
        if (have_cpuid && *ret != cpuid_turin)
                return attest_fail(v, "snp-vcek-tcb", "the certificate is for %s but the report's CPUID family is 0x%02x",
                                   product, r->cpuid_fam_id);
        return 0;
}

static int verify_leaf_extensions(const struct snp_report *r, X509 *leaf, bool turin, struct attest_verdict *v) {
        static const struct {
                const char *name, *oid;
                size_t offset;
                bool turin_only;
        } spls[] = {
                { "fmc", OID_FMC_SPL, offsetof(struct snp_tcb, fmc), true },
                { "bootloader", OID_BL_SPL, offsetof(struct snp_tcb, bootloader), false },
                { "tee", OID_TEE_SPL, offsetof(struct snp_tcb, tee), false },
                { "snp", OID_SNP_SPL, offsetof(struct snp_tcb, snp), false },
                { "microcode", OID_UCODE_SPL, offsetof(struct snp_tcb, microcode), false },
        };
        struct snp_tcb reported = tcb_decode(r->reported_tcb, turin);
        bool vlek = r->signing_key == SNP_SIGNING_KEY_VLEK;
        uint8_t hwid[64];
        size_t hwid_size;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(spls); i++) {
                uint8_t want = ((const uint8_t *) &reported)[spls[i].offset], got;

                if (spls[i].turin_only && !turin)
                        continue;
                k = ext_spl(leaf, spls[i].oid, &got);
                if (k == -ENOENT) {
                        k = attest_fail(v, "snp-vcek-tcb", "the certificate has no %s SPL", spls[i].name);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (k < 0) {
                        k = attest_fail(v, "snp-vcek-tcb", "the certificate's %s SPL is malformed", spls[i].name);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (got != want) {
                        k = attest_fail(v, "snp-vcek-tcb", "%s SPL %u in the certificate, %u in REPORTED_TCB",
                                        spls[i].name, got, want);
                        if (k < 0)
                                return k;
                }
        }

        /* A VLEK is not bound to a chip; a VCEK is, unless the guest asked the firmware to mask the
         * chip id (then the VCEK's signature is the only binding). */
        k = ext_hwid(leaf, hwid, &hwid_size);
        if (vlek) {
                if (k != -ENOENT)
                        return attest_fail(v, "snp-vcek-chip-id", "the report names a VLEK but the certificate is a VCEK (it has a hwID)");
                return 0;
        }
        if (le32(r->raw + SNP_OFF_FLAGS) & SNP_FLAG_MASK_CHIP_ID) {
                log_debug("SNP report: CHIP_ID is masked, the VCEK's hwID is not compared");
                return 0;
        }
        if (k == -ENOENT)
                return attest_fail(v, "snp-vcek-chip-id", "the VCEK has no hwID");
        if (k < 0)
                return attest_fail(v, "snp-vcek-chip-id", "the VCEK's hwID is malformed");
        if (hwid_size == SNP_TURIN_HWID_SIZE && !turin)
                return attest_fail(v, "snp-vcek-chip-id", "the VCEK's hwID has %zu bytes but this is not a Turin", hwid_size);
        if (memcmp(hwid, r->chip_id, hwid_size) != 0)
                return attest_fail(v, "snp-vcek-chip-id", "the VCEK's hwID differs from the report's CHIP_ID");
        return 0;
}

static int check_policy(const struct snp_report *r, const struct snp_policy *p, bool turin, struct attest_verdict *v) {
        bool debug = r->policy & SNP_POLICY_DEBUG;
        int k;

        if (p->have_measurements) {
                bool found = false;

                for (size_t i = 0; i < p->n_measurements; i++)
                        if (memcmp(p->measurements[i], r->measurement, sizeof(r->measurement)) == 0)
                                found = true;
                if (!found) {
                        _cleanup_free_ char *hex = hex_encode(r->measurement, sizeof(r->measurement));

                        if (!hex)
                                return -ENOMEM;
                        k = attest_fail(v, "snp-measurement", "launch measurement %s is not allowed", hex);
                        if (k < 0)
                                return k;
                }
        }

        if (debug && !p->allow_debug) {
                k = attest_fail(v, "snp-debug", "the guest policy allows debugging (0x%016" PRIx64 ")", r->policy);
                if (k < 0)
                        return k;
        }

        if (p->vmpl >= 0 && r->vmpl != (uint32_t) p->vmpl) {
                k = attest_fail(v, "snp-vmpl", "VMPL %" PRIu32 ", the policy requires %" PRId64, r->vmpl, p->vmpl);
                if (k < 0)
                        return k;
        }

        if (p->have_min_tcb) {
                struct snp_tcb t = tcb_decode(r->reported_tcb, turin);
                const struct {
                        const char *name;
                        uint8_t have, min;
                } c[] = {
                        { "bootloader", t.bootloader, p->min_tcb.bootloader },
                        { "tee", t.tee, p->min_tcb.tee },
                        { "snp", t.snp, p->min_tcb.snp },
                        { "microcode", t.microcode, p->min_tcb.microcode },
                        { "fmc", t.fmc, p->min_tcb.fmc },   /* 0 before Turin: a minimum above 0 fails */
                };

                for (size_t i = 0; i < ELEMENTSOF(c); i++)
                        if (c[i].have < c[i].min) {
                                k = attest_fail(v, "snp-tcb", "REPORTED_TCB %s %u is below the minimum %u",
                                                c[i].name, c[i].have, c[i].min);
                                if (k < 0)
                                        return k;
                        }
        }

        if (p->have_host_data && memcmp(p->host_data, r->host_data, sizeof(r->host_data)) != 0) {
                k = attest_fail(v, "snp-host-data", "HOST_DATA differs from the policy's");
                if (k < 0)
                        return k;
        }
        return 0;
}

static int record_claims(const struct snp_report *r, bool turin, struct attest_verdict *v) {
        struct snp_tcb t = tcb_decode(r->reported_tcb, turin);
        const char *key = r->signing_key == SNP_SIGNING_KEY_VCEK ? "vcek" :
                          r->signing_key == SNP_SIGNING_KEY_VLEK ? "vlek" : "none";
        int k;

        if ((k = attest_claim(v, "platform", json_object_new_string("snp"))) < 0 ||
            (k = attest_claim(v, "version", json_object_new_int((int32_t) r->version))) < 0 ||
            (k = attest_claim_hex(v, "measurement", r->measurement, sizeof(r->measurement))) < 0 ||
            (k = attest_claim_hex(v, "report-data", r->report_data, sizeof(r->report_data))) < 0 ||
            (k = attest_claim_hex(v, "host-data", r->host_data, sizeof(r->host_data))) < 0 ||
            (k = attest_claim(v, "tcb", tcb_to_json(&t, turin))) < 0 ||
            (k = attest_claim(v, "debug", json_object_new_boolean(!!(r->policy & SNP_POLICY_DEBUG)))) < 0 ||
            (k = attest_claim(v, "vmpl", json_object_new_int64(r->vmpl))) < 0 ||
            (k = attest_claim_hex(v, "chip-id", r->chip_id, sizeof(r->chip_id))) < 0 ||
            (k = attest_claim(v, "signing-key", json_object_new_string(key))) < 0)
                return k;
        return 0;
}

int snp_verify(const struct snp_report *r, STACK_OF(X509) *certs, json_object *policy,
               const struct attest_trust *trust, struct attest_verdict *v) {
        _cleanup_(snp_policy_done) struct snp_policy p = {};
        _cleanup_(sk_X509_shallow_freep) STACK_OF(X509) *others = NULL;
        bool turin;
        X509 *leaf;
        bool leaf_verified;
        int k;

        if (!r || !r->raw || !v)
                return -EINVAL;

        /* A malformed policy is caught before any check is recorded. */
        k = snp_policy_parse(policy, &p);
        if (k < 0)
                return k;

        leaf = find_leaf(certs, r, trust, &leaf_verified);

        k = decide_turin(r, leaf, v, &turin);
        if (k < 0)
                return k;
        k = record_claims(r, turin, v);
        if (k < 0)
                return k;

        if (r->signing_key != SNP_SIGNING_KEY_VCEK && r->signing_key != SNP_SIGNING_KEY_VLEK) {
                k = attest_fail(v, "snp-signature", "the report is not signed by a VCEK or VLEK (signing key %" PRIu32 ")",
                                r->signing_key);
                if (k < 0)
                        return k;
        } else if (!leaf) {
                k = attest_fail(v, "snp-chain", "no %s in the evidence: the signature cannot be checked",
                                r->signing_key == SNP_SIGNING_KEY_VLEK ? "VLEK" : "VCEK");
                if (k < 0)
                        return k;
        } else {
                k = verify_signature(r, leaf, leaf_verified, trust, v);
                if (k < 0)
                        return k;

                others = sk_X509_new_null();
                if (!others)
                        return -ENOMEM;
                for (int i = 0; i < sk_X509_num(certs); i++) {
                        X509 *c = sk_X509_value(certs, i);

                        if (c != leaf && sk_X509_push(others, c) <= 0)
                                return -ENOMEM;
                }
                k = attest_verify_chain(trust, ATTEST_ROOT_AMD_ARK, leaf, others, v, "snp-chain");
                if (k < 0)
                        return k;

                k = verify_leaf_extensions(r, leaf, turin, v);
                if (k < 0)
                        return k;
        }

        return check_policy(r, &p, turin, v);
}
