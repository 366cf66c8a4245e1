/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first-boot provisioning marker (docs/token-format.md, "The provisioning marker").
 *
 * `image encrypt` gives a new image a provisioning keyslot whose passphrase (32 random bytes in
 * base64) sits in clear in this token, with what the first boot is to enroll to (PCRs, an
 * attestation policy, an HSM key).  The first boot opens the keyslot with it, enrolls the volume to
 * the VM's own vTPM, then removes the marker and the provisioning keyslot.  The token is read from an
 * unauthenticated disk: it is parsed as strictly as the cvmseal token.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <libcryptsetup.h>
#include <openssl/evp.h>

#include "encoding.h"
#include "escrow.h"
#include "hsm.h"
#include "json-util.h"
#include "kdf.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "provision.h"
#include "secret.h"
#include "token.h"

static const struct json_doc doc_top = { "provisioning marker", "" },
                             doc_enroll = { "provisioning marker", "enroll." };

void provision_marker_done(struct provision_marker *m) {
        if (!m)
                return;
        cvmseal_secret_free(m->secret);
        free(m->attest_policy);
        free(m->hsm_uri);
        free(m->hsm_provider);
        free(m->recovery_key);
        *m = (struct provision_marker) { .token_id = -1, .keyslot = -1 };
}

/* A passphrase is exactly what the provisioning keyslot was made with: 44 characters of canonical
 * base64 that decode to 32 bytes. */
static int passphrase_check(const char *s, size_t n) {
        uint8_t *raw = NULL;
        size_t raw_size = 0;
        bool ok;
        int r;

        if (n != PROVISION_PASSPHRASE_SIZE || strlen(s) != n)
                return -EBADMSG;
        r = base64_decode(s, &raw, &raw_size);
        if (r == -ENOMEM)
                return r;       /* out of memory is not a malformed marker */
        if (r < 0)
                return -EBADMSG;
        ok = raw_size == 32;
        secure_wipe(raw, raw_size);
        free(raw);
        return ok ? 0 : -EBADMSG;
}

