/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reseal and rotate: a cvmseal token and its keyslot are replaced by new ones (a new TPM share, salt
 * and HSM share, the same protections, the PCRs at new or current values), under a pending record
 * (pending.h) that keeps the change recoverable after a kill at any moment.
 *
 * Order of a replacement: record ("adding") -> new keyslot -> new token -> verify -> record
 * ("replacing") -> old token -> old keyslot -> no record.  Until the record says "replacing" an
 * interruption is rolled back, after it rolled forward; at every point the volume opens by its
 * passphrase and by a whole cvmseal token, the old or the new one.
 */
#include <errno.h>
#include <string.h>

#include <openssl/hmac.h>

#include "hsm.h"
#include "json-util.h"
#include "kdf.h"
#include "lock.h"
#include "log.h"
#include "luks.h"
#include "enroll.h"
#include "unlock.h"
#include "pcr-values.h"
#include "rekey.h"
#include "pending.h"
#include "seal.h"
#include "secret.h"
#include "token.h"
#include "tpm2.h"

/* ---- reseal ---- */

/* What the old token gives: the volume key and what the new token keeps. */
struct old_token {
        struct token t;
        int id;
        cvmseal_secret *vk;
        cvmseal_secret *hsm_pin;     /* the HSM PIN that was sealed with the share, or NULL */
};

static void old_token_done(struct old_token *o) {
        token_done(&o->t);
        cvmseal_secret_free(o->vk);
        cvmseal_secret_free(o->hsm_pin);
        *o = (struct old_token) { .id = -1 };
}

/* Opens the old token: unseals it (in the current boot state) and derives its passphrase, or takes
 * params->unlock_key; then reads the volume key. */
static int old_token_open(struct crypt_device *cd, tpm2_context *tpm, int id, const struct cvmseal_reseal_params *params,
                          struct old_token *o) {
        _cleanup_secret_ cvmseal_secret *pass = NULL;
        struct tpm2_sealed sealed;
        int r;

        o->id = id;
        r = token_load(cd, id, &o->t);
        if (r < 0)
                return r;
        if (!luks_keyslot_active(cd, o->t.keyslot))
                return log_debug_errno(-EBADMSG, "Token %d names keyslot %d, which is not in use", id, o->t.keyslot);
        r = token_sealed(&o->t, &sealed);
        if (r < 0)
                return log_debug_errno(r, "Token %d is inconsistent", id);
        if (o->t.tpm2.import_seed || o->t.tpm2.pubkey)
                /* A signed policy needs no reseal; an object sealed offline unseals differently. */
                return log_debug_errno(-ENOTSUP, "Token %d is sealed offline or to signed policies: not resealed", id);
        if (o->t.tpm2.pin && !params->pin)
                return log_debug_errno(-ENOANO, "Token %d needs a PIN", id);
        if (o->t.has_hsm) {
                /* Its OpenSSL provider must be allowed here, before the TPM is asked anything. */
                r = hsm_binding_usable(&o->t.hsm);
                if (r < 0)
                        return r;
        }

        if (params->unlock_key) {
                /* The operator's key: no unseal (after the lock PCR is extended none is possible). */
                r = luks_volume_key(cd, params->unlock_key, &o->vk);
                if (r < 0)
                        return r;
                if (o->t.has_hsm && o->t.hsm.pin) {
                        if (!params->hsm_pin)
                                return log_debug_errno(-EKEYREVOKED, "Token %d: the HSM PIN is sealed in the TPM; "
                                                       "without an unseal it must be given", id);
                        o->hsm_pin = cvmseal_secret_new_from(cvmseal_secret_data(params->hsm_pin),
                                                             cvmseal_secret_size(params->hsm_pin));
                        if (!o->hsm_pin)
                                return -ENOMEM;
                }
                log_debug("Token %d: the volume key comes from the unlock key (keyslot %d)", id, r);
                return 0;
        }

        r = token_derive(cd, tpm, id, &o->t, params->pin, params->hsm_pin, params->ret_attest_failures, &pass,
                         &o->hsm_pin);
        if (r < 0)
                return log_debug_errno(r, "Token %d does not unseal in this boot state", id);
        r = luks_volume_key(cd, pass, &o->vk);
        if (r == -EKEYREJECTED)
                return log_debug_errno(-EBADMSG, "Token %d: the derived passphrase opens no keyslot", id);
        if (r < 0)
                return r;
        return 0;
}

