/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Local configuration (config.h).  Small on purpose: a flat "key = value" file and a few files of
 * their own, read with the same strictness as everything else, because a setting here decides what
 * code is loaded and which keys are trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "macro.h"

const char *config_dir(void) {
        const char *e = secure_getenv("CVMSEAL_CONFDIR");

        return e && *e ? e : CONFIG_DIR_DEFAULT;
}

char *config_path(const char *name) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", config_dir(), name) < 0)
                return NULL;
        return p;
}

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                *--e = '\0';
        return s;
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

int config_foreach(const char *key, int (*fn)(const char *value, void *userdata), void *userdata) {
        _cleanup_free_ char *path = config_path(CONFIG_FILE), *line = NULL;
        __attribute__((cleanup(fclosep))) FILE *f = NULL;
        size_t cap = 0;
        unsigned n = 0;
        ssize_t len;

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : log_debug_errno(-errno, "Cannot read %s", path);

        while ((len = getline(&line, &cap, f)) >= 0) {
                char *s = trim(line), *eq, *k, *v;

                n++;
                if (*s == '\0' || *s == '#')
                        continue;
                if ((size_t) len > CONFIG_VALUE_MAX || !(eq = strchr(s, '=')))
                        return log_debug_errno(-EBADMSG, "%s:%u is not a \"key = value\" line", path, n);
                *eq = '\0';
                k = trim(s);
                v = trim(eq + 1);
                if (!streq_ptr(k, key))
                        continue;
                int r = fn(v, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int keep_last(const char *value, void *userdata) {
        char **last = userdata, *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*last);
        *last = copy;
        return 0;
}

int config_get(const char *key, char **ret) {
        char *last = NULL;
        int r;

        r = config_foreach(key, keep_last, &last);
        if (r < 0) {
                free(last);
                return r;
        }
        if (!last)
                return -ENOENT;
        *ret = last;
        return 0;
}

int config_read_file(const char *name, size_t max, void **ret, size_t *ret_size) {
        _cleanup_free_ char *path = config_path(name);
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        ssize_t n;
        int fd, r = 0;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : log_debug_errno(-errno, "Cannot read %s", path);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t) st.st_size > max) {
                r = log_debug_errno(-EBADMSG, "%s is not a regular file of at most %zu bytes", path, max);
                goto finish;
        }
        buf = malloc(st.st_size ? (size_t) st.st_size : 1);
        if (!buf) {
                r = -ENOMEM;
                goto finish;
        }
        n = read(fd, buf, (size_t) st.st_size);
        if (n != st.st_size) {
                r = log_debug_errno(n < 0 ? -errno : -EIO, "Cannot read %s", path);
                goto finish;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = (size_t) n;
finish:
        close(fd);
        return r;
}
