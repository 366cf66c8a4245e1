/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The public test vectors of ../shared/testdata (real hardware and firmware output, never copied into
 * the project).  Tests that need them skip (exit 77, saying why) where they are absent. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

/* The directory: $CVMSEAL_TESTDATA, which meson sets to ../shared/testdata beside the source tree. */
static inline const char *testdata_dir(void) {
        const char *d = getenv("CVMSEAL_TESTDATA");

        return d && *d ? d : "../shared/testdata";
}

/* Exits 77 when the test vectors are absent. */
static inline void testdata_require(void) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/SHA256SUMS", testdata_dir());
        f = fopen(path, "re");
        if (!f) {
                printf("SKIP: the test vectors are not there (%s): they live in ../shared/testdata\n", path);
                exit(77);
        }
        fclose(f);
}

/* Reads a whole file of the test vectors ("snp/milan-virtee-report.bin"); aborts when missing. */
static inline uint8_t *testdata_read(const char *name, size_t *ret_size) {
        char path[4096];
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", testdata_dir(), name);
        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
                abort();
        }
        for (;;) {
                size_t k;

                if (n == cap) {
                        cap = cap ? cap * 2 : 65536;
                        buf = realloc(buf, cap + 1);
                        if (!buf)
                                abort();
                }
                k = fread(buf + n, 1, cap - n, f);
                if (k == 0)
                        break;
                n += k;
        }
        fclose(f);
        buf[n] = 0;
        *ret_size = n;
        return buf;
}

/* Decodes base64url, padded or not (as trustee's evidence writes it), through the project's strict
 * base64 decoder.  Returns what base64_decode() returns. */
static inline int testdata_base64url(const char *s, uint8_t **ret, size_t *ret_size) {
        size_t len = strlen(s);
        char *b64 = calloc(len + 4, 1);
        int r;

        if (!b64)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++)
                b64[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
        while (len % 4 != 0)
                b64[len++] = '=';
        r = base64_decode(b64, ret, ret_size);
        free(b64);
        return r;
}
