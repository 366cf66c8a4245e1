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
 *   -EEXIST       (hsm keygen) a key of that name exists already; (image encrypt) IMG exists
 *   -ECANCELED    (image encrypt) the progress callback cancelled; nothing was left behind
 *   -ENOMSG       (tokens sealed with a public key) no signed policy matches the boot state: none is
 *                 installed, none verifies with the token's key, or none has the current PCR values
 *   -EBADE        attestation failed: the evidence does not satisfy the token's policy
 *   -EPROTO       the attestation evidence this machine gives is malformed
 *   -EDOM         (offline sealing) a PCR to seal to has no value in the pcr-values document
 *   -EOPNOTSUPP   (offline sealing) the target SRK is no storage key that can import
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
#define CVMSEAL_LOCK_PCR 15U     /* extended by the initramfs when it is done (docs/boot.md) */

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

/* ---- errors: one table for the command line and the token plugin (util/strerror.c) ---- */
/* The exit codes of the command-line contract (DESIGN, docs/cvmseal.1). */
enum {
        CVMSEAL_EXIT_OK = 0,
        CVMSEAL_EXIT_OTHER = 1,
        CVMSEAL_EXIT_USAGE = 2,
        CVMSEAL_EXIT_POLICY = 3,
        CVMSEAL_EXIT_ATTESTATION = 4,
        CVMSEAL_EXIT_HSM = 5,
        CVMSEAL_EXIT_NO_TPM = 6,
        CVMSEAL_EXIT_PIN = 7,
        CVMSEAL_EXIT_NO_TOKEN = 8,
        CVMSEAL_EXIT_LOCKOUT = 9,
        CVMSEAL_EXIT_MALFORMED = 10,
};
/* The exit code for a library error (negative errno); CVMSEAL_EXIT_OK for r >= 0. */
int cvmseal_exit_code(int r);
/* The operator's words for a library error (negative errno), without what it was about: static
 * text, never NULL (strerror()'s for an errno the table does not know). */
const char *cvmseal_strerror(int r);

/* What a failed operation was about, for cvmseal_error_message(). */
struct cvmseal_error_context {
        const char *subject;          /* the device or the operation ("attest collect"); NULL: none */
        const char *tcti;             /* as given to the operation (NULL: the environment, then the default) */
        bool tpm_detail;              /* name the TCTI in TPM messages; for a lockout, ask the TPM when it
                                         ends (one more command) */
        int token_id;                 /* the token it was about, or -1 */
        const char *name;             /* the mapping it was to activate, or NULL */
        bool hsm_provider;            /* the HSM key is an OpenSSL provider's */
};
/* The whole message for a library error (negative errno) into buf (truncated to size): the table's
 * words with the subject, the token, the TCTI.  Returns cvmseal_exit_code(r).  c may be NULL. */
int cvmseal_error_message(int r, const struct cvmseal_error_context *c, char *buf, size_t size);

/* ---- files that are not secrets (util/fileio.c) ---- */
/* Reads a whole file ("-": standard input) to its end, at most max bytes (-EFBIG beyond), into a
 * malloc()ed buffer with a NUL after the data (not counted in *ret_size).  An empty file gives 0. */
int cvmseal_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);
/* Reads a file that holds exactly one JSON document, white space around it at most: -EPROTO when it
 * does not (empty, not JSON, trailing text, a NUL).  ret_text (may be NULL) gets its exact text. */
int cvmseal_read_json_file(const char *path, size_t max, char **ret_text, json_object **ret);
enum {
        CVMSEAL_WRITE_NEW = 1 << 0,     /* a new file of mode 0600, never over one that exists (-EEXIST);
                                           synced, and removed again when the write fails */
        CVMSEAL_WRITE_ATOMIC = 1 << 1,  /* a temporary file of mode 0644 beside it, synced, renamed over it */
};
/* Writes data to path ("-": standard output); without a flag, created or truncated, mode 0644.  The
 * two flags exclude each other (-EINVAL). */
int cvmseal_write_file(const char *path, const void *data, size_t size, unsigned flags);