static int parse_enroll(json_object *o, struct provision_marker *m) {
        static const char *const known[] = { "pcrs", "attest-policy", "hsm", "hsm-provider", "recovery-key", "rekey",
                                             NULL };
        const struct json_doc *d = &doc_enroll;
        _cleanup_free_ uint8_t *policy = NULL;
        size_t policy_size = 0;
        json_object *v;
        int r;

        r = json_only_members(d, o, known);
        if (r < 0)
                return r;

        /* Optional: absent means the default PCRs of the first boot's enroll. */
        if (json_object_object_get_ex(o, "pcrs", &v)) {
                size_t n;

                if (!json_object_is_type(v, json_type_array))
                        return json_bad(d, "pcrs", "has the wrong type");
                n = json_object_array_length(v);
                if (n == 0 || n > CVMSEAL_PCR_MAX)
                        return json_bad(d, "pcrs", "has the wrong number of entries");
                for (size_t k = 0; k < n; k++) {
                        json_object *e = json_object_array_get_idx(v, k);
                        int64_t pcr;

                        if (!json_object_is_type(e, json_type_int))
                                return json_bad(d, "pcrs", "has an entry that is not a number");
                        errno = 0;
                        pcr = json_object_get_int64(e);
                        if (errno != 0 || pcr < 0 || pcr >= CVMSEAL_PCR_MAX)
                                return json_bad(d, "pcrs", "has an entry out of range");
                        if (m->pcr_mask & (UINT32_C(1) << pcr))
                                return json_bad(d, "pcrs", "has a duplicate entry");
                        m->pcr_mask |= UINT32_C(1) << pcr;
                }
        }

        /* Optional: the attestation policy's exact bytes, text without NUL. */
        r = json_get_blob(d, o, "attest-policy", JSON_BLOB_OPTIONAL, 1, PROVISION_POLICY_MAX, &policy, &policy_size);
        if (r < 0)
                return r;
        if (policy) {
                if (memchr(policy, 0, policy_size))
                        return json_bad(d, "attest-policy", "is not text");
                m->attest_policy = strndup((const char *) policy, policy_size);
                if (!m->attest_policy)
                        return -ENOMEM;
        }

        /* Optional: the owner's RSA public key, to which the first boot escrows the recovery key it
         * makes (escrow.h). */
        r = json_get_blob(d, o, "recovery-key", JSON_BLOB_OPTIONAL, 1, ESCROW_KEY_MAX, &m->recovery_key,
                          &m->recovery_key_size);
        if (r < 0)
                return r;
        if (m->recovery_key && escrow_key_check(m->recovery_key, m->recovery_key_size) < 0)
                return json_bad(d, "recovery-key", "is not an RSA public key of 2048 to 4096 bits");

        /* Optional: "rekey": false, the first boot keeps the image's volume key.  Written only as false:
         * true is the default, and a marker says it by leaving the member out. */
        if (json_object_object_get_ex(o, "rekey", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        return json_bad(d, "rekey", "has the wrong type");
                if (json_object_get_boolean(v))
                        return json_bad(d, "rekey", "is true, which is written by leaving it out");
                m->no_rekey = true;
        }

        /* Optional: an OpenSSL provider's key (docs/hsm.md): the provider by a bare name (never a
         * path: the disk chooses no code), "hsm" its OSSL_STORE URI.  Whether this machine allows the
         * provider is checked by the first boot, before any TPM command. */
        if (json_object_object_get_ex(o, "hsm-provider", &v)) {
                const char *name;
                json_object *u;

                if (!json_object_is_type(v, json_type_string))
                        return json_bad(d, "hsm-provider", "has the wrong type");
                name = json_object_get_string(v);
                if ((size_t) json_object_get_string_len(v) != strlen(name) || !hsm_provider_name_valid(name))
                        return json_bad(d, "hsm-provider", strchr(name, '/') ? "is a path, not a bare provider name"
                                                                             : "is not a bare provider name");
                if (!json_object_object_get_ex(o, "hsm", &u) || !json_object_is_type(u, json_type_string))
                        return json_bad(d, "hsm", "is missing or not a string, with hsm-provider");
                if ((size_t) json_object_get_string_len(u) != strlen(json_object_get_string(u)) ||
                    json_object_get_string_len(u) == 0 || strlen(json_object_get_string(u)) > PROVISION_URI_MAX)
                        return json_bad(d, "hsm", "has the wrong length");
                if (strstr(json_object_get_string(u), HSM_KEY_BLOB_PLACEHOLDER))
                        return json_bad(d, "hsm", "names a key blob, which a marker does not carry");
                m->hsm_provider = strdup(name);
                m->hsm_uri = strdup(json_object_get_string(u));
                if (!m->hsm_provider || !m->hsm_uri)
                        return -ENOMEM;
                return 0;
        }

        /* Optional: an HSM key URI, never with a PIN in it. */
        if (json_object_object_get_ex(o, "hsm", &v)) {
                _cleanup_free_ char *pub = NULL;
                const char *uri;

                if (!json_object_is_type(v, json_type_string))
                        return json_bad(d, "hsm", "has the wrong type");
                uri = json_object_get_string(v);
                if ((size_t) json_object_get_string_len(v) != strlen(uri) || strlen(uri) > PROVISION_URI_MAX)
                        return json_bad(d, "hsm", "has the wrong length");
                r = hsm_uri_public(uri, &pub);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return json_bad(d, "hsm", "is not an HSM URI this version knows");
                /* The marker comes from the disk: it names a key, never code or a PIN source. */
                r = hsm_uri_stored_check(uri);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return json_bad(d, "hsm", "names a module path or carries a PIN attribute");
                m->hsm_uri = strdup(uri);
                if (!m->hsm_uri)
                        return -ENOMEM;
        }
        return 0;
}

/* Frees a marker's JSON object after wiping json-c's copy of the secret. */
static void marker_json_putp(json_object **j) {
        json_object *p;

        if (!*j)
                return;
        if (json_object_is_type(*j, json_type_object))
                for (const char *const *k = (const char *const[]) { "secret", "passphrase", NULL }; *k; k++)
                        if (json_object_object_get_ex(*j, *k, &p) && json_object_is_type(p, json_type_string))
                                secure_wipe((char *) json_object_get_string(p), (size_t) json_object_get_string_len(p));
        json_object_put(*j);
}

int provision_marker_parse(const char *json, struct provision_marker *ret) {
        static const char *const known_v1[] = { "type", "keyslots", "version", "passphrase", "enroll", NULL },
                                 *const known_v2[] = { "type", "keyslots", "version", "secret", "enroll", NULL };
        _cleanup_(provision_marker_done) struct provision_marker m = { .token_id = -1, .keyslot = -1 };
        _cleanup_(marker_json_putp) json_object *j = NULL;
        enum json_tokener_error e;
        json_object *v;
        const char *secret_key;
        int r;

        j = json_tokener_parse_verbose(json, &e);
        if (!j)
                return log_debug_errno(-EBADMSG, "provisioning marker: not JSON (%s)", json_tokener_error_desc(e));
        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "provisioning marker: not a JSON object");

        r = json_get_type_version(&doc_top, j, PROVISION_TOKEN_TYPE, 1, PROVISION_TOKEN_VERSION, &m.version);
        if (r < 0)
                return r;

        r = json_only_members(&doc_top, j, m.version == 1 ? known_v1 : known_v2);
        if (r < 0)
                return r;

        /* One keyslot; none once the provisioning keyslot is destroyed (libcryptsetup takes a destroyed
         * keyslot out of its tokens): a first boot interrupted before it removed the marker. */
        r = json_get_keyslot(&doc_top, j, true, &m.keyslot);
        if (r < 0)
                return r;

        secret_key = m.version == 1 ? "passphrase" : "secret";
        v = json_member(&doc_top, j, secret_key, json_type_string);
        if (!v)
                return -EBADMSG;
        r = passphrase_check(json_object_get_string(v), (size_t) json_object_get_string_len(v));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return json_bad(&doc_top, secret_key, "is not the base64 of 32 bytes");
        m.secret = cvmseal_secret_new_from(json_object_get_string(v), PROVISION_PASSPHRASE_SIZE);
        if (!m.secret)
                return -ENOMEM;

        v = json_member(&doc_top, j, "enroll", json_type_object);
        if (!v)
                return -EBADMSG;
        r = parse_enroll(v, &m);
        if (r < 0)
                return r;

        *ret = m;
        m = (struct provision_marker) {};
        return 0;
}

