/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Argument parsing and the exit-code contract of the command line (DESIGN, "Command-line contract"). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cvmseal.h"

enum {
        OPT_TCTI = 0x100,
        OPT_JSON,
        OPT_VERSION,
        OPT_UNLOCK_KEY_FILE,
        OPT_TPM2_PCRS,
        OPT_TPM2_PIN,
        OPT_PIN_FILE,
        OPT_RECOVERY_KEY,
        OPT_TEST,
        OPT_PRINT_KEY,
        OPT_TOKEN,
        OPT_HSM,
        OPT_HSM_PIN_FILE,
        OPT_HSM_ALLOW_EXTRACTABLE,
        OPT_ATTEST_POLICY,
        OPT_POLICY,
        OPT_NONCE,
};

/* Bits of the options seen, to check them against what each command takes. */
#define SEEN(o) (UINT32_C(1) << ((o) - OPT_TCTI))

static const struct {
        const char *name;
        enum cli_command command;
        uint32_t allowed;
        unsigned min_pos, max_pos; /* positional arguments after the command's name */
} commands[] = {
        { "enroll", CLI_ENROLL,
          SEEN(OPT_UNLOCK_KEY_FILE) | SEEN(OPT_TPM2_PCRS) | SEEN(OPT_TPM2_PIN) | SEEN(OPT_PIN_FILE) |
          SEEN(OPT_RECOVERY_KEY) | SEEN(OPT_HSM) | SEEN(OPT_HSM_PIN_FILE) | SEEN(OPT_HSM_ALLOW_EXTRACTABLE) |
          SEEN(OPT_ATTEST_POLICY), 1, 1 },
        { "unlock", CLI_UNLOCK, SEEN(OPT_TEST) | SEEN(OPT_PRINT_KEY) | SEEN(OPT_PIN_FILE) | SEEN(OPT_TOKEN), 1, 2 },
        { "list", CLI_LIST, 0, 1, 1 },
        { "remove", CLI_REMOVE, SEEN(OPT_TOKEN), 1, 1 },
        { "hsm", CLI_HSM_KEYGEN, SEEN(OPT_HSM) | SEEN(OPT_HSM_PIN_FILE), 1, 1 },  /* hsm keygen */
        { "attest", CLI_ATTEST_COLLECT, SEEN(OPT_NONCE) | SEEN(OPT_POLICY), 1, 2 },  /* attest collect|verify */
        { "help", CLI_HELP, 0, 0, 0 },
};

#define GLOBAL_OPTIONS (SEEN(OPT_TCTI) | SEEN(OPT_JSON) | SEEN(OPT_VERSION))

static int usage_error(const char **ret_error, const char *msg) {
        *ret_error = msg;
        return -EINVAL;
}

