/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * First boot of a pipeline-built image (docs/boot.md, "First boot"): the provisioning marker that
 * `image encrypt` wrote is turned into a cvmseal token sealed to this VM's vTPM, and the provisioning
 * keyslot, whose passphrase sits in clear in the marker, is destroyed.
 *
 * Order, so that an interruption at any point loses nothing and is finished by the next boot:
 *   1. attestation (when the marker carries a policy): a platform that fails it gets nothing;
 *   2. enroll with the provisioning passphrase as the unlock key (a new keyslot and token; enroll
 *      undoes itself on failure);
 *   3. destroy the provisioning keyslot (libcryptsetup wipes its key material);
 *   4. remove the marker.
 * A boot that finds a marker and already a cvmseal token (interrupted after 2) skips to 3; one that
 * finds a marker whose keyslot is gone (interrupted after 3) skips to 4.
 *
 * The marker comes from the disk.  Before any of this, its passphrase (derived from its secret and
 * every member, provision.h) must open the keyslot it names: so no keyslot is destroyed unless
 * cvmseal proves, with the marker's secret, that the keyslot is the marker's own, and an edited
 * marker (a policy removed, other PCRs, another HSM key) is refused (-EBADMSG) before anything
 * changes.
 */
#include <errno.h>
#include <string.h>

#include <libcryptsetup.h>
#include <openssl/evp.h>

#include "cvmseal.h"
#include "escrow.h"
#include "kdf.h"
#include "hsm.h"
#include "lock.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "enroll.h"
#include "gate.h"
#include "provision.h"
#include "attest.h"
#include "rekey.h"
#include "seal.h"
#include "secret.h"
#include "srk-pin.h"
#include "token.h"

#define FIRSTBOOT_DEFAULT_PCRS (UINT32_C(1) << 7)

/* Is there a cvmseal token that a first boot interrupted after its enrollment would have left: one
 * that parses strictly, is consistent (token_sealed()), is version 2, names an active keyslot other
 * than the provisioning one and is sealed to the SRK the enrollment pinned (when one is pinned)?  A
 * token planted before the first boot (the host holds the image then) that is none of these does
 * not make the first boot skip its enrollment. */
static bool has_cvmseal_token(struct crypt_device *cd, int provision_keyslot) {
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                _cleanup_(token_done) struct token t = {};
                struct tpm2_sealed sealed;
                crypt_keyslot_info ki;
                bool pinned = false;

                if (token_load(cd, id, &t) < 0 || token_sealed(&t, &sealed) < 0 || t.version < 2 ||
                    t.keyslot == provision_keyslot)
                        continue;
                ki = crypt_keyslot_status(cd, t.keyslot);
                /* Unbound: the keyslot of a new volume key, made by an enrollment for the rekey (a first
                 * boot cut between the enrollment and the rekey's start). */
                if (ki != CRYPT_SLOT_ACTIVE && ki != CRYPT_SLOT_ACTIVE_LAST && ki != CRYPT_SLOT_UNBOUND)
                        continue;
                if (srk_pin_check(t.tpm2.srk_name, t.tpm2.srk_name_size, &pinned) < 0)
                        continue;
                return true;
        }
        return false;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

/* A first boot has no pinned SRK yet, and every secret it seals goes to the SRK the TPM channel
 * shows: an interposer that shows its own gets them all, for good (the SRK it answers is then the
 * one pinned).  When the attestation that just passed vouches for an AK (an Azure HCL report's
 * HCLAkPub, bound to the hardware report), that AK certifies the SRK (TPM2_Certify over a fresh
 * nonce): only the TPM whose AK the hardware names can, so the SRK pinned is that TPM's.  Without
 * such an AK (no HCL report) the SRK is trusted on first use, as for any enrollment. */