/* The marker as JSON text: version 2, with "keyslots" and "secret" when keyslot >= 0 and secret are
 * given; without both, the canonical form that the keyslot's passphrase is bound to. */
static int marker_to_string(int keyslot, const cvmseal_secret *secret, uint32_t pcr_mask, const char *attest_policy,
                            const char *hsm_uri, const char *hsm_provider, const uint8_t *recovery_key,
                            size_t recovery_key_size, bool no_rekey, char **ret) {
        _cleanup_(json_object_putp) json_object *j = NULL, *ks = NULL, *enroll = NULL;
        json_object *p;
        char slot[16], *copy = NULL;
        const char *s;
        int r;

        j = json_object_new_object();
        ks = json_object_new_array();
        enroll = json_object_new_object();
        if (!j || !ks || !enroll)
                return -ENOMEM;

        snprintf(slot, sizeof(slot), "%d", keyslot);
        r = json_add(j, "type", json_object_new_string(PROVISION_TOKEN_TYPE));
        if (r >= 0 && keyslot >= 0) {
                r = json_object_array_add(ks, json_object_new_string(slot)) < 0 ? -ENOMEM : 0;
                if (r >= 0)
                        r = json_add(j, "keyslots", TAKE_PTR(ks));
        }
        if (r >= 0)
                r = json_add(j, "version", json_object_new_int(PROVISION_TOKEN_VERSION));
        if (r >= 0 && secret)
                r = json_add(j, "secret",
                             json_object_new_string_len((const char *) cvmseal_secret_data(secret),
                                                        (int) cvmseal_secret_size(secret)));
        if (r >= 0 && pcr_mask != 0)
                r = json_add(enroll, "pcrs", pcr_mask_to_json(pcr_mask));
        if (r >= 0 && attest_policy)
                r = json_add_blob(enroll, "attest-policy", false, attest_policy, strlen(attest_policy));
        if (r >= 0 && hsm_uri)
                r = json_add(enroll, "hsm", json_object_new_string(hsm_uri));
        if (r >= 0 && hsm_provider)
                r = json_add(enroll, "hsm-provider", json_object_new_string(hsm_provider));
        if (r >= 0 && recovery_key)
                r = json_add_blob(enroll, "recovery-key", false, recovery_key, recovery_key_size);
        if (r >= 0 && no_rekey)
                r = json_add(enroll, "rekey", json_object_new_boolean(false));
        if (r >= 0)
                r = json_add(j, "enroll", TAKE_PTR(enroll));
        if (r >= 0) {
                s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                copy = s ? strdup(s) : NULL;
                /* json-c's serialization holds the secret too. */
                if (s)
                        secure_wipe((char *) s, strlen(s));
                if (!copy)
                        r = -ENOMEM;
        }
        /* And the string member. */
        if (json_object_object_get_ex(j, "secret", &p))
                secure_wipe((char *) json_object_get_string(p), (size_t) json_object_get_string_len(p));
        if (r < 0)
                return r;
        *ret = copy;
        return 0;
}

