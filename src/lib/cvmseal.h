/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcvmseal: seals the unlock secret of a LUKS2 volume to a (v)TPM and unlocks the volume with it.
 *
 * Conventions
 *   - Functions return 0 (or a non-negative value) on success and a negative errno on failure.
 *     The errno values below have a fixed meaning; callers map them to their own codes (the
 *     command line to its exit codes, the token plugin to libcryptsetup's).
 *   - Output parameters are named ret_*, come last, and are written only on success.
 *   - Secrets cross this interface only as cvmseal_secret buffers (locked, wiped on free).
 *   - The library logs at debug level only, through cvmseal_set_log().
 *
 * Errors with a fixed meaning
 *   -EPERM        the TPM policy is not satisfied: the boot state (PCRs) differs from the enrolled
 *                 one, or the lock PCR has been extended
 *   -EREMCHG      this is not the TPM the token was sealed to (the SRK name differs or is absent)
 *   -ENODEV       no TPM could be reached through the TCTI
 *   -ETIMEDOUT    the TPM kept answering RETRY/YIELDED/TESTING
 *   -ENOBUFS      the TPM is out of memory for objects or sessions
 *   -ENOANO       a PIN is needed and none was given
 *   -EACCES       the PIN is wrong (the TPM refused the authorization)
 *   -ENOLCK       the TPM is in dictionary-attack lockout
 *   -EMEDIUMTYPE  the device is not a LUKS2 device
 *   -ENOMEDIUM    the device has no (usable) cvmseal token, or not the one asked for
 *   -EBADMSG      a token (or a TPM blob in it) is malformed or damaged
 *   -EKEYREJECTED the unlock key opens no keyslot of the device
 *   -ENOSPC       no free keyslot or token, or the LUKS2 metadata area is full
 *   -EBUSY        the operation would remove the last way into the volume
 *   -ENOTSUP      the operation needs something this system lacks (device-mapper for activation)
 *   -ENOKEY       the HSM module, token or key is not there
 *   -ENOTUNIQ     the HSM URI matches more than one key
 *   -EKEYREVOKED  the HSM refused: wrong HSM PIN, or not the key the token was bound to
 *   -EKEYEXPIRED  the HSM key is not fit for a binding (extractable, not sensitive, another kind)
 *   -EEXIST       (hsm keygen) a key of that name exists already
 *   -EBADE        attestation failed: the evidence does not satisfy the token's policy
 *   -EPROTO       the attestation evidence this machine gives is malformed
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CVMSEAL_SRK_HANDLE UINT32_C(0x81000001)
#define CVMSEAL_SECRET_MAX (8U * 1024U * 1024U) /* as libcryptsetup's key files */
#define CVMSEAL_PCR_MAX 24U

/* ---- logging ---- */
typedef void (*cvmseal_log_fn)(int level, const char *message, void *userdata);
/* Receives the library's debug messages (syslog levels); NULL silences them (the default). */
void cvmseal_set_log(cvmseal_log_fn fn, void *userdata);

/* ---- secrets ---- */
typedef struct cvmseal_secret cvmseal_secret;
cvmseal_secret *cvmseal_secret_new(size_t size);
cvmseal_secret *cvmseal_secret_new_from(const void *data, size_t size);
void cvmseal_secret_free(cvmseal_secret *s);
const uint8_t *cvmseal_secret_data(const cvmseal_secret *s);
size_t cvmseal_secret_size(const cvmseal_secret *s);
/* Reads a whole file ("-": standard input) into a secret, at most max bytes (0: the default
 * maximum).  strip_newline drops trailing CR/LF (for PINs); key files are taken byte for byte.
 * -ENODATA when empty, -EFBIG when longer than max. */
int cvmseal_secret_read_file(const char *path, size_t max, bool strip_newline, cvmseal_secret **ret);
int cvmseal_secret_read_fd(int fd, size_t max, bool strip_newline, cvmseal_secret **ret);
/* Reads one line (without its newline) from fd, consuming nothing after it: for a terminal. */
int cvmseal_secret_read_line(int fd, size_t max, cvmseal_secret **ret);

/* ---- PCR selections ---- */
/* Parses "7", "0,2,7" or "0+7" into a bit mask of sha256 PCRs (-EINVAL on anything else). */
int cvmseal_pcr_mask_parse(const char *s, uint32_t *ret_mask);

/* ---- operations ---- */
struct cvmseal_enroll_params {
        const char *tcti;             /* NULL: $CVMSEAL_TCTI, then device:/dev/tpmrm0 */
        uint32_t pcr_mask;            /* sha256 PCRs the secret is sealed to (at least one) */
        const cvmseal_secret *pin;    /* NULL: no PIN (the object is then noda) */
        bool recovery_key;            /* also add a recovery-key keyslot */
        const char *hsm_uri;          /* bind to this HSM key too (pkcs11: URI), or NULL */
        const cvmseal_secret *hsm_pin;/* the HSM PIN; NULL: the URI's pin-value/pin-source, if any */
        bool hsm_allow_extractable;   /* accept an extractable HSM key */
        const char *attest_policy;    /* gate the unlock on attestation: the policy JSON text, or NULL */
};

struct cvmseal_enroll_result {
        int token_id;
        int keyslot;
        int recovery_keyslot;           /* -1 without a recovery key */
        cvmseal_secret *recovery_key;   /* NUL-terminated text; owned by the caller */
};

/* Adds a keyslot opened by a secret sealed to the TPM, and the cvmseal token that describes it.
 * unlock_key must open an existing keyslot.  The sealed secret is unsealed once to verify it before
 * anything is written; on failure nothing is left behind. */
int cvmseal_enroll(const char *device, const cvmseal_secret *unlock_key,
                   const struct cvmseal_enroll_params *params, struct cvmseal_enroll_result *ret);

struct cvmseal_unlock_params {
        const char *tcti;
        int token_id;                 /* -1: every cvmseal token in turn */
        const cvmseal_secret *pin;    /* for tokens enrolled with a PIN */
        const char *name;             /* NULL: only prove the keyslot opens; else activate NAME */
        char **ret_attest_failures;   /* optional: on -EBADE, the failed checks ("check: why; ...") */
};

struct cvmseal_unlock_result {
        int token_id;
        int keyslot;
        cvmseal_secret *passphrase;   /* when ret_passphrase was asked for; owned by the caller */
};

/* Unseals a token's secret, derives the passphrase and opens its keyslot (activating params->name
 * when given).  want_passphrase returns the passphrase too (for a keyscript). */
int cvmseal_unlock(const char *device, const struct cvmseal_unlock_params *params, bool want_passphrase,
                   struct cvmseal_unlock_result *ret);

/* Describes the device's keyslots and cvmseal tokens, without touching the TPM. */
int cvmseal_list(const char *device, json_object **ret);

/* Removes a cvmseal token and the keyslots only it uses; refuses (-EBUSY) when no other keyslot
 * would be left.  ret_keyslots (optional) receives the removed keyslots as a JSON array. */
int cvmseal_remove(const char *device, int token_id, json_object **ret_keyslots);

/* Creates a key fit for an HSM binding where uri says: type=secret-key (the default) makes an
 * AES-256 key, type=private an RSA-3072 key pair; token-resident, sensitive, never extractable.
 * ret_info (optional) gets {"uri", "mechanism"}. */
int cvmseal_hsm_keygen(const char *uri, const cvmseal_secret *pin, json_object **ret_info);

/* The PIN a URI carries: pin-value, or the first line of the file pin-source names (1: found, 0: the
 * URI has none, negative errno: the file cannot be read). */
int cvmseal_hsm_uri_pin(const char *uri, cvmseal_secret **ret);

/* uri without its PIN attributes (what may be stored and shown); -EINVAL when it is no HSM URI. */
int cvmseal_hsm_uri_public(const char *uri, char **ret);

/* ---- the LUKS2 token plugin (libcryptsetup-token-cvmseal.so) ---- */

struct crypt_device;

/* Unseals cvmseal token token_id of cd (the same checks as cvmseal_unlock: SRK, PCRs, PIN, HSM,
 * attestation gate) and returns the keyslot passphrase, leaving the keyslot to libcryptsetup. */
int cvmseal_token_open(struct crypt_device *cd, int token_id, const cvmseal_secret *pin,
                       cvmseal_secret **ret_passphrase);
/* Strict validation of a cvmseal token's JSON: 0, or -EBADMSG. */
int cvmseal_token_validate(const char *json);
/* A human description of a token (for cryptsetup luksDump). */
int cvmseal_token_describe(const char *json, char **ret);

/* ---- attestation ---- */

/* Collects evidence (DESIGN's evidence document) with nonce: the vTPM's HCL report and a quote (when
 * tcti reaches a TPM; NULL: the default TCTI), configfs-tsm, the event log, the certificate cache
 * ($CVMSEAL_CERT_CACHE, else /etc/cvmseal/certs). */
int cvmseal_attest_collect(const char *tcti, const uint8_t *nonce, size_t nonce_size, json_object **ret_evidence);

/* Verifies evidence against a policy.  0 with *ret_result = {"verdict": "pass"|"fail", "failures":
 * [...], "claims": {...}}; -EBADMSG when either document is malformed. */
int cvmseal_attest_verify(json_object *evidence, json_object *policy, json_object **ret_result);

/* The TPM's dictionary-attack state, to explain an -ENOLCK: the failure counter, the failures allowed
 * (TPM2_PT_MAX_AUTH_FAIL) and the seconds after which one failure is forgiven (TPM2_PT_LOCKOUT_INTERVAL).
 * One GetCapability command; not part of any other operation. */
int cvmseal_tpm_lockout_info(const char *tcti, unsigned *ret_counter, unsigned *ret_max, unsigned *ret_interval);

/* The TCTI configuration that would be used for tcti (NULL: the environment, then the default). */
const char *cvmseal_tcti_resolve(const char *tcti);

const char *cvmseal_version(void);

#ifdef __cplusplus
}
#endif
