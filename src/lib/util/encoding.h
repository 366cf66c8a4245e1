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
/* Strict base64url without padding (RFC 7515, as JWK uses it): the URL alphabet only, the unused
 * bits of the last group zero.  -EINVAL otherwise. */
int base64url_decode(const char *s, uint8_t **ret, size_t *ret_size);

/* Little-endian integers at any alignment (the firmware's and the TCG's structures). */
static inline uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | (uint16_t) p[1] << 8);
}

static inline uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t le64(const uint8_t *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}
