/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The attestation policy document: attest_policy_from_json(), and for a policy that parses,
 * attest_verify() of a fixed synthetic evidence against it.  attest_policy_from_json() keeps the
 * "snp" and "tdx" members as JSON; snp_verify() and tdx_verify() parse them, so the evidence has an
 * SNP report, a TDX quote, a TPM quote and PCR values: every member of the policy is read.
 *
 * Input: the policy's JSON text.
 */
#include "evidence.h"
#include "fuzz-evidence-common.h"
#include "macro.h"

static struct evidence evidence;

static void setup(void) {
        static bool done;
        static uint8_t snp[SNP_REPORT_SIZE], tdx[FUZZ_TDX_MIN_QUOTE_SIZE], message[] = { 0xff, 'T', 'C', 'G' },
                       signature[] = { 0x00, 0x14 }, nonce[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        json_object *pcrs;

        if (done)
                return;
        done = true;

        fuzz_put_le32(snp, 2);                  /* version */
        fuzz_put_le32(snp + 0x34, 1);           /* ECDSA P-384 */
        fuzz_put_le32(snp + 0x38, 0x03000000);  /* CURRENT_TCB */
        fuzz_put_le32(snp + 0x180, 0x03000000); /* REPORTED_TCB: bootloader 0, tee 0, snp 3 at byte 6 */
        snp[0x186] = 8;
        snp[0x187] = 115;

        pcrs = json_object_new_object();
        FUZZ_ASSERT(pcrs);
        for (unsigned i = 0; i < 24; i++) {
                char key[4], hex[65];

                snprintf(key, sizeof(key), "%u", i);
                for (unsigned k = 0; k < 32; k++)
                        snprintf(hex + 2 * k, 3, "%02x", i);
                FUZZ_ASSERT(json_object_object_add(pcrs, key, json_object_new_string(hex)) == 0);
        }

        evidence = (struct evidence) {
                .version = 1,
                .nonce = { nonce, sizeof(nonce) },
                .snp_report = { snp, sizeof(snp) },
                .tdx_quote = { tdx, fuzz_tdx_min_quote(tdx) },
                .has_quote = true,   /* without an AK: "tpm-quote" fails, the policy's PCRs are compared */
                .quote_message = { message, sizeof(message) },
                .quote_signature = { signature, sizeof(signature) },
                .pcrs_sha256 = pcrs,
        };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};

        fuzz_setup_log();
        setup();
        if (size > 256 * 1024)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;
        j = json_tokener_parse(s);
        if (!j)
                return 0;
        if (attest_policy_from_json(j, &p) < 0)
                goto done;
        (void) attest_verify(&evidence, &p, NULL, &v);
done:
        ERR_clear_error();
        return 0;
}
