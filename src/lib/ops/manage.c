/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * list and remove, and what the token plugin shows of a token.  remove takes the token away before
 * its keyslots (luks_token_remove()), so an interruption leaves at worst an unused keyslot, never a
 * token without its keyslot.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hsm.h"
#include "json-util.h"
#include "log.h"
#include "luks.h"
#include "provision.h"
#include "seal.h"
#include "srk-pin.h"
#include "token.h"

_public_ const char *cvmseal_version(void) {
        return PROJECT_VERSION;
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

_public_ int cvmseal_remove(const char *device, int token_id, json_object **ret_keyslots) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(json_object_putp) json_object *removed = NULL;
        const char *json = NULL;
        uint32_t mask = 0;
        int r;

        if (token_id < 0 || token_id >= crypt_token_max(CRYPT_LUKS2))
                return -EINVAL;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        if (luks_in_reencryption(cd))
                return log_debug_errno(-EINPROGRESS, "%s is in reencryption (a rekey): libcryptsetup changes no "
                                       "token or keyslot until it is done", device);

        r = crypt_token_json_get(cd, token_id, &json);
        if (r < 0 || !token_json_is_cvmseal(json))
                return log_debug_errno(-ENOMEDIUM, "Token %d is not a cvmseal token", token_id);

        removed = json_object_new_array();
        if (!removed)
                return -ENOMEM;
        r = luks_token_remove(cd, token_id, LUKS_ALL_KEYSLOTS, &mask);
        if (r < 0)
                return r;
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++)
                if ((mask & (UINT32_C(1) << s)) && json_object_array_add(removed, json_object_new_int(s)) < 0)
                        return -ENOMEM;

        if (ret_keyslots)
                *ret_keyslots = TAKE_PTR(removed);
        return 0;
}
