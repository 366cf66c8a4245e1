/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cvmseal.h"
#include "macro.h"    /* the library's cleanup attributes: _cleanup_, TAKE_PTR, freep, json_object_putp */

DEFINE_TRIVIAL_CLEANUP_FUNC(cvmseal_secret *, cvmseal_secret_free);
#define _cleanup_secret_ _cleanup_(cvmseal_secret_freep)

enum cli_command {
        CLI_NONE,
        CLI_ENROLL,
        CLI_UNLOCK,
        CLI_LIST,
        CLI_REMOVE,
        CLI_HSM_KEYGEN,
        CLI_ATTEST_COLLECT,
        CLI_ATTEST_VERIFY,
        CLI_PCR_PREDICT,
        CLI_LOCK,
        CLI_PROVISION,
        CLI_IMAGE_ENCRYPT,
        CLI_SRK_EXPORT,
        CLI_POLICY_SIGN,
        CLI_RESEAL,
        CLI_ROTATE,
        CLI_REKEY,
        CLI_DIAGNOSE,
        CLI_HELP,
        CLI_VERSION,
};

struct cli_args {
        enum cli_command command;
        const char *tcti;
        bool json;
        unsigned verbose;

        const char *device;
        const char *name;             /* unlock: the mapping to activate */

        const char *unlock_key_file;  /* enroll */
        uint32_t pcr_mask;            /* enroll: sha256 PCRs, 7 by default */
        bool pcrs_given;              /* --tpm2-pcrs was given */
        bool tpm2_pin;                /* enroll: seal with a PIN */
        bool recovery_key;            /* enroll: add a recovery key */
        bool no_lock_pcr;             /* enroll: do not seal to the lock PCR (15) */

        const char *pin_file;         /* enroll, unlock */
        bool test;                    /* unlock */
        bool print_key;               /* unlock */
        int token_id;                 /* unlock, remove; -1 when not given */

        const char *hsm_uri;          /* enroll, hsm keygen */
        const char *hsm_pin_file;     /* enroll, hsm keygen */
        bool hsm_allow_extractable;   /* enroll */
        const char *hsm_provider;     /* enroll, hsm keygen, image encrypt: an OpenSSL provider's name;
                                         --hsm is then an OSSL_STORE URI */
        const char *hsm_public_key;   /* enroll: bind offline to this PEM public key of the HSM key */
        const char *hsm_key_blob;     /* enroll: the key blob to keep in the token; hsm keygen: where
                                         to write the blob it makes */

        const char *attest_policy;    /* enroll --attest-policy, attest verify --policy */
        const char *nonce;            /* attest collect: hex */
        const char *evidence;         /* attest verify: the evidence file ("-": stdin) */

        const char *srk_pub_file;     /* enroll --tpm2-srk-pub: offline, to this SRK (TPM2B_PUBLIC) */
        const char *pcr_values_file;  /* --pcr-values: the pcr-values document (enroll offline, reseal, policy sign) */
        const char *output;           /* srk export, policy sign --output; NULL or "-": standard output */
        bool create;                  /* srk export --create: create a missing SRK */

        const char *raw;              /* image encrypt: the raw image */
        const char *image;            /* image encrypt: the LUKS2 image to create */
        uint32_t sector_size;         /* image encrypt --sector-size; 0: chosen by RAW's size */
        bool fast_kdf;                /* image encrypt --fast-kdf */
                                      /* (image encrypt: pcr_mask is 0 without --tpm2-pcrs) */

        const char *event_log;        /* pcr predict: the TCG event log */
        const char *kernel;           /* pcr predict: the new kernel (PE image), or NULL */
        const char *initrd;           /* pcr predict: the new initrd, or NULL */
        uint32_t predict_pcr_mask;    /* pcr predict --pcrs; 0: every PCR the log extends */

        bool status;                  /* rekey --status */
        bool resume;                  /* rekey --resume: only a rekey under way (without DEVICE: every one
                                         the initramfs handed over) */
        uint32_t drop_mask;           /* rekey --drop-keyslot N (repeated) */
        bool no_rekey;                /* image encrypt --no-rekey */
        const char *recovery_public_key; /* image encrypt --recovery-public-key PEM */

        const char *tpm2_public_key;  /* enroll --tpm2-public-key: PEM public key (PolicyAuthorize) */
        const char *key_file;         /* policy sign --key: PEM private key (a secret);
                                         its --pcrs: predict_pcr_mask (0: every PCR of --pcr-values) */

        int unlock_token_id;          /* enroll --unlock-token: the existing keyslot's secret from this token; -1 */
        bool wipe_token;              /* enroll --wipe-token: then remove that token (and its keyslot) */
};

/* Parses the command line (options before or after the command's name).  On a usage error returns
 * -EINVAL and a message in ret_error (static storage). */
int cli_parse(int argc, char *argv[], struct cli_args *ret, const char **ret_error);

/* The exit code of the command-line contract for a library error (negative errno): the library's
 * table, cvmseal_exit_code(). */
int cli_exit_code(int r);

/* The library's names, shorter. */
enum {
        EXIT_OK = CVMSEAL_EXIT_OK,
        EXIT_OTHER = CVMSEAL_EXIT_OTHER,
        EXIT_USAGE = CVMSEAL_EXIT_USAGE,
        EXIT_POLICY = CVMSEAL_EXIT_POLICY,
        EXIT_ATTESTATION = CVMSEAL_EXIT_ATTESTATION,
        EXIT_HSM = CVMSEAL_EXIT_HSM,
        EXIT_NO_TPM = CVMSEAL_EXIT_NO_TPM,
        EXIT_PIN = CVMSEAL_EXIT_PIN,
        EXIT_NO_TOKEN = CVMSEAL_EXIT_NO_TOKEN,
        EXIT_LOCKOUT = CVMSEAL_EXIT_LOCKOUT,
        EXIT_MALFORMED = CVMSEAL_EXIT_MALFORMED,
};
