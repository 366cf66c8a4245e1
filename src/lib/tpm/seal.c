/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A token's sealed object (seal.h).
 *
 * Version 2 binds the token to its object: the object's authPolicy always ends with PolicyAuthValue,
 * and its authValue is SHA-256(binding [|| SHA-256(PIN)]), where the binding is a digest of every
 * member of the token but the object itself (token_binding()).  Whoever changes a member - drops the
 * attestation gate, names another SRK, another keyslot, another HSM key, other PCRs - makes the TPM
 * refuse the Unseal: the HMAC of the policy session is keyed with the authValue, which the changed
 * token no longer gives.  The share never leaves the TPM for a token the enrolling machine did not
 * write.  The members are not secret, so against an interposer on the channel the binding alone
 * would not do: the session's salt goes to the pinned SRK (srk-pin.h), which the interposer cannot
 * impersonate, and the response is encrypted under a key only that TPM and this process derive.
 */
#include <errno.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "kdf.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "seal.h"
#include "secret.h"
#include "signed-policy.h"
#include "srk-pin.h"
#include "tpm2-duplicate.h"

void values_by_pcr(uint32_t mask, const uint8_t ranked[][32], uint8_t ret[CVMSEAL_PCR_MAX][32]) {
        for (unsigned i = 0, k = 0; i < CVMSEAL_PCR_MAX; i++)
                if (mask & (UINT32_C(1) << i))
                        memcpy(ret[i], ranked[k++], 32);
}

static void values_ranked(uint32_t mask, const uint8_t (*by_pcr)[32], uint8_t ret[CVMSEAL_PCR_MAX][32]) {
        for (unsigned i = 0, k = 0; i < CVMSEAL_PCR_MAX; i++)
                if (mask & (UINT32_C(1) << i))
                        memcpy(ret[k++], by_pcr[i], 32);
}

/* The policy digest a version 2 token's members give. */
static int token_policy(const struct token *t, const TPM2B_PUBLIC *signing_key, TPM2B_DIGEST *ret) {
        if (signing_key || t->tpm2.pubkey) {
                struct signed_policy_fixed fixed = { .mask = t->tpm2.pcr_mask & CVMSEAL_LOCK_MASK };
                TPM2B_PUBLIC key;
                TPM2B_NAME name;
                int r;

                if (!signing_key) {
                        r = signed_policy_token_key(t->tpm2.pubkey, t->tpm2.pubkey_size, t->tpm2.pubkey_name,
                                                    t->tpm2.pubkey_name_size, &key);
                        if (r < 0)
                                return r;
                        signing_key = &key;
                }
                r = signed_policy_key_name(signing_key, &name);
                if (r < 0)
                        return r;
                memcpy(fixed.values, t->tpm2.pcr_values, sizeof(fixed.values));
                return signed_policy_authorize_digest(&name, &fixed, true, ret);
        } else {
                uint8_t ranked[CVMSEAL_PCR_MAX][32];

                values_ranked(t->tpm2.pcr_mask, (const uint8_t (*)[32]) t->tpm2.pcr_values, ranked);
                return tpm2_policy_digest(t->tpm2.pcr_mask, (const uint8_t (*)[32]) ranked, true, ret);
        }
}

static int set_blob(uint8_t **dst, size_t *dst_size, const void *src, size_t size) {
        uint8_t *p = malloc(size ? size : 1);

        if (!p)
                return -ENOMEM;
        memcpy(p, src, size);
        free(*dst);
        *dst = p;
        *dst_size = size;
        return 0;
}

