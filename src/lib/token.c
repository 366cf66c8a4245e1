/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cvmseal LUKS2 token (docs/token-format.md).  Everything needed to rebuild the keyslot
 * passphrase, except the secrets, lives here; the token is read from an unauthenticated disk, so
 * it is validated strictly before any member is used.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "encoding.h"
#include "log.h"
#include "macro.h"
#include "token.h"

void token_done(struct token *t) {
        if (!t)
                return;
        free(t->tpm2.srk_name);
        free(t->tpm2.pcr_bank);
        free(t->tpm2.policy);
        free(t->tpm2.public);
        free(t->tpm2.private);
        hsm_binding_done(&t->hsm);
        free(t->attest_policy);
        memset(t, 0, sizeof(*t));
}

static int bad(const char *member, const char *why) {
        return log_debug_errno(-EBADMSG, "cvmseal token: member '%s' %s", member, why);
}

/* The member, if it is present and of the type; NULL after a debug message otherwise. */
static json_object *member(json_object *o, const char *key, json_type type) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                bad(key, "is missing");
                return NULL;
        }
        if (!json_object_is_type(v, type)) {
                bad(key, "has the wrong type");
                return NULL;
        }
        return v;
}

/* Fails on members outside the list: a feature a reader does not know is never silently skipped. */
static int only_members(json_object *o, const char *what, const char *const *known) {
        json_object_object_foreach(o, key, val) {
                bool ok = false;

                (void) val;
                for (const char *const *k = known; *k; k++)
                        if (streq_ptr(key, *k))
                                ok = true;
                if (!ok)
                        return log_debug_errno(-EBADMSG, "cvmseal token: unknown member '%s' in %s", key, what);
        }
        return 0;
}

static int get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret) {
        json_object *v = member(o, key, json_type_int);
        int64_t i;

        if (!v)
                return -EBADMSG;
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < min || i > max)
                return bad(key, "is out of range");
        *ret = i;
        return 0;
}