int provision_keyslot_passphrase(const struct provision_marker *m, const char *uuid, cvmseal_secret **ret) {
        _cleanup_free_ char *canonical = NULL;
        _cleanup_free_ uint8_t *info = NULL;
        _cleanup_secret_ cvmseal_secret *okm = NULL, *pass = NULL;
        size_t info_size;
        int r;

        if (!m || !m->secret || !uuid || strlen(uuid) != 36)
                return -EINVAL;
        if (m->version == 1) {
                *ret = cvmseal_secret_new_from(cvmseal_secret_data(m->secret), cvmseal_secret_size(m->secret));
                return *ret ? 0 : -ENOMEM;
        }

        r = marker_to_string(-1, NULL, m->pcr_mask, m->attest_policy, m->hsm_uri, m->hsm_provider, m->recovery_key,
                             m->recovery_key_size, m->no_rekey, &canonical);
        if (r < 0)
                return r;
        info_size = sizeof(PROVISION_KDF_INFO) + 36 + strlen(canonical);
        info = malloc(info_size);
        okm = cvmseal_secret_new(32);
        pass = cvmseal_secret_new(PROVISION_PASSPHRASE_SIZE + 1);
        if (!info || !okm || !pass)
                return -ENOMEM;
        memcpy(info, PROVISION_KDF_INFO, sizeof(PROVISION_KDF_INFO)); /* with its NUL */
        memcpy(info + sizeof(PROVISION_KDF_INFO), uuid, 36);
        memcpy(info + sizeof(PROVISION_KDF_INFO) + 36, canonical, strlen(canonical));
        r = kdf_hkdf_sha256(cvmseal_secret_data(m->secret), cvmseal_secret_size(m->secret), NULL, 0, info, info_size,
                            cvmseal_secret_data_mut(okm), 32);
        if (r < 0)
                return r;
        if (EVP_EncodeBlock(cvmseal_secret_data_mut(pass), cvmseal_secret_data(okm), 32) != (int) PROVISION_PASSPHRASE_SIZE)
                return -EIO;
        cvmseal_secret_truncate(pass, PROVISION_PASSPHRASE_SIZE);
        *ret = TAKE_PTR(pass);
        return 0;
}

static void free_wiped(char **s) {
        if (*s) {
                secure_wipe(*s, strlen(*s));
                free(*s);
        }
}

