/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pending records that keep every keyslot change of cvmseal recoverable after a kill at any
 * moment (pending.h): written before the first change of enroll, reseal and rotate, finished by the
 * next of them.
 */
#include <errno.h>
#include <string.h>

#include <openssl/hmac.h>

#include "json-util.h"
#include "kdf.h"
#include "log.h"
#include "luks.h"
#include "pending.h"
#include "secret.h"
#include "token.h"

/* ---- keyslots ---- */

static bool keyslot_referenced(struct crypt_device *cd, int s) {
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                if (crypt_token_is_assigned(cd, id, s) == 0)
                        return true;
        return false;
}

/* Is keyslot s one that cvmseal added with this iteration count (PBKDF2-SHA256)? */
static bool keyslot_fingerprint(struct crypt_device *cd, int s, unsigned iterations) {
        struct crypt_pbkdf_type pbkdf = {};

        if (crypt_keyslot_get_pbkdf(cd, s, &pbkdf) < 0)
                return false;
        return streq_ptr(pbkdf.type, CRYPT_KDF_PBKDF2) && streq_ptr(pbkdf.hash, "sha256") &&
               pbkdf.iterations == iterations;
}

/* Destroys keyslot s when it is cvmseal's (the fingerprint), no token uses it, and it is not the last
 * one.  0 also when it leaves it alone. */
static int keyslot_collect(struct crypt_device *cd, int s, unsigned iterations) {
        int r;

        if (s < 0 || !luks_keyslot_active(cd, s))
                return 0;
        if (keyslot_referenced(cd, s)) {
                log_debug("Keyslot %d is in use by a token: kept", s);
                return 0;
        }
        if (!keyslot_fingerprint(cd, s, iterations)) {
                log_debug("Keyslot %d is not the one cvmseal recorded (its PBKDF differs): kept", s);
                return 0;
        }
        if (!luks_has_other_keyslot(cd, UINT32_C(1) << s)) {
                log_debug("Keyslot %d is the last keyslot: kept", s);
                return 0;
        }
        r = crypt_keyslot_destroy(cd, s);
        if (r < 0)
                return log_debug_errno(r, "Cannot remove keyslot %d", s);
        log_debug("Removed keyslot %d", s);
        return 0;
}

/* Is token id a cvmseal token that opens keyslot s? */
static bool token_is_cvmseal_for(struct crypt_device *cd, int id, int s) {
        const char *json = NULL;

        if (id < 0 || s < 0 || crypt_token_json_get(cd, id, &json) < 0)
                return false;
        return token_json_is_cvmseal(json) && crypt_token_is_assigned(cd, id, s) == 0;
}

/* ---- the record ---- */

static const struct json_doc pending_doc = { "cvmseal-pending record", "" };

/* The record as JSON; with_mac adds its MAC (a record is authenticated over its text without one). */
static int pending_json(const struct pending *p, bool with_mac, char **ret);

/* HMAC-SHA256 over the record's text without its MAC, keyed from the volume key (pending.h). */
static int pending_mac(const struct pending *p, uint8_t ret[32]) {
        _cleanup_free_ char *text = NULL;
        unsigned n = 0;
        int r;

        r = pending_json(p, false, &text);
        if (r < 0)
                return r;
        if (!HMAC(EVP_sha256(), p->key, sizeof(p->key), (const uint8_t *) text, strlen(text), ret, &n) || n != 32)
                return -EIO;
        return 0;
}

