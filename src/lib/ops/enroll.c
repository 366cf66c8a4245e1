/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * enroll: a new cvmseal token and its keyslot.  It verifies the sealed secret before it writes
 * anything, writes under a pending record (pending.h), and removes what it added when a later step
 * fails.
 */
#include <errno.h>
#include <string.h>

#include "enroll.h"
#include "gate.h"
#include "hsm.h"
#include "kdf.h"
#include "lock.h"
#include "log.h"
#include "luks.h"
#include "migrate.h"
#include "offline.h"
#include "pending.h"
#include "seal.h"
#include "secret.h"
#include "signed-policy.h"
#include "token.h"
#include "tpm2.h"
#include "unlock.h"

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

/* The volume key through another token (enroll --unlock-token): a cvmseal token is unsealed here,
 * any other goes through migrate.h.  Returns the keyslot that opened. */
static int enroll_volume_key_by_token(struct crypt_device *cd, const char *device, tpm2_context **tpm,
                                      const struct cvmseal_enroll_params *params, cvmseal_secret **ret) {
        const struct cvmseal_unlock_params up = { .tcti = params->tcti, .token_id = params->unlock_token_id };
        _cleanup_secret_ cvmseal_secret *pass = NULL, *vk = NULL;
        const char *json = NULL;
        int r, slot;

        if (crypt_token_json_get(cd, params->unlock_token_id, &json) < 0 || !token_json_is_cvmseal(json))
                return migrate_volume_key(cd, device, params->unlock_token_id, ret);

        r = unlock_token(cd, tpm, params->unlock_token_id, &up, false, &pass, &slot, NULL);
        if (r < 0)
                return r;
        r = luks_volume_key_from(cd, slot, pass, &vk);
        if (r == -EKEYREJECTED)
                return log_debug_errno(-EBADMSG, "Token %d: the derived passphrase does not open keyslot %d",
                                       params->unlock_token_id, slot);
        if (r < 0)
                return r;
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
        if (luks_in_reencryption(cd))
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

        /* Finish what an interrupted enroll, reseal or rotate left behind (pending.h). */
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
         * to be added, so that even a kill is undone by the next enroll, reseal or rotate (pending.h);
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
