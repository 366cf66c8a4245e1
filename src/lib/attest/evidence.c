/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The evidence and policy documents.  Both come from outside (a pipeline, a remote verifier, a
 * disk), so both are parsed strictly: every member with its type, nothing unknown, version 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "encoding.h"
#include "evidence.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

static void blob_done(struct blob *b) {
        free(b->data);
        b->data = NULL;
        b->size = 0;
}

static const struct json_doc doc_evidence = { "evidence", "" }, doc_quote = { "evidence", "tpm-quote." },
                             doc_policy = { "policy", "" };

/* An optional string member decoded as hex or base64 into b, 1 to max bytes; absent leaves b empty. */
static int get_blob(const struct json_doc *d, json_object *o, const char *key, bool hex, size_t max, struct blob *b) {
        return json_get_blob(d, o, key, JSON_BLOB_OPTIONAL | (hex ? JSON_BLOB_HEX : 0), 1, max, &b->data, &b->size);
}

/* A document's frame: a JSON object of version 1 with no member outside known. */
static int open_doc(json_object *j, const struct json_doc *doc, const char *const *known) {
        json_object *v;

        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "%s: not a JSON object", doc->name);
        if (!json_object_object_get_ex(j, "version", &v) || !json_object_is_type(v, json_type_int))
                return json_bad(doc, "version", "is missing or not a number");
        if (json_object_get_int64(v) != 1)
                return log_debug_errno(-EBADMSG, "%s: version %" PRId64 " is not supported", doc->name,
                                       json_object_get_int64(v));
        return json_only_members(doc, j, known);
}

/* {"0": "<64 hex>", ...}: PCR numbers 0-23, sha256 values.  Takes a reference on success. */
static int get_pcrs(json_object *o, const struct json_doc *doc, json_object **ret) {
        json_object *pcrs, *sha256;
        int r;

        if (!json_object_object_get_ex(o, "pcrs", &pcrs)) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(pcrs, json_type_object))
                return json_bad(doc, "pcrs", "is not an object");
        json_object_object_foreach(pcrs, bank, val) {
                (void) val;
                if (!streq_ptr(bank, "sha256"))
                        return json_bad(doc, "pcrs", "has a bank other than sha256");
        }
        if (!json_object_object_get_ex(pcrs, "sha256", &sha256) || !json_object_is_type(sha256, json_type_object))
                return json_bad(doc, "pcrs", "has no sha256 object");
        json_object_object_foreach(sha256, index, value) {
                char *end;
                long n = strtol(index, &end, 10);
                _cleanup_free_ uint8_t *d = NULL;
                size_t size;

                /* The canonical decimal only: strtol() would also take "+7", " 7" and "-0". */
                if (index[0] < '0' || index[0] > '9' || *end || n > 23 || (index[0] == '0' && index[1]))
                        return json_bad(doc, "pcrs", "has a PCR number out of 0-23");
                if (!json_object_is_type(value, json_type_string))
                        return json_bad(doc, "pcrs", "has a value that is not a string");
                r = hex_decode(json_object_get_string(value), &d, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || size != 32)
                        return json_bad(doc, "pcrs", "has a value that is not 32 bytes of hex");
        }
        *ret = json_object_get(sha256);
        return 0;
}

static int get_certs(json_object *o, STACK_OF(X509) **ret) {
        json_object *a;
        STACK_OF(X509) *certs;

        *ret = NULL;
        if (!json_object_object_get_ex(o, "certificates", &a))
                return 0;
        if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > 16)
                return json_bad(&doc_evidence, "certificates", "is not an array of at most 16 PEM strings");
        certs = sk_X509_new_null();
        if (!certs)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *s = json_object_array_get_idx(a, i);
                BIO *bio;
                X509 *x;

                if (!json_object_is_type(s, json_type_string)) {
                        sk_X509_pop_free(certs, X509_free);
                        return json_bad(&doc_evidence, "certificates", "has an entry that is not a string");
                }
                bio = BIO_new_mem_buf(json_object_get_string(s), json_object_get_string_len(s));
                if (!bio) {
                        sk_X509_pop_free(certs, X509_free);
                        return -ENOMEM;
                }
                x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                BIO_free(bio);
                if (!x || sk_X509_push(certs, x) <= 0) {
                        X509_free(x);
                        sk_X509_pop_free(certs, X509_free);
                        return json_bad(&doc_evidence, "certificates", "has an entry that is not a PEM certificate");
                }
        }
        *ret = certs;
        return 0;
}

void evidence_done(struct evidence *e) {
        blob_done(&e->nonce);
        blob_done(&e->hcl_report);
        blob_done(&e->snp_report);
        blob_done(&e->tdx_quote);
        blob_done(&e->quote_message);
        blob_done(&e->quote_signature);
        blob_done(&e->quote_ak);
        blob_done(&e->event_log);
        sk_X509_pop_free(e->certificates, X509_free);
        json_object_put(e->pcrs_sha256);
        memset(e, 0, sizeof(*e));
}

