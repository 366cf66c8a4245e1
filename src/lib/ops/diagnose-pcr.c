/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event-log half of `cvmseal diagnose` (diagnose.h): which events of this boot make a PCR differ
 * from the value a token was sealed to.  Everything here is computed from the log and the files
 * named as candidates; nothing reaches a TPM or a device.  Every string taken from the log goes
 * through diag_printable(): what diagnose says ends up on a console at boot.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest.h"
#include "authenticode.h"
#include "diagnose.h"
#include "encoding.h"
#include "eventlog.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "pcr-predict.h"

#define KERNEL_PCR 4U
#define INITRD_PCR 9U
#define CANDIDATES_PER_KIND 16U
#define KERNEL_SIZE_MAX (256U << 20)
#define INITRD_SIZE_MAX (UINT64_C(4) << 30)

#define EV_POST_CODE UINT32_C(0x00000001)
#define EV_SEPARATOR UINT32_C(0x00000004)
#define EV_ACTION UINT32_C(0x00000005)
#define EV_S_CRTM_VERSION UINT32_C(0x00000008)
#define EV_EFI_VARIABLE_DRIVER_CONFIG UINT32_C(0x80000001)
#define EV_EFI_VARIABLE_BOOT UINT32_C(0x80000002)
#define EV_EFI_ACTION UINT32_C(0x80000007)
#define EV_EFI_VARIABLE_BOOT2 UINT32_C(0x8000000C)
#define EV_EFI_VARIABLE_AUTHORITY UINT32_C(0x800000E0)

