/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TPM2 quote: tpm_quote_verify() of a TPMS_ATTEST and a TPMT_SIGNATURE with a fixed test AK
 * (ECDSA P-256 or RSA-2048, made at start-up), a fixed nonce and fixed sha256 PCR values; and
 * tpm_public_to_pkey() on the input (the whole of it, and its signature part).
 *
 * Input: ctl (1 byte) | message size (u16 LE) | TPMS_ATTEST | TPMT_SIGNATURE (the rest).
 * ctl steers the fix-ups, so that mutations get past the magic, the nonce, the PCR digest and the
 * signature to the claims:
 *   bit 0  TPM_GENERATED_VALUE and TPM_ST_ATTEST_QUOTE at the start of the message
 *   bit 1  the message unmarshalled, extraData set to the nonce, pcrDigest set to SHA-256 of the
 *          selected sha256 PCRs (those below 24), marshalled again
 *   bit 2  the signature replaced by one of the test AK (bit 3: RSA, else ECDSA; bit 4: RSA-PSS)
 *   bit 3  the RSA AK, else the ECDSA one
 */
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "fuzz.h"
#include "macro.h"

static EVP_PKEY *ak_ec, *ak_rsa;
static json_object *pcrs;
static uint8_t pcr_values[24][32];
static const uint8_t nonce[] = { 0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x2d, 0x66, 0x75, 0x7a, 0x7a };

static void setup(void) {
        static bool done;

        if (done)
                return;
        done = true;
        ak_ec = EVP_EC_gen("P-256");
        ak_rsa = EVP_RSA_gen(2048);
        FUZZ_ASSERT(ak_ec && ak_rsa);

        pcrs = json_object_new_object();
        FUZZ_ASSERT(pcrs);
        for (unsigned i = 0; i < 24; i++) {
                char key[4], hex[65];

                memset(pcr_values[i], (int) i, 32);
                snprintf(key, sizeof(key), "%u", i);
                for (unsigned k = 0; k < 32; k++)
                        snprintf(hex + 2 * k, 3, "%02x", i);
                FUZZ_ASSERT(json_object_object_add(pcrs, key, json_object_new_string(hex)) == 0);
        }
}

static void verify(const uint8_t *msg, size_t msg_size, const uint8_t *sig, size_t sig_size, EVP_PKEY *ak) {
        struct attest_verdict v = {};

        if (attest_verdict_init(&v) < 0)
                return;
        (void) tpm_quote_verify(msg, msg_size, sig, sig_size, ak, nonce, sizeof(nonce), pcrs, &v);
        attest_verdict_done(&v);
}

/* Fix-up bit 1: a canonical message with our nonce and the digest of our PCR values. */
static bool canonicalize(uint8_t *msg, size_t *msg_size, size_t cap) {
        TPMS_ATTEST a = {};
        size_t off = 0, n = 0;
        uint8_t cat[24 * 32];
        unsigned digest_size = 0;

        if (Tss2_MU_TPMS_ATTEST_Unmarshal(msg, *msg_size, &off, &a) != TSS2_RC_SUCCESS)
                return false;
        a.magic = TPM2_GENERATED_VALUE;
        a.type = TPM2_ST_ATTEST_QUOTE;
        a.extraData.size = sizeof(nonce);
        memcpy(a.extraData.buffer, nonce, sizeof(nonce));
        for (uint32_t i = 0; i < a.attested.quote.pcrSelect.count && i < TPM2_NUM_PCR_BANKS; i++) {
                const TPMS_PCR_SELECTION *s = &a.attested.quote.pcrSelect.pcrSelections[i];

                for (unsigned pcr = 0; pcr < 24 && pcr < (unsigned) s->sizeofSelect * 8; pcr++)
                        if (s->hash == TPM2_ALG_SHA256 && (s->pcrSelect[pcr / 8] & (1U << (pcr % 8))) &&
                            n + 32 <= sizeof(cat)) {
                                memcpy(cat + n, pcr_values[pcr], 32);
                                n += 32;
                        }
        }
        FUZZ_ASSERT(EVP_Digest(cat, n, a.attested.quote.pcrDigest.buffer, &digest_size, EVP_sha256(), NULL) == 1);
        a.attested.quote.pcrDigest.size = (UINT16) digest_size;
        off = 0;
        if (Tss2_MU_TPMS_ATTEST_Marshal(&a, msg, cap, &off) != TSS2_RC_SUCCESS)
                return false;
        *msg_size = off;
        return true;
}

