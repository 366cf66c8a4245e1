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
 *   {"type": "cvmseal-pending", "keyslots": [], "version": 1, "state": "adding" | "replacing",
 *    "token": 3,                                        (the cvmseal token being added)
 *    "added": [{"keyslot": 2, "iterations": 1234}],      (the keyslots being added, chosen beforehand)
 *    "replaces": {"token": 0, "keyslot": 1, "iterations": 1000}}   (reseal and rotate only)
 *
 * and removes it after the last.  Every cvmseal operation that writes (enroll, reseal, rotate) first
 * finishes what such records describe (pending_gc()): "adding" is rolled back (the new token, then
 * the new keyslots), "replacing" is rolled forward (the old token, then its keyslot).  A keyslot is
 * destroyed only when a record names it, no token references it, and its PBKDF2 parameters are the
 * recorded ones: cvmseal gives each keyslot it adds a random iteration count (1001-2024), so a
 * keyslot that someone else added in the same slot number after a crash is never taken for one of
 * cvmseal's.  Never the last keyslot of the volume.
 */

#include <stdbool.h>

#include <libcryptsetup.h>

#include "cvmseal.h"

#define PENDING_TOKEN_TYPE "cvmseal-pending"
#define PENDING_VERSION 1
#define PENDING_SLOTS_MAX 2U

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
};

/* Finishes every pending record of the device (see above).  Errors only when the header cannot be
 * written; a record it cannot parse is left alone. */
int pending_gc(struct crypt_device *cd);

/* Chooses n_slots free keyslots and a token id for the record (other than token), and writes the
 * record, before any keyslot is added.  old_token/old_keyslot: what token replaces (-1: nothing). */
int pending_begin(struct crypt_device *cd, int token, unsigned n_slots, int old_token, int old_keyslot,
                  struct pending *ret);

/* Adds keyslot p->slots[i] for passphrase (PBKDF2-SHA256 at p->iterations[i]); returns the keyslot. */
int pending_keyslot_add(struct crypt_device *cd, const struct pending *p, unsigned i, const cvmseal_secret *volume_key,
                        const cvmseal_secret *passphrase);

/* Undoes what the record describes (the new token if written, the new keyslots) and removes it. */
int pending_rollback(struct crypt_device *cd, struct pending *p);

/* The new token is written and verified: for a replacement, marks the record "replacing", removes
 * the old token and its keyslot; then removes the record. */
int pending_commit(struct crypt_device *cd, struct pending *p);
