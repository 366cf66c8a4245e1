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
#include "json-util.h"
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
        free(t->tpm2.import_seed);
        free(t->tpm2.pubkey);
        free(t->tpm2.pubkey_name);
        hsm_binding_done(&t->hsm);
        free(t->attest_policy);
        memset(t, 0, sizeof(*t));
}

static const struct json_doc doc_top = { "cvmseal token", "" }, doc_kdf = { "cvmseal token", "kdf." },
                             doc_tpm2 = { "cvmseal token", "tpm2." }, doc_attest = { "cvmseal token", "attest." },
                             doc_import = { "cvmseal token", "tpm2.import." },
                             doc_pubkey = { "cvmseal token", "tpm2.public-key." };

static int get_int(const struct json_doc *d, json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret) {
        json_object *v = json_member(d, o, key, json_type_int);
        int64_t i;

        if (!v)
                return -EBADMSG;
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < min || i > max)
                return json_bad(d, key, "is out of range");
        *ret = i;
        return 0;
}

static int parse_tpm2(json_object *o, struct token *t) {
        static const char *const known[] = { "srk-handle", "srk-name", "pcr-bank", "pcrs", "pin",
                                             "policy", "public", "private", "import", "public-key", NULL };
        const struct json_doc *d = &doc_tpm2;
        json_object *v, *pcrs;
        int64_t i;
        int r;

        r = json_only_members(d, o, known);
        if (r < 0)
                return r;

        r = get_int(d, o, "srk-handle", 0x81000000, 0x81FFFFFF, &i);
        if (r < 0)
                return r;
        t->tpm2.srk_handle = (uint32_t) i;

        /* A name is the nameAlg (2 bytes) and its digest: sha256 here. */
        r = json_get_blob(d, o, "srk-name", JSON_BLOB_HEX, 34, 34, &t->tpm2.srk_name, &t->tpm2.srk_name_size);
        if (r < 0)
                return r;

        v = json_member(d, o, "pcr-bank", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!streq_ptr(json_object_get_string(v), "sha256"))
                return json_bad(d, "pcr-bank", "names a bank other than sha256");
        t->tpm2.pcr_bank = strdup("sha256");
        if (!t->tpm2.pcr_bank)
                return -ENOMEM;

        pcrs = json_member(d, o, "pcrs", json_type_array);
        if (!pcrs)
                return -EBADMSG;
        if (json_object_array_length(pcrs) == 0 || json_object_array_length(pcrs) > CVMSEAL_PCR_MAX)
                return json_bad(d, "pcrs", "has the wrong number of entries");
        for (size_t k = 0; k < json_object_array_length(pcrs); k++) {
                json_object *e = json_object_array_get_idx(pcrs, k);
                int64_t pcr;

                if (!json_object_is_type(e, json_type_int))
                        return json_bad(d, "pcrs", "has an entry that is not a number");
                pcr = json_object_get_int64(e);
                if (pcr < 0 || pcr >= CVMSEAL_PCR_MAX)
                        return json_bad(d, "pcrs", "has an entry out of range");
                if (t->tpm2.pcr_mask & (UINT32_C(1) << pcr))
                        return json_bad(d, "pcrs", "has a duplicate entry");
                t->tpm2.pcr_mask |= UINT32_C(1) << pcr;
        }

        v = json_member(d, o, "pin", json_type_boolean);
        if (!v)
                return -EBADMSG;
        t->tpm2.pin = json_object_get_boolean(v);

        r = json_get_blob(d, o, "policy", JSON_BLOB_HEX, 32, 32, &t->tpm2.policy, &t->tpm2.policy_size);
        if (r < 0)
                return r;
        r = json_get_blob(d, o, "public", 0, 4, TOKEN_BLOB_MAX, &t->tpm2.public, &t->tpm2.public_size);
        if (r < 0)
                return r;
        r = json_get_blob(d, o, "private", 0, 4, TOKEN_BLOB_MAX, &t->tpm2.private, &t->tpm2.private_size);
        if (r < 0)
                return r;

        /* Optional: sealed offline, "private" is a duplicate to import with this seed. */
        if (json_object_object_get_ex(o, "import", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        return json_bad(d, "import", "is not an object");
                r = json_only_members(&doc_import, v, (const char *const[]) { "seed", NULL });
                if (r < 0)
                        return r;
                /* A TPM2B_ENCRYPTED_SECRET: an RSA-OAEP ciphertext or a marshalled ECC point. */
                r = json_get_blob(&doc_import, v, "seed", 0, 4, 2 + 512, &t->tpm2.import_seed,
                                  &t->tpm2.import_seed_size);
                if (r < 0)
                        return r;
        }

        /* Optional: sealed to PolicyAuthorize by this key (--tpm2-public-key, signed-policy.h). */
        if (json_object_object_get_ex(o, "public-key", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        return json_bad(d, "public-key", "is not an object");
                r = json_only_members(&doc_pubkey, v, (const char *const[]) { "public", "name", NULL });
                if (r < 0)
                        return r;
                r = json_get_blob(&doc_pubkey, v, "public", 0, 4, TOKEN_BLOB_MAX, &t->tpm2.pubkey,
                                  &t->tpm2.pubkey_size);
                if (r < 0)
                        return r;
                r = json_get_blob(&doc_pubkey, v, "name", JSON_BLOB_HEX, 34, 34, &t->tpm2.pubkey_name,
                                  &t->tpm2.pubkey_name_size);
                if (r < 0)
                        return r;
        }
        return 0;
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

        v = json_member(&doc_top, j, "type", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!streq_ptr(json_object_get_string(v), CVMSEAL_TOKEN_TYPE))
                return json_bad(&doc_top, "type", "is not \"" CVMSEAL_TOKEN_TYPE "\"");

        r = get_int(&doc_top, j, "version", 0, INT_MAX, &i);
        if (r < 0)
                return r;
        if (i != CVMSEAL_TOKEN_VERSION)
                return log_debug_errno(-EBADMSG, "cvmseal token: version %" PRId64 " is not supported (this is version %d)",
                                       i, CVMSEAL_TOKEN_VERSION);
        t.version = (int) i;

        r = json_only_members(&doc_top, j, known);
        if (r < 0)
                return r;

        /* LUKS2 keeps keyslot numbers as strings; a cvmseal token opens exactly one. */
        ks = json_member(&doc_top, j, "keyslots", json_type_array);
        if (!ks)
                return -EBADMSG;
        if (json_object_array_length(ks) != 1)
                return json_bad(&doc_top, "keyslots", "does not name exactly one keyslot");
        v = json_object_array_get_idx(ks, 0);
        if (!json_object_is_type(v, json_type_string))
                return json_bad(&doc_top, "keyslots", "has an entry that is not a string");
        s = json_object_get_string(v);
        errno = 0;
        slot = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || slot < 0 || slot > 31)
                return json_bad(&doc_top, "keyslots", "has an entry that is not a keyslot number");
        t.keyslot = (int) slot;

        kdf = json_member(&doc_top, j, "kdf", json_type_object);
        if (!kdf)
                return -EBADMSG;
        r = json_only_members(&doc_kdf, kdf, (const char *const[]) { "type", "salt", NULL });
        if (r < 0)
                return r;
        v = json_member(&doc_kdf, kdf, "type", json_type_string);
        if (!v)
                return -EBADMSG;
        if (!streq_ptr(json_object_get_string(v), "hkdf-sha256"))
                return json_bad(&doc_kdf, "type", "is not \"hkdf-sha256\"");
        r = json_get_blob(&doc_kdf, kdf, "salt", 0, sizeof(t.salt), sizeof(t.salt), &salt, &salt_size);
        if (r < 0)
                return r;
        memcpy(t.salt, salt, sizeof(t.salt));

        tpm2 = json_member(&doc_top, j, "tpm2", json_type_object);
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
                        return json_bad(&doc_top, "attest", "is not an object");
                r = json_only_members(&doc_attest, v, (const char *const[]) { "policy", NULL });
                if (r < 0)
                        return r;
                r = json_get_blob(&doc_attest, v, "policy", 0, 2, 65536, &t.attest_policy, &t.attest_policy_size);
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

        r = json_add(kdf, "type", json_object_new_string("hkdf-sha256"));
        if (r >= 0)
                r = json_add_blob(kdf, "salt", false, t->salt, sizeof(t->salt));
        if (r >= 0)
                r = json_add(tpm2, "srk-handle", json_object_new_int64(t->tpm2.srk_handle));
        if (r >= 0)
                r = json_add_blob(tpm2, "srk-name", true, t->tpm2.srk_name, t->tpm2.srk_name_size);
        if (r >= 0)
                r = json_add(tpm2, "pcr-bank", json_object_new_string("sha256"));
        if (r >= 0)
                r = json_add(tpm2, "pcrs", pcr_mask_to_json(t->tpm2.pcr_mask));
        if (r >= 0)
                r = json_add(tpm2, "pin", json_object_new_boolean(t->tpm2.pin));
        if (r >= 0)
                r = json_add_blob(tpm2, "policy", true, t->tpm2.policy, t->tpm2.policy_size);
        if (r >= 0)
                r = json_add_blob(tpm2, "public", false, t->tpm2.public, t->tpm2.public_size);
        if (r >= 0)
                r = json_add_blob(tpm2, "private", false, t->tpm2.private, t->tpm2.private_size);
        if (r >= 0 && t->tpm2.import_seed) {
                json_object *imp = json_object_new_object();

                r = json_add(tpm2, "import", imp);
                if (r >= 0)
                        r = json_add_blob(imp, "seed", false, t->tpm2.import_seed, t->tpm2.import_seed_size);
        }
        if (r >= 0 && t->tpm2.pubkey) {
                json_object *pk = json_object_new_object();

                r = json_add(tpm2, "public-key", pk);
                if (r >= 0)
                        r = json_add_blob(pk, "public", false, t->tpm2.pubkey, t->tpm2.pubkey_size);
                if (r >= 0)
                        r = json_add_blob(pk, "name", true, t->tpm2.pubkey_name, t->tpm2.pubkey_name_size);
        }
        if (r >= 0)
                r = json_add(j, "type", json_object_new_string(CVMSEAL_TOKEN_TYPE));
        if (r >= 0)
                r = json_add(j, "keyslots", TAKE_PTR(ks));
        if (r >= 0)
                r = json_add(j, "version", json_object_new_int(CVMSEAL_TOKEN_VERSION));
        if (r >= 0)
                r = json_add(j, "kdf", TAKE_PTR(kdf));
        if (r >= 0)
                r = json_add(j, "tpm2", TAKE_PTR(tpm2));
        if (r >= 0 && t->attest_policy) {
                json_object *a = json_object_new_object();

                r = json_add(j, "attest", a);
                if (r >= 0)
                        r = json_add_blob(a, "policy", false, t->attest_policy, t->attest_policy_size);
        }
        if (r >= 0 && t->has_hsm) {
                json_object *h = NULL;

                r = hsm_binding_to_json(&t->hsm, &h);
                if (r >= 0)
                        r = json_add(j, "hsm", h);
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(j);
        return 0;
}