/* The values to seal to for mask, indexed by PCR number: given ones where the document has them, else
 * the current ones (the lock PCR's from before this boot's lock).  ret_current: whether every one is
 * current, so that the new object must unseal now. */
static int new_values(tpm2_context *tpm, uint32_t mask, const struct pcr_values *given,
                      uint8_t values[CVMSEAL_PCR_MAX][32], bool *ret_current) {
        uint8_t ranked[CVMSEAL_PCR_MAX][32], now[CVMSEAL_PCR_MAX][32], now_by_pcr[CVMSEAL_PCR_MAX][32];
        bool locked, current = true;
        int r;

        /* One authenticated read: the values sealed to and the "current" ones they are compared with
         * are both the TPM's (a forged read would otherwise make a wrong value look predicted). */
        r = lock_seal_values(tpm, mask, ranked, now, &locked);
        if (r < 0)
                return r;
        values_by_pcr(mask, (const uint8_t (*)[32]) ranked, values);
        values_by_pcr(mask, (const uint8_t (*)[32]) now, now_by_pcr);
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++) {
                if (!(mask & (UINT32_C(1) << i)))
                        continue;
                if (given && (given->mask & (UINT32_C(1) << i)))
                        memcpy(values[i], given->sha256[i], 32);
                if (memcmp(values[i], now_by_pcr[i], 32) != 0)
                        current = false;
        }
        *ret_current = current;
        return 0;
}

