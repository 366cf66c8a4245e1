/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cvmseal LUKS2 token (docs/token-format.md).  Everything needed to rebuild the keyslot
 * passphrase, except the secrets, lives here; the token is read from an unauthenticated disk, so
 * it is validated strictly before any member is used.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <libcryptsetup.h>

#include "encoding.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "secret.h"
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

static int parse_pcr_values(json_object *o, struct token *t) {
        const struct json_doc *d = &doc_tpm2;

        if (!json_object_is_type(o, json_type_object))
                return json_bad(d, "pcr-values", "is not an object");
        json_object_object_foreach(o, key, value) {
                _cleanup_free_ uint8_t *digest = NULL;
                size_t size = 0;
                char canonical[4];
                char *end;
                long pcr;
                int r;

                errno = 0;
                pcr = strtol(key, &end, 10);
                if (errno != 0 || end == key || *end || pcr < 0 || pcr >= (long) CVMSEAL_PCR_MAX)
                        return json_bad(d, "pcr-values", "has a key that is not a PCR number");
                snprintf(canonical, sizeof(canonical), "%ld", pcr);
                if (!streq_ptr(canonical, key))
                        return json_bad(d, "pcr-values", "has a key that is not a PCR number");
                if (t->tpm2.pcr_values_mask & (UINT32_C(1) << pcr))
                        return json_bad(d, "pcr-values", "has a duplicate key");
                if (!json_object_is_type(value, json_type_string))
                        return json_bad(d, "pcr-values", "has a value that is not a string");
                r = json_get_blob(d, o, key, JSON_BLOB_HEX, 32, 32, &digest, &size);
                if (r < 0)
                        return r;
                memcpy(t->tpm2.pcr_values[pcr], digest, 32);
                t->tpm2.pcr_values_mask |= UINT32_C(1) << pcr;
        }
        if (t->tpm2.pcr_values_mask == 0)
                return json_bad(d, "pcr-values", "is empty");
        return 0;
}

static int parse_tpm2(json_object *o, struct token *t) {
        static const char *const known[] = { "srk-handle", "srk-name", "pcr-bank", "pcrs", "pcr-values", "pin",
                                             "policy", "public", "private", "import", "public-key", NULL };
        const struct json_doc *d = &doc_tpm2;
        json_object *v, *pcrs;
        int64_t i = 0;
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

        /* Version 2: the values sealed to, keyed by PCR number in canonical decimal. */
        if (json_object_object_get_ex(o, "pcr-values", &v)) {
                if (t->version < 2)
                        return json_bad(d, "pcr-values", "is not a member of version 1");
                r = parse_pcr_values(v, t);
                if (r < 0)
                        return r;
        } else if (t->version >= 2)
                return json_bad(d, "pcr-values", "is missing");

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
        json_object *v, *kdf, *tpm2;
        _cleanup_free_ uint8_t *salt = NULL;
        size_t salt_size;
        int r;

        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "cvmseal token: not a JSON object");

        r = json_get_type_version(&doc_top, j, CVMSEAL_TOKEN_TYPE, CVMSEAL_TOKEN_VERSION_MIN, CVMSEAL_TOKEN_VERSION,
                                  &t.version);
        if (r < 0)
                return r;

        r = json_only_members(&doc_top, j, known);
        if (r < 0)
                return r;

        /* A cvmseal token opens exactly one keyslot. */
        r = json_get_keyslot(&doc_top, j, false, &t.keyslot);
        if (r < 0)
                return r;

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
                /* The header never chooses code to load, nor a file to read a PIN from (an OpenSSL
                 * provider's binding names its provider by a bare name, which local configuration
                 * must allow, and a store URI: hsm.c checks both). */
                r = t.hsm.provider ? 0 : hsm_uri_stored_check(t.hsm.uri);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return json_bad(&doc_top, "hsm.uri", "names a module or a PIN source: only local configuration may");
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
        if (r >= 0 && t->version >= 2) {
                json_object *pv = json_object_new_object();

                r = json_add(tpm2, "pcr-values", pv);
                for (unsigned i = 0; r >= 0 && i < CVMSEAL_PCR_MAX; i++) {
                        char key[4];

                        if (!(t->tpm2.pcr_values_mask & (UINT32_C(1) << i)))
                                continue;
                        snprintf(key, sizeof(key), "%u", i);
                        r = json_add_blob(pv, key, true, t->tpm2.pcr_values[i], 32);
                }
        }
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
                r = json_add(j, "version", json_object_new_int(t->version ?: CVMSEAL_TOKEN_VERSION));
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

