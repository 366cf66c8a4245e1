/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Offline sealing to a target TPM (DESIGN, "Image pipeline"): the sealed object is built in
 * software and wrapped for the target's SRK as the input of TPM2_Import, so that an image pipeline
 * can seal to a vTPM it cannot reach, knowing only the SRK's public area and the PCR values to come.
 *
 * The wrapping is TPM 2.0 Part 1's "Duplication" with an outer wrapper only (symmetricAlg NULL at
 * Import: no inner wrapper, no encryptionKey):
 *
 *   seed        RSA SRK: random (digest size of the SRK's nameAlg), RSA-OAEP(nameAlg, label
 *               "DUPLICATE\0") to the SRK;  ECC SRK: an ephemeral key on the SRK's curve,
 *               Z = ECDH(ephemeral, SRK).x, seed = KDFe(nameAlg, Z, "DUPLICATE", ephemeral.x, SRK.x),
 *               and inSymSeed is the ephemeral public point
 *   symKey      KDFa(nameAlg, seed, "STORAGE", name(object), -, SRK's symmetric key bits)
 *   HMACkey     KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 *   duplicate   [HMAC size]16 || HMAC(HMACkey, encSensitive || name) || encSensitive,
 *               encSensitive = AES-CFB(symKey, IV = 0, marshalled TPM2B_SENSITIVE)
 *
 * KDFa is SP 800-108 counter-mode HMAC and KDFe is SP 800-56C's one-step hash KDF, exactly
 * OpenSSL 3's KBKDF and SSKDF; the unit tests check both against vectors computed from the
 * specification's formulas, and the integration test imports what this writes with tpm2_import.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "crypto-util.h"
#include "kdf.h"
#include "log.h"
#include "macro.h"
#include "secret.h"
#include "tpm2-duplicate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF *, EVP_KDF_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF_CTX *, EVP_KDF_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);

#define DUPLICATE_LABEL "DUPLICATE"

static const char *curve_name(TPMI_ECC_CURVE curve, size_t *ret_size) {
        switch (curve) {
        case TPM2_ECC_NIST_P256:
                *ret_size = 32;
                return "P-256";
        case TPM2_ECC_NIST_P384:
                *ret_size = 48;
                return "P-384";
        case TPM2_ECC_NIST_P521:
                *ret_size = 66;
                return "P-521";
        default:
                return NULL;
        }
}

static int kdf_run(const char *kdf_name, OSSL_PARAM *params, void *out, size_t out_size) {
        _cleanup_(EVP_KDF_freep) EVP_KDF *kdf = NULL;
        _cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *ctx = NULL;

        kdf = EVP_KDF_fetch(NULL, kdf_name, NULL);
        if (!kdf)
                return log_debug_ret(-EIO, "%s is not available from OpenSSL", kdf_name);
        ctx = EVP_KDF_CTX_new(kdf);
        if (!ctx)
                return -ENOMEM;
        if (EVP_KDF_derive(ctx, out, out_size, params) != 1)
                return log_debug_ret(-EIO, "%s failed", kdf_name);
        return 0;
}

int tpm2_kdfa(TPMI_ALG_HASH hash, const void *key, size_t key_size, const char *label, const void *context_u,
              size_t context_u_size, const void *context_v, size_t context_v_size, void *out, size_t out_size) {
        _cleanup_free_ uint8_t *context = NULL;
        OSSL_PARAM params[8], *p = params;
        const char *md;
        size_t md_size;

        md = tpm2_hash_md_name(hash, &md_size);
        if (!md || !key || key_size == 0 || !label || out_size == 0 || out_size > UINT32_MAX / 8)
                return -EINVAL;

        /* contextU || contextV as one context; the label's terminating zero is KBKDF's separator, and
         * [L]32 its "use-l" (both on by default, stated here because KDFa depends on them). */
        context = malloc(context_u_size + context_v_size + 1);
        if (!context)
                return -ENOMEM;
        if (context_u_size > 0)
                memcpy(context, context_u, context_u_size);
        if (context_v_size > 0)
                memcpy(context + context_u_size, context_v, context_v_size);

        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *) "COUNTER", 0);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *) "HMAC", 0);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) key, key_size);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) label, strlen(label));
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context, context_u_size + context_v_size);
        *p = OSSL_PARAM_construct_end();
        return kdf_run(OSSL_KDF_NAME_KBKDF, params, out, out_size);
}

