/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Moving a volume from another LUKS2 token to cvmseal without its passphrase (`enroll --unlock-token
 * ID`, docs/migration.md): the volume key comes out through the other token itself.
 *
 *   - a token that libcryptsetup has a plugin for (systemd-tpm2, systemd-fido2, systemd-pkcs11 in its
 *     token directory): crypt_keyslot_context_init_by_token() and
 *     crypt_volume_key_get_by_keyslot_context() (libcryptsetup 2.6), the plugin doing its own unseal;
 *   - a clevis token (no libcryptsetup plugin in Debian 12): `clevis luks pass -d DEVICE -s SLOT`, found
 *     in $PATH, whose standard output (the keyslot's passphrase) is read from a pipe into a secret
 *     buffer; its standard error is kept for the debug log; its environment is this process's (clevis'
 *     tpm2 pin talks to the TPM that TPM2TOOLS_TCTI names).
 *
 * cvmseal tokens are opened by unlock.c itself.
 */

#include <libcryptsetup.h>

#include "cvmseal.h"

/* The volume key through token id of cd (device: its path, for clevis), as a secret; returns the
 * keyslot that opened.  -ENOMEDIUM: no such token; -ENOPROTOOPT: no way to open a token of that type
 * here (no plugin, or clevis missing); -ENOANO: the token needs a PIN; -EKEYREJECTED: the token
 * (its plugin, clevis) refused or failed; -EOPNOTSUPP: libcryptsetup older than 2.6. */
int migrate_volume_key(struct crypt_device *cd, const char *device, int id, cvmseal_secret **ret);

/* Removes token id, then keyslot opened (the one its secret opened in this run: migrate_volume_key's
 * answer) when the token is assigned to it and no other token is, and another keyslot remains (-EBUSY
 * otherwise); *ret_keyslots: the removed keyslots as a bit mask.  No other keyslot is ever destroyed,
 * whatever the header assigns to the token. */
int migrate_wipe(struct crypt_device *cd, int id, int opened, uint32_t *ret_keyslots);
