/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TPM: sealing the TPM share under the SRK to a PCR policy, and unsealing it.
 *
 * The channel to the TPM may be observed or interposed (DESIGN, threat model).  So every secret
 * crosses it inside a session salted with the SRK, whose name was pinned at enrollment: the sensitive
 * data of Create travels encrypted (TPMA_SESSION_DECRYPT), the answer of Unseal comes back encrypted
 * (TPMA_SESSION_ENCRYPT), and an interposer that presents another SRK is refused before anything is
 * sent to it.  The unlock path sends six commands (seven with a PIN; one more, Import, for an object
 * sealed offline) and never CreatePrimary.
 *
 * TSS2_RC values are converted to errno here and nowhere else (tpm2_rc_to_errno()).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>

#include "log.h"
#include "macro.h"
#include "secret.h"
#include "tpm2.h"

#define TPM2_DEFAULT_TCTI "device:/dev/tpmrm0"

struct tpm2_context {
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
};

/* ---- errors ---- */

/* The base of a TPM response code, without the handle/session/parameter number of format-one codes. */
static TSS2_RC tpm_rc_base(TSS2_RC rc) {
        if (rc & TPM2_RC_FMT1)
                return rc & (TPM2_RC_FMT1 | 0x3F);
        return rc & 0xFFFF;
}

static bool rc_is_tpm(TSS2_RC rc) {
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

        return layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER;
}

bool tpm2_rc_is_retry(TSS2_RC rc) {
        TSS2_RC base = tpm_rc_base(rc);

        if (!rc_is_tpm(rc))
                return false;
        return base == TPM2_RC_RETRY || base == TPM2_RC_YIELDED || base == TPM2_RC_TESTING;
}

int tpm2_rc_to_errno(TSS2_RC rc) {
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

        if (rc == TSS2_RC_SUCCESS)
                return 0;

        if (layer == TSS2_TCTI_RC_LAYER)
                return -ENODEV; /* the connection to the TPM failed */

        if (!rc_is_tpm(rc)) {
                switch (rc & 0xFFFF) {
                case TSS2_BASE_RC_MEMORY:
                        return -ENOMEM;
                case TSS2_BASE_RC_IO_ERROR:
                case TSS2_BASE_RC_NO_CONNECTION:
                case TSS2_BASE_RC_NOT_PERMITTED:
                        return -ENODEV;
                case TSS2_BASE_RC_TRY_AGAIN:
                        return -ETIMEDOUT;
                case TSS2_BASE_RC_RSP_AUTH_FAILED:
                        /* The answer's HMAC does not verify: not the TPM that holds the session key
                         * (an interposer forged it).  No trustworthy TPM is reachable. */
                        return -ENODEV;
                case TSS2_BASE_RC_INSUFFICIENT_BUFFER:
                case TSS2_BASE_RC_BAD_SIZE:
                case TSS2_BASE_RC_BAD_VALUE:
                case TSS2_BASE_RC_MALFORMED_RESPONSE:
                        return -EBADMSG;
                default:
                        return -EIO;
                }
        }

        switch (tpm_rc_base(rc)) {
        case TPM2_RC_POLICY_FAIL:
        case TPM2_RC_PCR_CHANGED:
        case TPM2_RC_POLICY_CC:
                return -EPERM;
        case TPM2_RC_AUTH_FAIL:
        case TPM2_RC_BAD_AUTH:
                return -EACCES;
        case TPM2_RC_LOCKOUT:
                return -ENOLCK;
        case TPM2_RC_RETRY:
        case TPM2_RC_YIELDED:
        case TPM2_RC_TESTING:
                return -ETIMEDOUT;
        case TPM2_RC_INTEGRITY:
        case TPM2_RC_SIZE:
        case TPM2_RC_ATTRIBUTES:
        case TPM2_RC_TYPE:
        case TPM2_RC_HASH:
        case TPM2_RC_SCHEME:
        case TPM2_RC_SYMMETRIC:
        case TPM2_RC_KEY:
        case TPM2_RC_KEY_SIZE:
        case TPM2_RC_INSUFFICIENT:
        case TPM2_RC_BAD_TAG:
                return -EBADMSG;
        case TPM2_RC_HANDLE:
        case TPM2_RC_REFERENCE_H0:
                return -ENOENT;
        case TPM2_RC_OBJECT_MEMORY:
        case TPM2_RC_SESSION_MEMORY:
        case TPM2_RC_MEMORY:
        case TPM2_RC_NV_SPACE:
        case TPM2_RC_OBJECT_HANDLES:
        case TPM2_RC_SESSION_HANDLES:
                return -ENOBUFS; /* the TPM's memory, not the disk's: never -ENOSPC */
        case TPM2_RC_FAILURE:
        case TPM2_RC_INITIALIZE:
        case TPM2_RC_UPGRADE:
                return -ENODEV; /* the TPM is there but unusable */
        default:
                return -EIO;
        }
}

int tpm2_tss_error(TSS2_RC rc, const char *what) {
        int r = tpm2_rc_to_errno(rc);

        log_debug("%s failed: 0x%08x, %s", what, (unsigned) rc, Tss2_RC_Decode(rc));
        return r;
}

void tpm2_backoff(unsigned try) {
        unsigned ms = 10U << (try < 6 ? try : 6);
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        (void) nanosleep(&ts, NULL);
}

/* ---- context ---- */

_public_ const char *cvmseal_tcti_resolve(const char *tcti) {
        const char *e;

        if (tcti && *tcti)
                return tcti;
        e = secure_getenv("CVMSEAL_TCTI");
        if (e && *e)
                return e;
        return TPM2_DEFAULT_TCTI;
}

/* Is the TPM the TCTI configuration names plainly absent (no device node, no socket)?  Then there is
 * no need to ask tpm2-tss, which would print its own warnings to stderr: inside a host process (the
 * token plugin) cvmseal never touches TSS2_LOG, so it cannot silence them otherwise. */
static bool tcti_absent(const char *conf) {
        const char *path = NULL, *p;
        char buf[PATH_MAX];
        size_t n;

        while (strncmp(conf, "pcap:", 5) == 0)
                conf += 5;
        if (streq_ptr(conf, "device") || streq_ptr(conf, "device:"))
                return access("/dev/tpmrm0", F_OK) < 0 && access("/dev/tpm0", F_OK) < 0;
        if (strncmp(conf, "device:", 7) == 0)
                path = conf + 7;
        else if (strncmp(conf, "swtpm:", 6) == 0 && (p = strstr(conf, "path=")) && (p == conf + 6 || p[-1] == ','))
                path = p + 5;
        if (!path)
                return false;
        n = strcspn(path, ",");
        if (n == 0 || n >= sizeof(buf))
                return false;
        memcpy(buf, path, n);
        buf[n] = '\0';
        return access(buf, F_OK) < 0 && errno == ENOENT;
}