#define EVIDENCE_BLOB_MAX (1U << 20)  /* an event log of a megabyte is already generous */

int evidence_from_json(json_object *j, struct evidence *ret) {
        static const char *const known[] = { "version", "nonce", "azure-hcl-report", "snp-report", "tdx-quote",
                                             "certificates", "tpm-quote", "pcrs", "event-log", NULL };
        _cleanup_(evidence_done) struct evidence e = {};
        json_object *q;
        int r;

        r = open_doc(j, &doc_evidence, known);
        if (r < 0)
                return r;
        e.version = 1;

        r = get_blob(&doc_evidence, j, "nonce", true, 64, &e.nonce);
        if (r >= 0)
                r = get_blob(&doc_evidence, j, "azure-hcl-report", false, 16384, &e.hcl_report);
        if (r >= 0)
                r = get_blob(&doc_evidence, j, "snp-report", false, 16384, &e.snp_report);
        if (r >= 0)
                r = get_blob(&doc_evidence, j, "tdx-quote", false, 65536, &e.tdx_quote);
        if (r >= 0)
                r = get_blob(&doc_evidence, j, "event-log", false, EVIDENCE_BLOB_MAX, &e.event_log);
        if (r >= 0)
                r = get_certs(j, &e.certificates);
        if (r >= 0)
                r = get_pcrs(j, &doc_evidence, &e.pcrs_sha256);
        if (r < 0)
                return r;

        if (json_object_object_get_ex(j, "tpm-quote", &q)) {
                static const char *const qknown[] = { "message", "signature", "ak-public", NULL };

                if (!json_object_is_type(q, json_type_object))
                        return json_bad(&doc_evidence, "tpm-quote", "is not an object");
                r = json_only_members(&doc_quote, q, qknown);
                if (r >= 0)
                        r = get_blob(&doc_quote, q, "message", false, 4096, &e.quote_message);
                if (r >= 0)
                        r = get_blob(&doc_quote, q, "signature", false, 4096, &e.quote_signature);
                if (r >= 0)
                        r = get_blob(&doc_quote, q, "ak-public", false, 4096, &e.quote_ak);
                if (r < 0)
                        return r;
                if (!e.quote_message.data || !e.quote_signature.data)
                        return json_bad(&doc_evidence, "tpm-quote", "lacks its message or signature");
                e.has_quote = true;
        }

        *ret = e;
        memset(&e, 0, sizeof(e));
        return 0;
}

static int add_blob(json_object *o, const char *key, bool hex, const struct blob *b) {
        return b->data ? json_add_blob(o, key, hex, b->data, b->size) : 0;
}

