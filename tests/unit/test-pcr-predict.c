/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCR prediction (src/lib/image/pcr-predict.h): from a TCG event log made here (SHA-1 and SHA-256
 * banks), the predicted SHA-256 PCRs equal an independent replay with OpenSSL of the same events
 * with the kernel's digests (every PCR 4 boot-services application with the digest of the last one)
 * replaced by the new kernel's Authenticode digest (synthetic-pe.h computes it from its layout) and
 * the Linux initrd tagged event's by SHA-256 of the new initrd - appended when the log has none,
 * dropped for an empty initrd; nothing else changes.  The PCR mask, reset values (all ones for
 * 17-22), StartupLocality, and refusals: no kernel event (-ENOMSG), malformed or SHA-1-only logs
 * and a malformed kernel (-EBADMSG), bad arguments (-EINVAL).  On the real logs of
 * ../shared/testdata/eventlog: unchanged, the prediction is tpm2_eventlog's replay; an initrd is
 * appended to PCR 9 and a kernel changes PCR 4 alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "cvmseal.h"
#include "macro.h"
#include "pcr-predict.h"
#include "synthetic-pe.h"
#include "testdata.h"

#define ALG_SHA1 0x0004
#define ALG_SHA256 0x000b
#define EV_POST_CODE 0x1
#define EV_SEPARATOR 0x4
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001
#define EV_EFI_BSA 0x80000003
#define EV_EFI_ACTION 0x80000007
#define EV_IPL 0xd

/* ---- a log made here, and its replay by the test ---- */

struct log {
        uint8_t b[16384];
        size_t n;
        bool sha1_only;
        uint8_t pcrs[24][32];           /* the test's own SHA-256 replay */
        uint32_t extended;
};

static void put(struct log *l, const void *p, size_t n) {
        assert_true(l->n + n <= sizeof(l->b));
        memcpy(l->b + l->n, p, n);
        l->n += n;
}

static void put32(struct log *l, uint32_t v) {
        uint8_t b[4];

        spe_le32(b, v);
        put(l, b, 4);
}

static void put16(struct log *l, uint16_t v) {
        uint8_t b[2];

        spe_le16(b, v);
        put(l, b, 2);
}

static void hash(const EVP_MD *md, const void *p, size_t n, uint8_t *ret) {
        unsigned k = 0;

        assert_int_equal(EVP_Digest(p, n, ret, &k, md, NULL), 1);
}

/* The Spec ID event: SHA-1 and SHA-256 (or SHA-1 alone). */
static void log_start(struct log *l, bool sha1_only) {
        uint8_t zero[20] = {};
        size_t n_algs = sha1_only ? 1 : 2;

        memset(l, 0, sizeof(*l));
        l->sha1_only = sha1_only;
        put32(l, 0);
        put32(l, 0x3);          /* EV_NO_ACTION */
        put(l, zero, 20);
        put32(l, (uint32_t) (16 + 4 + 4 + 4 + 4 * n_algs + 1));
        put(l, "Spec ID Event03", 16);
        put32(l, 0);            /* platformClass */
        put(l, "\0\2\0\2", 4);  /* 2.0 errata 0, uintnSize 2 */
        put32(l, (uint32_t) n_algs);
        put16(l, ALG_SHA1);
        put16(l, 20);
        if (!sha1_only) {
                put16(l, ALG_SHA256);
                put16(l, 32);
        }
        put(l, "", 1);          /* vendorInfoSize 0 */
}