int tpm2_kdfe(TPMI_ALG_HASH hash, const void *z, size_t z_size, const char *label, const void *party_u,
              size_t party_u_size, const void *party_v, size_t party_v_size, void *out, size_t out_size) {
        _cleanup_free_ uint8_t *info = NULL;
        OSSL_PARAM params[4], *p = params;
        size_t label_size, info_size, md_size;
        const char *md;

        md = tpm2_hash_md_name(hash, &md_size);
        if (!md || !z || z_size == 0 || !label || out_size == 0)
                return -EINVAL;

        /* FixedInfo = label || 0x00 || partyUInfo || partyVInfo */
        label_size = strlen(label) + 1;
        info_size = label_size + party_u_size + party_v_size;
        info = malloc(info_size);
        if (!info)
                return -ENOMEM;
        memcpy(info, label, label_size);
        if (party_u_size > 0)
                memcpy(info + label_size, party_u, party_u_size);
        if (party_v_size > 0)
                memcpy(info + label_size + party_u_size, party_v, party_v_size);

        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) z, z_size);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_size);
        *p = OSSL_PARAM_construct_end();
        return kdf_run(OSSL_KDF_NAME_SSKDF, params, out, out_size);
}

int tpm2_public_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *ret) {
        uint8_t buf[sizeof(TPMT_PUBLIC)];
        size_t off = 0, md_size;
        unsigned n = 0;
        const char *md;
        TSS2_RC rc;

        md = tpm2_hash_md_name(pub->publicArea.nameAlg, &md_size);
        if (!md)
                return log_debug_errno(-EOPNOTSUPP, "nameAlg 0x%04x is not supported", pub->publicArea.nameAlg);
        rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS)
                return log_debug_errno(-EBADMSG, "Cannot marshal a TPMT_PUBLIC (0x%x)", (unsigned) rc);

        ret->name[0] = (uint8_t) (pub->publicArea.nameAlg >> 8);
        ret->name[1] = (uint8_t) pub->publicArea.nameAlg;
        if (EVP_Digest(buf, off, ret->name + 2, &n, EVP_get_digestbyname(md), NULL) != 1 || n != md_size)
                return -EIO;
        ret->size = (UINT16) (2 + md_size);
        return 0;
}

