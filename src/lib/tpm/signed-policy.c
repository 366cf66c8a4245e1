/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signed PCR policies (TPM2_PolicyAuthorize): tokens enrolled with --tpm2-public-key, the documents of
 * `cvmseal policy sign`, and the unseal that picks a document for the current boot state.  The format
 * and the policy are described in signed-policy.h and docs/image-pipeline.md.
 *
 * The documents come from a directory anyone with root on the running system (or the image builder)
 * may write, so each one is untrusted input: it is parsed strictly and its signature verified in
 * software before the TPM sees it, and a bad one is skipped, never fatal, so that a damaged file next
 * to a good one does not stop a boot.  The TPM then checks everything again (PolicyPCR,
 * VerifySignature, PolicyAuthorize): the software checks only choose the document, and save commands.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "crypto-util.h"
#include "encoding.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "secret.h"
#include "signed-policy.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free);

#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 4096
#define RSA_EXPONENT_DEFAULT 65537

/* ---- the signing key ---- */

static const TPMA_OBJECT key_attributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_SIGN_ENCRYPT;

static int bn_param(EVP_PKEY *pkey, const char *name, BIGNUM **ret) {
        if (EVP_PKEY_get_bn_param(pkey, name, ret) != 1 || !*ret)
                return log_debug_errno(-EKEYREJECTED, "The signing key has no %s", name);
        return 0;
}

int signed_policy_key_from_pkey(EVP_PKEY *pkey, TPM2B_PUBLIC *ret) {
        TPM2B_PUBLIC p = {
                .publicArea = {
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = key_attributes,
                },
        };
        TPMT_PUBLIC *a = &p.publicArea;

        if (!pkey || !ret)
                return -EINVAL;

        if (EVP_PKEY_is_a(pkey, "RSA")) {
                _cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;
                int bits = EVP_PKEY_get_bits(pkey);
                BN_ULONG exp;

                if (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX || bits % 8 != 0)
                        return log_debug_errno(-EKEYREJECTED, "An RSA signing key must have 2048 to 4096 bits, not %d",
                                               bits);
                if (bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) < 0 || bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) < 0)
                        return -EKEYREJECTED;
                exp = BN_get_word(e);
                if (BN_num_bits(e) > 32 || exp < 3 || exp % 2 == 0)
                        return log_debug_errno(-EKEYREJECTED, "The RSA signing key's exponent is not usable");

                a->type = TPM2_ALG_RSA;
                a->parameters.rsaDetail = (TPMS_RSA_PARMS) {
                        .symmetric = { .algorithm = TPM2_ALG_NULL },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .keyBits = (TPMI_RSA_KEY_BITS) bits,
                        /* Written out even when it is the default 65537 (0 would mean the same key
                         * with another name): as tpm2-tools writes it. */
                        .exponent = (UINT32) exp,
                };
                a->unique.rsa.size = (UINT16) (bits / 8);
                if (BN_bn2binpad(n, a->unique.rsa.buffer, bits / 8) != bits / 8)
                        return -EKEYREJECTED;
        } else if (EVP_PKEY_is_a(pkey, "EC")) {
                _cleanup_(BN_freep) BIGNUM *x = NULL, *y = NULL;
                char group[64] = "";

                if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1 ||
                    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
                        return log_debug_errno(-EKEYREJECTED, "An ECC signing key must be on P-256, not '%s'", group);
                if (bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) < 0 || bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) < 0)
                        return -EKEYREJECTED;

                a->type = TPM2_ALG_ECC;
                a->parameters.eccDetail = (TPMS_ECC_PARMS) {
                        .symmetric = { .algorithm = TPM2_ALG_NULL },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .curveID = TPM2_ECC_NIST_P256,
                        .kdf = { .scheme = TPM2_ALG_NULL },
                };
                a->unique.ecc.x.size = 32;
                a->unique.ecc.y.size = 32;
                if (BN_bn2binpad(x, a->unique.ecc.x.buffer, 32) != 32 || BN_bn2binpad(y, a->unique.ecc.y.buffer, 32) != 32)
                        return -EKEYREJECTED;
        } else
                return log_debug_errno(-EKEYREJECTED, "The signing key is neither RSA nor ECC");

        *ret = p;
        return 0;
}

int signed_policy_key_from_pem(const char *pem, size_t size, TPM2B_PUBLIC *ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;

        if (!pem || size == 0 || size > INT32_MAX)
                return -EINVAL;
        bio = BIO_new_mem_buf(pem, (int) size);
        if (!bio)
                return -ENOMEM;
        pkey = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, NULL, NULL);
        if (!pkey)
                return log_debug_errno(-EKEYREJECTED, "The public key is not a PEM public key");
        return signed_policy_key_from_pkey(pkey, ret);
}

static int p256_from_xy(const uint8_t x[32], const uint8_t y[32], EVP_PKEY **ret) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        uint8_t point[65];
        EVP_PKEY *pkey = NULL;

        point[0] = POINT_CONVERSION_UNCOMPRESSED;
        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
                return -ENOMEM;
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!params || !ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return log_debug_errno(-EBADMSG, "Not a point on P-256");
        *ret = pkey;
        return 0;
}

