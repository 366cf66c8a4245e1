/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Secret buffers.  Every secret the library handles (the unlock key, the TPM share, the derived
 * passphrase, the PIN, the recovery key, the volume key) lives in one of these and nowhere else:
 * page-aligned, mlock()ed where the process may lock memory, excluded from core dumps, and wiped by
 * its destructor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "secret.h"

struct cvmseal_secret {
        size_t size;      /* bytes in use */
        size_t capacity;  /* bytes mapped for data */
        size_t map_size;  /* whole mapping, header included */
        bool locked;
        uint8_t data[];
};

_noinline_ void secure_wipe(void *p, size_t n) {
        if (p && n > 0)
                explicit_bzero(p, n);
}

bool secret_equal(const void *a, const void *b, size_t n) {
        return CRYPTO_memcmp(a, b, n) == 0;
}

_public_ cvmseal_secret *cvmseal_secret_new(size_t size) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE), map_size;
        cvmseal_secret *s;
        void *p;

        if (size > CVMSEAL_SECRET_MAX) {
                errno = EFBIG;
                return NULL;
        }

        map_size = (sizeof(cvmseal_secret) + size + page - 1) / page * page;
        p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;

        /* Never in a core dump, never in a child after fork. */
        (void) madvise(p, map_size, MADV_DONTDUMP);
        (void) madvise(p, map_size, MADV_WIPEONFORK);

        s = p;
        s->size = size;
        s->capacity = map_size - sizeof(cvmseal_secret);
        s->map_size = map_size;
        /* mlock() may fail without CAP_IPC_LOCK past RLIMIT_MEMLOCK: the buffer is still wiped. */
        s->locked = mlock(p, map_size) == 0;
        return s;
}

_public_ void cvmseal_secret_free(cvmseal_secret *s) {
        size_t map_size;
        bool locked;

        if (!s)
                return;

        map_size = s->map_size;
        locked = s->locked;
        secure_wipe(s, map_size);
        if (locked)
                (void) munlock(s, map_size);
        (void) munmap(s, map_size);
}

_public_ const uint8_t *cvmseal_secret_data(const cvmseal_secret *s) {
        return s->data;
}

uint8_t *cvmseal_secret_data_mut(cvmseal_secret *s) {
        return s->data;
}

_public_ size_t cvmseal_secret_size(const cvmseal_secret *s) {
        return s ? s->size : 0;
}

void cvmseal_secret_truncate(cvmseal_secret *s, size_t size) {
        if (size >= s->size)
                return;
        secure_wipe(s->data + size, s->size - size);
        s->size = size;
}

_public_ cvmseal_secret *cvmseal_secret_new_from(const void *data, size_t size) {
        cvmseal_secret *s = cvmseal_secret_new(size);

        if (s && size > 0)
                memcpy(s->data, data, size);
        return s;
}

_public_ int cvmseal_secret_read_fd(int fd, size_t max, bool strip_newline, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *s = NULL;
        size_t n = 0;

        if (max == 0 || max > CVMSEAL_SECRET_MAX)
                max = CVMSEAL_SECRET_MAX;

        /* One buffer, never grown (growing would leave copies of the secret behind): of the file's
         * size for a regular file, so that it fits RLIMIT_MEMLOCK and is locked; else of the maximum. */
        {
                struct stat st;
                size_t want = max;

                if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 && (uint64_t) st.st_size < max)
                        want = (size_t) st.st_size + 1; /* one more byte tells a file that grew meanwhile */
                s = cvmseal_secret_new(want);
                if (s && want < max)
                        max = want;
        }
        if (!s)
                return -ENOMEM;

        for (;;) {
                ssize_t k;

                if (n == max) {
                        char c;

                        /* Full: anything more is too much. */
                        k = read(fd, &c, 1);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return negative_errno();
                        if (k > 0) {
                                secure_wipe(&c, 1);
                                return -EFBIG;
                        }
                        break;
                }

                k = read(fd, s->data + n, max - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                n += (size_t) k;
        }

        if (strip_newline)
                while (n > 0 && (s->data[n - 1] == '\n' || s->data[n - 1] == '\r'))
                        n--;

        cvmseal_secret_truncate(s, n);
        if (n == 0)
                return -ENODATA;

        *ret = TAKE_PTR(s);
        return 0;
}

_public_ int cvmseal_secret_read_line(int fd, size_t max, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *s = NULL;
        size_t n = 0;

        if (max == 0 || max > CVMSEAL_SECRET_MAX)
                max = CVMSEAL_SECRET_MAX;
        s = cvmseal_secret_new(max);
        if (!s)
                return -ENOMEM;

        /* Byte by byte: nothing past the end of the line is consumed. */
        for (;;) {
                ssize_t k = read(fd, s->data + n, 1);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0 || s->data[n] == '\n' || s->data[n] == '\r')
                        break;
                if (++n == max)
                        return -EFBIG;
        }

        cvmseal_secret_truncate(s, n);
        if (n == 0)
                return -ENODATA;
        *ret = TAKE_PTR(s);
        return 0;
}

_public_ int cvmseal_secret_read_file(const char *path, size_t max, bool strip_newline, cvmseal_secret **ret) {
        int fd, r;

        if (streq_ptr(path, "-"))
                return cvmseal_secret_read_fd(STDIN_FILENO, max, strip_newline, ret);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        r = cvmseal_secret_read_fd(fd, max, strip_newline, ret);
        (void) close(fd);
        return r;
}