int tpm2_srk_public_parse(const uint8_t *buf, size_t size, TPM2B_PUBLIC *ret_public, TPM2B_NAME *ret_name) {
        TPM2B_PUBLIC pub = {};
        const TPMT_PUBLIC *a = &pub.publicArea;
        const TPMT_SYM_DEF_OBJECT *sym;
        TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
        size_t off = 0, md_size, coord;
        TSS2_RC rc;
        int r;

        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, size, &off, &pub);
        if (rc != TSS2_RC_SUCCESS || off != size)
                return log_debug_errno(-EBADMSG, "The SRK public area is not a marshalled TPM2B_PUBLIC");

        if (!tpm2_hash_md_name(a->nameAlg, &md_size))
                return log_debug_errno(-EOPNOTSUPP, "The SRK's nameAlg 0x%04x is not supported", a->nameAlg);
        if ((a->objectAttributes & need) != need || (a->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
                return log_debug_errno(-EOPNOTSUPP, "The key is not a storage key (restricted, decrypt, not sign)");

        switch (a->type) {
        case TPM2_ALG_RSA:
                sym = &a->parameters.rsaDetail.symmetric;
                if (a->parameters.rsaDetail.scheme.scheme != TPM2_ALG_NULL)
                        return log_debug_errno(-EOPNOTSUPP, "The RSA SRK has a scheme: not a storage key");
                if (a->parameters.rsaDetail.keyBits < 2048 || a->parameters.rsaDetail.keyBits > 4096 ||
                    a->unique.rsa.size != a->parameters.rsaDetail.keyBits / 8)
                        return log_debug_errno(-EOPNOTSUPP, "The RSA SRK's size (%u bits, modulus of %u bytes) is not supported",
                                               a->parameters.rsaDetail.keyBits, a->unique.rsa.size);
                break;
        case TPM2_ALG_ECC:
                sym = &a->parameters.eccDetail.symmetric;
                if (!curve_name(a->parameters.eccDetail.curveID, &coord))
                        return log_debug_errno(-EOPNOTSUPP, "The SRK's curve 0x%04x is not supported",
                                               a->parameters.eccDetail.curveID);
                if (a->unique.ecc.x.size != coord || a->unique.ecc.y.size != coord)
                        return log_debug_errno(-EBADMSG, "The ECC SRK's point is not on its curve's size");
                break;
        default:
                return log_debug_errno(-EOPNOTSUPP, "The SRK is neither an RSA nor an ECC key");
        }
        if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
            (sym->keyBits.aes != 128 && sym->keyBits.aes != 192 && sym->keyBits.aes != 256))
                return log_debug_errno(-EOPNOTSUPP, "The SRK's symmetric algorithm is not AES-CFB");

        if (ret_name) {
                r = tpm2_public_name(&pub, ret_name);
                if (r < 0)
                        return r;
        }
        *ret_public = pub;
        return 0;
}

/* ---- the seed ---- */

static EVP_PKEY *ecc_public_key(const char *group, const TPMS_ECC_POINT *q) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        uint8_t point[1 + 2 * sizeof(q->x.buffer)];
        EVP_PKEY *pkey = NULL;

        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, q->x.buffer, q->x.size);
        memcpy(point + 1 + q->x.size, q->y.buffer, q->y.size);

        bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + q->x.size + q->y.size))
                return NULL;
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return NULL;
        return pkey;
}

/* The coordinate of an OpenSSL EC key, left-padded to the curve's size. */
static int ecc_coordinate(EVP_PKEY *pkey, const char *which, size_t size, TPM2B_ECC_PARAMETER *ret) {
        _cleanup_(BN_freep) BIGNUM *bn = NULL;

        if (EVP_PKEY_get_bn_param(pkey, which, &bn) != 1 || BN_bn2binpad(bn, ret->buffer, (int) size) != (int) size)
                return -EIO;
        ret->size = (UINT16) size;
        return 0;
}

/* ECC: an ephemeral key on the SRK's curve; the seed is KDFe of the shared x coordinate. */
static int seed_ecc(const TPMT_PUBLIC *srk, uint8_t *seed, size_t seed_size, TPM2B_ENCRYPTED_SECRET *ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *peer = NULL, *eph = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        uint8_t z[66];
        size_t z_size = sizeof(z), coord, off = 0;
        TPMS_ECC_POINT q = {};
        const char *group;
        TSS2_RC rc;
        int r;

        group = curve_name(srk->parameters.eccDetail.curveID, &coord);
        if (!group)
                return -EOPNOTSUPP;
        peer = ecc_public_key(group, &srk->unique.ecc);
        if (!peer)
                return log_debug_errno(-EBADMSG, "The SRK's public point is not a point of %s", group);

        eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
        if (!eph)
                return log_debug_errno(-EIO, "Cannot make an ephemeral %s key", group);
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
        if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
            EVP_PKEY_derive(ctx, z, &z_size) != 1 || z_size != coord) {
                secure_wipe(z, sizeof(z));
                return log_debug_errno(-EIO, "ECDH with the SRK failed");
        }

        r = ecc_coordinate(eph, OSSL_PKEY_PARAM_EC_PUB_X, coord, &q.x);
        if (r >= 0)
                r = ecc_coordinate(eph, OSSL_PKEY_PARAM_EC_PUB_Y, coord, &q.y);
        if (r >= 0)
                r = tpm2_kdfe(srk->nameAlg, z, z_size, DUPLICATE_LABEL, q.x.buffer, q.x.size,
                              srk->unique.ecc.x.buffer, srk->unique.ecc.x.size, seed, seed_size);
        secure_wipe(z, sizeof(z));
        if (r < 0)
                return r;

        /* inSymSeed: the ephemeral point, marshalled. */
        rc = Tss2_MU_TPMS_ECC_POINT_Marshal(&q, ret->secret, sizeof(ret->secret), &off);
        if (rc != TSS2_RC_SUCCESS)
                return -EIO;
        ret->size = (UINT16) off;
        return 0;
}

