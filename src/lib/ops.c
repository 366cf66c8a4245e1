/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operations of the public interface: enroll, unlock, list, remove.  Each one leaves the volume
 * as it found it when it fails: enroll verifies the sealed secret before it writes anything and
 * removes what it added when a later step fails; remove takes the token away before its keyslot, so
 * an interruption leaves at worst an unused keyslot, never a token without its keyslot.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "evidence.h"
#include "hsm.h"
#include "json-util.h"
#include "kdf.h"
#include "lock.h"
#include "ops.h"
#include "rekey.h"
#include "reseal.h"
#include "log.h"
#include "luks.h"
#include "migrate.h"
#include "offline.h"
#include "provision.h"
#include "seal.h"
#include "secret.h"
#include "signed-policy.h"
#include "srk-pin.h"
#include "token.h"
#include "tpm2.h"
#include "tpm2-duplicate.h"


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
        /* It goes into a token (or comes from one): no test-only members. */
        r = attest_policy_check_from_disk(&p);
        if (r < 0)
                return r;
        if (EVP_Digest(text, strlen(text), ret_digest, &n, EVP_sha256(), NULL) != 1)
                return -EIO;
        return 0;
}

/* What an HSM binding is bound to: LUKS UUID (36 characters) || token id (big-endian). */
void binding_aad(const char *uuid, int token_id, uint8_t aad[40]) {
        uint32_t id = (uint32_t) token_id;

        memcpy(aad, uuid, 36);
        aad[36] = (uint8_t) (id >> 24);
        aad[37] = (uint8_t) (id >> 16);
        aad[38] = (uint8_t) (id >> 8);
        aad[39] = (uint8_t) id;
}

/* The data sealed in the TPM: the TPM share, followed by the HSM PIN when there is one, so one
 * Unseal gives both and the HSM becomes usable only in the enrolled boot state. */
int sealed_data(const cvmseal_secret *share, const cvmseal_secret *hsm_pin, cvmseal_secret **ret) {
        size_t pin_size = cvmseal_secret_size(hsm_pin);
        cvmseal_secret *s;

        if (pin_size > HSM_PIN_MAX)
                return log_debug_errno(-EKEYREVOKED, "The HSM PIN is longer than %u bytes", HSM_PIN_MAX);
        s = cvmseal_secret_new(CVMSEAL_SHARE_SIZE + pin_size);
        if (!s)
                return -ENOMEM;
        memcpy(cvmseal_secret_data_mut(s), cvmseal_secret_data(share), CVMSEAL_SHARE_SIZE);
        if (pin_size > 0)
                memcpy(cvmseal_secret_data_mut(s) + CVMSEAL_SHARE_SIZE, cvmseal_secret_data(hsm_pin), pin_size);
        *ret = s;
        return 0;
}

/* Binds the token to the HSM key of params->hsm_uri: opens and checks the key, encrypts a fresh
 * HSM share, and proves that it decrypts.  An OpenSSL provider's key (params->hsm_provider) is
 * bound the same way, or offline from its public half (params->hsm_public_key): the HSM is not
 * touched then, and *ret_verified is false. */
int enroll_hsm(const struct cvmseal_enroll_params *params, const char *uuid, int id, struct token *t,
               cvmseal_secret **ret_share, cvmseal_secret **ret_pin, bool *ret_verified) {
        _cleanup_secret_ cvmseal_secret *pin = NULL, *share = NULL, *check = NULL;
        _cleanup_(hsm_key_freep) hsm_key *key = NULL;
        bool provider = params->hsm_provider != NULL;
        uint8_t aad[40];
        int r;

        if (provider) {
                /* Named by the operator: a bare name that local configuration allows (an offline bind
                 * names the target's provider, which this machine need not have). */
                if (!hsm_provider_name_valid(params->hsm_provider))
                        return log_debug_errno(-EINVAL, "'%s' is not a bare OpenSSL provider name", params->hsm_provider);
                if (!params->hsm_public_key) {
                        r = hsm_provider_allowed(params->hsm_provider, NULL);
                        if (r < 0)
                                return r == -EPERM ? -EINVAL : r;
                }
                if (params->hsm_pin)
                        return log_debug_errno(-EINVAL, "An OpenSSL provider binding takes no HSM PIN");
        } else if (params->hsm_public_key || params->hsm_key_blob)
                return log_debug_errno(-EINVAL, "A public key or a key blob needs an OpenSSL provider");
        else if (params->hsm_pin) {
                pin = cvmseal_secret_new_from(cvmseal_secret_data(params->hsm_pin), cvmseal_secret_size(params->hsm_pin));
                if (!pin)
                        return -ENOMEM;
        } else {
                r = hsm_uri_pin(params->hsm_uri, &pin);
                if (r < 0)
                        return r;
        }
        if (cvmseal_secret_size(pin) > HSM_PIN_MAX)
                return log_debug_errno(-EKEYREVOKED, "The HSM PIN is longer than %u bytes", HSM_PIN_MAX);

        r = kdf_random_secret(CVMSEAL_SHARE_SIZE, &share);
        if (r < 0)
                return r;
        binding_aad(uuid, id, aad);

        if (params->hsm_public_key) {
                r = hsm_seal_public(params->hsm_public_key, aad, sizeof(aad), share, &t->hsm);
                if (r < 0)
                        return log_debug_errno(r, "Cannot encrypt the HSM share to the public key");
        } else {
                if (provider)
                        r = hsm_key_open_provider(params->hsm_provider, params->hsm_uri, params->hsm_key_blob,
                                                  params->hsm_key_blob_size, &key);
                else
                        r = hsm_key_open(params->hsm_uri, pin, &key);
                if (r < 0)
                        return log_debug_errno(r, "Cannot open the HSM key");
                r = hsm_key_check(key, params->hsm_allow_extractable);
                if (r < 0)
                        return r;
                r = hsm_seal(key, aad, sizeof(aad), share, &t->hsm);
                if (r < 0)
                        return log_debug_errno(r, "The HSM cannot encrypt the share");
        }
        t->has_hsm = true;
        t->hsm.pin = pin != NULL;
        if (provider) {
                t->hsm.uri = strdup(params->hsm_uri);
                t->hsm.provider = strdup(params->hsm_provider);
                if (!t->hsm.uri || !t->hsm.provider)
                        return -ENOMEM;
                if (params->hsm_key_blob) {
                        t->hsm.key_blob = malloc(params->hsm_key_blob_size);
                        if (!t->hsm.key_blob)
                                return -ENOMEM;
                        memcpy(t->hsm.key_blob, params->hsm_key_blob, params->hsm_key_blob_size);
                        t->hsm.key_blob_size = params->hsm_key_blob_size;
                }
        } else {
                r = hsm_uri_public(params->hsm_uri, &t->hsm.uri);
                if (r < 0)
                        return r;
        }

        if (key) {
                r = hsm_unseal(key, &t->hsm, aad, sizeof(aad), &check);
                if (r < 0)
                        return log_debug_errno(r, "The HSM cannot decrypt the share it encrypted");
                if (!secret_equal(cvmseal_secret_data(check), cvmseal_secret_data(share), CVMSEAL_SHARE_SIZE))
                        return log_debug_errno(-EIO, "The HSM returned another share than it was given");
        }

        log_debug("Bound to the HSM key (%s%s%s)%s", hsm_mechanism_to_string(t->hsm.mechanism),
                  provider ? ", OpenSSL provider " : "", provider ? params->hsm_provider : "",
                  key ? "" : ", from its public key alone: not verified");
        *ret_share = TAKE_PTR(share);
        *ret_pin = TAKE_PTR(pin);
        if (ret_verified)
                *ret_verified = key != NULL;
        return 0;
}

