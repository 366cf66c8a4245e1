/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libcryptsetup.h>

#include "cvmseal.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct crypt_device *, crypt_free);

/* Opens a LUKS2 device or image file.  -ENOENT when it does not exist, -EMEDIUMTYPE when it is not
 * LUKS2. */
/* libcryptsetup's log callback: its messages go to our debug log, never to the caller's stderr. */
void luks_log(int level, const char *msg, void *usrptr);

int luks_open(const char *device, struct crypt_device **ret);

/* The lowest token id that is free, or -ENOSPC. */
int luks_token_free_id(struct crypt_device *cd);

/* The volume key, through any keyslot that unlock_key opens (-EKEYREJECTED when none does). */
int luks_volume_key(struct crypt_device *cd, const cvmseal_secret *unlock_key, cvmseal_secret **ret);

/* Adds a keyslot for passphrase with PBKDF2-SHA256 at the minimal iteration count (for secrets with
 * 256 bits of entropy); returns the keyslot. */
int luks_keyslot_add(struct crypt_device *cd, const cvmseal_secret *volume_key, const cvmseal_secret *passphrase);
/* The same in the lowest free keyslot whose bit is not set in except (0: any); unbound: for a new
 * volume key that no segment uses yet (a rekey's). */
int luks_keyslot_add_except(struct crypt_device *cd, const cvmseal_secret *volume_key, const cvmseal_secret *passphrase,
                            uint32_t except, bool unbound);

/* Opens keyslot (or any with CRYPT_ANY_SLOT) with passphrase; activates name when not NULL.  Returns
 * the keyslot; -EKEYREJECTED when the passphrase does not open it. */
int luks_activate(struct crypt_device *cd, const char *name, int keyslot, const cvmseal_secret *passphrase);

/* Does any active keyslot other than those in the mask exist? */
bool luks_has_other_keyslot(struct crypt_device *cd, uint32_t exclude_mask);
