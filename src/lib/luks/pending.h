/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Crash-safe keyslot changes (docs/design.md, "Crash safety of enroll, reseal and rotate").
 *
 * libcryptsetup commits one change at a time (a keyslot, a token), so an operation that adds a
 * keyslot and a token, or replaces one pair by another, can be cut between two commits.  Before the
 * first of them cvmseal writes a record, a LUKS2 token of type "cvmseal-pending" that references no
 * keyslot:
 *
 *   {"type": "cvmseal-pending", "keyslots": [], "version": 2, "state": "adding" | "replacing",
 *    "token": 3,                                        (the cvmseal token being added)
 *    "added": [{"keyslot": 2, "iterations": 1234}],      (the keyslots being added, chosen beforehand)
 *    "replaces": {"token": 0, "keyslot": 1, "iterations": 1000,    (reseal and rotate only)
 *                 "digest": "<hex: token_digest() of the token replaced>"},
 *    "mac": "<hex: HMAC-SHA256 of the record without this member, keyed from the volume key>"}
 *
 * and removes it after the last.  Every cvmseal operation that writes (enroll, reseal, rotate) first
 * finishes what such records describe (pending_gc()): "adding" is rolled back (the new token, then
 * the new keyslots), "replacing" is rolled forward (the old token, then its keyslot).  A keyslot is
 * destroyed only when an authenticated record names it (the header shows every value a record holds,
 * so only a MAC keyed from the volume key tells cvmseal's records from forged ones), no token
 * references it, and its PBKDF2 parameters are the
 * recorded ones: cvmseal gives each keyslot it adds a random iteration count (1001-2024), so a
 * keyslot that someone else added in the same slot number after a crash is never taken for one of
 * cvmseal's.  Never the last keyslot of the volume.
 */

#include <stdbool.h>

#include <libcryptsetup.h>

#include "cvmseal.h"

#define PENDING_TOKEN_TYPE "cvmseal-pending"
#define PENDING_VERSION 2
#define PENDING_KEY_INFO "cvmseal pending v2"
#define PENDING_SLOTS_MAX 4U   /* a rekey's enroll: the recovery key and the token, each with its twin */

struct pending {
        int id;                                   /* the record's token id; -1 while not written */
        int token;                                /* the cvmseal token being added */
        unsigned n_slots;
        int slots[PENDING_SLOTS_MAX];             /* the keyslots being added */
        unsigned iterations[PENDING_SLOTS_MAX];   /* their PBKDF2 iteration counts: the fingerprint */
        int old_token;                            /* what the new token replaces; -1: nothing */
        int old_keyslot;
        unsigned old_iterations;
        bool replacing;                           /* the new token is verified: remove the old one */
        uint8_t old_digest[32];                   /* token_digest() of the token replaced (old_token >= 0) */
        uint8_t key[32];                          /* the MAC key (pending_key()) */
};

/* The key that authenticates this volume's records: HKDF-SHA256(volume key, no salt,
 * "cvmseal pending v2" NUL || LUKS UUID).  Only who holds the volume key can write a record that
 * pending_gc() acts on. */
int pending_key(const cvmseal_secret *volume_key, const char *uuid, uint8_t ret[32]);

/* Finishes every pending record of the device (see above) that volume_key authenticates.  A record
 * is only ever a plan, and a genuine record can be written back later by whoever copied it: so an
 * "adding" record whose token is in place is finished forward (the token kept, the record dropped),
 * never rolled back, and a "replacing" record removes the old token only when its digest is the
 * recorded one.  Errors only
 * when the header cannot be written; a record it cannot parse or authenticate is left alone. */
int pending_gc(struct crypt_device *cd, const cvmseal_secret *volume_key);

/* Chooses n_slots free keyslots and their PBKDF2 iteration counts (the record's plan, so that a token
 * can name its keyslot before the keyslot exists), writing nothing.  old_token/old_keyslot: what
 * token replaces (-1: nothing). */
int pending_plan(struct crypt_device *cd, const cvmseal_secret *volume_key, int token, unsigned n_slots, int old_token,
                 int old_keyslot, struct pending *ret);
/* Writes the record (authenticated), before any keyslot is added. */
int pending_start(struct crypt_device *cd, struct pending *p);

/* The planned keyslots as a bit mask (keyslots 0-31), for keyslots added outside the plan. */
uint32_t pending_slot_mask(const struct pending *p);

/* Adds keyslot p->slots[i] for passphrase (PBKDF2-SHA256 at p->iterations[i]); returns the keyslot. */
int pending_keyslot_add(struct crypt_device *cd, const struct pending *p, unsigned i, const cvmseal_secret *volume_key,
                        const cvmseal_secret *passphrase, bool unbound);

/* Undoes what the record describes (the new token if written, the new keyslots) and removes it. */
int pending_rollback(struct crypt_device *cd, struct pending *p);

/* The new token is written and verified: for a replacement, marks the record "replacing", removes
 * the old token and its keyslot; then removes the record. */
int pending_commit(struct crypt_device *cd, struct pending *p);