_public_ const char *cvmseal_version(void) {
        return PROJECT_VERSION;
}

_public_ int cvmseal_pcr_mask_parse(const char *s, uint32_t *ret_mask) {
        uint32_t mask = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                char *end;
                long v;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                errno = 0;
                v = strtol(p, &end, 10);
                if (errno != 0 || v < 0 || v >= CVMSEAL_PCR_MAX || end - p > 2)
                        return -EINVAL;
                mask |= UINT32_C(1) << v;
                if (*end == 0)
                        break;
                if (*end != ',' && *end != '+')
                        return -EINVAL;
                p = end + 1;
        }
        *ret_mask = mask;
        return 0;
}

/* ---- enroll ---- */


/* The token as libcryptsetup stored it parses strictly and is consistent. */
int token_check_written(struct crypt_device *cd, int id) {
        _cleanup_(token_done) struct token t = {};
        struct tpm2_sealed sealed;
        const char *json = NULL;
        int r;

        r = crypt_token_json_get(cd, id, &json);
        if (r < 0)
                return log_debug_errno(r, "Cannot read back token %d", id);
        r = token_from_string(json, &t);
        if (r >= 0)
                r = token_sealed(&t, &sealed);
        if (r < 0)
                return log_debug_errno(-EIO, "Token %d as written does not read back", id);
        return 0;
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

/* The PCR values a new token is sealed to, indexed by PCR number: offline from the pcr-values
 * document; online the current ones, the lock PCR's from before this boot's lock (ret_locked: the
 * lock is applied, so the object cannot be unsealed in this boot). */
static int enroll_values(tpm2_context *tpm, const struct cvmseal_enroll_params *params, uint32_t mask,
                         uint8_t values[CVMSEAL_PCR_MAX][32], bool *ret_locked) {
        uint8_t ranked[CVMSEAL_PCR_MAX][32];
        int r;

        *ret_locked = false;
        if (params->srk_public)
                return offline_values(params, mask, values);
        if (params->tpm2_public_key) {
                /* Only the fixed part (the lock PCR) has values; the signed policies carry the rest. */
                if (!(mask & CVMSEAL_LOCK_MASK))
                        return 0;
                return lock_pcr_value(tpm, values[CVMSEAL_LOCK_PCR], ret_locked);
        }
        r = lock_seal_values(tpm, mask, ranked, NULL, ret_locked);
        if (r < 0)
                return r;
        values_by_pcr(mask, (const uint8_t (*)[32]) ranked, values);
        return 0;
}

/* Proves that a freshly sealed token gives data back in this boot state, as unlock will unseal it.
 * ret_verified false: it cannot be proven now (sealed offline, after the lock, or to signed policies
 * of which none is installed for this boot state yet). */
static int enroll_verify(tpm2_context *tpm, const struct token *t, const char *uuid, int id, const cvmseal_secret *pin,
                         const cvmseal_secret *data, bool locked, bool *ret_verified) {
        _cleanup_secret_ cvmseal_secret *check = NULL;
        int r;

        *ret_verified = false;
        if (!tpm || locked)
                return 0;
        r = unseal_token(tpm, t, uuid, id, pin, &check);
        if (r == -EBADMSG)
                /* The token was made here a moment ago: one that does not read back is our failure. */
                return log_debug_errno(-EIO, "The freshly sealed token does not read back");
        if (r == -ENOMSG && t->tpm2.pubkey) {
                log_debug("No signed policy for this boot state yet: the sealed object is not verified");
                return 0;
        }
        if (r < 0)
                return log_debug_errno(r, "The freshly sealed secret does not unseal");
        if (cvmseal_secret_size(check) != cvmseal_secret_size(data) ||
            !secret_equal(cvmseal_secret_data(check), cvmseal_secret_data(data), cvmseal_secret_size(data)))
                return log_debug_errno(-EIO, "The TPM returned other data than was sealed");
        *ret_verified = true;
        return 0;
}

static int unlock_token(struct crypt_device *cd, tpm2_context **tpm, int id, const struct cvmseal_unlock_params *params,
                        bool check_keyslot, cvmseal_secret **ret_passphrase, int *ret_keyslot, int *ret_version);

/* The volume key through another token (enroll --unlock-token): a cvmseal token is unsealed here,
 * any other goes through migrate.h.  Returns the keyslot that opened. */
static int enroll_volume_key_by_token(struct crypt_device *cd, const char *device, tpm2_context **tpm,
                                      const struct cvmseal_enroll_params *params, cvmseal_secret **ret) {
        const struct cvmseal_unlock_params up = { .tcti = params->tcti, .token_id = params->unlock_token_id };
        _cleanup_secret_ cvmseal_secret *pass = NULL, *vk = NULL;
        const char *json = NULL;
        size_t size;
        int r, slot;

        if (crypt_token_json_get(cd, params->unlock_token_id, &json) < 0 || !token_json_is_cvmseal(json))
                return migrate_volume_key(cd, device, params->unlock_token_id, ret);

        r = unlock_token(cd, tpm, params->unlock_token_id, &up, false, &pass, &slot, NULL);
        if (r < 0)
                return r;
        r = crypt_get_volume_key_size(cd);
        if (r <= 0)
                return -EINVAL;
        size = (size_t) r;
        vk = cvmseal_secret_new(size);
        if (!vk)
                return -ENOMEM;
        r = crypt_volume_key_get(cd, slot, (char *) cvmseal_secret_data_mut(vk), &size,
                                 (const char *) cvmseal_secret_data(pass), cvmseal_secret_size(pass));
        if (r < 0)
                return log_debug_errno(-EBADMSG, "Token %d: the derived passphrase does not open keyslot %d",
                                       params->unlock_token_id, slot);
        cvmseal_secret_truncate(vk, size);
        *ret = TAKE_PTR(vk);
        return slot;
}

_public_ int cvmseal_enroll(const char *device, const cvmseal_secret *unlock_key,
                            const struct cvmseal_enroll_params *params, struct cvmseal_enroll_result *ret) {
        return enroll_internal(device, unlock_key, params, NULL, ret, NULL);
}

int enroll_internal(const char *device, const cvmseal_secret *unlock_key, const struct cvmseal_enroll_params *params,
                    const cvmseal_secret *vk_new, struct cvmseal_enroll_result *ret, cvmseal_secret **ret_passphrase) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *share = NULL, *pass = NULL, *recovery = NULL,
                                        *hsm_share = NULL, *hsm_pin = NULL, *data = NULL;
        _cleanup_(token_done) struct token t = {};
        TPM2B_PUBLIC signing_key;
        uint8_t values[CVMSEAL_PCR_MAX][32] = {}, binding[32];
        struct pending pending = { .id = -1 };
        int r, id, slot = -1, recovery_slot = -1, recovery_twin = -1, wiped = -1, wipe_error = 0, opened_slot = -1;
        unsigned tidx;
        uint32_t mask, wiped_slots = 0;
        bool locked = false, verified = false, hsm_verified = true;
        const char *uuid;

        if (!device || !params || !ret || !unlock_key == !params->unlock_with_token)
                return -EINVAL;
        if ((params->wipe_token && !params->unlock_with_token) || (params->unlock_with_token && params->srk_public))
                return log_debug_errno(-EINVAL, "--unlock-token is online only; --wipe-token needs it");
        if (params->pcr_mask == 0 || params->pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return log_debug_errno(-EINVAL, "No PCRs, or PCRs out of range");
        mask = params->pcr_mask | (params->no_lock_pcr ? 0 : CVMSEAL_LOCK_MASK);
        if (params->tpm2_public_key && (params->srk_public || (params->pcr_mask & CVMSEAL_LOCK_MASK)))
                return log_debug_errno(-EINVAL, "A signed policy cannot be sealed offline or cover the lock PCR");
        if (params->srk_public && !params->pcr_values)
                return -EINVAL;
        /* For a rekey (rekey.h): the token's keyslot holds the new volume key, a twin the old one. */
        if (vk_new && params->srk_public)
                return -EINVAL;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        if (rekey_in_progress(cd))
                return log_debug_errno(-EINPROGRESS, "%s is in reencryption (a rekey): libcryptsetup changes no "
                                       "token or keyslot until it is done", device);
        uuid = crypt_get_uuid(cd);
        if (!uuid || strlen(uuid) != 36)
                return log_debug_errno(-EMEDIUMTYPE, "The LUKS2 header has no UUID");

        /* Fails fast, before the TPM is touched, when the key is wrong. */
        if (params->unlock_with_token)
                r = opened_slot = enroll_volume_key_by_token(cd, device, &tpm, params, &vk);
        else
                r = luks_volume_key(cd, unlock_key, &vk);
        if (r < 0)
                return r;

        /* Finish what an interrupted enroll, reseal or rotate left behind (reseal.h). */
        r = pending_gc(cd, vk);
        if (r < 0)
                return r;

        id = luks_token_free_id(cd);
        if (id < 0)
                return id;
        /* The keyslots are chosen now: the token names its keyslot, and the binding covers it.  For a
         * rekey, the token's keyslot holds the new volume key and a twin (the old key under the same
         * passphrase) follows it.  A recovery keyslot is never in the plan (below). */
        tidx = 0;
        r = pending_plan(cd, vk, id, vk_new ? 2U : 1U, -1, -1, &pending);
        if (r < 0)
                return r;
        t.keyslot = pending.slots[tidx];
        if (vk_new && cvmseal_secret_size(vk_new) != cvmseal_secret_size(vk))
                return log_debug_errno(-EINVAL, "The new volume key is not of the old one's size");

        if (params->attest_policy) {
                uint8_t policy_digest[32];

                r = attest_policy_check(params->attest_policy, policy_digest);
                if (r < 0)
                        return r;
                t.attest_policy_size = strlen(params->attest_policy);
                t.attest_policy = (uint8_t *) strdup(params->attest_policy);
                if (!t.attest_policy)
                        return -ENOMEM;
        }

        /* The HSM first: it is local and refuses an unfit key before the TPM does any work. */
        if (params->hsm_uri) {
                r = enroll_hsm(params, uuid, id, &t, &hsm_share, &hsm_pin, &hsm_verified);
                if (r < 0)
                        return r;
        }

        if (params->tpm2_public_key) {
                r = signed_policy_key_from_pem(params->tpm2_public_key, strlen(params->tpm2_public_key), &signing_key);
                if (r < 0)
                        return r;
        }

        /* Sealing offline (for another machine's TPM) touches no TPM. */
        if (!params->srk_public && !tpm) {
                r = tpm2_context_new(params->tcti, &tpm);
                if (r < 0)
                        return r;
        }

        r = kdf_random_secret(CVMSEAL_SHARE_SIZE, &share);
        if (r < 0)
                return r;
        r = kdf_random(t.salt, sizeof(t.salt));
        if (r < 0)
                return r;
        r = sealed_data(share, hsm_pin, &data);
        if (r < 0)
                return r;

        r = enroll_values(tpm, params, mask, values, &locked);
        if (r < 0)
                return r;
        r = seal_token(&(const struct seal_params) {
                               .tpm = tpm,
                               .srk_public = params->srk_public,
                               .srk_public_size = params->srk_public_size,
                               .signing_key = params->tpm2_public_key ? &signing_key : NULL,
                               .mask = mask,
                               .values = (const uint8_t (*)[32]) values,
                               .pin = params->pin,
                       },
                       data, uuid, id, &t, binding);
        if (r < 0)
                return log_debug_errno(r, "Cannot seal to the TPM");

        /* Prove that the secret comes back out, in this boot state, before writing anything.  After
         * the lock it cannot (that is the lock's purpose): it first unseals at the next boot. */
        r = enroll_verify(tpm, &t, uuid, id, params->pin, data, locked, &verified);
        if (r < 0)
                return r;

        r = token_passphrase(&t, uuid, id, share, hsm_share, NULL, &pass);
        if (r < 0)
                return r;

        if (params->recovery_key) {
                r = kdf_recovery_key(&recovery);
                if (r < 0)
                        return r;
        }

        /* From here on the header changes.  The pending record comes first, naming the keyslots about
         * to be added, so that even a kill is undone by the next enroll, reseal or rotate (reseal.h);
         * a failure undoes every step at once. */
        r = pending_start(cd, &pending);
        if (r < 0)
                return r;
        if (params->recovery_key) {
                /* Not in the record: a record can be written back by whoever saw it, and a recovery
                 * keyslot is never destroyed on a record's word.  A kill before the enrollment is done
                 * leaves it unused (its key was never printed); a failure here removes it.  For a
                 * rekey: the new volume key's keyslot, and its twin with the old key. */
                r = luks_keyslot_add_except(cd, vk_new ?: vk, recovery, pending_slot_mask(&pending), vk_new != NULL);
                if (r < 0)
                        goto undo;
                recovery_slot = r;
                if (vk_new) {
                        r = luks_keyslot_add_except(cd, vk, recovery, pending_slot_mask(&pending), false);
                        if (r < 0)
                                goto undo;
                        recovery_twin = r;
                }
        }

        r = pending_keyslot_add(cd, &pending, tidx, vk_new ?: vk, pass, vk_new != NULL);
        if (r < 0)
                goto undo;
        slot = r;
        if (slot != t.keyslot) {
                r = log_debug_errno(-EIO, "libcryptsetup added keyslot %d, not the planned %d", slot, t.keyslot);
                goto undo;
        }
        if (vk_new) {
                /* The twin: the same passphrase for the old volume key, so that the token's passphrase
                 * opens both halves of the volume while it is re-encrypted (rekey.h). */
                r = pending_keyslot_add(cd, &pending, tidx + 1, vk, pass, false);
                if (r < 0)
                        goto undo;
        }

        r = token_add(cd, id, &t);
        if (r < 0)
                goto undo;

        /* Read back what was written: the token must parse and open its keyslot. */
        r = token_check_written(cd, id);
        if (r >= 0 && vk_new) {
                r = crypt_activate_by_passphrase(cd, NULL, slot, (const char *) cvmseal_secret_data(pass),
                                                 cvmseal_secret_size(pass), CRYPT_ACTIVATE_ALLOW_UNBOUND_KEY);
                if (r >= 0)
                        r = luks_activate(cd, NULL, pending.slots[tidx + 1], pass);
        } else if (r >= 0)
                r = luks_activate(cd, NULL, slot, pass);
        if (r >= 0)
                r = pending_commit(cd, &pending);
        if (r < 0)
                goto undo;

        log_debug("Enrolled token %d with keyslot %d%s", id, slot, recovery ? " and a recovery keyslot" : "");

        /* The new token opened its keyslot: the old one may go (migrate.h).  Its keyslot is destroyed
         * because this run got the volume key through that very token: the secret proved it is its. */
        if (params->wipe_token) {
                wipe_error = migrate_wipe(cd, params->unlock_token_id, opened_slot, &wiped_slots);
                if (wipe_error >= 0)
                        wiped = params->unlock_token_id;
                else
                        log_debug_errno(wipe_error, "Token %d was not removed", params->unlock_token_id);
        }
        *ret = (struct cvmseal_enroll_result) {
                .token_id = id,
                .keyslot = slot,
                .verified = verified && hsm_verified,
                .recovery_keyslot = recovery_slot,
                .recovery_key = TAKE_PTR(recovery),
                .wiped_token = wiped,
                .wiped_keyslots = wiped_slots,
                .wipe_error = wipe_error < 0 ? wipe_error : 0,
        };
        if (ret_passphrase)
                *ret_passphrase = TAKE_PTR(pass);
        return 0;

undo:
        /* The token (never left without its keyslot), then the keyslots; what cannot be undone now
         * stays recorded for the next run.  The recovery keyslot this run made, itself. */
        (void) pending_rollback(cd, &pending);
        if (recovery_slot >= 0)
                (void) crypt_keyslot_destroy(cd, recovery_slot);
        if (recovery_twin >= 0)
                (void) crypt_keyslot_destroy(cd, recovery_twin);
        return r;
}

/* ---- unlock ---- */

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

/* Splits the unsealed data into the TPM share and the HSM PIN (when the binding has one). */
int split_sealed(const struct token *t, cvmseal_secret *data, cvmseal_secret **ret_pin) {
        size_t size = cvmseal_secret_size(data), pin_size = size - CVMSEAL_SHARE_SIZE;
        bool pin = t->has_hsm && t->hsm.pin;

        if (size < CVMSEAL_SHARE_SIZE || (pin ? pin_size == 0 || pin_size > HSM_PIN_MAX : pin_size != 0))
                return log_debug_errno(-EBADMSG, "The sealed data has the wrong size (%zu bytes)", size);
        if (pin) {
                *ret_pin = cvmseal_secret_new_from(cvmseal_secret_data(data) + CVMSEAL_SHARE_SIZE, pin_size);
                if (!*ret_pin)
                        return -ENOMEM;
                cvmseal_secret_truncate(data, CVMSEAL_SHARE_SIZE);
        }
        return 0;
}

int token_derive(struct crypt_device *cd, tpm2_context *tpm, int id, const struct token *t, const cvmseal_secret *pin,
                 const cvmseal_secret *hsm_pin, char **ret_attest_failures, cvmseal_secret **ret_passphrase,
                 cvmseal_secret **ret_hsm_pin) {
        _cleanup_secret_ cvmseal_secret *share = NULL, *pass = NULL, *sealed_pin = NULL, *hsm_share = NULL;
        const char *uuid = crypt_get_uuid(cd);
        uint8_t policy_digest[32];
        struct tpm2_sealed sealed;
        int r;

        if (!uuid || strlen(uuid) != 36)
                return log_debug_errno(-EMEDIUMTYPE, "The LUKS2 header has no UUID");

        /* Everything that needs no TPM first: a damaged or foreign token never reaches it. */
        r = token_precheck(t, pin, &sealed);
        if (r < 0)
                return log_debug_errno(r, "Token %d cannot be unsealed here", id);

        /* Attest first: nothing is unsealed on a platform that does not prove itself. */
        if (t->attest_policy) {
                r = attest_gate(tpm, t->attest_policy, t->attest_policy_size, ret_attest_failures, policy_digest, NULL);
                if (r < 0)
                        return r;
        }

        log_debug("Token %d (version %d): unsealing (PCRs 0x%06x%s)", id, t->version, (unsigned) t->tpm2.pcr_mask,
                  t->tpm2.pin ? ", PIN" : "");
        r = unseal_token(tpm, t, uuid, id, pin, &share);
        if (r < 0)
                return r;
        r = split_sealed(t, share, &sealed_pin);
        if (r < 0)
                return r;

        if (t->has_hsm) {
                _cleanup_(hsm_key_freep) hsm_key *key = NULL;
                uint8_t aad[40];

                log_debug("Token %d: asking the HSM for its share", id);
                r = hsm_key_open_binding(&t->hsm, sealed_pin ?: hsm_pin, &key);
                if (r < 0)
                        return log_debug_errno(r, "Token %d: cannot open the HSM key", id);
                binding_aad(uuid, id, aad);
                r = hsm_unseal(key, &t->hsm, aad, sizeof(aad), &hsm_share);
                if (r < 0)
                        return log_debug_errno(r, "Token %d: the HSM does not give the share", id);
        }

        r = token_passphrase(t, uuid, id, share, hsm_share, policy_digest, &pass);
        if (r < 0)
                return r;
        *ret_passphrase = TAKE_PTR(pass);
        if (ret_hsm_pin)
                *ret_hsm_pin = TAKE_PTR(sealed_pin);
        return 0;
}

/* Unseals token id and derives its passphrase; with check_keyslot, also opens the keyslot with it (and
 * activates params->name when given).  The token plugin passes check_keyslot false: libcryptsetup
 * opens the keyslot itself. */
static int unlock_token(struct crypt_device *cd, tpm2_context **tpm, int id, const struct cvmseal_unlock_params *params,
                        bool check_keyslot, cvmseal_secret **ret_passphrase, int *ret_keyslot, int *ret_version) {
        _cleanup_secret_ cvmseal_secret *pass = NULL;
        _cleanup_(token_done) struct token t = {};
        struct tpm2_sealed sealed;
        crypt_keyslot_info ki;
        bool rekey;
        int r;

        r = token_load(cd, id, &t);
        if (r < 0)
                return r;

        ki = crypt_keyslot_status(cd, t.keyslot);
        /* Unbound: the keyslot holds the new key of a rekey about to start (rekey.h). */
        if (ki != CRYPT_SLOT_ACTIVE && ki != CRYPT_SLOT_ACTIVE_LAST && ki != CRYPT_SLOT_UNBOUND)
                return log_debug_errno(-EBADMSG, "Token %d names keyslot %d, which is not in use", id, t.keyslot);
        /* During a rekey the volume opens only with both keys: the token's keyslot (the new key) and
         * its twin (the old key), which libcryptsetup finds by the passphrase alone.  Before it starts,
         * the twin alone opens the volume. */
        rekey = ki == CRYPT_SLOT_UNBOUND || rekey_in_progress(cd);
        r = token_precheck(&t, params->pin, &sealed);
        if (r < 0)
                return log_debug_errno(r, "Token %d cannot be unsealed here", id);
        if (t.version < CVMSEAL_TOKEN_VERSION)
                log_debug("Token %d is version %d, which the TPM does not bind to its members: reseal it", id,
                          t.version);

        /* The OpenSSL provider the token names must be one this machine allows: checked before any
         * TPM command (a refused token costs the TPM nothing). */
        if (t.has_hsm) {
                r = hsm_binding_usable(&t.hsm);
                if (r < 0)
                        return log_debug_errno(r, "Token %d: its HSM binding cannot be used here", id);
        }

        if (!*tpm) {
                r = tpm2_context_new(params->tcti, tpm);
                if (r < 0)
                        return r;
        }

        r = token_derive(cd, *tpm, id, &t, params->pin, NULL, params->ret_attest_failures, &pass, NULL);
        if (r < 0)
                return r;

        if (check_keyslot) {
                log_debug("Token %d: opening keyslot %d%s", id, t.keyslot, rekey ? " and its twin (a rekey)" : "");
                r = luks_activate(cd, params->name, rekey ? CRYPT_ANY_SLOT : t.keyslot, pass);
                if (r == -EKEYREJECTED)
                        /* The TPM gave the share back, so the salt, the UUID or the token id has changed. */
                        return log_debug_errno(-EBADMSG, "Token %d: the derived passphrase does not open keyslot %d",
                                               id, t.keyslot);
                if (r < 0)
                        return r;
        }

        /* What the lock measures (lock.h): which volume this boot unlocked, by a digest keyed with its
         * passphrase.  Best effort (a /run that cannot be written changes nothing about the unlock),
         * but out of memory is out of memory. */
        r = lock_note_volume(crypt_get_uuid(cd), pass);
        if (r == -ENOMEM)
                return r;
        /* The rekey goes on after switch-root, when the lock forbids another unseal: the initramfs
         * leaves the passphrase in root's user keyring for it (rekey.h).  Not from the token plugin,
         * which runs in someone else's process, nor for a --test. */
        if (rekey && check_keyslot && (params->name || ret_passphrase))
                (void) rekey_handover(crypt_get_uuid(cd), pass);

        *ret_keyslot = t.keyslot;
        if (ret_version)
                *ret_version = t.version;
        if (ret_passphrase)
                *ret_passphrase = TAKE_PTR(pass);
        return 0;
}

/* When every token fails, the error that says most: a policy refusal over a missing PIN over a
 * malformed token over "not a cvmseal token". */
static int error_rank(int r) {
        switch (r) {
        case -ENOMEDIUM:
                return 0;
        case -EBADMSG:
                return 1;
        default:
                return 2;
        }
}

_public_ int cvmseal_unlock(const char *device, const struct cvmseal_unlock_params *params, bool want_passphrase,
                            struct cvmseal_unlock_result *ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_secret_ cvmseal_secret *pass = NULL;
        int r, best = -ENOMEDIUM, keyslot = -1, version = 0;

        if (!device || !params || !ret)
                return -EINVAL;

        log_debug("Opening %s", device);
        r = luks_open(device, &cd);
        if (r < 0)
                return r;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                if (params->token_id >= 0 && id != params->token_id)
                        continue;

                r = unlock_token(cd, &tpm, id, params, true, want_passphrase ? &pass : NULL, &keyslot, &version);
                if (r >= 0) {
                        log_debug("Token %d opened keyslot %d", id, keyslot);
                        *ret = (struct cvmseal_unlock_result) {
                                .token_id = id,
                                .keyslot = keyslot,
                                .passphrase = TAKE_PTR(pass),
                                .token_version = version,
                        };
                        return 0;
                }
                if (error_rank(r) > error_rank(best) || (error_rank(r) == error_rank(best) && best == -ENOMEDIUM))
                        best = r;
                /* Without a TPM, no other token can do better; -ENOTSUP (no device-mapper) neither. */
                if (r == -ENODEV || r == -ENOTSUP || r == -ENOMEM)
                        break;
        }

        if (best == -ENOMEDIUM)
                log_debug("%s has no %scvmseal token", device, params->token_id >= 0 ? "such " : "");
        return best;
}

