/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TPM2 quotes: a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE signed by an attestation key (on Azure the
 * vTPM's AK at 0x81000003, named by the HCL report as HCLAkPub).
 *
 * What a verified quote proves:
 *   - the signature: the TPM that holds the AK produced the message (a restricted signing key signs
 *     only messages that the TPM itself built, which start with TPM_GENERATED_VALUE);
 *   - extraData == the verifier's nonce: the quote is fresh;
 *   - pcrDigest == H(the selected PCR values, concatenated in selection order, each bank's PCRs in
 *     ascending index): the PCR values that travel with the evidence are the TPM's.  H is the hash
 *     of the signature scheme, as TPM2_Quote computes it.
 *
 * The signature covers H(the marshalled TPMS_ATTEST): the raw message bytes are hashed as they came,
 * never re-marshalled.  The PCR values are those of the sha256 bank ({"0": "<hex>", ...}); a quote
 * that selects a PCR of another bank, or one whose value is not given, is malformed evidence.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "crypto-util.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

#define QUOTE_PCRS 24U                 /* PCRs with values in the evidence: 0 to 23 */
#define PCR_SHA256_SIZE 32U

DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);

/* ---- keys ---- */

static int pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret) {
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;

        params = OSSL_PARAM_BLD_to_param(bld);
        if (!params)
                return -ENOMEM;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        if (!ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
                ERR_clear_error();
                return log_debug_errno(-EBADMSG, "Not a valid %s public key", type);
        }
        *ret = pkey;
        return 0;
}

static int ecc_public_key(TPMI_ECC_CURVE curve, const TPMS_ECC_POINT *point, EVP_PKEY **ret) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        uint8_t oct[1 + 2 * 48] = {};
        const char *group;
        size_t coord;

        switch (curve) {
        case TPM2_ECC_NIST_P256:
                group = "P-256";
                coord = 32;
                break;
        case TPM2_ECC_NIST_P384:
                group = "P-384";
                coord = 48;
                break;
        default:
                return log_debug_errno(-EBADMSG, "TPM public key: ECC curve 0x%04x is neither P-256 nor P-384", curve);
        }
        if (point->x.size == 0 || point->x.size > coord || point->y.size == 0 || point->y.size > coord)
                return log_debug_errno(-EBADMSG, "TPM public key: the ECC point's coordinates do not fit the curve");

        /* Uncompressed point; coordinates left-padded to the size of the field. */
        oct[0] = 0x04;
        memcpy(oct + 1 + coord - point->x.size, point->x.buffer, point->x.size);
        memcpy(oct + 1 + 2 * coord - point->y.size, point->y.buffer, point->y.size);

        bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct, 1 + 2 * coord))
                return -ENOMEM;
        /* The EC key manager refuses a point that is not on the curve. */
        return pkey_fromdata("EC", bld, ret);
}

int tpm_public_to_pkey(const uint8_t *buf, size_t size, EVP_PKEY **ret) {
        TPM2B_PUBLIC pub = {};
        const TPMT_PUBLIC *p = &pub.publicArea;
        size_t off = 0;
        TSS2_RC rc;

        if (!buf || !ret)
                return -EINVAL;
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, size, &off, &pub);
        if (rc != TSS2_RC_SUCCESS)
                return log_debug_errno(-EBADMSG, "TPM public key: not a TPM2B_PUBLIC (0x%" PRIx32 ")", rc);
        if (off != size)
                return log_debug_errno(-EBADMSG, "TPM public key: %zu bytes after the TPM2B_PUBLIC", size - off);

        /* An attestation key: a restricted signing key, or the TPM would sign any digest with it,
         * including that of a forged TPMS_ATTEST. */
        if (!(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) || !(p->objectAttributes & TPMA_OBJECT_RESTRICTED) ||
            (p->objectAttributes & TPMA_OBJECT_DECRYPT))
                return log_debug_errno(-EBADMSG, "TPM public key: not a restricted signing key (attributes 0x%08" PRIx32 ")",
                                       p->objectAttributes);

        switch (p->type) {
        case TPM2_ALG_RSA: {
                uint32_t exponent = p->parameters.rsaDetail.exponent ?: 65537;
                uint8_t e[4] = { exponent >> 24, exponent >> 16, exponent >> 8, exponent };
                const TPM2B_PUBLIC_KEY_RSA *n = &p->unique.rsa;

                if (n->size < 256 || (size_t) n->size * 8 != p->parameters.rsaDetail.keyBits || n->buffer[0] == 0)
                        return log_debug_errno(-EBADMSG, "TPM public key: RSA modulus of %u bytes for %u bits",
                                               n->size, p->parameters.rsaDetail.keyBits);
                return rsa_public_key(n->buffer, n->size, e, sizeof(e), ret);
        }
        case TPM2_ALG_ECC:
                return ecc_public_key(p->parameters.eccDetail.curveID, &p->unique.ecc, ret);
        default:
                return log_debug_errno(-EBADMSG, "TPM public key: type 0x%04x is neither RSA nor ECC", p->type);
        }
}

