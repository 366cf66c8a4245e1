/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The TCG event log: every log of testdata/eventlog replays to exactly the PCRs of tpm2_eventlog's
 * expected output (every PCR of every bank); a log cut anywhere but between two events, a digest
 * count or pcrIndex out of range, is -EBADMSG and leaves the output alone; a one-byte change in one
 * digest changes that bank's PCR and no other; StartupLocality and H-CRTM set PCR 0's start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "attest.h"
#include "macro.h"
#include "testdata.h"

#define ALG_SHA1 0x0004
#define ALG_SHA256 0x000b
#define ALG_SHA384 0x000c
#define ALG_SHA512 0x000d
#define ALG_SM3_256 0x0012

#define EV_NO_ACTION 0x3
#define EV_SEPARATOR 0x4
#define EV_EFI_HCRTM_EVENT 0x80000010

static const char *const logs[] = {
        "event-arch-linux.bin",
        "event-bootorder.bin",
        "event-moklisttrusted.bin",
        "event-postcode.bin",
        "event-uefi-sha1-log.bin",
        "event-uefiaction.bin",
        "event-uefiservices.bin",
        "event-uefivar.bin",
};

static uint8_t *read_log(const char *name, size_t *ret_size) {
        char path[256];

        snprintf(path, sizeof(path), "eventlog/%s", name);
        return testdata_read(path, ret_size);
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint16_t get_le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static void put_le32_at(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

static const EVP_MD *md_of(uint16_t alg) {
        switch (alg) {
        case ALG_SHA1: return EVP_sha1();
        case ALG_SHA256: return EVP_sha256();
        case ALG_SHA384: return EVP_sha384();
        case ALG_SHA512: return EVP_sha512();
        default: return NULL;
        }
}

static const struct eventlog_bank *find_bank(const struct eventlog *l, uint16_t alg) {
        for (size_t i = 0; i < l->n_banks; i++)
                if (l->banks[i].alg == alg)
                        return &l->banks[i];
        return NULL;
}

/* ---- an independent walk over a (well-formed) log, to know where events and digests lie ---- */

#define MAX_EVENTS 512

struct walk_digest {
        uint16_t alg;
        size_t offset, size;            /* of the digest bytes */
};

struct walk_event {
        size_t start, end;
        uint32_t pcr, type;
        size_t count_offset;            /* crypto-agile: where the digest count is */
        size_t n_digests;
        struct walk_digest digests[8];
        size_t data_offset, data_size;
};

struct walk {
        bool agile;
        size_t n_algs;
        uint16_t alg[8], size[8];
        size_t n_events;
        struct walk_event ev[MAX_EVENTS];
};

static void walk_log(const uint8_t *b, size_t n, struct walk *w) {
        size_t o = 0;

        memset(w, 0, sizeof(*w));
        assert_true(n >= 32);
        w->agile = get_le32(b + 4) == EV_NO_ACTION;
        w->ev[0] = (struct walk_event) { .start = 0, .pcr = get_le32(b), .type = get_le32(b + 4),
                                         .n_digests = 1, .digests[0] = { ALG_SHA1, 8, 20 },
                                         .data_offset = 32, .data_size = get_le32(b + 28) };
        o = w->ev[0].end = 32 + w->ev[0].data_size;
        w->n_events = 1;
        if (w->agile) {
                const uint8_t *s = b + 32;

                assert_memory_equal(s, "Spec ID Event03", 16);
                w->n_algs = get_le32(s + 24);
                assert_in_range(w->n_algs, 1, 8);
                for (size_t i = 0; i < w->n_algs; i++) {
                        w->alg[i] = get_le16(s + 28 + 4 * i);
                        w->size[i] = get_le16(s + 30 + 4 * i);
                }
        } else {
                w->n_algs = 1;
                w->alg[0] = ALG_SHA1;
                w->size[0] = 20;
        }

        while (o < n) {
                struct walk_event *e = &w->ev[w->n_events++];

                assert_true(w->n_events <= MAX_EVENTS);
                e->start = o;
                e->pcr = get_le32(b + o);
                e->type = get_le32(b + o + 4);
                if (w->agile) {
                        e->count_offset = o + 8;
                        e->n_digests = get_le32(b + o + 8);
                        assert_in_range(e->n_digests, 1, w->n_algs);
                        o += 12;
                        for (size_t i = 0; i < e->n_digests; i++) {
                                uint16_t alg = get_le16(b + o);
                                size_t k;

                                for (k = 0; k < w->n_algs && w->alg[k] != alg; k++)
                                        ;
                                assert_true(k < w->n_algs);
                                e->digests[i] = (struct walk_digest) { alg, o + 2, w->size[k] };
                                o += 2 + w->size[k];
                        }
                } else {
                        e->n_digests = 1;
                        e->digests[0] = (struct walk_digest) { ALG_SHA1, o + 8, 20 };
                        o += 28;
                }
                e->data_size = get_le32(b + o);
                e->data_offset = o + 4;
                o += 4 + e->data_size;
                assert_true(o <= n);
                e->end = o;
        }
}

/* ---- the pcrs: section of tpm2_eventlog's YAML ---- */

struct expected {
        size_t n_banks;
        struct {
                uint16_t alg;
                uint32_t listed;                /* bit per PCR */
                uint8_t pcrs[EVENTLOG_PCRS][64];
        } banks[4];
        size_t n_events;                        /* "  PCRIndex:" lines */
};

static uint16_t alg_of_name(const char *name) {
        if (streq_ptr(name, "sha1"))
                return ALG_SHA1;
        if (streq_ptr(name, "sha256"))
                return ALG_SHA256;
        if (streq_ptr(name, "sha384"))
                return ALG_SHA384;
        if (streq_ptr(name, "sha512"))
                return ALG_SHA512;
        fail_msg("unknown bank '%s' in the expected output", name);
        return 0;
}

static size_t hex_to_bytes(const char *hex, uint8_t *out, size_t max) {
        size_t n = 0;

        while (hex[0] && hex[0] != '\n') {
                unsigned v;

                assert_true(n < max);
                assert_int_equal(sscanf(hex, "%2x", &v), 1);
                out[n++] = (uint8_t) v;
                hex += 2;
        }
        return n;
}

static void read_expected(const char *log, struct expected *x) {
        _cleanup_free_ char *text = NULL;
        char path[256], *line, *save = NULL;
        bool in_pcrs = false;
        size_t n;
        int bank = -1;

        memset(x, 0, sizeof(*x));
        snprintf(path, sizeof(path), "eventlog/expected/%s.yaml", log);
        text = (char *) testdata_read(path, &n);

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[16];
                unsigned pcr;
                int off = 0;

                if (strncmp(line, "  PCRIndex:", 11) == 0)
                        x->n_events++;
                if (strcmp(line, "pcrs:") == 0) {
                        in_pcrs = true;
                        continue;
                }
                if (!in_pcrs)
                        continue;
                if (sscanf(line, "  %15[a-z0-9]:%n", name, &off) == 1 && off > 0 && line[off] == '\0' &&
                    line[2] != ' ') {
                        assert_true(x->n_banks < 4);
                        bank = (int) x->n_banks++;
                        x->banks[bank].alg = alg_of_name(name);
                } else if (sscanf(line, "    %u : 0x%n", &pcr, &off) == 1 && off > 0) {
                        const EVP_MD *md;

                        assert_true(bank >= 0);
                        assert_true(pcr < EVENTLOG_PCRS);
                        md = md_of(x->banks[bank].alg);
                        assert_int_equal(hex_to_bytes(line + off, x->banks[bank].pcrs[pcr], 64),
                                         EVP_MD_get_size(md));
                        x->banks[bank].listed |= UINT32_C(1) << pcr;
                } else
                        fail_msg("unexpected line in the pcrs section of %s: '%s'", path, line);
        }
        assert_true(in_pcrs);
        assert_true(x->n_banks > 0);
}

/* ---- every log against tpm2_eventlog ---- */

static void test_testdata_logs(void **state) {
        size_t total_pcrs = 0, total_listed = 0, total_events = 0;

        for (size_t i = 0; i < ELEMENTSOF(logs); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                struct expected x;
                struct eventlog l;
                size_t n, compared = 0;

                buf = read_log(logs[i], &n);
                read_expected(logs[i], &x);
                memset(&l, 0xa5, sizeof(l));
                assert_int_equal(eventlog_replay(buf, n, &l), 0);

                /* Spec ID event included; tpm2_eventlog prints it too, except in a SHA-1 log that
                 * has none. */
                assert_int_equal(l.n_events, x.n_events);
                assert_int_equal(l.startup_locality, 0);
                assert_int_equal(l.n_banks, x.n_banks);
                /* The PCRs the log extends are the ones tpm2_eventlog lists (verify.c compares only
                 * those with the quoted values). */
                assert_int_equal(l.extended, x.banks[0].listed);
                for (size_t b = 0; b < x.n_banks; b++) {
                        const struct eventlog_bank *bank = find_bank(&l, x.banks[b].alg);
                        static const uint8_t zero[64] = {};

                        assert_non_null(bank);
                        assert_int_equal(bank->digest_size, EVP_MD_get_size(md_of(bank->alg)));
                        for (unsigned p = 0; p < EVENTLOG_PCRS; p++) {
                                /* A PCR tpm2_eventlog does not list was never extended: still zero. */
                                const uint8_t *want = x.banks[b].listed & (UINT32_C(1) << p) ? x.banks[b].pcrs[p] : zero;

                                if (memcmp(bank->pcrs[p], want, bank->digest_size) != 0)
                                        fail_msg("%s: bank 0x%04x PCR %u differs from tpm2_eventlog's", logs[i],
                                                 (unsigned) bank->alg, p);
                                compared++;
                                total_listed += !!(x.banks[b].listed & (UINT32_C(1) << p));
                        }
                }
                print_message("%s: %zu events, %zu bank(s), %zu PCRs compared\n", logs[i], l.n_events,
                              l.n_banks, compared);
                total_pcrs += compared;
                total_events += l.n_events;
        }
        print_message("%zu logs, %zu events, %zu PCR values compared (%zu of them listed by tpm2_eventlog)\n",
                      ELEMENTSOF(logs), total_events, total_pcrs, total_listed);
        assert_true(total_listed > 60);
}

/* The first log is crypto-agile with SHA-1 and SHA-256, the SHA-1 log is not. */
static void test_formats(void **state) {
        _cleanup_free_ uint8_t *a = NULL, *s = NULL;
        struct eventlog l;
        size_t n;

        /* Its Spec ID event lists SHA-1, SHA-256, SHA-384 and SHA-512, its events carry SHA-1 and
         * SHA-256 digests: those are the banks (tpm2_eventlog replays the same two). */
        a = read_log("event-uefiaction.bin", &n);
        assert_int_equal(get_le32(a + 32 + 24), 4);
        assert_int_equal(eventlog_replay(a, n, &l), 0);
        assert_int_equal(l.n_banks, 2);
        assert_int_equal(l.banks[0].alg, ALG_SHA1);
        assert_int_equal(l.banks[1].alg, ALG_SHA256);
        assert_int_equal(l.banks[1].digest_size, 32);

        /* Only the Spec ID event: its four banks, all zero. */
        assert_int_equal(eventlog_replay(a, get_le32(a + 28) + 32, &l), 0);
        assert_int_equal(l.n_events, 1);
        assert_int_equal(l.n_banks, 4);
        assert_int_equal(l.banks[3].alg, ALG_SHA512);
        assert_int_equal(l.banks[3].digest_size, 64);

        s = read_log("event-uefi-sha1-log.bin", &n);
        assert_int_not_equal(get_le32(s + 4), EV_NO_ACTION);
        assert_int_equal(eventlog_replay(s, n, &l), 0);
        assert_int_equal(l.n_banks, 1);
        assert_int_equal(l.banks[0].alg, ALG_SHA1);
        assert_int_equal(l.banks[0].digest_size, 20);

        assert_int_equal(eventlog_replay(a, 0, &l), -EBADMSG);
        assert_int_equal(eventlog_replay(NULL, 0, &l), -EBADMSG);
}

/* ---- malformed logs ---- */

static void expect_bad(const uint8_t *buf, size_t n, const char *what) {
        struct eventlog l, untouched;

        memset(&l, 0x5a, sizeof(l));
        memcpy(&untouched, &l, sizeof(l));
        if (eventlog_replay(buf, n, &l) != -EBADMSG)
                fail_msg("%s: not -EBADMSG", what);
        if (memcmp(&l, &untouched, sizeof(l)) != 0)
                fail_msg("%s: the output was written on failure", what);
}

/* Cut at every byte: a cut between two events (after the first) is a shorter valid log, every other
 * cut is -EBADMSG and writes nothing. */
static void test_truncated(void **state) {
        size_t cuts = 0, boundaries = 0, total_size = 0, total_events = 0;

        for (size_t i = 0; i < ELEMENTSOF(logs); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                _cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
                size_t n, next = 1;

                assert_non_null(w);
                buf = read_log(logs[i], &n);
                walk_log(buf, n, w);
                assert_int_equal(w->ev[w->n_events - 1].end, n);
                total_size += n;
                total_events += w->n_events;

                for (size_t cut = 0; cut < n; cut++) {
                        char what[128];

                        /* A copy of exactly cut bytes, so that ASan sees a read past it. */
                        _cleanup_free_ uint8_t *copy = malloc(cut ? cut : 1);

                        assert_non_null(copy);
                        memcpy(copy, buf, cut);
                        while (next < w->n_events && w->ev[next].start < cut)
                                next++;
                        if (next < w->n_events && w->ev[next].start == cut) {
                                struct eventlog l;

                                assert_int_equal(eventlog_replay(copy, cut, &l), 0);
                                assert_int_equal(l.n_events, next);
                                boundaries++;
                                continue;
                        }
                        snprintf(what, sizeof(what), "%s cut at %zu", logs[i], cut);
                        expect_bad(copy, cut, what);
                        cuts++;
                }
        }
        print_message("%zu cuts rejected, %zu cuts at event boundaries accepted\n", cuts, boundaries);
        assert_int_equal(cuts + boundaries, total_size);
        assert_int_equal(boundaries, total_events - ELEMENTSOF(logs));
}

/* Every place of a cut: the header, the Spec ID event, a digest list, the data: named explicitly. */
static void test_truncated_places(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
        const struct walk_event *e;
        size_t n;

        assert_non_null(w);
        buf = read_log("event-arch-linux.bin", &n);
        walk_log(buf, n, w);
        e = &w->ev[1];
        assert_true(e->data_size > 1);

        expect_bad(buf, 3, "inside the first header");
        expect_bad(buf, 31, "before the Spec ID event's size ends");
        expect_bad(buf, 32 + 16, "inside the Spec ID signature");
        expect_bad(buf, 32 + 27, "inside numberOfAlgorithms");
        expect_bad(buf, 32 + 30, "inside the algorithm list");
        expect_bad(buf, w->ev[0].end - 1, "before vendorInfoSize");
        expect_bad(buf, e->start + 5, "inside the second event's type");
        expect_bad(buf, e->count_offset + 2, "inside the digest count");
        expect_bad(buf, e->digests[0].offset - 1, "inside a digest's algorithm");
        expect_bad(buf, e->digests[1].offset + 7, "inside a digest");
        expect_bad(buf, e->data_offset - 2, "inside the event size");
        expect_bad(buf, e->data_offset + e->data_size - 1, "inside the event data");
}

static uint8_t *copy_of(const uint8_t *buf, size_t n) {
        uint8_t *c = malloc(n);

        assert_non_null(c);
        memcpy(c, buf, n);
        return c;
}

static void test_bad_counts(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
        size_t n;

        assert_non_null(w);
        buf = read_log("event-bootorder.bin", &n);
        walk_log(buf, n, w);
        assert_int_equal(w->n_algs, 2);

        for (size_t k = 1; k < w->n_events; k += 17) {
                static const uint32_t counts[] = { 0x7fffffff, 0xffffffff, 0x80000000, 0, 1, 3 };

                for (size_t j = 0; j < ELEMENTSOF(counts); j++) {
                        _cleanup_free_ uint8_t *c = copy_of(buf, n);

                        put_le32_at(c + w->ev[k].count_offset, counts[j]);
                        expect_bad(c, n, "a digest count other than numberOfAlgorithms");
                }
        }
}

static void test_bad_pcr_index(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(logs); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                _cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
                struct eventlog l;
                size_t n;

                assert_non_null(w);
                buf = read_log(logs[i], &n);
                walk_log(buf, n, w);

                for (size_t k = w->agile ? 1 : 0; k < w->n_events; k++) {
                        _cleanup_free_ uint8_t *c = copy_of(buf, n);

                        put_le32_at(c + w->ev[k].start, 24);
                        expect_bad(c, n, "pcrIndex 24");
                        put_le32_at(c + w->ev[k].start, 0xffffffff);
                        expect_bad(c, n, "pcrIndex 0xffffffff");
                }

                /* 23 is a PCR: the last event moves there. */
                _cleanup_free_ uint8_t *c = copy_of(buf, n);
                const struct walk_event *last = &w->ev[w->n_events - 1];

                put_le32_at(c + last->start, 23);
                assert_int_equal(eventlog_replay(c, n, &l), 0);
                if (last->type != EV_NO_ACTION)
                        for (size_t b = 0; b < l.n_banks; b++)
                                assert_int_not_equal(l.banks[b].pcrs[23][0] | l.banks[b].pcrs[23][1], 0);
        }
}

