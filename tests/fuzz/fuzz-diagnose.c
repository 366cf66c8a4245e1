/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cvmseal diagnose`'s reading of an event log (src/lib/ops/diagnose-pcr.c): diag_log_parse() (every event
 * described from its data: UEFI variables, device paths, tagged events, strings) and
 * diag_pcr_explain() for every PCR, once with the log's own value as the current one (the what-ifs:
 * prefixes, single events left out, candidates in place of the kernel and the initrd) and once with
 * another (the log does not explain the PCR).
 *
 * Invariant: every text of the explanation - messages, event descriptions - is printable ASCII: it goes
 * to a console at boot.  Fix-up as fuzz-eventlog: an input that does not parse is parsed again behind
 * a Spec ID event with a SHA-256 bank.
 */
#include <openssl/evp.h>

#include "diagnose.h"
#include "fuzz.h"

static const uint8_t spec_id[] = {
        0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0, 0, 0,
        'S', 'p', 'e', 'c', ' ', 'I', 'D', ' ', 'E', 'v', 'e', 'n', 't', '0', '3', 0,
        0, 0, 0, 0, 0, 2, 0, 2, 1, 0, 0, 0, 0x0b, 0, 32, 0, 0,
};

static struct diag_candidates candidates;

static int get_candidates(void *userdata, const struct diag_candidates **ret) {
        (void) userdata;
        *ret = &candidates;
        return 0;
}

static void check_printable(json_object *o) {
        json_object_iter it;

        if (json_object_is_type(o, json_type_string)) {
                for (const char *p = json_object_get_string(o); *p; p++)
                        if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
                                abort();
        } else if (json_object_is_type(o, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        check_printable(json_object_array_get_idx(o, i));
        } else if (json_object_is_type(o, json_type_object)) {
                json_object_object_foreachC(o, it)
                        check_printable(it.val);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct diag_log log = {};
        uint8_t *buf = NULL;

        fuzz_setup_log();
        if (size > 1024 * 1024)
                return 0;
        if (candidates.n == 0) {
                /* Two candidates that no real file gives, reachable from a static, never freed. */
                static struct diag_candidate c[2] = { { .path = (char *) "/boot/vmlinuz-x", .kernel = true },
                                                      { .path = (char *) "/boot/initrd.img-x", .kernel = false } };

                memset(c[0].sha256, 0x11, 32);
                memset(c[1].sha256, 0x22, 32);
                candidates.c = c;
                candidates.n = 2;
        }

        if (diag_log_parse(data, size, &log) < 0) {
                buf = malloc(sizeof(spec_id) + size);
                if (!buf)
                        return 0;
                memcpy(buf, spec_id, sizeof(spec_id));
                memcpy(buf + sizeof(spec_id), data, size);
                if (diag_log_parse(buf, sizeof(spec_id) + size, &log) < 0)
                        goto done;
        }
        for (unsigned pcr = 0; pcr < CVMSEAL_PCR_MAX; pcr++) {
                uint8_t enrolled[32], other[32];
                unsigned n = 0;

                (void) EVP_Digest(data, size, enrolled, &n, EVP_sha256(), NULL);
                enrolled[0] ^= (uint8_t) pcr;
                memset(other, 0xee, sizeof(other));
                for (int k = 0; k < 2; k++) {
                        json_object *o = NULL;

                        if (diag_pcr_explain(&log, pcr, enrolled, k == 0 ? log.replayed[pcr] : other, get_candidates,
                                             NULL, &o) == 0) {
                                check_printable(o);
                                json_object_put(o);
                        }
                }
        }
        diag_log_done(&log);
done:
        free(buf);
        ERR_clear_error();
        return 0;
}