/* RSA: a random seed, RSA-OAEP(nameAlg, label "DUPLICATE\0") to the SRK. */
static int seed_rsa(const TPMT_PUBLIC *srk, uint8_t *seed, size_t seed_size, TPM2B_ENCRYPTED_SECRET *ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        uint8_t e[4] = { 0x00, 0x01, 0x00, 0x01 }; /* exponent 0 means 65537 */
        uint32_t exponent = srk->parameters.rsaDetail.exponent;
        size_t out_size = sizeof(ret->secret), md_size;
        const char *md = tpm2_hash_md_name(srk->nameAlg, &md_size);
        void *label;
        int r;

        if (exponent != 0) {
                e[0] = (uint8_t) (exponent >> 24);
                e[1] = (uint8_t) (exponent >> 16);
                e[2] = (uint8_t) (exponent >> 8);
                e[3] = (uint8_t) exponent;
        }
        r = rsa_public_key(srk->unique.rsa.buffer, srk->unique.rsa.size, e, sizeof(e), &pkey);
        if (r < 0)
                return r;

        r = kdf_random(seed, seed_size);
        if (r < 0)
                return r;

        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!ctx)
                return -ENOMEM;
        label = OPENSSL_memdup(DUPLICATE_LABEL, sizeof(DUPLICATE_LABEL)); /* with its NUL */
        if (!label)
                return -ENOMEM;
        if (EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, md, NULL) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, md, NULL) != 1 ||
            EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int) sizeof(DUPLICATE_LABEL)) != 1) {
                OPENSSL_free(label);
                return log_debug_errno(-EIO, "Cannot set up RSA-OAEP for the SRK");
        }
        if (EVP_PKEY_encrypt(ctx, ret->secret, &out_size, seed, seed_size) != 1)
                return log_debug_errno(-EIO, "RSA-OAEP encryption to the SRK failed");
        ret->size = (UINT16) out_size;
        return 0;
}

/* ---- the outer wrapper ---- */

static const EVP_CIPHER *aes_cfb(unsigned bits) {
        switch (bits) {
        case 128:
                return EVP_aes_128_cfb128();
        case 192:
                return EVP_aes_192_cfb128();
        case 256:
                return EVP_aes_256_cfb128();
        default:
                return NULL;
        }
}

