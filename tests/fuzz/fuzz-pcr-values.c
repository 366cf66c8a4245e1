/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pcr-values document (offline sealing, reseal, policy sign, pcr predict): pcr_values_parse(),
 * and for a document that parses, pcr_values_to_json() and a second parse of what it wrote, which
 * must give the same values.  No fix-ups: the input is the document's text (not NUL-terminated).
 */
#include "fuzz.h"
#include "macro.h"
#include "pcr-values.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        struct pcr_values v, w;
        const char *s;

        fuzz_setup_log();
        if (size > 256 * 1024)
                return 0;
        if (pcr_values_parse((const char *) data, size, &v) < 0)
                return 0;
        if (pcr_values_to_json(&v, &j) < 0)
                return 0;
        s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
        if (!s)
                return 0;
        FUZZ_ASSERT(pcr_values_parse(s, strlen(s), &w) == 0);
        FUZZ_ASSERT(w.mask == v.mask);
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if (v.mask & (UINT32_C(1) << i))
                        FUZZ_ASSERT(memcmp(w.sha256[i], v.sha256[i], 32) == 0);
        return 0;
}
