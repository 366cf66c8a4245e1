/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Attestation: parsing and verifying the evidence of a confidential VM (DESIGN, "Attestation").
 *
 * Every verifier follows the same contract:
 *   - input it cannot parse (truncated, wrong magic or version, bad lengths) is -EBADMSG, with a
 *     debug message: the evidence is malformed (exit 10);
 *   - a check that fails is recorded in the verdict with attest_fail(), and verification goes on,
 *     so that one verdict names every failed check (exit 4 when there is any);
 *   - what the evidence proves is recorded as claims (attest_claim_*), which `attest verify --json`
 *     prints;
 *   - OpenSSL 3 does every cryptographic operation (in the library context of the trust argument),
 *     libtss2-mu unmarshals every TPM structure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---- verdicts ---- */

struct attest_verdict {
        json_object *claims;    /* object: "platform", "measurement", "report-data", "tcb", ... */
        json_object *failures;  /* array of strings "check: why" */
};

int attest_verdict_init(struct attest_verdict *v);
void attest_verdict_done(struct attest_verdict *v);
bool attest_verdict_pass(const struct attest_verdict *v);

/* Records a failed check ("snp-signature", "tdx-mrtd"...) and why.  Returns 0 (or -ENOMEM). */
int attest_fail(struct attest_verdict *v, const char *check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets a claim (the JSON value is taken over). */
int attest_claim(struct attest_verdict *v, const char *key, json_object *value);
int attest_claim_hex(struct attest_verdict *v, const char *key, const uint8_t *p, size_t n);

/* ---- trust ---- */

/* The anchors: compiled-in fingerprints (SHA-256 of the SubjectPublicKeyInfo DER) of the AMD ARKs
 * (Milan, Genoa, Turin) and the Intel SGX root CA, plus the policy's extra "roots" (tests only,
 * trusted for either kind).
 * Certificates come with the evidence; a chain is accepted only when its root is one of these. */
struct attest_trust {
        OSSL_LIB_CTX *libctx;          /* NULL: the default context */
        STACK_OF(X509) *extra_roots;   /* from the policy's "roots", or NULL */
        time_t time;                   /* verify certificates at this time; 0: now */
};

enum attest_root_kind {
        ATTEST_ROOT_AMD_ARK,
        ATTEST_ROOT_INTEL_SGX,
};

/* Is cert a trusted root of that kind (a pinned fingerprint, or one of trust->extra_roots)? */
bool attest_root_trusted(const struct attest_trust *trust, enum attest_root_kind kind, X509 *cert);
/* The same, telling an allocation failure apart: 1 trusted, 0 not, -ENOMEM. */
int attest_root_check(const struct attest_trust *trust, enum attest_root_kind kind, X509 *cert);

/* Verifies that leaf chains to a trusted root of kind through intermediates (in any order), at the
 * trust's time.  Returns 0 and records nothing when it does; records a failure under check and
 * returns 0 when it does not. */
int attest_verify_chain(const struct attest_trust *trust, enum attest_root_kind kind, X509 *leaf,
                        STACK_OF(X509) *intermediates, struct attest_verdict *v, const char *check);

/* ---- SEV-SNP ---- */

#define SNP_REPORT_SIZE 1184U
#define SNP_SIGNED_SIZE 0x2A0U

struct snp_report {
        uint32_t version;          /* 2 to 5 */
        uint32_t guest_svn;
        uint64_t policy;
        uint32_t vmpl;
        uint32_t signature_algo;   /* 1: ECDSA P-384 with SHA-384 */
        uint64_t current_tcb;
        uint64_t platform_info;
        uint32_t signing_key;      /* 0: VCEK, 1: VLEK (bits 2-4 of the flags word at 0x48) */
        uint8_t report_data[64];
        uint8_t measurement[48];
        uint8_t host_data[32];
        uint8_t id_key_digest[48];
        uint8_t author_key_digest[48];
        uint8_t report_id[32];
        uint64_t reported_tcb;
        uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step;  /* version >= 3 */
        uint8_t chip_id[64];
        uint64_t committed_tcb;
        uint8_t signature_r[72], signature_s[72];        /* little-endian */
        const uint8_t *raw;        /* the SNP_REPORT_SIZE bytes parsed (not owned) */
};

int snp_report_parse(const uint8_t *buf, size_t size, struct snp_report *ret);

/* Policy members of "snp": measurements, allow-debug, vmpl, min-tcb, host-data (see
 * docs/attestation-policy.md); a NULL policy still refuses debug.  certs: the VCEK or VLEK, and the
 * ASK/ASVK and ARK if the evidence carries them.  Checks: snp-signature, snp-chain, snp-vcek-tcb,
 * snp-vcek-chip-id, snp-debug, snp-vmpl, snp-measurement, snp-tcb, snp-host-data.  Records claims:
 * platform, version, measurement, report-data, host-data, tcb, debug, vmpl, chip-id, signing-key. */
int snp_verify(const struct snp_report *r, STACK_OF(X509) *certs, json_object *policy,
               const struct attest_trust *trust, struct attest_verdict *v);

/* ---- TDX ---- */

struct tdx_quote {
        uint16_t version;          /* 4 or 5 */
        uint16_t att_key_type;     /* 2: ECDSA P-256 */
        uint32_t tee_type;         /* 0x81 */
        const uint8_t *header;     /* 48 bytes */
        const uint8_t *body;       /* the TD report body (584 bytes for v4) */
        size_t body_size;
        uint8_t tee_tcb_svn[16];
        uint8_t mrseam[48];
        uint8_t td_attributes[8];
        uint8_t xfam[8];
        uint8_t mrtd[48];
        uint8_t mrconfigid[48], mrowner[48], mrownerconfig[48];
        uint8_t rtmr[4][48];
        uint8_t report_data[64];
        uint8_t signature[64];     /* r || s, big-endian */
        uint8_t attestation_key[64];
        const uint8_t *qe_report;  /* 384 bytes */
        uint8_t qe_report_signature[64];
        const uint8_t *qe_auth_data;
        size_t qe_auth_data_size;
        const uint8_t *cert_data;  /* PCK chain, PEM (certification data type 5) */
        size_t cert_data_size;
        const uint8_t *raw;
        size_t raw_size;
};

int tdx_quote_parse(const uint8_t *buf, size_t size, struct tdx_quote *ret);

/* Policy members of "tdx": mrtd, allow-debug, rtmrs.  Records claims: platform, measurement (MRTD),
 * report-data, rtmrs, debug, tcb. */
int tdx_verify(const struct tdx_quote *q, json_object *policy, const struct attest_trust *trust,
               struct attest_verdict *v);

/* ---- Azure HCL report (vTPM NV 0x01400001) ---- */

struct hcl_report {
        uint32_t version;
        uint32_t report_type;       /* 2: SNP, 4: TDX */
        const uint8_t *hw_report;   /* 1184 bytes at 0x20 (SNP report, or TDREPORT) */
        uint32_t hash_type;         /* 1: SHA-256 */
        const uint8_t *claims;      /* the runtime-claims JSON bytes, exactly as stored */
        size_t claims_size;
};

int hcl_report_parse(const uint8_t *buf, size_t size, struct hcl_report *ret);

/* The largest report_size an HCL report may claim (Azure's NV index holds 2600 bytes). */
#define HCL_REPORT_MAX 16384U
/* The report's own length (report_size, from the "HCLA" magic to the end of the runtime claims) from
 * its first 32 bytes, so that a reader needs no NV_ReadPublic of the index.  -EBADMSG when those
 * bytes are not an HCL header, or the size is not an HCL report's (0x4D4 to HCL_REPORT_MAX). */
int hcl_report_size(const uint8_t *buf, size_t size, size_t *ret);

/* The report data the runtime claims are bound to, inside h->hw_report (64 bytes): the SNP report's
 * REPORT_DATA for report_type 2, the TDREPORT's report data (offset 128) for report_type 4. */
int hcl_hw_report_data(const struct hcl_report *h, const uint8_t **ret);

/* What the runtime claims say, for the checks that follow the binding. */
struct hcl_claims {
        EVP_PKEY *ak;               /* HCLAkPub, or NULL when the claims name none */
        bool bound;                 /* SHA-256(claims) is the hardware report's report data */
        bool has_user_data;         /* "user-data" is 64 bytes of hex: what was last written to the
                                     * user-data index 0x01400002 */
        uint8_t user_data[64];
};
void hcl_claims_done(struct hcl_claims *c);

/* The binding: SHA-256(claims) == REPORT_DATA[0:32] of the hardware report (for TDX: the TDREPORT's
 * report data, and the TD quote carries the same), REPORT_DATA[32:64] zero.  Checks: hcl-binding,
 * hcl-ak (no HCLAkPub).  Claims: azure-vm-configuration, azure-user-data (only when bound).  *ret
 * is filled even when the binding fails (the verdict says so). */
int hcl_verify(const struct hcl_report *h, const uint8_t report_data[64], struct attest_verdict *v,
               struct hcl_claims *ret);
/* The same; ret_ak (optional): HCLAkPub from the claims. */
int hcl_verify_binding(const struct hcl_report *h, const uint8_t report_data[64], struct attest_verdict *v,
                       EVP_PKEY **ret_ak);
/* HCLAkPub from the claims, verifying nothing (*ret NULL when they name none): does the report name
 * the key that will quote?  -EBADMSG when the claims are malformed. */
int hcl_report_ak(const struct hcl_report *h, EVP_PKEY **ret);

/* ---- TPM2 quote ---- */

/* What a quote proved: each is true only when its check passed. */
struct tpm_quote_result {
        bool signature;   /* signed by the AK given */
        bool nonce;       /* extraData is the nonce */
        bool pcrs;        /* the PCR digest is that of the PCR values given */
};

/* Verifies a TPMS_ATTEST (message) and its TPMT_SIGNATURE by ak: the signature (RSASSA or ECDSA),
 * extraData == nonce, and the PCR digest over the sha256 pcrs given ({"0": "<hex>", ...}; NULL when
 * the quote selects no PCR; a selected PCR without a value is -EBADMSG).  Records claims: pcrs (the values the
 * quote covers), tpm-quote-clock.  ak NULL: parse only (-EBADMSG when malformed), check and record
 * nothing; *ret all false.  ret (optional): what the quote proved. */
int tpm_quote_check(const uint8_t *message, size_t message_size, const uint8_t *signature, size_t signature_size,
                    EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_size, json_object *pcrs,
                    struct attest_verdict *v, struct tpm_quote_result *ret);
/* tpm_quote_check() with an AK, without the result. */
int tpm_quote_verify(const uint8_t *message, size_t message_size, const uint8_t *signature, size_t signature_size,
                     EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_size, json_object *pcrs,
                     struct attest_verdict *v);

/* An AK from a marshalled TPM2B_PUBLIC (RSA or ECC; a restricted signing key). */
int tpm_public_to_pkey(const uint8_t *buf, size_t size, EVP_PKEY **ret);

/* A TPM2_Certify of an object (the SRK) by ak: the TPMS_ATTEST is of type CERTIFY, signed by ak,
 * answers nonce and certifies the object of name.  0; -EBADE when a check fails; -EBADMSG when the
 * message or signature is malformed. */
int tpm_certify_check(const uint8_t *message, size_t message_size, const uint8_t *signature, size_t signature_size,
                      EVP_PKEY *ak, const uint8_t *nonce, size_t nonce_size, const uint8_t *name, size_t name_size);

/* ---- TCG event log ---- */

#define EVENTLOG_PCRS 24U

struct eventlog_bank {
        uint16_t alg;             /* TPM2_ALG_SHA1, SHA256, SHA384, SHA512 */
        uint16_t digest_size;
        uint8_t pcrs[EVENTLOG_PCRS][64];
};

struct eventlog {
        size_t n_events;
        uint32_t extended;        /* bit n: the log extends PCR n (the others it does not describe) */
        uint8_t startup_locality; /* from the StartupLocality event (0 when absent) */
        size_t n_banks;
        struct eventlog_bank banks[4];   /* the replayed PCR values per bank */
};

/* Parses a crypto-agile log (binary_bios_measurements) and replays it into ret->banks. */
int eventlog_replay(const uint8_t *buf, size_t size, struct eventlog *ret);
