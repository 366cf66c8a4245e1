/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TCG event log: eventlog_replay() (parsing every event, replaying every bank).
 *
 * Fix-up: an input that does not replay as it is is replayed again behind a well-formed first event
 * (EV_NO_ACTION in PCR 0 with the Spec ID event), so that mutations land in the TCG_PCR_EVENT2
 * events rather than in the header.  The input's size modulo 4 picks the Spec ID event's
 * algorithms: SHA-1 + SHA-256; SHA-256; SHA-1, SHA-256, SHA-384, SHA-512; SHA-256 + SM3-256.
 */
#include "attest.h"
#include "fuzz.h"

static const struct {
        size_t n;
        uint16_t algs[4][2];
} specs[4] = {
        { 2, { { 0x0004, 20 }, { 0x000B, 32 } } },
        { 1, { { 0x000B, 32 } } },
        { 4, { { 0x0004, 20 }, { 0x000B, 32 }, { 0x000C, 48 }, { 0x000D, 64 } } },
        { 2, { { 0x000B, 32 }, { 0x0012, 32 } } },
};

/* TCG_PCR_EVENT header (32 bytes) + Spec ID event (16 + 4 + 4 + 4 + 4 * n + 1). */
static size_t spec_id_event(size_t which, uint8_t *out) {
        size_t data_size = 16 + 4 + 4 + 4 + 4 * specs[which].n + 1, off = 0;

        memset(out, 0, 32);
        fuzz_put_le32(out + 4, 3);                      /* EV_NO_ACTION; PCR 0, zero digest */
        fuzz_put_le32(out + 28, (uint32_t) data_size);
        off = 32;
        memcpy(out + off, "Spec ID Event03", 16);
        off += 16;
        fuzz_put_le32(out + off, 0);                    /* platformClass */
        out[off + 4] = 0;                               /* specVersionMinor */
        out[off + 5] = 2;                               /* specVersionMajor */
        out[off + 6] = 0;                               /* specErrata */
        out[off + 7] = 2;                               /* uintnSize */
        off += 8;
        fuzz_put_le32(out + off, (uint32_t) specs[which].n);
        off += 4;
        for (size_t i = 0; i < specs[which].n; i++) {
                fuzz_put_le16(out + off, specs[which].algs[i][0]);
                fuzz_put_le16(out + off + 2, specs[which].algs[i][1]);
                off += 4;
        }
        out[off++] = 0;                                 /* vendorInfoSize */
        return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct eventlog log;
        uint8_t *buf;
        size_t n;

        fuzz_setup_log();
        if (size > 1024 * 1024)
                return 0;
        if (eventlog_replay(data, size, &log) == 0)
                goto done;

        buf = malloc(64 + 16 + size);
        if (!buf)
                return 0;
        n = spec_id_event(size % 4, buf);
        memcpy(buf + n, data, size);
        (void) eventlog_replay(buf, n + size, &log);
        free(buf);
done:
        ERR_clear_error();
        return 0;
}