int tpm2_duplicate_wrap(const TPM2B_PUBLIC *parent, const TPM2B_PUBLIC *object, const TPMT_SENSITIVE *sensitive,
                        TPM2B_PRIVATE *ret_duplicate, TPM2B_ENCRYPTED_SECRET *ret_seed) {
        const TPMT_PUBLIC *p = &parent->publicArea;
        const TPMT_SYM_DEF_OBJECT *sym = p->type == TPM2_ALG_RSA ? &p->parameters.rsaDetail.symmetric
                                                                 : &p->parameters.eccDetail.symmetric;
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *cctx = NULL;
        uint8_t seed[64], sym_key[32], hmac_key[64], iv[16] = {}, plain[sizeof(TPM2B_SENSITIVE)];
        uint8_t hmac_in[sizeof(TPM2B_SENSITIVE) + sizeof(TPM2B_NAME)];
        TPM2B_SENSITIVE s = { .sensitiveArea = *sensitive };
        TPM2B_ENCRYPTED_SECRET enc_seed = {};
        TPM2B_PRIVATE dup = {};
        TPM2B_NAME name;
        size_t md_size, plain_size = 0, hmac_size = 0, enc_size;
        const EVP_CIPHER *cipher;
        const char *md;
        int r, len = 0, fin = 0;
        TSS2_RC rc;

        md = tpm2_hash_md_name(p->nameAlg, &md_size);
        if (!md)
                return -EOPNOTSUPP;
        cipher = aes_cfb(sym->keyBits.aes);
        if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB || !cipher)
                return -EOPNOTSUPP;

        r = tpm2_public_name(object, &name);
        if (r < 0)
                return r;

        if (p->type == TPM2_ALG_ECC)
                r = seed_ecc(p, seed, md_size, &enc_seed);
        else if (p->type == TPM2_ALG_RSA)
                r = seed_rsa(p, seed, md_size, &enc_seed);
        else
                r = -EOPNOTSUPP;
        if (r < 0)
                goto finish;

        r = tpm2_kdfa(p->nameAlg, seed, md_size, "STORAGE", name.name, name.size, NULL, 0, sym_key,
                      sym->keyBits.aes / 8);
        if (r >= 0)
                r = tpm2_kdfa(p->nameAlg, seed, md_size, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, md_size);
        if (r < 0)
                goto finish;

        /* encSensitive = AES-CFB(symKey, IV 0, TPM2B_SENSITIVE), after the HMAC's room. */
        rc = Tss2_MU_TPM2B_SENSITIVE_Marshal(&s, plain, sizeof(plain), &plain_size);
        if (rc != TSS2_RC_SUCCESS || 2 + md_size + plain_size > sizeof(dup.buffer)) {
                r = log_debug_errno(-EINVAL, "The sensitive area does not fit a duplicate");
                goto finish;
        }
        cctx = EVP_CIPHER_CTX_new();
        if (!cctx) {
                r = -ENOMEM;
                goto finish;
        }
        if (EVP_EncryptInit_ex(cctx, cipher, NULL, sym_key, iv) != 1 ||
            EVP_EncryptUpdate(cctx, dup.buffer + 2 + md_size, &len, plain, (int) plain_size) != 1 ||
            EVP_EncryptFinal_ex(cctx, dup.buffer + 2 + md_size + len, &fin) != 1 ||
            (size_t) (len + fin) != plain_size) {
                r = log_debug_errno(-EIO, "AES-CFB encryption failed");
                goto finish;
        }
        enc_size = plain_size;

        /* outerHMAC = HMAC(HMACkey, encSensitive || name) */
        memcpy(hmac_in, dup.buffer + 2 + md_size, enc_size);
        memcpy(hmac_in + enc_size, name.name, name.size);
        if (!EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, hmac_key, md_size, hmac_in, enc_size + name.size,
                       dup.buffer + 2, md_size, &hmac_size) ||
            hmac_size != md_size) {
                r = log_debug_errno(-EIO, "HMAC failed");
                goto finish;
        }
        dup.buffer[0] = (uint8_t) (md_size >> 8);
        dup.buffer[1] = (uint8_t) md_size;
        dup.size = (UINT16) (2 + md_size + enc_size);

        *ret_duplicate = dup;
        *ret_seed = enc_seed;
        r = 0;

finish:
        secure_wipe(seed, sizeof(seed));
        secure_wipe(sym_key, sizeof(sym_key));
        secure_wipe(hmac_key, sizeof(hmac_key));
        secure_wipe(plain, sizeof(plain));
        secure_wipe(&s, sizeof(s));
        secure_wipe(&dup, sizeof(dup));
        return r;
}

/* ---- the sealed object ---- */

