/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TCG event log (binary_bios_measurements): parsing and replay.
 *
 * Format (TCG PC Client Platform Firmware Profile, section "Event Logging"; little-endian throughout):
 *
 *   The first event is a TCG_PCR_EVENT, the SHA-1 format of TPM 1.2:
 *     pcrIndex u32 | eventType u32 | digest[20] | eventSize u32 | event[eventSize]
 *
 *   In a crypto-agile log it is an EV_NO_ACTION event in PCR 0 with an all-zero digest, and its data
 *   is the Spec ID event (TCG_EfiSpecIDEvent):
 *     signature[16] = "Spec ID Event03\0" | platformClass u32 | specVersionMinor u8 |
 *     specVersionMajor u8 | specErrata u8 | uintnSize u8 |
 *     numberOfAlgorithms u32 | { algorithmId u16, digestSize u16 }[numberOfAlgorithms] |
 *     vendorInfoSize u8 | vendorInfo[vendorInfoSize]
 *   and every later event is a TCG_PCR_EVENT2:
 *     pcrIndex u32 | eventType u32 | count u32 | { hashAlg u16, digest[digestSize of hashAlg] }[count] |
 *     eventSize u32 | event[eventSize]
 *
 *   A log whose first event is not EV_NO_ACTION is an old SHA-1 log: every event is a TCG_PCR_EVENT,
 *   and only the SHA-1 bank can be replayed.  tpm2_eventlog reads such logs the same way (its
 *   expected output for testdata's event-uefi-sha1-log.bin has a replayed sha1 bank), so we replay
 *   them rather than reject them: the quote then decides whether a SHA-1 bank is acceptable.
 *
 * Strictness (the log comes from the untrusted side, only the quote over the PCRs vouches for it):
 * every length is checked against what is left before it is used; the Spec ID event must fill its
 * eventSize exactly; an event's digest list holds 1 to numberOfAlgorithms digests, of algorithms the
 * Spec ID event lists, each at most once, and every TCG_PCR_EVENT2 holds the same set of algorithms
 * (a bank that misses a measurement could not be replayed); pcrIndex must be below 24; bytes after
 * the last event that do not form an event make the log malformed.  All of these are -EBADMSG.
 * The set need not be all of the Spec ID event's algorithms: tpm2-tools' event-uefiaction.bin lists
 * four and carries SHA-1 and SHA-256 digests only, and tpm2_eventlog replays those two banks.  Algorithms of the Spec ID event
 * other than SHA-1/256/384/512 (SM3, SHA-3) are parsed, using the size the Spec ID event gives, but
 * not replayed; a log with none of the four is -EOPNOTSUPP.  The banks are those of the events (all
 * of the Spec ID event's when the log has no TCG_PCR_EVENT2), in the order of the Spec ID event.
 *
 * Replay: every bank starts with its PCRs all zero.  A StartupLocality event (EV_NO_ACTION in PCR 0,
 * data "StartupLocality\0" then the locality byte, before any measurement into PCR 0) makes PCR 0
 * start as 00..0L.  An EV_EFI_HCRTM_EVENT as the first measurement into PCR 0 means that the H-CRTM
 * started the TPM: PCR 0 starts as 00..04 (TPM 2.0 Library Part 1, "H-CRTM"), and is then extended
 * with that event's digest.  EV_NO_ACTION events are never extended; every other event extends
 * PCR[pcrIndex] = H(PCR[pcrIndex] || digest) in each bank with that bank's digest.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest.h"
#include "encoding.h"
#include "log.h"
#include "macro.h"

static const uint8_t spec_id_signature[16] = "Spec ID Event03";
static const uint8_t startup_locality_signature[16] = "StartupLocality";

/* Walking the events of a log (eventlog_foreach() and its structures): eventlog.h, for PCR
 * prediction (src/lib/image/pcr-predict.c), which rewrites digests in a copy of the log. */
#include "eventlog.h"

struct cursor {
        const uint8_t *start;
        const uint8_t *p;
        size_t left;
};

static bool take(struct cursor *c, size_t n, const uint8_t **ret) {
        if (c->left < n)
                return false;
        *ret = c->p;
        c->p += n;
        c->left -= n;
        return true;
}

static bool take_u8(struct cursor *c, uint8_t *ret) {
        const uint8_t *p;

        if (!take(c, 1, &p))
                return false;
        *ret = p[0];
        return true;
}

static bool take_le16(struct cursor *c, uint16_t *ret) {
        const uint8_t *p;

        if (!take(c, 2, &p))
                return false;
        *ret = le16(p);
        return true;
}

static bool take_le32(struct cursor *c, uint32_t *ret) {
        const uint8_t *p;

        if (!take(c, 4, &p))
                return false;
        *ret = le32(p);
        return true;
}

static size_t cursor_offset(const struct cursor *c) {
        return (size_t) (c->p - c->start);
}

/* The algorithms we replay; others are skipped with the size the Spec ID event gives. */
static const struct {
        uint16_t alg;
        uint16_t size;
        const char *name;
        const EVP_MD *(*md)(void);
} known_algs[] = {
        { TPM2_ALG_SHA1, TPM2_SHA1_DIGEST_SIZE, "sha1", EVP_sha1 },
        { TPM2_ALG_SHA256, TPM2_SHA256_DIGEST_SIZE, "sha256", EVP_sha256 },
        { TPM2_ALG_SHA384, TPM2_SHA384_DIGEST_SIZE, "sha384", EVP_sha384 },
        { TPM2_ALG_SHA512, TPM2_SHA512_DIGEST_SIZE, "sha512", EVP_sha512 },
};

static int known_alg(uint16_t alg) {
        for (size_t i = 0; i < ELEMENTSOF(known_algs); i++)
                if (known_algs[i].alg == alg)
                        return (int) i;
        return -1;
}

const EVP_MD *eventlog_alg_md(uint16_t alg) {
        int i = known_alg(alg);

        return i < 0 ? NULL : known_algs[i].md();
}

static int bad(size_t offset, const char *why) {
        return log_debug_errno(-EBADMSG, "event log: %s (at byte %zu)", why, offset);
}

/* A TCG_PCR_EVENT (SHA-1 format). */
static int parse_sha1_event(struct cursor *c, struct eventlog_event *e) {
        const uint8_t *digest;
        size_t offset = cursor_offset(c);

        *e = (struct eventlog_event) { .offset = offset };
        if (!take_le32(c, &e->pcr) || !take_le32(c, &e->type) || !take(c, TPM2_SHA1_DIGEST_SIZE, &digest) ||
            !take_le32(c, &e->data_size))
                return bad(offset, "truncated event header");
        if (e->pcr >= EVENTLOG_PCRS)
                return bad(offset, "pcrIndex out of range");
        if (!take(c, e->data_size, &e->data))
                return bad(offset, "event data runs past the end of the log");
        e->n_digests = 1;
        e->digests[0] = (struct eventlog_digest) { TPM2_ALG_SHA1, TPM2_SHA1_DIGEST_SIZE, digest };
        e->size = cursor_offset(c) - offset;
        return 0;
}

/* The Spec ID event's data: fills f. */
static int parse_spec_id(const uint8_t *data, size_t size, size_t offset, struct eventlog_format *f) {
        struct cursor c = { data, data, size };
        const uint8_t *sig, *vendor;
        uint32_t platform_class, n;
        uint8_t minor, major, errata, uintn_size, vendor_size;

        if (!take(&c, sizeof(spec_id_signature), &sig) || memcmp(sig, spec_id_signature, sizeof(spec_id_signature)) != 0)
                return bad(offset, "the first event is EV_NO_ACTION but not a \"Spec ID Event03\" event");
        if (!take_le32(&c, &platform_class) || !take_u8(&c, &minor) || !take_u8(&c, &major) ||
            !take_u8(&c, &errata) || !take_u8(&c, &uintn_size) || !take_le32(&c, &n))
                return bad(offset, "truncated Spec ID event");
        if (uintn_size != 1 && uintn_size != 2)
                return bad(offset, "Spec ID event: uintnSize is neither 1 nor 2");
        if (n == 0 || n > EVENTLOG_MAX_ALGS)
                return bad(offset, "Spec ID event: bad numberOfAlgorithms");

        *f = (struct eventlog_format) { .crypto_agile = true, .n_algs = n };
        for (size_t i = 0; i < n; i++) {
                struct eventlog_alg *a = &f->algs[i];
                int k;

                if (!take_le16(&c, &a->alg) || !take_le16(&c, &a->size))
                        return bad(offset, "truncated Spec ID event algorithm list");
                if (a->size == 0 || a->size > sizeof(TPMU_HA))
                        return bad(offset, "Spec ID event: absurd digest size");
                k = known_alg(a->alg);
                if (k >= 0 && known_algs[k].size != a->size)
                        return bad(offset, "Spec ID event: wrong digest size for a known algorithm");
                for (size_t j = 0; j < i; j++)
                        if (f->algs[j].alg == a->alg)
                                return bad(offset, "Spec ID event: algorithm listed twice");
        }
        if (!take_u8(&c, &vendor_size) || !take(&c, vendor_size, &vendor))
                return bad(offset, "truncated Spec ID event vendor info");
        if (c.left != 0)
                return bad(offset, "Spec ID event: trailing bytes after the vendor info");

        log_debug("event log: crypto-agile, spec %u.%u errata %u, %u algorithm(s)",
                  (unsigned) major, (unsigned) minor, (unsigned) errata, n);
        return 0;
}

/* A TCG_PCR_EVENT2, with the digest sizes of f. */
static int parse_event2(struct cursor *c, struct eventlog_format *f, struct eventlog_event *e) {
        size_t offset = cursor_offset(c);
        uint32_t count, seen = 0;

        *e = (struct eventlog_event) { .offset = offset };
        if (!take_le32(c, &e->pcr) || !take_le32(c, &e->type) || !take_le32(c, &count))
                return bad(offset, "truncated event header");
        if (e->pcr >= EVENTLOG_PCRS)
                return bad(offset, "pcrIndex out of range");
        if (count == 0 || count > f->n_algs)
                return bad(offset, "digest count out of range");

        for (size_t i = 0; i < count; i++) {
                struct eventlog_digest *d = &e->digests[i];
                size_t k;

                if (!take_le16(c, &d->alg))
                        return bad(offset, "truncated digest list");
                for (k = 0; k < f->n_algs; k++)
                        if (f->algs[k].alg == d->alg)
                                break;
                if (k == f->n_algs)
                        return bad(offset, "digest of an algorithm the Spec ID event does not list");
                if (seen & (UINT32_C(1) << k))
                        return bad(offset, "two digests of the same algorithm");
                seen |= UINT32_C(1) << k;
                d->size = f->algs[k].size;
                if (!take(c, d->size, &d->digest))
                        return bad(offset, "truncated digest");
        }
        e->n_digests = count;
        if (f->present == 0)
                f->present = seen;
        else if (seen != f->present)
                return bad(offset, "the event's digests are of other algorithms than the first event's");

        if (!take_le32(c, &e->data_size))
                return bad(offset, "truncated event size");
        if (!take(c, e->data_size, &e->data))
                return bad(offset, "event data runs past the end of the log");
        e->size = cursor_offset(c) - offset;
        return 0;
}

int eventlog_foreach(const uint8_t *buf, size_t size, eventlog_event_cb cb, void *userdata) {
        struct cursor c = { buf, buf, size };
        struct eventlog_format f;
        struct eventlog_event e;
        int r;

        if (!buf || size == 0)
                return log_debug_errno(-EBADMSG, "event log: empty");

        r = parse_sha1_event(&c, &e);
        if (r < 0)
                return r;
        if (e.type == EV_NO_ACTION) {
                static const uint8_t zero[TPM2_SHA1_DIGEST_SIZE] = {};

                if (e.pcr != 0 || memcmp(e.digests[0].digest, zero, sizeof(zero)) != 0)
                        return bad(0, "Spec ID event: not in PCR 0 or with a digest");
                r = parse_spec_id(e.data, e.data_size, 0, &f);
                if (r < 0)
                        return r;
        } else {
                log_debug("event log: no Spec ID event, reading an old SHA-1 log");
                f = (struct eventlog_format) {
                        .crypto_agile = false,
                        .n_algs = 1,
                        .algs = { { TPM2_ALG_SHA1, TPM2_SHA1_DIGEST_SIZE } },
                        .present = 1,
                };
        }

        for (size_t index = 0;; index++) {
                e.index = index;
                r = cb(&f, &e, userdata);
                if (r < 0)
                        return r;
                if (c.left == 0)
                        break;
                r = f.crypto_agile ? parse_event2(&c, &f, &e) : parse_sha1_event(&c, &e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- replay ---- */

struct replay {
        struct eventlog log;
        int bank_of_alg[ELEMENTSOF(known_algs)];       /* index into log.banks, or -1 */
        struct eventlog_format spec_id;                 /* the format, as the Spec ID event gives it */
        bool started;                                   /* banks set up */
        bool pcr0_extended;
        bool pcr0_start_set;                            /* by StartupLocality or H-CRTM */
        EVP_MD_CTX *md;
};

/* The banks: the algorithms of mask (bits over f->algs). */
static int replay_start(const struct eventlog_format *f, uint32_t mask, struct replay *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->bank_of_alg); i++)
                s->bank_of_alg[i] = -1;
        s->started = true;
        for (size_t i = 0; i < f->n_algs; i++) {
                int k = known_alg(f->algs[i].alg);
                struct eventlog_bank *b;

                if (!(mask & (UINT32_C(1) << i)))
                        continue;
                if (k < 0) {
                        log_debug("event log: not replaying algorithm 0x%04x", (unsigned) f->algs[i].alg);
                        continue;
                }
                /* parse_spec_id() refused duplicates, so there are at most ELEMENTSOF(known_algs). */
                b = &s->log.banks[s->log.n_banks];
                b->alg = f->algs[i].alg;
                b->digest_size = f->algs[i].size;
                s->bank_of_alg[k] = (int) s->log.n_banks++;
        }
        if (s->log.n_banks == 0)
                return log_debug_errno(-EOPNOTSUPP, "event log: no SHA-1/256/384/512 bank to replay");
        return 0;
}

/* PCR 0 starts as 00..0L in every bank. */
static int set_pcr0_start(struct replay *s, uint8_t locality, size_t offset) {
        if (s->pcr0_extended || s->pcr0_start_set)
                return bad(offset, "startup locality given after PCR 0 was measured into, or twice");
        for (size_t i = 0; i < s->log.n_banks; i++)
                s->log.banks[i].pcrs[0][s->log.banks[i].digest_size - 1] = locality;
        s->log.startup_locality = locality;
        s->pcr0_start_set = true;
        return 0;
}

static int replay_event(const struct eventlog_format *f, const struct eventlog_event *e, void *userdata) {
        struct replay *s = userdata;
        int r;

        s->log.n_events++;
        if (e->index == 0 && f->crypto_agile) {
                s->spec_id = *f;        /* the Spec ID event */
                return 0;
        }
        if (!s->started) {
                r = replay_start(f, f->present, s);
                if (r < 0)
                        return r;
        }

        if (e->type == EV_NO_ACTION) {
                if (e->pcr == 0 && e->data_size >= sizeof(startup_locality_signature) &&
                    memcmp(e->data, startup_locality_signature, sizeof(startup_locality_signature)) == 0) {
                        uint8_t locality;

                        if (e->data_size != sizeof(startup_locality_signature) + 1)
                                return bad(e->offset, "StartupLocality event of the wrong size");
                        locality = e->data[sizeof(startup_locality_signature)];
                        if (locality > 4)
                                return bad(e->offset, "StartupLocality event: no such locality");
                        r = set_pcr0_start(s, locality, e->offset);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        if (e->pcr < 32)
                s->log.extended |= UINT32_C(1) << e->pcr;
        if (e->pcr == 0) {
                if (e->type == EV_EFI_HCRTM_EVENT) {
                        r = set_pcr0_start(s, 4, e->offset);
                        if (r < 0)
                                return r;
                }
                s->pcr0_extended = true;
        }

        for (size_t i = 0; i < e->n_digests; i++) {
                const struct eventlog_digest *d = &e->digests[i];
                int k = known_alg(d->alg);
                struct eventlog_bank *b;
                uint8_t *pcr;
                unsigned n = 0;

                if (k < 0 || s->bank_of_alg[k] < 0)
                        continue;
                b = &s->log.banks[s->bank_of_alg[k]];
                pcr = b->pcrs[e->pcr];
                if (EVP_DigestInit_ex(s->md, eventlog_alg_md(b->alg), NULL) != 1 ||
                    EVP_DigestUpdate(s->md, pcr, b->digest_size) != 1 ||
                    EVP_DigestUpdate(s->md, d->digest, d->size) != 1 ||
                    EVP_DigestFinal_ex(s->md, pcr, &n) != 1 || n != b->digest_size)
                        return log_debug_errno(-EIO, "event log: hashing failed");
        }
        return 0;
}

int eventlog_replay(const uint8_t *buf, size_t size, struct eventlog *ret) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        _cleanup_free_ struct replay *s = NULL;
        int r;

        if (!ret)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        md = EVP_MD_CTX_new();
        if (!s || !md)
                return -ENOMEM;
        s->md = md;

        r = eventlog_foreach(buf, size, replay_event, s);
        if (r < 0)
                return r;
        if (!s->started) {
                /* Nothing but the Spec ID event: every bank it announces, never extended. */
                r = replay_start(&s->spec_id, UINT32_MAX, s);
                if (r < 0)
                        return r;
        }

        log_debug("event log: replayed %zu events into %zu bank(s), startup locality %u",
                  s->log.n_events, s->log.n_banks, (unsigned) s->log.startup_locality);
        *ret = s->log;
        return 0;
}