/* A TCG_PCR_EVENT2 with these digests (sha256 unused in a SHA-1-only log). */
static void log_event_digests(struct log *l, uint32_t pcr, uint32_t type, const uint8_t sha1[20],
                              const uint8_t sha256[32], const void *data, size_t data_size) {
        put32(l, pcr);
        put32(l, type);
        put32(l, l->sha1_only ? 1 : 2);
        put16(l, ALG_SHA1);
        put(l, sha1, 20);
        if (!l->sha1_only) {
                put16(l, ALG_SHA256);
                put(l, sha256, 32);
        }
        put32(l, (uint32_t) data_size);
        put(l, data, data_size);
        if (type != 0x3 && !l->sha1_only) {
                uint8_t cat[64];

                memcpy(cat, l->pcrs[pcr], 32);
                memcpy(cat + 32, sha256, 32);
                hash(EVP_sha256(), cat, 64, l->pcrs[pcr]);
                l->extended |= UINT32_C(1) << pcr;
        }
}

/* An event whose digests are those of its data. */
static void log_event(struct log *l, uint32_t pcr, uint32_t type, const void *data, size_t data_size) {
        uint8_t d1[20], d256[32];

        hash(EVP_sha1(), data, data_size, d1);
        hash(EVP_sha256(), data, data_size, d256);
        log_event_digests(l, pcr, type, d1, d256, data, data_size);
}

/* A measured application (data: a device path, here any bytes) whose digests are those of name:
 * the "Authenticode digest" of the image the log's boot loaded. */
static void log_application(struct log *l, uint32_t pcr, const char *name) {
        uint8_t d1[20], d256[32];

        hash(EVP_sha1(), name, strlen(name), d1);
        hash(EVP_sha256(), name, strlen(name), d256);
        log_event_digests(l, pcr, EV_EFI_BSA, d1, d256, "devpath", 7);
}

/* The EFI stub's tagged initrd event (or another tag), with the digests of initrd. */
static void log_tagged(struct log *l, uint32_t tag, const void *initrd, size_t initrd_size) {
        uint8_t data[8 + 13], d1[20], d256[32];

        spe_le32(data, tag);
        spe_le32(data + 4, 13);
        memcpy(data + 8, "Linux initrd", 13);
        hash(EVP_sha1(), initrd, initrd_size, d1);
        hash(EVP_sha256(), initrd, initrd_size, d256);
        log_event_digests(l, 9, 0x6 /* EV_EVENT_TAG */, d1, d256, data, sizeof(data));
}

/* The test's replay with one more measurement into pcr: PCR = SHA-256(PCR || digest). */
static void extend(uint8_t pcr[32], const uint8_t digest[32]) {
        uint8_t cat[64];

        memcpy(cat, pcr, 32);
        memcpy(cat + 32, digest, 32);
        hash(EVP_sha256(), cat, 64, pcr);
}

static void extend_data(uint8_t pcr[32], const void *data, size_t size) {
        uint8_t d[32];

        hash(EVP_sha256(), data, size, d);
        extend(pcr, d);
}

static void extend_name(uint8_t pcr[32], const char *name) {
        extend_data(pcr, name, strlen(name));
}

static const char separator[4] = {};
static const uint8_t old_initrd[] = "the initrd the log's boot measured";
static const uint8_t new_initrd[] = "a new initrd, of other bytes";

/* A boot through shim and GRUB: shim, GRUB, and the kernel twice in PCR 4, the kernel's name in a
 * PCR 5 application too (not the kernel's: another PCR), GRUB's EV_IPL of a file and the stub's
 * initrd and load-options tagged events in PCR 9, separators in 0-7. */