static int get_blob(json_object *o, const char *key, bool hex, size_t min, size_t max,
                    uint8_t **ret, size_t *ret_size) {
        json_object *v = member(o, key, json_type_string);
        uint8_t *buf;
        size_t n;
        int r;

        if (!v)
                return -EBADMSG;
        r = hex ? hex_decode(json_object_get_string(v), &buf, &n)
                : base64_decode(json_object_get_string(v), &buf, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return bad(key, hex ? "is not hex" : "is not base64");
        if (n < min || n > max) {
                free(buf);
                return bad(key, "has the wrong length");
        }
        *ret = buf;
        *ret_size = n;
        return 0;
}

static int parse_tpm2(json_object *o, struct token *t) {
        static const char *const known[] = { "srk-handle", "srk-name", "pcr-bank", "pcrs", "pin",
                                             "policy", "public", "private", NULL };
        json_object *v, *pcrs;
        int64_t i;
        int r;

        r = only_members(o, "tpm2", known);
        if (r < 0)
                return r;

        r = get_int(o, "srk-handle", 0x81000000, 0x81FFFFFF, &i);
        if (r < 0)
                return r;
        t->tpm2.srk_handle = (uint32_t) i;

        /* A name is the nameAlg (2 bytes) and its digest: sha256 here. */
        r = get_blob(o, "srk-name", true, 34, 34, &t->tpm2.srk_name, &t->tpm2.srk_name_size);
        if (r < 0)
                return r;

        v = member(o, "pcr-bank", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!streq_ptr(json_object_get_string(v), "sha256"))
                return bad("pcr-bank", "names a bank other than sha256");
        t->tpm2.pcr_bank = strdup("sha256");
        if (!t->tpm2.pcr_bank)
                return -ENOMEM;

        pcrs = member(o, "pcrs", json_type_array);
        if (!pcrs)
                return -EBADMSG;
        if (json_object_array_length(pcrs) == 0 || json_object_array_length(pcrs) > CVMSEAL_PCR_MAX)
                return bad("pcrs", "has the wrong number of entries");
        for (size_t k = 0; k < json_object_array_length(pcrs); k++) {
                json_object *e = json_object_array_get_idx(pcrs, k);
                int64_t pcr;

                if (!json_object_is_type(e, json_type_int))
                        return bad("pcrs", "has an entry that is not a number");
                pcr = json_object_get_int64(e);
                if (pcr < 0 || pcr >= CVMSEAL_PCR_MAX)
                        return bad("pcrs", "has an entry out of range");
                if (t->tpm2.pcr_mask & (UINT32_C(1) << pcr))
                        return bad("pcrs", "has a duplicate entry");
                t->tpm2.pcr_mask |= UINT32_C(1) << pcr;
        }

        v = member(o, "pin", json_type_boolean);
        if (!v)
                return -EBADMSG;
        t->tpm2.pin = json_object_get_boolean(v);

        r = get_blob(o, "policy", true, 32, 32, &t->tpm2.policy, &t->tpm2.policy_size);
        if (r < 0)
                return r;
        r = get_blob(o, "public", false, 4, TOKEN_BLOB_MAX, &t->tpm2.public, &t->tpm2.public_size);
        if (r < 0)
                return r;
        return get_blob(o, "private", false, 4, TOKEN_BLOB_MAX, &t->tpm2.private, &t->tpm2.private_size);
}

int token_from_json(json_object *j, struct token *ret) {
        static const char *const known[] = { "type", "keyslots", "version", "kdf", "tpm2", "hsm", "attest", NULL };
        _cleanup_(token_done) struct token t = {};
        json_object *v, *kdf, *tpm2, *ks;
        _cleanup_free_ uint8_t *salt = NULL;
        size_t salt_size;
        const char *s;
        char *end;
        int64_t i;
        long slot;
        int r;

        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "cvmseal token: not a JSON object");

        v = member(j, "type", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!streq_ptr(json_object_get_string(v), CVMSEAL_TOKEN_TYPE))
                return bad("type", "is not \"" CVMSEAL_TOKEN_TYPE "\"");

        r = get_int(j, "version", 0, INT_MAX, &i);
        if (r < 0)
                return r;
        if (i != CVMSEAL_TOKEN_VERSION)
                return log_debug_errno(-EBADMSG, "cvmseal token: version %" PRId64 " is not supported (this is version %d)",
                                       i, CVMSEAL_TOKEN_VERSION);
        t.version = (int) i;

        r = only_members(j, "the token", known);
        if (r < 0)
                return r;

        /* LUKS2 keeps keyslot numbers as strings; a cvmseal token opens exactly one. */
        ks = member(j, "keyslots", json_type_array);
        if (!ks)
                return -EBADMSG;
        if (json_object_array_length(ks) != 1)
                return bad("keyslots", "does not name exactly one keyslot");
        v = json_object_array_get_idx(ks, 0);
        if (!json_object_is_type(v, json_type_string))
                return bad("keyslots", "has an entry that is not a string");
        s = json_object_get_string(v);
        errno = 0;
        slot = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || slot < 0 || slot > 31)
                return bad("keyslots", "has an entry that is not a keyslot number");
        t.keyslot = (int) slot;

        kdf = member(j, "kdf", json_type_object);
        if (!kdf)
                return -EBADMSG;
        r = only_members(kdf, "kdf", (const char *const[]) { "type", "salt", NULL });
        if (r < 0)
                return r;
        v = member(kdf, "type", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!streq_ptr(json_object_get_string(v), "hkdf-sha256"))
                return bad("kdf.type", "is not \"hkdf-sha256\"");
        r = get_blob(kdf, "salt", false, sizeof(t.salt), sizeof(t.salt), &salt, &salt_size);
        if (r < 0)
                return r;
        memcpy(t.salt, salt, sizeof(t.salt));

        tpm2 = member(j, "tpm2", json_type_object);
        if (!tpm2)
                return -EBADMSG;
        r = parse_tpm2(tpm2, &t);
        if (r < 0)
                return r;

        /* Optional: a token bound to an HSM key as well. */
        if (json_object_object_get_ex(j, "hsm", &v)) {
                r = hsm_binding_from_json(v, &t.hsm);
                if (r < 0)
                        return r;
                t.has_hsm = true;
        }

        /* Optional: an attestation gate.  The policy is kept as its exact bytes (base64), because
         * their digest is part of the passphrase derivation. */
        if (json_object_object_get_ex(j, "attest", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        return bad("attest", "is not an object");
                r = only_members(v, "attest", (const char *const[]) { "policy", NULL });
                if (r < 0)
                        return r;
                r = get_blob(v, "policy", false, 2, 65536, &t.attest_policy, &t.attest_policy_size);
                if (r < 0)
                        return r;
        }

        *ret = t;
        memset(&t, 0, sizeof(t));
        return 0;
}

