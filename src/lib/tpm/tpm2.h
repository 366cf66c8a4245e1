/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "cvmseal.h"
#include "macro.h"

typedef struct tpm2_context tpm2_context;

/* Connects through the TCTI loader (tcti as cvmseal_tcti_resolve() resolves it).  -ENODEV when no
 * TPM answers there. */
int tpm2_context_new(const char *tcti, tpm2_context **ret);
void tpm2_context_free(tpm2_context *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(tpm2_context *, tpm2_context_free);

/* The SRK at CVMSEAL_SRK_HANDLE.  With create, a missing SRK is created (the TCG standard ECC P-256
 * template) and persisted; without, a missing SRK is -EREMCHG.  ret_name (optional) gets its name. */
int tpm2_srk(tpm2_context *c, bool create, ESYS_TR *ret_srk, TPM2B_NAME *ret_name);

/* Reads the sha256 PCRs of mask into values (32 bytes each, in ascending PCR order). */
int tpm2_pcr_read(tpm2_context *c, uint32_t mask, uint8_t values[][32]);

/* The policy digest that PolicyPCR over the sha256 PCRs of mask with those values (ascending PCR
 * order), followed by PolicyAuthValue when pin, leaves in a session.  Computed in software, so that
 * sealing to predicted values touches no TPM. */
int tpm2_policy_digest(uint32_t mask, const uint8_t values[][32], bool pin, TPM2B_DIGEST *ret);

/* The authValue of a PIN: SHA-256 of its bytes. */
int tpm2_pin_auth(const cvmseal_secret *pin, TPM2B_AUTH *ret);

struct tpm2_sealed {
        TPM2B_PUBLIC public;
        TPM2B_PRIVATE private;
        TPM2B_NAME srk_name;
        TPM2B_DIGEST policy;
        /* Sealed offline (tpm2-duplicate.h): private is a duplicate that tpm2_unseal() imports under
         * the SRK before Load, and this is its encrypted seed (inSymSeed).  size 0: a created object. */
        TPM2B_ENCRYPTED_SECRET seed;
};

/* Seals data under the SRK with the given authPolicy (a digest computed in software: PolicyPCR,
 * PolicyAuthorize... and PolicyAuthValue) and authValue auth (NULL: empty), through a session salted
 * with the SRK that encrypts the sensitive data on its way to the TPM.  noda: out of the TPM's
 * dictionary-attack logic (no PIN to guess).  srk_name (optional): the SRK must still have this name
 * (-EREMCHG otherwise); sealed->srk_name gets the name. */
int tpm2_seal_policy(tpm2_context *c, const TPM2B_NAME *srk_name, const TPM2B_DIGEST *policy, const TPM2B_AUTH *auth,
                     bool noda, const cvmseal_secret *data, struct tpm2_sealed *ret);

/* The name of the SRK at CVMSEAL_SRK_HANDLE (-EREMCHG when there is none, or not of cvmseal's template). */
int tpm2_srk_name(tpm2_context *c, TPM2B_NAME *ret_name);

/* The SRK's marshalled TPM2B_PUBLIC (create: make it when missing, as enroll does) and its name. */
int tpm2_srk_public(tpm2_context *c, bool create, uint8_t **ret, size_t *ret_size, TPM2B_NAME *ret_name);

/* Extends PCR pcr of every active bank with the digest of event (TPM2_PCR_Event, at most 1024 bytes). */
int tpm2_pcr_event(tpm2_context *c, unsigned pcr, const void *event, size_t size);

/* An HMAC session salted with the SRK (srk_name: it must have this name, -EREMCHG otherwise; NULL:
 * any; create: make the SRK when there is none, as enroll does), continued across commands: what the lock reads and extends PCRs through, so that a forged
 * answer is refused.  Close it with tpm2_session_close(). */
int tpm2_hmac_session(tpm2_context *c, const TPM2B_NAME *srk_name, bool create, ESYS_TR *ret);
void tpm2_session_close(tpm2_context *c, ESYS_TR *session);
/* PCR_Read of the sha256 PCRs of mask (ascending order) with session as an audit session: the
 * responses are authenticated. */
int tpm2_pcr_read_authenticated_mask(tpm2_context *c, ESYS_TR session, uint32_t mask, uint8_t values[][32]);
/* PCR_Read of one sha256 PCR with session as an audit session: the response is authenticated. */
int tpm2_pcr_read_authenticated(tpm2_context *c, ESYS_TR session, unsigned pcr, uint8_t ret[32]);
/* PCR_Event authorized through session: a success is authenticated by the response HMAC. */
int tpm2_pcr_event_authenticated(tpm2_context *c, ESYS_TR session, unsigned pcr, const void *event, size_t size);

/* The frame of every unseal: ReadPublic of the SRK at srk_handle (its name must be the sealed one:
 * -EREMCHG), Import when the object was sealed offline, Load (a refused blob: -EBADMSG),
 * StartAuthSession (policy, salted with the SRK, AES-128-CFB), policy() to run the object's policy in
 * the session, [PolicyAuthValue with auth as the object's authValue,] Unseal with the response
 * encrypted, ESAPI's response buffer and copy of the authValue wiped; the session and the object are
 * flushed and the SRK's handle closed whatever happens. */
typedef int (*tpm2_policy_fn)(tpm2_context *c, ESYS_TR session, void *userdata);
int tpm2_unseal_with_policy(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle,
                            tpm2_policy_fn policy, void *userdata, const TPM2B_AUTH *auth, cvmseal_secret **ret);

/* Unseals: ReadPublic of the SRK (its name must be the sealed one), [Import when sealed->seed is set,]
 * Load, StartAuthSession (policy, salted with the SRK, AES-128-CFB), PolicyPCR, [PolicyAuthValue with
 * auth,] Unseal with the response encrypted, FlushContext.  auth NULL: a version 1 object without a
 * PIN, whose policy has no PolicyAuthValue. */
int tpm2_unseal(tpm2_context *c, const struct tpm2_sealed *sealed, uint32_t srk_handle, uint32_t mask,
                const TPM2B_AUTH *auth, cvmseal_secret **ret);

/* The TPM's dictionary-attack state (GetCapability of TPM2_PT_LOCKOUT_COUNTER, TPM2_PT_MAX_AUTH_FAIL
 * and TPM2_PT_LOCKOUT_INTERVAL): the failure counter, the failures allowed, and the seconds after
 * which one failure is forgiven.  One command; only for explaining a lockout (-ENOLCK), never on the
 * unlock path. */
int tpm2_lockout_info(tpm2_context *c, unsigned *ret_counter, unsigned *ret_max, unsigned *ret_interval);

/* Marshalling of the sealed object's public and private areas, for the token. */
int tpm2_sealed_marshal(const struct tpm2_sealed *s, uint8_t **ret_pub, size_t *ret_pub_size,
                        uint8_t **ret_priv, size_t *ret_priv_size);
int tpm2_sealed_unmarshal(const uint8_t *pub, size_t pub_size, const uint8_t *priv, size_t priv_size,
                          const uint8_t *srk_name, size_t srk_name_size, struct tpm2_sealed *ret);

/* The errno for a TSS2_RC (see cvmseal.h for the fixed meanings). */
int tpm2_rc_to_errno(TSS2_RC rc);
/* Does the TPM ask to send the command again (RETRY, YIELDED, TESTING)? */
bool tpm2_rc_is_retry(TSS2_RC rc);
/* Logs the TSS's own decoding of rc at debug level (what: the command) and returns its errno. */
int tpm2_tss_error(TSS2_RC rc, const char *what);
/* The pause before sending a command again: 10 ms, doubling, at most 640 ms. */
void tpm2_backoff(unsigned try);

/* A TPM may ask for a command to be sent again (RETRY, YIELDED, TESTING).  tpm2-tss's ESAPI resends
 * up to five times at once; past that, we wait and send again, for up to about 3 s in all.  The
 * command was not executed, so sending it again is always safe. */
#define TPM2_RETRIES 8
#define TPM2_CALL(rc, call)                                                             \
        do {                                                                            \
                for (unsigned _try = 0;; _try++) {                                      \
                        (rc) = (call);                                                  \
                        if (!tpm2_rc_is_retry(rc) || _try >= TPM2_RETRIES)              \
                                break;                                                  \
                        log_debug("The TPM asked to retry %s (0x%x), try %u",            \
                                  #call, (unsigned) (rc), _try + 1);                    \
                        tpm2_backoff(_try);                                             \
                }                                                                       \
        } while (0)

/* ---- attestation evidence ---- */

#define TPM2_AZURE_HCL_REPORT_INDEX UINT32_C(0x01400001)
#define TPM2_AZURE_USER_DATA_INDEX UINT32_C(0x01400002)
#define TPM2_AZURE_AK_HANDLE UINT32_C(0x81000003)
#define TPM2_NV_CHUNK 1024U

/* NV indices and the AK go through SAPI on their raw handles with an empty password (the owner's
 * authorization for NV, else the index's own): no ReadPublic/NV_ReadPublic is sent to name them.
 * -ENOENT when the index (the AK) is not there. */

/* Reads size bytes at offset of an NV index, in chunks of at most TPM2_NV_CHUNK bytes.  -ERANGE when
 * that is beyond the index's end (TPM_RC_NV_RANGE). */
int tpm2_nv_read_at(tpm2_context *c, uint32_t index, size_t offset, size_t size, uint8_t *buf);
/* The size of an NV index (one NV_ReadPublic). */
int tpm2_nv_size(tpm2_context *c, uint32_t index, size_t *ret);
/* Reads a whole NV index: its size from NV_ReadPublic, then tpm2_nv_read_at(). */
int tpm2_nv_read(tpm2_context *c, uint32_t index, uint8_t **ret, size_t *ret_size);
/* Writes data (at most TPM2_NV_CHUNK bytes) at offset 0 of an NV index. */
int tpm2_nv_write(tpm2_context *c, uint32_t index, const uint8_t *data, size_t size);

/* A quote of the sha256 PCRs of mask (0: none, a quote of no PCR) with qualifyingData = nonce, by the
 * AK at ak_handle (Azure's 0x81000003; -ENOENT when there is none: no key is ever created for the
 * occasion).  Returns the TPMS_ATTEST bytes and the marshalled TPMT_SIGNATURE; with ret_ak_public
 * (else NULL: no ReadPublic is sent) the AK's marshalled TPM2B_PUBLIC; with a mask, the PCR values
 * read after the quote (32 bytes each, ascending PCR order; one PCR_Read per 8 PCRs).  Commands:
 * Quote [, ReadPublic] [, PCR_Read...]. */
int tpm2_quote(tpm2_context *c, uint32_t ak_handle, const uint8_t *nonce, size_t nonce_size, uint32_t mask,
               uint8_t **ret_message, size_t *ret_message_size, uint8_t **ret_signature, size_t *ret_signature_size,
               uint8_t **ret_ak_public, size_t *ret_ak_public_size, uint8_t values[][32]);

/* TPM2_Certify of the SRK (CVMSEAL_SRK_HANDLE) by the AK at ak_handle with qualifyingData = nonce: the
 * TPMS_ATTEST bytes and the marshalled TPMT_SIGNATURE, to check with the AK's public key (which a
 * hardware report vouches for), so that the SRK a first boot pins is this TPM's, not an
 * interposer's. */
int tpm2_certify_srk(tpm2_context *c, uint32_t ak_handle, const uint8_t *nonce, size_t nonce_size, uint8_t **ret_message,
                     size_t *ret_message_size, uint8_t **ret_signature, size_t *ret_signature_size);

/* ---- for the policies of other files of tpm/ (signed-policy.c) ---- */

/* The ESAPI context of c. */
ESYS_CONTEXT *tpm2_esys(tpm2_context *c);