static void make_boot_log(struct log *l) {
        log_start(l, false);
        log_event(l, 0, EV_POST_CODE, "POST CODE", 9);
        log_event(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot=1", 12);
        for (uint32_t i = 0; i < 8; i++)
                log_event(l, i, EV_SEPARATOR, separator, 4);
        log_event(l, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option", 40);
        log_application(l, 4, "shimx64.efi");
        log_application(l, 4, "grubx64.efi");
        log_application(l, 5, "old kernel");
        log_event(l, 9, EV_IPL, "(hd0,gpt1)/grub/grub.cfg", 24);
        log_application(l, 4, "old kernel");
        log_application(l, 4, "old kernel");
        log_tagged(l, LINUX_LOAD_OPTIONS_EVENT_TAG_ID, "root=/dev/vda2", 14);
        log_tagged(l, LINUX_INITRD_EVENT_TAG_ID, old_initrd, sizeof(old_initrd));
        log_event(l, 14, EV_IPL, "MokList", 7);
}

/* What make_boot_log()'s PCRs become with kernel (digest kernel256, or NULL: the old one) and the
 * initrd (NULL: the old one; size 0: none). */
static void expected_boot(uint8_t pcrs[24][32], const uint8_t *kernel256, const uint8_t *initrd, size_t initrd_size) {
        memset(pcrs, 0, 24 * 32);
        extend_data(pcrs[0], "POST CODE", 9);
        extend_data(pcrs[7], "SecureBoot=1", 12);
        for (uint32_t i = 0; i < 8; i++)
                extend_data(pcrs[i], separator, 4);
        extend_data(pcrs[4], "Calling EFI Application from Boot Option", 40);
        extend_name(pcrs[4], "shimx64.efi");
        extend_name(pcrs[4], "grubx64.efi");
        extend_name(pcrs[5], "old kernel");
        extend_data(pcrs[9], "(hd0,gpt1)/grub/grub.cfg", 24);
        for (int twice = 0; twice < 2; twice++)
                if (kernel256)
                        extend(pcrs[4], kernel256);
                else
                        extend_name(pcrs[4], "old kernel");
        extend_data(pcrs[9], "root=/dev/vda2", 14);
        if (!initrd)
                extend_data(pcrs[9], old_initrd, sizeof(old_initrd));
        else if (initrd_size > 0)
                extend_data(pcrs[9], initrd, initrd_size);
        extend_data(pcrs[14], "MokList", 7);
}

static struct log *new_log(void) {
        struct log *l = calloc(1, sizeof(*l));

        assert_non_null(l);
        return l;
}

static void assert_pcrs(const struct pcr_values *v, uint8_t want[24][32], uint32_t mask) {
        assert_int_equal(v->mask, mask);
        for (unsigned i = 0; i < 24; i++) {
                if (!(mask & (UINT32_C(1) << i)))
                        continue;
                if (memcmp(v->sha256[i], want[i], 32) != 0)
                        fail_msg("PCR %u differs from the test's replay", i);
        }
}

#define BOOT_MASK (0xffU | (1U << 9) | (1U << 14))

static void test_unchanged(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct pcr_predict_params p = {};
        uint8_t want[24][32];
        struct pcr_values v;

        make_boot_log(l);
        assert_int_equal(l->extended, BOOT_MASK);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        assert_pcrs(&v, l->pcrs, BOOT_MASK);
        expected_boot(want, NULL, NULL, 0);
        assert_pcrs(&v, want, BOOT_MASK);
}

static void test_kernel(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct spe_params sp = { .pe32plus = true, .n_dirs = 16, .n_sections = 2,
                                 .section_size = { 0x200, 0x400 }, .order = { 0, 1 }, .tail_size = 7,
                                 .cert_size = 0x100, .seed = 7 };
        struct pcr_predict_params p = {};
        uint8_t want[24][32], kernel256[32];
        struct pcr_values v;
        struct spe k;

        make_boot_log(l);
        spe_build(&sp, &k);
        spe_digest(&sp, &k, k.image, EVP_sha256(), kernel256);
        p.kernel = k.image;
        p.kernel_size = k.size;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        expected_boot(want, kernel256, NULL, 0);
        assert_pcrs(&v, want, BOOT_MASK);
        /* PCR 4 moved, PCR 5's application with the old kernel's digest did not. */
        assert_memory_not_equal(v.sha256[4], l->pcrs[4], 32);
        assert_memory_equal(v.sha256[5], l->pcrs[5], 32);

        /* With the new initrd too. */
        p.initrd = new_initrd;
        p.initrd_size = sizeof(new_initrd);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        expected_boot(want, kernel256, new_initrd, sizeof(new_initrd));
        assert_pcrs(&v, want, BOOT_MASK);

        /* A kernel that is not a PE image. */
        p.kernel_size = 0x3f;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -EBADMSG);
        k.image[0] = 'X';
        p.kernel_size = k.size;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -EBADMSG);
        spe_done(&k);
}

