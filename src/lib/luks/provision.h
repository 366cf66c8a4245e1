/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "cvmseal.h"

/*
 * The first-boot provisioning marker (docs/token-format.md, "The provisioning marker"): a LUKS2 token
 * of type "cvmseal-provision" that `image encrypt` writes and the first boot consumes.  It carries
 * the passphrase of a provisioning keyslot in clear, and what the first boot is to enroll to.
 */

#define PROVISION_TOKEN_TYPE "cvmseal-provision"
#define PROVISION_TOKEN_VERSION 2          /* what image encrypt writes; 1 is still read */
#define PROVISION_PASSPHRASE_SIZE 44U      /* base64 of 32 random bytes */
#define PROVISION_KDF_INFO "cvmseal provision v2"
#define PROVISION_POLICY_MAX 65536U        /* as the cvmseal token's attestation policy */
#define PROVISION_URI_MAX 4096U

struct provision_marker {
        int token_id;
        int version;                  /* 1 or 2 */
        int keyslot;                  /* -1: the marker names none (its keyslot was destroyed) */
        cvmseal_secret *secret;       /* version 2: "secret", the keyslot's passphrase is derived from it
                                         and the marker's members; version 1: "passphrase", the keyslot's
                                         passphrase itself.  44 characters of base64 either way */
        uint32_t pcr_mask;            /* PCRs to enroll to at first boot; 0: the default */
        char *attest_policy;          /* exact policy bytes (NUL-terminated text) or NULL */
        char *hsm_uri;                /* or NULL */
        char *hsm_provider;           /* hsm_uri is an OSSL_STORE URI of this OpenSSL provider, or NULL */
        uint8_t *recovery_key;        /* "enroll": {"recovery-key"}: the owner's RSA public key (DER
                                         SubjectPublicKeyInfo) the first boot escrows a new recovery key
                                         to (escrow.h), or NULL */
        size_t recovery_key_size;
        bool no_rekey;                /* "enroll": {"rekey": false}: the first boot keeps the volume key;
                                         absent (the default): it re-encrypts the volume to a new one */
};

/* The passphrase of the marker's keyslot on the volume of uuid.  Version 2 (docs/token-format.md):
 *   base64(HKDF-SHA256(ikm = secret (its 44 characters), no salt,
 *                      info = "cvmseal provision v2" NUL || uuid || canonical))
 * where canonical is the marker without "secret" and "keyslots", as this module writes it, so that a
 * marker any member of which was edited gives a passphrase that opens nothing.  Version 1: the secret
 * itself. */
int provision_keyslot_passphrase(const struct provision_marker *m, const char *uuid, cvmseal_secret **ret);

/* Writes m (version 2: secret, pcr_mask, attest_policy, hsm_uri) as the marker of keyslot into the
 * first free token; the keyslot must open with provision_keyslot_passphrase(m).  hsm_uri is stored
 * without its PIN attributes and module path.  Nothing is written on failure. */
int provision_marker_add(struct crypt_device *cd, int keyslot, const struct provision_marker *m, int *ret_token_id);

/* The first marker of the device: 0, -ENOENT when there is none, -EBADMSG when malformed.  A marker
 * whose keyslot was destroyed (libcryptsetup then takes the keyslot out of the token) is returned with
 * keyslot -1: a first boot was interrupted after destroying the keyslot and before removing the marker. */
int provision_marker_find(struct crypt_device *cd, struct provision_marker *ret);

void provision_marker_done(struct provision_marker *m);

/* Strict parsing of a marker's JSON text (what provision_marker_find() applies to the token it
 * finds): 0, or -EBADMSG with a debug message naming the member.  ret->token_id is left at -1. */
int provision_marker_parse(const char *json, struct provision_marker *ret);
