/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tpm2_unseal() against a scripted ESAPI (-Wl,--wrap=Esys_*, tests/meson.build): each TPM answer a
 * real swtpm cannot be made to give on demand (a Load refused as damaged, a failure in the middle
 * of the session, RETRY forever, a session that will not start) fails the unseal with the errno
 * the exit codes hang on, and leaves nothing behind: every loaded object and session flushed, the
 * SRK's handle closed.  The happy path and the retry path give the sealed data back.
 *
 * Nothing here talks to a TPM: the TCTI loader and Esys_Initialize are wrapped too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "macro.h"
#include "secret.h"
#include "tpm2.h"

/* ---- the script ---- */

enum step {
        STEP_FROM_TPM_PUBLIC,
        STEP_GET_NAME,
        STEP_LOAD,
        STEP_START_SESSION,
        STEP_SET_ATTRIBUTES,
        STEP_POLICY_PCR,
        STEP_POLICY_AUTH_VALUE,
        STEP_SET_AUTH,
        STEP_UNSEAL,
        _STEP_MAX,
};

#define SRK ((ESYS_TR) 0x100)
#define OBJECT ((ESYS_TR) 0x200)
#define SESSION ((ESYS_TR) 0x300)

static struct {
        TSS2_RC answer[_STEP_MAX];  /* what each step answers (0: success) */
        unsigned retries[_STEP_MAX]; /* answer TPM2_RC_RETRY that many times first */
        unsigned calls[_STEP_MAX];
        bool wrong_srk_name;
        int loaded;                 /* objects and sessions the TPM holds */
        int open_handles;           /* ESYS_TRs not closed or flushed */
} tpm;

static const uint8_t sealed_data[] = "the TPM share, 32 bytes long....";

static TSS2_RC answer(enum step s) {
        tpm.calls[s]++;
        if (tpm.retries[s] > 0) {
                tpm.retries[s]--;
                return TPM2_RC_RETRY;
        }
        return tpm.answer[s];
}

static void script_reset(void) {
        memset(&tpm, 0, sizeof(tpm));
}

/* ---- the wrapped ESAPI ---- */

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ret);
TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ret) {
        *ret = (TSS2_TCTI_CONTEXT *) calloc(1, 64);
        return TSS2_RC_SUCCESS;
}

void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **tcti);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **tcti) {
        free(*tcti);
        *tcti = NULL;
}

TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi) {
        *esys = (ESYS_CONTEXT *) calloc(1, 64);
        return TSS2_RC_SUCCESS;
}

void __wrap_Esys_Finalize(ESYS_CONTEXT **esys);
void __wrap_Esys_Finalize(ESYS_CONTEXT **esys) {
        free(*esys);
        *esys = NULL;
}

TSS2_RC __wrap_Esys_GetSysContext(ESYS_CONTEXT *esys, TSS2_SYS_CONTEXT **sys);
TSS2_RC __wrap_Esys_GetSysContext(ESYS_CONTEXT *esys, TSS2_SYS_CONTEXT **sys) {
        *sys = NULL;
        return TSS2_ESYS_RC_BAD_REFERENCE;
}

TSS2_RC __wrap_Esys_TR_FromTPMPublic(ESYS_CONTEXT *esys, TPM2_HANDLE handle, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                     ESYS_TR *ret);
TSS2_RC __wrap_Esys_TR_FromTPMPublic(ESYS_CONTEXT *esys, TPM2_HANDLE handle, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                     ESYS_TR *ret) {
        TSS2_RC rc = answer(STEP_FROM_TPM_PUBLIC);

        if (rc == TSS2_RC_SUCCESS) {
                *ret = SRK;
                tpm.open_handles++;
        }
        return rc;
}

TSS2_RC __wrap_Esys_TR_GetName(ESYS_CONTEXT *esys, ESYS_TR handle, TPM2B_NAME **ret);
TSS2_RC __wrap_Esys_TR_GetName(ESYS_CONTEXT *esys, ESYS_TR handle, TPM2B_NAME **ret) {
        TSS2_RC rc = answer(STEP_GET_NAME);

        if (rc != TSS2_RC_SUCCESS)
                return rc;
        /* Esys_Free() is free(). */
        *ret = calloc(1, sizeof(TPM2B_NAME));
        assert_non_null(*ret);
        (*ret)->size = 34;
        memset((*ret)->name, tpm.wrong_srk_name ? 0xee : 0x11, 34);
        return rc;
}