/* A TCTI configuration names its module by a bare name ("device", "swtpm", "pcap:swtpm"...): tpm2-tss's
 * loader would dlopen() a path given instead, and the configuration may come from an environment
 * that the kernel command line fills (init's).  No path, ever. */
static bool tcti_name_valid(const char *conf) {
        for (;;) {
                size_t n = strcspn(conf, ":");

                if (n == 0 || n > 32 || strspn(conf, "abcdefghijklmnopqrstuvwxyz0123456789-_") != n)
                        return false;
                if (strncmp(conf, "pcap:", 5) != 0)
                        return true;
                conf += 5;
        }
}

int tpm2_context_new(const char *tcti, tpm2_context **ret) {
        const char *conf = cvmseal_tcti_resolve(tcti);
        tpm2_context *c;
        TSS2_RC rc;

        if (!tcti_name_valid(conf))
                return log_debug_errno(-EINVAL, "The TCTI '%s' does not name its module by a bare name", conf);

        if (tcti_absent(conf))
                return log_debug_errno(-ENODEV, "No TPM at '%s'", conf);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        rc = Tss2_TctiLdr_Initialize(conf, &c->tcti);
        if (rc != TSS2_RC_SUCCESS) {
                free(c);
                log_debug("Cannot open the TPM through TCTI '%s': %s", conf, Tss2_RC_Decode(rc));
                return -ENODEV;
        }

        rc = Esys_Initialize(&c->esys, c->tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Tss2_TctiLdr_Finalize(&c->tcti);
                free(c);
                return tpm2_tss_error(rc, "Esys_Initialize") == -ENOMEM ? -ENOMEM : -ENODEV;
        }

        log_debug("Connected to the TPM through '%s'", conf);
        *ret = c;
        return 0;
}

void tpm2_context_free(tpm2_context *c) {
        if (!c)
                return;
        if (c->esys)
                Esys_Finalize(&c->esys);
        if (c->tcti)
                Tss2_TctiLdr_Finalize(&c->tcti);
        free(c);
}


/* ---- SRK ---- */

/* The TCG standard ECC P-256 storage key template (TCG TPM v2.0 Provisioning Guidance, 7.5.1, over
 * the EK Credential Profile's template L-2): any software that follows it finds the same key. */
static const TPM2B_PUBLIC srk_ecc_template = {
        .publicArea = {
                .type = TPM2_ALG_ECC,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                .parameters.eccDetail = {
                        .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                        .scheme = { .scheme = TPM2_ALG_NULL },
                        .curveID = TPM2_ECC_NIST_P256,
                        .kdf = { .scheme = TPM2_ALG_NULL },
                },
                .unique.ecc = { .x = { .size = 32 }, .y = { .size = 32 } },
        },
};

static int srk_create(tpm2_context *c, ESYS_TR *ret) {
        TPM2B_SENSITIVE_CREATE in = {};
        TPM2B_DATA outside = {};
        TPML_PCR_SELECTION creation_pcrs = {};
        ESYS_TR primary = ESYS_TR_NONE, persistent = ESYS_TR_NONE;
        TSS2_RC rc;

        log_debug("No SRK at 0x%08x: creating the TCG standard ECC P-256 SRK", (unsigned) CVMSEAL_SRK_HANDLE);
        TPM2_CALL(rc, Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                         &in, &srk_ecc_template, &outside, &creation_pcrs, &primary, NULL, NULL,
                                         NULL, NULL));
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "CreatePrimary (SRK)");

        TPM2_CALL(rc, Esys_EvictControl(c->esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                        ESYS_TR_NONE, CVMSEAL_SRK_HANDLE, &persistent));
        (void) Esys_FlushContext(c->esys, primary);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "EvictControl (SRK)");

        *ret = persistent;
        return 0;
}

int tpm2_srk(tpm2_context *c, bool create, ESYS_TR *ret_srk, TPM2B_NAME *ret_name) {
        ESYS_TR srk = ESYS_TR_NONE;
        TPM2B_NAME *name = NULL;
        TSS2_RC rc;
        int r;

        TPM2_CALL(rc, Esys_TR_FromTPMPublic(c->esys, CVMSEAL_SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                                            ESYS_TR_NONE, &srk));
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "ReadPublic (SRK)");
                if (r != -ENOENT)
                        return r;
                if (!create)
                        return log_debug_errno(-EREMCHG, "This TPM has no SRK at 0x%08x",
                                               (unsigned) CVMSEAL_SRK_HANDLE);
                r = srk_create(c, &srk);
                if (r < 0)
                        return r;
        }

        if (ret_name) {
                rc = Esys_TR_GetName(c->esys, srk, &name);
                if (rc != TSS2_RC_SUCCESS) {
                        (void) Esys_TR_Close(c->esys, &srk);
                        return tpm2_tss_error(rc, "Esys_TR_GetName");
                }
                *ret_name = *name;
                Esys_Free(name);
        }
        *ret_srk = srk;
        return 0;
}

int tpm2_srk_name(tpm2_context *c, TPM2B_NAME *ret_name) {
        ESYS_TR srk = ESYS_TR_NONE;
        int r;

        r = tpm2_srk(c, false, &srk, ret_name);
        if (r < 0)
                return r;
        (void) Esys_TR_Close(c->esys, &srk);
        return 0;
}

int tpm2_srk_public(tpm2_context *c, bool create, uint8_t **ret, size_t *ret_size, TPM2B_NAME *ret_name) {
        _cleanup_free_ uint8_t *buf = NULL;
        TPM2B_PUBLIC *pub = NULL;
        ESYS_TR srk = ESYS_TR_NONE;
        size_t size = 0;
        TSS2_RC rc;
        int r;

        r = tpm2_srk(c, create, &srk, ret_name);
        if (r < 0)
                return r;
        TPM2_CALL(rc, Esys_ReadPublic(c->esys, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL));
        (void) Esys_TR_Close(c->esys, &srk);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "ReadPublic (SRK)");
        buf = malloc(sizeof(TPM2B_PUBLIC));
        if (!buf) {
                Esys_Free(pub);
                return -ENOMEM;
        }
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(TPM2B_PUBLIC), &size);
        Esys_Free(pub);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Marshalling TPM2B_PUBLIC") == -ENOMEM ? -ENOMEM : -EIO;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* ---- PCRs and policies ---- */