/* The kernel is the last application in PCR 4, even when loaded once; earlier applications with
 * other digests stay. */
static void test_kernel_once(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct spe_params sp = { .pe32plus = false, .n_dirs = 4, .n_sections = 1, .section_size = { 0x200 },
                                 .seed = 3 };
        struct pcr_predict_params p = {};
        uint8_t want[32] = {}, kernel256[32];
        struct pcr_values v;
        struct spe k;

        log_start(l, false);
        log_application(l, 4, "old kernel");    /* the same digest as the last: replaced too */
        log_application(l, 4, "bootloader");
        log_application(l, 4, "old kernel");
        spe_build(&sp, &k);
        spe_digest(&sp, &k, k.image, EVP_sha256(), kernel256);
        p.kernel = k.image;
        p.kernel_size = k.size;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 1U << 4, &v), 0);
        extend(want, kernel256);
        extend_name(want, "bootloader");
        extend(want, kernel256);
        assert_int_equal(v.mask, 1U << 4);
        assert_memory_equal(v.sha256[4], want, 32);
        spe_done(&k);
}

static void test_initrd(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct pcr_predict_params p = { .initrd = new_initrd, .initrd_size = sizeof(new_initrd) };
        uint8_t want[24][32];
        struct pcr_values v;

        make_boot_log(l);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        expected_boot(want, NULL, new_initrd, sizeof(new_initrd));
        assert_pcrs(&v, want, BOOT_MASK);
        assert_memory_not_equal(v.sha256[9], l->pcrs[9], 32);

        /* An empty initrd is not measured: its event goes, GRUB's and the load options' stay. */
        p.initrd_size = 0;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        expected_boot(want, NULL, new_initrd, 0);
        assert_pcrs(&v, want, BOOT_MASK);
}

/* A log without the stub's initrd event gets one, after every other event. */
static void test_initrd_appended(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct pcr_predict_params p = { .initrd = new_initrd, .initrd_size = sizeof(new_initrd) };
        uint8_t want[32] = {};
        struct pcr_values v;

        log_start(l, false);
        log_event(l, 9, EV_IPL, "grub.cfg", 8);
        log_event(l, 4, EV_SEPARATOR, separator, 4);
        log_event(l, 9, EV_IPL, "vmlinuz", 7);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        assert_int_equal(v.mask, (1U << 4) | (1U << 9));
        extend_data(want, "grub.cfg", 8);
        extend_data(want, "vmlinuz", 7);
        extend_data(want, new_initrd, sizeof(new_initrd));
        assert_memory_equal(v.sha256[9], want, 32);
        assert_memory_equal(v.sha256[4], l->pcrs[4], 32);

        /* The empty initrd of a log without one: nothing to drop, nothing appended. */
        p.initrd_size = 0;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        assert_memory_equal(v.sha256[9], l->pcrs[9], 32);

        /* A log of nothing but the Spec ID event: PCR 9 gets the initrd alone. */
        log_start(l, false);
        p.initrd_size = sizeof(new_initrd);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        assert_int_equal(v.mask, 1U << 9);
        memset(want, 0, sizeof(want));
        extend_data(want, new_initrd, sizeof(new_initrd));
        assert_memory_equal(v.sha256[9], want, 32);
}