TSS2_RC __wrap_Esys_TR_Close(ESYS_CONTEXT *esys, ESYS_TR *handle);
TSS2_RC __wrap_Esys_TR_Close(ESYS_CONTEXT *esys, ESYS_TR *handle) {
        assert_int_equal(*handle, SRK);
        tpm.open_handles--;
        *handle = ESYS_TR_NONE;
        return TSS2_RC_SUCCESS;
}

TSS2_RC __wrap_Esys_Load(ESYS_CONTEXT *esys, ESYS_TR parent, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                         const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub, ESYS_TR *ret);
TSS2_RC __wrap_Esys_Load(ESYS_CONTEXT *esys, ESYS_TR parent, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                         const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub, ESYS_TR *ret) {
        TSS2_RC rc = answer(STEP_LOAD);

        assert_int_equal(parent, SRK);
        if (rc == TSS2_RC_SUCCESS) {
                *ret = OBJECT;
                tpm.loaded++;
                tpm.open_handles++;
        }
        return rc;
}

TSS2_RC __wrap_Esys_StartAuthSession(ESYS_CONTEXT *esys, ESYS_TR key, ESYS_TR bind, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                     const TPM2B_NONCE *nonce, TPM2_SE type, const TPMT_SYM_DEF *sym,
                                     TPMI_ALG_HASH hash, ESYS_TR *ret);
TSS2_RC __wrap_Esys_StartAuthSession(ESYS_CONTEXT *esys, ESYS_TR key, ESYS_TR bind, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                     const TPM2B_NONCE *nonce, TPM2_SE type, const TPMT_SYM_DEF *sym,
                                     TPMI_ALG_HASH hash, ESYS_TR *ret) {
        TSS2_RC rc = answer(STEP_START_SESSION);

        /* Salted with the SRK whose name was checked: the salt never goes to another key. */
        assert_int_equal(key, SRK);
        assert_int_equal(type, TPM2_SE_POLICY);
        if (rc == TSS2_RC_SUCCESS) {
                *ret = SESSION;
                tpm.loaded++;
                tpm.open_handles++;
        }
        return rc;
}

TSS2_RC __wrap_Esys_TRSess_SetAttributes(ESYS_CONTEXT *esys, ESYS_TR session, TPMA_SESSION flags, TPMA_SESSION mask);
TSS2_RC __wrap_Esys_TRSess_SetAttributes(ESYS_CONTEXT *esys, ESYS_TR session, TPMA_SESSION flags, TPMA_SESSION mask) {
        /* The Unseal's response comes back encrypted. */
        assert_true(flags & TPMA_SESSION_ENCRYPT);
        return answer(STEP_SET_ATTRIBUTES);
}

TSS2_RC __wrap_Esys_PolicyPCR(ESYS_CONTEXT *esys, ESYS_TR session, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                              const TPM2B_DIGEST *digest, const TPML_PCR_SELECTION *pcrs);
TSS2_RC __wrap_Esys_PolicyPCR(ESYS_CONTEXT *esys, ESYS_TR session, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                              const TPM2B_DIGEST *digest, const TPML_PCR_SELECTION *pcrs) {
        assert_int_equal(session, SESSION);
        /* An empty digest: the TPM takes the current values. */
        assert_int_equal(digest->size, 0);
        return answer(STEP_POLICY_PCR);
}

TSS2_RC __wrap_Esys_PolicyAuthValue(ESYS_CONTEXT *esys, ESYS_TR session, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3);
TSS2_RC __wrap_Esys_PolicyAuthValue(ESYS_CONTEXT *esys, ESYS_TR session, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3) {
        assert_int_equal(session, SESSION);
        return answer(STEP_POLICY_AUTH_VALUE);
}