static void pcr_selection(uint32_t mask, TPML_PCR_SELECTION *ret) {
        *ret = (TPML_PCR_SELECTION) {
                .count = 1,
                .pcrSelections[0] = {
                        .hash = TPM2_ALG_SHA256,
                        .sizeofSelect = 3,
                        .pcrSelect = { mask & 0xFF, (mask >> 8) & 0xFF, (mask >> 16) & 0xFF },
                },
        };
}

static uint32_t selection_mask(const TPML_PCR_SELECTION *s) {
        uint32_t mask = 0;

        for (uint32_t i = 0; i < s->count; i++) {
                if (s->pcrSelections[i].hash != TPM2_ALG_SHA256)
                        continue;
                for (unsigned b = 0; b < s->pcrSelections[i].sizeofSelect && b < 3; b++)
                        mask |= (uint32_t) s->pcrSelections[i].pcrSelect[b] << (8 * b);
        }
        return mask;
}

int tpm2_pcr_read(tpm2_context *c, uint32_t mask, uint8_t values[][32]) {
        uint32_t left = mask;
        unsigned filled = 0;

        /* PCR_Read answers at most eight digests at a time. */
        while (left != 0) {
                TPML_PCR_SELECTION sel, *out_sel = NULL;
                TPML_DIGEST *digests = NULL;
                uint32_t got, counter;
                TSS2_RC rc;

                pcr_selection(left, &sel);
                TPM2_CALL(rc, Esys_PCR_Read(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter,
                                            &out_sel, &digests));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "PCR_Read");

                got = selection_mask(out_sel) & left;
                if (got == 0 || (unsigned) __builtin_popcount(got) != digests->count) {
                        Esys_Free(out_sel);
                        Esys_Free(digests);
                        return log_debug_errno(-EOPNOTSUPP, "The TPM has no active sha256 PCR bank for these PCRs");
                }
                /* Digests come in ascending PCR order of the selection answered. */
                for (unsigned i = 0, k = 0; i < CVMSEAL_PCR_MAX; i++) {
                        if (!(got & (UINT32_C(1) << i)))
                                continue;
                        if (digests->digests[k].size != 32) {
                                Esys_Free(out_sel);
                                Esys_Free(digests);
                                return -EBADMSG;
                        }
                        /* Index in the output: the rank of PCR i within mask. */
                        memcpy(values[__builtin_popcount(mask & ((UINT32_C(1) << i) - 1))],
                               digests->digests[k].buffer, 32);
                        k++;
                        filled++;
                }
                left &= ~got;
                Esys_Free(out_sel);
                Esys_Free(digests);
        }

        return filled == (unsigned) __builtin_popcount(mask) ? 0 : -EIO;
}

static int sha256(const void *a, size_t an, const void *b, size_t bn, const void *c, size_t cn,
                  const void *d, size_t dn, uint8_t out[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n = 0;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, a, an) != 1 ||
            EVP_DigestUpdate(ctx, b, bn) != 1 || EVP_DigestUpdate(ctx, c, cn) != 1 ||
            EVP_DigestUpdate(ctx, d, dn) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32)
                return -EIO;
        return 0;
}

int tpm2_policy_digest(uint32_t mask, const uint8_t values[][32], bool pin, TPM2B_DIGEST *ret) {
        uint8_t policy[32] = {}, pcr_digest[32], cc[4], sel_buf[sizeof(TPML_PCR_SELECTION)];
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        unsigned npcrs = (unsigned) __builtin_popcount(mask), n;
        TPML_PCR_SELECTION sel;
        size_t sel_size = 0;
        TSS2_RC rc;
        int r;

        if (mask == 0 || mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return -EINVAL;

        /* digestTPM: the hash of the selected PCR values, in selection order. */
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return -EIO;
        for (unsigned i = 0; i < npcrs; i++)
                if (EVP_DigestUpdate(ctx, values[i], 32) != 1)
                        return -EIO;
        if (EVP_DigestFinal_ex(ctx, pcr_digest, &n) != 1)
                return -EIO;

        /* policyDigest' = H(policyDigest || TPM_CC_PolicyPCR || pcrs || digestTPM) */
        pcr_selection(mask, &sel);
        rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, sel_buf, sizeof(sel_buf), &sel_size);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Marshalling TPML_PCR_SELECTION") == -ENOMEM ? -ENOMEM : -EIO;
        cc[0] = 0; cc[1] = 0; cc[2] = (TPM2_CC_PolicyPCR >> 8) & 0xFF; cc[3] = TPM2_CC_PolicyPCR & 0xFF;
        r = sha256(policy, 32, cc, 4, sel_buf, sel_size, pcr_digest, 32, policy);
        if (r < 0)
                return r;

        /* policyDigest' = H(policyDigest || TPM_CC_PolicyAuthValue) */
        if (pin) {
                cc[2] = (TPM2_CC_PolicyAuthValue >> 8) & 0xFF;
                cc[3] = TPM2_CC_PolicyAuthValue & 0xFF;
                r = sha256(policy, 32, cc, 4, NULL, 0, NULL, 0, policy);
                if (r < 0)
                        return r;
        }

        ret->size = 32;
        memcpy(ret->buffer, policy, 32);
        return 0;
}

int tpm2_pin_auth(const cvmseal_secret *pin, TPM2B_AUTH *ret) {
        unsigned n = 0;

        if (EVP_Digest(cvmseal_secret_data(pin), cvmseal_secret_size(pin), ret->buffer, &n, EVP_sha256(), NULL) != 1 ||
            n != 32)
                return -EIO;
        ret->size = 32;
        return 0;
}

/* ---- sessions ---- */

static const TPMT_SYM_DEF session_symmetric = {
        .algorithm = TPM2_ALG_AES,
        .keyBits.aes = 128,
        .mode.aes = TPM2_ALG_CFB,
};

/* A session salted with the SRK (the salt is encrypted to the pinned SRK, so only that TPM derives
 * the session key) that encrypts what attributes say. */
static int start_session(tpm2_context *c, ESYS_TR srk, TPM2_SE type, TPMA_SESSION attributes, ESYS_TR *ret) {
        ESYS_TR session = ESYS_TR_NONE;
        TSS2_RC rc;

        TPM2_CALL(rc, Esys_StartAuthSession(c->esys, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                            NULL, type, &session_symmetric, TPM2_ALG_SHA256, &session));
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "StartAuthSession");

        /* No continueSession: the TPM flushes the session once the command that uses it succeeds. */
        rc = Esys_TRSess_SetAttributes(c->esys, session, attributes, 0xFF);
        if (rc != TSS2_RC_SUCCESS) {
                (void) Esys_FlushContext(c->esys, session);
                return tpm2_tss_error(rc, "Esys_TRSess_SetAttributes");
        }
        *ret = session;
        return 0;
}

/* tpm2-tss decrypts a response's parameters in place, in its own command buffer, and leaves them
 * there: wipe that buffer once a secret has come through it. */