/* ---- the token plugin's entry points ---- */

_public_ int cvmseal_token_open(struct crypt_device *cd, int token_id, const cvmseal_secret *pin,
                                cvmseal_secret **ret_passphrase) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        const struct cvmseal_unlock_params params = { .token_id = token_id, .pin = pin };
        int keyslot;

        if (!cd || token_id < 0 || !ret_passphrase)
                return -EINVAL;
        return unlock_token(cd, &tpm, token_id, &params, false, ret_passphrase, &keyslot, NULL);
}

_public_ int cvmseal_token_validate(const char *json) {
        _cleanup_(token_done) struct token t = {};
        struct tpm2_sealed sealed;
        int r;

        r = token_from_string(json, &t);
        if (r < 0)
                return r;
        return token_sealed(&t, &sealed);
}

_public_ int cvmseal_token_version(const char *json) {
        _cleanup_(token_done) struct token t = {};
        int r;

        r = token_from_string(json, &t);
        if (r < 0)
                return r;
        return t.version;
}

_public_ int cvmseal_token_describe(const char *json, char **ret) {
        _cleanup_(token_done) struct token t = {};
        char pcrs[3 * CVMSEAL_PCR_MAX + 1] = "", *s = NULL;
        int r;

        r = token_from_string(json, &t);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if (t.tpm2.pcr_mask & (UINT32_C(1) << i))
                        snprintf(pcrs + strlen(pcrs), sizeof(pcrs) - strlen(pcrs), "%s%u", *pcrs ? "," : "", i);
        r = asprintf(&s,
                     "\tcvmseal version: %d\n"
                     "\tTPM PCRs:        sha256:%s\n"
                     "\tTPM PIN:         %s\n"
                     "\tSRK:             0x%08x\n"
                     "\tHSM:             %s%s%s%s%s%s%s\n"
                     "\tAttestation:     %s\n",
                     t.version, pcrs, t.tpm2.pin ? "yes" : "no", (unsigned) t.tpm2.srk_handle,
                     t.has_hsm && t.hsm.provider ? "OpenSSL provider " : "", t.has_hsm && t.hsm.provider ? t.hsm.provider : "",
                     t.has_hsm && t.hsm.provider ? ", " : "",
                     t.has_hsm ? t.hsm.uri : "no", t.has_hsm ? " (" : "",
                     t.has_hsm ? hsm_mechanism_to_string(t.hsm.mechanism) : "", t.has_hsm ? ")" : "",
                     t.attest_policy ? "policy gated" : "no");
        if (r < 0)
                return -ENOMEM;
        if (t.tpm2.pubkey && t.tpm2.pubkey_name_size == 34) {
                char *with = NULL;

                r = asprintf(&with, "%s\tSigned policies: key 000b%02x%02x%02x%02x...\n", s, t.tpm2.pubkey_name[2],
                             t.tpm2.pubkey_name[3], t.tpm2.pubkey_name[4], t.tpm2.pubkey_name[5]);
                free(s);
                if (r < 0)
                        return -ENOMEM;
                s = with;
        }
        *ret = s;
        return 0;
}