/* Fix-up bit 2: a TPMT_SIGNATURE of the test AK over the message. */
static bool sign(const uint8_t *msg, size_t msg_size, uint8_t ctl, uint8_t *out, size_t cap, size_t *ret_size) {
        bool rsa = ctl & 0x08, pss = ctl & 0x10;
        TPMT_SIGNATURE sig = {};
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        uint8_t der[512];
        size_t der_size = sizeof(der), off = 0;

        FUZZ_ASSERT(md);
        FUZZ_ASSERT(EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, rsa ? ak_rsa : ak_ec, NULL) == 1);
        if (rsa && pss)
                FUZZ_ASSERT(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
        FUZZ_ASSERT(EVP_DigestSign(md, der, &der_size, msg, msg_size) == 1);
        EVP_MD_CTX_free(md);

        if (rsa) {
                sig.sigAlg = pss ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA;
                sig.signature.rsassa.hash = TPM2_ALG_SHA256;   /* rsapss has the same layout */
                FUZZ_ASSERT(der_size <= sizeof(sig.signature.rsassa.sig.buffer));
                sig.signature.rsassa.sig.size = (UINT16) der_size;
                memcpy(sig.signature.rsassa.sig.buffer, der, der_size);
        } else {
                const uint8_t *p = der;
                ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long) der_size);
                const BIGNUM *r, *s;

                FUZZ_ASSERT(e);
                ECDSA_SIG_get0(e, &r, &s);
                sig.sigAlg = TPM2_ALG_ECDSA;
                sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
                sig.signature.ecdsa.signatureR.size = 32;
                sig.signature.ecdsa.signatureS.size = 32;
                FUZZ_ASSERT(BN_bn2binpad(r, sig.signature.ecdsa.signatureR.buffer, 32) == 32 &&
                            BN_bn2binpad(s, sig.signature.ecdsa.signatureS.buffer, 32) == 32);
                ECDSA_SIG_free(e);
        }
        if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out, cap, &off) != TSS2_RC_SUCCESS)
                return false;
        *ret_size = off;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t msg[sizeof(TPMS_ATTEST) + 64], sig[sizeof(TPMT_SIGNATURE) + 64], ctl;
        size_t msg_size, sig_size;
        EVP_PKEY *key = NULL;

        fuzz_setup_log();
        setup();
        if (size > 16 * 1024)
                return 0;

        /* The whole input as a TPM2B_PUBLIC. */
        if (tpm_public_to_pkey(data, size, &key) == 0)
                EVP_PKEY_free(key);
        key = NULL;

        if (size < 3)
                goto done;
        ctl = data[0];
        msg_size = (size_t) data[1] | (size_t) data[2] << 8;
        data += 3;
        size -= 3;
        if (msg_size > size)
                msg_size = size;
        if (msg_size > sizeof(msg) || size - msg_size > sizeof(sig))
                goto done;
        memcpy(msg, data, msg_size);
        sig_size = size - msg_size;
        memcpy(sig, data + msg_size, sig_size);

        /* The signature part as a TPM2B_PUBLIC too. */
        if (tpm_public_to_pkey(sig, sig_size, &key) == 0)
                EVP_PKEY_free(key);
        key = NULL;

        if ((ctl & 0x01) && msg_size >= 6) {
                msg[0] = 0xff, msg[1] = 'T', msg[2] = 'C', msg[3] = 'G';   /* TPM_GENERATED_VALUE */
                msg[4] = 0x80, msg[5] = 0x18;                            /* TPM_ST_ATTEST_QUOTE */
        }
        if (ctl & 0x02)
                (void) canonicalize(msg, &msg_size, sizeof(msg));
        if ((ctl & 0x04) && !sign(msg, msg_size, ctl, sig, sizeof(sig), &sig_size))
                goto done;

        verify(msg, msg_size, sig, sig_size, (ctl & 0x08) ? ak_rsa : ak_ec);
done:
        EVP_PKEY_free(key);
        ERR_clear_error();
        return 0;
}
