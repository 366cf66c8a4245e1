/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Offline sealing, the library side: exporting this TPM's SRK for a pipeline (`srk export`), checking
 * a target SRK and a pcr-values document, and the sealing step of an offline enrollment.  The
 * cryptography is in tpm2-duplicate.c; cvmseal_enroll() (ops/enroll.c) does everything else, as online.
 */
#include <errno.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "encoding.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "offline.h"
#include "pcr-values.h"
#include "secret.h"
#include "tpm2-duplicate.h"


/* {"srk-handle": "0x81000001", "name": "<hex>", "type": "ecc"|"rsa", ["public": "<base64>"]} */
static int srk_info(const TPM2B_PUBLIC *pub, const TPM2B_NAME *name, const uint8_t *buf, size_t size,
                    json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        const TPMT_PUBLIC *a = &pub->publicArea;
        char handle[16], detail[32];
        int r;

        if (!o)
                return -ENOMEM;
        snprintf(handle, sizeof(handle), "0x%08x", (unsigned) CVMSEAL_SRK_HANDLE);
        if (a->type == TPM2_ALG_RSA)
                snprintf(detail, sizeof(detail), "rsa%u", (unsigned) a->parameters.rsaDetail.keyBits);
        else
                snprintf(detail, sizeof(detail), "%s",
                         a->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256   ? "nistp256"
                         : a->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? "nistp384"
                                                                                 : "nistp521");

        r = json_add(o, "srk-handle", json_object_new_string(handle));
        if (r >= 0)
                r = json_add_blob(o, "name", true, name->name, name->size);
        if (r >= 0)
                r = json_add(o, "type", json_object_new_string(a->type == TPM2_ALG_RSA ? "rsa" : "ecc"));
        if (r >= 0)
                r = json_add(o, "key", json_object_new_string(detail));
        if (r >= 0 && buf)
                r = json_add_blob(o, "public", false, buf, size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

_public_ int cvmseal_srk_export(const char *tcti, bool create, uint8_t **ret_public, size_t *ret_size,
                                json_object **ret_info) {
        _cleanup_(tpm2_context_freep) tpm2_context *c = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        TPM2B_PUBLIC checked;
        TPM2B_NAME name;
        size_t size = 0;
        int r;

        if (!ret_public || !ret_size)
                return -EINVAL;

        r = tpm2_context_new(tcti, &c);
        if (r < 0)
                return r;
        r = tpm2_srk_public(c, create, &buf, &size, NULL);
        if (r < 0)
                return r;

        /* What is exported must be what offline sealing accepts: check it as a reader will. */
        r = tpm2_srk_public_parse(buf, size, &checked, &name);
        if (r < 0)
                return log_debug_errno(r, "The key at 0x%08x is no SRK that offline sealing can use",
                                       (unsigned) CVMSEAL_SRK_HANDLE);
        if (ret_info) {
                r = srk_info(&checked, &name, buf, size, ret_info);
                if (r < 0)
                        return r;
        }
        log_debug("Exported the %s SRK (%zu bytes)", checked.publicArea.type == TPM2_ALG_RSA ? "RSA" : "ECC", size);
        *ret_public = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

_public_ int cvmseal_srk_public_info(const uint8_t *pub, size_t size, json_object **ret_info) {
        TPM2B_PUBLIC p;
        TPM2B_NAME name;
        int r;

        if (!pub || !ret_info)
                return -EINVAL;
        r = tpm2_srk_public_parse(pub, size, &p, &name);
        if (r < 0)
                return r;
        return srk_info(&p, &name, NULL, 0, ret_info);
}

_public_ int cvmseal_pcr_values_select(const char *text, size_t size, uint32_t mask, uint32_t *ret_mask) {
        struct pcr_values v;
        int r;

        if (!text || !ret_mask)
                return -EINVAL;
        r = pcr_values_parse(text, size, &v);
        if (r < 0)
                return r;
        if (mask == 0)
                mask = v.mask;
        if (mask == 0)
                return log_debug_errno(-EDOM, "The pcr-values document has no PCR");
        if (mask & ~v.mask)
                return log_debug_errno(-EDOM, "The pcr-values document lacks PCRs 0x%06x",
                                       (unsigned) (mask & ~v.mask));
        *ret_mask = mask;
        return 0;
}

int offline_values(const struct cvmseal_enroll_params *params, uint32_t mask, uint8_t values[CVMSEAL_PCR_MAX][32]) {
        struct pcr_values v;
        int r;

        if (!params->srk_public || !params->pcr_values)
                return -EINVAL;
        r = pcr_values_parse(params->pcr_values, strlen(params->pcr_values), &v);
        if (r < 0)
                return r;

        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++) {
                uint32_t bit = UINT32_C(1) << i;

                if (!(mask & bit))
                        continue;
                if (v.mask & bit)
                        memcpy(values[i], v.sha256[i], 32);
                else if (i == CVMSEAL_LOCK_PCR && !(params->pcr_mask & bit))
                        /* Added by enroll, not asked for: PCR 15 before the lock is its reset value. */
                        memset(values[i], 0, 32);
                else
                        return log_debug_errno(-EDOM, "The pcr-values document has no value for PCR %u", i);
        }
        return 0;
}