/* ---- PINs (util/pin.c) ---- */
#define CVMSEAL_PIN_MAX 1024U         /* a TPM PIN */
#define CVMSEAL_HSM_PIN_MAX 96U       /* an HSM PIN: sealed in the TPM with the 32-byte share */
/* Reads a PIN from path ("-": standard input; trailing CR/LF dropped) when path is given, else from
 * the terminal after prompt, without echo (asked twice with confirm: -EKEYREJECTED when the two
 * differ).  At most max bytes (-EFBIG beyond); -ENODATA for an empty file, -ENOANO when there is no
 * terminal to ask or nothing was typed. */
int cvmseal_pin_read(const char *path, const char *prompt, bool confirm, size_t max, cvmseal_secret **ret);

/* ---- PCR selections ---- */
/* Parses "7", "0,2,7" or "0+7" into a bit mask of sha256 PCRs (-EINVAL on anything else). */
int cvmseal_pcr_mask_parse(const char *s, uint32_t *ret_mask);

/* ---- signed policies (TPM2_PolicyAuthorize) ---- */

/* Signs the PCR values of a pcr-values document (text, size bytes) for tokens enrolled with
 * tpm2_public_key = this key's public half: key_pem is the PEM private key (RSA 2048-4096, or ECC
 * P-256; not encrypted), pcr_mask the PCRs to sign (0: every PCR of the document).  Returns the
 * signed-policy document (docs/image-pipeline.md).  -EKEYREJECTED: not a usable unencrypted private
 * key; -EBADMSG: the pcr-values document is malformed; -EDOM: it lacks a PCR of pcr_mask. */
int cvmseal_policy_sign(const cvmseal_secret *key_pem, const char *pcr_values, size_t pcr_values_size,
                        uint32_t pcr_mask, json_object **ret_document);

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
        /* Offline sealing (touches no TPM): the target TPM's SRK, as a marshalled TPM2B_PUBLIC
         * (cvmseal_srk_export()), and the pcr-values document (text) with the values of pcr_mask.
         * Both or neither.  Not verified by unsealing (result.verified is false). */
        const uint8_t *srk_public;
        size_t srk_public_size;
        const char *pcr_values;
        bool no_lock_pcr;             /* do not add the lock PCR (15) to pcr_mask (docs/boot.md) */
        /* Seal to PolicyAuthorize by this signing key (PEM text of an RSA 2048-4096 or ECC P-256 public
         * key), or NULL.  pcr_mask then names the PCRs the signed policies (`policy sign`) cover;
         * result.verified is true only when a signed policy for this boot state is already installed. */
        const char *tpm2_public_key;
        /* An HSM key of an OpenSSL provider (docs/hsm.md): hsm_uri is then an OSSL_STORE URI and
         * hsm_provider the provider's name, which local configuration must allow.  A URI with
         * {key-blob} keeps hsm_key_blob (a masked key) in the token.  With hsm_public_key (the key's
         * PEM public half) the share is encrypted to it and the HSM is not touched: an offline bind
         * (result.verified is false); the provider's name is then only checked to be a bare name.
         * -EINVAL for a provider that is no bare name or that the configuration does not allow. */
        const char *hsm_provider;
        const uint8_t *hsm_key_blob;
        size_t hsm_key_blob_size;
        const char *hsm_public_key;
        /* The way in without a passphrase (docs/migration.md): with unlock_with_token, unlock_key is NULL
         * and the volume key comes through token unlock_token_id - its libcryptsetup plugin
         * (systemd-tpm2, systemd-fido2, systemd-pkcs11: libcryptsetup 2.6), `clevis luks pass` for a
         * clevis token, or an unseal for a cvmseal token.  wipe_token: once the new token has opened its
         * keyslot, that token is removed, and its keyslot when no other token uses it.  Not offline. */
        bool unlock_with_token;
        int unlock_token_id;
        bool wipe_token;
};

struct cvmseal_enroll_result {
        int token_id;
        int keyslot;
        bool verified;                  /* unsealed once before writing (false: the lock PCR is extended
                                           in this boot, so the object first unseals at the next boot) */
        int recovery_keyslot;           /* -1 without a recovery key */
        cvmseal_secret *recovery_key;   /* NUL-terminated text; owned by the caller */
        int wiped_token;                /* wipe_token: the token removed, -1 when none was */
        uint32_t wiped_keyslots;        /* and the keyslots removed with it (a bit mask) */
        int wipe_error;                 /* wipe_token: why the old token stayed (negative errno), else 0 */
        bool rekey_started;             /* cvmseal_provision(): the rekey to a new key started in this run */
};