static int pending_json(const struct pending *p, bool with_mac, char **ret) {
        _cleanup_(json_object_putp) json_object *j = json_object_new_object();
        json_object *added = json_object_new_array(), *keyslots = json_object_new_array();
        int r;

        if (!j) {
                json_object_put(added);
                json_object_put(keyslots);
                return -ENOMEM;
        }
        r = json_add(j, "type", json_object_new_string(PENDING_TOKEN_TYPE));
        if (r >= 0)
                r = json_add(j, "keyslots", keyslots);
        else
                json_object_put(keyslots);
        if (r >= 0)
                r = json_add(j, "version", json_object_new_int(PENDING_VERSION));
        if (r >= 0)
                r = json_add(j, "state", json_object_new_string(p->replacing ? "replacing" : "adding"));
        if (r >= 0)
                r = json_add(j, "token", json_object_new_int(p->token));
        if (r >= 0)
                r = json_add(j, "added", added);
        else
                json_object_put(added);
        for (unsigned i = 0; r >= 0 && i < p->n_slots; i++) {
                json_object *a = json_object_new_object();

                r = a ? json_object_array_add(added, a) : -ENOMEM;
                if (r < 0) {
                        json_object_put(a);
                        r = -ENOMEM;
                        break;
                }
                r = json_add(a, "keyslot", json_object_new_int(p->slots[i]));
                if (r >= 0)
                        r = json_add(a, "iterations", json_object_new_int64(p->iterations[i]));
        }
        if (r >= 0 && p->old_token >= 0) {
                json_object *o = json_object_new_object();

                r = json_add(j, "replaces", o);
                if (r >= 0)
                        r = json_add(o, "token", json_object_new_int(p->old_token));
                if (r >= 0)
                        r = json_add(o, "keyslot", json_object_new_int(p->old_keyslot));
                if (r >= 0)
                        r = json_add(o, "iterations", json_object_new_int64(p->old_iterations));
                if (r >= 0)
                        r = json_add_blob(o, "digest", true, p->old_digest, sizeof(p->old_digest));
        }
        if (r >= 0 && with_mac) {
                uint8_t mac[32];

                r = pending_mac(p, mac);
                if (r >= 0)
                        r = json_add_blob(j, "mac", true, mac, sizeof(mac));
        }
        if (r < 0)
                return r;
        *ret = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        return *ret ? 0 : -ENOMEM;
}

static int get_int(json_object *o, const char *key, int max, int *ret) {
        json_object *v = json_member(&pending_doc, o, key, json_type_int);
        int64_t n;

        if (!v)
                return -EBADMSG;
        n = json_object_get_int64(v);
        if (n < 0 || n > max)
                return json_bad(&pending_doc, key, "is out of range");
        *ret = (int) n;
        return 0;
}

/* Parses a record strictly and authenticates it with key (pending.h): -EBADMSG when it is malformed,
 * of another version, or its MAC is not the one key gives. */
