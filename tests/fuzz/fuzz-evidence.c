/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The evidence document: evidence_from_json(), and for evidence that parses, attest_verify() against
 * a fixed permissive policy (every kind of evidence it carries is parsed and checked: the HCL report
 * and its binding, the SNP report with its certificates and chain, the TDX quote, the TPM quote with
 * ak-public or HCLAkPub, the event log against the PCRs), then evidence_to_json() and a second parse.
 *
 * Input: the evidence's JSON text, as `attest collect` writes it.
 */
#include "evidence.h"
#include "fuzz.h"
#include "macro.h"

/* Checks nothing beyond what the evidence itself carries; certificates are checked at a fixed time
 * so that a run does not depend on the day. */
static const char policy_json[] =
        "{\"version\":1,\"require\":[\"snp\"],"
        "\"snp\":{\"allow-debug\":true},\"tdx\":{\"allow-debug\":true},"
        "\"time\":\"2025-06-01T00:00:00Z\"}";

static struct attest_policy policy;

static void setup(void) {
        static bool done;
        json_object *j;

        if (done)
                return;
        done = true;
        j = json_tokener_parse(policy_json);
        FUZZ_ASSERT(j);
        FUZZ_ASSERT(attest_policy_from_json(j, &policy) == 0);
        json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL, *out = NULL;
        _cleanup_(evidence_done) struct evidence e = {}, again = {};
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};

        fuzz_setup_log();
        setup();
        if (size > 1024 * 1024)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;
        j = json_tokener_parse(s);
        if (!j)
                return 0;
        if (evidence_from_json(j, &e) < 0)
                goto done;

        (void) attest_verify(&e, &policy, NULL, &v);

        /* What parsed serializes to evidence that parses again. */
        if (evidence_to_json(&e, &out) < 0)
                goto done;
        if (evidence_from_json(out, &again) < 0 || again.has_quote != e.has_quote ||
            again.snp_report.size != e.snp_report.size || again.event_log.size != e.event_log.size) {
                fprintf(stderr, "parsed evidence does not round-trip through evidence_to_json()\n");
                abort();
        }
done:
        ERR_clear_error();
        return 0;
}
