/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex without separators.  Returns a new string, or NULL on allocation failure. */
char *hex_encode(const void *p, size_t n);
/* Strict: an even number of hex digits, nothing else.  -EINVAL otherwise. */
int hex_decode(const char *s, uint8_t **ret, size_t *ret_size);

/* Standard base64 with padding, no line breaks. */
char *base64_encode(const void *p, size_t n);
/* Strict: canonical padded base64 only (what base64_encode writes).  -EINVAL otherwise. */
int base64_decode(const char *s, uint8_t **ret, size_t *ret_size);