static void wipe_response_buffer(tpm2_context *c) {
        TSS2_SYS_CONTEXT *sys = NULL;
        const uint8_t *rp = NULL;
        size_t n = 0;

        if (Esys_GetSysContext(c->esys, &sys) != TSS2_RC_SUCCESS || !sys)
                return;
        if (Tss2_Sys_GetRpBuffer(sys, &n, &rp) == TSS2_RC_SUCCESS && rp && n > 0)
                secure_wipe((void *) rp, n);
}

/* ---- seal and unseal ---- */

int tpm2_seal_policy(tpm2_context *c, const TPM2B_NAME *srk_name, const TPM2B_DIGEST *policy, const TPM2B_AUTH *auth,
                     bool noda, const cvmseal_secret *data, struct tpm2_sealed *ret) {
        TPM2B_SENSITIVE_CREATE in = {};
        TPM2B_PUBLIC template = {
                .publicArea = {
                        .type = TPM2_ALG_KEYEDHASH,
                        .nameAlg = TPM2_ALG_SHA256,
                        /* Policy only (no userWithAuth); fixed to this TPM; out of the DA logic
                         * unless a PIN makes guessing possible. */
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            (noda ? TPMA_OBJECT_NODA : 0),
                        .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
                },
        };
        TPM2B_DATA outside = {};
        TPML_PCR_SELECTION creation_pcrs = {};
        TPM2B_PUBLIC *out_public = NULL;
        TPM2B_PRIVATE *out_private = NULL;
        struct tpm2_sealed s = {};
        ESYS_TR srk = ESYS_TR_NONE, session = ESYS_TR_NONE;
        TSS2_RC rc;
        int r;

        if (cvmseal_secret_size(data) > sizeof(in.sensitive.data.buffer))
                return -EINVAL;
        s.policy = *policy;
        template.publicArea.authPolicy = *policy;

        r = tpm2_srk(c, true, &srk, &s.srk_name);
        if (r < 0)
                return r;
        /* The binding was computed for this SRK: it must still be the one at the handle. */
        if (srk_name && (srk_name->size != s.srk_name.size || memcmp(srk_name->name, s.srk_name.name, srk_name->size) != 0)) {
                r = log_debug_errno(-EREMCHG, "The SRK changed while sealing");
                goto finish;
        }

        if (auth)
                in.sensitive.userAuth = *auth;
        in.sensitive.data.size = (UINT16) cvmseal_secret_size(data);
        memcpy(in.sensitive.data.buffer, cvmseal_secret_data(data), cvmseal_secret_size(data));

        r = start_session(c, srk, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &session);
        if (r < 0)
                goto finish;

        TPM2_CALL(rc, Esys_Create(c->esys, srk, session, ESYS_TR_NONE, ESYS_TR_NONE, &in, &template, &outside,
                                  &creation_pcrs, &out_private, &out_public, NULL, NULL, NULL));
        if (rc != TSS2_RC_SUCCESS) {
                (void) Esys_FlushContext(c->esys, session);
                r = tpm2_tss_error(rc, "Create (sealed object)");
                goto finish;
        }

        s.public = *out_public;
        s.private = *out_private;
        *ret = s;
        r = 0;

finish:
        secure_wipe(&in, sizeof(in));
        Esys_Free(out_public);
        Esys_Free(out_private);
        (void) Esys_TR_Close(c->esys, &srk);
        return r;
}

/* TPM2_Import of an object sealed offline (tpm2-duplicate.c): outer wrapper only (symmetricAlg NULL,
 * no encryptionKey).  Everything it carries is public or encrypted to the SRK.  The SRK's name has
 * been checked, so a blob it refuses is damaged. */
static int import_duplicate(tpm2_context *c, ESYS_TR srk, const struct tpm2_sealed *sealed, TPM2B_PRIVATE **ret) {
        const TPMT_SYM_DEF_OBJECT no_inner = { .algorithm = TPM2_ALG_NULL };
        const TPM2B_DATA no_key = {};
        TSS2_RC rc;
        int r;

        TPM2_CALL(rc, Esys_Import(c->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &no_key,
                                  &sealed->public, &sealed->private, &sealed->seed, &no_inner, ret));
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "Import (sealed object)");
                return r == -EIO || r == -EINVAL || r == -ENOENT ? -EBADMSG : r;
        }
        log_debug("Imported the object sealed offline");
        return 0;
}

/* The first steps of every unseal: ReadPublic of the SRK (its name must be the sealed one), Import when
 * sealed offline, Load.  The caller closes *ret_srk and flushes *ret_object. */
static int tpm2_load_sealed(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle, ESYS_TR *ret_srk,
                            ESYS_TR *ret_object) {
        ESYS_TR srk = ESYS_TR_NONE, object = ESYS_TR_NONE;
        TPM2B_PRIVATE *imported = NULL;
        TPM2B_NAME *name = NULL;
        TSS2_RC rc;
        int r;

        if (srk_handle != CVMSEAL_SRK_HANDLE)
                return log_debug_errno(-EBADMSG, "The token names SRK 0x%08x, not 0x%08x", (unsigned) srk_handle,
                                       (unsigned) CVMSEAL_SRK_HANDLE);

        /* 1: ReadPublic.  ESAPI checks that the name it is given is the name of the public area. */
        TPM2_CALL(rc, Esys_TR_FromTPMPublic(c->esys, srk_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &srk));
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "ReadPublic (SRK)");
                return r == -ENOENT ? log_debug_errno(-EREMCHG, "This TPM has no SRK at 0x%08x", (unsigned) srk_handle)
                                    : r;
        }
        rc = Esys_TR_GetName(c->esys, srk, &name);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "Esys_TR_GetName");
                goto fail;
        }
        if (name->size != sealed->srk_name.size || !secret_equal(name->name, sealed->srk_name.name, name->size)) {
                r = log_debug_errno(-EREMCHG, "The SRK's name differs from the one the token was sealed to");
                goto fail;
        }
        log_debug("SRK 0x%08x has the pinned name", (unsigned) srk_handle);

        /* 2a (sealed offline): Import turns the duplicate into a private area under this SRK. */
        if (sealed->seed.size > 0) {
                r = import_duplicate(c, srk, sealed, &imported);
                if (r < 0)
                        goto fail;
        }

        /* 2: Load */
        TPM2_CALL(rc, Esys_Load(c->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                imported ? imported : &sealed->private, &sealed->public, &object));
        Esys_Free(imported);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "Load (sealed object)");
                /* The SRK is the right one: a blob it refuses is damaged. */
                if (r == -EIO || r == -EINVAL || r == -ENOENT)
                        r = -EBADMSG;
                goto fail;
        }
        log_debug("Loaded the sealed object");

        Esys_Free(name);
        *ret_srk = srk;
        *ret_object = object;
        return 0;