/* ---- a one-byte change ---- */

static void test_digest_change(void **state) {
        size_t changes = 0;

        for (size_t i = 0; i < ELEMENTSOF(logs); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                _cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
                struct eventlog ref;
                size_t n;

                assert_non_null(w);
                buf = read_log(logs[i], &n);
                walk_log(buf, n, w);
                assert_int_equal(eventlog_replay(buf, n, &ref), 0);

                for (size_t k = w->agile ? 1 : 0; k < w->n_events; k++) {
                        const struct walk_event *e = &w->ev[k];

                        for (size_t j = 0; j < e->n_digests; j++) {
                                _cleanup_free_ uint8_t *c = copy_of(buf, n);
                                const struct walk_digest *d = &e->digests[j];
                                struct eventlog l;

                                c[d->offset + (k + j) % d->size] ^= 0x01;
                                assert_int_equal(eventlog_replay(c, n, &l), 0);
                                assert_int_equal(l.n_banks, ref.n_banks);
                                for (size_t b = 0; b < l.n_banks; b++)
                                        for (unsigned p = 0; p < EVENTLOG_PCRS; p++) {
                                                bool differs = memcmp(l.banks[b].pcrs[p], ref.banks[b].pcrs[p], 64) != 0;
                                                bool should = e->type != EV_NO_ACTION && p == e->pcr &&
                                                              l.banks[b].alg == d->alg;

                                                if (differs != should)
                                                        fail_msg("%s event %zu digest %zu: bank 0x%04x PCR %u %s",
                                                                 logs[i], k, j, (unsigned) l.banks[b].alg, p,
                                                                 should ? "did not change" : "changed");
                                        }
                                changes++;
                        }
                }
        }
        print_message("%zu one-byte digest changes replayed\n", changes);
        assert_true(changes > 400);
}

