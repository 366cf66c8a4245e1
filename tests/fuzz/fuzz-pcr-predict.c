/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCR prediction: pcr_predict() over a fuzzed event log (its rewriting of kernel and initrd events,
 * the appended initrd event, then eventlog_replay() of the rewritten log), and authenticode_digest()
 * over a fuzzed PE image.
 *
 * Input: a control byte, then the data.  ctl & 0x80: the data is a PE image, hashed with SHA-256 and
 * SHA-1 (fix-up: "MZ", e_lfanew = 0x40 when it points outside, and "PE\0\0" there, on a copy, as
 * well as the image as it is).  Otherwise the data is an event log, and ctl's bits pick the
 * replacements: 0x01 a kernel (a fixed small PE32+ image), 0x02 an initrd ("initrd"), 0x04 an
 * empty initrd (dropping the stub's events), 0x08 --pcrs 0-9 rather than every extended PCR.
 */
#include "authenticode.h"
#include "fuzz.h"
#include "macro.h"
#include "pcr-predict.h"

static uint8_t kernel[0x400];

/* A PE32+ image: headers up to 0x200, one section of 0x200 bytes. */
static void setup(void) {
        static bool done;
        size_t opt = 0x40 + 24, sec;

        if (done)
                return;
        done = true;
        kernel[0] = 'M';
        kernel[1] = 'Z';
        fuzz_put_le32(kernel + 0x3c, 0x40);
        memcpy(kernel + 0x40, "PE\0\0", 4);
        fuzz_put_le16(kernel + 0x40 + 4, 0x8664);
        fuzz_put_le16(kernel + 0x40 + 6, 1);                    /* NumberOfSections */
        fuzz_put_le16(kernel + 0x40 + 20, 112 + 16 * 8);        /* SizeOfOptionalHeader */
        fuzz_put_le16(kernel + opt, 0x20b);
        fuzz_put_le32(kernel + opt + 60, 0x200);                /* SizeOfHeaders */
        fuzz_put_le32(kernel + opt + 108, 16);                  /* NumberOfRvaAndSizes */
        sec = opt + 112 + 16 * 8;
        memcpy(kernel + sec, ".text", 5);
        fuzz_put_le32(kernel + sec + 16, 0x200);                /* SizeOfRawData */
        fuzz_put_le32(kernel + sec + 20, 0x200);                /* PointerToRawData */
        for (size_t i = 0x200; i < sizeof(kernel); i++)
                kernel[i] = (uint8_t) i;
        FUZZ_ASSERT(sizeof(kernel) == 0x400);
}

static void pe(const uint8_t *data, size_t size) {
        uint8_t d[EVP_MAX_MD_SIZE];
        unsigned n;
        uint8_t *copy;

        (void) authenticode_digest(data, size, EVP_sha256(), d, &n);
        if (size < 0x40 + 24)
                return;
        copy = malloc(size);
        if (!copy)
                return;
        memcpy(copy, data, size);
        copy[0] = 'M';
        copy[1] = 'Z';
        if (fuzz_le32(copy + 0x3c) > size - 24)
                fuzz_put_le32(copy + 0x3c, 0x40);
        memcpy(copy + fuzz_le32(copy + 0x3c), "PE\0\0", 4);
        if (authenticode_digest(copy, size, EVP_sha256(), d, &n) == 0)
                FUZZ_ASSERT(n == 32);
        (void) authenticode_digest(copy, size, EVP_sha1(), d, &n);
        free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t initrd[] = "initrd";
        struct pcr_predict_params p = {};
        struct pcr_values v;
        uint8_t ctl;

        fuzz_setup_log();
        setup();
        if (size < 1 || size > 1024 * 1024)
                return 0;
        ctl = data[0];
        data++;
        size--;

        if (ctl & 0x80)
                pe(data, size);
        else {
                if (ctl & 0x01)
                        p = (struct pcr_predict_params) { .kernel = kernel, .kernel_size = sizeof(kernel) };
                if (ctl & 0x04) {
                        p.initrd = initrd;
                        p.initrd_size = 0;
                } else if (ctl & 0x02) {
                        p.initrd = initrd;
                        p.initrd_size = sizeof(initrd) - 1;
                }
                if (pcr_predict(data, size, &p, (ctl & 0x08) ? 0x3ff : 0, &v) == 0 && (ctl & 0x08))
                        FUZZ_ASSERT(v.mask == 0x3ff);
        }
        ERR_clear_error();
        return 0;
}