/* ---- quotes ---- */

static int parse_attest(const uint8_t *message, size_t message_size, TPMS_ATTEST *ret) {
        size_t off = 0;
        TSS2_RC rc;

        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(message, message_size, &off, ret);
        if (rc != TSS2_RC_SUCCESS)
                return log_debug_errno(-EBADMSG, "TPM quote: not a TPMS_ATTEST (0x%" PRIx32 ")", rc);
        if (off != message_size)
                return log_debug_errno(-EBADMSG, "TPM quote: %zu bytes after the TPMS_ATTEST", message_size - off);
        if (ret->magic != TPM2_GENERATED_VALUE)
                return log_debug_errno(-EBADMSG, "TPM quote: magic 0x%08" PRIx32 " is not TPM_GENERATED_VALUE", ret->magic);
        if (ret->type != TPM2_ST_ATTEST_QUOTE)
                return log_debug_errno(-EBADMSG, "TPM quote: type 0x%04x is not TPM_ST_ATTEST_QUOTE", ret->type);
        return 0;
}

static int parse_signature(const uint8_t *signature, size_t signature_size, TPMT_SIGNATURE *ret,
                           const char **ret_md, size_t *ret_md_size) {
        TPMI_ALG_HASH hash;
        const char *md;
        size_t off = 0;
        TSS2_RC rc;

        rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(signature, signature_size, &off, ret);
        if (rc != TSS2_RC_SUCCESS)
                return log_debug_errno(-EBADMSG, "TPM quote: not a TPMT_SIGNATURE (0x%" PRIx32 ")", rc);
        if (off != signature_size)
                return log_debug_errno(-EBADMSG, "TPM quote: %zu bytes after the TPMT_SIGNATURE", signature_size - off);

        switch (ret->sigAlg) {
        case TPM2_ALG_RSASSA:
                hash = ret->signature.rsassa.hash;
                break;
        case TPM2_ALG_RSAPSS:
                hash = ret->signature.rsapss.hash;
                break;
        case TPM2_ALG_ECDSA:
                hash = ret->signature.ecdsa.hash;
                break;
        default:
                return log_debug_errno(-EBADMSG, "TPM quote: signature algorithm 0x%04x is not RSASSA, RSAPSS or ECDSA",
                                       ret->sigAlg);
        }
        md = tpm2_hash_md_name(hash, ret_md_size);
        if (!md)
                return log_debug_errno(-EBADMSG, "TPM quote: signature hash 0x%04x is not SHA-256 or SHA-384", hash);
        *ret_md = md;
        return 0;
}

/* The selected PCR values, concatenated as TPM2_Quote hashes them, and the claim object
 * {"sha256": {"0": "<hex>", ...}}.  pcrs may be NULL when the quote selects no PCR. */
static int collect_pcrs(const TPML_PCR_SELECTION *sel, json_object *pcrs, uint8_t **ret, size_t *ret_size,
                        json_object **ret_claim) {
        _cleanup_(json_object_putp) json_object *claim = NULL, *bank = NULL;
        _cleanup_free_ uint8_t *cat = NULL;
        size_t n = 0, cap = 0;
        int k;

        if (pcrs && !json_object_is_type(pcrs, json_type_object))
                return log_debug_errno(-EBADMSG, "TPM quote: the PCR values are not a JSON object");
        bank = json_object_new_object();
        if (!bank)
                return -ENOMEM;

        for (uint32_t i = 0; i < sel->count; i++) {
                const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

                for (unsigned pcr = 0; pcr < (unsigned) s->sizeofSelect * 8; pcr++) {
                        _cleanup_free_ uint8_t *value = NULL;
                        size_t value_size;
                        json_object *j;
                        char key[4];
                        uint8_t *grown;

                        if (!(s->pcrSelect[pcr / 8] & (1U << (pcr % 8))))
                                continue;
                        if (s->hash != TPM2_ALG_SHA256)
                                return log_debug_errno(-EBADMSG, "TPM quote: PCR %u of bank 0x%04x is selected, "
                                                       "only sha256 values come with the evidence", pcr, s->hash);
                        if (pcr >= QUOTE_PCRS)
                                return log_debug_errno(-EBADMSG, "TPM quote: PCR %u is selected", pcr);

                        snprintf(key, sizeof(key), "%u", pcr);
                        if (!pcrs || !json_object_object_get_ex(pcrs, key, &j))
                                return log_debug_errno(-EBADMSG, "TPM quote: PCR %u is quoted, its value is missing", pcr);
                        if (!json_object_is_type(j, json_type_string))
                                return log_debug_errno(-EBADMSG, "TPM quote: the value of PCR %u is not a string", pcr);
                        k = hex_decode(json_object_get_string(j), &value, &value_size);
                        if (k == -ENOMEM)
                                return k;
                        if (k < 0 || value_size != PCR_SHA256_SIZE)
                                return log_debug_errno(-EBADMSG, "TPM quote: the value of PCR %u is not 32 bytes of hex", pcr);

                        if (n + PCR_SHA256_SIZE > cap) {
                                cap = cap ? cap * 2 : QUOTE_PCRS * PCR_SHA256_SIZE;
                                grown = realloc(cat, cap);
                                if (!grown)
                                        return -ENOMEM;
                                cat = grown;
                        }
                        memcpy(cat + n, value, PCR_SHA256_SIZE);
                        n += PCR_SHA256_SIZE;

                        if (json_object_object_add(bank, key, json_object_get(j)) < 0)
                                return -ENOMEM;
                }
        }

        claim = json_object_new_object();
        if (!claim || json_object_object_add(claim, "sha256", bank) < 0)
                return -ENOMEM;
        bank = NULL;

        *ret = TAKE_PTR(cat);
        *ret_size = n;
        *ret_claim = TAKE_PTR(claim);
        return 0;
}