/* Adds a keyslot opened by a secret sealed to the TPM, and the cvmseal token that describes it.
 * unlock_key (or, with unlock_with_token, another token) must open an existing keyslot.  The sealed
 * secret is unsealed once to verify it before anything is written; on failure nothing is left behind.
 * With unlock_with_token: -ENOMEDIUM when there is no such token, -ENOPROTOOPT when nothing here can
 * open a token of its type, -ENOANO when it needs a PIN, -EKEYREJECTED when it does not open. */
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
        int token_version;            /* 1: the TPM does not bind the token to its members (reseal it) */
};

/* Unseals a token's secret, derives the passphrase and opens its keyslot (activating params->name
 * when given).  want_passphrase returns the passphrase too (for a keyscript). */
int cvmseal_unlock(const char *device, const struct cvmseal_unlock_params *params, bool want_passphrase,
                   struct cvmseal_unlock_result *ret);

/* Describes the device's keyslots and cvmseal tokens, without touching the TPM. */
int cvmseal_list(const char *device, json_object **ret);

struct cvmseal_reseal_params {
        const char *tcti;
        int token_id;                 /* -1: every cvmseal token, one after the other */
        uint32_t pcr_mask;            /* 0: the old token's PCRs; the lock PCR stays when it had it */
        const char *pcr_values;       /* a pcr-values document (text): seal to these (predicted) values;
                                         PCRs it lacks take their current values; NULL: all current */
        const cvmseal_secret *pin;    /* the TPM PIN of a token that has one; the new token keeps it */
        const cvmseal_secret *unlock_key; /* NULL: unseal the old token to get in (the boot state must
                                         satisfy it); else a passphrase or key file of any keyslot */
        const cvmseal_secret *hsm_pin;/* the HSM PIN, when it cannot come from the unsealed token */
        bool rotate;                  /* a new secret only: the same PCRs at their current values */
        char **ret_attest_failures;   /* optional: on -EBADE, the failed checks */
};

/* Reseal (or rotate) cvmseal tokens: for each, a new keyslot with a new secret and a new token with
 * the same protections (HSM key, attestation policy, PIN, lock PCR) and the new PCR values are added
 * and verified before the old token and its keyslot are removed.  Crash-safe: a kill at any moment
 * leaves the old or the new token working, and what it interrupted is finished by the next enroll,
 * reseal or rotate (docs/design.md).  ret: [{"token", "keyslot", "pcrs", "verified": "unsealed" |
 * "loaded", "removed": {"token", "keyslot"}}], one per token.  On failure the tokens done before stay
 * done. */
int cvmseal_reseal(const char *device, const struct cvmseal_reseal_params *params, json_object **ret);

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

/* Whether local configuration (cvmseal.conf: "hsm-provider = NAME [PROPERTY-QUERY]") allows the
 * OpenSSL provider name for the HSM binding: 0; -EPERM when it does not; -EINVAL when name is no bare
 * name (a path is never loaded); -EBADMSG when cvmseal.conf is malformed.  Loads nothing. */
int cvmseal_hsm_provider_check(const char *name);

/* Makes a key for an HSM binding through the OpenSSL provider, the way that provider allows
 * (docs/hsm.md): with AziHSM (uri azihsm://{key-blob};type=rsa) an RSA-3072 key generated here in
 * locked memory, imported as keyEncipherment and wiped; with other providers an EC P-256 key
 * generated inside the device.  uri must name the key blob by {key-blob}; ret_blob gets the blob
 * (the file that {key-blob} names: a masked key, a TPM-wrapped key), ret_info (optional)
 * {"provider", "uri", "mechanism", "fingerprint", "public-key"}. */
int cvmseal_hsm_provider_keygen(const char *provider, const char *uri, uint8_t **ret_blob, size_t *ret_blob_size,
                                json_object **ret_info);

/* ---- boot ---- */

