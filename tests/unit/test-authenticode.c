/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Authenticode digest of a PE image (src/lib/image/authenticode.h): on synthetic PE32 and PE32+
 * images it equals a digest of the documented ranges computed from where the builder put things
 * (synthetic-pe.h); CheckSum, the Certificate Table entry and the certificates are left out and
 * nothing else is; every malformed header field, every truncation and random damage is -EBADMSG
 * or a digest, never a crash; the installed kernel's digest is osslsigncode's or pesign's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "authenticode.h"
#include "macro.h"
#include "synthetic-pe.h"

/* PE32+, 16 directories, four sections laid out in another order than the table's, one of them
 * empty, data after the sections, and a certificate table. */
static const struct spe_params full = {
        .pe32plus = true,
        .n_dirs = 16,
        .n_sections = 4,
        .section_size = { 0x400, 0x200, 0, 0x600 },
        .order = { 3, 0, 2, 1 },
        .tail_size = 0x123,
        .cert_size = 0x310,
        .seed = 1,
};

static int digest(const uint8_t *image, size_t size, const EVP_MD *md, uint8_t ret[EVP_MAX_MD_SIZE]) {
        unsigned n = 0;
        int r;

        r = authenticode_digest(image, size, md, ret, &n);
        if (r == 0)
                assert_int_equal(n, EVP_MD_get_size(md));
        return r;
}