static const struct {
        uint32_t type;
        const char *name;
} event_types[] = {
        { 0x00000000, "EV_PREBOOT_CERT" },
        { 0x00000001, "EV_POST_CODE" },
        { 0x00000002, "EV_UNUSED" },
        { 0x00000003, "EV_NO_ACTION" },
        { 0x00000004, "EV_SEPARATOR" },
        { 0x00000005, "EV_ACTION" },
        { 0x00000006, "EV_EVENT_TAG" },
        { 0x00000007, "EV_S_CRTM_CONTENTS" },
        { 0x00000008, "EV_S_CRTM_VERSION" },
        { 0x00000009, "EV_CPU_MICROCODE" },
        { 0x0000000A, "EV_PLATFORM_CONFIG_FLAGS" },
        { 0x0000000B, "EV_TABLE_OF_DEVICES" },
        { 0x0000000C, "EV_COMPACT_HASH" },
        { 0x0000000D, "EV_IPL" },
        { 0x0000000E, "EV_IPL_PARTITION_DATA" },
        { 0x0000000F, "EV_NONHOST_CODE" },
        { 0x00000010, "EV_NONHOST_CONFIG" },
        { 0x00000011, "EV_NONHOST_INFO" },
        { 0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS" },
        { 0x00000013, "EV_POST_CODE2" },
        { 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
        { 0x80000002, "EV_EFI_VARIABLE_BOOT" },
        { 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
        { 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
        { 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
        { 0x80000006, "EV_EFI_GPT_EVENT" },
        { 0x80000007, "EV_EFI_ACTION" },
        { 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
        { 0x80000009, "EV_EFI_HANDOFF_TABLES" },
        { 0x8000000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
        { 0x8000000B, "EV_EFI_HANDOFF_TABLES2" },
        { 0x8000000C, "EV_EFI_VARIABLE_BOOT2" },
        { 0x8000000D, "EV_EFI_GPT_EVENT2" },
        { 0x80000010, "EV_EFI_HCRTM_EVENT" },
        { 0x800000E0, "EV_EFI_VARIABLE_AUTHORITY" },
        { 0x800000E1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
        { 0x800000E2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *diag_event_type_name(uint32_t type) {
        for (size_t i = 0; i < ELEMENTSOF(event_types); i++)
                if (event_types[i].type == type)
                        return event_types[i].name;
        return NULL;
}

void diag_printable(char *buf, size_t size, const char *text, size_t len) {
        size_t n = 0;

        if (size == 0)
                return;
        for (size_t i = 0; i < len && n + 1 < size; i++) {
                unsigned char c = (unsigned char) text[i];

                if (c == 0)
                        break;
                buf[n++] = c >= 0x20 && c < 0x7f ? (char) c : '?';
        }
        /* Long texts end in "...", so that a cut is not taken for the whole. */
        if (n + 1 == size && size > 4 && len > n)
                memcpy(buf + size - 4, "...", 3);
        buf[n] = 0;
}

/* UTF-16LE text (n code units) as printable ASCII. */
static void utf16_printable(char *buf, size_t size, const uint8_t *p, size_t n) {
        char tmp[DIAG_DESCRIPTION_MAX];
        size_t k = 0;

        for (size_t i = 0; i < n && k < sizeof(tmp); i++) {
                uint16_t c = (uint16_t) (p[2 * i] | p[2 * i + 1] << 8);

                if (c == 0)
                        break;
                tmp[k++] = c < 0x80 ? (char) c : '?';
        }
        diag_printable(buf, size, tmp, k);
}

/* The file path of an EFI application from its UEFI_IMAGE_LOAD_EVENT's device path: the last
 * FILEPATH_DEVICE_PATH node (type 4, subtype 4). */
static void image_path(const struct eventlog_event *e, char *buf, size_t size) {
        const uint8_t *p = e->data, *end;
        uint64_t dp_size;

        *buf = 0;
        if (e->data_size < 32)
                return;
        dp_size = le64(p + 24);
        if (dp_size > e->data_size - 32)
                return;
        p += 32;
        end = p + dp_size;
        while (end - p >= 4) {
                uint8_t type = p[0], subtype = p[1];
                uint16_t len = (uint16_t) (p[2] | p[3] << 8);

                if (len < 4 || len > end - p)
                        break;
                if (type == 0x7f)
                        break;
                if (type == 4 && subtype == 4)
                        utf16_printable(buf, size, p + 4, (len - 4U) / 2);
                p += len;
        }
}

static void describe(const struct eventlog_event *e, struct diag_event *d) {
        char text[DIAG_DESCRIPTION_MAX] = "";

        switch (e->type) {
        case EV_EFI_VARIABLE_DRIVER_CONFIG:
        case EV_EFI_VARIABLE_BOOT:
        case EV_EFI_VARIABLE_BOOT2:
        case EV_EFI_VARIABLE_AUTHORITY:
                /* UEFI_VARIABLE_DATA: VariableName (GUID), UnicodeNameLength, VariableDataLength,
                 * UnicodeName, VariableData. */
                if (e->data_size >= 32) {
                        uint64_t n = le64(e->data + 16);

                        if (n <= (e->data_size - 32) / 2)
                                utf16_printable(text, sizeof(text), e->data + 32, (size_t) n);
                }
                snprintf(d->description, sizeof(d->description), "%s %s",
                         e->type == EV_EFI_VARIABLE_AUTHORITY ? "authority" : "variable", *text ? text : "?");
                if (e->pcr == 7)
                        d->what = DIAG_SECURE_BOOT;
                return;
        case EV_EFI_BOOT_SERVICES_APPLICATION:
                image_path(e, text, sizeof(text));
                snprintf(d->description, sizeof(d->description), "%s", *text ? text : "an EFI application");
                if (e->pcr == KERNEL_PCR)
                        d->what = DIAG_BOOT_APP;
                return;
        case EV_EVENT_TAG:
                if (e->data_size >= 8) {
                        uint32_t id = le32(e->data), n = le32(e->data + 4);

                        if (n <= e->data_size - 8)
                                diag_printable(text, sizeof(text), (const char *) e->data + 8, n);
                        if (id == LINUX_INITRD_EVENT_TAG_ID && e->pcr == INITRD_PCR)
                                d->what = DIAG_INITRD;
                        else if (id == LINUX_LOAD_OPTIONS_EVENT_TAG_ID && e->pcr == INITRD_PCR)
                                d->what = DIAG_CMDLINE;
                }
                snprintf(d->description, sizeof(d->description), "%s", text);
                return;
        case EV_IPL:
        case EV_ACTION:
        case EV_EFI_ACTION:
        case EV_POST_CODE:
                diag_printable(d->description, sizeof(d->description), (const char *) e->data, e->data_size);
                if (e->type == EV_IPL && (e->pcr == 8 || e->pcr == 9)) {
                        d->what = strncmp(d->description, "kernel_cmdline:", 15) == 0 ? DIAG_CMDLINE : DIAG_BOOT_LOADER;
                } else if (e->type != EV_IPL && e->type != EV_POST_CODE)
                        d->what = DIAG_ACTION;
                return;
        case EV_S_CRTM_VERSION:
                utf16_printable(d->description, sizeof(d->description), e->data, e->data_size / 2);
                return;
        case EV_SEPARATOR:
                d->what = DIAG_SEPARATOR;
                return;
        default:
                return;
        }
}

/* ---- the log ---- */

struct parse {
        struct diag_log *log;
        size_t allocated;
        bool pcr0_measured;
};

static const uint8_t startup_locality_signature[16] = "StartupLocality";

static int parse_event(const struct eventlog_format *f, const struct eventlog_event *e, void *userdata) {
        struct parse *s = userdata;
        struct diag_log *l = s->log;
        const uint8_t *digest = NULL;
        struct diag_event *d;

        (void) f;
        if (e->index == 0 && f->crypto_agile)
                return 0;       /* the Spec ID event */
        if (e->type == EV_NO_ACTION) {
                if (e->pcr == 0 && e->data_size == sizeof(startup_locality_signature) + 1 &&
                    memcmp(e->data, startup_locality_signature, sizeof(startup_locality_signature)) == 0)
                        l->pcr0_start[31] = e->data[sizeof(startup_locality_signature)];
                return 0;
        }
        if (e->pcr >= CVMSEAL_PCR_MAX)
                return 0;
        for (size_t i = 0; i < e->n_digests; i++)
                if (e->digests[i].alg == TPM2_ALG_SHA256)
                        digest = e->digests[i].digest;
        if (!digest)
                return log_debug_errno(-EBADMSG, "diagnose: the event log has no SHA-256 digests");
        if (e->pcr == 0 && !s->pcr0_measured) {
                s->pcr0_measured = true;
                if (e->type == EV_EFI_HCRTM_EVENT)
                        l->pcr0_start[31] = 4;
        }
        if (l->n_events >= DIAG_EVENTS_MAX)
                return log_debug_errno(-EBADMSG, "diagnose: the event log has more than %u events", DIAG_EVENTS_MAX);
        if (l->n_events == s->allocated) {
                size_t n = s->allocated ? 2 * s->allocated : 64;
                struct diag_event *p = reallocarray(l->events, n, sizeof(*p));

                if (!p)
                        return -ENOMEM;
                l->events = p;
                s->allocated = n;
        }
        d = &l->events[l->n_events++];
        *d = (struct diag_event) { .index = e->index, .pcr = e->pcr, .type = e->type };
        memcpy(d->sha256, digest, 32);
        describe(e, d);
        l->extended |= UINT32_C(1) << e->pcr;
        return 0;
}

static void extend(uint8_t pcr[32], const uint8_t digest[32]) {
        uint8_t buf[64];
        unsigned n = 0;

        memcpy(buf, pcr, 32);
        memcpy(buf + 32, digest, 32);
        (void) EVP_Digest(buf, sizeof(buf), pcr, &n, EVP_sha256(), NULL);
}

void diag_log_done(struct diag_log *l) {
        free(l->events);
        *l = (struct diag_log) {};
}

int diag_log_parse(const uint8_t *buf, size_t size, struct diag_log *ret) {
        _cleanup_free_ struct eventlog *replayed = NULL;
        struct diag_log l = {};
        struct parse s = { .log = &l };
        int r;

        /* The replay's strictness first (lengths, algorithms, StartupLocality, H-CRTM). */
        replayed = malloc(sizeof(*replayed));
        if (!replayed)
                return -ENOMEM;
        r = eventlog_replay(buf, size, replayed);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;

        r = eventlog_foreach(buf, size, parse_event, &s);
        if (r < 0) {
                diag_log_done(&l);
                return r == -ENOMEM ? r : -EBADMSG;
        }

        /* The kernel: the last EFI application the firmware started in PCR 4, and every earlier one
         * with its digest (pcr-predict.h: GRUB through shim makes the firmware load it twice). */
        for (size_t i = l.n_events; i > 0; i--) {
                struct diag_event *k = &l.events[i - 1];

                if (k->pcr != KERNEL_PCR || k->type != EV_EFI_BOOT_SERVICES_APPLICATION)
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (l.events[j].pcr == KERNEL_PCR && l.events[j].type == EV_EFI_BOOT_SERVICES_APPLICATION &&
                            memcmp(l.events[j].sha256, k->sha256, 32) == 0)
                                l.events[j].what = DIAG_KERNEL;
                break;
        }

        for (unsigned p = 0; p < CVMSEAL_PCR_MAX; p++) {
                if (p == 0)
                        memcpy(l.replayed[p], l.pcr0_start, 32);
                for (size_t i = 0; i < l.n_events; i++)
                        if (l.events[i].pcr == p)
                                extend(l.replayed[p], l.events[i].sha256);
        }
        *ret = l;
        return 0;
}

/* ---- candidates ---- */

void diag_candidates_done(struct diag_candidates *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->c[i].path);
        free(c->c);
        *c = (struct diag_candidates) {};
}

/* SHA-256 of a whole file, read in pieces (an initrd can be large); the size is bounded. */
static int file_sha256(int fd, uint8_t ret[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t buf[65536];
        uint64_t total = 0;
        unsigned n = 0;

        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                total += (uint64_t) k;
                if (total > INITRD_SIZE_MAX)
                        return -EFBIG;
                if (EVP_DigestUpdate(md, buf, (size_t) k) != 1)
                        return -EIO;
        }
        if (EVP_DigestFinal_ex(md, ret, &n) != 1 || n != 32)
                return -EIO;
        return 0;
}

static int file_authenticode(int fd, uint8_t ret[32]) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t digest[EVP_MAX_MD_SIZE];
        struct stat st;
        size_t got = 0;
        unsigned n = 0;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t) st.st_size > KERNEL_SIZE_MAX)
                return -EFBIG;
        buf = malloc((size_t) st.st_size);
        if (!buf)
                return -ENOMEM;
        while (got < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + got, (size_t) st.st_size - got);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                got += (size_t) k;
        }
        r = authenticode_digest(buf, got, EVP_sha256(), digest, &n);
        if (r < 0)
                return r;
        if (n != 32)
                return -EIO;
        memcpy(ret, digest, 32);
        return 0;
}

int diag_candidates_add(struct diag_candidates *c, const char *path, bool kernel) {
        struct diag_candidate *p;
        uint8_t digest[32];
        int fd, r;

        /* The path is shown on a console: only printable ASCII. */
        for (const char *q = path; *q; q++)
                if ((unsigned char) *q < 0x20 || (unsigned char) *q >= 0x7f)
                        return log_debug_errno(0, "diagnose: skipping a candidate whose name is not printable");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_debug_errno(0, "diagnose: cannot open the candidate %s: %s", path, strerror(errno));
        r = kernel ? file_authenticode(fd, digest) : file_sha256(fd, digest);
        close(fd);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_debug_errno(0, "diagnose: skipping the candidate %s (%s)", path,
                                       kernel ? "no PE image, or unreadable" : strerror(-r));
        for (size_t i = 0; i < c->n; i++)
                if (c->c[i].kernel == kernel && memcmp(c->c[i].sha256, digest, 32) == 0)
                        return 0;       /* the same file twice (a symlink) */
        p = reallocarray(c->c, c->n + 1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        c->c = p;
        p = &c->c[c->n];
        *p = (struct diag_candidate) { .path = strdup(path), .kernel = kernel };
        if (!p->path)
                return -ENOMEM;
        memcpy(p->sha256, digest, 32);
        c->n++;
        return 0;
}

static int filter_candidate(const struct dirent *d) {
        return strncmp(d->d_name, "vmlinuz-", 8) == 0 || strncmp(d->d_name, "initrd.img-", 11) == 0;
}

int diag_candidates_scan(struct diag_candidates *c, const char *dir) {
        struct dirent **names = NULL;
        unsigned kernels = 0, initrds = 0;
        int n, r = 0;

        n = scandir(dir, &names, filter_candidate, versionsort);
        if (n < 0)
                return 0;
        /* The newest last (versionsort): keep the newest of each kind when there are too many. */
        for (int i = n - 1; i >= 0; i--) {
                bool kernel = names[i]->d_name[0] == 'v';
                _cleanup_free_ char *path = NULL;

                if (r >= 0 && (kernel ? kernels : initrds) < CANDIDATES_PER_KIND) {
                        if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0)
                                r = -ENOMEM;
                        else
                                r = diag_candidates_add(c, path, kernel);
                        if (kernel)
                                kernels++;
                        else
                                initrds++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

/* ---- one PCR ---- */

static const char *what_string(enum diag_what w) {
        static const char *const s[] = {
                [DIAG_OTHER] = "other",
                [DIAG_KERNEL] = "kernel",
                [DIAG_BOOT_APP] = "efi-application",
                [DIAG_INITRD] = "initrd",
                [DIAG_CMDLINE] = "kernel-command-line",
                [DIAG_SECURE_BOOT] = "secure-boot",
                [DIAG_BOOT_LOADER] = "boot-loader",
                [DIAG_SEPARATOR] = "separator",
                [DIAG_ACTION] = "action",
        };
        return s[w];
}

/* "the kernel image measured at event 23", "event 7 (EV_EFI_ACTION: Calling EFI ...)". */
static void event_phrase(const struct diag_event *e, char *buf, size_t size) {
        const char *type = diag_event_type_name(e->type);
        char tbuf[16];

        if (!type) {
                snprintf(tbuf, sizeof(tbuf), "type 0x%08x", (unsigned) e->type);
                type = tbuf;
        }
        switch (e->what) {
        case DIAG_KERNEL:
                snprintf(buf, size, "the kernel image measured at event %zu (%s%s%s)", e->index, type,
                         *e->description ? ": " : "", e->description);
                return;
        case DIAG_INITRD:
                snprintf(buf, size, "the initrd measured at event %zu (%s \"%s\")", e->index, type, e->description);
                return;
        case DIAG_CMDLINE:
                snprintf(buf, size, "the kernel command line measured at event %zu (%s \"%s\")", e->index, type,
                         e->description);
                return;
        case DIAG_SECURE_BOOT:
                snprintf(buf, size, "the Secure Boot %s measured at event %zu (%s)", e->description, e->index, type);
                return;
        default:
                if (*e->description)
                        snprintf(buf, size, "event %zu (%s: %s)", e->index, type, e->description);
                else
                        snprintf(buf, size, "event %zu (%s)", e->index, type);
                return;
        }
}

static json_object *event_json(const struct diag_event *e) {
        json_object *o = json_object_new_object();
        const char *type = diag_event_type_name(e->type);
        char tbuf[16];
        int r;

        if (!o)
                return NULL;
        if (!type) {
                snprintf(tbuf, sizeof(tbuf), "0x%08x", (unsigned) e->type);
                type = tbuf;
        }
        r = json_add(o, "index", json_object_new_int64((int64_t) e->index));
        if (r >= 0)
                r = json_add(o, "type", json_object_new_string(type));
        if (r >= 0)
                r = json_add(o, "description", json_object_new_string(e->description));
        if (r >= 0)
                r = json_add(o, "what", json_object_new_string(what_string(e->what)));
        if (r >= 0)
                r = json_add_blob(o, "sha256", true, e->sha256, 32);
        if (r < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* The PCR's value from its start with its events, event skip left out (SIZE_MAX: none), the events
 * with what == replace_what given digest with (NULL: none), and with (when append) one more event. */
static void replay_pcr(const struct diag_log *l, unsigned pcr, size_t first_n, size_t skip, enum diag_what replace_what,
                       const uint8_t *with, const uint8_t *append, uint8_t ret[32]) {
        size_t k = 0;

        memset(ret, 0, 32);
        if (pcr == 0)
                memcpy(ret, l->pcr0_start, 32);
        for (size_t i = 0; i < l->n_events; i++) {
                const struct diag_event *e = &l->events[i];

                if (e->pcr != pcr)
                        continue;
                if (k >= first_n)
                        break;
                if (k++ == skip)
                        continue;
                extend(ret, with && e->what == replace_what ? with : e->sha256);
        }
        if (append)
                extend(ret, append);
}

struct explain {
        const struct diag_log *log;
        unsigned pcr;
        size_t n;                               /* the PCR's events */
        const struct diag_event **events;
        const uint8_t *enrolled;
};

static bool gives_enrolled(const struct explain *x, size_t first_n, size_t skip, enum diag_what what, const uint8_t *with,
                           const uint8_t *append) {
        uint8_t v[32];

        replay_pcr(x->log, x->pcr, first_n, skip, what, with, append, v);
        return memcmp(v, x->enrolled, 32) == 0;
}

static const struct diag_event *find_what(const struct explain *x, enum diag_what w) {
        for (size_t i = x->n; i > 0; i--)
                if (x->events[i - 1]->what == w)
                        return x->events[i - 1];
        return NULL;
}

static bool has_what(const struct explain *x, enum diag_what w) {
        return find_what(x, w) != NULL;
}

/* The candidate of that kind whose digest is the event's (what this boot measured), or NULL. */
static const struct diag_candidate *candidate_of(const struct diag_candidates *c, bool kernel, const uint8_t digest[32]) {
        for (size_t i = 0; c && i < c->n; i++)
                if (c->c[i].kernel == kernel && memcmp(c->c[i].sha256, digest, 32) == 0)
                        return &c->c[i];
        return NULL;
}

int diag_pcr_explain(const struct diag_log *log, unsigned pcr, const uint8_t enrolled[32], const uint8_t current[32],
                     int (*get_candidates)(void *userdata, const struct diag_candidates **ret), void *userdata,
                     json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL, *events = NULL, *changed = NULL;
        _cleanup_free_ const struct diag_event **list = NULL;
        const struct diag_candidates *cands = NULL;
        struct explain x = { .log = log, .pcr = pcr, .enrolled = enrolled };
        const char *change = "unknown", *candidate = NULL;
        char msg[1024], phrase[256];
        int r;

        if (pcr >= CVMSEAL_PCR_MAX)
                return -EINVAL;
        o = json_object_new_object();
        events = json_object_new_array();
        changed = json_object_new_array();
        if (!o || !events || !changed)
                return -ENOMEM;
        r = json_add(o, "pcr", json_object_new_int((int) pcr));
        if (r >= 0)
                r = json_add_blob(o, "enrolled", true, enrolled, 32);
        if (r >= 0)
                r = json_add_blob(o, "current", true, current, 32);
        if (r < 0)
                return r;

        if (!log) {
                change = "no-log";
                snprintf(msg, sizeof(msg), "PCR %u differs from the enrolled value (no event log to say which "
                         "event made the difference)", pcr);
                goto done;
        }

        list = calloc(log->n_events + 1, sizeof(*list));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < log->n_events; i++)
                if (log->events[i].pcr == pcr) {
                        list[x.n++] = &log->events[i];
                        if (json_object_array_add(events, event_json(&log->events[i])) < 0)
                                return -ENOMEM;
                }
        x.events = list;

        if (memcmp(log->replayed[pcr], current, 32) != 0) {
                /* The log does not give the TPM's value. */
                if (memcmp(log->replayed[pcr], enrolled, 32) == 0) {
                        change = "outside";
                        snprintf(msg, sizeof(msg), "PCR %u was extended after the %zu event%s the event log has for "
                                 "it, without an entry in the log (after boot: a program, tpm2_pcrextend): the "
                                 "logged events give exactly the enrolled value", pcr, x.n, x.n == 1 ? "" : "s");
                } else {
                        change = "unexplained";
                        snprintf(msg, sizeof(msg), "PCR %u differs from the enrolled value, and the event log does "
                                 "not account for its current value (it was extended without an entry in the log, "
                                 "or the log is not this boot's)", pcr);
                }
                goto done;
        }

        /* The log gives the current value.  Events added since the enrolled boot: a prefix of the
         * PCR's events gives the enrolled value, or all of them but one. */
        for (size_t j = x.n; j > 0; j--) {
                if (!gives_enrolled(&x, j - 1, SIZE_MAX, DIAG_OTHER, NULL, NULL))
                        continue;
                change = "added";
                for (size_t i = j - 1; i < x.n; i++)
                        if (json_object_array_add(changed, event_json(x.events[i])) < 0)
                                return -ENOMEM;
                event_phrase(x.events[j - 1], phrase, sizeof(phrase));
                if (j == x.n)
                        snprintf(msg, sizeof(msg), "PCR %u: %s is new: the enrolled boot had no such event (the "
                                 "PCR's events before it give exactly the enrolled value)", pcr, phrase);
                else
                        snprintf(msg, sizeof(msg), "PCR %u: %s and the %zu event%s after it are new: the enrolled boot "
                                 "had none of them (the PCR's events before them give exactly the enrolled value)",
                                 pcr, phrase, x.n - j, x.n - j == 1 ? "" : "s");
                goto done;
        }
        for (size_t k = 0; k + 1 < x.n; k++) {
                if (!gives_enrolled(&x, SIZE_MAX, k, DIAG_OTHER, NULL, NULL))
                        continue;
                change = "added";
                if (json_object_array_add(changed, event_json(x.events[k])) < 0)
                        return -ENOMEM;
                event_phrase(x.events[k], phrase, sizeof(phrase));
                snprintf(msg, sizeof(msg), "PCR %u: %s is new: the enrolled boot had no such event (the PCR's "
                         "other events give exactly the enrolled value)", pcr, phrase);
                goto done;
        }

        /* A kernel or an initrd of the candidates in place of this boot's. */
        if ((pcr == KERNEL_PCR && has_what(&x, DIAG_KERNEL)) || pcr == INITRD_PCR) {
                if (get_candidates) {
                        r = get_candidates(userdata, &cands);
                        if (r < 0)
                                return r;
                }
                for (size_t i = 0; cands && i < cands->n; i++) {
                        const struct diag_candidate *c = &cands->c[i];
                        const struct diag_event *e = find_what(&x, c->kernel ? DIAG_KERNEL : DIAG_INITRD);
                        const struct diag_candidate *now;

                        if (c->kernel != (pcr == KERNEL_PCR))
                                continue;
                        if (e ? !gives_enrolled(&x, SIZE_MAX, SIZE_MAX, e->what, c->sha256, NULL)
                              : !gives_enrolled(&x, SIZE_MAX, SIZE_MAX, DIAG_OTHER, NULL, c->sha256))
                                continue;
                        candidate = c->path;
                        if (!e) {
                                change = "removed";
                                snprintf(msg, sizeof(msg), "PCR %u: the enrolled boot measured an initrd (the enrolled "
                                         "value is that of %s appended to this boot's events), this boot measured none",
                                         pcr, c->path);
                                goto done;
                        }
                        change = "replaced";
                        now = candidate_of(cands, c->kernel, e->sha256);
                        event_phrase(e, phrase, sizeof(phrase));
                        snprintf(msg, sizeof(msg), "PCR %u: %s differs from the one enrolled: the enrolled value is "
                                 "that of %s in its place%s%s%s", pcr, phrase, c->path, now ? " (this boot's is " : "",
                                 now ? now->path : "", now ? ")" : "");
                        if (json_object_array_add(changed, event_json(e)) < 0)
                                return -ENOMEM;
                        goto done;
                }
        }

        if (x.n == 0) {
                change = "removed";
                snprintf(msg, sizeof(msg), "PCR %u: this boot measured nothing into it (it has its reset value); the "
                         "enrolled boot did", pcr);
                goto done;
        }

        /* Only the events can be listed, with the likeliest named as such. */
        {
                static const enum diag_what likeliest[] = { DIAG_KERNEL, DIAG_INITRD, DIAG_CMDLINE, DIAG_BOOT_LOADER,
                                                             DIAG_SECURE_BOOT, DIAG_BOOT_APP };
                const struct diag_event *e = NULL;

                for (size_t i = 0; !e && i < ELEMENTSOF(likeliest); i++)
                        e = find_what(&x, likeliest[i]);
                if (e) {
                        event_phrase(e, phrase, sizeof(phrase));
                        if (json_object_array_add(changed, event_json(e)) < 0)
                                return -ENOMEM;
                        snprintf(msg, sizeof(msg), "PCR %u: one of its %zu events in this boot's log differs from the "
                                 "enrolled boot (the enrolled value is a digest: which one cannot be computed); the "
                                 "likeliest is %s", pcr, x.n, phrase);
                } else
                        snprintf(msg, sizeof(msg), "PCR %u: one of its %zu events in this boot's log differs from the "
                                 "enrolled boot (the enrolled value is a digest: which one cannot be computed)", pcr, x.n);
        }

done:
        r = json_add(o, "change", json_object_new_string(change));
        if (r >= 0)
                r = json_add(o, "events", TAKE_PTR(events));
        if (r >= 0)
                r = json_add(o, "changed", TAKE_PTR(changed));
        if (r >= 0 && candidate)
                r = json_add(o, "candidate", json_object_new_string(candidate));
        if (r >= 0)
                r = json_add(o, "message", json_object_new_string(msg));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}
