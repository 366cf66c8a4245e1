/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The attestation gate of a token: fresh evidence, collected with a new nonce, verified against the
 * token's policy (its exact bytes) before anything is unsealed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "attest.h"
#include "evidence.h"
#include "gate.h"
#include "json-util.h"
#include "kdf.h"
#include "log.h"
#include "macro.h"

/* Parses an attestation policy (text) strictly and gives the digest of its exact bytes. */
int attest_policy_check(const char *text, uint8_t ret_digest[32]) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        enum json_tokener_error e;
        unsigned n;
        int r;

        j = json_tokener_parse_verbose(text, &e);
        if (!j)
                return log_debug_errno(-EBADMSG, "The attestation policy is not JSON (%s)", json_tokener_error_desc(e));
        r = attest_policy_from_json(j, &p);
        if (r < 0)
                return r;
        /* It goes into a token (or comes from one): no test-only members.  "time" by its presence:
         * the epoch reads as time 0, which attest_policy_check_from_disk() takes for no time. */
        r = attest_policy_check_from_disk(&p);
        if (r >= 0 && json_object_object_get_ex(j, "time", NULL))
                r = log_debug_errno(-EBADMSG, "policy: \"time\" is for `attest verify --policy` only");
        if (r < 0)
                return r;
        if (EVP_Digest(text, strlen(text), ret_digest, &n, EVP_sha256(), NULL) != 1)
                return -EIO;
        return 0;
}

/* The failures joined by "; ", built in a memory stream; NULL when out of memory. */
static char *failures_to_string(json_object *failures) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        bool failed;
        FILE *f;

        f = open_memstream(&s, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < json_object_array_length(failures); i++)
                fprintf(f, "%s%s", i > 0 ? "; " : "", json_object_get_string(json_object_array_get_idx(failures, i)));
        failed = ferror(f);
        if (fclose(f) != 0 || failed)
                return NULL;
        return TAKE_PTR(s);
}

/* The attestation gate: fresh evidence with a new nonce, verified against the token's policy. */
int attest_gate(tpm2_context *tpm, const uint8_t *policy_text, size_t policy_size, char **ret_failures,
                uint8_t ret_digest[32], EVP_PKEY **ret_ak) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(attest_policy_done) struct attest_policy policy = {};
        _cleanup_(evidence_done) struct evidence evidence = {};
        _cleanup_(attest_verdict_done) struct attest_verdict verdict = {};
        _cleanup_free_ char *text = NULL;
        enum attest_quote quote;
        uint32_t quote_mask;
        bool quote_log_pcrs;
        uint8_t nonce[32];
        int r;

        text = strndup((const char *) policy_text, policy_size);
        if (!text)
                return -ENOMEM;
        r = attest_policy_check(text, ret_digest);
        if (r < 0)
                return log_debug_errno(r, "The token's attestation policy is malformed");
        j = json_tokener_parse(text);
        r = j ? attest_policy_from_json(j, &policy) : -EBADMSG;
        if (r < 0)
                return r;
        /* The token comes from the disk: attest_policy_check() refused "roots" and "time" in it.
         * Extra roots come from local configuration only, and certificates are verified now. */
        r = attest_local_roots(&policy.roots);
        if (r < 0)
                return log_debug_errno(r, "Cannot read the extra trusted roots of the local configuration");
        policy.time = 0;

        r = kdf_random(nonce, sizeof(nonce));
        if (r < 0)
                return r;
        /* Only what the policy needs of the TPM (every command is a trip through the hypervisor):
         * a quote when it requires one, of its PCRs; the event log when it requires it. */
        attest_policy_quote(&policy, &quote, &quote_mask, &quote_log_pcrs);
        r = attest_collect(&(struct attest_collect_params) {
                                   .tpm = tpm,
                                   .nonce = nonce,
                                   .nonce_size = sizeof(nonce),
                                   .tsm_dir = secure_getenv("CVMSEAL_TSM_DIR"),
                                   .event_log = policy.require & REQUIRE_EVENT_LOG ? secure_getenv("CVMSEAL_EVENT_LOG") : "",
                                   .cert_cache = secure_getenv("CVMSEAL_CERT_CACHE") ?: "/etc/cvmseal/certs",
                                   .quote = quote,
                                   .quote_mask = quote_mask,
                                   .quote_log_pcrs = quote_log_pcrs,
                           },
                           &evidence);
        if (r < 0)
                return log_debug_errno(r, "Cannot collect attestation evidence");

        /* The nonce this unlock made is the one the evidence must answer. */
        free(policy.nonce.data);
        policy.nonce.data = malloc(sizeof(nonce));
        if (!policy.nonce.data)
                return -ENOMEM;
        memcpy(policy.nonce.data, nonce, sizeof(nonce));
        policy.nonce.size = sizeof(nonce);

        r = attest_verify(&evidence, &policy, NULL, &verdict);
        if (r == -EBADMSG)
                /* The platform's evidence, not the token, is malformed. */
                return log_debug_errno(-EPROTO, "The collected evidence is malformed");
        if (r < 0)
                return r;
        if (!attest_verdict_pass(&verdict)) {
                if (ret_failures) {
                        free(*ret_failures);
                        *ret_failures = failures_to_string(verdict.failures);
                }
                return log_debug_ret(-EBADE, "Attestation failed: %s",
                                     json_object_to_json_string_ext(verdict.failures, JSON_C_TO_STRING_PLAIN));
        }
        log_debug("Attestation passed");
        /* The AK that the passed verdict's hardware report vouches for (its HCL report's HCLAkPub): the
         * verdict failed had the report's binding or its hardware signature not held. */
        if (ret_ak) {
                struct hcl_report hcl = {};

                *ret_ak = NULL;
                if (evidence.hcl_report.data && hcl_report_parse(evidence.hcl_report.data, evidence.hcl_report.size, &hcl) >= 0)
                        (void) hcl_report_ak(&hcl, ret_ak);
        }
        return 0;
}