int signed_policy_key_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        const TPMT_PUBLIC *a = &pub->publicArea;
        TPM2B_PUBLIC again;
        int r;

        if (a->type == TPM2_ALG_RSA) {
                UINT32 exp = a->parameters.rsaDetail.exponent ?: RSA_EXPONENT_DEFAULT;
                uint8_t e[4] = { (uint8_t) (exp >> 24), (uint8_t) (exp >> 16), (uint8_t) (exp >> 8), (uint8_t) exp };

                if (a->unique.rsa.size == 0)
                        return log_debug_errno(-EBADMSG, "The signing key has no modulus");
                r = rsa_public_key(a->unique.rsa.buffer, a->unique.rsa.size, e, sizeof(e), &pkey);
        } else if (a->type == TPM2_ALG_ECC) {
                if (a->unique.ecc.x.size != 32 || a->unique.ecc.y.size != 32)
                        return log_debug_errno(-EBADMSG, "The signing key is not a P-256 point");
                r = p256_from_xy(a->unique.ecc.x.buffer, a->unique.ecc.y.buffer, &pkey);
        } else
                return log_debug_errno(-EBADMSG, "The signing key is neither RSA nor ECC");
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;

        /* Only the template this module writes: anything else in the public area is refused. */
        r = signed_policy_key_from_pkey(pkey, &again);
        if (r < 0)
                return -EBADMSG;
        if (memcmp(&again.publicArea, a, sizeof(*a)) != 0)
                return log_debug_errno(-EBADMSG, "The signing key's public area is not cvmseal's template");
        *ret = TAKE_PTR(pkey);
        return 0;
}

int signed_policy_key_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *ret) {
        uint8_t buf[sizeof(TPMT_PUBLIC)];
        size_t size = 0;
        unsigned n = 0;
        TSS2_RC rc;

        rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf), &size);
        if (rc != TSS2_RC_SUCCESS)
                return log_debug_errno(-EINVAL, "Cannot marshal the signing key: %s", Tss2_RC_Decode(rc));
        ret->name[0] = (TPM2_ALG_SHA256 >> 8) & 0xFF;
        ret->name[1] = TPM2_ALG_SHA256 & 0xFF;
        if (EVP_Digest(buf, size, ret->name + 2, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;
        ret->size = 34;
        return 0;
}

int signed_policy_token_key(const uint8_t *pub, size_t pub_size, const uint8_t *name, size_t name_size,
                            TPM2B_PUBLIC *ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        TPM2B_PUBLIC key = {};
        TPM2B_NAME computed;
        size_t off = 0;
        int r;

        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_size, &off, &key) != TSS2_RC_SUCCESS || off != pub_size)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'tpm2.public-key.public' is not a TPM2B_PUBLIC");
        r = signed_policy_key_to_pkey(&key, &pkey);
        if (r < 0)
                return r == -ENOMEM ? r : log_debug_errno(-EBADMSG, "cvmseal token: 'tpm2.public-key.public' is not a "
                                                                     "signing key of cvmseal's template");
        r = signed_policy_key_name(&key, &computed);
        if (r < 0)
                return r;
        if (name_size != computed.size || memcmp(name, computed.name, name_size) != 0)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'tpm2.public-key.name' is not the key's name");
        *ret = key;
        return 0;
}

int signed_policy_token_key_marshal(const TPM2B_PUBLIC *key, uint8_t **ret_pub, size_t *ret_pub_size,
                                    uint8_t **ret_name, size_t *ret_name_size) {
        _cleanup_free_ uint8_t *pub = malloc(sizeof(TPM2B_PUBLIC)), *name = malloc(34);
        TPM2B_NAME n;
        size_t size = 0;
        int r;

        if (!pub || !name)
                return -ENOMEM;
        if (Tss2_MU_TPM2B_PUBLIC_Marshal(key, pub, sizeof(TPM2B_PUBLIC), &size) != TSS2_RC_SUCCESS)
                return -EIO;
        r = signed_policy_key_name(key, &n);
        if (r < 0)
                return r;
        memcpy(name, n.name, 34);
        *ret_pub = TAKE_PTR(pub);
        *ret_pub_size = size;
        *ret_name = TAKE_PTR(name);
        *ret_name_size = 34;
        return 0;
}

/* ---- policy digests ---- */

/* policy = SHA-256(policy || cc || a || b) */
static int policy_update(uint8_t policy[32], TPM2_CC cc, const void *a, size_t an, const void *b, size_t bn) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t ccb[4] = { (uint8_t) (cc >> 24), (uint8_t) (cc >> 16), (uint8_t) (cc >> 8), (uint8_t) cc };
        unsigned n = 0;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, policy, 32) != 1 ||
            EVP_DigestUpdate(ctx, ccb, sizeof(ccb)) != 1 || (an > 0 && EVP_DigestUpdate(ctx, a, an) != 1) ||
            (bn > 0 && EVP_DigestUpdate(ctx, b, bn) != 1) || EVP_DigestFinal_ex(ctx, policy, &n) != 1 || n != 32)
                return -EIO;
        return 0;
}