int tpm2_seal_offline(const TPM2B_PUBLIC *srk, const TPM2B_DIGEST *policy, const TPM2B_AUTH *auth, bool noda,
                      const cvmseal_secret *data, struct tpm2_sealed *ret) {
        TPMT_SENSITIVE sensitive = { .sensitiveType = TPM2_ALG_KEYEDHASH };
        TPM2B_PUBLIC pub = {
                .publicArea = {
                        .type = TPM2_ALG_KEYEDHASH,
                        .nameAlg = TPM2_ALG_SHA256,
                        /* As tpm2_seal()'s object, without fixedTPM and fixedParent: TPM2_Import
                         * refuses them (the object was made outside the TPM).  No userWithAuth: only
                         * the policy authorizes Unseal, and it has no PolicyCommandCode(Duplicate),
                         * so the object cannot be duplicated again (the DUP role needs one). */
                        .objectAttributes = noda ? TPMA_OBJECT_NODA : 0,
                        .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
                },
        };
        struct tpm2_sealed s = {};
        unsigned n = 0;
        int r;

        if (cvmseal_secret_size(data) == 0 || cvmseal_secret_size(data) > sizeof(sensitive.sensitive.bits.buffer) ||
            policy->size != 32)
                return -EINVAL;

        r = tpm2_public_name(srk, &s.srk_name);
        if (r < 0)
                return r;
        s.policy = *policy;
        pub.publicArea.authPolicy = *policy;

        if (auth)
                sensitive.authValue = *auth;
        /* seedValue: the obfuscation value, as the TPM makes for sealed data (nameAlg's size). */
        sensitive.seedValue.size = 32;
        r = kdf_random(sensitive.seedValue.buffer, 32);
        if (r < 0)
                goto finish;
        sensitive.sensitive.bits.size = (UINT16) cvmseal_secret_size(data);
        memcpy(sensitive.sensitive.bits.buffer, cvmseal_secret_data(data), cvmseal_secret_size(data));

        /* unique = H_nameAlg(seedValue || data): Import checks this binding. */
        {
                _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

                if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
                    EVP_DigestUpdate(ctx, sensitive.seedValue.buffer, sensitive.seedValue.size) != 1 ||
                    EVP_DigestUpdate(ctx, sensitive.sensitive.bits.buffer, sensitive.sensitive.bits.size) != 1 ||
                    EVP_DigestFinal_ex(ctx, pub.publicArea.unique.keyedHash.buffer, &n) != 1 || n != 32) {
                        r = -EIO;
                        goto finish;
                }
                pub.publicArea.unique.keyedHash.size = 32;
        }
        s.public = pub;

        r = tpm2_duplicate_wrap(srk, &pub, &sensitive, &s.private, &s.seed);
        if (r < 0)
                goto finish;

        log_debug("Sealed offline for the %s SRK (import blob of %u bytes, seed of %u bytes)",
                  srk->publicArea.type == TPM2_ALG_ECC ? "ECC" : "RSA", s.private.size, s.seed.size);
        *ret = s;
        r = 0;

finish:
        secure_wipe(&sensitive, sizeof(sensitive));
        return r;
}

int tpm2_import_seed_marshal(const TPM2B_ENCRYPTED_SECRET *seed, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = malloc(sizeof(*seed));
        size_t off = 0;

        if (!buf)
                return -ENOMEM;
        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(seed, buf, sizeof(*seed), &off) != TSS2_RC_SUCCESS)
                return -EIO;
        *ret = TAKE_PTR(buf);
        *ret_size = off;
        return 0;
}

int tpm2_import_seed_unmarshal(const uint8_t *buf, size_t size, TPM2B_ENCRYPTED_SECRET *ret) {
        TPM2B_ENCRYPTED_SECRET s = {};
        size_t off = 0;

        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(buf, size, &off, &s) != TSS2_RC_SUCCESS || off != size ||
            s.size == 0)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'tpm2.import.seed' is not a TPM2B_ENCRYPTED_SECRET");
        *ret = s;
        return 0;
}