fail:
        Esys_Free(name);
        (void) Esys_TR_Close(c->esys, &srk);
        return r;
}

/* The last steps: [PolicyAuthValue,] Unseal in *session, the response buffer and ESAPI's copy of the
 * authValue wiped.  On success *session is flushed (ESYS_TR_NONE). */
static int tpm2_unseal_object(tpm2_context *c, ESYS_TR object, ESYS_TR *session, const TPM2B_AUTH *auth,
                              cvmseal_secret **ret) {
        TPM2B_SENSITIVE_DATA *out = NULL;
        TPM2B_AUTH empty = {};
        cvmseal_secret *s;
        TSS2_RC rc;

        if (auth) {
                TPM2_CALL(rc, Esys_PolicyAuthValue(c->esys, *session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "PolicyAuthValue");
                rc = Esys_TR_SetAuth(c->esys, object, auth);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "Esys_TR_SetAuth");
        }

        TPM2_CALL(rc, Esys_Unseal(c->esys, object, *session, ESYS_TR_NONE, ESYS_TR_NONE, &out));
        wipe_response_buffer(c);
        if (auth)
                /* ESAPI keeps a copy of the authValue: overwrite it. */
                (void) Esys_TR_SetAuth(c->esys, object, &empty);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Unseal");
        *session = ESYS_TR_NONE; /* flushed by the TPM with the successful command */
        log_debug("Unsealed");

        s = cvmseal_secret_new_from(out->buffer, out->size);
        secure_wipe(out, sizeof(*out));
        Esys_Free(out);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int tpm2_unseal_with_policy(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle,
                            tpm2_policy_fn policy, void *userdata, const TPM2B_AUTH *auth, cvmseal_secret **ret) {
        ESYS_TR srk = ESYS_TR_NONE, object = ESYS_TR_NONE, session = ESYS_TR_NONE;
        int r;

        /* 1, 2: ReadPublic (the pinned SRK), [Import,] Load */
        r = tpm2_load_sealed(c, sealed, srk_handle, &srk, &object);
        if (r < 0)
                return r;

        /* 3: StartAuthSession; the Unseal response comes back encrypted. */
        r = start_session(c, srk, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT, &session);
        if (r < 0)
                goto finish;
        log_debug("Started a policy session salted with the SRK");

        /* 4: the object's policy, up to its PolicyAuthValue */
        r = policy(c, session, userdata);
        if (r < 0)
                goto finish;

        /* 5: PolicyAuthValue (the token's binding [and PIN]; version 1 without a PIN: none), 6: Unseal */
        r = tpm2_unseal_object(c, object, &session, auth, ret);

finish:
        if (session != ESYS_TR_NONE)
                (void) Esys_FlushContext(c->esys, session);
        /* 7: FlushContext */
        if (object != ESYS_TR_NONE)
                (void) Esys_FlushContext(c->esys, object);
        (void) Esys_TR_Close(c->esys, &srk);
        return r;
}

/* PolicyPCR with an empty digest: the TPM takes the current values, and Unseal fails with
 * TPM_RC_POLICY_FAIL when they differ from the sealed ones. */
static int policy_pcr(tpm2_context *c, ESYS_TR session, void *userdata) {
        const uint32_t *mask = userdata;
        TPM2B_DIGEST empty = {};
        TPML_PCR_SELECTION sel;
        TSS2_RC rc;

        pcr_selection(*mask, &sel);
        TPM2_CALL(rc, Esys_PolicyPCR(c->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel));
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "PolicyPCR");
        return 0;
}

int tpm2_unseal(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle, uint32_t mask,
                const TPM2B_AUTH *auth, cvmseal_secret **ret) {
        int r;

        r = tpm2_unseal_with_policy(c, sealed, srk_handle, policy_pcr, &mask, auth, ret);
        if (r == -EPERM)
                log_debug("The PCR policy is not satisfied: the boot state differs from the sealed one");
        return r;
}

/* ---- dictionary-attack state ---- */

int tpm2_lockout_info(tpm2_context *c, unsigned *ret_counter, unsigned *ret_max, unsigned *ret_interval) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        uint32_t v[3];
        unsigned found = 0;
        TSS2_RC rc;

        /* TPM2_PT_LOCKOUT_COUNTER, TPM2_PT_MAX_AUTH_FAIL, TPM2_PT_LOCKOUT_INTERVAL: consecutive. */
        TPM2_CALL(rc, Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                         TPM2_PT_LOCKOUT_COUNTER, 3, &more, &cap));
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "GetCapability (TPM properties)");
        if (cap->capability != TPM2_CAP_TPM_PROPERTIES) {
                Esys_Free(cap);
                return log_debug_errno(-EBADMSG, "GetCapability answered another capability");
        }
        for (uint32_t i = 0; i < cap->data.tpmProperties.count && i < TPM2_MAX_TPM_PROPERTIES; i++) {
                TPM2_PT p = cap->data.tpmProperties.tpmProperty[i].property;

                if (p < TPM2_PT_LOCKOUT_COUNTER || p > TPM2_PT_LOCKOUT_INTERVAL)
                        continue;
                v[p - TPM2_PT_LOCKOUT_COUNTER] = cap->data.tpmProperties.tpmProperty[i].value;
                found |= 1U << (p - TPM2_PT_LOCKOUT_COUNTER);
        }
        Esys_Free(cap);
        if (found != 7)
                return log_debug_errno(-EBADMSG, "The TPM did not report its dictionary-attack properties");

        log_debug("Dictionary-attack state: %" PRIu32 " failures of %" PRIu32 ", one forgiven every %" PRIu32 " s",
                  v[0], v[1], v[2]);
        *ret_counter = v[0];
        *ret_max = v[1];
        *ret_interval = v[2];
        return 0;
}

_public_ int cvmseal_tpm_lockout_info(const char *tcti, unsigned *ret_counter, unsigned *ret_max,
                                      unsigned *ret_interval) {
        _cleanup_(tpm2_context_freep) tpm2_context *c = NULL;
        int r;

        if (!ret_counter || !ret_max || !ret_interval)
                return -EINVAL;
        r = tpm2_context_new(tcti, &c);
        if (r < 0)
                return r;
        return tpm2_lockout_info(c, ret_counter, ret_max, ret_interval);
}

/* ---- marshalling ---- */

