/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xts-decrypt: decrypts the data segment of a LUKS2 aes-xts-plain64 image, independently of
 * cvmseal, to prove byte for byte what `image encrypt` wrote (tests/integration/test-image-encrypt.sh).
 *
 *   xts-decrypt [--iv-large-sectors] VOLUME-KEY-FILE SECTOR-SIZE OFFSET LENGTH IMAGE > PLAINTEXT
 *
 * VOLUME-KEY-FILE holds the 64-byte key (`cryptsetup luksDump --dump-volume-key --volume-key-file`).
 * Each SECTOR-SIZE block from OFFSET is one XTS data unit whose IV is plain64: the little-endian
 * number of the sector from the start of the segment, counted in 512-byte units as dm-crypt does for
 * LUKS2 - or, with --iv-large-sectors, in SECTOR-SIZE units (dm-crypt's iv_large_sectors, which
 * LUKS2 does not use: the test shows that this reading does NOT give the plaintext back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

int main(int argc, char *argv[]) {
        unsigned long long offset, length, done = 0, sector = 0;
        unsigned char key[65], *buf;
        unsigned long sector_size;
        EVP_CIPHER_CTX *ctx;
        int large = 0, outl;
        FILE *kf, *img;
        size_t n;

        if (argc > 1 && strcmp(argv[1], "--iv-large-sectors") == 0) {
                large = 1;
                argc--;
                argv++;
        }
        if (argc != 6) {
                fprintf(stderr, "usage: xts-decrypt [--iv-large-sectors] VOLUME-KEY-FILE SECTOR-SIZE OFFSET LENGTH IMAGE\n");
                return 2;
        }
        sector_size = strtoul(argv[2], NULL, 10);
        offset = strtoull(argv[3], NULL, 10);
        length = strtoull(argv[4], NULL, 10);
        if ((sector_size != 512 && sector_size != 4096) || length % sector_size != 0) {
                fprintf(stderr, "xts-decrypt: bad sector size or length\n");
                return 2;
        }

        kf = fopen(argv[1], "rb");
        if (!kf || fread(key, 1, sizeof(key), kf) != 64) {
                fprintf(stderr, "xts-decrypt: %s does not hold a 64-byte key\n", argv[1]);
                return 1;
        }
        fclose(kf);
        img = fopen(argv[5], "rb");
        if (!img || fseeko(img, (off_t) offset, SEEK_SET) != 0) {
                fprintf(stderr, "xts-decrypt: cannot read %s\n", argv[5]);
                return 1;
        }

        buf = malloc(sector_size);
        ctx = EVP_CIPHER_CTX_new();
        if (!buf || !ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_xts(), NULL, key, NULL) != 1)
                return 1;
        while (done < length) {
                unsigned long long iv_sector = large ? sector : sector * (sector_size / 512);
                unsigned char iv[16] = { 0 };

                n = fread(buf, 1, sector_size, img);
                if (n != sector_size) {
                        fprintf(stderr, "xts-decrypt: %s ends early\n", argv[5]);
                        return 1;
                }
                for (int i = 0; i < 8; i++)
                        iv[i] = (unsigned char) (iv_sector >> (8 * i));
                if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 ||
                    EVP_DecryptUpdate(ctx, buf, &outl, buf, (int) sector_size) != 1 || outl != (int) sector_size) {
                        fprintf(stderr, "xts-decrypt: decryption failed\n");
                        return 1;
                }
                if (fwrite(buf, 1, sector_size, stdout) != sector_size)
                        return 1;
                done += sector_size;
                sector++;
        }
        EVP_CIPHER_CTX_free(ctx);
        free(buf);
        return fflush(stdout) == 0 ? 0 : 1;
}