/* The mask chooses the PCRs; those the log does not extend have their reset values. */
static void test_mask(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct pcr_predict_params p = {};
        uint8_t zero[32] = {}, ones[32];
        struct pcr_values v;
        uint32_t mask = (1U << 7) | (1U << 10) | (1U << 16) | (1U << 17) | (1U << 22) | (1U << 23);

        memset(ones, 0xff, sizeof(ones));
        make_boot_log(l);
        assert_int_equal(pcr_predict(l->b, l->n, &p, mask, &v), 0);
        assert_int_equal(v.mask, mask);
        assert_memory_equal(v.sha256[7], l->pcrs[7], 32);
        assert_memory_equal(v.sha256[10], zero, 32);
        assert_memory_equal(v.sha256[16], zero, 32);
        assert_memory_equal(v.sha256[17], ones, 32);
        assert_memory_equal(v.sha256[22], ones, 32);
        assert_memory_equal(v.sha256[23], zero, 32);

        /* A log that extends PCR 17 gives its value, not the reset one. */
        log_start(l, false);
        log_event(l, 17, EV_IPL, "drtm", 4);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 1U << 17, &v), 0);
        assert_memory_equal(v.sha256[17], l->pcrs[17], 32);
        assert_memory_not_equal(v.sha256[17], ones, 32);

        assert_int_equal(pcr_predict(l->b, l->n, &p, 1U << 24, &v), -EINVAL);
        assert_int_equal(pcr_predict(l->b, l->n, &p, UINT32_MAX, &v), -EINVAL);
        assert_int_equal(pcr_predict(l->b, l->n, NULL, 0, &v), -EINVAL);
}

/* StartupLocality 3 makes PCR 0 start as 00..03: kept through the rewrite. */
static void test_startup_locality(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct pcr_predict_params p = { .initrd = new_initrd, .initrd_size = sizeof(new_initrd) };
        uint8_t data[17] = "StartupLocality", zero20[20] = {}, zero32[32] = {}, want[32] = {};
        struct pcr_values v;

        data[16] = 3;
        log_start(l, false);
        log_event_digests(l, 0, 0x3, zero20, zero32, data, sizeof(data));
        log_event(l, 0, EV_POST_CODE, "POST CODE", 9);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 1U << 0, &v), 0);
        want[31] = 3;
        extend_data(want, "POST CODE", 9);
        assert_memory_equal(v.sha256[0], want, 32);

        /* An EV_NO_ACTION event extends nothing: with mask 0 its PCR is not predicted. */
        log_start(l, false);
        log_event_digests(l, 5, 0x3, zero20, zero32, "vendor", 6);
        log_event(l, 4, EV_SEPARATOR, separator, 4);
        p.initrd = NULL;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        assert_int_equal(v.mask, 1U << 4);
}

static void test_refusals(void **state) {
        _cleanup_free_ struct log *l = new_log();
        struct spe_params sp = { .pe32plus = true, .n_dirs = 16, .seed = 9 };
        struct pcr_predict_params p = {};
        struct pcr_values v, untouched;
        struct spe k;

        spe_build(&sp, &k);
        memset(&v, 0x5a, sizeof(v));
        untouched = v;

        /* A kernel and a log without a boot-services application in PCR 4 (one in PCR 5 does not
         * count). */
        log_start(l, false);
        log_application(l, 5, "old kernel");
        log_event(l, 4, EV_SEPARATOR, separator, 4);
        p.kernel = k.image;
        p.kernel_size = k.size;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -ENOMSG);
        /* Without the kernel the same log is fine. */
        p.kernel = NULL;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), 0);
        v = untouched;

        /* A log cut anywhere but between two events. */
        make_boot_log(l);
        for (size_t n = 0; n < l->n; n++) {
                uint8_t *copy = malloc(n ? n : 1);
                int r;

                assert_non_null(copy);
                memcpy(copy, l->b, n);
                r = pcr_predict(copy, n, &p, 0, &v);
                free(copy);
                if (r == 0)
                        continue;       /* cut between events: a shorter, well-formed log */
                if (r != -EBADMSG)
                        fail_msg("a log cut to %zu bytes: got %d", n, r);
        }
        v = untouched;
        assert_int_equal(pcr_predict(l->b, l->n - 1, &p, 0, &v), -EBADMSG);
        assert_int_equal(pcr_predict(NULL, 0, &p, 0, &v), -EBADMSG);
        assert_memory_equal(&v, &untouched, sizeof(v));

        /* Trailing garbage. */
        l->b[l->n++] = 0x01;
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -EBADMSG);

        /* A log with a SHA-1 bank only: no SHA-256 to predict. */
        log_start(l, true);
        log_event(l, 4, EV_SEPARATOR, separator, 4);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -EBADMSG);
        log_start(l, true);
        p.initrd = new_initrd;
        p.initrd_size = sizeof(new_initrd);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -EBADMSG);
        p.initrd = NULL;

        /* An old SHA-1 log (no Spec ID event). */
        l->n = 0;
        put32(l, 0);
        put32(l, EV_POST_CODE);
        put(l, "01234567890123456789", 20);
        put32(l, 0);
        assert_int_equal(pcr_predict(l->b, l->n, &p, 0, &v), -EBADMSG);
        assert_memory_equal(&v, &untouched, sizeof(v));
        spe_done(&k);
}