TSS2_RC __wrap_Esys_TR_SetAuth(ESYS_CONTEXT *esys, ESYS_TR handle, const TPM2B_AUTH *auth);
TSS2_RC __wrap_Esys_TR_SetAuth(ESYS_CONTEXT *esys, ESYS_TR handle, const TPM2B_AUTH *auth) {
        assert_int_equal(handle, OBJECT);
        /* The second call overwrites ESAPI's copy of the authValue: not scripted. */
        return auth->size == 0 ? TSS2_RC_SUCCESS : answer(STEP_SET_AUTH);
}

TSS2_RC __wrap_Esys_Unseal(ESYS_CONTEXT *esys, ESYS_TR object, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                           TPM2B_SENSITIVE_DATA **ret);
TSS2_RC __wrap_Esys_Unseal(ESYS_CONTEXT *esys, ESYS_TR object, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                           TPM2B_SENSITIVE_DATA **ret) {
        TSS2_RC rc = answer(STEP_UNSEAL);

        assert_int_equal(object, OBJECT);
        assert_int_equal(s1, SESSION);
        if (rc != TSS2_RC_SUCCESS)
                return rc;
        /* A successful command flushes a policy session without continueSession. */
        tpm.loaded--;
        tpm.open_handles--;
        *ret = calloc(1, sizeof(TPM2B_SENSITIVE_DATA));
        assert_non_null(*ret);
        (*ret)->size = sizeof(sealed_data) - 1;
        memcpy((*ret)->buffer, sealed_data, sizeof(sealed_data) - 1);
        return rc;
}

TSS2_RC __wrap_Esys_FlushContext(ESYS_CONTEXT *esys, ESYS_TR handle);
TSS2_RC __wrap_Esys_FlushContext(ESYS_CONTEXT *esys, ESYS_TR handle) {
        assert_true(handle == OBJECT || handle == SESSION);
        tpm.loaded--;
        tpm.open_handles--;
        return TSS2_RC_SUCCESS;
}

/* ---- the tests ---- */

static void sealed_init(struct tpm2_sealed *s) {
        memset(s, 0, sizeof(*s));
        s->srk_name.size = 34;
        memset(s->srk_name.name, 0x11, 34);
}

/* One unseal against the script; checks that nothing is left in the TPM or open in ESAPI. */
static int unseal(const TPM2B_AUTH *auth, cvmseal_secret **ret) {
        tpm2_context *c = NULL;
        struct tpm2_sealed sealed;
        int r;

        sealed_init(&sealed);
        assert_int_equal(tpm2_context_new("mssim:host=localhost", &c), 0);
        r = tpm2_unseal(c, &sealed, CVMSEAL_SRK_HANDLE, UINT32_C(1) << 7, auth, ret);
        tpm2_context_free(c);
        assert_int_equal(tpm.loaded, 0);
        assert_int_equal(tpm.open_handles, 0);
        return r;
}

static void test_unseal(void **state) {
        static const TPM2B_AUTH auth = { .size = 32 };
        _cleanup_secret_ cvmseal_secret *s = NULL;

        script_reset();
        assert_int_equal(unseal(&auth, &s), 0);
        assert_int_equal(cvmseal_secret_size(s), sizeof(sealed_data) - 1);
        assert_memory_equal(cvmseal_secret_data(s), sealed_data, sizeof(sealed_data) - 1);
        /* 6 TPM commands: ReadPublic, Load, StartAuthSession, PolicyPCR, PolicyAuthValue, Unseal (the
         * 7th, FlushContext of the object, is counted in tpm.loaded). */
        for (enum step i = 0; i < _STEP_MAX; i++)
                assert_int_equal(tpm.calls[i], 1);
}

static void test_unseal_without_auth(void **state) {
        _cleanup_secret_ cvmseal_secret *s = NULL;

        /* A version 1 token without a PIN: no PolicyAuthValue. */
        script_reset();
        assert_int_equal(unseal(NULL, &s), 0);
        assert_int_equal(tpm.calls[STEP_POLICY_AUTH_VALUE], 0);
}

