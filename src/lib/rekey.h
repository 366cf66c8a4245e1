/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Re-encryption of a volume to a new volume key, born here (docs/design.md, "Rekey"): LUKS2 online
 * reencryption through libcryptsetup, resumable, crash-safe by its "checksum" resilience.
 *
 * While the data is re-encrypted, libcryptsetup opens the volume only with a passphrase that opens a
 * keyslot of each volume key (LUKS2_keyslot_open_all_segments()).  cvmseal's design: the cvmseal token
 * is made for a keyslot of the *new* key (its bound "keyslots" member names that one, so it survives
 * the end, when libcryptsetup destroys every keyslot of the old key), and a twin keyslot of the old
 * key has the same passphrase; no token names the twin.  The token's members never change during the
 * rekey: the TPM binding holds throughout.
 */

#include <stdbool.h>

#include <libcryptsetup.h>

#include "cvmseal.h"

#define REKEY_RECORD_TYPE "cvmseal-rekey"
#define REKEY_KEYRING_PREFIX "cvmseal:rekey:"

/* Whether libcryptsetup has the volume in reencryption (clean or after a crash). */
bool rekey_in_progress(struct crypt_device *cd);

/* A new random volume key of the volume's key size. */
int rekey_new_volume_key(struct crypt_device *cd, cvmseal_secret **ret);

/* Puts the volume into reencryption (metadata only) to the key of keyslot_new (an unbound keyslot
 * that pass opens, with a twin of the current key under the same passphrase: rekey_keyslot_check()
 * first), and writes the informational record.  Nothing of the data is touched yet. */
int rekey_start(struct crypt_device *cd, const cvmseal_secret *pass, int keyslot_new);

/* The initramfs's handover to the rekey after switch-root: pass in root's user keyring (type "user",
 * description "cvmseal:rekey:UUID"), readable by root only.  Best effort: the rekey can also be
 * resumed with a key file. */
int rekey_handover(const char *uuid, const cvmseal_secret *pass);

/* A cvmseal token whose keyslot holds a new key not yet in use (a rekey about to start): its keyslot,
 * or -1. */
int rekey_unbound_token_keyslot(struct crypt_device *cd, int *ret_token);

/* When a cvmseal token's keyslot holds a new key not yet in use (a rekey prepared, not started):
 * rekey_start() with pass and keyslot (the enrollment's, just made), or without pass with the
 * passphrase and the keyslot of the token that an unseal opens (before the lock).  0 when there is
 * nothing to start. */
int rekey_start_pending(struct crypt_device *cd, const char *tcti, const cvmseal_secret *pass, int keyslot);

/* Whether keyslot's area is not encrypted (cipher_null): libcryptsetup before 2.8.1 opens such a
 * keyslot with any passphrase, so opening it proves nothing. */
bool rekey_keyslot_null(struct crypt_device *cd, int keyslot);

/* keyslot may become the volume's: unbound, encrypted (not cipher_null), and pass opens it.
 * -EBADMSG (planted) or -EKEYREJECTED otherwise. */
int rekey_keyslot_check(struct crypt_device *cd, int keyslot, const cvmseal_secret *pass);
