/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "crypto-util.h"
#include "log.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);

int rsa_public_key(const uint8_t *n, size_t n_size, const uint8_t *e, size_t e_size, EVP_PKEY **ret) {
        _cleanup_(BN_freep) BIGNUM *bn_n = NULL, *bn_e = NULL;
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;

        if (!n || !e || n_size == 0 || e_size == 0 || n_size > INT32_MAX || e_size > INT32_MAX || !ret)
                return -EINVAL;
        bn_n = BN_bin2bn(n, (int) n_size, NULL);
        bn_e = BN_bin2bn(e, (int) e_size, NULL);
        bld = OSSL_PARAM_BLD_new();
        if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
                return -ENOMEM;
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (!params || !ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return log_debug_errno(-EBADMSG, "Not a usable RSA public key");
        *ret = pkey;
        return 0;
}

const char *tpm2_hash_md_name(TPMI_ALG_HASH alg, size_t *ret_size) {
        switch (alg) {
        case TPM2_ALG_SHA256:
                *ret_size = TPM2_SHA256_DIGEST_SIZE;
                return "SHA256";
        case TPM2_ALG_SHA384:
                *ret_size = TPM2_SHA384_DIGEST_SIZE;
                return "SHA384";
        default:
                return NULL;
        }
}
