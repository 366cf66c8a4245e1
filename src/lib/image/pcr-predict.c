/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest.h"
#include "authenticode.h"
#include "encoding.h"
#include "eventlog.h"
#include "log.h"
#include "macro.h"
#include "pcr-predict.h"

#define KERNEL_PCR 4U
#define INITRD_PCR 9U

static const uint8_t initrd_event_data[] = "Linux initrd";   /* with its NUL, as the stub logs it */

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

static const uint8_t *event_sha256(const struct eventlog_event *e) {
        for (size_t i = 0; i < e->n_digests; i++)
                if (e->digests[i].alg == TPM2_ALG_SHA256)
                        return e->digests[i].digest;
        return NULL;
}

static bool is_kernel_candidate(const struct eventlog_event *e) {
        return e->index > 0 && e->pcr == KERNEL_PCR && e->type == EV_EFI_BOOT_SERVICES_APPLICATION;
}

static bool is_initrd_event(const struct eventlog_event *e) {
        return e->index > 0 && e->pcr == INITRD_PCR && e->type == EV_EVENT_TAG && e->data_size >= 8 &&
               le32(e->data) == LINUX_INITRD_EVENT_TAG_ID;
}

/* The new digests, per algorithm of the log (zero for those we cannot compute: not replayed). */
struct digests {
        size_t n;
        uint16_t alg[EVENTLOG_MAX_ALGS];
        uint8_t value[EVENTLOG_MAX_ALGS][EVP_MAX_MD_SIZE];
};

static const uint8_t *digests_get(const struct digests *d, uint16_t alg) {
        for (size_t i = 0; i < d->n; i++)
                if (d->alg[i] == alg)
                        return d->value[i];
        return NULL;
}

/* ---- pass 1: what the log has ---- */

struct scan {
        struct eventlog_format format;
        bool have_sha256;
        bool have_kernel;
        uint8_t kernel_sha256[32];      /* of the last EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4 */
        size_t n_initrd;
        size_t out_size;                /* the rewritten log's size, without an appended event */
};

static int scan_event(const struct eventlog_format *f, const struct eventlog_event *e, void *userdata) {
        struct scan *s = userdata;
        const uint8_t *d;

        s->format = *f;
        s->out_size += e->size;
        if (e->index == 0)
                return 0;
        d = event_sha256(e);
        s->have_sha256 = d != NULL;
        if (is_kernel_candidate(e) && d) {
                s->have_kernel = true;
                memcpy(s->kernel_sha256, d, 32);
        }
        if (is_initrd_event(e))
                s->n_initrd++;
        return 0;
}

/* ---- pass 2: the rewritten log ---- */

struct rewrite {
        const uint8_t *log;
        const struct scan *scan;
        const struct digests *kernel;   /* NULL: keep */
        const struct digests *initrd;   /* NULL: keep */
        bool drop_initrd;
        uint8_t *out;
        size_t out_size;
        uint32_t extended;              /* PCRs the rewritten log extends */
        size_t n_kernel, n_initrd;
};

static int rewrite_event(const struct eventlog_format *f, const struct eventlog_event *e, void *userdata) {
        struct rewrite *w = userdata;
        const struct digests *with = NULL;
        uint8_t *copy;

        (void) f;
        if (e->index > 0 && is_initrd_event(e) && w->drop_initrd) {
                w->n_initrd++;
                return 0;
        }
        if (w->kernel && is_kernel_candidate(e) && event_sha256(e) &&
            memcmp(event_sha256(e), w->scan->kernel_sha256, 32) == 0) {
                with = w->kernel;
                w->n_kernel++;
        } else if (w->initrd && is_initrd_event(e)) {
                with = w->initrd;
                w->n_initrd++;
        }

        copy = w->out + w->out_size;
        memcpy(copy, w->log + e->offset, e->size);
        w->out_size += e->size;
        if (e->index > 0 && e->type != EV_NO_ACTION)
                w->extended |= UINT32_C(1) << e->pcr;

        for (size_t i = 0; with && i < e->n_digests; i++) {
                const uint8_t *v = digests_get(with, e->digests[i].alg);

                if (v)
                        memcpy(copy + (e->digests[i].digest - (w->log + e->offset)), v, e->digests[i].size);
        }
        if (with)
                log_debug("pcr predict: replacing the digests of event %zu (PCR %u, type 0x%08x)", e->index,
                          (unsigned) e->pcr, (unsigned) e->type);
        return 0;
}

/* A TCG_PCR_EVENT2 of the stub's initrd measurement, with a digest of each algorithm the log's events
 * carry, in the Spec ID event's order.  Returns its size (and writes it when out is not NULL). */
static size_t initrd_event(const struct eventlog_format *f, const struct digests *d, uint8_t *out) {
        size_t n = 12, data_size = 8 + sizeof(initrd_event_data);
        uint32_t count = 0;

        for (size_t k = 0; k < f->n_algs; k++) {
                const uint8_t *v;

                if (!(f->present & (UINT32_C(1) << k)))
                        continue;
                if (out) {
                        v = digests_get(d, f->algs[k].alg);
                        put_le16(out + n, f->algs[k].alg);
                        if (v)
                                memcpy(out + n + 2, v, f->algs[k].size);
                        else
                                memset(out + n + 2, 0, f->algs[k].size);
                }
                n += 2 + f->algs[k].size;
                count++;
        }
        if (out) {
                put_le32(out, INITRD_PCR);
                put_le32(out + 4, EV_EVENT_TAG);
                put_le32(out + 8, count);
                put_le32(out + n, (uint32_t) data_size);
                put_le32(out + n + 4, LINUX_INITRD_EVENT_TAG_ID);
                put_le32(out + n + 8, (uint32_t) sizeof(initrd_event_data));
                memcpy(out + n + 12, initrd_event_data, sizeof(initrd_event_data));
        }
        return n + 4 + data_size;
}

