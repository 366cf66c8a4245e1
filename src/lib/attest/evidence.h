/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The evidence and policy documents of DESIGN ("Evidence and policy documents"): a contract between
 * pipelines, remote verifiers and cvmseal.  docs/attestation-policy.md documents every member. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/x509.h>

#include "attest.h"

struct blob {
        uint8_t *data;
        size_t size;
};

struct evidence {
        int version;
        struct blob nonce;
        struct blob hcl_report;     /* azure-hcl-report */
        struct blob snp_report;
        struct blob tdx_quote;
        STACK_OF(X509) *certificates;
        bool has_quote;
        struct blob quote_message;  /* TPMS_ATTEST */
        struct blob quote_signature;/* TPMT_SIGNATURE */
        struct blob quote_ak;       /* TPM2B_PUBLIC, may be empty */
        json_object *pcrs_sha256;   /* {"0": "<hex>", ...}, or NULL */
        struct blob event_log;
};

void evidence_done(struct evidence *e);
/* Strict: -EBADMSG (with a debug message naming the member) on anything malformed. */
int evidence_from_json(json_object *j, struct evidence *ret);
int evidence_to_json(const struct evidence *e, json_object **ret);

enum {
        REQUIRE_SNP = 1 << 0,
        REQUIRE_TDX = 1 << 1,
        REQUIRE_AZURE_HCL = 1 << 2,
        REQUIRE_TPM_QUOTE = 1 << 3,
        REQUIRE_EVENT_LOG = 1 << 4,
};

struct attest_policy {
        int version;
        unsigned require;
        json_object *snp;           /* the "snp" member, or NULL */
        json_object *tdx;           /* the "tdx" member, or NULL */
        json_object *pcrs_sha256;   /* reference PCR values, or NULL */
        struct blob nonce;          /* the expected nonce (offline verification), or empty */
        STACK_OF(X509) *roots;      /* extra trusted roots (tests), or NULL */
        time_t time;                /* verify certificates at this time; 0: now */
};

void attest_policy_done(struct attest_policy *p);
int attest_policy_from_json(json_object *j, struct attest_policy *ret);

/* A policy from the disk (a token's, a provisioning marker's) may not carry the test-only members
 * "roots" and "time": it would choose which keys are trusted and when.  -EBADMSG (with a debug
 * message) when it does; `attest verify --policy FILE`, the operator's own file, honours them. */
int attest_policy_check_from_disk(const struct attest_policy *p);

/* The extra trusted roots of local configuration: every certificate of the files NAME.pem in $(config_dir())/roots
 * (config.h), for the unlock gate of a test platform.  *ret NULL when there is none; -EINVAL when a
 * file there holds no certificate. */
int attest_local_roots(STACK_OF(X509) **ret);

/* Verifies evidence against a policy.  0 with the verdict filled (pass or fail), or -EBADMSG when
 * the evidence is malformed. */
int attest_verify(const struct evidence *e, const struct attest_policy *p, OSSL_LIB_CTX *libctx,
                  struct attest_verdict *ret);

/* ---- collection ---- */

struct tpm2_context;

enum attest_quote {
        ATTEST_QUOTE_ALL,             /* the 24 sha256 PCRs (`attest collect`, for remote verifiers) */
        ATTEST_QUOTE_NONE,            /* no quote */
        ATTEST_QUOTE_MASK,            /* the PCRs of quote_mask (possibly none: a quote of no PCR),
                                       * and with quote_log_pcrs those the event log extends */
};

struct attest_collect_params {
        struct tpm2_context *tpm;     /* NULL: no vTPM sources */
        const uint8_t *nonce;         /* at most 64 bytes */
        size_t nonce_size;
        const char *tsm_dir;          /* NULL: /sys/kernel/config/tsm/report; "" to skip */
        const char *event_log;        /* NULL: securityfs's binary_bios_measurements; "" to skip */
        const char *cert_cache;       /* a directory of PEM certificates, or NULL */
        enum attest_quote quote;
        uint32_t quote_mask;
        bool quote_log_pcrs;
};

/* Collects what this machine offers: the Azure vTPM's HCL report (after writing the nonce to the
 * user-data index), a TPM quote with the nonce by the AK at 0x81000003 (of the PCRs p->quote says),
 * a configfs-tsm report, the event log, cached certificates.  Sources that are absent are skipped;
 * one that is present and fails is an error. */
int attest_collect(const struct attest_collect_params *p, struct evidence *ret);

/* What p needs of the TPM, for the unlock gate: *ret_quote ATTEST_QUOTE_MASK when it requires
 * "tpm-quote" or "event-log" or has "pcrs" (*ret_mask: the PCRs of "pcrs"; *ret_log_pcrs: those the
 * event log extends, when it requires "event-log"), else ATTEST_QUOTE_NONE. */
void attest_policy_quote(const struct attest_policy *p, enum attest_quote *ret_quote, uint32_t *ret_mask,
                         bool *ret_log_pcrs);
