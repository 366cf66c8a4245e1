/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attest_verify(): the evidence against the policy, every check that applies, one verdict.
 *
 *   azure-hcl-report  parse; its hardware report is the SNP report (type 2) or a TDREPORT (type 4);
 *                     SHA-256(runtime claims) must be that report's REPORT_DATA; HCLAkPub is the AK
 *   snp-report        (or the HCL's) signature, chain to a pinned ARK, VCEK extensions, policy
 *   tdx-quote         signature, QE report, PCK chain to the pinned Intel root, policy; with an HCL
 *                     TDREPORT, the quote's REPORT_DATA must be the TDREPORT's
 *   tpm-quote         only by HCLAkPub (ak-public, when given, must be that key): signature,
 *                     extraData = the expected nonce, PCR digest over the evidence's sha256 PCRs
 *   freshness         every hardware report answers the expected nonce (below)
 *   event-log         replayed, it must give the evidence's sha256 PCRs, which a vouched quote covers
 *   pcrs (policy)     each reference value must equal the one a vouched quote covers
 *
 * The attacker of DESIGN holds the disk and sits on the channel to the vTPM: it can replay any
 * genuine report it once saw, and answer a quote with any key it likes.  So:
 *
 *   - a hardware report (SNP report, TDX quote, the HCL report's SNP report or TDREPORT) counts
 *     only when it is fresh: a bare report (configfs-tsm) carries the nonce, zero-padded to 64 bytes,
 *     in REPORT_DATA; an HCL report (whose binding hcl_verify() checks) carries it in its runtime
 *     claims' "user-data" (the paravisor copies NV 0x01400002 there), or is vouched for by a quote
 *     over the nonce by the key those claims name (HCLAkPub): the claims bind that key, and only
 *     the vTPM that holds it can quote the nonce;
 *   - a TPM quote proves something only when its key is HCLAkPub: an AK that only the evidence
 *     names (ak-public) is any key at all.  Its PCRs otherwise vouch for nothing, and the checks
 *     that compare them (policy "pcrs", the event log) fail.
 *
 * The expected nonce is the policy's "nonce" (a verifier that issued it), else the evidence's own
 * (collect then verify in one process, as unlock does).
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "encoding.h"
#include "evidence.h"
#include "json-util.h"
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

static int check_eventlog(const struct evidence *e, bool pcrs_vouched, struct attest_verdict *v) {
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
        /* Agreeing with PCR values that nothing vouches for proves nothing. */
        if (!pcrs_vouched)
                return attest_fail(v, "event-log", "no quote by a key that a hardware report vouches for covers "
                                   "the PCR values the log is compared with");
        return attest_claim(v, "event-log-events", json_object_new_int64((int64_t) log.n_events));
}

static int check_policy_pcrs(const struct evidence *e, const struct attest_policy *p, bool pcrs_vouched,
                             struct attest_verdict *v) {
        int r = 0;

        if (!p->pcrs_sha256)
                return 0;
        if (!pcrs_vouched)
                return attest_fail(v, "pcrs", "the policy has PCR reference values and no quote by a key that a "
                                   "hardware report vouches for covers the evidence's PCR values");
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

/* REPORT_DATA as a bare report carries the nonce: the nonce, zero-padded to 64 bytes. */
static bool report_data_is(const uint8_t report_data[64], const struct blob *nonce) {
        uint8_t want[64] = {};

        memcpy(want, nonce->data, nonce->size);
        return memcmp(report_data, want, sizeof(want)) == 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != 0)
                        return false;
        return true;
}

/* The quote, by HCLAkPub only.  *ret_fresh: it is signed by HCLAkPub over the nonce; *ret_vouched:
 * and its PCR digest is that of the evidence's PCR values. */
static int check_quote(const struct evidence *e, EVP_PKEY *hcl_ak, const struct blob *nonce,
                       struct attest_verdict *v, bool *ret_fresh, bool *ret_vouched) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        struct tpm_quote_result q = {};
        const char *why = NULL;
        int r;

        *ret_fresh = *ret_vouched = false;

        /* Parse what there is first: malformed evidence is 10, whoever signed it. */
        if (e->quote_ak.data) {
                r = tpm_public_to_pkey(e->quote_ak.data, e->quote_ak.size, &ak);
                if (r < 0)
                        return r;
        }
        r = tpm_quote_check(e->quote_message.data, e->quote_message.size, e->quote_signature.data,
                            e->quote_signature.size, NULL, NULL, 0, e->pcrs_sha256, v, NULL);
        if (r < 0)
                return r;

        if (!e->hcl_report.data)
                why = "there is no HCL report";
        else if (!hcl_ak)
                why = "the HCL report's runtime claims name no HCLAkPub";
        else if (ak && EVP_PKEY_eq(ak, hcl_ak) != 1)
                why = "its ak-public is not the HCL report's HCLAkPub";
        if (why)
                /* Not even the signature is checked: a key that nothing vouches for proves nothing,
                 * whatever it signed. */
                return attest_fail(v, "tpm-quote-ak", "the quote's key is not vouched for by a hardware report (%s)",
                                   why);

        if (!nonce->data)
                return attest_fail(v, "tpm-quote-nonce", "no nonce to check the quote's freshness against");

        r = tpm_quote_check(e->quote_message.data, e->quote_message.size, e->quote_signature.data,
                            e->quote_signature.size, hcl_ak, nonce->data, nonce->size, e->pcrs_sha256, v, &q);
        if (r < 0)
                return r;
        *ret_fresh = q.signature && q.nonce;
        *ret_vouched = q.signature && q.nonce && q.pcrs;
        return 0;
}

/* Every hardware report answers the nonce (see the top of this file). */
static int check_freshness(const struct evidence *e, const struct blob *nonce, const struct hcl_claims *hcl,
                           const uint8_t *snp_report_data, const uint8_t *tdx_report_data, bool quote_fresh,
                           struct attest_verdict *v) {
        int r;

        if (!e->hcl_report.data && !snp_report_data && !tdx_report_data)
                return 0;
        if (!nonce->data)
                return attest_fail(v, "freshness", "no nonce to check the hardware report's freshness against");
        /* Reports that nobody asked for carry zeros where the nonce goes. */
        if (all_zero(nonce->data, nonce->size))
                return attest_fail(v, "freshness", "the nonce is all zeros, which proves no freshness");

        if (e->hcl_report.data) {
                /* The HCL's SNP report or TDREPORT (a separate snp-report or TD quote must be the
                 * same, hcl-snp and hcl-tdx-quote say): bound to the runtime claims, so fresh when
                 * the claims carry the nonce or the key they name quoted it. */
                if (hcl->has_user_data && report_data_is(hcl->user_data, nonce))
                        return 0;
                if (quote_fresh)
                        return 0;
                return attest_fail(v, "freshness", "the HCL report is not fresh: its runtime claims' user-data is "
                                   "not the nonce, and no quote by its HCLAkPub answers the nonce");
        }

        if (snp_report_data && !report_data_is(snp_report_data, nonce)) {
                r = attest_fail(v, "freshness", "the SNP report's REPORT_DATA is not the nonce");
                if (r < 0)
                        return r;
        }
        if (tdx_report_data && !report_data_is(tdx_report_data, nonce)) {
                r = attest_fail(v, "freshness", "the TDX quote's REPORT_DATA is not the nonce");
                if (r < 0)
                        return r;
        }
        return 0;
}

int attest_verify(const struct evidence *e, const struct attest_policy *p, OSSL_LIB_CTX *libctx,
                  struct attest_verdict *ret) {
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};
        _cleanup_(hcl_claims_done) struct hcl_claims claims = {};
        struct attest_trust trust = { .libctx = libctx, .extra_roots = p->roots, .time = p->time };
        struct hcl_report hcl = {};
        struct snp_report report;
        struct tdx_quote quote;
        const uint8_t *snp_raw = NULL, *tdreport_data = NULL, *snp_rd = NULL, *tdx_rd = NULL;
        size_t snp_size = 0;
        const struct blob *nonce = p->nonce.data ? &p->nonce : &e->nonce;
        bool hcl_snp = false, hcl_tdx = false, quote_fresh = false, pcrs_vouched = false;
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
                r = hcl_verify(&hcl, rd, &v, &claims);
                if (r < 0)
                        return r;
                r = attest_claim(&v, "azure-hcl-report-type", json_object_new_string(hcl_snp ? "snp" : "tdx"));
                if (r < 0)
                        return r;
        }

        if (snp_raw) {
                r = snp_report_parse(snp_raw, snp_size, &report);
                if (r < 0)
                        return r;
                r = snp_verify(&report, e->certificates, p->snp, &trust, &v);
                if (r < 0)
                        return r;
                snp_rd = report.report_data;
        } else if (p->snp) {
                r = attest_fail(&v, "snp", "the policy has SNP requirements and the evidence no SNP report");
                if (r < 0)
                        return r;
        }

        if (e->tdx_quote.data) {
                r = tdx_quote_parse(e->tdx_quote.data, e->tdx_quote.size, &quote);
                if (r < 0)
                        return r;
                r = tdx_verify(&quote, p->tdx, &trust, &v);
                if (r < 0)
                        return r;
                tdx_rd = quote.report_data;
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
        /* An HCL report whose hardware report is a TDREPORT: nothing signs a TDREPORT but the TD quote
         * that carries its REPORT_DATA.  Without one, the runtime claims (and the HCLAkPub they name)
         * are whatever whoever made the report wrote: nothing hardware vouches for. */
        if (hcl_tdx && !e->tdx_quote.data) {
                r = attest_fail(&v, "hcl-tdx", "the HCL report's TDREPORT is vouched for by no TD quote");
                if (r < 0)
                        return r;
        }

        if (e->has_quote) {
                r = check_quote(e, claims.ak, nonce, &v, &quote_fresh, &pcrs_vouched);
                if (r < 0)
                        return r;
        }

        r = check_freshness(e, nonce, &claims, snp_rd, tdx_rd, quote_fresh, &v);
        if (r < 0)
                return r;

        if (e->event_log.data) {
                r = check_eventlog(e, pcrs_vouched, &v);
                if (r < 0)
                        return r;
        }

        r = check_policy_pcrs(e, p, pcrs_vouched, &v);
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

_public_ int cvmseal_attest_verify(json_object *evidence, json_object *policy, json_object **ret_result) {
        _cleanup_(evidence_done) struct evidence e = {};
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        r = evidence_from_json(evidence, &e);
        if (r < 0)
                return r;
        r = attest_policy_from_json(policy, &p);
        if (r < 0)
                return r;
        r = attest_verify(&e, &p, NULL, &v);
        if (r < 0)
                return r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "verdict", json_object_new_string(attest_verdict_pass(&v) ? "pass" : "fail"));
        if (r >= 0)
                r = json_add(o, "failures", TAKE_PTR(v.failures));
        if (r >= 0)
                r = json_add(o, "claims", TAKE_PTR(v.claims));
        if (r < 0)
                return r;
        *ret_result = TAKE_PTR(o);
        return 0;
}
