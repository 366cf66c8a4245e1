/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "authenticode.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

#define PE32_MAGIC 0x010bU
#define PE32PLUS_MAGIC 0x020bU
#define DIRECTORY_SECURITY 4U
#define SECTION_HEADER_SIZE 40U
#define MAX_SECTIONS 96U        /* the PE format's limit */

static int bad(const char *why) {
        return log_debug_errno(-EBADMSG, "PE image: %s", why);
}

struct section {
        uint32_t offset;
        uint32_t size;
};

static int section_cmp(const void *a, const void *b) {
        const struct section *x = a, *y = b;

        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int update(EVP_MD_CTX *ctx, const uint8_t *image, size_t from, size_t to) {
        if (to < from)
                return bad("header fields out of order");
        if (to > from && EVP_DigestUpdate(ctx, image + from, to - from) != 1)
                return -EIO;
        return 0;
}

int authenticode_digest(const uint8_t *image, size_t size, const EVP_MD *md, uint8_t *ret, unsigned *ret_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        struct section sections[MAX_SECTIONS];
        size_t pe, opt, checksum, dirs, certdir = 0, headers, section_table, hashed, n_hashed = 0;
        uint32_t n_dirs, cert_size = 0;
        uint16_t n_sections, opt_size, magic;
        unsigned n = 0;
        int r;

        if (!image || !md || !ret)
                return -EINVAL;

        /* DOS header, then the PE signature and COFF file header. */
        if (size < 0x40 || image[0] != 'M' || image[1] != 'Z')
                return bad("no MZ header");
        pe = le32(image + 0x3c);
        if (pe > size || size - pe < 24 || memcmp(image + pe, "PE\0\0", 4) != 0)
                return bad("no PE signature");
        n_sections = le16(image + pe + 6);
        opt_size = le16(image + pe + 20);
        opt = pe + 24;
        if (n_sections > MAX_SECTIONS)
                return bad("too many sections");
        if (opt_size < 2 || size - opt < opt_size)
                return bad("optional header runs past the end of the file");

        /* The optional header: CheckSum at 64 in both formats, then the data directories. */
        magic = le16(image + opt);
        if (magic == PE32_MAGIC) {
                if (opt_size < 96)
                        return bad("PE32 optional header too short");
                n_dirs = le32(image + opt + 92);
                dirs = opt + 96;
        } else if (magic == PE32PLUS_MAGIC) {
                if (opt_size < 112)
                        return bad("PE32+ optional header too short");
                n_dirs = le32(image + opt + 108);
                dirs = opt + 112;
        } else
                return bad("unknown optional header magic");
        checksum = opt + 64;
        headers = le32(image + opt + 60);      /* SizeOfHeaders */
        if (n_dirs > 16 || dirs + (size_t) n_dirs * 8 > opt + opt_size)
                return bad("data directories run past the optional header");
        if (n_dirs > DIRECTORY_SECURITY) {
                certdir = dirs + DIRECTORY_SECURITY * 8;
                cert_size = le32(image + certdir + 4);
        }

        section_table = opt + opt_size;
        if (section_table + (size_t) n_sections * SECTION_HEADER_SIZE > size)
                return bad("section table runs past the end of the file");
        if (headers > size || headers < (certdir ? certdir + 8 : checksum + 4))
                return bad("SizeOfHeaders out of range");

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1)
                return -EIO;

        r = update(ctx, image, 0, checksum);
        if (r < 0)
                return r;
        if (certdir) {
                r = update(ctx, image, checksum + 4, certdir);
                if (r < 0)
                        return r;
                r = update(ctx, image, certdir + 8, headers);
        } else
                r = update(ctx, image, checksum + 4, headers);
        if (r < 0)
                return r;
        hashed = headers;

        for (size_t i = 0; i < n_sections; i++) {
                const uint8_t *s = image + section_table + i * SECTION_HEADER_SIZE;
                uint32_t raw_size = le32(s + 16), raw_offset = le32(s + 20);

                if (raw_size == 0)
                        continue;
                if (raw_offset > size || size - raw_offset < raw_size)
                        return bad("section data runs past the end of the file");
                sections[n_hashed++] = (struct section) { raw_offset, raw_size };
        }
        qsort(sections, n_hashed, sizeof(sections[0]), section_cmp);
        for (size_t i = 0; i < n_hashed; i++) {
                r = update(ctx, image, sections[i].offset, (size_t) sections[i].offset + sections[i].size);
                if (r < 0)
                        return r;
                hashed += sections[i].size;
        }

        /* What follows the sections, less the attribute certificates. */
        if (size > hashed) {
                if (size - hashed < cert_size)
                        return bad("the certificate table is larger than the data after the sections");
                r = update(ctx, image, hashed, size - cert_size);
                if (r < 0)
                        return r;
        }

        if (EVP_DigestFinal_ex(ctx, ret, &n) != 1)
                return -EIO;
        if (ret_size)
                *ret_size = n;
        return 0;
}
