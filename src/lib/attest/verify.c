/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attest_verify(): the evidence against the policy, every check that applies, one verdict.
 *
 *   azure-hcl-report  parse; its hardware report is the SNP report (type 2) or a TDREPORT (type 4);
 *                     SHA-256(runtime claims) must be that report's REPORT_DATA; HCLAkPub is the AK
 *   snp-report        (or the HCL's) signature, chain to a pinned ARK, VCEK extensions, policy
 *   tdx-quote         signature, QE report, PCK chain to the pinned Intel root, policy; with an HCL
 *                     TDREPORT, the quote's REPORT_DATA must be the TDREPORT's
 *   tpm-quote         signature by the AK (ak-public, else HCLAkPub; both given: equal), extraData
 *                     = the expected nonce, PCR digest over the evidence's sha256 PCRs
 *   event-log         replayed, it must give the evidence's sha256 PCRs (which the quote covers)
 *   pcrs (policy)     each reference value must equal the quoted one
 *
 * The expected nonce is the policy's "nonce" (a verifier that issued it), else the evidence's own
 * (collect then verify in one process, as unlock does).  A bare SNP report (configfs-tsm, no TPM
 * quote) carries the nonce in REPORT_DATA (zero-padded to 64 bytes).
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "encoding.h"
#include "evidence.h"
#include "log.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

static int check_required(const struct evidence *e, unsigned require, bool hcl_snp, bool hcl_tdx,
                          struct attest_verdict *v) {
        int r = 0;

        if ((require & REQUIRE_SNP) && !e->snp_report.data && !hcl_snp)
                r = attest_fail(v, "require", "the policy requires an SNP report and the evidence has none");
        if (r >= 0 && (require & REQUIRE_TDX) && !e->tdx_quote.data)
                r = attest_fail(v, "require", "the policy requires a TDX quote and the evidence has none");
        if (r >= 0 && (require & REQUIRE_AZURE_HCL) && !e->hcl_report.data)
                r = attest_fail(v, "require", "the policy requires an Azure HCL report and the evidence has none");
        if (r >= 0 && (require & REQUIRE_TPM_QUOTE) && !e->has_quote)
                r = attest_fail(v, "require", "the policy requires a TPM quote and the evidence has none");
        if (r >= 0 && (require & REQUIRE_EVENT_LOG) && !e->event_log.data)
                r = attest_fail(v, "require", "the policy requires an event log and the evidence has none");
        (void) hcl_tdx;
        return r;
}

/* The evidence's sha256 PCR value n, or NULL. */
static const char *pcr_value(json_object *pcrs, unsigned n) {
        char key[4];
        json_object *s;

        snprintf(key, sizeof(key), "%u", n);
        return pcrs && json_object_object_get_ex(pcrs, key, &s) ? json_object_get_string(s) : NULL;
}

static int check_eventlog(const struct evidence *e, struct attest_verdict *v) {
        struct eventlog log = {};
        const struct eventlog_bank *bank = NULL;
        int r;

        r = eventlog_replay(e->event_log.data, e->event_log.size, &log);
        if (r < 0)
                return r;
        for (size_t i = 0; i < log.n_banks; i++)
                if (log.banks[i].alg == 0x000B /* TPM2_ALG_SHA256 */)
                        bank = &log.banks[i];
        if (!bank)
                return attest_fail(v, "event-log", "the log has no sha256 bank");
        if (!e->pcrs_sha256)
                return attest_fail(v, "event-log", "the evidence has no PCR values to compare the log with");

        /* Only the PCRs the firmware's log extends: the kernel measures into others (IMA into 10,
         * the OS into 11-15, cvmseal's lock into 15) with logs of their own, and 17-22 start at
         * all ones.  The policy's "pcrs" pin any PCR against the quote itself. */
        for (unsigned n = 0; n < EVENTLOG_PCRS; n++) {
                const char *want = pcr_value(e->pcrs_sha256, n);
                _cleanup_free_ char *got = NULL;

                if (!want || !(log.extended & (UINT32_C(1) << n)))
                        continue;
                got = hex_encode(bank->pcrs[n], 32);
                if (!got)
                        return -ENOMEM;
                if (strcasecmp(got, want) != 0) {
                        r = attest_fail(v, "event-log", "PCR %u replays to %s, the evidence says %s", n, got, want);
                        if (r < 0)
                                return r;
                }
        }
        return attest_claim(v, "event-log-events", json_object_new_int64((int64_t) log.n_events));
}

static int check_policy_pcrs(const struct evidence *e, const struct attest_policy *p, struct attest_verdict *v) {
        int r = 0;

        if (!p->pcrs_sha256)
                return 0;
        if (!e->has_quote)
                return attest_fail(v, "pcrs", "the policy has PCR reference values and the evidence no TPM quote "
                                   "that vouches for PCRs");
        json_object_object_foreach(p->pcrs_sha256, index, value) {
                const char *got = pcr_value(e->pcrs_sha256, (unsigned) atoi(index));

                if (!got)
                        r = attest_fail(v, "pcrs", "PCR %s is not in the evidence", index);
                else if (strcasecmp(got, json_object_get_string(value)) != 0)
                        r = attest_fail(v, "pcrs", "PCR %s is %s, the policy wants %s", index, got,
                                        json_object_get_string(value));
                if (r < 0)
                        return r;
        }
        return 0;
}

int attest_verify(const struct evidence *e, const struct attest_policy *p, OSSL_LIB_CTX *libctx,
                  struct attest_verdict *ret) {
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *hcl_ak = NULL, *ak = NULL;
        struct attest_trust trust = { .libctx = libctx, .extra_roots = p->roots, .time = p->time };
        struct hcl_report hcl = {};
        const uint8_t *snp_raw = NULL, *tdreport_data = NULL;
        size_t snp_size = 0;
        const struct blob *nonce = p->nonce.data ? &p->nonce : &e->nonce;
        bool hcl_snp = false, hcl_tdx = false;
        int r;

        r = attest_verdict_init(&v);
        if (r < 0)
                return r;

        /* Parse what the evidence has first: malformed evidence is 10, before any verdict. */
        if (e->hcl_report.data) {
                r = hcl_report_parse(e->hcl_report.data, e->hcl_report.size, &hcl);
                if (r < 0)
                        return r;
                hcl_snp = hcl.report_type == 2;
                hcl_tdx = hcl.report_type == 4;
        }

        r = check_required(e, p->require, hcl_snp, hcl_tdx, &v);
        if (r < 0)
                return r;

        /* The SNP report: the evidence's own, or the HCL's; both given, they must be the same. */
        if (e->snp_report.data) {
                snp_raw = e->snp_report.data;
                snp_size = e->snp_report.size;
                if (hcl_snp && (snp_size != SNP_REPORT_SIZE || memcmp(snp_raw, hcl.hw_report, SNP_REPORT_SIZE) != 0)) {
                        r = attest_fail(&v, "hcl-snp", "the snp-report differs from the HCL report's");
                        if (r < 0)
                                return r;
                }
        } else if (hcl_snp) {
                snp_raw = hcl.hw_report;
                snp_size = SNP_REPORT_SIZE;
        }

        if (e->hcl_report.data) {
                const uint8_t *rd;

                r = hcl_hw_report_data(&hcl, &rd);
                if (r < 0)
                        return r;

                if (hcl_tdx)
                        tdreport_data = rd;
                r = hcl_verify_binding(&hcl, rd, &v, &hcl_ak);
                if (r < 0)
                        return r;
                r = attest_claim(&v, "azure-hcl-report-type", json_object_new_string(hcl_snp ? "snp" : "tdx"));
                if (r < 0)
                        return r;
        }

        if (snp_raw) {
                struct snp_report report;

                r = snp_report_parse(snp_raw, snp_size, &report);
                if (r < 0)
                        return r;
                r = snp_verify(&report, e->certificates, p->snp, &trust, &v);
                if (r < 0)
                        return r;

                /* A bare report (configfs-tsm) carries the nonce itself. */
                if (!e->hcl_report.data && !e->has_quote && nonce->data) {
                        uint8_t want[64] = {};

                        memcpy(want, nonce->data, nonce->size);
                        if (memcmp(report.report_data, want, 64) != 0) {
                                r = attest_fail(&v, "snp-nonce", "REPORT_DATA is not the nonce");
                                if (r < 0)
                                        return r;
                        }
                }
        } else if (p->snp) {
                r = attest_fail(&v, "snp", "the policy has SNP requirements and the evidence no SNP report");
                if (r < 0)
                        return r;
        }

        if (e->tdx_quote.data) {
                struct tdx_quote quote;

                r = tdx_quote_parse(e->tdx_quote.data, e->tdx_quote.size, &quote);
                if (r < 0)
                        return r;
                r = tdx_verify(&quote, p->tdx, &trust, &v);
                if (r < 0)
                        return r;
                /* A bare quote (configfs-tsm) carries the nonce itself. */
                if (!e->hcl_report.data && !e->has_quote && nonce->data) {
                        uint8_t want[64] = {};

                        memcpy(want, nonce->data, nonce->size);
                        if (memcmp(quote.report_data, want, 64) != 0) {
                                r = attest_fail(&v, "tdx-nonce", "REPORT_DATA is not the nonce");
                                if (r < 0)
                                        return r;
                        }
                }
                if (tdreport_data && memcmp(quote.report_data, tdreport_data, 64) != 0) {
                        r = attest_fail(&v, "hcl-tdx-quote", "the TD quote's REPORT_DATA is not the HCL TDREPORT's");
                        if (r < 0)
                                return r;
                }
        } else if (p->tdx) {
                r = attest_fail(&v, "tdx", "the policy has TDX requirements and the evidence no TDX quote");
                if (r < 0)
                        return r;
        }

        if (e->has_quote) {
                if (e->quote_ak.data) {
                        r = tpm_public_to_pkey(e->quote_ak.data, e->quote_ak.size, &ak);
                        if (r < 0)
                                return r;
                        if (hcl_ak && EVP_PKEY_eq(ak, hcl_ak) != 1) {
                                r = attest_fail(&v, "hcl-ak", "the quote's AK is not the HCL report's HCLAkPub");
                                if (r < 0)
                                        return r;
                        }
                } else if (hcl_ak) {
                        ak = EVP_PKEY_dup(hcl_ak);
                        if (!ak)
                                return -ENOMEM;
                }

                if (!ak)
                        r = attest_fail(&v, "tpm-quote", "no AK: the evidence has no ak-public and no HCLAkPub");
                else if (!nonce->data)
                        r = attest_fail(&v, "tpm-quote-nonce", "no nonce to check the quote's freshness against");
                else if (!e->pcrs_sha256)
                        r = attest_fail(&v, "tpm-quote-pcrs", "the evidence has no PCR values");
                else
                        r = tpm_quote_verify(e->quote_message.data, e->quote_message.size, e->quote_signature.data,
                                             e->quote_signature.size, ak, nonce->data, nonce->size, e->pcrs_sha256, &v);
                if (r < 0)
                        return r;
        }

        if (e->event_log.data) {
                r = check_eventlog(e, &v);
                if (r < 0)
                        return r;
        }

        r = check_policy_pcrs(e, p, &v);
        if (r < 0)
                return r;

        if (!snp_raw && !e->tdx_quote.data && !e->has_quote) {
                r = attest_fail(&v, "evidence", "nothing to verify: no SNP report, TDX quote or TPM quote");
                if (r < 0)
                        return r;
        }

        *ret = v;
        v.claims = v.failures = NULL;
        return 0;
}
