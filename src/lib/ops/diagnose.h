/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * `cvmseal diagnose` (docs/diagnose.md): why an unlock would be refused, without unsealing anything.
 *
 * This header holds the part that needs no TPM and no device, so the unit tests reach it: the event
 * log of this boot, cut into the events of each PCR, and the explanation of one PCR whose value
 * differs from the value a token was sealed to.
 *
 * The enrolled value of a PCR is a digest: which event of this boot differs from the enrolled boot's
 * cannot be computed from it.  What can be proven is tried, in this order, and said only when it
 * holds exactly (every what-if is a replay of the PCR's events compared with the enrolled value):
 *
 *   outside   the log does not give the PCR's current value: it was extended without an entry in the
 *             log (after boot: tpm2_pcrextend, a program), or the log is not this boot's; when the
 *             log's events give the enrolled value, the change is exactly that extension;
 *   added     the first j events of the PCR give the enrolled value (the later ones are new), or all
 *             but one event do (that one is new);
 *   replaced  a candidate file (a kernel: its Authenticode digest; an initrd: its SHA-256) in place of
 *             the kernel's (the initrd's) measurement gives the enrolled value: the enrolled boot had
 *             that file, this one has another; an initrd measurement appended likewise ("removed");
 *   unknown   none of these: the PCR's events are listed, with the one most likely to have changed
 *             (the kernel in PCR 4, the initrd in PCR 9...) named as such, not as a certainty.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cvmseal.h"

#define DIAG_DESCRIPTION_MAX 96U
#define DIAG_EVENTS_MAX 4096U

/* What an event measured, as far as its type and data tell (for the explanation's words). */
enum diag_what {
        DIAG_OTHER,
        DIAG_KERNEL,        /* PCR 4: the last EFI application the firmware started (and its twins) */
        DIAG_BOOT_APP,      /* PCR 4: another EFI application (shim, a boot loader) */
        DIAG_INITRD,        /* PCR 9: the Linux EFI stub's initrd measurement */
        DIAG_CMDLINE,       /* PCR 9: the stub's load options; PCR 8: GRUB's kernel_cmdline */
        DIAG_SECURE_BOOT,   /* PCR 7: a Secure Boot variable or authority */
        DIAG_BOOT_LOADER,   /* PCR 8/9: what GRUB measured (commands, files) */
        DIAG_SEPARATOR,
        DIAG_ACTION,
};

struct diag_event {
        size_t index;                   /* in the log, as tpm2_eventlog numbers events */
        uint32_t pcr;
        uint32_t type;
        uint8_t sha256[32];
        enum diag_what what;
        char description[DIAG_DESCRIPTION_MAX];   /* printable ASCII only */
};

/* This boot's event log, for the explanation of PCRs. */
struct diag_log {
        size_t n_events;                /* events with a SHA-256 digest, EV_NO_ACTION left out */
        struct diag_event *events;      /* in the order of the log */
        uint32_t extended;              /* PCRs the log extends */
        uint8_t replayed[CVMSEAL_PCR_MAX][32];  /* the SHA-256 bank as the log replays it */
        uint8_t pcr0_start[32];         /* PCR 0's value before its first event (locality, H-CRTM) */
};

void diag_log_done(struct diag_log *l);
/* Parses and replays a log (binary_bios_measurements).  -EBADMSG when it is malformed or has no
 * SHA-256 digests. */
int diag_log_parse(const uint8_t *buf, size_t size, struct diag_log *ret);

/* A file that may be the kernel or the initrd of the enrolled boot, with the digest the firmware (the
 * stub) would measure for it. */
struct diag_candidate {
        char *path;
        bool kernel;                    /* else an initrd */
        uint8_t sha256[32];
};

struct diag_candidates {
        size_t n;
        struct diag_candidate *c;
};

void diag_candidates_done(struct diag_candidates *c);
/* Adds path (a PE kernel when kernel, else an initrd) with its digest; a file that cannot be read or
 * is no PE image is skipped (0, with a debug message). */
int diag_candidates_add(struct diag_candidates *c, const char *path, bool kernel);
/* Adds the kernels (vmlinuz-*) and initrds (initrd.img-*) of a directory (/boot), at most 16 of
 * each; a missing directory adds nothing. */
int diag_candidates_scan(struct diag_candidates *c, const char *dir);

/* Explains PCR pcr, whose current value differs from enrolled: *ret = {"pcr", "enrolled", "current",
 * "change": "outside" | "added" | "replaced" | "removed" | "unknown" | "no-log", "events": [{"index",
 * "type", "description", "what"}...] (the PCR's events in the log), "changed": [the events named
 * as the difference, or the likeliest], "candidate" (replaced/removed: the enrolled file),
 * "message"}.  log NULL: no event log ("no-log"); candidates NULL or empty: none.  get_candidates is
 * called at most once, when a candidate is needed, to fill candidates (they can be slow to hash). */
int diag_pcr_explain(const struct diag_log *log, unsigned pcr, const uint8_t enrolled[32], const uint8_t current[32],
                     int (*get_candidates)(void *userdata, const struct diag_candidates **ret), void *userdata,
                     json_object **ret);

/* The name of an event type (EV_EFI_BOOT_SERVICES_APPLICATION...), or NULL when unknown. */
const char *diag_event_type_name(uint32_t type);
/* Copies text into a buffer of size bytes with every byte outside printable ASCII (a control
 * character, an escape, a UTF-8 byte) replaced by '?': what cvmseal says about the disk or the log can
 * go to a console. */
void diag_printable(char *buf, size_t size, const char *text, size_t len);