static int pending_from_string(const char *s, int id, const uint8_t key[32], struct pending *ret) {
        static const char *const known[] = { "type", "keyslots", "version", "state", "token", "added", "replaces",
                                             "mac", NULL };
        static const char *const known_slot[] = { "keyslot", "iterations", NULL };
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(s);
        struct pending p = { .id = id, .old_token = -1, .old_keyslot = -1 };
        _cleanup_free_ uint8_t *mac = NULL;
        uint8_t want[32];
        size_t mac_size = 0;
        json_object *v, *added, *o;
        int r, n = 0;

        if (!j || !json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "Token %d: the pending record is not a JSON object", id);
        r = json_only_members(&pending_doc, j, known);
        if (r < 0)
                return r;
        r = get_int(j, "version", INT32_MAX, &n);
        if (r < 0)
                return r;
        if (n != PENDING_VERSION)
                return json_bad(&pending_doc, "version", "is not 2");
        v = json_member(&pending_doc, j, "state", json_type_string);
        if (!v)
                return -EBADMSG;
        if (streq_ptr(json_object_get_string(v), "replacing"))
                p.replacing = true;
        else if (!streq_ptr(json_object_get_string(v), "adding"))
                return json_bad(&pending_doc, "state", "is neither \"adding\" nor \"replacing\"");
        r = get_int(j, "token", crypt_token_max(CRYPT_LUKS2) - 1, &p.token);
        if (r < 0)
                return r;

        added = json_member(&pending_doc, j, "added", json_type_array);
        if (!added)
                return -EBADMSG;
        if (json_object_array_length(added) > PENDING_SLOTS_MAX)
                return json_bad(&pending_doc, "added", "has too many keyslots");
        for (size_t i = 0; i < json_object_array_length(added); i++) {
                json_object *a = json_object_array_get_idx(added, i);

                if (!json_object_is_type(a, json_type_object))
                        return json_bad(&pending_doc, "added", "holds something other than objects");
                r = json_only_members(&pending_doc, a, known_slot);
                if (r >= 0)
                        r = get_int(a, "keyslot", crypt_keyslot_max(CRYPT_LUKS2) - 1, &p.slots[i]);
                if (r >= 0)
                        r = get_int(a, "iterations", INT32_MAX, &n);
                if (r < 0)
                        return r;
                p.iterations[i] = (unsigned) n;
                p.n_slots++;
        }

        if (json_object_object_get_ex(j, "replaces", &o)) {
                if (!json_object_is_type(o, json_type_object))
                        return json_bad(&pending_doc, "replaces", "is not an object");
                _cleanup_free_ uint8_t *digest = NULL;
                size_t digest_size = 0;

                r = json_only_members(&pending_doc, o,
                                      (const char *const[]) { "token", "keyslot", "iterations", "digest", NULL });
                if (r >= 0)
                        r = get_int(o, "token", crypt_token_max(CRYPT_LUKS2) - 1, &p.old_token);
                if (r >= 0)
                        r = get_int(o, "keyslot", crypt_keyslot_max(CRYPT_LUKS2) - 1, &p.old_keyslot);
                if (r >= 0)
                        r = get_int(o, "iterations", INT32_MAX, &n);
                if (r >= 0)
                        r = json_get_blob(&pending_doc, o, "digest", JSON_BLOB_HEX, 32, 32, &digest, &digest_size);
                if (r < 0)
                        return r;
                p.old_iterations = (unsigned) n;
                memcpy(p.old_digest, digest, 32);
        } else if (p.replacing)
                return json_bad(&pending_doc, "replaces", "is missing, with state \"replacing\"");

        /* The header shows everything a record says: only the MAC, keyed from the volume key, tells
         * that cvmseal wrote it (and so that the keyslots it names are cvmseal's to destroy). */
        r = json_get_blob(&pending_doc, j, "mac", JSON_BLOB_HEX, 32, 32, &mac, &mac_size);
        if (r < 0)
                return r;
        memcpy(p.key, key, sizeof(p.key));
        r = pending_mac(&p, want);
        if (r < 0)
                return r;
        if (!secret_equal(mac, want, sizeof(want)))
                return log_debug_errno(-EBADMSG, "Token %d: the pending record's MAC is not this volume's", id);

        *ret = p;
        return 0;
}

static int pending_write(struct crypt_device *cd, struct pending *p) {
        _cleanup_free_ char *s = NULL;
        int r, id = p->id;

        if (id < 0) {
                for (id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                        if (id != p->token && crypt_token_status(cd, id, NULL) == CRYPT_TOKEN_INACTIVE)
                                break;
                if (id >= crypt_token_max(CRYPT_LUKS2))
                        return log_debug_errno(-ENOSPC, "No free LUKS2 token for the pending record");
        }
        r = pending_json(p, true, &s);
        if (r < 0)
                return r;
        r = crypt_token_json_set(cd, id, s);
        if (r < 0)
                return log_debug_errno(r == -EINVAL ? -ENOSPC : r, "Cannot write the pending record (token %d)", id);
        p->id = id;
        return 0;
}

static int pending_remove(struct crypt_device *cd, struct pending *p) {
        int r;

        if (p->id < 0)
                return 0;
        r = crypt_token_json_set(cd, p->id, NULL);
        if (r < 0)
                return log_debug_errno(r, "Cannot remove the pending record (token %d)", p->id);
        p->id = -1;
        return 0;
}

int pending_key(const cvmseal_secret *volume_key, const char *uuid, uint8_t ret[32]) {
        uint8_t info[sizeof(PENDING_KEY_INFO) + 36];

        if (!volume_key || !uuid || strlen(uuid) != 36)
                return -EINVAL;
        memcpy(info, PENDING_KEY_INFO, sizeof(PENDING_KEY_INFO)); /* with its NUL */
        memcpy(info + sizeof(PENDING_KEY_INFO), uuid, 36);
        return kdf_hkdf_sha256(cvmseal_secret_data(volume_key), cvmseal_secret_size(volume_key), NULL, 0, info,
                               sizeof(info), ret, 32);
}

int pending_plan(struct crypt_device *cd, const cvmseal_secret *volume_key, int token, unsigned n_slots, int old_token,
                 int old_keyslot, struct pending *ret) {
        struct pending p = { .id = -1, .token = token, .n_slots = n_slots, .old_token = old_token,
                             .old_keyslot = old_keyslot };
        unsigned found = 0;
        int r;

        if (n_slots == 0 || n_slots > PENDING_SLOTS_MAX)
                return -EINVAL;
        r = pending_key(volume_key, crypt_get_uuid(cd), p.key);
        if (r < 0)
                return r;
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2) && found < n_slots; s++) {
                uint16_t rnd;

                if (crypt_keyslot_status(cd, s) != CRYPT_SLOT_INACTIVE)
                        continue;
                r = kdf_random(&rnd, sizeof(rnd));
                if (r < 0)
                        return r;
                p.slots[found] = s;
                p.iterations[found] = 1001U + rnd % 1024U;
                found++;
        }
        if (found < n_slots)
                return log_debug_errno(-ENOSPC, "No free keyslot left");
        if (old_keyslot >= 0) {
                struct crypt_pbkdf_type pbkdf = {};

                r = crypt_keyslot_get_pbkdf(cd, old_keyslot, &pbkdf);
                if (r < 0)
                        return log_debug_errno(r, "Cannot read the PBKDF of keyslot %d", old_keyslot);
                p.old_iterations = pbkdf.iterations;
        }
        *ret = p;
        return 0;
}

