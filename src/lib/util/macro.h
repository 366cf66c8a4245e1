/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#define _public_ __attribute__((visibility("default")))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _noinline_ __attribute__((noinline))

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Takes ownership of a pointer out of a _cleanup_ variable. */
#define TAKE_PTR(p)                             \
        ({                                      \
                typeof(p) _p_ = (p);            \
                (p) = NULL;                     \
                _p_;                            \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        _unused_ static inline void func##p(type *p) {  \
                if (*p)                                 \
                        func(*p);                       \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void json_object_putp(json_object **p) {
        if (*p)
                json_object_put(*p);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static inline bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}