int seal_token(const struct seal_params *p, const cvmseal_secret *data, const char *uuid, int id, struct token *t,
               uint8_t ret_binding[32]) {
        _cleanup_free_ uint8_t *srk_buf = NULL;
        uint8_t binding[32], auth_value[32];
        TPM2B_PUBLIC srk = {};
        TPM2B_NAME srk_name = {};
        TPM2B_DIGEST policy;
        TPM2B_AUTH auth = { .size = 32 };
        struct tpm2_sealed sealed;
        size_t srk_size = 0;
        int r;

        if (!p || !data || !t || !uuid || !p->values || p->mask == 0 || p->mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX) ||
            (!p->tpm && !p->srk_public))
                return -EINVAL;

        /* The SRK: the target's (offline), or this TPM's, which must be the pinned one. */
        if (p->tpm) {
                bool pinned;

                r = tpm2_srk_public(p->tpm, true, &srk_buf, &srk_size, &srk_name);
                if (r < 0)
                        return r;
                r = srk_pin_check(srk_name.name, srk_name.size, &pinned);
                if (r < 0)
                        return r;
                if (!pinned) {
                        /* Trust on first use: this enrollment trusts the channel anyway (Create's
                         * sensitive data crosses it).  A configuration directory that cannot be
                         * written (a read-only /etc) leaves the SRK unpinned: unlock then trusts the
                         * token's name, as version 1 did. */
                        r = srk_pin_save(srk_buf, srk_size);
                        if (r == -EREMCHG)
                                return r;
                        if (r < 0)
                                log_debug_errno(r, "Cannot pin the SRK: left unpinned");
                }
        } else {
                r = tpm2_srk_public_parse(p->srk_public, p->srk_public_size, &srk, &srk_name);
                if (r < 0)
                        return r;
        }

        t->version = CVMSEAL_TOKEN_VERSION;
        t->tpm2.srk_handle = CVMSEAL_SRK_HANDLE;
        r = set_blob(&t->tpm2.srk_name, &t->tpm2.srk_name_size, srk_name.name, srk_name.size);
        if (r < 0)
                return r;
        t->tpm2.pcr_mask = p->mask;
        t->tpm2.pcr_values_mask = p->signing_key ? p->mask & CVMSEAL_LOCK_MASK : p->mask;
        memset(t->tpm2.pcr_values, 0, sizeof(t->tpm2.pcr_values));
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if (t->tpm2.pcr_values_mask & (UINT32_C(1) << i))
                        memcpy(t->tpm2.pcr_values[i], p->values[i], 32);
        t->tpm2.pin = p->pin != NULL;
        if (!t->tpm2.pcr_bank) {
                t->tpm2.pcr_bank = strdup("sha256");
                if (!t->tpm2.pcr_bank)
                        return -ENOMEM;
        }
        if (p->signing_key) {
                r = signed_policy_token_key_marshal(p->signing_key, &t->tpm2.pubkey, &t->tpm2.pubkey_size,
                                                    &t->tpm2.pubkey_name, &t->tpm2.pubkey_name_size);
                if (r < 0)
                        return r;
        }
        r = token_policy(t, p->signing_key, &policy);
        if (r < 0)
                return r;
        r = set_blob(&t->tpm2.policy, &t->tpm2.policy_size, policy.buffer, policy.size);
        if (r < 0)
                return r;

        /* Every member but the object is final: bind them. */
        r = token_binding(t, uuid, id, binding);
        if (r < 0)
                return r;
        r = token_auth_value(binding, p->pin, auth_value);
        if (r < 0)
                return r;
        memcpy(auth.buffer, auth_value, 32);
        secure_wipe(auth_value, sizeof(auth_value));

        if (p->tpm)
                r = tpm2_seal_policy(p->tpm, &srk_name, &policy, &auth, !p->pin, data, &sealed);
        else
                r = tpm2_seal_offline(&srk, &policy, &auth, !p->pin, data, &sealed);
        secure_wipe(&auth, sizeof(auth));
        if (r < 0)
                return r;

        free(t->tpm2.public);
        free(t->tpm2.private);
        t->tpm2.public = t->tpm2.private = NULL;
        r = tpm2_sealed_marshal(&sealed, &t->tpm2.public, &t->tpm2.public_size, &t->tpm2.private,
                                &t->tpm2.private_size);
        if (r < 0)
                return r;
        free(t->tpm2.import_seed);
        t->tpm2.import_seed = NULL;
        t->tpm2.import_seed_size = 0;
        if (sealed.seed.size > 0) {
                r = tpm2_import_seed_marshal(&sealed.seed, &t->tpm2.import_seed, &t->tpm2.import_seed_size);
                if (r < 0)
                        return r;
        }
        memcpy(ret_binding, binding, 32);
        return 0;
}

/* The attributes cvmseal gives a sealed object: policy only (no userWithAuth), fixed to the TPM
 * unless sealed offline (Import refuses fixedTPM and fixedParent), noda without a PIN. */
static TPMA_OBJECT object_attributes(bool offline, bool pin) {
        return (offline ? 0 : TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT) | (pin ? 0 : TPMA_OBJECT_NODA);
}