int cli_parse(int argc, char *argv[], struct cli_args *ret, const char **ret_error) {
        static const struct option options[] = {
                { "tcti", required_argument, NULL, OPT_TCTI },
                { "json", no_argument, NULL, OPT_JSON },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "unlock-key-file", required_argument, NULL, OPT_UNLOCK_KEY_FILE },
                { "tpm2-pcrs", required_argument, NULL, OPT_TPM2_PCRS },
                { "tpm2-pin", no_argument, NULL, OPT_TPM2_PIN },
                { "pin-file", required_argument, NULL, OPT_PIN_FILE },
                { "recovery-key", no_argument, NULL, OPT_RECOVERY_KEY },
                { "test", no_argument, NULL, OPT_TEST },
                { "print-key", no_argument, NULL, OPT_PRINT_KEY },
                { "token", required_argument, NULL, OPT_TOKEN },
                { "hsm", required_argument, NULL, OPT_HSM },
                { "hsm-pin-file", required_argument, NULL, OPT_HSM_PIN_FILE },
                { "hsm-allow-extractable", no_argument, NULL, OPT_HSM_ALLOW_EXTRACTABLE },
                { "attest-policy", required_argument, NULL, OPT_ATTEST_POLICY },
                { "policy", required_argument, NULL, OPT_POLICY },
                { "nonce", required_argument, NULL, OPT_NONCE },
                {}
        };
        struct cli_args a = {
                .command = CLI_NONE,
                .pcr_mask = UINT32_C(1) << 7,
                .token_id = -1,
        };
        const char *pos[4];
        unsigned npos = 0;
        uint32_t seen = 0;
        bool help = false;
        int c;

        *ret_error = NULL;
        optind = 0; /* reset getopt, and let it permute: options may follow the command's name */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "-vh", options, NULL)) >= 0) {
                if (c >= OPT_TCTI)
                        seen |= SEEN(c);

                switch (c) {
                case 1: /* a positional argument, in order */
                        if (npos >= (sizeof(pos) / sizeof(pos[0])))
                                return usage_error(ret_error, "too many arguments");
                        pos[npos++] = optarg;
                        break;
                case 'v':
                        a.verbose++;
                        break;
                case 'h':
                        help = true;
                        break;
                case OPT_VERSION:
                        a.command = CLI_VERSION;
                        break;
                case OPT_TCTI:
                        if (!*optarg)
                                return usage_error(ret_error, "--tcti needs a TCTI configuration");
                        a.tcti = optarg;
                        break;
                case OPT_JSON:
                        a.json = true;
                        break;
                case OPT_UNLOCK_KEY_FILE:
                        a.unlock_key_file = optarg;
                        break;
                case OPT_TPM2_PCRS:
                        if (cvmseal_pcr_mask_parse(optarg, &a.pcr_mask) < 0)
                                return usage_error(ret_error,
                                                   "--tpm2-pcrs takes PCR numbers 0-23 separated by ',' or '+'");
                        break;
                case OPT_TPM2_PIN:
                        a.tpm2_pin = true;
                        break;
                case OPT_PIN_FILE:
                        a.pin_file = optarg;
                        break;
                case OPT_RECOVERY_KEY:
                        a.recovery_key = true;
                        break;
                case OPT_TEST:
                        a.test = true;
                        break;
                case OPT_PRINT_KEY:
                        a.print_key = true;
                        break;
                case OPT_HSM:
                        if (strncmp(optarg, "pkcs11:", 7) != 0)
                                return usage_error(ret_error, "--hsm takes a pkcs11: URI (RFC 7512)");
                        a.hsm_uri = optarg;
                        break;
                case OPT_HSM_PIN_FILE:
                        a.hsm_pin_file = optarg;
                        break;
                case OPT_HSM_ALLOW_EXTRACTABLE:
                        a.hsm_allow_extractable = true;
                        break;
                case OPT_ATTEST_POLICY:
                case OPT_POLICY:
                        a.attest_policy = optarg;
                        break;
                case OPT_NONCE: {
                        size_t n = strlen(optarg);

                        if (n == 0 || n % 2 != 0 || n > 128 || strspn(optarg, "0123456789abcdefABCDEF") != n)
                                return usage_error(ret_error, "--nonce takes 1 to 64 bytes in hex");
                        a.nonce = optarg;
                        break;
                }
                case OPT_TOKEN: {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || v < 0 || v > 31)
                                return usage_error(ret_error, "--token takes a token id from 0 to 31");
                        a.token_id = (int) v;
                        break;
                }
                case '?':
                default:
                        return usage_error(ret_error, optopt ? "an option is missing its argument or unknown"
                                                             : "unknown option");
                }
        }

        if (a.command == CLI_VERSION) {
                *ret = a;
                return 0;
        }
        if (npos == 0) {
                if (help) {
                        a.command = CLI_HELP;
                        *ret = a;
                        return 0;
                }
                return usage_error(ret_error, "no command given (try --help)");
        }

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(pos[0], commands[i].name) != 0)
                        continue;
                a.command = commands[i].command;
                if (help || a.command == CLI_HELP) {
                        a.command = CLI_HELP;
                        *ret = a;
                        return 0;
                }
                if (seen & ~(commands[i].allowed | GLOBAL_OPTIONS))
                        return usage_error(ret_error, "an option does not apply to this command");
                if (npos - 1 < commands[i].min_pos)
                        return usage_error(ret_error, a.command == CLI_HSM_KEYGEN      ? "hsm takes a subcommand: keygen"
                                                      : a.command == CLI_ATTEST_COLLECT ? "attest takes a subcommand: collect or verify"
                                                                                        : "DEVICE is missing");
                if (npos - 1 > commands[i].max_pos)
                        return usage_error(ret_error, "too many arguments");
                break;
        }
        if (a.command == CLI_NONE)
                return usage_error(ret_error, "unknown command (try --help)");

        a.device = pos[1];
        a.name = npos > 2 ? pos[2] : NULL;

        switch (a.command) {
        case CLI_ENROLL:
                if (!a.unlock_key_file)
                        return usage_error(ret_error, "enroll needs --unlock-key-file FILE");
                if (a.pin_file)
                        a.tpm2_pin = true; /* a PIN file means a PIN */
                if ((a.pin_file && strcmp(a.pin_file, "-") == 0) + (strcmp(a.unlock_key_file, "-") == 0) +
                            (a.hsm_pin_file && strcmp(a.hsm_pin_file, "-") == 0) > 1)
                        return usage_error(ret_error, "only one of the key and PIN files can be standard input");
                if ((a.hsm_pin_file || a.hsm_allow_extractable) && !a.hsm_uri)
                        return usage_error(ret_error, "--hsm-pin-file and --hsm-allow-extractable need --hsm URI");
                break;
        case CLI_UNLOCK:
                if ((a.test ? 1 : 0) + (a.print_key ? 1 : 0) + (a.name ? 1 : 0) != 1)
                        return usage_error(ret_error, "unlock takes exactly one of --test, --print-key and NAME");
                if (a.print_key && a.json)
                        return usage_error(ret_error, "--print-key writes the key itself, not JSON");
                if (a.name && (!*a.name || strchr(a.name, '/')))
                        return usage_error(ret_error, "NAME is a device-mapper name, without '/'");
                break;
        case CLI_REMOVE:
                if (a.token_id < 0)
                        return usage_error(ret_error, "remove needs --token ID");
                break;
        case CLI_ATTEST_COLLECT:
                if (strcmp(a.device, "collect") == 0) {
                        if (a.name || a.attest_policy)
                                return usage_error(ret_error, "attest collect takes no EVIDENCE and no --policy");
                } else if (strcmp(a.device, "verify") == 0) {
                        a.command = CLI_ATTEST_VERIFY;
                        if (!a.attest_policy || !a.name)
                                return usage_error(ret_error, "attest verify needs --policy FILE and EVIDENCE");
                        if (a.nonce)
                                return usage_error(ret_error, "attest verify takes the nonce from the policy");
                        a.evidence = a.name;
                        a.name = NULL;
                } else
                        return usage_error(ret_error, "unknown attest subcommand (collect or verify)");
                a.device = NULL;
                break;
        case CLI_HSM_KEYGEN:
                if (strcmp(a.device, "keygen") != 0)
                        return usage_error(ret_error, "unknown hsm subcommand (try: hsm keygen --hsm URI)");
                a.device = NULL;
                if (!a.hsm_uri)
                        return usage_error(ret_error, "hsm keygen needs --hsm URI");
                break;
        default:
                break;
        }

        *ret = a;
        return 0;
}

int cli_exit_code(int r) {
        if (r >= 0)
                return EXIT_OK;

        switch (-r) {
        case EPERM:
        case EREMCHG:
                return EXIT_POLICY;
        case EBADE:
                return EXIT_ATTESTATION;
        case ENOKEY:
        case EKEYREVOKED:
        case EKEYEXPIRED:
        case ENOTUNIQ:
                return EXIT_HSM;
        case ENODEV:
        case ETIMEDOUT:
        case ENOBUFS:
                return EXIT_NO_TPM;
        case ENOANO:
        case EACCES:
                return EXIT_PIN;
        case EMEDIUMTYPE:
        case ENOMEDIUM:
                return EXIT_NO_TOKEN;
        case ENOLCK:
                return EXIT_LOCKOUT;
        case EBADMSG:
        case EPROTO:
                return EXIT_MALFORMED;
        case EINVAL:
        default:
                return EXIT_OTHER;
        }
}