/* ---- hand-made logs ---- */

struct builder {
        uint8_t buf[4096];
        size_t n;
};

static void put(struct builder *b, const void *p, size_t n) {
        assert_true(b->n + n <= sizeof(b->buf));
        memcpy(b->buf + b->n, p, n);
        b->n += n;
}

static void put_le32(struct builder *b, uint32_t v) {
        uint8_t p[4];

        put_le32_at(p, v);
        put(b, p, 4);
}

static void put_le16(struct builder *b, uint16_t v) {
        uint8_t p[2] = { (uint8_t) v, (uint8_t) (v >> 8) };

        put(b, p, 2);
}

/* The Spec ID event for algs (sizes given). */
static void put_spec_id(struct builder *b, size_t n, const uint16_t *algs, const uint16_t *sizes) {
        static const uint8_t zero[20] = {};

        put_le32(b, 0);
        put_le32(b, EV_NO_ACTION);
        put(b, zero, 20);
        put_le32(b, (uint32_t) (16 + 4 + 4 + 4 + 4 * n + 1));
        put(b, "Spec ID Event03", 16);
        put_le32(b, 0);
        put(b, (const uint8_t[]) { 0, 2, 0, 2 }, 4);
        put_le32(b, (uint32_t) n);
        for (size_t i = 0; i < n; i++) {
                put_le16(b, algs[i]);
                put_le16(b, sizes[i]);
        }
        put(b, (const uint8_t[]) { 0 }, 1);
}