/* Extends the lock PCR (15) once in this boot, after recording its value from before in
 * /run/cvmseal/lock.json ($CVMSEAL_LOCK_RECORD), so that no cvmseal token unseals again until the next
 * boot.  Calling it again does nothing.  ret_info (optional): {"pcr", "already-locked", "before",
 * "after", "record"}. */
int cvmseal_lock(const char *tcti, json_object **ret_info);

struct cvmseal_provision_params {
        const char *tcti;
        uint32_t pcr_mask;            /* 0: the marker's PCRs, else 7 (the lock PCR is added) */
        const char *attest_policy;    /* NULL: the marker's policy, if any */
        const cvmseal_secret *hsm_pin;/* for a marker that binds to an HSM key */
        char **ret_attest_failures;   /* optional: on -EBADE, the failed checks */
};

/* First boot of a pipeline-built image: when the device carries a provisioning marker (a
 * "cvmseal-provision" token, written by cvmseal_image_encrypt()), enrolls it to this TPM (and HSM)
 * with the marker's PCRs and attestation policy - the policy is verified first, so a platform that
 * fails it gets nothing - then removes the marker and destroys the provisioning keyslot.  Returns 1
 * when it enrolled, 0 when there was no marker; ret (optional) gets the enrollment. */
int cvmseal_provision(const char *device, const struct cvmseal_provision_params *params,
                      struct cvmseal_enroll_result *ret);

/* ---- rekey: re-encryption to a new volume key (docs/design.md, "Rekey") ---- */

/* Progress of a long operation: done of total bytes.  A non-zero return cancels it (-ECANCELED). */
typedef int (*cvmseal_progress_fn)(uint64_t done, uint64_t total, void *userdata);

struct cvmseal_rekey_params {
        const char *tcti;
        /* A passphrase or recovery key of the volume: it gets the old volume key (after the lock, the
         * tokens cannot), and its keyslot is carried over to the new key.  NULL: the key the initramfs
         * handed over in the kernel keyring, else a token's unseal. */
        const cvmseal_secret *unlock_key;
        const cvmseal_secret *pin;    /* the TPM PIN of tokens that have one */
        uint32_t drop_mask;           /* keyslots of the old key the caller gives up (they are destroyed at
                                         the end); any other that cannot be carried over refuses (-EBUSY) */
        bool start_only;              /* put the volume into reencryption, do not re-encrypt yet */
        bool resume_only;             /* only go on with a rekey under way; nothing to do otherwise (0) */
        cvmseal_progress_fn progress; /* called as the data is re-encrypted; non-zero stops cleanly (the
                                         volume stays in reencryption, resumable) */
        void *userdata;
        char **ret_attest_failures;
};

/* Re-encrypts the volume to a new volume key generated here, or resumes a reencryption where it
 * stopped (after a crash too).  A volume that is not in reencryption yet: every cvmseal token is
 * replaced by one whose keyslot holds the new key (and a twin of the old key, for the time of the
 * reencryption); the unlock key's keyslot is carried over; every other keyslot of the old key must be
 * in drop_mask (-EBUSY otherwise).  Online (through the active /dev/mapper device) when the volume is
 * open, else offline (an image file).  When the data is done, libcryptsetup destroys every keyslot of
 * the old key.  ret (optional): {"device", "state": "running"|"finished", "started", "name", "replaced",
 * "dropped"}.  -EBUSY also for a volume whose first boot has not run (a provisioning marker). */
int cvmseal_rekey(const char *device, const struct cvmseal_rekey_params *params, json_object **ret);

/* The volumes whose rekey the initramfs handed over to the booted system (their passphrase is in
 * root's user keyring): a NULL-terminated array of device paths (/dev/disk/by-uuid/UUID, else the
 * device under the active mapping).  An empty array when there are none. */
int cvmseal_rekey_handed_over(char ***ret_devices);

/* Where the rekey of a volume stands, from its header (and the running process's progress file):
 * {"device", "state": "not-needed"|"pending"|"starting"|"running"|"finished"|"invalid", "bytes-done",
 * "bytes-total", "rate" (bytes/s), "active", "crashed"}.  Reads only. */
int cvmseal_rekey_status(const char *device, json_object **ret);

