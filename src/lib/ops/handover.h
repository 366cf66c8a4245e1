/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cvmseal.h"

/* The initramfs's handover to the rekey after switch-root (rekey.h): the passphrase in root's user
 * keyring (type "user", description "cvmseal:rekey:UUID"), readable by root only.  Best effort: the
 * rekey can also be resumed with a key file. */
#define HANDOVER_KEYRING_PREFIX "cvmseal:rekey:"

int rekey_handover(const char *uuid, const cvmseal_secret *pass);
/* The handed-over passphrase of volume uuid; -ENOKEY when there is none. */
int handover_read(const char *uuid, cvmseal_secret **ret);
/* Takes it out of the keyring (the rekey is done). */
void handover_drop(const char *uuid);