/* An event with one digest per alg, each byte of it `fill`. */
static void put_event(struct builder *b, uint32_t pcr, uint32_t type, size_t n, const uint16_t *algs,
                      const uint16_t *sizes, uint8_t fill, const void *data, size_t data_size) {
        put_le32(b, pcr);
        put_le32(b, type);
        put_le32(b, (uint32_t) n);
        for (size_t i = 0; i < n; i++) {
                uint8_t d[64];

                memset(d, fill, sizeof(d));
                put_le16(b, algs[i]);
                put(b, d, sizes[i]);
        }
        put_le32(b, (uint32_t) data_size);
        put(b, data, data_size);
}

static void extend(uint16_t alg, uint8_t *pcr, uint8_t fill) {
        const EVP_MD *md = md_of(alg);
        size_t size = (size_t) EVP_MD_get_size(md);
        uint8_t in[128], d[64];
        unsigned n;

        memset(d, fill, sizeof(d));
        memcpy(in, pcr, size);
        memcpy(in + size, d, size);
        assert_int_equal(EVP_Digest(in, 2 * size, pcr, &n, md, NULL), 1);
}

static const uint16_t two_algs[] = { ALG_SHA256, ALG_SHA384 };
static const uint16_t two_sizes[] = { 32, 48 };

/* An event digest of an algorithm the Spec ID event does not list, or of a listed one twice. */
static void test_bad_digest_alg(void **state) {
        _cleanup_free_ uint8_t *buf = NULL, *c = NULL;
        _cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
        static const uint16_t spec_algs[] = { ALG_SHA256, ALG_SHA384 }, spec_sizes[] = { 32, 48 };
        static const uint16_t dup_algs[] = { ALG_SHA256, ALG_SHA256 }, dup_sizes[] = { 32, 32 };
        struct builder b = {};
        size_t n;

        assert_non_null(w);
        buf = read_log("event-arch-linux.bin", &n);
        walk_log(buf, n, w);

        c = copy_of(buf, n);
        c[w->ev[3].digests[0].offset - 2] = ALG_SM3_256;
        expect_bad(c, n, "an unlisted algorithm");

        put_spec_id(&b, 2, spec_algs, spec_sizes);
        put_event(&b, 4, EV_SEPARATOR, 2, dup_algs, dup_sizes, 0x55, "\0\0\0\0", 4);
        expect_bad(b.buf, b.n, "the same algorithm twice");

        /* Events of different algorithm sets: a bank would miss a measurement. */
        struct builder mixed = {};

        put_spec_id(&mixed, 2, spec_algs, spec_sizes);
        put_event(&mixed, 4, EV_SEPARATOR, 2, spec_algs, spec_sizes, 0x55, "\0\0\0\0", 4);
        put_event(&mixed, 5, EV_SEPARATOR, 1, spec_algs, spec_sizes, 0x55, "\0\0\0\0", 4);
        expect_bad(mixed.buf, mixed.n, "a second event without the SHA-384 digest");

        /* Well-formed otherwise, but no digest at all: first, or after a normal event. */
        struct builder zero_first = {}, zero_second = {};

        put_spec_id(&zero_first, 2, spec_algs, spec_sizes);
        put_event(&zero_first, 4, EV_SEPARATOR, 0, spec_algs, spec_sizes, 0x55, "\0\0\0\0", 4);
        put_event(&zero_first, 4, EV_SEPARATOR, 2, spec_algs, spec_sizes, 0x55, "\0\0\0\0", 4);
        expect_bad(zero_first.buf, zero_first.n, "a first event with no digest");
        put_spec_id(&zero_second, 2, spec_algs, spec_sizes);
        put_event(&zero_second, 4, EV_SEPARATOR, 2, spec_algs, spec_sizes, 0x55, "\0\0\0\0", 4);
        put_event(&zero_second, 4, EV_SEPARATOR, 0, spec_algs, spec_sizes, 0x55, "\0\0\0\0", 4);
        expect_bad(zero_second.buf, zero_second.n, "a second event with no digest");
}