int token_binding(const struct token *t, const char *uuid, int token_id, uint8_t ret[32]) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        json_object *tpm2;
        const char *canonical;
        uint8_t id[4];
        unsigned n = 0;
        int r;

        if (!t || !uuid || strlen(uuid) != 36 || token_id < 0 || t->version < 2)
                return -EINVAL;
        r = token_to_json(t, &j);
        if (r < 0)
                return r;
        /* What the TPM authenticates itself (the object's public and private areas are bound to each
         * other and to the SRK by the TPM's integrity checks; the import seed decrypts them) is left
         * out: the binding is chosen before Create makes them. */
        if (!json_object_object_get_ex(j, "tpm2", &tpm2))
                return -EIO;
        json_object_object_del(tpm2, "public");
        json_object_object_del(tpm2, "private");
        json_object_object_del(tpm2, "import");
        canonical = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!canonical)
                return -ENOMEM;

        id[0] = (uint8_t) ((uint32_t) token_id >> 24);
        id[1] = (uint8_t) ((uint32_t) token_id >> 16);
        id[2] = (uint8_t) ((uint32_t) token_id >> 8);
        id[3] = (uint8_t) token_id;
        md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(md, TOKEN_BINDING_PREFIX, sizeof(TOKEN_BINDING_PREFIX)) != 1 || /* with its NUL */
            EVP_DigestUpdate(md, uuid, 36) != 1 || EVP_DigestUpdate(md, id, 4) != 1 ||
            EVP_DigestUpdate(md, canonical, strlen(canonical)) != 1 || EVP_DigestFinal_ex(md, ret, &n) != 1 || n != 32)
                return -EIO;
        return 0;
}

int token_auth_value(const uint8_t binding[32], const cvmseal_secret *pin, uint8_t ret[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        uint8_t pin_digest[32];
        unsigned n = 0;
        int r = 0;

        if (pin && EVP_Digest(cvmseal_secret_data(pin), cvmseal_secret_size(pin), pin_digest, &n, EVP_sha256(), NULL) != 1)
                return -EIO;
        md = EVP_MD_CTX_new();
        if (!md)
                r = -ENOMEM;
        else if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, binding, 32) != 1 ||
                 (pin && EVP_DigestUpdate(md, pin_digest, 32) != 1) || EVP_DigestFinal_ex(md, ret, &n) != 1)
                r = -EIO;
        secure_wipe(pin_digest, sizeof(pin_digest));
        return r;
}

int token_digest(const struct token *t, uint8_t ret[32]) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        const char *text;
        unsigned n = 0;
        int r;

        r = token_to_json(t, &j);
        if (r < 0)
                return r;
        text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        if (EVP_Digest(text, strlen(text), ret, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;
        return 0;
}

/* ---- in the LUKS2 header ---- */

/* What an HSM binding is bound to: LUKS UUID (36 characters) || token id (big-endian). */
void binding_aad(const char *uuid, int token_id, uint8_t aad[40]) {
        uint32_t id = (uint32_t) token_id;

        memcpy(aad, uuid, 36);
        aad[36] = (uint8_t) (id >> 24);
        aad[37] = (uint8_t) (id >> 16);
        aad[38] = (uint8_t) (id >> 8);
        aad[39] = (uint8_t) id;
}

int token_add(struct crypt_device *cd, int id, const struct token *t) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        int r;

        r = token_to_json(t, &j);
        if (r < 0)
                return r;
        r = crypt_token_json_set(cd, id, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        if (r < 0)
                /* libcryptsetup answers -EINVAL when the JSON area has no room left. */
                return log_debug_errno(r == -EINVAL ? -ENOSPC : r, "Cannot write LUKS2 token %d", id);
        return 0;
}

int token_load(struct crypt_device *cd, int id, struct token *ret) {
        const char *json = NULL;
        int r;

        r = crypt_token_json_get(cd, id, &json);
        if (r < 0)
                return log_debug_errno(-ENOMEDIUM, "No token %d", id);
        if (!token_json_is_cvmseal(json))
                return log_debug_errno(-ENOMEDIUM, "Token %d is not a cvmseal token", id);
        r = token_from_string(json, ret);
        if (r < 0)
                return log_debug_errno(r, "Token %d is malformed", id);
        return 0;
}