/* ---- offline sealing (docs/image-pipeline.md) ---- */

/* This TPM's SRK (CVMSEAL_SRK_HANDLE) as a marshalled TPM2B_PUBLIC, for enrolling offline to it.
 * With create, a missing SRK is created (the TCG ECC P-256 template, as enroll does) and persisted;
 * without, -EREMCHG.  ret_info (optional): {"srk-handle", "name", "type": "ecc"|"rsa", "key",
 * "public": "<base64>"}. */
int cvmseal_srk_export(const char *tcti, bool create, uint8_t **ret_public, size_t *ret_size,
                       json_object **ret_info);
/* Checks a target SRK's marshalled TPM2B_PUBLIC (-EBADMSG: not one; -EOPNOTSUPP: no storage key this
 * can seal to) and describes it: {"srk-handle", "name", "type", "key"}. */
int cvmseal_srk_public_info(const uint8_t *pub, size_t size, json_object **ret_info);
/* Parses a pcr-values document (text, size bytes) and gives the PCRs to seal to: mask, or with mask 0
 * every PCR the document has.  -EBADMSG: malformed; -EDOM: a PCR of mask (or any, for 0) is missing. */
int cvmseal_pcr_values_select(const char *text, size_t size, uint32_t mask, uint32_t *ret_mask);

/* ---- diagnosis (docs/diagnose.md) ---- */

struct cvmseal_diagnose_params {
        const char *tcti;             /* NULL: $CVMSEAL_TCTI, then device:/dev/tpmrm0 */
        int token_id;                 /* -1: every token */
        const char *event_log;        /* this boot's TCG event log: NULL $CVMSEAL_EVENT_LOG, else securityfs's
                                         binary_bios_measurements; "" none; "-" standard input */
        const char *kernel;           /* a kernel (PE image) that may be the enrolled boot's, or NULL */
        const char *initrd;           /* an initrd that may be the enrolled boot's, or NULL */
        const char *boot_dir;         /* more such candidates (vmlinuz-*, initrd.img-*): NULL $CVMSEAL_BOOT_DIR,
                                         else /boot; "" none */
        const cvmseal_secret *hsm_pin;/* checks an HSM key whose PIN is sealed in the TPM; NULL: the module and
                                         token only */
        bool pcrs_only;               /* the token and the PCRs only: no attestation, HSM or lockout check */
};

/* Says for each token of the device whether an unlock would succeed now, and when not why, with every
 * check of unlock in unlock's order - the token, the TPM, attestation (collect and verify with a fresh
 * nonce), the SRK, the PCRs (each one that differs explained from the event log), the dictionary-attack
 * lockout, the HSM key (its share decrypted: the HSM's half only) - and without unsealing: no Load, no
 * Unseal, nothing written to the device, the configuration or /run.  *ret: {"device", "uuid",
 * "unlocks", "errno" (when no token would unlock: what unlock would return, positive), "tpm",
 * "event-log", "tokens": [{"id", "type", "version", "keyslot", "unlocks", "errno", "checks": [{"check",
 * "status": "ok"|"failed"|"info"|"skipped", "message", ...}]}]}.  Every message is printable ASCII.
 * Fails only when the device cannot be read (-ENOENT, -EMEDIUMTYPE) or on -ENOMEM. */
int cvmseal_diagnose(const char *device, const struct cvmseal_diagnose_params *params, json_object **ret);

/* ---- the LUKS2 token plugin (libcryptsetup-token-cvmseal.so) ---- */

struct crypt_device;

/* Unseals cvmseal token token_id of cd (the same checks as cvmseal_unlock: SRK, PCRs, PIN, HSM,
 * attestation gate) and returns the keyslot passphrase, leaving the keyslot to libcryptsetup. */
int cvmseal_token_open(struct crypt_device *cd, int token_id, const cvmseal_secret *pin,
                       cvmseal_secret **ret_passphrase);
/* Strict validation of a cvmseal token's JSON: 0, or -EBADMSG. */
int cvmseal_token_validate(const char *json);
/* The version of a cvmseal token's JSON (1 or 2), or -EBADMSG.  Version 1 tokens still unlock, but the
 * TPM does not bind them to their members: `cvmseal reseal` turns them into version 2. */
