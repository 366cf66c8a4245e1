/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The initramfs's handover of a rekey to the booted system (handover.h): the token's passphrase in
 * root's user keyring, since the lock forbids another unseal after switch-root.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handover.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "secret.h"

/* Key permissions (keyutils.h's names): the possessor everything, root (the owner) view, read and
 * search, nobody else anything. */
#define KEY_POS_ALL 0x3f000000U
#define KEY_USR_VIEW 0x00010000U
#define KEY_USR_READ 0x00020000U
#define KEY_USR_SEARCH 0x00080000U

static void keyring_desc(const char *uuid, char buf[80]) {
        snprintf(buf, 80, "%s%s", HANDOVER_KEYRING_PREFIX, uuid);
}

int rekey_handover(const char *uuid, const cvmseal_secret *pass) {
        char desc[80];
        long id;

        if (!uuid || !pass)
                return -EINVAL;
        keyring_desc(uuid, desc);
        id = syscall(SYS_add_key, "user", desc, cvmseal_secret_data(pass), cvmseal_secret_size(pass),
                     KEY_SPEC_USER_KEYRING);
        if (id < 0)
                return log_debug_errno(negative_errno(), "Cannot hand the rekey over in the kernel keyring");
        if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH) < 0)
                log_debug_errno(negative_errno(), "Cannot restrict the handed-over key's permissions");
        log_debug("Handed the rekey of %s over in the user keyring (key %ld)", uuid, id);
        return 0;
}

static long handover_find(const char *uuid) {
        char desc[80];

        keyring_desc(uuid, desc);
        return syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", desc, 0);
}

int handover_read(const char *uuid, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *s = NULL;
        long id, n;

        id = handover_find(uuid);
        if (id < 0)
                return -ENOKEY;
        s = cvmseal_secret_new(256);
        if (!s)
                return -ENOMEM;
        n = syscall(SYS_keyctl, KEYCTL_READ, id, cvmseal_secret_data_mut(s), 256);
        if (n < 0)
                return log_debug_errno(negative_errno(), "Cannot read the handed-over key");
        if (n == 0 || n > 256)
                return -ENOKEY;
        cvmseal_secret_truncate(s, (size_t) n);
        *ret = TAKE_PTR(s);
        return 0;
}

void handover_drop(const char *uuid) {
        long id = handover_find(uuid);

        if (id >= 0) {
                (void) syscall(SYS_keyctl, KEYCTL_INVALIDATE, id);
                log_debug("Removed the handed-over key of %s from the keyring", uuid);
        }
}

/* ---- which volumes the initramfs handed over ---- */

_public_ int cvmseal_rekey_handed_over(char ***ret_devices) {
        _cleanup_free_ int32_t *ids = NULL;
        char **list = NULL;
        size_t n = 0;
        long size;

        if (!ret_devices)
                return -EINVAL;
        size = syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_USER_KEYRING, NULL, 0);
        if (size > 0) {
                ids = malloc((size_t) size);
                if (!ids)
                        return -ENOMEM;
                size = syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_USER_KEYRING, ids, size);
        }
        list = calloc(1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        for (long i = 0; size > 0 && i < size / (long) sizeof(int32_t); i++) {
                char desc[256], *p, *dev = NULL, **grown;
                const char *uuid;
                struct stat st;
                long k;

                k = syscall(SYS_keyctl, KEYCTL_DESCRIBE, ids[i], desc, sizeof(desc));
                if (k <= 0 || k > (long) sizeof(desc))
                        continue;
                desc[sizeof(desc) - 1] = 0;
                /* "type;uid;gid;perm;description" */
                p = strrchr(desc, ';');
                if (!p || strncmp(desc, "user;", 5) != 0 || strncmp(p + 1, HANDOVER_KEYRING_PREFIX, strlen(HANDOVER_KEYRING_PREFIX)) != 0)
                        continue;
                uuid = p + 1 + strlen(HANDOVER_KEYRING_PREFIX);
                if (strlen(uuid) != 36 || strspn(uuid, "0123456789abcdefABCDEF-") != 36)
                        continue;
                if (asprintf(&dev, "/dev/disk/by-uuid/%s", uuid) < 0)
                        goto oom;
                if (stat(dev, &st) < 0) {
                        free(dev);
                        dev = NULL;
                        /* No udev (an initramfs without it): the device under the active mapping. */
                        if (luks_active(uuid, NULL, &dev) < 0)
                                continue;
                }
                grown = realloc(list, (n + 2) * sizeof(char *));
                if (!grown) {
                        free(dev);
                        goto oom;
                }
                list = grown;
                list[n++] = dev;
                list[n] = NULL;
        }
        *ret_devices = list;
        return (int) n;
oom:
        for (size_t i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return -ENOMEM;
}