static void pcr_selection(uint32_t mask, TPML_PCR_SELECTION *ret) {
        *ret = (TPML_PCR_SELECTION) {
                .count = 1,
                .pcrSelections[0] = {
                        .hash = TPM2_ALG_SHA256,
                        .sizeofSelect = 3,
                        .pcrSelect = { mask & 0xFF, (mask >> 8) & 0xFF, (mask >> 16) & 0xFF },
                },
        };
}

/* H(values of mask, ascending PCR order): PolicyPCR's pcrDigest. */
static int pcr_values_digest(uint32_t mask, const uint8_t values[CVMSEAL_PCR_MAX][32], TPM2B_DIGEST *ret) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n = 0;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return -EIO;
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if ((mask & (UINT32_C(1) << i)) && EVP_DigestUpdate(ctx, values[i], 32) != 1)
                        return -EIO;
        if (EVP_DigestFinal_ex(ctx, ret->buffer, &n) != 1 || n != 32)
                return -EIO;
        ret->size = 32;
        return 0;
}

/* policy = SHA-256(policy || data) */
static int policy_hash_in(uint8_t policy[32], const void *data, size_t size) {
        uint8_t in[32 + 64];
        unsigned n = 0;

        if (size > sizeof(in) - 32)
                return -EINVAL;
        memcpy(in, policy, 32);
        memcpy(in + 32, data, size);
        if (EVP_Digest(in, 32 + size, policy, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;
        return 0;
}

/* policy = H(policy || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || H(values)) */
static int policy_pcr_update(uint8_t policy[32], uint32_t mask, const uint8_t values[CVMSEAL_PCR_MAX][32]) {
        uint8_t sel_buf[sizeof(TPML_PCR_SELECTION)];
        TPML_PCR_SELECTION sel;
        TPM2B_DIGEST d;
        size_t sel_size = 0;
        int r;

        r = pcr_values_digest(mask, values, &d);
        if (r < 0)
                return r;
        pcr_selection(mask, &sel);
        if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, sel_buf, sizeof(sel_buf), &sel_size) != TSS2_RC_SUCCESS)
                return -EIO;
        return policy_update(policy, TPM2_CC_PolicyPCR, sel_buf, sel_size, d.buffer, d.size);
}

