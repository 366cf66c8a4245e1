/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one reader of whole files that are not secrets (secrets: cvmseal_secret_read_file()): a
 * path or "-" for standard input, read to its end rather than trusted by st_size (securityfs's
 * binary_bios_measurements has size 0), at most max bytes, NUL-terminated for text.  And the one
 * writer: "-" for standard output, a new file that is never one that existed, or an atomic
 * replacement.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "cvmseal.h"
#include "macro.h"

static int read_fd_full(int fd, size_t max, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t k;

                if (size == allocated) {
                        size_t n = allocated ? allocated * 2 : 64 * 1024;
                        uint8_t *p;

                        if (allocated > max)
                                return -EFBIG;
                        p = realloc(buf, n + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = n;
                }
                k = read(fd, buf + size, allocated - size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        if (size > max)
                return -EFBIG;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

_public_ int cvmseal_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        int fd, r;

        if (!path || !ret || !ret_size)
                return -EINVAL;
        if (strcmp(path, "-") == 0)
                return read_fd_full(STDIN_FILENO, max, ret, ret_size);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_fd_full(fd, max, ret, ret_size);
        close(fd);
        return r;
}

_public_ int cvmseal_read_json_file(const char *path, size_t max, char **ret_text, json_object **ret) {
        _cleanup_free_ uint8_t *text = NULL;
        json_tokener *tok;
        json_object *j;
        size_t n, end;
        int r;

        if (max > INT_MAX)
                return -EINVAL; /* json-c takes an int length */
        r = cvmseal_read_file(path, max, &text, &n);
        if (r < 0)
                return r;
        if (n == 0 || strlen((const char *) text) != n)
                return -EPROTO; /* empty, or a NUL inside */
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        j = json_tokener_parse_ex(tok, (const char *) text, (int) n);
        end = json_tokener_get_parse_end(tok);
        r = !j || json_tokener_get_error(tok) != json_tokener_success ||
            strspn((const char *) text + end, " \t\r\n") != n - end;
        json_tokener_free(tok);
        if (r) {
                json_object_put(j);
                return -EPROTO;
        }
        if (ret_text)
                *ret_text = (char *) TAKE_PTR(text);
        *ret = j;
        return 0;
}

static int write_fd_full(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* A temporary file beside path, written, synced and renamed over it. */
static int write_atomic(const char *path, const void *data, size_t size) {
        _cleanup_free_ char *tmp = NULL;
        int fd, r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) fchmod(fd, 0644);
        r = write_fd_full(fd, data, size);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

_public_ int cvmseal_write_file(const char *path, const void *data, size_t size, unsigned flags) {
        int fd, r;

        if (!path || (!data && size > 0))
                return -EINVAL;
        if ((flags & CVMSEAL_WRITE_NEW) && (flags & CVMSEAL_WRITE_ATOMIC))
                return -EINVAL; /* a replacement cannot also promise never to replace */
        if (strcmp(path, "-") == 0)
                return write_fd_full(STDOUT_FILENO, data, size);
        if (flags & CVMSEAL_WRITE_ATOMIC)
                return write_atomic(path, data, size);
        if (flags & CVMSEAL_WRITE_NEW)
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        else
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write_fd_full(fd, data, size);
        if (r == 0 && (flags & CVMSEAL_WRITE_NEW) && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0 && (flags & CVMSEAL_WRITE_NEW))
                (void) unlink(path); /* ours: O_EXCL made it */
        return r;
}
