/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum cli_command {
        CLI_NONE,
        CLI_ENROLL,
        CLI_UNLOCK,
        CLI_LIST,
        CLI_REMOVE,
        CLI_HSM_KEYGEN,
        CLI_ATTEST_COLLECT,
        CLI_ATTEST_VERIFY,
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
        bool tpm2_pin;                /* enroll: seal with a PIN */
        bool recovery_key;            /* enroll: add a recovery key */

        const char *pin_file;         /* enroll, unlock */
        bool test;                    /* unlock */
        bool print_key;               /* unlock */
        int token_id;                 /* unlock, remove; -1 when not given */

        const char *hsm_uri;          /* enroll, hsm keygen */
        const char *hsm_pin_file;     /* enroll, hsm keygen */
        bool hsm_allow_extractable;   /* enroll */

        const char *attest_policy;    /* enroll --attest-policy, attest verify --policy */
        const char *nonce;            /* attest collect: hex */
        const char *evidence;         /* attest verify: the evidence file ("-": stdin) */
};

/* Parses the command line (options before or after the command's name).  On a usage error returns
 * -EINVAL and a message in ret_error (static storage). */
int cli_parse(int argc, char *argv[], struct cli_args *ret, const char **ret_error);

/* The exit code of the command-line contract for a library error (negative errno). */
int cli_exit_code(int r);

enum {
        EXIT_OK = 0,
        EXIT_OTHER = 1,
        EXIT_USAGE = 2,
        EXIT_POLICY = 3,
        EXIT_ATTESTATION = 4,
        EXIT_HSM = 5,
        EXIT_NO_TPM = 6,
        EXIT_PIN = 7,
        EXIT_NO_TOKEN = 8,
        EXIT_LOCKOUT = 9,
        EXIT_MALFORMED = 10,
};