int signed_policy_authorize_digest(const TPM2B_NAME *key_name, const struct signed_policy_fixed *fixed, bool pin,
                                   TPM2B_DIGEST *ret) {
        uint8_t policy[32] = {};
        int r;

        if (!key_name || key_name->size != 34 || !ret)
                return -EINVAL;
        if (fixed && fixed->mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return -EINVAL;

        /* PolicyAuthorize: H(0...0 || TPM_CC_PolicyAuthorize || keyName), then H(that || policyRef).  It
         * resets the digest, so whatever must hold besides the signed part comes after it. */
        r = policy_update(policy, TPM2_CC_PolicyAuthorize, key_name->name, key_name->size, NULL, 0);
        if (r >= 0)
                r = policy_hash_in(policy, SIGNED_POLICY_REF, SIGNED_POLICY_REF_SIZE);
        if (r >= 0 && fixed && fixed->mask != 0)
                r = policy_pcr_update(policy, fixed->mask, fixed->values);
        if (r >= 0 && pin)
                r = policy_update(policy, TPM2_CC_PolicyAuthValue, NULL, 0, NULL, 0);
        if (r < 0)
                return r;

        ret->size = 32;
        memcpy(ret->buffer, policy, 32);
        return 0;
}

int signed_policy_approved(const struct pcr_values *v, uint32_t mask, TPM2B_DIGEST *ret) {
        uint8_t policy[32] = {};
        int r;

        if (!v || !ret || mask == 0 || mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return -EINVAL;
        if ((v->mask & mask) != mask)
                return log_debug_errno(-EINVAL, "The PCR values lack PCRs of 0x%06x", (unsigned) mask);
        /* The same digest as tpm2_policy_digest(mask, values, false). */
        r = policy_pcr_update(policy, mask, (const uint8_t (*)[32]) v->sha256);
        if (r < 0)
                return r;
        ret->size = 32;
        memcpy(ret->buffer, policy, 32);
        return 0;
}

int signed_policy_ahash(const TPM2B_DIGEST *approved, uint8_t ret[32]) {
        uint8_t in[sizeof(approved->buffer) + SIGNED_POLICY_REF_SIZE];
        unsigned n = 0;

        if (approved->size > sizeof(approved->buffer))
                return -EINVAL;
        memcpy(in, approved->buffer, approved->size);
        memcpy(in + approved->size, SIGNED_POLICY_REF, SIGNED_POLICY_REF_SIZE);
        if (EVP_Digest(in, approved->size + SIGNED_POLICY_REF_SIZE, ret, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;
        return 0;
}

/* ---- signatures ---- */

static int sign_ahash(EVP_PKEY *key, const uint8_t ahash[32], TPMT_SIGNATURE *ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        TPMT_SIGNATURE s = {};
        bool rsa = EVP_PKEY_is_a(key, "RSA");
        size_t size = 0;

        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (!ctx)
                return -ENOMEM;
        if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
            (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
            EVP_PKEY_sign(ctx, NULL, &size, ahash, 32) != 1)
                return log_debug_errno(-EKEYREJECTED, "The private key cannot sign");
        sig = malloc(size);
        if (!sig)
                return -ENOMEM;
        if (EVP_PKEY_sign(ctx, sig, &size, ahash, 32) != 1)
                return log_debug_errno(-EKEYREJECTED, "Signing with the private key failed");

        if (rsa) {
                if (size > sizeof(s.signature.rsassa.sig.buffer))
                        return -EKEYREJECTED;
                s.sigAlg = TPM2_ALG_RSASSA;
                s.signature.rsassa.hash = TPM2_ALG_SHA256;
                s.signature.rsassa.sig.size = (UINT16) size;
                memcpy(s.signature.rsassa.sig.buffer, sig, size);
        } else {
                _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
                const uint8_t *p = sig;
                const BIGNUM *r, *sv;

                es = d2i_ECDSA_SIG(NULL, &p, (long) size);
                if (!es)
                        return -EIO;
                ECDSA_SIG_get0(es, &r, &sv);
                s.sigAlg = TPM2_ALG_ECDSA;
                s.signature.ecdsa.hash = TPM2_ALG_SHA256;
                s.signature.ecdsa.signatureR.size = 32;
                s.signature.ecdsa.signatureS.size = 32;
                if (BN_bn2binpad(r, s.signature.ecdsa.signatureR.buffer, 32) != 32 ||
                    BN_bn2binpad(sv, s.signature.ecdsa.signatureS.buffer, 32) != 32)
                        return -EIO;
        }
        *ret = s;
        return 0;
}

static int verify_ahash(EVP_PKEY *key, const uint8_t ahash[32], const TPMT_SIGNATURE *s) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        const uint8_t *sig;
        bool rsa = EVP_PKEY_is_a(key, "RSA");
        size_t size;
        int r;

        if (rsa) {
                if (s->sigAlg != TPM2_ALG_RSASSA || s->signature.rsassa.hash != TPM2_ALG_SHA256)
                        return log_debug_errno(-EKEYREJECTED, "The signature is not RSASSA-SHA256, as the RSA key needs");
                sig = s->signature.rsassa.sig.buffer;
                size = s->signature.rsassa.sig.size;
        } else {
                _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = ECDSA_SIG_new();
                BIGNUM *br, *bs;
                int n;

                if (s->sigAlg != TPM2_ALG_ECDSA || s->signature.ecdsa.hash != TPM2_ALG_SHA256 ||
                    s->signature.ecdsa.signatureR.size == 0 || s->signature.ecdsa.signatureR.size > 32 ||
                    s->signature.ecdsa.signatureS.size == 0 || s->signature.ecdsa.signatureS.size > 32)
                        return log_debug_errno(-EKEYREJECTED, "The signature is not ECDSA-SHA256, as the ECC key needs");
                if (!es)
                        return -ENOMEM;
                br = BN_bin2bn(s->signature.ecdsa.signatureR.buffer, s->signature.ecdsa.signatureR.size, NULL);
                bs = BN_bin2bn(s->signature.ecdsa.signatureS.buffer, s->signature.ecdsa.signatureS.size, NULL);
                if (!br || !bs || ECDSA_SIG_set0(es, br, bs) != 1) {
                        BN_free(br);
                        BN_free(bs);
                        return -ENOMEM;
                }
                n = i2d_ECDSA_SIG(es, &der);
                if (n <= 0)
                        return -ENOMEM;
                sig = der;
                size = (size_t) n;
        }

        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (!ctx)
                return -ENOMEM;
        if (EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
            (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1))
                return -EIO;
        r = EVP_PKEY_verify(ctx, sig, size, ahash, 32);
        if (r != 1)
                return log_debug_errno(-EKEYREJECTED, "The signature does not verify with the token's key");
        return 0;
}

/* ---- the document ---- */

void signed_policy_done(struct signed_policy *p) {
        if (!p)
                return;
        free(p->path);
        memset(p, 0, sizeof(*p));
}

void signed_policy_free_array(struct signed_policy *a, size_t n) {
        for (size_t i = 0; a && i < n; i++)
                signed_policy_done(&a[i]);
        free(a);
}

static const struct json_doc doc = { "signed policy", "" };

static int format_time(time_t t, char buf[32]);

/* "YYYY-MM-DDTHH:MM:SSZ", exactly. */
static int parse_time(const char *s, time_t *ret) {
        char again[32];
        struct tm tm = {};
        const char *end;
        time_t t;

        if (strlen(s) != 20)
                return -EBADMSG;
        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EBADMSG;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EBADMSG;
        /* Only real dates: timegm() would make 2026-02-30 into March 2. */
        if (format_time(t, again) < 0 || strcmp(again, s) != 0)
                return -EBADMSG;
        *ret = t;
        return 0;
}

static int format_time(time_t t, char buf[32]) {
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
                return -EINVAL;
        return 0;
}

int signed_policy_parse(const char *text, size_t size, struct signed_policy *ret) {
        static const char *const known[] = { "version", "pcrs", "policy", "key", "signature", "created", NULL };
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_free_ uint8_t *policy = NULL, *key = NULL, *sig = NULL;
        struct signed_policy p = {};
        size_t policy_size, key_size, sig_size, off = 0, end;
        json_object *v;
        const char *pcrs;
        int r;

        if (!text || !ret)
                return -EINVAL;
        if (size == 0 || size > SIGNED_POLICY_MAX_SIZE || memchr(text, 0, size))
                return log_debug_errno(-EBADMSG, "signed policy: empty, too large or not text");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        j = json_tokener_parse_ex(tok, text, (int) size);
        if (!j)
                return log_debug_errno(-EBADMSG, "signed policy: not JSON (%s)",
                                       json_tokener_error_desc(json_tokener_get_error(tok)));
        for (end = json_tokener_get_parse_end(tok); end < size; end++)
                if (!strchr(" \t\r\n", text[end]))
                        return log_debug_errno(-EBADMSG, "signed policy: text after the document");
        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "signed policy: not a JSON object");
        r = json_only_members(&doc, j, known);
        if (r < 0)
                return r;

        v = json_member(&doc, j, "version", json_type_int);
        if (!v)
                return -EBADMSG;
        if (json_object_get_int64(v) != SIGNED_POLICY_VERSION)
                return json_bad(&doc, "version", "is not 1");

        v = json_member(&doc, j, "pcrs", json_type_object);
        if (!v)
                return -EBADMSG;
        pcrs = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        if (!pcrs)
                return -ENOMEM;
        r = pcr_values_parse(pcrs, strlen(pcrs), &p.pcrs);
        if (r < 0)
                return json_bad(&doc, "pcrs", "is not a pcr-values document");
        if (p.pcrs.mask == 0)
                return json_bad(&doc, "pcrs", "names no PCR");

        r = json_get_blob(&doc, j, "policy", JSON_BLOB_HEX, 32, 32, &policy, &policy_size);
        if (r < 0)
                return r;
        p.approved.size = 32;
        memcpy(p.approved.buffer, policy, 32);

        r = json_get_blob(&doc, j, "key", JSON_BLOB_HEX, 34, 34, &key, &key_size);
        if (r < 0)
                return r;
        p.key_name.size = 34;
        memcpy(p.key_name.name, key, 34);

        r = json_get_blob(&doc, j, "signature", 0, 4, sizeof(TPMT_SIGNATURE), &sig, &sig_size);
        if (r < 0)
                return r;
        if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_size, &off, &p.signature) != TSS2_RC_SUCCESS || off != sig_size)
                return json_bad(&doc, "signature", "is not a TPMT_SIGNATURE");

        v = json_member(&doc, j, "created", json_type_string);
        if (!v)
                return -EBADMSG;
        if (parse_time(json_object_get_string(v), &p.created) < 0)
                return json_bad(&doc, "created", "is not a time YYYY-MM-DDTHH:MM:SSZ");

        *ret = p;
        return 0;
}