int tpm2_sealed_marshal(const struct tpm2_sealed *s, uint8_t **ret_pub, size_t *ret_pub_size,
                        uint8_t **ret_priv, size_t *ret_priv_size) {
        _cleanup_free_ uint8_t *pub = malloc(sizeof(TPM2B_PUBLIC)), *priv = malloc(sizeof(TPM2B_PRIVATE));
        size_t pub_size = 0, priv_size = 0;
        TSS2_RC rc;

        if (!pub || !priv)
                return -ENOMEM;
        /* A failure here is ours, not a malformed token's. */
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&s->public, pub, sizeof(TPM2B_PUBLIC), &pub_size);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Marshalling TPM2B_PUBLIC") == -ENOMEM ? -ENOMEM : -EIO;
        rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&s->private, priv, sizeof(TPM2B_PRIVATE), &priv_size);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Marshalling TPM2B_PRIVATE") == -ENOMEM ? -ENOMEM : -EIO;

        *ret_pub = TAKE_PTR(pub);
        *ret_pub_size = pub_size;
        *ret_priv = TAKE_PTR(priv);
        *ret_priv_size = priv_size;
        return 0;
}

int tpm2_sealed_unmarshal(const uint8_t *pub, size_t pub_size, const uint8_t *priv, size_t priv_size,
                          const uint8_t *srk_name, size_t srk_name_size, struct tpm2_sealed *ret) {
        struct tpm2_sealed s = {};
        size_t off = 0;
        TSS2_RC rc;

        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_size, &off, &s.public);
        if (rc != TSS2_RC_SUCCESS || off != pub_size)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'public' is not a TPM2B_PUBLIC");
        off = 0;
        rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, priv_size, &off, &s.private);
        if (rc != TSS2_RC_SUCCESS || off != priv_size)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'private' is not a TPM2B_PRIVATE");
        if (s.public.publicArea.type != TPM2_ALG_KEYEDHASH || s.public.publicArea.nameAlg != TPM2_ALG_SHA256)
                return log_debug_errno(-EBADMSG, "cvmseal token: 'public' is not a sha256 sealed-data object");
        if (srk_name_size > sizeof(s.srk_name.name))
                return -EBADMSG;
        s.srk_name.size = (UINT16) srk_name_size;
        memcpy(s.srk_name.name, srk_name, srk_name_size);

        *ret = s;
        return 0;
}

/* ---- attestation evidence ---- */

/*
 * The NV indices and the AK of the vTPM are used through SAPI, on their raw handles, with a password
 * session (an empty password): no ESYS_TR, so no ReadPublic/NV_ReadPublic to make one (ESAPI sends
 * one to learn an object's name, and nv_open() used to send a second to learn the index's size and
 * attributes).  That loses nothing: a password session binds nothing to names, and everything read
 * here travels to a verifier that authenticates it on its own terms (the HCL report by the hardware
 * signature and the binding of its runtime claims, the quote by the signature of the key those claims
 * name).  An interposer that answers for the TPM can make the evidence fail, never pass.
 *
 * NV indices are authorized by the owner (TPM_RH_OWNER, whose authorization is exempt from the
 * dictionary-attack logic: no RETRY after a cold start, no failure counted), as Azure documents for
 * its indices; an index that does not allow it (ownerread/ownerwrite clear, or an owner password) is
 * tried once more with its own authorization.
 */

static TSS2_SYS_CONTEXT *sys_context(tpm2_context *c) {
        TSS2_SYS_CONTEXT *sys = NULL;

        return Esys_GetSysContext(c->esys, &sys) == TSS2_RC_SUCCESS ? sys : NULL;
}

static const TSS2L_SYS_AUTH_COMMAND password_auth = {
        .count = 1,
        .auths = { { .sessionHandle = TPM2_RS_PW } },
};

/* Does the TPM refuse the owner's authorization for this index (so that its own may work)? */
static bool nv_owner_refused(TSS2_RC rc) {
        TSS2_RC base = tpm_rc_base(rc);

        return rc_is_tpm(rc) && (base == TPM2_RC_NV_AUTHORIZATION || base == TPM2_RC_AUTH_UNAVAILABLE ||
                                 base == TPM2_RC_BAD_AUTH || base == TPM2_RC_AUTH_FAIL);
}

static int nv_error(TSS2_RC rc, const char *what, uint32_t index) {
        int r;

        if (rc_is_tpm(rc) && tpm_rc_base(rc) == TPM2_RC_NV_RANGE) {
                log_debug("%s of NV index 0x%08x: beyond the index's end", what, (unsigned) index);
                return -ERANGE;
        }
        r = tpm2_tss_error(rc, what);
        return r == -ENOENT ? log_debug_errno(-ENOENT, "NV index 0x%08x is not defined", (unsigned) index) : r;
}

/* One NV_Read of size bytes (at most TPM2_NV_CHUNK) at offset, owner-authorized, else by the index. */
static int nv_read_chunk(tpm2_context *c, uint32_t index, uint16_t offset, uint16_t size, uint8_t *out) {
        TSS2_SYS_CONTEXT *sys = sys_context(c);
        TPMI_RH_NV_AUTH auth = TPM2_RH_OWNER;
        TPM2B_MAX_NV_BUFFER data = {};
        TSS2L_SYS_AUTH_RESPONSE rsp = {};
        TSS2_RC rc;

        if (!sys)
                return -EIO;
        for (;;) {
                data = (TPM2B_MAX_NV_BUFFER) {};
                TPM2_CALL(rc, Tss2_Sys_NV_Read(sys, auth, index, &password_auth, size, offset, &data, &rsp));
                if (rc == TSS2_RC_SUCCESS || auth == index || !nv_owner_refused(rc))
                        break;
                log_debug("NV index 0x%08x: the owner may not read it, trying its own authorization", (unsigned) index);
                auth = index;
        }
        if (rc != TSS2_RC_SUCCESS)
                return nv_error(rc, "NV_Read", index);
        if (data.size != size)
                return log_debug_errno(-EBADMSG, "NV_Read returned %u bytes, not %u", data.size, size);
        memcpy(out, data.buffer, size);
        return 0;
}

int tpm2_nv_read_at(tpm2_context *c, uint32_t index, size_t offset, size_t size, uint8_t *buf) {
        for (size_t done = 0; done < size;) {
                size_t n = size - done > TPM2_NV_CHUNK ? TPM2_NV_CHUNK : size - done;
                int r;

                if (offset + done > UINT16_MAX)
                        return -ERANGE;
                r = nv_read_chunk(c, index, (uint16_t) (offset + done), (uint16_t) n, buf + done);
                if (r < 0)
                        return r;
                done += n;
        }
        return 0;
}