static void test_startup_locality(void **state) {
        static const uint8_t loc3[17] = "StartupLocality\0\3";
        struct builder b = {};
        struct eventlog l;
        uint8_t want256[32] = {}, want384[48] = {};

        put_spec_id(&b, 2, two_algs, two_sizes);
        put_event(&b, 0, EV_NO_ACTION, 2, two_algs, two_sizes, 0, loc3, sizeof(loc3));
        put_event(&b, 0, EV_SEPARATOR, 2, two_algs, two_sizes, 0x11, "\0\0\0\0", 4);
        put_event(&b, 5, EV_SEPARATOR, 2, two_algs, two_sizes, 0x22, "\0\0\0\0", 4);
        assert_int_equal(eventlog_replay(b.buf, b.n, &l), 0);
        assert_int_equal(l.n_events, 4);
        assert_int_equal(l.startup_locality, 3);
        assert_int_equal(l.n_banks, 2);

        want256[31] = 3;
        want384[47] = 3;
        extend(ALG_SHA256, want256, 0x11);
        extend(ALG_SHA384, want384, 0x11);
        assert_memory_equal(l.banks[0].pcrs[0], want256, 32);
        assert_memory_equal(l.banks[1].pcrs[0], want384, 48);

        memset(want256, 0, sizeof(want256));
        extend(ALG_SHA256, want256, 0x22);
        assert_memory_equal(l.banks[0].pcrs[5], want256, 32);

        /* After a measurement into PCR 0, it is too late. */
        struct builder late = {};

        put_spec_id(&late, 2, two_algs, two_sizes);
        put_event(&late, 0, EV_SEPARATOR, 2, two_algs, two_sizes, 0x11, "\0\0\0\0", 4);
        put_event(&late, 0, EV_NO_ACTION, 2, two_algs, two_sizes, 0, loc3, sizeof(loc3));
        expect_bad(late.buf, late.n, "StartupLocality after a PCR 0 measurement");

        /* Not in PCR 0: just an EV_NO_ACTION event. */
        struct builder other = {};

        put_spec_id(&other, 2, two_algs, two_sizes);
        put_event(&other, 1, EV_NO_ACTION, 2, two_algs, two_sizes, 0, loc3, sizeof(loc3));
        assert_int_equal(eventlog_replay(other.buf, other.n, &l), 0);
        assert_int_equal(l.startup_locality, 0);
        for (size_t p = 0; p < EVENTLOG_PCRS; p++)
                assert_true(l.banks[0].pcrs[p][31] == 0 && l.banks[1].pcrs[p][47] == 0);
}

