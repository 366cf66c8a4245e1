/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pinned SRK (srk-pin.h): the one key a session's salt may be encrypted to, from local
 * configuration rather than from the disk or the TPM channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "srk-pin.h"
#include "tpm2-duplicate.h"

#define SRK_PIN_MAX ((size_t) sizeof(TPM2B_PUBLIC))

int srk_pin_load(TPM2B_NAME *ret_name) {
        _cleanup_free_ void *buf = NULL;
        TPM2B_PUBLIC pub;
        size_t size = 0;
        int r;

        r = config_read_file(CONFIG_SRK_PIN, SRK_PIN_MAX, &buf, &size);
        if (r < 0)
                return r;
        r = tpm2_srk_public_parse(buf, size, &pub, ret_name);
        if (r == -EBADMSG || r == -EOPNOTSUPP)
                /* Local configuration, not a token: a damaged file is an error of this machine. */
                return log_debug_errno(-EIO, "%s/%s is not the public area of an SRK", config_dir(), CONFIG_SRK_PIN);
        if (r < 0)
                return r;
        return 0;
}

int srk_pin_check(const uint8_t *name, size_t size, bool *ret_pinned) {
        TPM2B_NAME pinned;
        int r;

        r = srk_pin_load(&pinned);
        if (r == -ENOENT) {
                *ret_pinned = false;
                return 0;
        }
        if (r < 0)
                return r;
        if (pinned.size != size || memcmp(pinned.name, name, size) != 0)
                return log_debug_errno(-EREMCHG, "The SRK is not the one pinned in %s/%s", config_dir(),
                                       CONFIG_SRK_PIN);
        *ret_pinned = true;
        return 0;
}

int srk_pin_save(const uint8_t *pub, size_t size) {
        _cleanup_free_ char *path = config_path(CONFIG_SRK_PIN), *tmp = NULL;
        TPM2B_PUBLIC parsed;
        TPM2B_NAME name;
        bool pinned;
        int fd, r;

        if (!path)
                return -ENOMEM;
        r = tpm2_srk_public_parse(pub, size, &parsed, &name);
        if (r < 0)
                return r;
        r = srk_pin_check(name.name, name.size, &pinned);
        if (r < 0)
                return r;
        if (pinned)
                return 0;

        if (mkdir(config_dir(), 0755) < 0 && errno != EEXIST)
                return log_debug_errno(-errno, "Cannot create %s", config_dir());
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(-errno, "Cannot create a file in %s", config_dir());
        r = write(fd, pub, size) == (ssize_t) size ? 0 : negative_errno();
        if (r == 0 && fchmod(fd, 0644) < 0)
                r = negative_errno();
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        /* link(), not rename(): a pin written meanwhile by someone else is never replaced. */
        if (r == 0 && link(tmp, path) < 0)
                r = errno == EEXIST ? -EEXIST : negative_errno();
        (void) unlink(tmp);
        if (r == -EEXIST)
                return srk_pin_check(name.name, name.size, &pinned) < 0 ? -EREMCHG : 0;
        if (r < 0)
                return log_debug_errno(r, "Cannot write %s", path);
        log_debug("Pinned the SRK in %s", path);
        return 1;
}
