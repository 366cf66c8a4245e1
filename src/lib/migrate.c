/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The other token's way into a volume (migrate.h). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "luks.h"
#include "macro.h"
#include "migrate.h"
#include "secret.h"

#define CLEVIS_PASS_MAX 4096U

extern char **environ;

/* The one keyslot a token is assigned to (-ENOENT: none; -EINVAL: more than one). */
static int token_keyslot(struct crypt_device *cd, int id) {
        int found = -ENOENT;

        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++)
                if (crypt_token_is_assigned(cd, id, s) == 0) {
                        if (found >= 0)
                                return -EINVAL;
                        found = s;
                }
        return found;
}

static int volume_key_get(struct crypt_device *cd, int slot, const cvmseal_secret *pass, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        size_t size;
        int r;

        r = crypt_get_volume_key_size(cd);
        if (r <= 0)
                return -EINVAL;
        size = (size_t) r;
        vk = cvmseal_secret_new(size);
        if (!vk)
                return -ENOMEM;
        r = crypt_volume_key_get(cd, slot, (char *) cvmseal_secret_data_mut(vk), &size,
                                 (const char *) cvmseal_secret_data(pass), cvmseal_secret_size(pass));
        if (r < 0)
                return log_debug_errno(-EKEYREJECTED, "The token's secret does not open keyslot %d", slot);
        cvmseal_secret_truncate(vk, size);
        *ret = TAKE_PTR(vk);
        return r;
}

/* clevis has no libcryptsetup plugin in Debian 12: its own `clevis luks pass` gives the keyslot's
 * passphrase on standard output, which goes through a pipe into a secret buffer (never argv, the
 * environment or a file). */
static int clevis_volume_key(struct crypt_device *cd, const char *device, int id, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *pass = NULL;
        posix_spawn_file_actions_t fa;
        char slot_arg[16];
        int out[2] = { -1, -1 }, errfd, slot, status = 0, r;
        pid_t pid;

        slot = token_keyslot(cd, id);
        if (slot < 0)
                return log_debug_errno(-EKEYREJECTED, "Clevis token %d is not assigned to exactly one keyslot", id);
        snprintf(slot_arg, sizeof(slot_arg), "%d", slot);
        char *const argv[] = { (char *) "clevis", (char *) "luks", (char *) "pass", (char *) "-d", (char *) device,
                               (char *) "-s", slot_arg, NULL };

        /* Its complaints, for the debug log: no secret in them. */
        errfd = memfd_create("cvmseal-clevis-stderr", MFD_CLOEXEC);
        if (errfd < 0)
                return -errno;
        if (pipe2(out, O_CLOEXEC) < 0) {
                r = -errno;
                close(errfd);
                return r;
        }
        r = posix_spawn_file_actions_init(&fa);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, errfd, STDERR_FILENO);
        if (r == 0) {
                r = posix_spawnp(&pid, "clevis", &fa, NULL, argv, environ);
                posix_spawn_file_actions_destroy(&fa);
        }
        close(out[1]);
        if (r != 0) {
                close(out[0]);
                close(errfd);
                return log_debug_errno(r == ENOENT ? -ENOPROTOOPT : -r, "Cannot run clevis");
        }

        r = cvmseal_secret_read_fd(out[0], CLEVIS_PASS_MAX, false, &pass);
        close(out[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || r < 0) {
                char buf[512] = "";
                ssize_t n = pread(errfd, buf, sizeof(buf) - 1, 0);

                close(errfd);
                if (n > 0)
                        buf[n] = 0;
                log_debug("clevis luks pass -d %s -s %d: %s%s", device, slot, *buf ? buf : "(nothing on stderr)",
                          WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " (clevis not found)" : "");
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                        return -ENOPROTOOPT;
                return r == -ENOMEM ? r : -EKEYREJECTED;
        }
        close(errfd);
        return volume_key_get(cd, slot, pass, ret);
}

