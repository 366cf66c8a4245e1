/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unlock: from a cvmseal token to its keyslot's passphrase, and the token plugin's way in.  Nothing is
 * unsealed before the token passes every check that needs no TPM and its attestation gate.
 */
#include <errno.h>
#include <string.h>

#include "gate.h"
#include "handover.h"
#include "kdf.h"
#include "hsm.h"
#include "lock.h"
#include "log.h"
#include "luks.h"
#include "seal.h"
#include "secret.h"
#include "token.h"
#include "tpm2.h"
#include "unlock.h"

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
int unlock_token(struct crypt_device *cd, tpm2_context **tpm, int id, const struct cvmseal_unlock_params *params,
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
        rekey = ki == CRYPT_SLOT_UNBOUND || luks_in_reencryption(cd);
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

_public_ int cvmseal_token_open(struct crypt_device *cd, int token_id, const cvmseal_secret *pin,
                                cvmseal_secret **ret_passphrase) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        const struct cvmseal_unlock_params params = { .token_id = token_id, .pin = pin };
        int keyslot;

        if (!cd || token_id < 0 || !ret_passphrase)
                return -EINVAL;
        return unlock_token(cd, &tpm, token_id, &params, false, ret_passphrase, &keyslot, NULL);
}
