/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SEV-SNP attestation report: snp_report_parse(), then snp_verify() with no certificates and no
 * policy (what the verifier does with a bare report), and for a share of inputs snp_verify() with a
 * test VCEK/VLEK certificate made at start-up and a fixed policy, so that the signature, the
 * certificate's TCB and hwID extensions, the Turin layout and every policy check run.
 *
 * Fix-ups: an input that does not parse as it is (wrong size, or VERSION outside 2..5) is parsed
 * again zero-padded or cut to 1184 bytes with VERSION forced into 2..5.  Byte 0x10 (FAMILY_ID[0],
 * which the parser ignores) steers the certificate run: low 3 bits 7 for a run with certificates,
 * bits 3-4 the certificate (0 Milan VCEK, 1 Turin VCEK, 2 VLEK, 3 all three), bit 5: sign the report
 * with the test key first, so the signature verifies.
 */
#include <openssl/ec.h>

#include "attest.h"
#include "fuzz-cert.h"
#include "macro.h"

#define OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define OID_BL_SPL       "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE_SPL      "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP_SPL      "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE_SPL    "1.3.6.1.4.1.3704.1.3.8"
#define OID_FMC_SPL      "1.3.6.1.4.1.3704.1.3.9"
#define OID_HWID         "1.3.6.1.4.1.3704.1.4"

#define SNP_OFF_FAMILY_ID 0x10

static EVP_PKEY *key;
static X509 *leaf_milan, *leaf_turin, *leaf_vlek;
static json_object *policy;

static X509 *make_leaf(const char *product, const uint8_t *hwid, size_t hwid_size, bool turin, bool hwid_wrapped) {
        X509 *x = fuzz_cert_new(key, "SEV-VCEK", "SEV-Test");
        uint8_t name[32];
        size_t n = strlen(product);

        FUZZ_ASSERT(n + 2 <= sizeof(name));
        name[0] = 0x16;   /* IA5String */
        name[1] = (uint8_t) n;
        memcpy(name + 2, product, n);
        fuzz_cert_add_ext(x, OID_PRODUCT_NAME, name, n + 2);
        fuzz_cert_add_spl(x, OID_BL_SPL, 3);
        fuzz_cert_add_spl(x, OID_TEE_SPL, 0);
        fuzz_cert_add_spl(x, OID_SNP_SPL, 8);
        fuzz_cert_add_spl(x, OID_UCODE_SPL, 115);
        if (turin)
                fuzz_cert_add_spl(x, OID_FMC_SPL, 1);
        if (hwid) {
                uint8_t wrapped[2 + 64];

                if (hwid_wrapped) {
                        wrapped[0] = 0x04;
                        wrapped[1] = (uint8_t) hwid_size;
                        memcpy(wrapped + 2, hwid, hwid_size);
                        fuzz_cert_add_ext(x, OID_HWID, wrapped, hwid_size + 2);
                } else
                        fuzz_cert_add_ext(x, OID_HWID, hwid, hwid_size);
        }
        fuzz_cert_sign(x, key);
        return x;
}

static void setup(void) {
        static bool done;
        uint8_t hwid[64];

        if (done)
                return;
        done = true;

        key = EVP_EC_gen("P-384");
        FUZZ_ASSERT(key);
        for (size_t i = 0; i < sizeof(hwid); i++)
                hwid[i] = (uint8_t) (0xa0 + i);
        leaf_milan = make_leaf("Milan-B0", hwid, 64, false, false);
        leaf_turin = make_leaf("Turin", hwid, 8, true, true);
        leaf_vlek = make_leaf("Genoa", NULL, 0, false, false);

        policy = json_tokener_parse(
                "{\"measurements\":[\"000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000\"],"
                "\"allow-debug\":false,\"vmpl\":0,"
                "\"min-tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":115},"
                "\"host-data\":\"0000000000000000000000000000000000000000000000000000000000000000\"}");
        FUZZ_ASSERT(policy);
}

/* ECDSA P-384 over bytes [0, 0x2A0), R and S little-endian at 0x2A0 and 0x2E8 (72 bytes each). */
static void sign_report(uint8_t *report) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t der[128];
        const uint8_t *p = der;
        size_t der_size = sizeof(der);
        ECDSA_SIG *sig = NULL;
        const BIGNUM *r, *s;

        FUZZ_ASSERT(md);
        FUZZ_ASSERT(EVP_DigestSignInit_ex(md, NULL, "SHA384", NULL, NULL, key, NULL) == 1);
        FUZZ_ASSERT(EVP_DigestSign(md, der, &der_size, report, 0x2A0) == 1);
        sig = d2i_ECDSA_SIG(NULL, &p, (long) der_size);
        FUZZ_ASSERT(sig);
        ECDSA_SIG_get0(sig, &r, &s);
        FUZZ_ASSERT(BN_bn2lebinpad(r, report + 0x2A0, 72) == 72 && BN_bn2lebinpad(s, report + 0x2E8, 72) == 72);
        ECDSA_SIG_free(sig);
        EVP_MD_CTX_free(md);
}

static void verify(const uint8_t *buf, size_t size) {
        struct snp_report r;
        struct attest_verdict v = {};

        if (snp_report_parse(buf, size, &r) < 0)
                return;
        if (attest_verdict_init(&v) < 0)
                return;
        (void) snp_verify(&r, NULL, NULL, NULL, &v);
        attest_verdict_done(&v);
}

static void verify_with_certs(uint8_t *report, uint8_t ctl) {
        struct attest_trust trust = { .time = 1748736000 /* 2025-06-01 */ };
        STACK_OF(X509) *certs = sk_X509_new_null();
        struct attest_verdict v = {};
        struct snp_report r;
        unsigned which = (ctl >> 3) & 3;

        FUZZ_ASSERT(certs);
        if (which == 0 || which == 3)
                FUZZ_ASSERT(sk_X509_push(certs, leaf_milan) > 0);
        if (which == 1 || which == 3)
                FUZZ_ASSERT(sk_X509_push(certs, leaf_turin) > 0);
        if (which == 2 || which == 3)
                FUZZ_ASSERT(sk_X509_push(certs, leaf_vlek) > 0);
        if (ctl & 0x20)
                sign_report(report);

        if (snp_report_parse(report, SNP_REPORT_SIZE, &r) == 0 && attest_verdict_init(&v) == 0) {
                (void) snp_verify(&r, certs, policy, &trust, &v);
                attest_verdict_done(&v);
        }
        sk_X509_free(certs);   /* the certificates stay: they belong to setup() */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct snp_report r;
        uint8_t *buf;
        uint32_t version;

        fuzz_setup_log();
        setup();
        if (size > 4 * SNP_REPORT_SIZE)
                return 0;

        verify(data, size);

        /* The same bytes, made parseable: 1184 of them, VERSION in 2..5. */
        buf = calloc(1, SNP_REPORT_SIZE);
        if (!buf)
                return 0;
        memcpy(buf, data, size < SNP_REPORT_SIZE ? size : SNP_REPORT_SIZE);
        version = fuzz_le32(buf);
        if (version < 2 || version > 5)
                fuzz_put_le32(buf, 2 + version % 4);
        if (size != SNP_REPORT_SIZE || version != fuzz_le32(buf))
                verify(buf, SNP_REPORT_SIZE);

        if ((buf[SNP_OFF_FAMILY_ID] & 7) == 7 && snp_report_parse(buf, SNP_REPORT_SIZE, &r) == 0)
                verify_with_certs(buf, buf[SNP_OFF_FAMILY_ID]);

        free(buf);
        ERR_clear_error();
        return 0;
}