/* Returns 1 when the signature verifies, 0 when it does not (recorded), negative errno on error. */
static int verify_signature(const uint8_t *message, size_t message_size, const TPMT_SIGNATURE *sig,
                            const char *md, EVP_PKEY *ak, struct attest_verdict *v) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *ecdsa = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        const uint8_t *s;
        size_t s_size;
        EVP_PKEY_CTX *pctx = NULL;
        bool rsa = sig->sigAlg != TPM2_ALG_ECDSA;
        int r;

        if (!EVP_PKEY_is_a(ak, rsa ? "RSA" : "EC")) {
                r = attest_fail(v, "tpm-quote-signature", "an %s signature, but the AK is not an %s key",
                                rsa ? "RSA" : "ECDSA", rsa ? "RSA" : "EC");
                return r < 0 ? r : 0;
        }

        if (rsa) {
                const TPM2B_PUBLIC_KEY_RSA *b = sig->sigAlg == TPM2_ALG_RSASSA ? &sig->signature.rsassa.sig
                                                                               : &sig->signature.rsapss.sig;
                s = b->buffer;
                s_size = b->size;
        } else {
                const TPMS_SIGNATURE_ECC *e = &sig->signature.ecdsa;
                BIGNUM *br, *bs;
                int len;

                ecdsa = ECDSA_SIG_new();
                br = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
                bs = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
                if (!ecdsa || !br || !bs || ECDSA_SIG_set0(ecdsa, br, bs) != 1) {
                        BN_free(br);
                        BN_free(bs);
                        return -ENOMEM;
                }
                len = i2d_ECDSA_SIG(ecdsa, &der);
                if (len <= 0)
                        return -ENOMEM;
                s = der;
                s_size = (size_t) len;
        }

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, ak, NULL) != 1) {
                ERR_clear_error();
                return log_debug_errno(-EIO, "TPM quote: cannot set up %s verification", md);
        }
        if (sig->sigAlg == TPM2_ALG_RSASSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
                return log_debug_errno(-EIO, "TPM quote: cannot select RSASSA-PKCS1-v1_5");
        /* The TPM's PSS salt is as long as the digest (or the longest that fits): recover it. */
        if (sig->sigAlg == TPM2_ALG_RSAPSS &&
            (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
                return log_debug_errno(-EIO, "TPM quote: cannot select RSA-PSS");

        if (EVP_DigestVerify(ctx, s, s_size, message, message_size) != 1) {
                ERR_clear_error();
                r = attest_fail(v, "tpm-quote-signature", "the quote's signature does not verify with the AK");
                return r < 0 ? r : 0;
        }
        return 1;
}

int tpm_quote_check(const uint8_t *message, size_t message_size, const uint8_t *signature, size_t signature_size,
                    EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_size, json_object *pcrs,
                    struct attest_verdict *v, struct tpm_quote_result *ret) {
        _cleanup_(json_object_putp) json_object *pcr_claim = NULL, *clock = NULL;
        _cleanup_free_ uint8_t *cat = NULL;
        TPMS_ATTEST attest = {};
        TPMT_SIGNATURE sig = {};
        uint8_t digest[EVP_MAX_MD_SIZE];
        size_t digest_size = 0;
        const TPM2B_DIGEST *quoted;
        const char *md;
        size_t md_size, cat_size = 0;
        bool signed_ok, nonce_ok, pcrs_ok;
        char decimal[24];
        int r;

        if (ret)
                *ret = (struct tpm_quote_result) {};
        if (!message || !signature || (!nonce && nonce_size > 0) || !v)
                return -EINVAL;

        /* Everything is parsed before anything is checked: malformed evidence records no verdict. */
        r = parse_attest(message, message_size, &attest);
        if (r < 0)
                return r;
        r = parse_signature(signature, signature_size, &sig, &md, &md_size);
        if (r < 0)
                return r;
        r = collect_pcrs(&attest.attested.quote.pcrSelect, pcrs, &cat, &cat_size, &pcr_claim);
        if (r < 0)
                return r;
        if (!ak)
                return 0;

        r = verify_signature(message, message_size, &sig, md, ak, v);
        if (r < 0)
                return r;
        signed_ok = r > 0;

        /* A NULL nonce expects an empty extraData: there is no "don't care". */
        nonce_ok = attest.extraData.size == nonce_size &&
                   (nonce_size == 0 || memcmp(attest.extraData.buffer, nonce, nonce_size) == 0);
        if (!nonce_ok) {
                r = attest_fail(v, "tpm-quote-nonce", "the quote's extraData (%u bytes) is not the nonce (%zu bytes)",
                                attest.extraData.size, nonce_size);
                if (r < 0)
                        return r;
        }

        quoted = &attest.attested.quote.pcrDigest;
        if (EVP_Q_digest(NULL, md, NULL, cat ?: (const uint8_t *) "", cat_size, digest, &digest_size) != 1)
                return log_debug_errno(-EIO, "TPM quote: %s failed", md);
        pcrs_ok = quoted->size == digest_size && memcmp(quoted->buffer, digest, digest_size) == 0;
        if (!pcrs_ok) {
                r = attest_fail(v, "tpm-quote-pcrs", "the PCR values given are not those the quote's PCR digest covers");
                if (r < 0)
                        return r;
        }

        /* Claims only for what the AK vouches for. */
        if (signed_ok && pcrs_ok) {
                r = attest_claim(v, "pcrs", TAKE_PTR(pcr_claim));
                if (r < 0)
                        return r;
        }
        if (signed_ok) {
                clock = json_object_new_object();
                if (!clock)
                        return -ENOMEM;
                snprintf(decimal, sizeof(decimal), "%" PRIu64, (uint64_t) attest.clockInfo.clock);
                if (json_object_object_add(clock, "clock", json_object_new_string(decimal)) < 0 ||
                    json_object_object_add(clock, "reset-count", json_object_new_int64(attest.clockInfo.resetCount)) < 0 ||
                    json_object_object_add(clock, "restart-count", json_object_new_int64(attest.clockInfo.restartCount)) < 0 ||
                    json_object_object_add(clock, "safe", json_object_new_boolean(attest.clockInfo.safe == TPM2_YES)) < 0)
                        return -ENOMEM;
                r = attest_claim(v, "tpm-quote-clock", TAKE_PTR(clock));
                if (r < 0)
                        return r;
        }
        if (ret)
                *ret = (struct tpm_quote_result) { .signature = signed_ok, .nonce = nonce_ok, .pcrs = pcrs_ok };
        return 0;
}

int tpm_quote_verify(const uint8_t *message, size_t message_size, const uint8_t *signature, size_t signature_size,
                     EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_size, json_object *pcrs,
                     struct attest_verdict *v) {
        if (!ak)
                return -EINVAL;
        return tpm_quote_check(message, message_size, signature, signature_size, ak, nonce, nonce_size, pcrs, v, NULL);
}

int tpm_certify_check(const uint8_t *message, size_t message_size, const uint8_t *signature, size_t signature_size,
                      EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_size, const uint8_t *name, size_t name_size) {
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};
        TPMS_ATTEST a;
        TPMT_SIGNATURE sig;
        const char *md;
        size_t md_size, off = 0;
        TSS2_RC rc;
        int r;

        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(message, message_size, &off, &a);
        if (rc != TSS2_RC_SUCCESS || off != message_size || a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_CERTIFY)
                return log_debug_errno(-EBADMSG, "The SRK's certification is not a TPMS_ATTEST of type CERTIFY");
        r = parse_signature(signature, signature_size, &sig, &md, &md_size);
        if (r < 0)
                return r;
        r = attest_verdict_init(&v);
        if (r < 0)
                return r;
        r = verify_signature(message, message_size, &sig, md, ak, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return log_debug_errno(-EBADE, "The SRK's certification is not signed by the attested AK");
        if (a.extraData.size != nonce_size || memcmp(a.extraData.buffer, nonce, nonce_size) != 0)
                return log_debug_errno(-EBADE, "The SRK's certification does not answer this nonce");
        if (a.attested.certify.name.size != name_size || memcmp(a.attested.certify.name.name, name, name_size) != 0)
                return log_debug_errno(-EBADE, "The attested AK certifies another SRK than the one the TPM shows");
        return 0;
}