int token_sealed(const struct token *t, struct tpm2_sealed *ret) {
        struct tpm2_sealed sealed;
        int r;

        r = tpm2_sealed_unmarshal(t->tpm2.public, t->tpm2.public_size, t->tpm2.private, t->tpm2.private_size,
                                  t->tpm2.srk_name, t->tpm2.srk_name_size, &sealed);
        if (r < 0)
                return r;
        if (sealed.public.publicArea.authPolicy.size != t->tpm2.policy_size ||
            memcmp(sealed.public.publicArea.authPolicy.buffer, t->tpm2.policy, t->tpm2.policy_size) != 0)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'policy' differs from the sealed object's");
        if (!!(sealed.public.publicArea.objectAttributes & TPMA_OBJECT_NODA) == t->tpm2.pin)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'pin' disagrees with the sealed object");
        /* Sealed offline: "private" is a duplicate, imported with this seed at unlock. */
        if (t->tpm2.import_seed) {
                r = tpm2_import_seed_unmarshal(t->tpm2.import_seed, t->tpm2.import_seed_size, &sealed.seed);
                if (r < 0)
                        return r;
        } else
                sealed.seed = (TPM2B_ENCRYPTED_SECRET) {};
        /* Sealed to PolicyAuthorize: the signing key is of cvmseal's template and has its name. */
        if (t->tpm2.pubkey) {
                TPM2B_PUBLIC key;

                r = signed_policy_token_key(t->tpm2.pubkey, t->tpm2.pubkey_size, t->tpm2.pubkey_name,
                                            t->tpm2.pubkey_name_size, &key);
                if (r < 0)
                        return r;
        }

        if (t->version >= 2) {
                TPM2B_DIGEST policy;

                /* Everything that decides the release is checked here before the TPM sees anything:
                 * the policy is the one the members give (an edited PCR list, value, signing key or
                 * PIN flag is a damaged token, not a changed boot state), and the object is of the
                 * kind cvmseal makes. */
                if (t->tpm2.srk_handle != CVMSEAL_SRK_HANDLE)
                        return log_debug_errno(-EBADMSG, "cvmseal token: 'srk-handle' is not 0x%08x",
                                               (unsigned) CVMSEAL_SRK_HANDLE);
                if (t->tpm2.pcr_values_mask != (t->tpm2.pubkey ? t->tpm2.pcr_mask & CVMSEAL_LOCK_MASK : t->tpm2.pcr_mask))
                        return log_debug_errno(-EBADMSG, "cvmseal token: 'pcr-values' does not give the values of 'pcrs'");
                if (sealed.public.publicArea.objectAttributes != object_attributes(t->tpm2.import_seed != NULL, t->tpm2.pin))
                        return log_debug_errno(-EBADMSG, "cvmseal token: the sealed object's attributes are not cvmseal's");
                r = token_policy(t, NULL, &policy);
                if (r < 0)
                        return r;
                if (policy.size != t->tpm2.policy_size || memcmp(policy.buffer, t->tpm2.policy, policy.size) != 0)
                        return log_debug_errno(-EBADMSG, "cvmseal token: 'policy' is not the one its PCRs, values, "
                                               "signing key and binding give");
        }
        *ret = sealed;
        return 0;
}

int token_precheck(const struct token *t, const cvmseal_secret *pin, struct tpm2_sealed *ret) {
        bool pinned;
        int r;

        r = token_sealed(t, ret);
        if (r < 0)
                return r;
        /* The session's salt goes only to the pinned SRK; a token that names another is for another TPM
         * (or a forgery that would send the salt to the forger's key). */
        r = srk_pin_check(t->tpm2.srk_name, t->tpm2.srk_name_size, &pinned);
        if (r < 0)
                return r;
        if (!pinned)
                log_debug("No SRK is pinned in local configuration: trusting the token's SRK name");
        if (t->tpm2.pin && !pin)
                return log_debug_errno(-ENOANO, "The token needs a PIN");
        return 0;
}

int unseal_token(tpm2_context *tpm, const struct token *t, const char *uuid, int id, const cvmseal_secret *pin,
                 cvmseal_secret **ret) {
        struct tpm2_sealed sealed;
        TPM2B_AUTH auth = {}, *a = NULL;
        int r;

        if (!tpm || !t || !uuid || !ret)
                return -EINVAL;
        r = token_precheck(t, pin, &sealed);
        if (r < 0)
                return r;

        if (t->version >= 2) {
                uint8_t binding[32];

                r = token_binding(t, uuid, id, binding);
                if (r >= 0)
                        r = token_auth_value(binding, t->tpm2.pin ? pin : NULL, auth.buffer);
                if (r < 0)
                        return r;
                auth.size = 32;
                a = &auth;
        } else if (t->tpm2.pin) {
                r = tpm2_pin_auth(pin, &auth);
                if (r < 0)
                        return r;
                a = &auth;
        }

        if (t->tpm2.pubkey)
                /* PolicyAuthorize: with the newest signed policy for this boot state (signed-policy.h). */
                r = signed_policy_unseal_token(tpm, t, &sealed, a, ret);
        else
                r = tpm2_unseal(tpm, &sealed, t->tpm2.srk_handle, t->tpm2.pcr_mask, a, ret);
        secure_wipe(&auth, sizeof(auth));
        if (r == -EACCES && t->version >= 2 && !t->tpm2.pin)
                /* No PIN to get wrong: the binding the token gives is not the one it was sealed with. */
                return log_debug_errno(-EBADMSG, "The TPM refused the token's binding: a member of the token was "
                                       "changed after it was sealed");
        return r;
}

int token_passphrase(const struct token *t, const char *uuid, int id, const cvmseal_secret *tpm_share,
                     const cvmseal_secret *hsm_share, const uint8_t policy_digest[32], cvmseal_secret **ret) {
        uint8_t binding[32];
        int r;

        if (t->version < 2)
                return kdf_derive_passphrase(tpm_share, hsm_share, t->salt, sizeof(t->salt), uuid, id,
                                             t->attest_policy ? policy_digest : NULL, ret);
        r = token_binding(t, uuid, id, binding);
        if (r < 0)
                return r;
        return kdf_derive_passphrase_v2(tpm_share, hsm_share, t->salt, sizeof(t->salt), binding, ret);
}