int signed_policy_verify(const struct signed_policy *p, const TPM2B_PUBLIC *key, uint32_t mask) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        TPM2B_NAME name;
        TPM2B_DIGEST approved;
        uint8_t ahash[32];
        int r;

        r = signed_policy_key_name(key, &name);
        if (r < 0)
                return r;
        if (p->key_name.size != name.size || memcmp(p->key_name.name, name.name, name.size) != 0)
                return log_debug_errno(-EKEYREJECTED, "signed by another key");
        if (p->pcrs.mask != mask)
                return log_debug_errno(-EKEYREJECTED, "covers PCRs 0x%06x, the token 0x%06x", (unsigned) p->pcrs.mask,
                                       (unsigned) mask);
        r = signed_policy_approved(&p->pcrs, mask, &approved);
        if (r < 0)
                return r;
        if (approved.size != p->approved.size || memcmp(approved.buffer, p->approved.buffer, approved.size) != 0)
                return log_debug_errno(-EKEYREJECTED, "'policy' is not the digest of its PCR values");
        r = signed_policy_ahash(&approved, ahash);
        if (r < 0)
                return r;
        r = signed_policy_key_to_pkey(key, &pkey);
        if (r < 0)
                return r;
        return verify_ahash(pkey, ahash, &p->signature);
}

