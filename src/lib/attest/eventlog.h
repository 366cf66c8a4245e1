/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Walking the events of a TCG event log (binary_bios_measurements); the format and the strictness
 * rules are described at the top of eventlog.c.  eventlog_replay() (attest.h) replays a log with it;
 * PCR prediction (pcr-predict.c) uses it to find the events whose digests it replaces.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define EV_NO_ACTION UINT32_C(0x00000003)
#define EV_EVENT_TAG UINT32_C(0x00000006)
#define EV_IPL UINT32_C(0x0000000D)
#define EV_EFI_BOOT_SERVICES_APPLICATION UINT32_C(0x80000003)
#define EV_EFI_HCRTM_EVENT UINT32_C(0x80000010)

/* The TCG registers far fewer hash algorithms for a TPM: a longer list is not a real log. */
#define EVENTLOG_MAX_ALGS 16U

struct eventlog_alg {
        uint16_t alg;                   /* TPM2_ALG_* */
        uint16_t size;                  /* digest size, from the Spec ID event */
};

struct eventlog_format {
        bool crypto_agile;              /* false: an old SHA-1 log, algs = { SHA-1 } */
        size_t n_algs;
        struct eventlog_alg algs[EVENTLOG_MAX_ALGS];    /* in the order of the Spec ID event */
        uint32_t present;               /* bit k: algs[k] has a digest in every event; known from the
                                         * first TCG_PCR_EVENT2 on (0 before it) */
};

struct eventlog_digest {
        uint16_t alg;
        uint16_t size;
        const uint8_t *digest;          /* into the log */
};

struct eventlog_event {
        size_t index;                   /* 0: the first event (the Spec ID event when crypto_agile) */
        size_t offset, size;            /* the whole event, within the log */
        uint32_t pcr;
        uint32_t type;
        size_t n_digests;
        struct eventlog_digest digests[EVENTLOG_MAX_ALGS];  /* in the order of the log */
        const uint8_t *data;            /* the event data, into the log */
        uint32_t data_size;
};

typedef int (*eventlog_event_cb)(const struct eventlog_format *f, const struct eventlog_event *e, void *userdata);

/* Hands every event, with where it lies in the log, to cb, in the order of the log, and stops at the
 * first negative return of cb (which it returns).  A malformed log is -EBADMSG, after the events
 * before the fault were handed over. */
int eventlog_foreach(const uint8_t *buf, size_t size, eventlog_event_cb cb, void *userdata);

/* The digest of a TPM hash algorithm of the log (sha1, sha256, sha384, sha512); NULL for others. */
const EVP_MD *eventlog_alg_md(uint16_t alg);
