/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the libFuzzer harnesses (tests/fuzz/fuzz-*.c).  Each harness defines
 * LLVMFuzzerTestOneInput(); with -Dfuzz=libfuzzer libFuzzer's own main() drives it, with
 * -Dfuzz=standalone standalone-main.c runs it over the corpus files, as a regression test.
 *
 * Rules every harness keeps: nothing the input makes is left allocated when it returns (leak
 * detection is on); state set up once (test keys, a fixed policy) is reachable from a static and
 * never freed; the OpenSSL error queue is emptied after each input.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "cvmseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The library formats its debug messages only when a log function is set: set one that throws them
 * away (or prints them with $CVMSEAL_FUZZ_DEBUG=1), so that every format string runs too. */
static void fuzz_log(int level, const char *message, void *userdata) {
        (void) level;
        if (userdata)
                fprintf(stderr, "cvmseal: %s\n", message);
}

static inline void fuzz_setup_log(void) {
        static bool done;
        const char *e;

        if (done)
                return;
        done = true;
        /* tpm2-tss's unmarshalling logs every malformed structure at ERROR: quiet, unless asked. */
        (void) setenv("TSS2_LOG", "all+NONE", 0);
        e = getenv("CVMSEAL_FUZZ_DEBUG");
        cvmseal_set_log(fuzz_log, e && *e == '1' ? (void *) 1 : NULL);
}

/* The input as a NUL-terminated string (the JSON parsers take C strings).  NULL when out of memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                return NULL;
        if (size > 0)
                memcpy(s, data, size);
        s[size] = 0;
        return s;
}

static inline uint32_t fuzz_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline void fuzz_put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

static inline void fuzz_put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

/* Aborts: a harness that cannot set itself up finds nothing. */
#define FUZZ_ASSERT(expr)                                                                       \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        fprintf(stderr, "%s:%d: fuzz harness setup failed: %s\n", __FILE__,     \
                                __LINE__, #expr);                                               \
                        abort();                                                                \
                }                                                                               \
        } while (0)