int signed_policy_sign(EVP_PKEY *key, const struct pcr_values *v, uint32_t mask, time_t created, json_object **ret) {
        _cleanup_(json_object_putp) json_object *j = NULL, *pcrs = NULL;
        uint8_t sig_buf[sizeof(TPMT_SIGNATURE)], ahash[32];
        struct pcr_values only;
        TPMT_SIGNATURE sig;
        TPM2B_PUBLIC pub;
        TPM2B_NAME name;
        TPM2B_DIGEST approved;
        size_t sig_size = 0;
        char when[32];
        int r;

        if (!key || !v || !ret)
                return -EINVAL;
        if (mask == 0)
                mask = v->mask;
        if (mask == 0 || (v->mask & mask) != mask)
                return log_debug_errno(-EINVAL, "The PCR values lack PCRs to sign");

        r = signed_policy_key_from_pkey(key, &pub);
        if (r < 0)
                return r;
        r = signed_policy_key_name(&pub, &name);
        if (r < 0)
                return r;
        r = signed_policy_approved(v, mask, &approved);
        if (r < 0)
                return r;
        r = signed_policy_ahash(&approved, ahash);
        if (r < 0)
                return r;
        r = sign_ahash(key, ahash, &sig);
        if (r < 0)
                return r;
        if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sig_buf, sizeof(sig_buf), &sig_size) != TSS2_RC_SUCCESS)
                return -EIO;
        r = format_time(created ?: time(NULL), when);
        if (r < 0)
                return r;

        only = *v;
        only.mask = mask;
        r = pcr_values_to_json(&only, &pcrs);
        if (r < 0)
                return r;

        j = json_object_new_object();
        if (!j)
                return -ENOMEM;
        r = json_add(j, "version", json_object_new_int(SIGNED_POLICY_VERSION));
        if (r >= 0)
                r = json_add(j, "pcrs", TAKE_PTR(pcrs));
        if (r >= 0)
                r = json_add_blob(j, "policy", true, approved.buffer, approved.size);
        if (r >= 0)
                r = json_add_blob(j, "key", true, name.name, name.size);
        if (r >= 0)
                r = json_add_blob(j, "signature", false, sig_buf, sig_size);
        if (r >= 0)
                r = json_add(j, "created", json_object_new_string(when));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

/* ---- the directory ---- */

const char *signed_policy_dir(void) {
        const char *e = secure_getenv("CVMSEAL_SIGNED_POLICY_DIR");

        return e && *e ? e : SIGNED_POLICY_DIR_DEFAULT;
}