int migrate_volume_key(struct crypt_device *cd, const char *device, int id, cvmseal_secret **ret) {
        const char *type = NULL;
        crypt_token_info ti;

        ti = crypt_token_status(cd, id, &type);
        if (ti == CRYPT_TOKEN_INACTIVE || ti == CRYPT_TOKEN_INVALID)
                return log_debug_errno(-ENOMEDIUM, "No token %d", id);
        log_debug("Getting the volume key through token %d (%s)", id, type ?: "?");
        if (streq_ptr(type, "clevis"))
                return clevis_volume_key(cd, device, id, ret);

#ifdef HAVE_CRYPT_KEYSLOT_CONTEXT
        {
                _cleanup_secret_ cvmseal_secret *vk = NULL;
                struct crypt_keyslot_context *kc = NULL;
                size_t size;
                int r;

                if (ti != CRYPT_TOKEN_EXTERNAL)
                        return log_debug_errno(-ENOPROTOOPT, "libcryptsetup has no plugin for token %d (%s) here", id,
                                               type ?: "?");
                r = crypt_get_volume_key_size(cd);
                if (r <= 0)
                        return -EINVAL;
                size = (size_t) r;
                vk = cvmseal_secret_new(size);
                if (!vk)
                        return -ENOMEM;
                r = crypt_keyslot_context_init_by_token(cd, id, type, NULL, 0, NULL, &kc);
                if (r < 0)
                        return log_debug_errno(r == -ENOMEM ? r : -EKEYREJECTED, "Cannot use token %d", id);
                r = crypt_volume_key_get_by_keyslot_context(cd, CRYPT_ANY_SLOT, (char *) cvmseal_secret_data_mut(vk),
                                                             &size, kc);
                crypt_keyslot_context_free(kc);
                if (r == -ENOANO)
                        return log_debug_errno(r, "Token %d (%s) needs a PIN", id, type ?: "?");
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return log_debug_errno(-EKEYREJECTED, "Token %d (%s) did not open its keyslot (its plugin "
                                               "answered %s)", id, type ?: "?", strerror(-r));
                cvmseal_secret_truncate(vk, size);
                *ret = TAKE_PTR(vk);
                return r;
        }
#else
        return log_debug_errno(-EOPNOTSUPP, "Opening token %d needs libcryptsetup 2.6 (keyslot contexts)", id);
#endif
}

int migrate_wipe(struct crypt_device *cd, int id, int opened, uint32_t *ret_keyslots) {
        uint32_t own = 0, removed = 0;
        int r;

        /* Only the keyslot that the token's own secret opened in this run: the header's assignment of
         * keyslots to tokens is the host's to write, and a recovery keyslot assigned to this token on
         * the disk must not be destroyed on that word (docs/threat-model.md).  Another token still
         * assigned to it keeps it, too. */
        if (opened >= 0 && opened < 32 && crypt_token_is_assigned(cd, id, opened) == 0) {
                bool others = false;

                for (int t = 0; t < crypt_token_max(CRYPT_LUKS2); t++)
                        if (t != id && crypt_token_is_assigned(cd, t, opened) == 0)
                                others = true;
                if (!others)
                        own = UINT32_C(1) << opened;
        }
        if (!luks_has_other_keyslot(cd, own))
                return log_debug_errno(-EBUSY, "Token %d holds the last keyslot", id);

        /* The token first: a kill in between leaves a keyslot without its token, never the reverse. */
        r = crypt_token_json_set(cd, id, NULL);
        if (r < 0)
                return log_debug_errno(r, "Cannot remove token %d", id);
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                if (!(own & (UINT32_C(1) << s)))
                        continue;
                r = crypt_keyslot_destroy(cd, s);
                if (r < 0)
                        return log_debug_errno(r, "Cannot remove keyslot %d", s);
                removed |= UINT32_C(1) << s;
        }
        log_debug("Removed token %d and keyslot(s) 0x%x", id, (unsigned) removed);
        *ret_keyslots = removed;
        return 0;
}