/* The public call: JSON of the values. */
static void test_public(void **state) {
        _cleanup_free_ struct log *l = new_log();
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_free_ char *hex = NULL;
        json_object *bank, *pcr4;

        make_boot_log(l);
        assert_int_equal(cvmseal_pcr_predict(NULL, 0, NULL, 0, NULL, 0, 0, &j), -EINVAL);
        assert_int_equal(cvmseal_pcr_predict(l->b, l->n, NULL, 0, NULL, 0, 0, NULL), -EINVAL);
        assert_int_equal(cvmseal_pcr_predict(l->b, l->n, NULL, 0, new_initrd, sizeof(new_initrd), 1U << 4, &j), 0);
        assert_true(json_object_object_get_ex(j, "sha256", &bank));
        assert_int_equal(json_object_object_length(bank), 1);
        assert_true(json_object_object_get_ex(bank, "4", &pcr4));
        hex = malloc(65);
        assert_non_null(hex);
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", l->pcrs[4][i]);
        assert_string_equal(json_object_get_string(pcr4), hex);
}

/* ---- the real logs of ../shared/testdata/eventlog, against tpm2_eventlog's replay ---- */

static bool have_testdata;

/* The sha256 bank of the "pcrs:" section of tpm2_eventlog's YAML; *ret_listed: the PCRs it lists. */
static void read_expected_sha256(const char *log, uint8_t pcrs[24][32], uint32_t *ret_listed) {
        _cleanup_free_ char *text = NULL;
        char path[256], *line, *save = NULL, bank[16] = "";
        bool in_pcrs = false;
        uint32_t listed = 0;
        size_t n;

        memset(pcrs, 0, 24 * 32);
        snprintf(path, sizeof(path), "eventlog/expected/%s.yaml", log);
        text = (char *) testdata_read(path, &n);
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned pcr;
                int off = 0;

                if (strcmp(line, "pcrs:") == 0) {
                        in_pcrs = true;
                        continue;
                }
                if (!in_pcrs)
                        continue;
                if (line[0] == ' ' && line[1] == ' ' && line[2] != ' ') {
                        assert_int_equal(sscanf(line, "  %15[a-z0-9]:", bank), 1);
                        continue;
                }
                if (sscanf(line, "    %u : 0x%n", &pcr, &off) == 1 && off > 0 && strcmp(bank, "sha256") == 0) {
                        assert_true(pcr < 24);
                        assert_int_equal(strlen(line + off), 64);
                        for (size_t i = 0; i < 32; i++) {
                                unsigned v;

                                assert_int_equal(sscanf(line + off + 2 * i, "%2x", &v), 1);
                                pcrs[pcr][i] = (uint8_t) v;
                        }
                        listed |= UINT32_C(1) << pcr;
                }
        }
        assert_true(in_pcrs);
        *ret_listed = listed;
}

