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
#define PROVISION_TOKEN_VERSION 1
#define PROVISION_PASSPHRASE_SIZE 44U      /* base64 of 32 random bytes */
#define PROVISION_POLICY_MAX 65536U        /* as the cvmseal token's attestation policy */
#define PROVISION_URI_MAX 4096U

struct provision_marker {
        int token_id;
        int keyslot;                  /* -1: the marker names none (its keyslot was destroyed) */
        cvmseal_secret *passphrase;   /* the provisioning keyslot's passphrase */
        uint32_t pcr_mask;            /* PCRs to enroll to at first boot; 0: the default */
        char *attest_policy;          /* exact policy bytes (NUL-terminated text) or NULL */
        char *hsm_uri;                /* or NULL */
        char *hsm_provider;           /* hsm_uri is an OSSL_STORE URI of this OpenSSL provider, or NULL */
};

/* Writes a marker for keyslot (which passphrase opens) into the first free token.  hsm_uri is stored
 * without its PIN attributes (pin-value, pin-source).  Nothing is written on failure. */
int provision_marker_add(struct crypt_device *cd, int keyslot, const cvmseal_secret *passphrase,
                         uint32_t pcr_mask, const char *attest_policy, const char *hsm_uri, int *ret_token_id);
/* The same; with hsm_provider, hsm_uri is that OpenSSL provider's OSSL_STORE URI, stored as it is. */
int provision_marker_add_ex(struct crypt_device *cd, int keyslot, const cvmseal_secret *passphrase,
                            uint32_t pcr_mask, const char *attest_policy, const char *hsm_uri, const char *hsm_provider,
                            int *ret_token_id);

/* The first marker of the device: 0, -ENOENT when there is none, -EBADMSG when malformed.  A marker
 * whose keyslot was destroyed (libcryptsetup then takes the keyslot out of the token) is returned with
 * keyslot -1: a first boot was interrupted after destroying the keyslot and before removing the marker. */
int provision_marker_find(struct crypt_device *cd, struct provision_marker *ret);

void provision_marker_done(struct provision_marker *m);

/* Strict parsing of a marker's JSON text (what provision_marker_find() applies to the token it
 * finds): 0, or -EBADMSG with a debug message naming the member.  ret->token_id is left at -1. */
int provision_marker_parse(const char *json, struct provision_marker *ret);