static void check_layout(const struct spe_params *p) {
        const EVP_MD *mds[] = { EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512() };
        struct spe s;

        spe_build(p, &s);
        for (size_t i = 0; i < ELEMENTSOF(mds); i++) {
                uint8_t got[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
                unsigned n = spe_digest(p, &s, s.image, mds[i], want);

                assert_int_equal(digest(s.image, s.size, mds[i], got), 0);
                assert_memory_equal(got, want, n);
        }
        spe_done(&s);
}

static void test_layouts(void **state) {
        struct spe_params p = full;

        check_layout(&p);
        p.pe32plus = false;                     /* PE32 */
        check_layout(&p);
        p.cert_size = 0;                        /* no certificates: the whole tail */
        check_layout(&p);
        p.tail_size = 0;                        /* nothing after the sections */
        check_layout(&p);
        p = full;
        p.n_dirs = 4;                           /* no Certificate Table entry, no certificates */
        p.cert_size = 0;
        check_layout(&p);
        p.n_dirs = 5;                           /* the entry is the last directory */
        p.cert_size = 8;
        check_layout(&p);
        p.n_dirs = 0;
        p.cert_size = 0;
        p.pe32plus = false;
        check_layout(&p);
        p = full;
        p.n_sections = 0;                       /* headers and tail only */
        check_layout(&p);
        p = full;
        p.order[0] = 0;                         /* the table in file order */
        p.order[1] = 1;
        p.order[2] = 2;
        p.order[3] = 3;
        check_layout(&p);
}

/* The digest does not depend on CheckSum, the Certificate Table entry's address or the
 * certificates, and does depend on every other byte: each range's first and last byte. */
static void test_excluded_ranges(void **state) {
        uint8_t base[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
        struct spe s;

        spe_build(&full, &s);
        assert_int_equal(digest(s.image, s.size, EVP_sha256(), base), 0);

        const size_t same[] = { s.checksum, s.checksum + 3, s.certdir, s.certdir + 3, s.size - full.cert_size,
                                s.size - 1 };
        const size_t differ[] = { 0x2, s.checksum - 5, s.checksum + 4, s.certdir - 1, s.certdir + 8,
                                  s.headers - 1, s.section_offset[0], s.section_offset[3],
                                  s.section_offset[1] + full.section_size[1] - 1, s.sections_end,
                                  s.size - full.cert_size - 1 };

        for (size_t i = 0; i < ELEMENTSOF(same); i++) {
                s.image[same[i]] ^= 0x40;
                assert_int_equal(digest(s.image, s.size, EVP_sha256(), got), 0);
                if (memcmp(got, base, 32) != 0)
                        fail_msg("byte 0x%zx is hashed, it must not be", same[i]);
                s.image[same[i]] ^= 0x40;
        }
        for (size_t i = 0; i < ELEMENTSOF(differ); i++) {
                s.image[differ[i]] ^= 0x40;
                assert_int_equal(digest(s.image, s.size, EVP_sha256(), got), 0);
                if (memcmp(got, base, 32) == 0)
                        fail_msg("byte 0x%zx is not hashed, it must be", differ[i]);
                s.image[differ[i]] ^= 0x40;
        }
        spe_done(&s);
}

/* A copy of the image with one field changed must be refused. */
static void expect_refused(const struct spe *s, size_t offset, unsigned width, uint32_t value, const char *what) {
        uint8_t *copy = malloc(s->size), out[EVP_MAX_MD_SIZE];
        int r;

        assert_non_null(copy);
        memcpy(copy, s->image, s->size);
        if (width == 2)
                spe_le16(copy + offset, (uint16_t) value);
        else
                spe_le32(copy + offset, value);
        r = digest(copy, s->size, EVP_sha256(), out);
        free(copy);
        if (r != -EBADMSG)
                fail_msg("%s: got %d, not -EBADMSG", what, r);
}

static void test_bad_fields(void **state) {
        struct spe s, s32;
        struct spe_params p32 = full;
        size_t table;

        spe_build(&full, &s);
        p32.pe32plus = false;
        spe_build(&p32, &s32);
        table = s.opt + 112 + 16 * 8;

        expect_refused(&s, 0, 2, 0x5a4e, "no MZ");
        expect_refused(&s, 0x3c, 4, (uint32_t) s.size, "e_lfanew at the end");
        expect_refused(&s, 0x3c, 4, (uint32_t) s.size - 10, "e_lfanew too close to the end");
        expect_refused(&s, 0x3c, 4, 0xffffffff, "e_lfanew huge");
        expect_refused(&s, 0x3c, 4, 0x40, "e_lfanew at no PE signature");
        expect_refused(&s, s.pe, 4, 0x00004550 ^ 0x100, "PE signature");
        expect_refused(&s, s.pe + 6, 2, 97, "97 sections");
        expect_refused(&s, s.pe + 6, 2, 0xffff, "65535 sections");
        expect_refused(&s, s.pe + 20, 2, 0, "SizeOfOptionalHeader 0");
        expect_refused(&s, s.pe + 20, 2, 1, "SizeOfOptionalHeader 1");
        expect_refused(&s, s.pe + 20, 2, 111, "PE32+ optional header of 111 bytes");
        expect_refused(&s32, s32.pe + 20, 2, 95, "PE32 optional header of 95 bytes");
        expect_refused(&s, s.pe + 20, 2, 0xffff, "SizeOfOptionalHeader past the end");
        expect_refused(&s, s.opt, 2, 0x0107, "unknown magic (ROM)");
        expect_refused(&s, s.opt, 2, 0, "no magic");
        expect_refused(&s, s.opt + 108, 4, 17, "17 directories");
        expect_refused(&s, s.opt + 108, 4, 0xffffffff, "2^32-1 directories");
        expect_refused(&s32, s32.opt + 92, 4, 17, "PE32: 17 directories");
        /* 16 directories in an optional header with room for 15. */
        expect_refused(&s, s.pe + 20, 2, 112 + 15 * 8, "directories past the optional header");
        /* A headers-only image of 0x200 bytes: 4 section headers no longer fit. */
        {
                struct spe_params ps = full;
                struct spe small;

                ps.n_sections = 0;
                ps.tail_size = 0;
                ps.cert_size = 0;
                spe_build(&ps, &small);
                assert_int_equal(small.size, 0x200);
                expect_refused(&small, small.pe + 6, 2, 4, "section table past the end");
                spe_done(&small);
        }
        expect_refused(&s, s.opt + 60, 4, (uint32_t) s.size + 1, "SizeOfHeaders past the end");
        expect_refused(&s, s.opt + 60, 4, 0xffffffff, "SizeOfHeaders huge");
        expect_refused(&s, s.opt + 60, 4, (uint32_t) s.certdir + 7, "SizeOfHeaders inside the cert entry");
        expect_refused(&s, s.opt + 60, 4, 0, "SizeOfHeaders 0");
        expect_refused(&s, table + 16, 4, (uint32_t) s.size, "a section larger than the file");
        expect_refused(&s, table + 20, 4, (uint32_t) s.size - 0x10, "a section past the end");
        expect_refused(&s, table + 20, 4, 0xffffff00, "a section at 2^32-256");
        expect_refused(&s, table + 16, 4, 0xffffffff, "a section of 2^32-1 bytes");
        expect_refused(&s, s.certdir + 4, 4, full.cert_size + full.tail_size + 1,
                       "certificates larger than the data after the sections");
        expect_refused(&s, s.certdir + 4, 4, 0xffffffff, "certificates of 2^32-1 bytes");

        /* NumberOfRvaAndSizes 4 with SizeOfHeaders just past CheckSum is well-formed (the
         * section table then lies after the hashed headers). */
        {
                uint8_t *copy = malloc(s.size), out[EVP_MAX_MD_SIZE];

                assert_non_null(copy);
                memcpy(copy, s.image, s.size);
                spe_le32(copy + s.opt + 108, 4);
                spe_le32(copy + s.opt + 60, (uint32_t) s.checksum + 4);
                assert_int_equal(digest(copy, s.size, EVP_sha256(), out), 0);
                spe_le32(copy + s.opt + 60, (uint32_t) s.checksum + 3);
                assert_int_equal(digest(copy, s.size, EVP_sha256(), out), -EBADMSG);
                free(copy);
        }
        spe_done(&s);
        spe_done(&s32);
}

static void test_bad_arguments(void **state) {
        uint8_t out[EVP_MAX_MD_SIZE];
        struct spe s;

        spe_build(&full, &s);
        assert_int_equal(authenticode_digest(NULL, s.size, EVP_sha256(), out, NULL), -EINVAL);
        assert_int_equal(authenticode_digest(s.image, s.size, NULL, out, NULL), -EINVAL);
        assert_int_equal(authenticode_digest(s.image, s.size, EVP_sha256(), NULL, NULL), -EINVAL);
        /* ret_size is optional. */
        assert_int_equal(authenticode_digest(s.image, s.size, EVP_sha256(), out, NULL), 0);
        spe_done(&s);

        assert_int_equal(digest((const uint8_t *) "MZ", 2, EVP_sha256(), out), -EBADMSG);
        assert_int_equal(digest((const uint8_t *) "", 0, EVP_sha256(), out), -EBADMSG);
}

/* Every prefix of the image.  Cut inside the headers or the sections: refused.  Cut between the
 * sections and the end: refused while the certificates no longer fit; a file that ends right after
 * its sections is hashed without a tail, as EDK2 does (it refuses only a tail shorter than the
 * certificates: "ImageSize > SumOfBytesHashed && ImageSize < CertSize + SumOfBytesHashed"). */
static void test_truncated(void **state) {
        struct spe_params p = full;
        uint8_t out[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
        struct spe s;

        p.tail_size = 0;        /* the certificates right after the sections */
        spe_build(&p, &s);
        for (size_t n = 0; n < s.size; n++) {
                uint8_t *copy = malloc(n ? n : 1);     /* exactly n bytes: valgrind sees overreads */
                int r;

                assert_non_null(copy);
                memcpy(copy, s.image, n);
                r = digest(copy, n, EVP_sha256(), out);
                if (n == s.sections_end) {
                        assert_int_equal(r, 0);
                        spe_digest(&p, &s, s.image, EVP_sha256(), want);
                        assert_memory_equal(out, want, 32);
                } else if (r != -EBADMSG)
                        fail_msg("a copy cut to %zu of %zu bytes: got %d", n, s.size, r);
                free(copy);
        }
        spe_done(&s);
}

/* Random damage to the headers: a digest or -EBADMSG, never a crash (valgrind sees overreads). */
static void test_garbage(void **state) {
        uint32_t x = 12345;
        struct spe s;
        size_t accepted = 0;

        spe_build(&full, &s);
        for (unsigned round = 0; round < 3000; round++) {
                uint8_t *copy = malloc(s.size), out[EVP_MAX_MD_SIZE];
                int r;

                assert_non_null(copy);
                memcpy(copy, s.image, s.size);
                for (unsigned k = 0; k < 1 + round % 4; k++) {
                        x = x * 1103515245u + 12345u;
                        /* the COFF and optional headers and the section table */
                        copy[s.pe + 4 + (x >> 8) % (s.headers - s.pe - 4)] = (uint8_t) (x >> 24);
                }
                r = digest(copy, s.size, EVP_sha256(), out);
                if (r != 0 && r != -EBADMSG)
                        fail_msg("round %u: got %d", round, r);
                accepted += r == 0;
                free(copy);
        }
        /* Most damage lands in bytes that are hashed, not parsed. */
        assert_true(accepted > 0);
        spe_done(&s);
}

/* ---- a real EFI binary: the kernel's EFI stub image, against an independent tool ---- */

static bool tool_digest(const char *cmd, const char *prefix, char *ret, size_t ret_size) {
        char line[1024];
        bool found = false;
        FILE *f = popen(cmd, "r");

        if (!f)
                return false;
        while (fgets(line, sizeof(line), f)) {
                char *v = strstr(line, prefix), *end;

                if (!v || found)
                        continue;
                v += strlen(prefix);
                v += strspn(v, " :\t");
                end = v + strspn(v, "0123456789abcdefABCDEF");
                if (end - v == 64 && (size_t) (end - v) < ret_size) {
                        memcpy(ret, v, 64);
                        ret[64] = 0;
                        found = true;
                }
        }
        pclose(f);
        return found;
}

static bool have_program(const char *name) {
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
        return system(cmd) == 0;
}

static void test_real_kernel(void **state) {
        char kernel[512] = "", cmd[1024], want[65], got[65];
        uint8_t *image = NULL, out[EVP_MAX_MD_SIZE];
        size_t size = 0, cap = 0;
        bool have = false;
        FILE *f;

        f = popen("ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1", "r");
        if (f) {
                if (!fgets(kernel, sizeof(kernel), f))
                        kernel[0] = 0;
                kernel[strcspn(kernel, "\n")] = 0;
                pclose(f);
        }
        if (!*kernel || access(kernel, R_OK) != 0) {
                printf("SKIP test_real_kernel: no readable /boot/vmlinuz-* (an EFI-stub PE image)\n");
                skip();
        }
        if (have_program("osslsigncode")) {
                /* "Calculated message digest": osslsigncode's own Authenticode computation (the
                 * signature's chain need not verify for it to print it). */
                snprintf(cmd, sizeof(cmd), "osslsigncode verify -in '%s' 2>/dev/null", kernel);
                have = tool_digest(cmd, "Calculated message digest", want, sizeof(want));
        } else if (have_program("pesign")) {
                snprintf(cmd, sizeof(cmd), "pesign -h -d sha256 -i '%s' 2>/dev/null", kernel);
                have = tool_digest(cmd, "hash", want, sizeof(want));
        } else {
                printf("SKIP test_real_kernel: neither osslsigncode nor pesign is installed (sbverify does not "
                       "print the digest); not installing them\n");
                skip();
        }
        if (!have) {
                printf("SKIP test_real_kernel: the tool gave no SHA-256 digest for %s (unsigned image?)\n", kernel);
                skip();
        }

        f = fopen(kernel, "re");
        assert_non_null(f);
        for (;;) {
                size_t k;

                if (size == cap) {
                        cap = cap ? cap * 2 : 1 << 20;
                        image = realloc(image, cap);
                        assert_non_null(image);
                }
                k = fread(image + size, 1, cap - size, f);
                if (k == 0)
                        break;
                size += k;
        }
        fclose(f);

        assert_int_equal(digest(image, size, EVP_sha256(), out), 0);
        for (size_t i = 0; i < 32; i++)
                snprintf(got + 2 * i, 3, "%02x", out[i]);
        printf("%s: %s\n", kernel, got);
        if (strcasecmp(got, want) != 0)
                fail_msg("%s: cvmseal %s, the tool %s", kernel, got, want);
        free(image);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_layouts),
                cmocka_unit_test(test_excluded_ranges),
                cmocka_unit_test(test_bad_fields),
                cmocka_unit_test(test_bad_arguments),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_real_kernel),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