int pending_start(struct crypt_device *cd, struct pending *p) {
        int r;

        r = pending_write(cd, p);
        if (r < 0)
                return r;
        log_debug("Pending record in token %d: token %d, keyslot(s) %d%s", p->id, p->token, p->slots[0],
                  p->n_slots > 1 ? " and one more" : "");
        return 0;
}

uint32_t pending_slot_mask(const struct pending *p) {
        uint32_t m = 0;

        for (unsigned i = 0; i < p->n_slots; i++)
                if (p->slots[i] >= 0 && p->slots[i] < 32)
                        m |= UINT32_C(1) << p->slots[i];
        return m;
}

int pending_keyslot_add(struct crypt_device *cd, const struct pending *p, unsigned i, const cvmseal_secret *volume_key,
                        const cvmseal_secret *passphrase, bool unbound) {
        const struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = "sha256",
                .iterations = p->iterations[i],
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        int r;

        if (i >= p->n_slots)
                return -EINVAL;
        r = crypt_set_pbkdf_type(cd, &pbkdf);
        if (r < 0)
                return log_debug_errno(r, "Cannot select PBKDF2");
        if (unbound)
                /* A new volume key (a rekey): bound to no segment until the re-encryption starts. */
                r = crypt_keyslot_add_by_key(cd, p->slots[i], (const char *) cvmseal_secret_data(volume_key),
                                             cvmseal_secret_size(volume_key), (const char *) cvmseal_secret_data(passphrase),
                                             cvmseal_secret_size(passphrase), CRYPT_VOLUME_KEY_NO_SEGMENT | CRYPT_VOLUME_KEY_DIGEST_REUSE);
        else
                r = crypt_keyslot_add_by_volume_key(cd, p->slots[i], (const char *) cvmseal_secret_data(volume_key),
                                                    cvmseal_secret_size(volume_key),
                                                    (const char *) cvmseal_secret_data(passphrase),
                                                    cvmseal_secret_size(passphrase));
        if (r == -ENOMEM || r == -EINVAL || r == -ENOSPC)
                return log_debug_errno(-ENOSPC, "Cannot add keyslot %d (%s)", p->slots[i], strerror(-r));
        if (r < 0)
                return log_debug_errno(r, "Cannot add keyslot %d", p->slots[i]);
        return r;
}

