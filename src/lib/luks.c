/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 through libcryptsetup.  Its errors are negative errno values already; the ones whose meaning
 * depends on the call (-EPERM: no keyslot opened; -EINVAL: not LUKS) are made explicit here. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "luks.h"
#include "secret.h"

/* libcryptsetup's own messages go to our debug log, never straight to the caller's stderr. */
void luks_log(int level, const char *msg, void *usrptr) {
        size_t n = strlen(msg);

        (void) level;
        (void) usrptr;
        while (n > 0 && msg[n - 1] == '\n')
                n--;
        log_debug("libcryptsetup: %.*s", (int) n, msg);
}

int luks_open(const char *device, struct crypt_device **ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        struct stat st;
        int r;

        /* -EACCES would read as "wrong PIN" to callers: keep it apart. */
        if (stat(device, &st) < 0)
                return log_debug_errno(errno == ENOENT ? -ENOENT : -EIO, "Cannot access %s", device);
        /* Neither a file nor a block device (a directory...): libcryptsetup would say so on stderr. */
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return log_debug_errno(-EMEDIUMTYPE, "%s is neither a file nor a block device", device);

        r = crypt_init(&cd, device);
        if (r < 0)
                return log_debug_errno(r == -EACCES ? -EIO : r, "Cannot open %s", device);
        crypt_set_log_callback(cd, luks_log, NULL);

        r = crypt_load(cd, CRYPT_LUKS, NULL);
        /* A file shorter than the two LUKS2 binary headers cannot hold one: libcryptsetup's read
         * fails with -EIO there, which must not read as a device error. */
        if (r == -EINVAL || (r == -EIO && S_ISREG(st.st_mode) && st.st_size < 2 * 4096))
                return log_debug_errno(-EMEDIUMTYPE, "No LUKS header on %s", device);
        if (r < 0)
                return log_debug_errno(r, "Cannot read the LUKS header of %s", device);
        if (!streq_ptr(crypt_get_type(cd), CRYPT_LUKS2))
                return log_debug_errno(-EMEDIUMTYPE, "%s is %s, not LUKS2", device, crypt_get_type(cd));

        *ret = TAKE_PTR(cd);
        return 0;
}

int luks_token_free_id(struct crypt_device *cd) {
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                if (crypt_token_status(cd, id, NULL) == CRYPT_TOKEN_INACTIVE)
                        return id;
        return log_debug_errno(-ENOSPC, "No free LUKS2 token");
}

int luks_volume_key(struct crypt_device *cd, const cvmseal_secret *unlock_key, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        size_t vk_size;
        int r;

        r = crypt_get_volume_key_size(cd);
        if (r <= 0)
                return log_debug_errno(-EINVAL, "The volume key size is unknown");
        vk_size = (size_t) r;
        vk = cvmseal_secret_new(vk_size);
        if (!vk)
                return -ENOMEM;

        r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *) cvmseal_secret_data_mut(vk), &vk_size,
                                 (const char *) cvmseal_secret_data(unlock_key), cvmseal_secret_size(unlock_key));
        if (r == -EPERM || r == -ENOENT)
                return log_debug_errno(-EKEYREJECTED, "The unlock key opens no keyslot");
        if (r < 0)
                return log_debug_errno(r, "Cannot get the volume key");
        cvmseal_secret_truncate(vk, vk_size);

        *ret = TAKE_PTR(vk);
        return r; /* the keyslot */
}

int luks_keyslot_add(struct crypt_device *cd, const cvmseal_secret *volume_key, const cvmseal_secret *passphrase) {
        return luks_keyslot_add_except(cd, volume_key, passphrase, 0, false);
}

int luks_keyslot_add_except(struct crypt_device *cd, const cvmseal_secret *volume_key, const cvmseal_secret *passphrase,
                            uint32_t except, bool unbound) {
        /* The passphrase has 256 bits of entropy: a slow KDF would only slow the boot. */
        const struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = "sha256",
                .iterations = 1000,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        int r;

        int slot = CRYPT_ANY_SLOT;

        r = crypt_set_pbkdf_type(cd, &pbkdf);
        if (r < 0)
                return log_debug_errno(r, "Cannot select PBKDF2");

        if (except != 0) {
                /* The lowest free keyslot not in except (which a plan keeps for other keyslots). */
                for (slot = 0; slot < crypt_keyslot_max(CRYPT_LUKS2); slot++)
                        if ((slot >= 32 || !(except & (UINT32_C(1) << slot))) &&
                            crypt_keyslot_status(cd, slot) == CRYPT_SLOT_INACTIVE)
                                break;
                if (slot >= crypt_keyslot_max(CRYPT_LUKS2))
                        return log_debug_errno(-ENOSPC, "No free keyslot left");
        }
        if (unbound)
                /* A new volume key (a rekey): bound to no segment until the re-encryption starts. */
                r = crypt_keyslot_add_by_key(cd, slot, (const char *) cvmseal_secret_data(volume_key),
                                             cvmseal_secret_size(volume_key), (const char *) cvmseal_secret_data(passphrase),
                                             cvmseal_secret_size(passphrase),
                                             CRYPT_VOLUME_KEY_NO_SEGMENT | CRYPT_VOLUME_KEY_DIGEST_REUSE);
        else
                r = crypt_keyslot_add_by_volume_key(cd, slot, (const char *) cvmseal_secret_data(volume_key),
                                                    cvmseal_secret_size(volume_key),
                                                    (const char *) cvmseal_secret_data(passphrase),
                                                    cvmseal_secret_size(passphrase));
        if (r == -ENOMEM || r == -EINVAL || r == -ENOSPC)
                /* libcryptsetup says -EINVAL or -ENOMEM when no slot or no keyslot area is left. */
                return log_debug_errno(-ENOSPC, "Cannot add a keyslot (%s)", strerror(-r));
        if (r < 0)
                return log_debug_errno(r, "Cannot add a keyslot");
        return r;
}

int luks_activate(struct crypt_device *cd, const char *name, int keyslot, const cvmseal_secret *passphrase) {
        int r;

        r = crypt_activate_by_passphrase(cd, name, keyslot, (const char *) cvmseal_secret_data(passphrase),
                                         cvmseal_secret_size(passphrase), 0);
        if (r == -EPERM)
                return log_debug_errno(-EKEYREJECTED, "The passphrase does not open keyslot %d", keyslot);
        if (r == -ENOTSUP || (r < 0 && name && crypt_status(cd, name) == CRYPT_INVALID))
                return log_debug_errno(-ENOTSUP, "Cannot activate %s: device-mapper is not available", name);
        if (r < 0)
                return log_debug_errno(r, "Cannot open keyslot %d", keyslot);
        return r;
}

bool luks_has_other_keyslot(struct crypt_device *cd, uint32_t exclude_mask) {
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                crypt_keyslot_info ki = crypt_keyslot_status(cd, s);

                if ((ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST) && !(exclude_mask & (UINT32_C(1) << s)))
                        return true;
        }
        return false;
}
