/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verdicts, trust anchors and certificate chains, shared by every verifier. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "attest.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

/* SHA-256 of the SubjectPublicKeyInfo (DER) of each root: a reissued certificate of the same key is
 * still trusted, a different key never is. */
static const struct {
        enum attest_root_kind kind;
        const char *name;
        const char *spki_sha256;
} pinned_roots[] = {
        { ATTEST_ROOT_AMD_ARK, "ARK-Milan", "9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9" },
        { ATTEST_ROOT_AMD_ARK, "ARK-Genoa", "429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831" },
        { ATTEST_ROOT_AMD_ARK, "ARK-Turin", "4f125410563a2ab9a50356f9243f6fe0b6f73de98603f53f90339c70e9d7ad08" },
        { ATTEST_ROOT_INTEL_SGX, "Intel SGX Root CA", "a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e" },
};

int attest_verdict_init(struct attest_verdict *v) {
        v->claims = json_object_new_object();
        v->failures = json_object_new_array();
        if (!v->claims || !v->failures) {
                attest_verdict_done(v);
                return -ENOMEM;
        }
        return 0;
}

void attest_verdict_done(struct attest_verdict *v) {
        json_object_put(v->claims);
        json_object_put(v->failures);
        v->claims = v->failures = NULL;
}

bool attest_verdict_pass(const struct attest_verdict *v) {
        return v->failures && json_object_array_length(v->failures) == 0;
}

int attest_fail(struct attest_verdict *v, const char *check, const char *fmt, ...) {
        char why[512], line[600];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        snprintf(line, sizeof(line), "%s: %s", check, why);
        log_debug("attestation check failed: %s", line);
        return json_object_array_add(v->failures, json_object_new_string(line)) < 0 ? -ENOMEM : 0;
}

int attest_claim(struct attest_verdict *v, const char *key, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_object_add(v->claims, key, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

int attest_claim_hex(struct attest_verdict *v, const char *key, const uint8_t *p, size_t n) {
        _cleanup_free_ char *hex = hex_encode(p, n);

        return hex ? attest_claim(v, key, json_object_new_string(hex)) : -ENOMEM;
}

/* 0, -ENOMEM, or -EBADMSG for a certificate without a usable key. */
static int spki_sha256(X509 *cert, uint8_t out[32]) {
        _cleanup_free_ uint8_t *der = NULL;
        X509_PUBKEY *pub = X509_get_X509_PUBKEY(cert);
        unsigned n = 0;
        int len;

        /* The certificate's own encoding of its key: no re-encoding through an EVP_PKEY. */
        if (!pub)
                return -EBADMSG;
        len = i2d_X509_PUBKEY(pub, NULL);
        if (len <= 0)
                return -EBADMSG;
        der = malloc((size_t) len);
        if (!der)
                return -ENOMEM;
        {
                uint8_t *p = der;

                if (i2d_X509_PUBKEY(pub, &p) != len)
                        return -ENOMEM;
        }
        if (EVP_Digest(der, (size_t) len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -ENOMEM;
        return 0;
}

int attest_root_check(const struct attest_trust *trust, enum attest_root_kind kind, X509 *cert) {
        uint8_t fp[32];
        _cleanup_free_ char *hex = NULL;
        int r;

        r = spki_sha256(cert, fp);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        hex = hex_encode(fp, sizeof(fp));
        if (!hex)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(pinned_roots); i++)
                if (pinned_roots[i].kind == kind && strcmp(pinned_roots[i].spki_sha256, hex) == 0)
                        return 1;

        /* Extra roots (tests): the same public key. */
        for (int i = 0; trust && trust->extra_roots && i < sk_X509_num(trust->extra_roots); i++) {
                uint8_t other[32];

                r = spki_sha256(sk_X509_value(trust->extra_roots, i), other);
                if (r == -ENOMEM)
                        return r;
                if (r == 0 && memcmp(fp, other, 32) == 0)
                        return 1;
        }
        return 0;
}

bool attest_root_trusted(const struct attest_trust *trust, enum attest_root_kind kind, X509 *cert) {
        return attest_root_check(trust, kind, cert) > 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);

int attest_verify_chain(const struct attest_trust *trust, enum attest_root_kind kind, X509 *leaf,
                        STACK_OF(X509) *intermediates, struct attest_verdict *v, const char *check) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
        STACK_OF(X509) *chain;
        X509 *root;
        int ok, n, r;

        /* The roots the evidence brings are candidates only: a candidate becomes a trust anchor when
         * its key is pinned (or an extra root of the policy). */
        store = X509_STORE_new();
        if (!store)
                return -ENOMEM;
        for (int i = 0; intermediates && i < sk_X509_num(intermediates); i++) {
                X509 *c = sk_X509_value(intermediates, i);

                int k;

                if (X509_check_issued(c, c) != X509_V_OK)
                        continue;
                k = attest_root_check(trust, kind, c);
                if (k < 0)
                        return k;
                if (k > 0 && X509_STORE_add_cert(store, c) != 1)
                        return -ENOMEM;
        }
        for (int i = 0; trust && trust->extra_roots && i < sk_X509_num(trust->extra_roots); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(trust->extra_roots, i)) != 1)
                        return -ENOMEM;

        ctx = X509_STORE_CTX_new_ex(trust ? trust->libctx : NULL, NULL);
        if (!ctx || X509_STORE_CTX_init(ctx, store, leaf, intermediates) != 1)
                return -ENOMEM;
        if (trust && trust->time != 0)
                X509_STORE_CTX_set_time(ctx, 0, trust->time);
        /* AMD's and Intel's chains carry no policy or purpose we could require.  Strict mode rejects
         * every AMD chain ("Missing Authority Key Identifier": VCEKs have no AKID, the ASK's is
         * empty), so AMD chains are verified without it; their signatures are checked all the same. */
        X509_STORE_CTX_set_flags(ctx, (kind == ATTEST_ROOT_AMD_ARK ? 0 : X509_V_FLAG_X509_STRICT) |
                                              X509_V_FLAG_CHECK_SS_SIGNATURE);

        ok = X509_verify_cert(ctx);
        if (ok != 1) {
                int err = X509_STORE_CTX_get_error(ctx);

                return attest_fail(v, check, "the certificate chain does not verify: %s",
                                   X509_verify_cert_error_string(err));
        }

        chain = X509_STORE_CTX_get0_chain(ctx);
        n = sk_X509_num(chain);
        root = n > 0 ? sk_X509_value(chain, n - 1) : NULL;
        r = root ? attest_root_check(trust, kind, root) : 0;
        if (r < 0)
                return r;
        if (r == 0)
                return attest_fail(v, check, "the chain does not end at a pinned %s root",
                                   kind == ATTEST_ROOT_AMD_ARK ? "AMD ARK" : "Intel SGX");
        return 0;
}