static int read_small_file(int dirfd, const char *name, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;
        int fd;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
            (uint64_t) st.st_size > SIGNED_POLICY_MAX_SIZE) {
                close(fd);
                return -EBADMSG;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        close(fd);
        if (n != (size_t) st.st_size)
                return -EIO;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static bool is_json_name(const char *name) {
        size_t n = strlen(name);

        return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static int filter_json(const struct dirent *d) {
        return is_json_name(d->d_name);
}

/* Newest first; for equal times, the later file name first (a deterministic choice). */
static int compare_newest(const void *a, const void *b) {
        const struct signed_policy *x = a, *y = b;

        if (x->created != y->created)
                return x->created > y->created ? -1 : 1;
        return -strcmp(x->path ?: "", y->path ?: "");
}

int signed_policy_load_dir(const char *dir, const TPM2B_PUBLIC *key, uint32_t mask, struct signed_policy **ret,
                           size_t *ret_n) {
        struct dirent **names = NULL;
        struct signed_policy *a = NULL;
        size_t n = 0;
        int count, dirfd, r = 0;

        if (!dir || !key || !ret || !ret_n)
                return -EINVAL;

        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                log_debug_errno(negative_errno(), "No signed-policy directory %s", dir);
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        count = scandir(dir, &names, filter_json, alphasort);
        if (count < 0) {
                r = negative_errno();
                close(dirfd);
                return log_debug_errno(r, "Cannot list %s", dir);
        }

        a = calloc(count > 0 ? (size_t) count : 1, sizeof(*a));
        if (!a) {
                r = -ENOMEM;
                goto finish;
        }
        for (int i = 0; i < count; i++) {
                _cleanup_free_ char *text = NULL;
                struct signed_policy p;
                size_t size;
                int k;

                if (n >= SIGNED_POLICY_MAX_FILES) {
                        log_debug("%s: more than %u signed policies, ignoring the rest", dir, SIGNED_POLICY_MAX_FILES);
                        break;
                }
                k = read_small_file(dirfd, names[i]->d_name, &text, &size);
                if (k == -ENOMEM) {
                        r = k;
                        goto finish;
                }
                if (k < 0) {
                        log_debug_errno(k, "Skipping signed policy %s/%s: unreadable, not a regular file, or too large",
                                        dir, names[i]->d_name);
                        continue;
                }
                k = signed_policy_parse(text, size, &p);
                if (k == -ENOMEM) {
                        r = k;
                        goto finish;
                }
                if (k < 0) {
                        log_debug("Skipping signed policy %s/%s: malformed", dir, names[i]->d_name);
                        continue;
                }
                k = signed_policy_verify(&p, key, mask);
                if (k == -ENOMEM) {
                        r = k;
                        goto finish;
                }
                if (k < 0) {
                        log_debug("Skipping signed policy %s/%s: it does not verify for this token", dir,
                                  names[i]->d_name);
                        continue;
                }
                p.path = strdup(names[i]->d_name);
                if (!p.path) {
                        r = -ENOMEM;
                        goto finish;
                }
                log_debug("Signed policy %s/%s verifies", dir, names[i]->d_name);
                a[n++] = p;
        }

        qsort(a, n, sizeof(*a), compare_newest);
        *ret = TAKE_PTR(a);
        *ret_n = n;
        r = 0;

finish:
        signed_policy_free_array(a, n);
        for (int i = 0; i < count; i++)
                free(names[i]);
        free(names);
        close(dirfd);
        return r;
}

/* ---- the TPM ---- */

/* TPM_RC_VALUE from PolicyPCR: the PCRs do not have the values given. */
static bool rc_is_value(TSS2_RC rc) {
        return (rc & TPM2_RC_FMT1) && (rc & (TPM2_RC_FMT1 | 0x3F)) == TPM2_RC_VALUE;
}

struct authorize {
        const TPM2B_PUBLIC *key;
        const struct signed_policy *policies;
        size_t n_policies;
        uint32_t fixed_mask;
        const struct signed_policy *chosen;
};

/* The policy of an object sealed to PolicyAuthorize, run in session (tpm2_unseal_with_policy()). */
static int policy_authorize(tpm2_context *c, ESYS_TR session, void *userdata) {
        struct authorize *a = userdata;
        ESYS_CONTEXT *esys = tpm2_esys(c);
        ESYS_TR key_handle = ESYS_TR_NONE;
        TPMT_TK_VERIFIED *ticket = NULL;
        TPM2B_NAME key_name;
        TPM2B_NONCE ref = { .size = SIGNED_POLICY_REF_SIZE };
        TPM2B_DIGEST ahash = { .size = 32 };
        TPML_PCR_SELECTION sel;
        TSS2_RC rc;
        int r;

        memcpy(ref.buffer, SIGNED_POLICY_REF, SIGNED_POLICY_REF_SIZE);
        r = signed_policy_key_name(a->key, &key_name);
        if (r < 0)
                return r;

        /* 4: PolicyPCR with the signed values, newest document first.  With a pcrDigest the TPM compares
         * at once and answers TPM_RC_VALUE when the PCRs differ, leaving the session as it was: the next
         * document is tried in the same session.  The usual case (the newest matches) costs one command,
         * where reading the PCRs first would always cost one more. */
        for (size_t i = 0; i < a->n_policies; i++) {
                const struct signed_policy *p = &a->policies[i];
                TPM2B_DIGEST pcr_digest;

                r = pcr_values_digest(p->pcrs.mask, (const uint8_t (*)[32]) p->pcrs.sha256, &pcr_digest);
                if (r < 0)
                        return r;
                pcr_selection(p->pcrs.mask, &sel);
                TPM2_CALL(rc, Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pcr_digest, &sel));
                if (rc == TSS2_RC_SUCCESS) {
                        a->chosen = p;
                        break;
                }
                if (!rc_is_value(rc))
                        return tpm2_tss_error(rc, "PolicyPCR (signed values)");
                log_debug("Signed policy %s: the PCRs differ from its values", p->path ?: "?");
        }
        if (!a->chosen)
                return log_debug_errno(-ENOMSG, "None of the %zu signed policies matches the PCRs of this boot",
                                       a->n_policies);
        log_debug("Using signed policy %s", a->chosen->path ?: "?");

        /* 5: LoadExternal of the public key, in the owner hierarchy (a key in the null hierarchy would
         * get a null ticket, which PolicyAuthorize refuses). */
        TPM2_CALL(rc, Esys_LoadExternal(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, a->key, ESYS_TR_RH_OWNER,
                                      &key_handle));
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "LoadExternal (signing key)");
                return r == -EIO || r == -EINVAL ? -EBADMSG : r;
        }

        /* 6: VerifySignature over aHash: the ticket PolicyAuthorize wants. */
        r = signed_policy_ahash(&a->chosen->approved, ahash.buffer);
        if (r < 0) {
                (void) Esys_FlushContext(esys, key_handle);
                return r;
        }
        TPM2_CALL(rc, Esys_VerifySignature(esys, key_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ahash,
                                         &a->chosen->signature, &ticket));
        /* 7: FlushContext of the key, whatever the answer. */
        (void) Esys_FlushContext(esys, key_handle);
        if (rc != TSS2_RC_SUCCESS) {
                (void) tpm2_tss_error(rc, "VerifySignature");
                /* Verified in software already: a TPM that disagrees is refusing the policy. */
                return log_debug_errno(-EPERM, "The TPM does not accept the signature of %s", a->chosen->path ?: "?");
        }

        /* 8: PolicyAuthorize: the session's digest (the approved policy) becomes the authorizing one. */
        TPM2_CALL(rc, Esys_PolicyAuthorize(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &a->chosen->approved,
                                         &ref, &key_name, ticket));
        Esys_Free(ticket);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "PolicyAuthorize");
                return r == -EIO || r == -EBADMSG ? -EPERM : r;
        }

        /* 9: the fixed PolicyPCR (the lock PCR at its value before the lock), with an empty digest: the
         * TPM takes the current values, and Unseal fails when they are not the sealed ones. */
        if (a->fixed_mask != 0) {
                TPM2B_DIGEST empty = {};

                pcr_selection(a->fixed_mask, &sel);
                TPM2_CALL(rc, Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "PolicyPCR (fixed)");
        }
        return 0;
}