static void test_testdata_logs(void **state) {
        static const char *const logs[] = {
                "event-arch-linux.bin", "event-bootorder.bin", "event-moklisttrusted.bin", "event-postcode.bin",
                "event-uefiaction.bin", "event-uefiservices.bin", "event-uefivar.bin",
        };
        struct spe_params sp = { .pe32plus = true, .n_dirs = 16, .n_sections = 1, .section_size = { 0x200 },
                                 .seed = 11 };
        size_t with_kernel = 0;
        struct spe k;

        if (!have_testdata) {
                printf("SKIP test_testdata_logs: the test vectors are not there (%s): they live in "
                       "../shared/testdata\n", testdata_dir());
                skip();
        }
        spe_build(&sp, &k);
        for (size_t i = 0; i < ELEMENTSOF(logs); i++) {
                _cleanup_free_ uint8_t *log = NULL;
                struct pcr_predict_params p = {};
                uint8_t want[24][32], pcr9[32];
                struct pcr_values v;
                uint32_t listed;
                size_t size;
                char path[256];
                int r;

                snprintf(path, sizeof(path), "eventlog/%s", logs[i]);
                log = testdata_read(path, &size);
                read_expected_sha256(logs[i], want, &listed);
                assert_true(listed != 0);

                /* Unchanged: tpm2_eventlog's values, of the PCRs it lists. */
                assert_int_equal(pcr_predict(log, size, &p, 0, &v), 0);
                assert_pcrs(&v, want, listed);

                /* None of these logs has the stub's initrd event: one is appended to PCR 9. */
                p.initrd = new_initrd;
                p.initrd_size = sizeof(new_initrd);
                assert_int_equal(pcr_predict(log, size, &p, 0, &v), 0);
                memcpy(pcr9, want[9], 32);
                extend_data(want[9], new_initrd, sizeof(new_initrd));
                assert_pcrs(&v, want, listed | (1U << 9));
                memcpy(want[9], pcr9, 32);
                p.initrd = NULL;

                /* A kernel: PCR 4 changes and nothing else - or the log loaded no application. */
                p.kernel = k.image;
                p.kernel_size = k.size;
                r = pcr_predict(log, size, &p, 0, &v);
                if (r == -ENOMSG)
                        continue;
                assert_int_equal(r, 0);
                assert_int_equal(v.mask, listed);
                assert_true(listed & (1U << 4));
                assert_memory_not_equal(v.sha256[4], want[4], 32);
                memcpy(want[4], v.sha256[4], 32);
                assert_pcrs(&v, want, listed);
                with_kernel++;
        }
        print_message("%zu logs, %zu with a kernel replaced\n", ELEMENTSOF(logs), with_kernel);
        assert_true(with_kernel > 0);

        /* The old SHA-1 log has no SHA-256 bank to predict. */
        {
                _cleanup_free_ uint8_t *log = NULL;
                struct pcr_predict_params p = {};
                struct pcr_values v;
                size_t size;

                log = testdata_read("eventlog/event-uefi-sha1-log.bin", &size);
                assert_int_equal(pcr_predict(log, size, &p, 0, &v), -EBADMSG);
        }
        spe_done(&k);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unchanged),
                cmocka_unit_test(test_kernel),
                cmocka_unit_test(test_kernel_once),
                cmocka_unit_test(test_initrd),
                cmocka_unit_test(test_initrd_appended),
                cmocka_unit_test(test_mask),
                cmocka_unit_test(test_startup_locality),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_public),
                cmocka_unit_test(test_testdata_logs),
        };
        char path[4096];
        FILE *f;
        int r;

        snprintf(path, sizeof(path), "%s/SHA256SUMS", testdata_dir());
        f = fopen(path, "re");
        have_testdata = f != NULL;
        if (f)
                fclose(f);

        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (r == 0 && !have_testdata) {
                printf("SKIP: the test vectors are not there (%s): they live in ../shared/testdata; the "
                       "synthetic cases passed\n", path);
                return 77;
        }
        return r;
}