int pending_rollback(struct crypt_device *cd, struct pending *p) {
        int r;

        /* The new token first: a token must never outlive its keyslot. */
        for (unsigned i = 0; i < p->n_slots; i++)
                if (token_is_cvmseal_for(cd, p->token, p->slots[i])) {
                        r = crypt_token_json_set(cd, p->token, NULL);
                        if (r < 0)
                                return log_debug_errno(r, "Cannot remove the new token %d", p->token);
                        log_debug("Removed the unfinished token %d", p->token);
                        break;
                }
        for (unsigned i = 0; i < p->n_slots; i++) {
                r = keyslot_collect(cd, p->slots[i], p->iterations[i]);
                if (r < 0)
                        return r;
        }
        return pending_remove(cd, p);
}

/* Is token id the token whose digest is digest? */
static bool token_has_digest(struct crypt_device *cd, int id, const uint8_t digest[32]) {
        _cleanup_(token_done) struct token t = {};
        const char *json = NULL;
        uint8_t d[32];

        if (id < 0 || crypt_token_json_get(cd, id, &json) < 0 || token_from_string(json, &t) < 0 ||
            token_digest(&t, d) < 0)
                return false;
        return secret_equal(d, digest, 32);
}

/* Removes the old token and its keyslot; the new one is there and verified.  The old token only when
 * it is the one recorded (its digest): a record written back later must not remove a token that
 * took the same id since. */
static int pending_forward(struct crypt_device *cd, struct pending *p) {
        int r;

        if (token_is_cvmseal_for(cd, p->old_token, p->old_keyslot) && token_has_digest(cd, p->old_token, p->old_digest)) {
                r = crypt_token_json_set(cd, p->old_token, NULL);
                if (r < 0)
                        return log_debug_errno(r, "Cannot remove the old token %d", p->old_token);
                log_debug("Removed the old token %d", p->old_token);
        }
        r = keyslot_collect(cd, p->old_keyslot, p->old_iterations);
        if (r < 0)
                return r;
        return pending_remove(cd, p);
}

int pending_commit(struct crypt_device *cd, struct pending *p) {
        int r;

        if (p->old_token >= 0) {
                p->replacing = true;
                r = pending_write(cd, p);
                if (r < 0)
                        return r;
                return pending_forward(cd, p);
        }
        return pending_remove(cd, p);
}

int pending_gc(struct crypt_device *cd, const cvmseal_secret *volume_key) {
        uint8_t key[32];
        int r;

        r = pending_key(volume_key, crypt_get_uuid(cd), key);
        if (r < 0)
                return r;
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                const char *type = NULL, *json = NULL;
                struct pending p;

                if (crypt_token_status(cd, id, &type) == CRYPT_TOKEN_INACTIVE || !streq_ptr(type, PENDING_TOKEN_TYPE))
                        continue;
                if (crypt_token_json_get(cd, id, &json) < 0)
                        continue;
                r = pending_from_string(json, id, key, &p);
                if (r < 0) {
                        log_debug("Token %d: a pending record that is malformed or not this volume's, left alone", id);
                        continue;
                }
                /* "replacing" rolls forward only with the new token in place. */
                if (p.replacing && p.n_slots > 0 && token_is_cvmseal_for(cd, p.token, p.slots[0])) {
                        log_debug("Token %d: finishing an interrupted replacement of token %d by token %d", id,
                                  p.old_token, p.token);
                        r = pending_forward(cd, &p);
                } else if (!p.replacing && p.n_slots > 0 && token_is_cvmseal_for(cd, p.token, p.slots[0])) {
                        /* The addition got as far as its token, which is whole (libcryptsetup commits a
                         * token at once) and was sealed and verified before it was written.  Keep it: a
                         * record written back after its operation finished (the host saw it go by)
                         * would otherwise remove a live token and its keyslot. */
                        log_debug("Token %d: the addition of token %d got as far as its token: kept", id, p.token);
                        /* A replacement finishes as one (the old token goes, when it is the recorded one). */
                        r = p.old_token >= 0 ? pending_forward(cd, &p) : pending_remove(cd, &p);
                } else {
                        log_debug("Token %d: undoing an interrupted addition of token %d", id, p.token);
                        r = pending_rollback(cd, &p);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}