int token_from_string(const char *s, struct token *ret) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        enum json_tokener_error e;

        j = json_tokener_parse_verbose(s, &e);
        if (!j)
                return log_debug_errno(-EBADMSG, "cvmseal token: not JSON (%s)", json_tokener_error_desc(e));
        return token_from_json(j, ret);
}

bool token_json_is_cvmseal(const char *s) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(s);
        json_object *v;

        return j && json_object_object_get_ex(j, "type", &v) &&
               streq_ptr(json_object_get_string(v), CVMSEAL_TOKEN_TYPE);
}

json_object *pcr_mask_to_json(uint32_t mask) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if (mask & (UINT32_C(1) << i))
                        if (json_object_array_add(a, json_object_new_int((int) i)) < 0) {
                                json_object_put(a);
                                return NULL;
                        }
        return a;
}

static int add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_blob(json_object *o, const char *key, bool hex, const uint8_t *p, size_t n) {
        _cleanup_free_ char *s = hex ? hex_encode(p, n) : base64_encode(p, n);

        if (!s)
                return -ENOMEM;
        return add(o, key, json_object_new_string(s));
}

int token_to_json(const struct token *t, json_object **ret) {
        _cleanup_(json_object_putp) json_object *j = NULL, *ks = NULL, *kdf = NULL, *tpm2 = NULL;
        char slot[16];
        int r;

        j = json_object_new_object();
        ks = json_object_new_array();
        kdf = json_object_new_object();
        tpm2 = json_object_new_object();
        if (!j || !ks || !kdf || !tpm2)
                return -ENOMEM;

        snprintf(slot, sizeof(slot), "%d", t->keyslot);
        if (json_object_array_add(ks, json_object_new_string(slot)) < 0)
                return -ENOMEM;

        r = add(kdf, "type", json_object_new_string("hkdf-sha256"));
        if (r >= 0)
                r = add_blob(kdf, "salt", false, t->salt, sizeof(t->salt));
        if (r >= 0)
                r = add(tpm2, "srk-handle", json_object_new_int64(t->tpm2.srk_handle));
        if (r >= 0)
                r = add_blob(tpm2, "srk-name", true, t->tpm2.srk_name, t->tpm2.srk_name_size);
        if (r >= 0)
                r = add(tpm2, "pcr-bank", json_object_new_string("sha256"));
        if (r >= 0)
                r = add(tpm2, "pcrs", pcr_mask_to_json(t->tpm2.pcr_mask));
        if (r >= 0)
                r = add(tpm2, "pin", json_object_new_boolean(t->tpm2.pin));
        if (r >= 0)
                r = add_blob(tpm2, "policy", true, t->tpm2.policy, t->tpm2.policy_size);
        if (r >= 0)
                r = add_blob(tpm2, "public", false, t->tpm2.public, t->tpm2.public_size);
        if (r >= 0)
                r = add_blob(tpm2, "private", false, t->tpm2.private, t->tpm2.private_size);
        if (r >= 0)
                r = add(j, "type", json_object_new_string(CVMSEAL_TOKEN_TYPE));
        if (r >= 0)
                r = add(j, "keyslots", TAKE_PTR(ks));
        if (r >= 0)
                r = add(j, "version", json_object_new_int(CVMSEAL_TOKEN_VERSION));
        if (r >= 0)
                r = add(j, "kdf", TAKE_PTR(kdf));
        if (r >= 0)
                r = add(j, "tpm2", TAKE_PTR(tpm2));
        if (r >= 0 && t->attest_policy) {
                json_object *a = json_object_new_object();

                r = add(j, "attest", a);
                if (r >= 0)
                        r = add_blob(a, "policy", false, t->attest_policy, t->attest_policy_size);
        }
        if (r >= 0 && t->has_hsm) {
                json_object *h = NULL;

                r = hsm_binding_to_json(&t->hsm, &h);
                if (r >= 0)
                        r = add(j, "hsm", h);
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(j);
        return 0;
}