/* All four banks, every one extended with its own digest. */
static void test_four_banks(void **state) {
        static const uint16_t algs[] = { ALG_SHA512, ALG_SHA1, ALG_SHA384, ALG_SHA256 };
        static const uint16_t sizes[] = { 64, 20, 48, 32 };
        struct builder b = {};
        struct eventlog l;

        put_spec_id(&b, 4, algs, sizes);
        put_event(&b, 9, EV_SEPARATOR, 4, algs, sizes, 0x66, "\0\0\0\0", 4);
        put_event(&b, 9, EV_SEPARATOR, 4, algs, sizes, 0x77, "\0\0\0\0", 4);
        assert_int_equal(eventlog_replay(b.buf, b.n, &l), 0);
        assert_int_equal(l.n_events, 3);
        assert_int_equal(l.n_banks, 4);
        for (size_t i = 0; i < 4; i++) {
                uint8_t want[64] = {};

                assert_int_equal(l.banks[i].alg, algs[i]);
                assert_int_equal(l.banks[i].digest_size, sizes[i]);
                extend(algs[i], want, 0x66);
                extend(algs[i], want, 0x77);
                assert_memory_equal(l.banks[i].pcrs[9], want, sizes[i]);
                assert_memory_not_equal(l.banks[i].pcrs[8], want, sizes[i]);
        }
}

