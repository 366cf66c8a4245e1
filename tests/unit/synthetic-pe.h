/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small PE/COFF images made in memory for the Authenticode and PCR prediction tests, and the
 * Authenticode digest computed from where the builder put things (not by parsing the image): the
 * ranges of Microsoft's "Calculating the PE Image Hash". */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define SPE_MAX_SECTIONS 8

struct spe_params {
        bool pe32plus;                  /* else PE32 */
        uint32_t n_dirs;                /* NumberOfRvaAndSizes, 0-16 */
        size_t n_sections;
        uint32_t section_size[SPE_MAX_SECTIONS];        /* SizeOfRawData; 0 allowed */
        /* The order of the sections in the file: order[i] is the table index of the i-th section
         * laid out (so the table need not be in ascending order of PointerToRawData). */
        size_t order[SPE_MAX_SECTIONS];
        size_t tail_size;               /* bytes after the last section, before the certificates */
        uint32_t cert_size;             /* the attribute certificates at the end (needs n_dirs > 4) */
        uint8_t seed;                   /* the fill pattern */
};

struct spe {
        uint8_t *image;
        size_t size;
        /* Where the builder put things. */
        size_t pe, opt, checksum, certdir;      /* certdir 0: no Certificate Table entry */
        size_t headers;                         /* SizeOfHeaders */
        size_t section_offset[SPE_MAX_SECTIONS];/* by table index */
        size_t sections_end;                    /* the end of the last section's data */
        size_t hashed;                          /* SizeOfHeaders + every SizeOfRawData */
};

static inline void spe_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static inline void spe_le32(uint8_t *p, uint32_t v) {
        spe_le16(p, (uint16_t) v);
        spe_le16(p + 2, (uint16_t) (v >> 16));
}

/* Builds the image; every byte, including CheckSum and the Certificate Table entry, is non-zero
 * filler unless a field says otherwise, so that leaving a range out of the digest is visible. */
static inline void spe_build(const struct spe_params *p, struct spe *ret) {
        size_t opt_size = (p->pe32plus ? 112 : 96) + (size_t) p->n_dirs * 8, table, o;
        struct spe s = { .pe = 0x80 };
        uint32_t x = 0x9e3779b9u ^ p->seed;

        s.opt = s.pe + 24;
        s.checksum = s.opt + 64;
        table = s.opt + opt_size;
        s.headers = (table + p->n_sections * 40 + 0x1ff) & ~(size_t) 0x1ff;
        o = s.headers;
        for (size_t i = 0; i < p->n_sections; i++) {
                size_t k = p->order[i];

                s.section_offset[k] = o;
                o += p->section_size[k];
        }
        s.sections_end = o;
        s.hashed = s.headers;
        for (size_t i = 0; i < p->n_sections; i++)
                s.hashed += p->section_size[i];
        s.size = o + p->tail_size + p->cert_size;
        s.image = malloc(s.size);
        if (!s.image)
                abort();
        for (size_t i = 0; i < s.size; i++) {      /* xorshift filler, never zero */
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                s.image[i] = (uint8_t) (x | 1);
        }

        s.image[0] = 'M';
        s.image[1] = 'Z';
        spe_le32(s.image + 0x3c, (uint32_t) s.pe);
        memcpy(s.image + s.pe, "PE\0\0", 4);
        spe_le16(s.image + s.pe + 4, p->pe32plus ? 0x8664 : 0x014c);
        spe_le16(s.image + s.pe + 6, (uint16_t) p->n_sections);
        spe_le16(s.image + s.pe + 20, (uint16_t) opt_size);
        spe_le16(s.image + s.opt, p->pe32plus ? 0x020b : 0x010b);
        spe_le32(s.image + s.opt + 60, (uint32_t) s.headers);
        spe_le32(s.image + s.opt + (p->pe32plus ? 108 : 92), p->n_dirs);
        if (p->n_dirs > 4) {
                s.certdir = s.opt + (p->pe32plus ? 112 : 96) + 4 * 8;
                spe_le32(s.image + s.certdir, p->cert_size ? (uint32_t) (s.size - p->cert_size) : 0);
                spe_le32(s.image + s.certdir + 4, p->cert_size);
        }
        for (size_t i = 0; i < p->n_sections; i++) {
                uint8_t *h = s.image + table + i * 40;

                memcpy(h, ".sect\0\0\0", 8);
                h[5] = (uint8_t) ('0' + i);
                spe_le32(h + 16, p->section_size[i]);
                spe_le32(h + 20, p->section_size[i] ? (uint32_t) s.section_offset[i] : 0);
        }
        *ret = s;
}

static inline void spe_done(struct spe *s) {
        free(s->image);
        s->image = NULL;
}

/* The Authenticode digest from the builder's layout (p, s), over image (s->image or a modified copy). */
static inline unsigned spe_digest(const struct spe_params *p, const struct spe *s, const uint8_t *image,
                                  const EVP_MD *md, uint8_t *ret) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n = 0;
        size_t order[SPE_MAX_SECTIONS], m = 0;

        if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1)
                abort();
        EVP_DigestUpdate(ctx, image, s->checksum);
        if (s->certdir) {
                EVP_DigestUpdate(ctx, image + s->checksum + 4, s->certdir - (s->checksum + 4));
                EVP_DigestUpdate(ctx, image + s->certdir + 8, s->headers - (s->certdir + 8));
        } else
                EVP_DigestUpdate(ctx, image + s->checksum + 4, s->headers - (s->checksum + 4));
        /* Ascending file offset: the layout order. */
        for (size_t i = 0; i < p->n_sections; i++)
                if (p->section_size[p->order[i]] > 0)
                        order[m++] = p->order[i];
        for (size_t i = 0; i < m; i++)
                EVP_DigestUpdate(ctx, image + s->section_offset[order[i]], p->section_size[order[i]]);
        EVP_DigestUpdate(ctx, image + s->sections_end, p->tail_size);
        if (EVP_DigestFinal_ex(ctx, ret, &n) != 1)
                abort();
        EVP_MD_CTX_free(ctx);
        return n;
}