int tpm2_nv_size(tpm2_context *c, uint32_t index, size_t *ret) {
        TSS2_SYS_CONTEXT *sys = sys_context(c);
        TPM2B_NV_PUBLIC pub = {};
        TPM2B_NAME name = {};
        TSS2_RC rc;

        if (!sys)
                return -EIO;
        TPM2_CALL(rc, Tss2_Sys_NV_ReadPublic(sys, index, NULL, &pub, &name, NULL));
        if (rc != TSS2_RC_SUCCESS)
                return nv_error(rc, "NV_ReadPublic", index);
        *ret = pub.nvPublic.dataSize;
        return 0;
}

int tpm2_nv_read(tpm2_context *c, uint32_t index, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;
        int r;

        r = tpm2_nv_size(c, index, &size);
        if (r < 0)
                return r;
        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        r = tpm2_nv_read_at(c, index, 0, size, buf);
        if (r < 0)
                return r;

        log_debug("Read %zu bytes from NV index 0x%08x", size, (unsigned) index);
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int tpm2_nv_write(tpm2_context *c, uint32_t index, const uint8_t *data, size_t size) {
        TSS2_SYS_CONTEXT *sys = sys_context(c);
        TPMI_RH_NV_AUTH auth = TPM2_RH_OWNER;
        TPM2B_MAX_NV_BUFFER buf = {};
        TSS2L_SYS_AUTH_RESPONSE rsp = {};
        TSS2_RC rc;

        if (!sys)
                return -EIO;
        if (size > TPM2_NV_CHUNK || size > sizeof(buf.buffer))
                return -EINVAL;
        buf.size = (UINT16) size;
        memcpy(buf.buffer, data, size);
        for (;;) {
                TPM2_CALL(rc, Tss2_Sys_NV_Write(sys, auth, index, &password_auth, &buf, 0, &rsp));
                if (rc == TSS2_RC_SUCCESS || auth == index || !nv_owner_refused(rc))
                        break;
                log_debug("NV index 0x%08x: the owner may not write it, trying its own authorization", (unsigned) index);
                auth = index;
        }
        if (rc != TSS2_RC_SUCCESS)
                return nv_error(rc, "NV_Write", index);
        return 0;
}

int tpm2_pcr_event(tpm2_context *c, unsigned pcr, const void *event, size_t size) {
        TPM2B_EVENT data = {};
        TPML_DIGEST_VALUES *digests = NULL;
        TSS2_RC rc;

        if (pcr >= CVMSEAL_PCR_MAX || size > sizeof(data.buffer))
                return -EINVAL;
        data.size = (UINT16) size;
        memcpy(data.buffer, event, size);
        /* PCR handles are ESYS_TR_PCR0 + n; PCRs 0-15 take an empty password at locality 0. */
        TPM2_CALL(rc, Esys_PCR_Event(c->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &data, &digests));
        Esys_Free(digests);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "PCR_Event");
        return 0;
}

/* ---- authenticated PCR access (the lock) ---- */

int tpm2_hmac_session(tpm2_context *c, const TPM2B_NAME *srk_name, bool create, ESYS_TR *ret) {
        ESYS_TR srk = ESYS_TR_NONE;
        TPM2B_NAME name;
        int r;

        r = tpm2_srk(c, create, &srk, &name);
        if (r < 0)
                return r;
        if (srk_name && (srk_name->size != name.size || memcmp(srk_name->name, name.name, name.size) != 0)) {
                (void) Esys_TR_Close(c->esys, &srk);
                return log_debug_errno(-EREMCHG, "The SRK is not the pinned one");
        }
        r = start_session(c, srk, TPM2_SE_HMAC, TPMA_SESSION_CONTINUESESSION, ret);
        (void) Esys_TR_Close(c->esys, &srk);
        return r;
}

void tpm2_session_close(tpm2_context *c, ESYS_TR *session) {
        if (*session != ESYS_TR_NONE)
                (void) Esys_FlushContext(c->esys, *session);
        *session = ESYS_TR_NONE;
}

int tpm2_pcr_read_authenticated_mask(tpm2_context *c, ESYS_TR session, uint32_t mask, uint8_t values[][32]) {
        uint32_t left = mask;
        TSS2_RC rc;

        if (mask == 0 || mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return -EINVAL;
        /* An audit session on a command without authorizations: the TPM HMACs the response with the
         * session key, and ESAPI refuses a response whose HMAC does not verify.  An interposer that
         * answers with other values cannot make that HMAC: the salt went to the SRK. */
        rc = Esys_TRSess_SetAttributes(c->esys, session, TPMA_SESSION_AUDIT | TPMA_SESSION_CONTINUESESSION, 0xFF);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Esys_TRSess_SetAttributes");

        /* PCR_Read answers at most eight digests at a time. */
        while (left != 0) {
                TPML_PCR_SELECTION sel, *out_sel = NULL;
                TPML_DIGEST *digests = NULL;
                uint32_t got, counter;
                int r = 0;

                pcr_selection(left, &sel);
                TPM2_CALL(rc, Esys_PCR_Read(c->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter, &out_sel,
                                            &digests));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "PCR_Read (audited)");
                got = selection_mask(out_sel) & left;
                if (got == 0 || (unsigned) __builtin_popcount(got) != digests->count)
                        r = log_debug_errno(-EOPNOTSUPP, "The TPM has no active sha256 PCR bank for these PCRs");
                for (unsigned i = 0, k = 0; r >= 0 && i < CVMSEAL_PCR_MAX; i++) {
                        if (!(got & (UINT32_C(1) << i)))
                                continue;
                        if (digests->digests[k].size != 32) {
                                r = -EBADMSG;
                                break;
                        }
                        memcpy(values[__builtin_popcount(mask & ((UINT32_C(1) << i) - 1))], digests->digests[k].buffer, 32);
                        k++;
                }
                Esys_Free(out_sel);
                Esys_Free(digests);
                if (r < 0)
                        return r;
                left &= ~got;
        }
        return 0;
}

int tpm2_pcr_read_authenticated(tpm2_context *c, ESYS_TR session, unsigned pcr, uint8_t ret[32]) {
        uint8_t v[1][32];
        int r;

        if (pcr >= CVMSEAL_PCR_MAX)
                return -EINVAL;
        r = tpm2_pcr_read_authenticated_mask(c, session, UINT32_C(1) << pcr, v);
        if (r < 0)
                return r;
        memcpy(ret, v[0], 32);
        return 0;
}