/* Replaces the opened token o by a new version 2 token with a new secret. */
static int reseal_one(struct crypt_device *cd, tpm2_context *tpm, struct old_token *o,
                      const struct cvmseal_reseal_params *params, const struct pcr_values *given, json_object *results) {
        _cleanup_secret_ cvmseal_secret *share = NULL, *hsm_share = NULL, *hsm_pin = NULL, *data = NULL, *check = NULL,
                                        *pass = NULL;
        _cleanup_(token_done) struct token t = {};
        _cleanup_(json_object_putp) json_object *res = NULL;
        json_object *removed;
        uint8_t values[CVMSEAL_PCR_MAX][32] = {}, binding[32];
        struct pending p = { .id = -1 };
        const char *uuid = crypt_get_uuid(cd);
        const cvmseal_secret *pin = o->t.tpm2.pin ? params->pin : NULL;
        bool current, unsealed = false;
        uint32_t mask;
        int r, id, id0 = o->id;

        /* The PCRs: as asked, or the old token's; the lock PCR stays when the old token had it. */
        mask = params->pcr_mask ?: o->t.tpm2.pcr_mask;
        if (params->rotate)
                mask = o->t.tpm2.pcr_mask;
        mask |= o->t.tpm2.pcr_mask & CVMSEAL_LOCK_MASK;
        if (given && (given->mask & ~mask))
                log_debug("The pcr-values document has PCRs outside the policy (0x%06x): ignored",
                          (unsigned) (given->mask & ~mask));

        id = luks_token_free_id(cd);
        if (id < 0)
                return id;
        r = pending_plan(cd, o->vk, id, 1, id0, o->t.keyslot, &p);
        if (r < 0)
                return r;
        r = token_digest(&o->t, p.old_digest);
        if (r < 0)
                return r;
        t.keyslot = p.slots[0];

        /* The same HSM key, a new share bound to the new token id; the same PIN setting. */
        if (o->t.has_hsm) {
                const struct cvmseal_enroll_params ep = {
                        .hsm_uri = o->t.hsm.uri,
                        .hsm_pin = o->t.hsm.provider ? NULL : o->hsm_pin ?: params->hsm_pin,
                        /* The key was accepted at enrollment and has just decrypted its share. */
                        .hsm_allow_extractable = true,
                        .hsm_provider = o->t.hsm.provider,
                        .hsm_key_blob = o->t.hsm.key_blob,
                        .hsm_key_blob_size = o->t.hsm.key_blob_size,
                };

                r = enroll_hsm(&ep, uuid, id, &t, &hsm_share, &hsm_pin, NULL);
                if (r < 0)
                        return r;
                t.hsm.pin = o->t.hsm.pin;
        }
        if (o->t.attest_policy) {
                t.attest_policy = malloc(o->t.attest_policy_size);
                if (!t.attest_policy)
                        return -ENOMEM;
                memcpy(t.attest_policy, o->t.attest_policy, o->t.attest_policy_size);
                t.attest_policy_size = o->t.attest_policy_size;
        }

        r = kdf_random_secret(CVMSEAL_SHARE_SIZE, &share);
        if (r < 0)
                return r;
        r = kdf_random(t.salt, sizeof(t.salt));
        if (r < 0)
                return r;
        r = sealed_data(share, t.has_hsm && t.hsm.pin ? hsm_pin : NULL, &data);
        if (r < 0)
                return r;

        r = new_values(tpm, mask, params->rotate ? NULL : given, values, &current);
        if (r < 0)
                return r;
        r = seal_token(&(const struct seal_params) {
                               .tpm = tpm,
                               .mask = mask,
                               .values = (const uint8_t (*)[32]) values,
                               .pin = pin,
                       },
                       data, uuid, id, &t, binding);
        if (r < 0)
                return log_debug_errno(r, "Cannot seal to the TPM");

        /* Verify what can be verified now: sealed to the current values, the secret comes back out;
         * sealed to other values, the TPM loads the object and refuses it only for its policy. */
        r = unseal_token(tpm, &t, uuid, id, pin, &check);
        if (r >= 0) {
                if (cvmseal_secret_size(check) != cvmseal_secret_size(data) ||
                    !secret_equal(cvmseal_secret_data(check), cvmseal_secret_data(data), cvmseal_secret_size(data)))
                        return log_debug_errno(-EIO, "The TPM returned other data than was sealed");
                unsealed = true;
        } else if (r != -EPERM || current)
                return log_debug_errno(r == -EBADMSG ? -EIO : r, "The freshly sealed secret does not %s",
                                       current ? "unseal" : "load");
        else
                log_debug("Sealed to values other than the current ones: the TPM loads the object, its policy "
                          "holds only after the update");

        r = token_passphrase(&t, uuid, id, share, hsm_share, NULL, &pass);
        if (r < 0)
                return r;

        /* The header changes from here on; the record makes every step recoverable. */
        r = pending_start(cd, &p);
        if (r < 0)
                return r;
        r = pending_keyslot_add(cd, &p, 0, o->vk, pass, false);
        if (r < 0)
                goto undo;
        if (r != t.keyslot) {
                r = log_debug_errno(-EIO, "libcryptsetup added keyslot %d, not the planned %d", r, t.keyslot);
                goto undo;
        }
        r = token_add(cd, id, &t);
        if (r < 0)
                goto undo;
        r = token_check_written(cd, id);
        if (r >= 0)
                r = luks_activate(cd, NULL, t.keyslot, pass);
        if (r < 0)
                goto undo;

        r = pending_commit(cd, &p);
        if (r < 0)
                /* The new token is in place and verified; the record finishes the rest next time. */
                return log_debug_errno(r, "Token %d replaced token %d, but the old one could not be removed", id, id0);

        log_debug("Token %d (keyslot %d, version %d) replaced token %d (keyslot %d, version %d)", id, t.keyslot,
                  t.version, id0, o->t.keyslot, o->t.version);
        res = json_object_new_object();
        removed = json_object_new_object();
        if (!res || !removed) {
                json_object_put(removed);
                return -ENOMEM;
        }
        r = json_add(res, "token", json_object_new_int(id));
        if (r >= 0)
                r = json_add(res, "keyslot", json_object_new_int(t.keyslot));
        if (r >= 0)
                r = json_add(res, "version", json_object_new_int(t.version));
        if (r >= 0)
                r = json_add(res, "pcrs", pcr_mask_to_json(mask));
        if (r >= 0)
                r = json_add(res, "verified", json_object_new_string(unsealed ? "unsealed" : "loaded"));
        if (r >= 0)
                r = json_add(res, "removed", removed);
        else
                json_object_put(removed);
        if (r >= 0)
                r = json_add(removed, "token", json_object_new_int(id0));
        if (r >= 0)
                r = json_add(removed, "keyslot", json_object_new_int(o->t.keyslot));
        if (r >= 0)
                r = json_add(removed, "version", json_object_new_int(o->t.version));
        if (r >= 0)
                r = json_object_array_add(results, res) < 0 ? -ENOMEM : 0;
        if (r < 0)
                return r;
        res = NULL;
        return 0;

undo:
        if (pending_rollback(cd, &p) < 0)
                log_debug("The rollback failed: the pending record (token %d) finishes it next time", p.id);
        return r;
}