int signed_policy_unseal(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle,
                         const TPM2B_PUBLIC *key, const struct signed_policy *policies, size_t n_policies,
                         uint32_t fixed_mask, const TPM2B_AUTH *auth, cvmseal_secret **ret) {
        struct authorize a = {
                .key = key,
                .policies = policies,
                .n_policies = n_policies,
                .fixed_mask = fixed_mask,
        };
        int r;

        if (!c || !sealed || !key || !ret || (n_policies > 0 && !policies) ||
            fixed_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return -EINVAL;
        if (sealed->seed.size > 0)
                return log_debug_errno(-EOPNOTSUPP, "A token sealed offline cannot use a signed policy (yet)");
        if (n_policies == 0)
                return log_debug_errno(-ENOMSG, "No signed policy verifies for this token");

        /* 1-3: ReadPublic of the SRK, Load, StartAuthSession; 4-9 above; 10: PolicyAuthValue,
         * 11: Unseal; FlushContext of the sealed object. */
        r = tpm2_unseal_with_policy(c, sealed, srk_handle, policy_authorize, &a, auth, ret);
        if (r == -EPERM && a.chosen)
                log_debug("The policy is not satisfied: the fixed PCRs (the lock PCR) differ from the sealed values");
        if (r >= 0)
                log_debug("Unsealed with signed policy %s", a.chosen->path ?: "?");
        return r;
}

/* ---- for unlock.c ---- */

int signed_policy_unseal_token(tpm2_context *c, const struct token *t, const struct tpm2_sealed *sealed,
                               const TPM2B_AUTH *auth, cvmseal_secret **ret) {
        struct signed_policy *policies = NULL;
        const char *dir = signed_policy_dir();
        TPM2B_PUBLIC key;
        size_t n = 0;
        int r;

        if (!t->tpm2.pubkey)
                return -EINVAL;
        r = signed_policy_token_key(t->tpm2.pubkey, t->tpm2.pubkey_size, t->tpm2.pubkey_name, t->tpm2.pubkey_name_size,
                                    &key);
        if (r < 0)
                return r;
        r = signed_policy_load_dir(dir, &key, t->tpm2.pcr_mask & ~CVMSEAL_LOCK_MASK, &policies, &n);
        if (r < 0)
                return r;
        log_debug("%zu signed policies in %s verify for this token", n, dir);
        r = signed_policy_unseal(c, sealed, t->tpm2.srk_handle, &key, policies, n, t->tpm2.pcr_mask & CVMSEAL_LOCK_MASK,
                                 auth, ret);
        signed_policy_free_array(policies, n);
        return r;
}

/* ---- public ---- */

/* Refuses to ask for a passphrase: a pipeline never gets a prompt, and an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
        (void) buf;
        (void) size;
        (void) rwflag;
        (void) u;
        return -1;
}

_public_ int cvmseal_policy_sign(const cvmseal_secret *key_pem, const char *pcr_values, size_t pcr_values_size,
                                 uint32_t pcr_mask, json_object **ret_document) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        struct pcr_values v;
        int r;

        if (!key_pem || !pcr_values || !ret_document || pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX) ||
            cvmseal_secret_size(key_pem) > INT32_MAX)
                return -EINVAL;

        r = pcr_values_parse(pcr_values, pcr_values_size, &v);
        if (r < 0)
                return log_debug_errno(-EBADMSG, "The pcr-values document is malformed");
        if (pcr_mask == 0)
                pcr_mask = v.mask;
        if (pcr_mask == 0 || (v.mask & pcr_mask) != pcr_mask)
                return log_debug_errno(-EDOM, "The pcr-values document lacks PCRs to sign");
        if (pcr_mask & CVMSEAL_LOCK_MASK)
                return log_debug_errno(-EINVAL, "The lock PCR is never part of a signed policy");

        /* The key stays in OpenSSL's memory (a BIO over the secret buffer; nothing copied or logged). */
        bio = BIO_new_mem_buf(cvmseal_secret_data(key_pem), (int) cvmseal_secret_size(key_pem));
        if (!bio)
                return -ENOMEM;
        pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL);
        if (!pkey)
                return log_debug_errno(-EKEYREJECTED, "Not an unencrypted PEM private key");

        return signed_policy_sign(pkey, &v, pcr_mask, 0, ret_document);
}