/* ---- attestation ---- */

_public_ int cvmseal_attest_collect(const char *tcti, const uint8_t *nonce, size_t nonce_size, json_object **ret_evidence) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_(evidence_done) struct evidence e = {};
        int r;

        r = tpm2_context_new(tcti, &tpm);
        if (r < 0)
                log_debug("No TPM: collecting without the vTPM's evidence");
        r = attest_collect(&(struct attest_collect_params) {
                                   .tpm = tpm,
                                   .nonce = nonce,
                                   .nonce_size = nonce_size,
                                   .tsm_dir = secure_getenv("CVMSEAL_TSM_DIR"),
                                   .event_log = secure_getenv("CVMSEAL_EVENT_LOG"),
                                   .cert_cache = secure_getenv("CVMSEAL_CERT_CACHE") ?: "/etc/cvmseal/certs",
                           },
                           &e);
        if (r < 0)
                return r;
        return evidence_to_json(&e, ret_evidence);
}

_public_ int cvmseal_attest_verify(json_object *evidence, json_object *policy, json_object **ret_result) {
        _cleanup_(evidence_done) struct evidence e = {};
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        _cleanup_(attest_verdict_done) struct attest_verdict v = {};
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        r = evidence_from_json(evidence, &e);
        if (r < 0)
                return r;
        r = attest_policy_from_json(policy, &p);
        if (r < 0)
                return r;
        r = attest_verify(&e, &p, NULL, &v);
        if (r < 0)
                return r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "verdict", json_object_new_string(attest_verdict_pass(&v) ? "pass" : "fail"));
        if (r >= 0)
                r = json_add(o, "failures", TAKE_PTR(v.failures));
        if (r >= 0)
                r = json_add(o, "claims", TAKE_PTR(v.claims));
        if (r < 0)
                return r;
        *ret_result = TAKE_PTR(o);
        return 0;
}