int tpm2_pcr_event_authenticated(tpm2_context *c, ESYS_TR session, unsigned pcr, const void *event, size_t size) {
        TPM2B_EVENT data = {};
        TPML_DIGEST_VALUES *digests = NULL;
        TSS2_RC rc;

        if (pcr >= CVMSEAL_PCR_MAX || size > sizeof(data.buffer))
                return -EINVAL;
        rc = Esys_TRSess_SetAttributes(c->esys, session, TPMA_SESSION_CONTINUESESSION, 0xFF);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Esys_TRSess_SetAttributes");
        data.size = (UINT16) size;
        memcpy(data.buffer, event, size);
        /* The PCR's (empty) authValue through the salted HMAC session: a success that the TPM did not
         * send has no valid response HMAC, and ESAPI refuses it. */
        TPM2_CALL(rc, Esys_PCR_Event(c->esys, ESYS_TR_PCR0 + pcr, session, ESYS_TR_NONE, ESYS_TR_NONE, &data, &digests));
        Esys_Free(digests);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "PCR_Event");
        return 0;
}

int tpm2_certify_srk(tpm2_context *c, uint32_t ak_handle, const uint8_t *nonce, size_t nonce_size, uint8_t **ret_message,
                     size_t *ret_message_size, uint8_t **ret_signature, size_t *ret_signature_size) {
        TSS2_SYS_CONTEXT *sys = sys_context(c);
        const TSS2L_SYS_AUTH_COMMAND two_passwords = {
                .count = 2,
                .auths = { { .sessionHandle = TPM2_RS_PW }, { .sessionHandle = TPM2_RS_PW } },
        };
        TSS2L_SYS_AUTH_RESPONSE rsp = {};
        TPM2B_DATA qualifying = {};
        TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
        TPM2B_ATTEST certified = {};
        TPMT_SIGNATURE sig = {};
        _cleanup_free_ uint8_t *msg = NULL, *sig_buf = NULL;
        size_t sig_size = 0;
        TSS2_RC rc;

        if (!sys)
                return -EIO;
        if (nonce_size > sizeof(qualifying.buffer))
                return -EINVAL;
        qualifying.size = (UINT16) nonce_size;
        memcpy(qualifying.buffer, nonce, nonce_size);
        /* The SRK and the AK by their raw handles, with empty passwords: what comes back is checked
         * against the hardware-vouched AK's public key, not trusted. */
        TPM2_CALL(rc, Tss2_Sys_Certify(sys, CVMSEAL_SRK_HANDLE, ak_handle, &two_passwords, &qualifying, &scheme,
                                      &certified, &sig, &rsp));
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Certify (SRK)");
        msg = malloc(certified.size ? certified.size : 1);
        sig_buf = malloc(sizeof(TPMT_SIGNATURE));
        if (!msg || !sig_buf)
                return -ENOMEM;
        memcpy(msg, certified.attestationData, certified.size);
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sig_buf, sizeof(TPMT_SIGNATURE), &sig_size);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Marshalling the certification's signature") == -ENOMEM ? -ENOMEM : -EBADMSG;
        *ret_message_size = certified.size;
        *ret_message = TAKE_PTR(msg);
        *ret_signature_size = sig_size;
        *ret_signature = TAKE_PTR(sig_buf);
        return 0;
}

int tpm2_quote(tpm2_context *c, uint32_t ak_handle, const uint8_t *nonce, size_t nonce_size, uint32_t mask,
               uint8_t **ret_message, size_t *ret_message_size, uint8_t **ret_signature, size_t *ret_signature_size,
               uint8_t **ret_ak_public, size_t *ret_ak_public_size, uint8_t values[][32]) {
        TSS2_SYS_CONTEXT *sys = sys_context(c);
        TSS2L_SYS_AUTH_RESPONSE rsp = {};
        TPM2B_DATA qualifying = {};
        TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
        TPML_PCR_SELECTION sel;
        TPM2B_ATTEST quoted = {};
        TPMT_SIGNATURE sig = {};
        TPM2B_PUBLIC pub = {};
        TPM2B_NAME name = {}, qualified = {};
        _cleanup_free_ uint8_t *msg = NULL, *sig_buf = NULL, *pub_buf = NULL;
        size_t sig_size = 0, pub_size = 0;
        TSS2_RC rc;
        int r;

        if (!sys)
                return -EIO;
        if (nonce_size > sizeof(qualifying.buffer) || mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX) || (mask && !values))
                return -EINVAL;

        /* Only a key the platform provisioned: a key created here (CreatePrimary) is one that no
         * hardware vouches for, and the unlock path creates nothing on the TPM (DESIGN).  The AK by
         * its raw handle: a missing one is TPM_RC_HANDLE, no ReadPublic needed to find out. */
        qualifying.size = (UINT16) nonce_size;
        memcpy(qualifying.buffer, nonce, nonce_size);
        pcr_selection(mask, &sel);
        TPM2_CALL(rc, Tss2_Sys_Quote(sys, ak_handle, &password_auth, &qualifying, &scheme, &sel, &quoted, &sig, &rsp));
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm2_tss_error(rc, "Quote");
                return r == -ENOENT ? log_debug_errno(-ENOENT, "No AK at 0x%08x", (unsigned) ak_handle) : r;
        }

        /* The AK's public area only when the caller wants it (no HCLAkPub names the key). */
        if (ret_ak_public) {
                TPM2_CALL(rc, Tss2_Sys_ReadPublic(sys, ak_handle, NULL, &pub, &name, &qualified, NULL));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "ReadPublic (AK)");
        }

        /* The values after the quote: if one moved in between, the quote's digest says so. */
        if (mask) {
                r = tpm2_pcr_read(c, mask, values);
                if (r < 0)
                        return r;
        }

        msg = malloc(quoted.size ? quoted.size : 1);
        sig_buf = malloc(sizeof(TPMT_SIGNATURE));
        if (!msg || !sig_buf)
                return -ENOMEM;
        memcpy(msg, quoted.attestationData, quoted.size);
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sig_buf, sizeof(TPMT_SIGNATURE), &sig_size);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_tss_error(rc, "Marshalling the quote's signature") == -ENOMEM ? -ENOMEM : -EBADMSG;
        if (ret_ak_public) {
                pub_buf = malloc(sizeof(TPM2B_PUBLIC));
                if (!pub_buf)
                        return -ENOMEM;
                rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, pub_buf, sizeof(TPM2B_PUBLIC), &pub_size);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_tss_error(rc, "Marshalling the AK's public area") == -ENOMEM ? -ENOMEM : -EBADMSG;
        }

        *ret_message_size = quoted.size;
        *ret_message = TAKE_PTR(msg);
        *ret_signature = TAKE_PTR(sig_buf);
        *ret_signature_size = sig_size;
        if (ret_ak_public) {
                *ret_ak_public = TAKE_PTR(pub_buf);
                *ret_ak_public_size = pub_size;
        }
        return 0;
}

/* ---- for the policies of other files of tpm/ (signed-policy.c) ---- */

ESYS_CONTEXT *tpm2_esys(tpm2_context *c) {
        return c->esys;
}