int provision_marker_add(struct crypt_device *cd, int keyslot, const struct provision_marker *m, int *ret_token_id) {
        _cleanup_(free_wiped) char *json = NULL;
        _cleanup_free_ char *uri = NULL;
        _cleanup_(provision_marker_done) struct provision_marker check = { .token_id = -1, .keyslot = -1 };
        const char *back = NULL;
        int id, r;

        if (!cd || keyslot < 0 || keyslot > 31 || !m || !m->secret || !ret_token_id)
                return -EINVAL;
        if (m->pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return log_debug_errno(-EINVAL, "PCRs out of range");
        if (cvmseal_secret_size(m->secret) != PROVISION_PASSPHRASE_SIZE)
                return log_debug_errno(-EINVAL, "The provisioning secret is not the base64 of 32 bytes");
        r = passphrase_check((const char *) cvmseal_secret_data(m->secret), cvmseal_secret_size(m->secret));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_debug_errno(-EINVAL, "The provisioning secret is not the base64 of 32 bytes");
        if (m->attest_policy && (!*m->attest_policy || strlen(m->attest_policy) > PROVISION_POLICY_MAX))
                return log_debug_errno(-EINVAL, "The attestation policy is empty or too long");
        if (m->hsm_provider) {
                /* An OSSL_STORE URI is stored as it is; the provider's name must be a bare name. */
                if (!m->hsm_uri || !hsm_provider_name_valid(m->hsm_provider) || !*m->hsm_uri ||
                    strstr(m->hsm_uri, HSM_KEY_BLOB_PLACEHOLDER))
                        return log_debug_errno(-EINVAL, "Not a provider name and an OSSL_STORE URI without a key blob");
                uri = strdup(m->hsm_uri);
                if (!uri)
                        return -ENOMEM;
                if (strlen(uri) > PROVISION_URI_MAX)
                        return log_debug_errno(-EINVAL, "The HSM URI is too long");
        } else if (m->hsm_uri) {
                r = hsm_uri_public(m->hsm_uri, &uri);
                if (r < 0)
                        return log_debug_errno(r, "Not an HSM URI");
                if (strlen(uri) > PROVISION_URI_MAX)
                        return log_debug_errno(-EINVAL, "The HSM URI is too long");
                if (!streq_ptr(uri, m->hsm_uri))
                        /* The passphrase is bound to the URI as stored: the caller must derive it from
                         * the stored form. */
                        return log_debug_errno(-EINVAL, "The HSM URI carries a PIN or a module path");
        }

        r = marker_to_string(keyslot, m->secret, m->pcr_mask, m->attest_policy, uri, m->hsm_provider, m->recovery_key,
                             m->recovery_key_size, m->no_rekey, &json);
        if (r < 0)
                return r;

        id = luks_token_free_id(cd);
        if (id < 0)
                return id;
        r = crypt_token_json_set(cd, id, json);
        if (r < 0)
                /* libcryptsetup answers -EINVAL when the JSON area has no room left. */
                return log_debug_errno(r == -EINVAL ? -ENOSPC : r, "Cannot write the provisioning marker (token %d)", id);

        /* Read back what was written: it must parse to what was meant. */
        r = crypt_token_json_get(cd, id, &back);
        if (r >= 0)
                r = provision_marker_parse(back, &check);
        if (r >= 0 && (check.keyslot != keyslot || check.pcr_mask != m->pcr_mask || check.version != PROVISION_TOKEN_VERSION ||
                       check.no_rekey != m->no_rekey ||
                       !secret_equal(cvmseal_secret_data(check.secret), cvmseal_secret_data(m->secret),
                                     PROVISION_PASSPHRASE_SIZE)))
                r = -EIO;
        if (r < 0) {
                (void) crypt_token_json_set(cd, id, NULL);
                return log_debug_errno(-EIO, "The provisioning marker as written does not read back");
        }

        log_debug("Wrote the provisioning marker as token %d (keyslot %d)", id, keyslot);
        *ret_token_id = id;
        return 0;
}

int provision_marker_find(struct crypt_device *cd, struct provision_marker *ret) {
        if (!cd || !ret)
                return -EINVAL;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                _cleanup_(provision_marker_done) struct provision_marker m = { .token_id = -1, .keyslot = -1 };
                const char *type = NULL, *json = NULL;
                crypt_token_info ti;
                int r;

                ti = crypt_token_status(cd, id, &type);
                if (ti == CRYPT_TOKEN_INACTIVE || ti == CRYPT_TOKEN_INVALID || !streq_ptr(type, PROVISION_TOKEN_TYPE))
                        continue;

                r = crypt_token_json_get(cd, id, &json);
                if (r < 0)
                        return log_debug_errno(r, "Cannot read token %d", id);
                r = provision_marker_parse(json, &m);
                if (r < 0)
                        return log_debug_errno(r, "Token %d, a provisioning marker, is malformed", id);

                /* libcryptsetup's own validation of the header guarantees that a token's keyslots exist. */
                m.token_id = id;
                *ret = m;
                m = (struct provision_marker) {};
                return 0;
        }
        return -ENOENT;
}