/* ---- list ---- */

static int list_token(struct crypt_device *cd, int id, json_object *tokens, uint32_t *used) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(token_done) struct token t = {};
        const char *json = NULL, *type = NULL;
        crypt_token_info ti;
        int r;

        ti = crypt_token_status(cd, id, &type);
        if (ti == CRYPT_TOKEN_INACTIVE || ti == CRYPT_TOKEN_INVALID)
                return 0;
        if (!o)
                return -ENOMEM;

        r = json_add(o, "id", json_object_new_int(id));
        if (r >= 0)
                r = json_add(o, "type", json_object_new_string(type ?: "unknown"));
        if (r < 0)
                return r;

        if (crypt_token_json_get(cd, id, &json) >= 0 && token_json_is_cvmseal(json)) {
                struct tpm2_sealed sealed;

                r = token_from_string(json, &t);
                if (r >= 0)
                        r = token_sealed(&t, &sealed);
                if (r == -EBADMSG) {
                        r = json_add(o, "valid", json_object_new_boolean(false));
                } else if (r < 0) {
                        return r;
                } else {
                        _cleanup_free_ char *name = NULL;
                        char handle[16];

                        *used |= UINT32_C(1) << t.keyslot;
                        name = malloc(t.tpm2.srk_name_size * 2 + 1);
                        if (!name)
                                return -ENOMEM;
                        for (size_t i = 0; i < t.tpm2.srk_name_size; i++)
                                sprintf(name + 2 * i, "%02x", t.tpm2.srk_name[i]);
                        snprintf(handle, sizeof(handle), "0x%08x", (unsigned) t.tpm2.srk_handle);

                        r = json_add(o, "valid", json_object_new_boolean(true));
                        if (r >= 0)
                                r = json_add(o, "version", json_object_new_int(t.version));
                        if (r >= 0)
                                r = json_add(o, "keyslot", json_object_new_int(t.keyslot));
                        if (r >= 0)
                                r = json_add(o, "pcr-bank", json_object_new_string(t.tpm2.pcr_bank));
                        if (r >= 0)
                                r = json_add(o, "pcrs", pcr_mask_to_json(t.tpm2.pcr_mask));
                        if (r >= 0)
                                r = json_add(o, "pin", json_object_new_boolean(t.tpm2.pin));
                        if (r >= 0)
                                r = json_add(o, "srk-handle", json_object_new_string(handle));
                        if (r >= 0)
                                r = json_add(o, "srk-name", json_object_new_string(name));
                        if (r >= 0) {
                                bool pinned = false;
                                int k = srk_pin_check(t.tpm2.srk_name, t.tpm2.srk_name_size, &pinned);

                                /* Whether the SRK the token names is the one local configuration pins
                                 * (true), is not pinned at all (false), or is another (a token for another
                                 * TPM, or a forged name): "other". */
                                r = json_add(o, "srk-pinned", k == -EREMCHG ? json_object_new_string("other")
                                                                            : json_object_new_boolean(k >= 0 && pinned));
                        }
                        if (r >= 0 && t.version < CVMSEAL_TOKEN_VERSION)
                                r = json_add(o, "warning", json_object_new_string(
                                                     "version 1: the TPM does not bind this token to its members; "
                                                     "'cvmseal reseal' makes it version 2"));
                        if (r >= 0 && t.attest_policy)
                                r = json_add(o, "attest", json_object_new_boolean(true));
                        if (r >= 0 && t.tpm2.import_seed)
                                /* Sealed offline: unlock imports it first (docs/image-pipeline.md). */
                                r = json_add(o, "offline", json_object_new_boolean(true));
                        if (r >= 0 && t.tpm2.pubkey)
                                /* Sealed to signed policies by this key (its TPM name). */
                                r = json_add_blob(o, "signed-policy-key", true, t.tpm2.pubkey_name,
                                                  t.tpm2.pubkey_name_size);
                        if (r >= 0 && t.has_hsm) {
                                json_object *h = json_object_new_object();

                                r = json_add(o, "hsm", h);
                                if (r >= 0 && t.hsm.provider)
                                        r = json_add(h, "provider", json_object_new_string(t.hsm.provider));
                                if (r >= 0)
                                        r = json_add(h, "uri", json_object_new_string(t.hsm.uri));
                                if (r >= 0)
                                        r = json_add(h, "mechanism",
                                                     json_object_new_string(hsm_mechanism_to_string(t.hsm.mechanism)));
                                if (r >= 0)
                                        r = json_add(h, "pin", json_object_new_boolean(t.hsm.pin));
                                if (r >= 0 && t.hsm.provider)
                                        /* SHA-256 of the key's public half: compare with `hsm keygen`'s. */
                                        r = json_add_blob(h, "fingerprint", true, t.hsm.key_check, t.hsm.key_check_size);
                                if (r >= 0 && t.hsm.key_blob)
                                        r = json_add(h, "key-blob", json_object_new_int((int) t.hsm.key_blob_size));
                        }
                }
                if (r < 0)
                        return r;
        }

        if (json_object_array_add(tokens, o) < 0)
                return -ENOMEM;
        o = NULL;
        return 0;
}