/* The cvmseal tokens of the device that params select, as a bit set of ids. */
static uint64_t select_tokens(struct crypt_device *cd, const struct cvmseal_reseal_params *params) {
        uint64_t ids = 0;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2) && id < 64; id++) {
                const char *json = NULL;

                if (params->token_id >= 0 && id != params->token_id)
                        continue;
                if (crypt_token_json_get(cd, id, &json) >= 0 && token_json_is_cvmseal(json))
                        ids |= UINT64_C(1) << id;
        }
        return ids;
}

_public_ int cvmseal_reseal(const char *device, const struct cvmseal_reseal_params *params, json_object **ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_(json_object_putp) json_object *results = NULL;
        _cleanup_(old_token_done) struct old_token first = { .id = -1 };
        struct pcr_values given = {};
        uint64_t ids;
        int r;

        if (!device || !params || !ret)
                return -EINVAL;
        if (params->pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return log_debug_errno(-EINVAL, "PCRs out of range");
        if (params->rotate && (params->pcr_mask || params->pcr_values))
                return log_debug_errno(-EINVAL, "rotate keeps the PCRs and their values");
        if (params->pcr_values) {
                r = pcr_values_parse(params->pcr_values, strlen(params->pcr_values), &given);
                if (r < 0)
                        return log_debug_errno(r, "The pcr-values document is malformed");
        }

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        if (luks_in_reencryption(cd))
                return log_debug_errno(-EINPROGRESS, "%s is in reencryption (a rekey): libcryptsetup changes no "
                                       "token or keyslot until it is done", device);
        if (!crypt_get_uuid(cd) || strlen(crypt_get_uuid(cd)) != 36)
                return log_debug_errno(-EMEDIUMTYPE, "The LUKS2 header has no UUID");

        ids = select_tokens(cd, params);
        if (ids == 0)
                return log_debug_errno(-ENOMEDIUM, "%s has no %scvmseal token", device,
                                       params->token_id >= 0 ? "such " : "");

        r = tpm2_context_new(params->tcti, &tpm);
        if (r < 0)
                return r;

        /* The volume key first (from the first token, or the unlock key): it authenticates the pending
         * records, which are finished before anything else changes (pending.h). */
        r = old_token_open(cd, tpm, __builtin_ctzll(ids), params, &first);
        if (r < 0)
                return log_debug_errno(r, "Token %d: %s failed (0 done before it)", first.id,
                                       params->rotate ? "rotate" : "reseal");
        r = pending_gc(cd, first.vk);
        if (r < 0)
                return r;
        /* A record finished above may have removed a token, or the one just opened. */
        ids = select_tokens(cd, params);
        if (!(ids & (UINT64_C(1) << first.id)))
                old_token_done(&first);

        results = json_object_new_array();
        if (!results)
                return -ENOMEM;

        for (int id = 0; id < 64; id++) {
                _cleanup_(old_token_done) struct old_token o = { .id = -1 };

                if (!(ids & (UINT64_C(1) << id)))
                        continue;
                if (id == first.id) {
                        o = first;
                        first = (struct old_token) { .id = -1 };
                } else {
                        r = old_token_open(cd, tpm, id, params, &o);
                        if (r < 0)
                                return log_debug_errno(r, "Token %d: %s failed (%zu done before it)", id,
                                                       params->rotate ? "rotate" : "reseal",
                                                       json_object_array_length(results));
                }
                r = reseal_one(cd, tpm, &o, params, params->pcr_values ? &given : NULL, results);
                if (r < 0)
                        return log_debug_errno(r, "Token %d: %s failed (%zu done before it)", id,
                                               params->rotate ? "rotate" : "reseal", json_object_array_length(results));
        }

        *ret = TAKE_PTR(results);
        return 0;
}
