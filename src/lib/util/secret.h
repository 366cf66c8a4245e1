/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cvmseal.h"
#include "macro.h"

/* The one wipe primitive: never inlined, never optimised away. */
void secure_wipe(void *p, size_t n);

/* Constant-time comparison of two equally long buffers. */
bool secret_equal(const void *a, const void *b, size_t n);

/* The data of a secret, writable: for the modules that fill it. */
uint8_t *cvmseal_secret_data_mut(cvmseal_secret *s);

/* Shrinks the visible size of a secret (the bytes past it are wiped). */
void cvmseal_secret_truncate(cvmseal_secret *s, size_t size);

DEFINE_TRIVIAL_CLEANUP_FUNC(cvmseal_secret *, cvmseal_secret_free);
#define _cleanup_secret_ _cleanup_(cvmseal_secret_freep)