/* Each step refused in turn: the errno of the answer, and nothing left behind. */
static void test_each_step_fails(void **state) {
        static const struct {
                enum step step;
                TSS2_RC rc;
                int r;
        } cases[] = {
                { STEP_FROM_TPM_PUBLIC, TPM2_RC_HANDLE | TPM2_RC_H | TPM2_RC_1, -EREMCHG },  /* no SRK */
                { STEP_FROM_TPM_PUBLIC, TSS2_TCTI_RC_IO_ERROR, -ENODEV },                    /* channel dropped */
                { STEP_GET_NAME, TSS2_ESYS_RC_MEMORY, -ENOMEM },
                { STEP_LOAD, TPM2_RC_INTEGRITY | TPM2_RC_P | TPM2_RC_1, -EBADMSG },        /* damaged blob */
                { STEP_LOAD, TPM2_RC_OBJECT_MEMORY, -ENOBUFS },
                { STEP_START_SESSION, TSS2_ESYS_RC_MALFORMED_RESPONSE, -EBADMSG },
                { STEP_START_SESSION, TPM2_RC_FAILURE, -ENODEV },
                { STEP_SET_ATTRIBUTES, TSS2_ESYS_RC_BAD_REFERENCE, -EIO },
                { STEP_POLICY_PCR, TSS2_TCTI_RC_IO_ERROR, -ENODEV },
                { STEP_POLICY_AUTH_VALUE, TPM2_RC_FAILURE, -ENODEV },
                { STEP_SET_AUTH, TSS2_ESYS_RC_BAD_REFERENCE, -EIO },
                { STEP_UNSEAL, TPM2_RC_POLICY_FAIL | TPM2_RC_S | TPM2_RC_1, -EPERM },      /* PCRs differ */
                { STEP_UNSEAL, TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1, -EACCES },       /* wrong PIN */
                { STEP_UNSEAL, TPM2_RC_LOCKOUT, -ENOLCK },
                /* An answer whose session HMAC does not verify: forged on the channel. */
                { STEP_UNSEAL, TSS2_ESYS_RC_RSP_AUTH_FAILED, -ENODEV },
        };
        static const TPM2B_AUTH auth = { .size = 32 };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_secret_ cvmseal_secret *s = NULL;

                script_reset();
                tpm.answer[cases[i].step] = cases[i].rc;
                print_message("step %d answers 0x%x: expect %d\n", cases[i].step, (unsigned) cases[i].rc, cases[i].r);
                assert_int_equal(unseal(&auth, &s), cases[i].r);
                assert_null(s);
                for (enum step k = cases[i].step + 1; k < _STEP_MAX; k++)
                        assert_int_equal(tpm.calls[k], 0);
        }
}

static void test_wrong_srk(void **state) {
        _cleanup_secret_ cvmseal_secret *s = NULL;

        /* The TPM shows an SRK of another name: not the TPM the token was sealed to, and the salt of
         * a session never goes to that key. */
        script_reset();
        tpm.wrong_srk_name = true;
        assert_int_equal(unseal(NULL, &s), -EREMCHG);
        assert_int_equal(tpm.calls[STEP_LOAD], 0);
        assert_int_equal(tpm.calls[STEP_START_SESSION], 0);
}

static void test_retry(void **state) {
        _cleanup_secret_ cvmseal_secret *s = NULL, *t = NULL;

        /* RETRY a few times, then an answer: the unseal goes through. */
        script_reset();
        tpm.retries[STEP_UNSEAL] = 2;
        assert_int_equal(unseal(NULL, &s), 0);
        assert_int_equal(tpm.calls[STEP_UNSEAL], 3);

        /* RETRY for ever: a bounded number of tries, then -ETIMEDOUT (exit 6), nothing left loaded. */
        script_reset();
        tpm.retries[STEP_LOAD] = 1000;
        assert_int_equal(unseal(NULL, &t), -ETIMEDOUT);
        assert_in_range(tpm.calls[STEP_LOAD], 2, 20);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unseal),
                cmocka_unit_test(test_unseal_without_auth),
                cmocka_unit_test(test_each_step_fails),
                cmocka_unit_test(test_wrong_srk),
                cmocka_unit_test(test_retry),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