int evidence_to_json(const struct evidence *e, json_object **ret) {
        _cleanup_(json_object_putp) json_object *j = json_object_new_object();
        int r;

        if (!j)
                return -ENOMEM;
        r = json_add(j, "version", json_object_new_int(1));
        if (r >= 0)
                r = add_blob(j, "nonce", true, &e->nonce);
        if (r >= 0)
                r = add_blob(j, "azure-hcl-report", false, &e->hcl_report);
        if (r >= 0)
                r = add_blob(j, "snp-report", false, &e->snp_report);
        if (r >= 0)
                r = add_blob(j, "tdx-quote", false, &e->tdx_quote);
        if (r >= 0 && e->certificates && sk_X509_num(e->certificates) > 0) {
                json_object *a = json_object_new_array();

                r = json_add(j, "certificates", a);
                for (int i = 0; r >= 0 && i < sk_X509_num(e->certificates); i++) {
                        BIO *bio = BIO_new(BIO_s_mem());
                        char *pem = NULL;
                        long n;

                        if (!bio || PEM_write_bio_X509(bio, sk_X509_value(e->certificates, i)) != 1) {
                                BIO_free(bio);
                                return -ENOMEM;
                        }
                        n = BIO_get_mem_data(bio, &pem);
                        if (json_object_array_add(a, json_object_new_string_len(pem, (int) n)) < 0)
                                r = -ENOMEM;
                        BIO_free(bio);
                }
        }
        if (r >= 0 && e->has_quote) {
                json_object *q = json_object_new_object();

                r = json_add(j, "tpm-quote", q);
                if (r >= 0)
                        r = add_blob(q, "message", false, &e->quote_message);
                if (r >= 0)
                        r = add_blob(q, "signature", false, &e->quote_signature);
                if (r >= 0)
                        r = add_blob(q, "ak-public", false, &e->quote_ak);
        }
        if (r >= 0 && e->pcrs_sha256) {
                json_object *p = json_object_new_object();

                r = json_add(j, "pcrs", p);
                if (r >= 0)
                        r = json_add(p, "sha256", json_object_get(e->pcrs_sha256));
        }
        if (r >= 0)
                r = add_blob(j, "event-log", false, &e->event_log);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

/* ---- policy ---- */

void attest_policy_done(struct attest_policy *p) {
        json_object_put(p->snp);
        json_object_put(p->tdx);
        json_object_put(p->pcrs_sha256);
        blob_done(&p->nonce);
        sk_X509_pop_free(p->roots, X509_free);
        memset(p, 0, sizeof(*p));
}

int attest_policy_from_json(json_object *j, struct attest_policy *ret) {
        static const char *const known[] = { "version", "require", "snp", "tdx", "pcrs", "nonce", "roots", "time", NULL };
        static const struct {
                const char *name;
                unsigned bit;
        } kinds[] = {
                { "snp", REQUIRE_SNP },
                { "tdx", REQUIRE_TDX },
                { "azure-hcl", REQUIRE_AZURE_HCL },
                { "tpm-quote", REQUIRE_TPM_QUOTE },
                { "event-log", REQUIRE_EVENT_LOG },
        };
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        json_object *v;
        int r;

        r = open_doc(j, &doc_policy, known);
        if (r < 0)
                return r;
        p.version = 1;

        if (!json_object_object_get_ex(j, "require", &v) || !json_object_is_type(v, json_type_array) ||
            json_object_array_length(v) == 0)
                return json_bad(&doc_policy, "require", "is missing or not a non-empty array");
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(v, i));
                bool found = false;

                for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
                        if (streq_ptr(s, kinds[k].name)) {
                                p.require |= kinds[k].bit;
                                found = true;
                        }
                if (!found || !json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                        return json_bad(&doc_policy, "require", "names an unknown kind of evidence");
        }

        if (json_object_object_get_ex(j, "snp", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        return json_bad(&doc_policy, "snp", "is not an object");
                p.snp = json_object_get(v);
        }
        if (json_object_object_get_ex(j, "tdx", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        return json_bad(&doc_policy, "tdx", "is not an object");
                p.tdx = json_object_get(v);
        }
        r = get_pcrs(j, &doc_policy, &p.pcrs_sha256);
        if (r >= 0)
                r = get_blob(&doc_policy, j, "nonce", true, 64, &p.nonce);
        if (r < 0)
                return r;

        if (json_object_object_get_ex(j, "roots", &v)) {
                json_object *wrapper = json_object_new_object();

                /* The same reader as the evidence's certificates. */
                if (!wrapper)
                        return -ENOMEM;
                json_object_object_add(wrapper, "certificates", json_object_get(v));
                r = get_certs(wrapper, &p.roots);
                json_object_put(wrapper);
                if (r < 0)
                        return json_bad(&doc_policy, "roots", "is not an array of PEM certificates");
        }

        if (json_object_object_get_ex(j, "time", &v)) {
                struct tm tm = {};
                const char *s = json_object_get_string(v), *end;

                end = json_object_is_type(v, json_type_string) ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
                if (!end || *end)
                        return json_bad(&doc_policy, "time", "is not an RFC 3339 UTC time (2025-06-01T00:00:00Z)");
                p.time = timegm(&tm);
        }

        *ret = p;
        memset(&p, 0, sizeof(p));
        return 0;
}

int attest_policy_check_from_disk(const struct attest_policy *p) {
        if (p->roots)
                return log_debug_errno(-EBADMSG, "policy: \"roots\" is for `attest verify --policy` only: a policy "
                                       "kept on the disk may not choose the trusted roots (the unlock gate takes "
                                       "extra roots from %s/roots/*.pem)", config_dir());
        if (p->time != 0)
                return log_debug_errno(-EBADMSG, "policy: \"time\" is for `attest verify --policy` only: the unlock "
                                       "gate verifies certificates at the current time");
        return 0;
}

void attest_policy_quote(const struct attest_policy *p, enum attest_quote *ret_quote, uint32_t *ret_mask,
                         bool *ret_log_pcrs) {
        uint32_t mask = 0;

        if (p->pcrs_sha256) {
                json_object_object_foreach(p->pcrs_sha256, index, value) {
                        (void) value;
                        mask |= UINT32_C(1) << atoi(index);    /* 0-23: get_pcrs() checked */
                }
        }
        *ret_quote = (p->require & (REQUIRE_TPM_QUOTE | REQUIRE_EVENT_LOG)) || p->pcrs_sha256 ? ATTEST_QUOTE_MASK
                                                                                             : ATTEST_QUOTE_NONE;
        *ret_mask = mask;
        *ret_log_pcrs = p->require & REQUIRE_EVENT_LOG;
}