/* The digests of data (Authenticode when pe) in every algorithm of the log's events we know. */
static int compute_digests(const struct eventlog_format *f, const uint8_t *data, size_t size, bool pe,
                           struct digests *ret) {
        struct digests d = {};
        int r;

        for (size_t k = 0; k < f->n_algs; k++) {
                const EVP_MD *md = eventlog_alg_md(f->algs[k].alg);
                unsigned n = 0;

                if (!(f->present & (UINT32_C(1) << k)) || !md)
                        continue;
                if (pe) {
                        r = authenticode_digest(data, size, md, d.value[d.n], &n);
                        if (r < 0)
                                return r;
                } else if (EVP_Digest(data, size, d.value[d.n], &n, md, NULL) != 1)
                        return -EIO;
                if (n != f->algs[k].size)
                        return -EIO;
                d.alg[d.n++] = f->algs[k].alg;
        }
        *ret = d;
        return 0;
}

int pcr_predict(const uint8_t *log, size_t log_size, const struct pcr_predict_params *p, uint32_t pcr_mask,
                struct pcr_values *ret) {
        _cleanup_free_ struct eventlog *replayed = NULL;
        _cleanup_free_ uint8_t *out = NULL;
        struct digests kernel, initrd;
        struct scan scan = {};
        struct rewrite w = {};
        struct pcr_values v = {};
        const struct eventlog_bank *bank = NULL;
        bool append = false;
        size_t extra = 0;
        int r;

        if (!p || pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return -EINVAL;

        r = eventlog_foreach(log, log_size, scan_event, &scan);
        if (r < 0)
                return r;
        if (scan.format.crypto_agile && scan.format.present == 0) {
                /* Nothing but the Spec ID event: its algorithms are the banks (and an appended
                 * initrd event carries a digest of each). */
                scan.format.present = (UINT32_C(1) << scan.format.n_algs) - 1;
                for (size_t k = 0; k < scan.format.n_algs; k++)
                        scan.have_sha256 = scan.have_sha256 || scan.format.algs[k].alg == TPM2_ALG_SHA256;
        }
        if (!scan.format.crypto_agile || !scan.have_sha256)
                return log_debug_errno(-EBADMSG, "pcr predict: the event log has no SHA-256 digests");

        if (p->kernel) {
                if (!scan.have_kernel)
                        return log_debug_errno(-ENOMSG, "pcr predict: the event log has no "
                                               "EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4 for the kernel");
                r = compute_digests(&scan.format, p->kernel, p->kernel_size, true, &kernel);
                if (r < 0)
                        return log_debug_errno(r, "pcr predict: cannot compute the kernel's Authenticode digest");
                w.kernel = &kernel;
        }
        if (p->initrd) {
                if (p->initrd_size == 0)
                        w.drop_initrd = true;
                else {
                        r = compute_digests(&scan.format, p->initrd, p->initrd_size, false, &initrd);
                        if (r < 0)
                                return r;
                        w.initrd = &initrd;
                        append = scan.n_initrd == 0;
                        if (append)
                                extra = initrd_event(&scan.format, &initrd, NULL);
                }
        }

        out = malloc(scan.out_size + extra);
        replayed = malloc(sizeof(*replayed));
        if (!out || !replayed)
                return -ENOMEM;
        w.log = log;
        w.scan = &scan;
        w.out = out;
        r = eventlog_foreach(log, log_size, rewrite_event, &w);
        if (r < 0)
                return r;
        if (append) {
                w.out_size += initrd_event(&scan.format, &initrd, out + w.out_size);
                w.extended |= UINT32_C(1) << INITRD_PCR;
                log_debug("pcr predict: the log has no initrd measurement, appending one to PCR 9");
        }
        log_debug("pcr predict: %zu kernel event(s), %zu initrd event(s) replaced%s", w.n_kernel, w.n_initrd,
                  w.drop_initrd ? " (dropped: empty initrd)" : "");

        r = eventlog_replay(out, w.out_size, replayed);
        if (r < 0)
                return r;
        for (size_t i = 0; i < replayed->n_banks; i++)
                if (replayed->banks[i].alg == TPM2_ALG_SHA256)
                        bank = &replayed->banks[i];
        if (!bank)
                return log_debug_errno(-EBADMSG, "pcr predict: the event log has no SHA-256 bank");

        v.mask = pcr_mask != 0 ? pcr_mask : w.extended;
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++) {
                if (!(v.mask & (UINT32_C(1) << i)))
                        continue;
                if (!(w.extended & (UINT32_C(1) << i)) && i >= 17 && i <= 22)
                        memset(v.sha256[i], 0xff, 32);  /* reset value of the dynamic-launch PCRs */
                else
                        memcpy(v.sha256[i], bank->pcrs[i], 32);
        }
        *ret = v;
        return 0;
}

_public_ int cvmseal_pcr_predict(const void *event_log, size_t event_log_size, const void *kernel, size_t kernel_size,
                                 const void *initrd, size_t initrd_size, uint32_t pcr_mask, json_object **ret_values) {
        struct pcr_predict_params p = {
                .kernel = kernel,
                .kernel_size = kernel_size,
                .initrd = initrd,
                .initrd_size = initrd_size,
        };
        struct pcr_values v;
        int r;

        if (!event_log || !ret_values)
                return -EINVAL;
        r = pcr_predict(event_log, event_log_size, &p, pcr_mask, &v);
        if (r < 0)
                return r;
        return pcr_values_to_json(&v, ret_values);
}