static void test_hcrtm(void **state) {
        struct builder b = {};
        struct eventlog l;
        uint8_t want[32] = {};

        put_spec_id(&b, 2, two_algs, two_sizes);
        put_event(&b, 0, EV_EFI_HCRTM_EVENT, 2, two_algs, two_sizes, 0x33, "HCRTM", 5);
        assert_int_equal(eventlog_replay(b.buf, b.n, &l), 0);
        assert_int_equal(l.startup_locality, 4);
        want[31] = 4;
        extend(ALG_SHA256, want, 0x33);
        assert_memory_equal(l.banks[0].pcrs[0], want, 32);
}

/* An algorithm we do not replay, with its size in the Spec ID event, is skipped; one without a
 * sensible size is refused. */
static void test_spec_id(void **state) {
        static const uint16_t algs[] = { ALG_SM3_256, ALG_SHA256 }, sizes[] = { 32, 32 };
        static const uint16_t bad_sizes[][2] = { { 0, 32 }, { 65, 32 }, { 32, 20 } };
        struct builder b = {};
        struct eventlog l;
        uint8_t want[32] = {};

        put_spec_id(&b, 2, algs, sizes);
        put_event(&b, 7, EV_SEPARATOR, 2, algs, sizes, 0x44, "\0\0\0\0", 4);
        assert_int_equal(eventlog_replay(b.buf, b.n, &l), 0);
        assert_int_equal(l.n_banks, 1);
        assert_int_equal(l.banks[0].alg, ALG_SHA256);
        extend(ALG_SHA256, want, 0x44);
        assert_memory_equal(l.banks[0].pcrs[7], want, 32);

        for (size_t i = 0; i < ELEMENTSOF(bad_sizes); i++) {
                struct builder c = {};

                put_spec_id(&c, 2, algs, bad_sizes[i]);
                expect_bad(c.buf, c.n, "a bad digest size in the Spec ID event");
        }

        /* The same algorithm twice, no algorithm, a wrong signature, trailing bytes. */
        struct builder dup = {}, none = {}, sig = {}, tail = {};
        static const uint16_t dup_algs[] = { ALG_SHA256, ALG_SHA256 };

        put_spec_id(&dup, 2, dup_algs, sizes);
        expect_bad(dup.buf, dup.n, "an algorithm listed twice");
        put_spec_id(&none, 0, algs, sizes);
        expect_bad(none.buf, none.n, "no algorithm");
        put_spec_id(&sig, 2, algs, sizes);
        sig.buf[32 + 14] = '0';
        expect_bad(sig.buf, sig.n, "Spec ID Event00");
        put_spec_id(&tail, 2, algs, sizes);
        put(&tail, "\0\0\0", 3);
        expect_bad(tail.buf, tail.n, "three stray bytes after the last event");

        /* A byte inside the Spec ID event after its vendor info (eventSize counts it). */
        struct builder inside = {};

        put_spec_id(&inside, 2, algs, sizes);
        put(&inside, "\0", 1);
        put_le32_at(inside.buf + 28, get_le32(inside.buf + 28) + 1);
        expect_bad(inside.buf, inside.n, "a stray byte inside the Spec ID event");
        /* ... and the same byte counted as vendor info is fine. */
        inside.buf[inside.n - 2] = 1;
        assert_int_equal(eventlog_replay(inside.buf, inside.n, &l), 0);
        assert_int_equal(l.n_banks, 1);

        /* Only algorithms we do not replay: nothing to give. */
        struct builder sm3 = {};

        put_spec_id(&sm3, 1, algs, sizes);
        assert_int_equal(eventlog_replay(sm3.buf, sm3.n, &l), -EOPNOTSUPP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_testdata_logs),
                cmocka_unit_test(test_formats),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_truncated_places),
                cmocka_unit_test(test_bad_counts),
                cmocka_unit_test(test_bad_pcr_index),
                cmocka_unit_test(test_bad_digest_alg),
                cmocka_unit_test(test_digest_change),
                cmocka_unit_test(test_startup_locality),
                cmocka_unit_test(test_four_banks),
                cmocka_unit_test(test_hcrtm),
                cmocka_unit_test(test_spec_id),
        };

        testdata_require();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