_public_ int cvmseal_list(const char *device, json_object **ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL, *tokens = NULL, *slots = NULL;
        uint32_t used = 0;
        int r;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;

        o = json_object_new_object();
        tokens = json_object_new_array();
        slots = json_object_new_array();
        if (!o || !tokens || !slots)
                return -ENOMEM;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                r = list_token(cd, id, tokens, &used);
                if (r < 0)
                        return r;
        }

        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                crypt_keyslot_info ki = crypt_keyslot_status(cd, s);
                json_object *k;

                if (ki != CRYPT_SLOT_ACTIVE && ki != CRYPT_SLOT_ACTIVE_LAST)
                        continue;
                k = json_object_new_object();
                if (!k || json_object_array_add(slots, k) < 0) {
                        json_object_put(k);
                        return -ENOMEM;
                }
                r = json_add(k, "id", json_object_new_int(s));
                if (r >= 0)
                        r = json_add(k, "cvmseal", json_object_new_boolean(used & (UINT32_C(1) << s)));
                if (r < 0)
                        return r;
        }

        r = json_add(o, "device", json_object_new_string(device));
        if (r >= 0)
                r = json_add(o, "uuid", json_object_new_string(crypt_get_uuid(cd) ?: ""));
        if (r >= 0)
                r = json_add(o, "tokens", TAKE_PTR(tokens));
        if (r >= 0)
                r = json_add(o, "keyslots", TAKE_PTR(slots));
        if (r >= 0) {
                /* The first-boot provisioning marker of an image from `image encrypt` (a malformed one
                 * is left out here; the token list shows it). */
                _cleanup_(provision_marker_done) struct provision_marker m = { .token_id = -1, .keyslot = -1 };

                _cleanup_(json_object_putp) json_object *rk = NULL;

                /* Where the rekey stands (rekey.h): "finished" says that no keyslot of the image's
                 * volume key is left. */
                if (cvmseal_rekey_status(device, &rk) >= 0) {
                        json_object_object_del(rk, "device");
                        r = json_add(o, "rekey", TAKE_PTR(rk));
                }
                if (r >= 0 && provision_marker_find(cd, &m) >= 0) {
                        json_object *pm = json_object_new_object();

                        r = json_add(o, "provision", pm);
                        if (r >= 0)
                                r = json_add(pm, "token", json_object_new_int(m.token_id));
                        if (r >= 0)
                                r = json_add(pm, "keyslot", json_object_new_int(m.keyslot));
                }
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- remove ---- */

_public_ int cvmseal_remove(const char *device, int token_id, json_object **ret_keyslots) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(json_object_putp) json_object *removed = NULL;
        const char *json = NULL;
        uint32_t own = 0;
        int r;

        if (token_id < 0 || token_id >= crypt_token_max(CRYPT_LUKS2))
                return -EINVAL;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        if (rekey_in_progress(cd))
                return log_debug_errno(-EINPROGRESS, "%s is in reencryption (a rekey): libcryptsetup changes no "
                                       "token or keyslot until it is done", device);

        r = crypt_token_json_get(cd, token_id, &json);
        if (r < 0 || !token_json_is_cvmseal(json))
                return log_debug_errno(-ENOMEDIUM, "Token %d is not a cvmseal token", token_id);

        /* The keyslots of this token that no other token uses.  A malformed token can still be removed:
         * its keyslots are read straight from the LUKS2 metadata. */
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                bool mine = crypt_token_is_assigned(cd, token_id, s) == 0, others = false;

                if (!mine)
                        continue;
                for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                        if (id != token_id && crypt_token_is_assigned(cd, id, s) == 0)
                                others = true;
                if (!others)
                        own |= UINT32_C(1) << s;
        }

        if (!luks_has_other_keyslot(cd, own))
                return log_debug_errno(-EBUSY, "Token %d holds the last keyslot of %s", token_id, device);

        removed = json_object_new_array();
        if (!removed)
                return -ENOMEM;

        /* The token first: an interruption leaves an unused keyslot, never a token without its keyslot. */
        r = crypt_token_json_set(cd, token_id, NULL);
        if (r < 0)
                return log_debug_errno(r, "Cannot remove token %d", token_id);

        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                if (!(own & (UINT32_C(1) << s)))
                        continue;
                r = crypt_keyslot_destroy(cd, s);
                if (r < 0)
                        return log_debug_errno(r, "Cannot remove keyslot %d", s);
                if (json_object_array_add(removed, json_object_new_int(s)) < 0)
                        return -ENOMEM;
        }

        if (ret_keyslots)
                *ret_keyslots = TAKE_PTR(removed);
        return 0;
}
