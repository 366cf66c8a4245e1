/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cvmseal diagnose` (docs/diagnose.md): for each cvmseal token, whether an unlock would succeed now,
 * and when not, why - every check of unlock, in unlock's order, run without unsealing:
 *
 *   token        it parses strictly and is consistent (a malformed token: 10), its keyslot is in use,
 *                the SRK it names is the pinned one (3), its OpenSSL provider is allowed (10)
 *   TPM          reachable (6)
 *   attestation  the unlock gate's collect and verify, with a fresh nonce (4; 10 for malformed evidence)
 *   SRK          the TPM's SRK is the one the token was sealed to (3)
 *   PCRs         the current values against the enrolled ones (version 2: tpm2.pcr-values; version 1:
 *                through the policy digest, which cannot say which PCR; signed policies: whether one
 *                in the signed-policy directory has the current values), each differing PCR explained
 *                from this boot's event log (diagnose-pcr.c) (3)
 *   lockout      the dictionary-attack state; a PIN token in lockout would be refused (9)
 *   HSM          the key opens and decrypts the HSM's share - the HSM's half only, never the TPM's (5)
 *
 * TPM commands: ReadPublic (SRK), PCR_Read, GetCapability, and the attestation's NV_Write (the
 * nonce), NV_Read and Quote.  Never Load, Unseal, an extension or a write to the device: the header
 * stays as it is, and nothing is written to /run (no lock note) or to the configuration (no SRK pin).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diagnose.h"
#include "encoding.h"
#include "hsm.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "gate.h"
#include "seal.h"
#include "secret.h"
#include "signed-policy.h"
#include "srk-pin.h"
#include "token.h"
#include "tpm2.h"

#define EVENT_LOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"
#define EVENT_LOG_MAX (64U << 20)
#define BOOT_DIR_DEFAULT "/boot"

struct diag_ctx {
        struct crypt_device *cd;
        const char *uuid;
        const struct cvmseal_diagnose_params *p;

        tpm2_context *tpm;
        int tpm_error;                  /* when tpm is NULL */

        bool log_loaded;
        struct diag_log log;
        bool log_ok;
        json_object *log_info;          /* {"source", "available", "events" | "error"} */

        bool candidates_loaded;
        struct diag_candidates candidates;
};

static void diag_ctx_done(struct diag_ctx *c) {
        tpm2_context_free(c->tpm);
        diag_log_done(&c->log);
        json_object_put(c->log_info);
        diag_candidates_done(&c->candidates);
}

/* ---- inputs: the event log and the candidates, read when a PCR needs them ---- */

static const char *event_log_path(const struct cvmseal_diagnose_params *p) {
        const char *e;

        if (p->event_log)
                return p->event_log;
        e = secure_getenv("CVMSEAL_EVENT_LOG");
        return e ?: EVENT_LOG_DEFAULT;
}

/* The event log, or NULL (said in ctx->log_info). */
static int get_log(struct diag_ctx *c, const struct diag_log **ret) {
        const char *path = event_log_path(c->p);
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0;
        const char *error = NULL;
        char why[128];
        int r;

        if (!c->log_loaded) {
                c->log_loaded = true;
                c->log_info = json_object_new_object();
                if (!c->log_info)
                        return -ENOMEM;
                r = json_add(c->log_info, "source", json_object_new_string(*path ? path : "(none)"));
                if (r < 0)
                        return r;
                if (!*path)
                        error = "no event log was given";
                else {
                        r = cvmseal_read_file(path, EVENT_LOG_MAX, &buf, &size);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                snprintf(why, sizeof(why), "cannot be read: %s", strerror(-r));
                                error = why;
                        } else {
                                r = diag_log_parse(buf, size, &c->log);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0)
                                        error = "malformed, or without SHA-256 digests (-v says where)";
                        }
                }
                c->log_ok = !error;
                r = json_add(c->log_info, "available", json_object_new_boolean(c->log_ok));
                if (r >= 0)
                        r = error ? json_add(c->log_info, "error", json_object_new_string(error))
                                  : json_add(c->log_info, "events", json_object_new_int64((int64_t) c->log.n_events));
                if (r < 0)
                        return r;
                if (error)
                        log_debug("diagnose: event log %s: %s", path, error);
        }
        *ret = c->log_ok ? &c->log : NULL;
        return 0;
}

static int get_candidates(void *userdata, const struct diag_candidates **ret) {
        struct diag_ctx *c = userdata;
        const char *dir = c->p->boot_dir;
        int r;

        if (!c->candidates_loaded) {
                c->candidates_loaded = true;
                if (c->p->kernel) {
                        r = diag_candidates_add(&c->candidates, c->p->kernel, true);
                        if (r < 0)
                                return r;
                }
                if (c->p->initrd) {
                        r = diag_candidates_add(&c->candidates, c->p->initrd, false);
                        if (r < 0)
                                return r;
                }
                if (!dir)
                        dir = secure_getenv("CVMSEAL_BOOT_DIR") ?: BOOT_DIR_DEFAULT;
                if (*dir) {
                        r = diag_candidates_scan(&c->candidates, dir);
                        if (r < 0)
                                return r;
                }
                log_debug("diagnose: %zu candidate kernel(s) and initrd(s)", c->candidates.n);
        }
        *ret = &c->candidates;
        return 0;
}

/* ---- the checks of one token ---- */

enum check_status { CHECK_OK, CHECK_FAILED, CHECK_INFO, CHECK_SKIPPED };

struct token_diag {
        json_object *checks;
        int error;                      /* the first failure, as unlock would return it (0: none) */
};

/* Adds a check; failed ones set the token's error when it has none yet (unlock stops at the first).
 * extra (optional, taken over) is merged in. */
static int add_check(struct token_diag *d, const char *name, enum check_status status, int error, json_object *extra,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int add_check(struct token_diag *d, const char *name, enum check_status status, int error, json_object *extra,
                     const char *fmt, ...) {
        static const char *const statuses[] = { "ok", "failed", "info", "skipped" };
        _cleanup_(json_object_putp) json_object *o = extra ?: json_object_new_object();
        char msg[1024];
        va_list ap;
        int r;

        if (!o)
                return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        r = json_add(o, "check", json_object_new_string(name));
        if (r >= 0)
                r = json_add(o, "status", json_object_new_string(statuses[status]));
        if (r >= 0 && status == CHECK_FAILED)
                r = json_add(o, "errno", json_object_new_int(-error));
        if (r >= 0)
                r = json_add(o, "message", json_object_new_string(msg));
        if (r < 0)
                return r;
        if (json_object_array_add(d->checks, o) < 0)
                return -ENOMEM;
        o = NULL;
        if (status == CHECK_FAILED && d->error == 0)
                d->error = error;
        return 0;
}

static void pcr_list(uint32_t mask, char *buf, size_t size) {
        *buf = 0;
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if (mask & (UINT32_C(1) << i))
                        snprintf(buf + strlen(buf), size - strlen(buf), "%s%u", *buf ? ", " : "", i);
}

static int check_srk(struct diag_ctx *c, struct token_diag *d, const struct token *t) {
        _cleanup_free_ char *want = NULL, *have = NULL;
        TPM2B_NAME name = {};
        int r;

        r = tpm2_srk_name(c->tpm, &name);
        if (r == -EREMCHG)
                return add_check(d, "srk", CHECK_FAILED, -EREMCHG, NULL, "this TPM has no SRK at 0x%08x: it is not the "
                                 "TPM the token was sealed to", (unsigned) CVMSEAL_SRK_HANDLE);
        if (r < 0)
                return add_check(d, "srk", CHECK_FAILED, r, NULL, "cannot read this TPM's SRK: %s", strerror(-r));

        want = hex_encode(t->tpm2.srk_name, t->tpm2.srk_name_size);
        have = hex_encode(name.name, name.size);
        if (!want || !have)
                return -ENOMEM;
        if (name.size != t->tpm2.srk_name_size || memcmp(name.name, t->tpm2.srk_name, name.size) != 0)
                return add_check(d, "srk", CHECK_FAILED, -EREMCHG, NULL, "this TPM's SRK (%s) is not the one the token "
                                 "was sealed to (%s): another TPM, or a TPM that was cleared", have, want);
        return add_check(d, "srk", CHECK_OK, 0, NULL, "this TPM's SRK is the one the token was sealed to (%s)", have);
}

/* The explanation of the PCRs of differ (enrolled[] against current[], by PCR number). */
static int explain_pcrs(struct diag_ctx *c, uint32_t differ, const uint8_t (*enrolled)[32], const uint8_t (*current)[32],
                        json_object *list) {
        const struct diag_log *log = NULL;
        int r;

        if (differ & ~CVMSEAL_LOCK_MASK) {
                r = get_log(c, &log);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++) {
                json_object *o = NULL;

                if (!(differ & (UINT32_C(1) << i)))
                        continue;
                if (i == CVMSEAL_LOCK_PCR) {
                        o = json_object_new_object();
                        r = o ? 0 : -ENOMEM;
                        if (r >= 0)
                                r = json_add(o, "pcr", json_object_new_int((int) i));
                        if (r >= 0)
                                r = json_add_blob(o, "enrolled", true, enrolled[i], 32);
                        if (r >= 0)
                                r = json_add_blob(o, "current", true, current[i], 32);
                        if (r >= 0)
                                r = json_add(o, "change", json_object_new_string("locked"));
                        if (r >= 0)
                                r = json_add(o, "message", json_object_new_string(
                                                     "PCR 15 is cvmseal's lock PCR: it has been extended in this boot "
                                                     "(`cvmseal lock`, which the initramfs runs once it is done), so "
                                                     "no token unseals again until the next boot"));
                } else
                        r = diag_pcr_explain(log, i, enrolled[i], current[i], get_candidates, c, &o);
                if (r < 0) {
                        json_object_put(o);
                        return r;
                }
                if (json_object_array_add(list, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* Signed policies: does one in the directory verify and have the current values? */
static int check_signed(struct diag_ctx *c, struct token_diag *d, const struct token *t, const uint8_t (*current)[32]) {
        _cleanup_(json_object_putp) json_object *extra = NULL, *list = NULL;
        struct signed_policy *docs = NULL;
        uint32_t mask = t->tpm2.pcr_mask & ~CVMSEAL_LOCK_MASK, differ = 0;
        const char *dir = signed_policy_dir();
        char pcrs[3 * CVMSEAL_PCR_MAX + 1], when[32] = "?";
        TPM2B_PUBLIC key;
        size_t n = 0;
        int r;

        r = signed_policy_token_key(t->tpm2.pubkey, t->tpm2.pubkey_size, t->tpm2.pubkey_name, t->tpm2.pubkey_name_size,
                                    &key);
        if (r < 0)
                return add_check(d, "signed-policy", CHECK_FAILED, -EBADMSG, NULL, "the token's signing key is malformed");
        r = signed_policy_load_dir(dir, &key, mask, &docs, &n);
        if (r < 0)
                return add_check(d, "signed-policy", CHECK_FAILED, r, NULL, "cannot read the signed policies in %s: %s",
                                 dir, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                bool match = true;

                for (unsigned p = 0; p < CVMSEAL_PCR_MAX; p++)
                        if ((mask & (UINT32_C(1) << p)) && memcmp(docs[i].pcrs.sha256[p], current[p], 32) != 0)
                                match = false;
                if (match) {
                        struct tm tm;

                        if (gmtime_r(&docs[i].created, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
                        pcr_list(mask, pcrs, sizeof(pcrs));
                        r = add_check(d, "signed-policy", CHECK_OK, 0, NULL, "the signed policy %s/%s (created %s) has "
                                      "the current values of PCRs %s", dir, docs[i].path ?: "?", when, pcrs);
                        signed_policy_free_array(docs, n);
                        return r;
                }
        }
        pcr_list(mask, pcrs, sizeof(pcrs));
        if (n == 0) {
                signed_policy_free_array(docs, n);
                return add_check(d, "signed-policy", CHECK_FAILED, -ENOMSG, NULL, "no signed policy in %s verifies with "
                                 "the token's key over PCRs %s (sign the current values with 'cvmseal policy sign'; "
                                 "-v says why each file was skipped)", dir, pcrs);
        }

        /* The newest against the current values, PCR by PCR. */
        for (unsigned p = 0; p < CVMSEAL_PCR_MAX; p++)
                if ((mask & (UINT32_C(1) << p)) && memcmp(docs[0].pcrs.sha256[p], current[p], 32) != 0)
                        differ |= UINT32_C(1) << p;
        extra = json_object_new_object();
        list = json_object_new_array();
        if (!extra || !list) {
                signed_policy_free_array(docs, n);
                return -ENOMEM;
        }
        r = explain_pcrs(c, differ, (const uint8_t (*)[32]) docs[0].pcrs.sha256, current, list);
        if (r >= 0)
                r = json_add(extra, "newest", json_object_new_string(docs[0].path ?: "?"));
        if (r >= 0)
                r = json_add(extra, "pcrs", TAKE_PTR(list));
        pcr_list(differ, pcrs, sizeof(pcrs));
        if (r >= 0)
                r = add_check(d, "signed-policy", CHECK_FAILED, -ENOMSG, TAKE_PTR(extra), "none of the %zu signed "
                              "policies in %s has the current PCR values; the newest, %s/%s, differs in PCR%s %s", n, dir, dir,
                              docs[0].path ?: "?", __builtin_popcount(differ) == 1 ? "" : "s", pcrs);
        signed_policy_free_array(docs, n);
        return r;
}

static int check_pcrs(struct diag_ctx *c, struct token_diag *d, const struct token *t) {
        _cleanup_(json_object_putp) json_object *extra = NULL, *list = NULL;
        uint8_t ranked[CVMSEAL_PCR_MAX][32], current[CVMSEAL_PCR_MAX][32] = {};
        uint32_t mask = t->tpm2.pcr_mask, differ = 0;
        char pcrs[3 * CVMSEAL_PCR_MAX + 1];
        int r;

        r = tpm2_pcr_read(c->tpm, mask, ranked);
        if (r < 0)
                return add_check(d, "pcrs", CHECK_FAILED, r, NULL, "cannot read the PCRs: %s", strerror(-r));
        values_by_pcr(mask, (const uint8_t (*)[32]) ranked, current);

        if (t->version < 2) {
                TPM2B_DIGEST policy;

                /* No values are kept: the policy digest of the current values says whether they are the
                 * sealed ones, not which differ. */
                r = tpm2_policy_digest(mask, (const uint8_t (*)[32]) ranked, t->tpm2.pin, &policy);
                if (r < 0)
                        return r;
                pcr_list(mask, pcrs, sizeof(pcrs));
                if (policy.size == t->tpm2.policy_size && memcmp(policy.buffer, t->tpm2.policy, policy.size) == 0)
                        return add_check(d, "pcrs", CHECK_OK, 0, NULL, "PCRs %s have the values the token was sealed "
                                         "to (checked through its policy digest)", pcrs);
                return add_check(d, "pcrs", CHECK_FAILED, -EPERM, NULL, "PCRs %s do not all have the values the token "
                                 "was sealed to; a version 1 token does not keep those values, so which PCR differs "
                                 "cannot be said ('cvmseal reseal' makes it version 2)%s", pcrs,
                                 (mask & CVMSEAL_LOCK_MASK) && memcmp(current[CVMSEAL_LOCK_PCR], (uint8_t[32]) {}, 32) != 0
                                         ? "; the lock PCR 15 is extended in this boot, which alone refuses it" : "");
        }

        for (unsigned p = 0; p < CVMSEAL_PCR_MAX; p++)
                if ((t->tpm2.pcr_values_mask & (UINT32_C(1) << p)) && memcmp(t->tpm2.pcr_values[p], current[p], 32) != 0)
                        differ |= UINT32_C(1) << p;

        r = 0;
        if (differ == 0) {
                pcr_list(t->tpm2.pcr_values_mask, pcrs, sizeof(pcrs));
                if (t->tpm2.pcr_values_mask)
                        r = add_check(d, "pcrs", CHECK_OK, 0, NULL, "PCR%s %s %s the enrolled value%s",
                                      __builtin_popcount(t->tpm2.pcr_values_mask) == 1 ? "" : "s", pcrs,
                                      __builtin_popcount(t->tpm2.pcr_values_mask) == 1 ? "has" : "have",
                                      __builtin_popcount(t->tpm2.pcr_values_mask) == 1 ? "" : "s");
        } else {
                extra = json_object_new_object();
                list = json_object_new_array();
                if (!extra || !list)
                        return -ENOMEM;
                r = explain_pcrs(c, differ, (const uint8_t (*)[32]) t->tpm2.pcr_values, (const uint8_t (*)[32]) current,
                                 list);
                if (r < 0)
                        return r;
                if (c->log_info) {
                        r = json_add(extra, "event-log", json_object_get(c->log_info));
                        if (r < 0)
                                return r;
                }
                r = json_add(extra, "pcrs", TAKE_PTR(list));
                if (r < 0)
                        return r;
                pcr_list(differ, pcrs, sizeof(pcrs));
                r = add_check(d, "pcrs", CHECK_FAILED, -EPERM, TAKE_PTR(extra), "PCR%s %s differ%s from the enrolled "
                              "value%s: the boot state changed", __builtin_popcount(differ) == 1 ? "" : "s", pcrs,
                              __builtin_popcount(differ) == 1 ? "s" : "", __builtin_popcount(differ) == 1 ? "" : "s");
        }
        if (r < 0 || !t->tpm2.pubkey)
                return r;
        return check_signed(c, d, t, (const uint8_t (*)[32]) current);
}

static int check_hsm(struct diag_ctx *c, struct token_diag *d, const struct token *t, int id) {
        _cleanup_(hsm_key_freep) hsm_key *key = NULL;
        _cleanup_secret_ cvmseal_secret *share = NULL;
        uint8_t aad[40];
        int r;

        if (!t->has_hsm)
                return 0;
        if (!t->hsm.provider && t->hsm.pin && !c->p->hsm_pin) {
                /* The PIN is sealed in the TPM with the share: without unsealing, only the module and
                 * token are reachable.  The open stops at the login it cannot make. */
                r = hsm_key_open(t->hsm.uri, NULL, &key);
                if (r == -EKEYREVOKED)
                        return add_check(d, "hsm", CHECK_INFO, 0, NULL, "the HSM token of %s is there; its key needs "
                                         "the HSM PIN, which is sealed in the TPM with the share, so the key itself is "
                                         "not checked (--hsm-pin-file checks it)", t->hsm.uri);
                if (r < 0 && r != -ENOMEM)
                        return add_check(d, "hsm", CHECK_FAILED, r, NULL, "the HSM key %s is unavailable: no PKCS#11 "
                                         "module or token matches it (the key cache is empty, or this is another "
                                         "machine's HSM)", t->hsm.uri);
                if (r < 0)
                        return r;
        } else {
                r = hsm_key_open_binding(&t->hsm, c->p->hsm_pin, &key);
                if (r == -ENOMEM)
                        return r;
                if (r == -EKEYREVOKED)
                        return add_check(d, "hsm", CHECK_FAILED, r, NULL, "the HSM refused %s: wrong or missing HSM PIN",
                                         t->hsm.uri);
                if (r == -ENOTUNIQ)
                        return add_check(d, "hsm", CHECK_FAILED, r, NULL, "the HSM URI %s matches more than one key",
                                         t->hsm.uri);
                if (r < 0)
                        return add_check(d, "hsm", CHECK_FAILED, r, NULL, "the HSM key %s is unavailable%s", t->hsm.uri,
                                         t->hsm.provider ? ": the OpenSSL provider cannot be loaded or cannot open it"
                                                         : ": no PKCS#11 module, token or key matches it");
        }
        binding_aad(c->uuid, id, aad);
        r = hsm_unseal(key, &t->hsm, aad, sizeof(aad), &share);
        if (r == -ENOMEM)
                return r;
        if (r == -EKEYREVOKED)
                return add_check(d, "hsm", CHECK_FAILED, r, NULL, "the HSM key %s is not the key the token was bound "
                                 "to (another machine's, or made again under the same name)", t->hsm.uri);
        if (r < 0)
                return add_check(d, "hsm", CHECK_FAILED, r, NULL, "the HSM key %s does not decrypt the token's HSM "
                                 "share: %s", t->hsm.uri, r == -EBADMSG ? "the binding is damaged" : strerror(-r));
        return add_check(d, "hsm", CHECK_OK, 0, NULL, "the HSM key %s is there and decrypts the token's HSM share",
                         t->hsm.uri);
}

static int check_lockout(struct diag_ctx *c, struct token_diag *d, const struct token *t) {
        _cleanup_(json_object_putp) json_object *extra = json_object_new_object();
        unsigned counter, max, interval;
        int r;

        if (!extra)
                return -ENOMEM;
        r = tpm2_lockout_info(c->tpm, &counter, &max, &interval);
        if (r < 0)
                return add_check(d, "lockout", CHECK_INFO, 0, NULL, "the dictionary-attack state cannot be read: %s",
                                 strerror(-r));
        r = json_add(extra, "counter", json_object_new_int((int) counter));
        if (r >= 0)
                r = json_add(extra, "max", json_object_new_int((int) max));
        if (r >= 0)
                r = json_add(extra, "interval", json_object_new_int((int) interval));
        if (r < 0)
                return r;
        if (!t->tpm2.pin)
                return add_check(d, "lockout", CHECK_INFO, 0, TAKE_PTR(extra), "dictionary-attack counter %u of %u (one "
                                 "failure forgiven every %u s); the token has no PIN, so its object is noDA and the "
                                 "lockout does not apply to it", counter, max, interval);
        if (counter >= max)     /* maxTries 0: the TPM is in lockout for every DA-protected object */
                return add_check(d, "lockout", CHECK_FAILED, -ENOLCK, TAKE_PTR(extra), "the TPM is in dictionary-attack "
                                 "lockout (counter %u of %u): the PIN token is refused until one failure is forgiven "
                                 "(every %u s) or the lockout is reset", counter, max, interval);
        return add_check(d, "lockout", CHECK_OK, 0, TAKE_PTR(extra), "dictionary-attack counter %u of %u (one failure "
                         "forgiven every %u s): %u wrong PIN%s more before the lockout", counter, max, interval,
                         max - counter, max - counter == 1 ? "" : "s");
}

static int diagnose_token(struct diag_ctx *c, int id, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *checks = json_object_new_array();
        _cleanup_(token_done) struct token t = {};
        struct token_diag d = {};
        struct tpm2_sealed sealed;
        crypt_keyslot_info ki;
        char pcrs[3 * CVMSEAL_PCR_MAX + 1];
        bool pinned = false;
        int r;

        if (!o || !checks)
                return -ENOMEM;
        d.checks = checks;
        r = json_add(o, "id", json_object_new_int(id));
        if (r < 0)
                return r;

        r = token_load(c->cd, id, &t);
        if (r == -ENOMEDIUM)
                return r;
        if (r == -ENOMEM)
                return r;
        if (r >= 0)
                r = token_sealed(&t, &sealed);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                r = add_check(&d, "token", CHECK_FAILED, -EBADMSG, NULL, "the token is malformed or damaged (-v says "
                              "where)");
                goto done;
        }
        r = json_add(o, "version", json_object_new_int(t.version));
        if (r >= 0)
                r = json_add(o, "keyslot", json_object_new_int(t.keyslot));
        if (r < 0)
                return r;
        ki = crypt_keyslot_status(c->cd, t.keyslot);
        if (ki != CRYPT_SLOT_ACTIVE && ki != CRYPT_SLOT_ACTIVE_LAST) {
                r = add_check(&d, "token", CHECK_FAILED, -EBADMSG, NULL, "the token names keyslot %d, which is not in use",
                              t.keyslot);
                goto done;
        }
        if (t.has_hsm && hsm_binding_usable(&t.hsm) < 0) {
                r = add_check(&d, "token", CHECK_FAILED, -EBADMSG, NULL, "the token names the OpenSSL provider '%s', "
                              "which this machine's configuration does not allow", t.hsm.provider);
                goto done;
        }
        r = srk_pin_check(t.tpm2.srk_name, t.tpm2.srk_name_size, &pinned);
        if (r == -EREMCHG) {
                r = add_check(&d, "token", CHECK_FAILED, -EREMCHG, NULL, "the token names an SRK other than the one "
                              "pinned in the configuration (tpm2-srk.pub): it was sealed to another TPM, or forged");
                goto done;
        }
        if (r < 0) {
                r = add_check(&d, "token", CHECK_FAILED, r, NULL, "the pinned SRK (tpm2-srk.pub) cannot be read");
                goto done;
        }
        pcr_list(t.tpm2.pcr_mask, pcrs, sizeof(pcrs));
        r = add_check(&d, "token", CHECK_OK, 0, NULL, "version %d, keyslot %d, sealed to PCR%s %s%s%s%s%s", t.version,
                      t.keyslot, __builtin_popcount(t.tpm2.pcr_mask) == 1 ? "" : "s", pcrs,
                      t.tpm2.pubkey ? " (signed policies)" : "", t.tpm2.import_seed ? ", sealed offline" : "",
                      t.attest_policy ? ", gated on attestation" : "", t.has_hsm ? ", bound to an HSM key" : "");
        if (r >= 0 && t.version < CVMSEAL_TOKEN_VERSION)
                r = add_check(&d, "token", CHECK_INFO, 0, NULL, "version 1: the TPM does not bind this token to its "
                              "members, and it does not keep its PCR values ('cvmseal reseal' makes it version 2)");
        if (r >= 0 && t.tpm2.pin)
                r = add_check(&d, "pin", CHECK_INFO, 0, NULL, "the token needs a TPM PIN: unlock asks for it on a "
                              "terminal, or takes --pin-file (without either it exits 7)");
        if (r < 0)
                return r;

        if (!c->tpm) {
                r = add_check(&d, "tpm", CHECK_FAILED, c->tpm_error, NULL, "no TPM answers through '%s'",
                              cvmseal_tcti_resolve(c->p->tcti));
        } else {
                if (t.attest_policy && !c->p->pcrs_only) {
                        _cleanup_free_ char *failures = NULL;
                        uint8_t digest[32];

                        r = attest_gate(c->tpm, t.attest_policy, t.attest_policy_size, &failures, digest, NULL);
                        if (r == -ENOMEM)
                                return r;
                        if (r == 0)
                                r = add_check(&d, "attestation", CHECK_OK, 0, NULL, "fresh evidence satisfies the "
                                              "token's attestation policy");
                        else if (r == -EBADE)
                                r = add_check(&d, "attestation", CHECK_FAILED, -EBADE, NULL, "attestation fails: %s",
                                              failures ?: "(no detail)");
                        else if (r == -EPROTO)
                                r = add_check(&d, "attestation", CHECK_FAILED, -EPROTO, NULL, "the attestation evidence "
                                              "this machine gives is malformed (-v says where)");
                        else if (r == -EBADMSG)
                                r = add_check(&d, "attestation", CHECK_FAILED, -EBADMSG, NULL, "the token's attestation "
                                              "policy is malformed");
                        else
                                r = add_check(&d, "attestation", CHECK_FAILED, r, NULL, "cannot collect attestation "
                                              "evidence: %s", strerror(-r));
                        if (r < 0)
                                return r;
                }
                r = check_srk(c, &d, &t);
                if (r >= 0)
                        r = check_pcrs(c, &d, &t);
                if (r >= 0 && !c->p->pcrs_only)
                        r = check_lockout(c, &d, &t);
                if (r < 0)
                        return r;
        }
        if (!c->p->pcrs_only) {
                r = check_hsm(c, &d, &t, id);
                if (r < 0)
                        return r;
        }
        r = 0;

done:
        if (r < 0)
                return r;
        r = json_add(o, "unlocks", json_object_new_boolean(d.error == 0));
        if (r >= 0 && d.error != 0)
                r = json_add(o, "errno", json_object_new_int(-d.error));
        if (r >= 0)
                r = json_add(o, "checks", TAKE_PTR(checks));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return d.error;
}

/* When no token would unlock: the error unlock would return (error_rank() of unlock.c). */
static int rank(int r) {
        return r == -ENOMEDIUM ? 0 : r == -EBADMSG ? 1 : 2;
}

static int diagnose(struct crypt_device *cd, const char *device, const struct cvmseal_diagnose_params *p,
                    json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *tokens = json_object_new_array(),
                                                *tpm = json_object_new_object();
        struct diag_ctx c = { .cd = cd, .p = p, .uuid = crypt_get_uuid(cd) };
        int r, best = -ENOMEDIUM;
        bool unlocks = false, any = false;

        if (!o || !tokens || !tpm)
                return -ENOMEM;
        if (!c.uuid || strlen(c.uuid) != 36)
                return log_debug_errno(-EMEDIUMTYPE, "The LUKS2 header has no UUID");

        /* The TPM once for every token; its absence is a finding, not an error. */
        c.tpm_error = tpm2_context_new(p->tcti, &c.tpm);
        r = json_add(tpm, "tcti", json_object_new_string(cvmseal_tcti_resolve(p->tcti)));
        if (r >= 0)
                r = json_add(tpm, "available", json_object_new_boolean(c.tpm != NULL));
        if (r < 0)
                goto finish;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                json_object *t = NULL;
                const char *type = NULL;
                crypt_token_info ti;

                if (p->token_id >= 0 && id != p->token_id)
                        continue;
                ti = crypt_token_status(cd, id, &type);
                if (ti == CRYPT_TOKEN_INACTIVE || ti == CRYPT_TOKEN_INVALID)
                        continue;
                r = diagnose_token(&c, id, &t);
                if (r == -ENOMEDIUM) {
                        /* Another kind of token: said, for an operator moving from it (or the first-boot
                         * marker, for one waiting for its first boot).  A pending record is transient. */
                        if (p->token_id >= 0 || p->pcrs_only || streq_ptr(type, "cvmseal-pending"))
                                continue;
                        t = json_object_new_object();
                        r = t ? json_add(t, "id", json_object_new_int(id)) : -ENOMEM;
                        if (r >= 0)
                                r = json_add(t, "type", json_object_new_string(type ?: "unknown"));
                        if (r >= 0)
                                r = json_add(t, "cvmseal", json_object_new_boolean(false));
                        if (r >= 0 && json_object_array_add(tokens, t) < 0)
                                r = -ENOMEM;
                        if (r < 0) {
                                json_object_put(t);
                                goto finish;
                        }
                        continue;
                }
                if (r == -ENOMEM || !t) {
                        json_object_put(t);
                        r = r < 0 ? r : -EIO;
                        goto finish;
                }
                any = true;
                if (r == 0)
                        unlocks = true;
                else if (rank(r) > rank(best) || (rank(r) == rank(best) && best == -ENOMEDIUM))
                        best = r;
                r = json_add(t, "type", json_object_new_string("cvmseal"));
                if (r >= 0 && json_object_array_add(tokens, t) < 0)
                        r = -ENOMEM;
                if (r < 0) {
                        json_object_put(t);
                        goto finish;
                }
        }

        r = json_add(o, "device", json_object_new_string(device ?: crypt_get_device_name(cd) ?: ""));
        if (r >= 0)
                r = json_add(o, "uuid", json_object_new_string(c.uuid));
        if (r >= 0)
                r = json_add(o, "unlocks", json_object_new_boolean(unlocks));
        if (r >= 0 && !unlocks)
                r = json_add(o, "errno", json_object_new_int(any ? -best : ENOMEDIUM));
        if (r >= 0)
                r = json_add(o, "tpm", TAKE_PTR(tpm));
        if (r >= 0 && c.log_info)
                r = json_add(o, "event-log", json_object_get(c.log_info));
        if (r >= 0)
                r = json_add(o, "tokens", TAKE_PTR(tokens));
        if (r >= 0)
                *ret = TAKE_PTR(o);
finish:
        diag_ctx_done(&c);
        return r < 0 ? r : 0;
}

_public_ int cvmseal_diagnose(const char *device, const struct cvmseal_diagnose_params *params, json_object **ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        if (!device || !params || !ret)
                return -EINVAL;
        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        return diagnose(cd, device, params, ret);
}

_public_ int cvmseal_token_diagnose(struct crypt_device *cd, const struct cvmseal_diagnose_params *params,
                                    json_object **ret) {
        if (!cd || !params || !ret)
                return -EINVAL;
        return diagnose(cd, NULL, params, ret);
}