static int pin_certified_srk(tpm2_context *tpm, EVP_PKEY *ak, char **ret_failures) {
        _cleanup_free_ uint8_t *pub = NULL, *msg = NULL, *sig = NULL;
        size_t pub_size = 0, msg_size = 0, sig_size = 0;
        TPM2B_NAME pinned, name;
        uint8_t nonce[32];
        int r;

        r = srk_pin_load(&pinned);
        if (r != -ENOENT)
                return r < 0 ? r : 0;   /* pinned already: every session checks it */
        if (!ak) {
                log_debug("No AK that hardware vouches for: the SRK is trusted on first use");
                return 0;
        }
        r = tpm2_srk_public(tpm, true, &pub, &pub_size, &name);
        if (r < 0)
                return r;
        r = kdf_random(nonce, sizeof(nonce));
        if (r < 0)
                return r;
        r = tpm2_certify_srk(tpm, TPM2_AZURE_AK_HANDLE, nonce, sizeof(nonce), &msg, &msg_size, &sig, &sig_size);
        if (r >= 0)
                r = tpm_certify_check(msg, msg_size, sig, sig_size, ak, nonce, sizeof(nonce), name.name, name.size);
        if (r == -EBADE || r == -EBADMSG || r == -ENOENT || r == -EACCES) {
                if (ret_failures) {
                        free(*ret_failures);
                        *ret_failures = strdup("srk-certify: the attested AK does not certify the SRK the TPM shows");
                }
                return log_debug_errno(-EBADE, "The SRK is not certified by the attested AK: not pinned, nothing enrolled");
        }
        if (r < 0)
                return r;
        r = srk_pin_save(pub, pub_size);
        if (r < 0)
                return r;
        log_debug("Pinned the SRK that the attested AK certified");
        return 0;
}

