/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hex and base64 through OpenSSL, with the strictness a token parser needs. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "encoding.h"
#include "macro.h"

char *hex_encode(const void *p, size_t n) {
        char *s;
        size_t len;

        s = malloc(n * 2 + 1);
        if (!s)
                return NULL;
        if (n == 0) {
                *s = 0;
                return s;
        }
        if (OPENSSL_buf2hexstr_ex(s, n * 2 + 1, &len, p, (long) n, '\0') != 1) {
                free(s);
                return NULL;
        }
        for (char *c = s; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        return s;
}

int hex_decode(const char *s, uint8_t **ret, size_t *ret_size) {
        size_t len = strlen(s), n;
        _cleanup_free_ uint8_t *buf = NULL;

        if (len % 2 != 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return -EINVAL;

        buf = malloc(len / 2 + 1);
        if (!buf)
                return -ENOMEM;
        if (len > 0 && OPENSSL_hexstr2buf_ex(buf, len / 2, &n, s, '\0') != 1)
                return -EINVAL;
        if (len == 0)
                n = 0;

        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

char *base64_encode(const void *p, size_t n) {
        size_t out = 4 * ((n + 2) / 3) + 1;
        char *s;

        if (n > INT32_MAX / 2)
                return NULL;
        s = malloc(out);
        if (!s)
                return NULL;
        if (n == 0) {
                *s = 0;
                return s;
        }
        if (EVP_EncodeBlock((unsigned char *) s, p, (int) n) != (int) (out - 1)) {
                free(s);
                return NULL;
        }
        return s;
}

int base64_decode(const char *s, uint8_t **ret, size_t *ret_size) {
        size_t len = strlen(s), pad = 0;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *again = NULL;
        int n;

        /* EVP_DecodeBlock skips white space and counts padding as data: check the form first. */
        if (len % 4 != 0 || len > INT32_MAX / 2)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '=') {
                        if (i < len - 2)
                                return -EINVAL;
                        pad++;
                } else if (pad > 0 || !(isalnum(c) || c == '+' || c == '/'))
                        return -EINVAL;
        }

        buf = malloc(len / 4 * 3 + 1);
        if (!buf)
                return -ENOMEM;
        n = len > 0 ? EVP_DecodeBlock(buf, (const unsigned char *) s, (int) len) : 0;
        if (n < 0 || (size_t) n < pad)
                return -EINVAL;
        n -= (int) pad;

        /* Canonical form only: the unused bits of the last group must be zero. */
        again = base64_encode(buf, (size_t) n);
        if (!again)
                return -ENOMEM;
        if (strcmp(again, s) != 0)
                return -EINVAL;

        *ret = TAKE_PTR(buf);
        *ret_size = (size_t) n;
        return 0;
}

int base64url_decode(const char *s, uint8_t **ret, size_t *ret_size) {
        size_t len = strlen(s);
        _cleanup_free_ char *std = NULL;

        /* As standard base64: '-' and '_' for '+' and '/', and the padding put back. */
        if (len % 4 == 1 || len > INT32_MAX / 2)
                return -EINVAL;
        std = malloc(len + 3);
        if (!std)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];

                if (c == '-')
                        c = '+';
                else if (c == '_')
                        c = '/';
                else if (!isalnum((unsigned char) c))
                        return -EINVAL;
                std[i] = c;
        }
        while (len % 4 != 0)
                std[len++] = '=';
        std[len] = 0;
        return base64_decode(std, ret, ret_size);
}