int cvmseal_token_version(const char *json);
/* cvmseal_diagnose() on an open device (the token plugin, after a refusal: with pcrs_only). */
int cvmseal_token_diagnose(struct crypt_device *cd, const struct cvmseal_diagnose_params *params, json_object **ret);
/* A human description of a token (for cryptsetup luksDump). */
int cvmseal_token_describe(const char *json, char **ret);

/* ---- attestation ---- */

/* Collects evidence (DESIGN's evidence document) with nonce (NULL: 32 fresh random bytes, as the
 * attestation gate makes them): the vTPM's HCL report and a quote (when
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

/* ---- image pipeline ---- */

struct cvmseal_image_params {
        uint32_t sector_size;         /* 512 or 4096; 0: 4096 when RAW's size is a multiple of it, else 512 */
        bool fast_kdf;                /* keyslot 0 with PBKDF2 at minimal iterations, for a random unlock key
                                         of 32 bytes or more; false: libcryptsetup's default (argon2id) */
        uint32_t pcr_mask;            /* for the first boot's enrollment (marker); 0: its default */
        const char *attest_policy;    /* the first boot's attestation policy (JSON text), or NULL */
        const char *hsm_uri;          /* the first boot's HSM key (stored without PIN attributes), or NULL */
        cvmseal_progress_fn progress; /* called as the data is written, or NULL */
        void *userdata;
        const char *hsm_provider;     /* hsm_uri is an OSSL_STORE URI of this OpenSSL provider, or NULL */
        bool no_rekey;                /* the marker says "rekey": false: the first boot keeps the volume key
                                         (a data disk whose owner accepts sharing it with the pipeline) */
        const char *recovery_public_key; /* PEM of the owner's RSA public key (2048-4096 bits): the first
                                         boot makes a recovery key and escrows it to this key, in a
                                         "cvmseal-recovery" token (docs/token-format.md); NULL: none */
};

struct cvmseal_image_result {
        uint64_t size;                /* bytes in the data segment: RAW padded to the sector size */
        uint32_t sector_size;
        char uuid[37];                /* the LUKS2 UUID */
        int keyslot;                  /* the unlock key's: 0 */
        int provision_keyslot;        /* opened by the passphrase in the provisioning marker */
        int provision_token;          /* the provisioning marker (a "cvmseal-provision" token) */
};

/* Writes a new LUKS2 image img (aes-xts-plain64, 512-bit key, its data segment 16 MiB in) whose data
 * is raw's content, encrypted in user space; keyslot 0 opens with unlock_key, and a provisioning
 * keyslot with the marker for the first boot (docs/image-pipeline.md).  img must not exist: it is
 * written under a temporary name and appears only when complete.  -EEXIST when img exists, -ENOENT
 * when raw does not (or img's directory), -ENODATA when raw is empty, -EBADMSG when the attestation
 * policy is malformed, -ECANCELED when progress cancelled. */
int cvmseal_image_encrypt(const char *raw, const char *img, const cvmseal_secret *unlock_key,
                          const struct cvmseal_image_params *params, struct cvmseal_image_result *ret);

/* ---- PCR prediction ---- */
/* The SHA-256 PCR values a boot will give, as a pcr-values document ({"sha256": {"4": "<hex>"...}}),
 * from the TCG event log (binary_bios_measurements) of a boot of the same machine, with the kernel
 * and the initrd replaced when not NULL: the kernel's PCR 4 measurement (the last
 * EV_EFI_BOOT_SERVICES_APPLICATION) by the Authenticode digest of the PE image kernel, the Linux EFI
 * stub's PCR 9 initrd measurement by the digest of initrd (appended when the log has none).
 * pcr_mask 0: every PCR the log extends.  -EBADMSG: the log or the kernel image is malformed, or the
 * log has no SHA-256 bank; -ENOMSG: a kernel is given but the log measured none. */
int cvmseal_pcr_predict(const void *event_log, size_t event_log_size, const void *kernel, size_t kernel_size,
                        const void *initrd, size_t initrd_size, uint32_t pcr_mask, json_object **ret_values);

#ifdef __cplusplus
}
#endif