_public_ int cvmseal_provision(const char *device, const struct cvmseal_provision_params *params,
                               struct cvmseal_enroll_result *ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(provision_marker_done) struct provision_marker m = { .token_id = -1, .keyslot = -1 };
        struct cvmseal_enroll_result result = { .token_id = -1, .keyslot = -1, .recovery_keyslot = -1 };
        _cleanup_secret_ cvmseal_secret *pass = NULL, *token_pass = NULL;
        crypt_keyslot_info ki;
        const char *policy;
        int r;

        if (!device || !params)
                return -EINVAL;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        r = provision_marker_find(cd, &m);
        if (r == -ENOENT) {
                /* A first boot interrupted between removing the marker and starting the rekey. */
                r = rekey_start_pending(cd, params->tcti, NULL, -1);
                if (r < 0)
                        return log_debug_errno(r, "Cannot start the rekey of %s", device);
                log_debug("%s has no provisioning marker: nothing to do", device);
                return 0;
        }
        if (r < 0)
                return r;

        ki = crypt_keyslot_status(cd, m.keyslot);
        if (ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST) {
                /* A marker naming an OpenSSL provider that this machine does not allow is refused as
                 * malformed, before any TPM command. */
                if (m.hsm_provider && !has_cvmseal_token(cd, m.keyslot)) {
                        r = hsm_binding_usable(&(const struct hsm_binding) { .provider = m.hsm_provider });
                        if (r < 0)
                                return r;
                }

                /* Nothing changes before the marker proves, with its secret, that it belongs to its
                 * keyslot: a planted marker names a keyslot its passphrase does not open (the recovery
                 * keyslot, a token's), and an edited one derives a passphrase that opens nothing.  Only
                 * a keyslot whose passphrase is the marker's own is ever destroyed. */
                r = provision_keyslot_passphrase(&m, crypt_get_uuid(cd), &pass);
                if (r < 0)
                        return r;
                r = luks_activate(cd, NULL, m.keyslot, pass);
                if (r == -EKEYREJECTED)
                        return log_debug_errno(-EBADMSG, "The provisioning marker (token %d) does not open keyslot %d: "
                                               "it was changed or planted; nothing was done", m.token_id, m.keyslot);
                if (r < 0)
                        return r;

                if (has_cvmseal_token(cd, m.keyslot)) {
                        log_debug("%s is enrolled already (an interrupted first boot): finishing", device);
                } else {
                        _cleanup_secret_ cvmseal_secret *vk_new = NULL;

                        policy = params->attest_policy ?: m.attest_policy;
                        if (policy) {
                                _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
                                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
                                uint8_t digest[32];

                                r = tpm2_context_new(params->tcti, &tpm);
                                if (r < 0)
                                        return r;
                                r = attest_gate(tpm, (const uint8_t *) policy, strlen(policy),
                                                params->ret_attest_failures, digest, &ak);
                                if (r < 0)
                                        return r;
                                r = pin_certified_srk(tpm, ak, params->ret_attest_failures);
                                if (r < 0)
                                        return r;
                        }

                        /* The rekey (docs/design.md, "Rekey"): the token is made for a keyslot of a new
                         * volume key, born here, with a twin of the image's key; the marker's "rekey"
                         * (bound into its passphrase) says whether.  The image's other keyslots (the
                         * pipeline's keyslot 0) are destroyed when the data is done: the marker's
                         * consent. */
                        if (!m.no_rekey) {
                                r = rekey_new_volume_key(cd, &vk_new);
                                if (r < 0)
                                        return r;
                        }

                        /* libcryptsetup keeps the device open; enroll opens its own context. */
                        crypt_free(TAKE_PTR(cd));
                        r = enroll_internal(device, pass,
                                           &(struct cvmseal_enroll_params) {
                                                   .tcti = params->tcti,
                                                   .pcr_mask = params->pcr_mask ?: m.pcr_mask ?: FIRSTBOOT_DEFAULT_PCRS,
                                                   .hsm_uri = m.hsm_uri,
                                                   .hsm_pin = m.hsm_provider ? NULL : params->hsm_pin,
                                                   .hsm_provider = m.hsm_provider,
                                                   .attest_policy = policy,
                                                   .recovery_key = m.recovery_key != NULL,
                                           },
                                           vk_new, &result, &token_pass);
                        if (r < 0)
                                return log_debug_errno(r, "Cannot enroll %s at first boot", device);
                        r = luks_open(device, &cd);
                        if (r >= 0 && m.recovery_key) {
                                /* The recovery key was made here: only its owner's private key reads it
                                 * back (escrow.h).  Before the rekey starts: libcryptsetup refuses token
                                 * changes during it. */
                                r = escrow_token_add(cd, result.recovery_keyslot, m.recovery_key, m.recovery_key_size,
                                                     result.recovery_key);
                                if (r < 0)
                                        log_debug_errno(r, "Cannot escrow the recovery key of keyslot %d",
                                                        result.recovery_keyslot);
                        }
                        cvmseal_secret_free(TAKE_PTR(result.recovery_key));
                        if (r < 0)
                                return r;
                }
                r = crypt_keyslot_destroy(cd, m.keyslot);
                if (r < 0)
                        return log_debug_errno(r, "Cannot destroy the provisioning keyslot %d", m.keyslot);
                log_debug("Destroyed the provisioning keyslot %d", m.keyslot);
        } else {
                /* "keyslots": [] is what a first boot interrupted after destroying the keyslot leaves -
                 * or an edit that would have this boot drop a marker whose keyslot is still there.  The
                 * marker's passphrase must open no keyslot (a check of every keyslot: this path is
                 * rare). */
                r = provision_keyslot_passphrase(&m, crypt_get_uuid(cd), &pass);
                if (r < 0)
                        return r;
                r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) cvmseal_secret_data(pass),
                                                 cvmseal_secret_size(pass), 0);
                if (r >= 0)
                        return log_debug_errno(-EBADMSG, "The provisioning marker (token %d) names no keyslot, but its "
                                               "passphrase opens keyslot %d: it was changed; nothing was done",
                                               m.token_id, r);
                log_debug("The provisioning keyslot is gone already (an interrupted first boot)");
        }

        r = crypt_token_json_set(cd, m.token_id, NULL);
        if (r < 0)
                return log_debug_errno(r, "Cannot remove the provisioning marker (token %d)", m.token_id);
        log_debug("Removed the provisioning marker (token %d)", m.token_id);

        /* Last, because libcryptsetup refuses token changes in reencryption: the rekey starts
         * (metadata only; the booted system re-encrypts the data, rekey.h).  A boot interrupted before
         * this point starts it next time (below). */
        if (!m.no_rekey) {
                r = rekey_start_pending(cd, params->tcti, token_pass, token_pass ? result.keyslot : -1);
                if (r < 0)
                        return log_debug_errno(r, "Cannot start the rekey of %s", device);
                result.rekey_started = r > 0;
        }

        if (ret)
                *ret = result;
        return 1;
}
