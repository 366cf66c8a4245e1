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
        OPT_EVENT_LOG,
        OPT_KERNEL,
        OPT_INITRD,
        OPT_PCRS,
        OPT_NO_LOCK_PCR,
        OPT_SECTOR_SIZE,
        OPT_FAST_KDF,
        OPT_TPM2_SRK_PUB,
        OPT_PCR_VALUES,
        OPT_OUTPUT,
        OPT_CREATE,
        OPT_TPM2_PUBLIC_KEY,
        OPT_KEY,
        OPT_HSM_PROVIDER,
        OPT_HSM_PUBLIC_KEY,
        OPT_HSM_KEY_BLOB,
        OPT_STATUS,
        OPT_DROP_KEYSLOT,
        OPT_NO_REKEY,
        OPT_RECOVERY_PUBLIC_KEY,
        OPT_RESUME,
        OPT_UNLOCK_TOKEN,
        OPT_WIPE_TOKEN,
};

/* Bits of the options seen, to check them against what each command takes. */
#define SEEN(o) (UINT64_C(1) << ((o) - OPT_TCTI))

static const struct {
        const char *name;
        enum cli_command command;
        uint64_t allowed;
        unsigned min_pos, max_pos; /* positional arguments after the command's name */
} commands[] = {
        { "enroll", CLI_ENROLL,
          SEEN(OPT_UNLOCK_KEY_FILE) | SEEN(OPT_TPM2_PCRS) | SEEN(OPT_TPM2_PIN) | SEEN(OPT_PIN_FILE) |
          SEEN(OPT_RECOVERY_KEY) | SEEN(OPT_HSM) | SEEN(OPT_HSM_PIN_FILE) | SEEN(OPT_HSM_ALLOW_EXTRACTABLE) |
          SEEN(OPT_ATTEST_POLICY) | SEEN(OPT_NO_LOCK_PCR) | SEEN(OPT_TPM2_SRK_PUB) | SEEN(OPT_PCR_VALUES) |
          SEEN(OPT_TPM2_PUBLIC_KEY) | SEEN(OPT_HSM_PROVIDER) | SEEN(OPT_HSM_PUBLIC_KEY) | SEEN(OPT_HSM_KEY_BLOB) |
          SEEN(OPT_UNLOCK_TOKEN) | SEEN(OPT_WIPE_TOKEN), 1, 1 },
        { "unlock", CLI_UNLOCK, SEEN(OPT_TEST) | SEEN(OPT_PRINT_KEY) | SEEN(OPT_PIN_FILE) | SEEN(OPT_TOKEN), 1, 2 },
        { "list", CLI_LIST, 0, 1, 1 },
        { "remove", CLI_REMOVE, SEEN(OPT_TOKEN), 1, 1 },
        { "hsm", CLI_HSM_KEYGEN, SEEN(OPT_HSM) | SEEN(OPT_HSM_PIN_FILE) | SEEN(OPT_HSM_PROVIDER) | SEEN(OPT_HSM_KEY_BLOB) |
          SEEN(OPT_OUTPUT), 1, 1 },  /* hsm keygen */
        { "attest", CLI_ATTEST_COLLECT, SEEN(OPT_NONCE) | SEEN(OPT_POLICY), 1, 2 },  /* attest collect|verify */
        { "pcr", CLI_PCR_PREDICT, SEEN(OPT_EVENT_LOG) | SEEN(OPT_KERNEL) | SEEN(OPT_INITRD) | SEEN(OPT_PCRS), 1, 1 },  /* pcr predict */
        { "lock", CLI_LOCK, 0, 0, 0 },
        { "provision", CLI_PROVISION, SEEN(OPT_TPM2_PCRS) | SEEN(OPT_HSM_PIN_FILE), 1, 1 },
        { "image", CLI_IMAGE_ENCRYPT, SEEN(OPT_UNLOCK_KEY_FILE) | SEEN(OPT_TPM2_PCRS) | SEEN(OPT_ATTEST_POLICY) |
          SEEN(OPT_HSM) | SEEN(OPT_HSM_PROVIDER) | SEEN(OPT_SECTOR_SIZE) | SEEN(OPT_FAST_KDF) | SEEN(OPT_NO_REKEY) |
          SEEN(OPT_RECOVERY_PUBLIC_KEY),
          1, 3 },  /* image encrypt RAW IMG */
        { "srk", CLI_SRK_EXPORT, SEEN(OPT_OUTPUT) | SEEN(OPT_CREATE), 1, 1 },  /* srk export */
        { "policy", CLI_POLICY_SIGN, SEEN(OPT_KEY) | SEEN(OPT_PCR_VALUES) | SEEN(OPT_PCRS) | SEEN(OPT_OUTPUT), 1, 1 },  /* policy sign */
        { "reseal", CLI_RESEAL, SEEN(OPT_TOKEN) | SEEN(OPT_TPM2_PCRS) | SEEN(OPT_PCR_VALUES) | SEEN(OPT_PIN_FILE) |
          SEEN(OPT_UNLOCK_KEY_FILE) | SEEN(OPT_HSM_PIN_FILE), 1, 1 },
        { "rotate", CLI_ROTATE, SEEN(OPT_TOKEN) | SEEN(OPT_PIN_FILE) | SEEN(OPT_UNLOCK_KEY_FILE) | SEEN(OPT_HSM_PIN_FILE),
          1, 1 },
        { "rekey", CLI_REKEY, SEEN(OPT_STATUS) | SEEN(OPT_UNLOCK_KEY_FILE) | SEEN(OPT_PIN_FILE) | SEEN(OPT_DROP_KEYSLOT) |
          SEEN(OPT_RESUME), 0, 1 },
        { "diagnose", CLI_DIAGNOSE, SEEN(OPT_TOKEN) | SEEN(OPT_EVENT_LOG) | SEEN(OPT_KERNEL) | SEEN(OPT_INITRD) |
          SEEN(OPT_HSM_PIN_FILE), 1, 1 },
        { "help", CLI_HELP, 0, 0, 0 },
};

#define GLOBAL_OPTIONS (SEEN(OPT_TCTI) | SEEN(OPT_JSON) | SEEN(OPT_VERSION))

static bool is_stdin(const char *file) {
        return file && strcmp(file, "-") == 0;
}

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
                { "hsm-provider", required_argument, NULL, OPT_HSM_PROVIDER },
                { "hsm-public-key", required_argument, NULL, OPT_HSM_PUBLIC_KEY },
                { "hsm-key-blob", required_argument, NULL, OPT_HSM_KEY_BLOB },
                { "attest-policy", required_argument, NULL, OPT_ATTEST_POLICY },
                { "policy", required_argument, NULL, OPT_POLICY },
                { "nonce", required_argument, NULL, OPT_NONCE },
                { "sector-size", required_argument, NULL, OPT_SECTOR_SIZE },
                { "fast-kdf", no_argument, NULL, OPT_FAST_KDF },
                { "event-log", required_argument, NULL, OPT_EVENT_LOG },
                { "kernel", required_argument, NULL, OPT_KERNEL },
                { "initrd", required_argument, NULL, OPT_INITRD },
                { "pcrs", required_argument, NULL, OPT_PCRS },
                { "no-lock-pcr", no_argument, NULL, OPT_NO_LOCK_PCR },
                { "tpm2-srk-pub", required_argument, NULL, OPT_TPM2_SRK_PUB },
                { "pcr-values", required_argument, NULL, OPT_PCR_VALUES },
                { "output", required_argument, NULL, OPT_OUTPUT },
                { "create", no_argument, NULL, OPT_CREATE },
                { "tpm2-public-key", required_argument, NULL, OPT_TPM2_PUBLIC_KEY },
                { "key", required_argument, NULL, OPT_KEY },
                { "status", no_argument, NULL, OPT_STATUS },
                { "resume", no_argument, NULL, OPT_RESUME },
                { "drop-keyslot", required_argument, NULL, OPT_DROP_KEYSLOT },
                { "no-rekey", no_argument, NULL, OPT_NO_REKEY },
                { "recovery-public-key", required_argument, NULL, OPT_RECOVERY_PUBLIC_KEY },
                { "unlock-token", required_argument, NULL, OPT_UNLOCK_TOKEN },
                { "wipe-token", no_argument, NULL, OPT_WIPE_TOKEN },
                {}
        };
        struct cli_args a = {
                .command = CLI_NONE,
                .pcr_mask = UINT32_C(1) << 7,
                .token_id = -1,
                .unlock_token_id = -1,
        };
        const char *pos[4];
        unsigned npos = 0;
        uint64_t seen = 0;
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
                        if (strchr(optarg, '/') && strcspn(optarg, "/") < strcspn(optarg, ":"))
                                return usage_error(ret_error, "--tcti names its module by a name (device, swtpm, "
                                                   "pcap:...), never by a path");
                        a.tcti = optarg;
                        break;
                case OPT_JSON:
                        a.json = true;
                        break;
                case OPT_UNLOCK_KEY_FILE:
                        a.unlock_key_file = optarg;
                        break;
                case OPT_TPM2_PCRS:
                        a.pcrs_given = true;
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
                        if (!*optarg)
                                return usage_error(ret_error, "--hsm needs a URI");
                        a.hsm_uri = optarg;
                        break;
                case OPT_HSM_PROVIDER:
                        /* A bare name, which OpenSSL looks for in its modules directory: never a path. */
                        if (!*optarg || strchr(optarg, '/'))
                                return usage_error(ret_error, "--hsm-provider takes the bare name of an OpenSSL "
                                                              "provider that cvmseal.conf allows, never a path");
                        a.hsm_provider = optarg;
                        break;
                case OPT_HSM_PUBLIC_KEY:
                        if (!*optarg)
                                return usage_error(ret_error, "--hsm-public-key needs a PEM file");
                        a.hsm_public_key = optarg;
                        break;
                case OPT_HSM_KEY_BLOB:
                        if (!*optarg)
                                return usage_error(ret_error, "--hsm-key-blob needs a file");
                        a.hsm_key_blob = optarg;
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
                case OPT_EVENT_LOG:
                        a.event_log = optarg;
                        break;
                case OPT_KERNEL:
                        a.kernel = optarg;
                        break;
                case OPT_INITRD:
                        a.initrd = optarg;
                        break;
                case OPT_PCRS:
                        if (cvmseal_pcr_mask_parse(optarg, &a.predict_pcr_mask) < 0)
                                return usage_error(ret_error, "--pcrs takes PCR numbers 0-23 separated by ',' or '+'");
                        break;
                case OPT_NO_LOCK_PCR:
                        a.no_lock_pcr = true;
                        break;
                case OPT_SECTOR_SIZE:
                        if (strcmp(optarg, "512") == 0)
                                a.sector_size = 512;
                        else if (strcmp(optarg, "4096") == 0)
                                a.sector_size = 4096;
                        else
                                return usage_error(ret_error, "--sector-size takes 512 or 4096");
                        break;
                case OPT_FAST_KDF:
                        a.fast_kdf = true;
                        break;
                case OPT_TPM2_SRK_PUB:
                        a.srk_pub_file = optarg;
                        break;
                case OPT_PCR_VALUES:
                        a.pcr_values_file = optarg;
                        break;
                case OPT_OUTPUT:
                        if (!*optarg)
                                return usage_error(ret_error, "--output needs a file name");
                        a.output = optarg;
                        break;
                case OPT_CREATE:
                        a.create = true;
                        break;
                case OPT_TPM2_PUBLIC_KEY:
                        if (!*optarg)
                                return usage_error(ret_error, "--tpm2-public-key needs a PEM file");
                        a.tpm2_public_key = optarg;
                        break;
                case OPT_KEY:
                        if (!*optarg)
                                return usage_error(ret_error, "--key needs a PEM file");
                        a.key_file = optarg;
                        break;
                case OPT_STATUS:
                        a.status = true;
                        break;
                case OPT_RESUME:
                        a.resume = true;
                        break;
                case OPT_NO_REKEY:
                        a.no_rekey = true;
                        break;
                case OPT_RECOVERY_PUBLIC_KEY:
                        if (!*optarg)
                                return usage_error(ret_error, "--recovery-public-key needs a PEM file");
                        a.recovery_public_key = optarg;
                        break;
                case OPT_DROP_KEYSLOT: {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || v < 0 || v > 31)
                                return usage_error(ret_error, "--drop-keyslot takes a keyslot number from 0 to 31");
                        a.drop_mask |= UINT32_C(1) << v;
                        break;
                }
                case OPT_WIPE_TOKEN:
                        a.wipe_token = true;
                        break;
                case OPT_UNLOCK_TOKEN:
                case OPT_TOKEN: {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || v < 0 || v > 31)
                                return usage_error(ret_error, c == OPT_TOKEN ? "--token takes a token id from 0 to 31"
                                                                             : "--unlock-token takes a token id from 0 to 31");
                        if (c == OPT_TOKEN)
                                a.token_id = (int) v;
                        else
                                a.unlock_token_id = (int) v;
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
                                                      : a.command == CLI_IMAGE_ENCRYPT  ? "image takes a subcommand: encrypt"
                                                      : a.command == CLI_PCR_PREDICT    ? "pcr takes a subcommand: predict"
                                                      : a.command == CLI_SRK_EXPORT     ? "srk takes a subcommand: export"
                                                      : a.command == CLI_POLICY_SIGN    ? "policy takes a subcommand: sign"
                                                                                        : "DEVICE is missing");
                if (npos - 1 > commands[i].max_pos)
                        return usage_error(ret_error, "too many arguments");
                break;
        }
        if (a.command == CLI_NONE)
                return usage_error(ret_error, "unknown command (try --help)");

        a.device = npos > 1 ? pos[1] : NULL;
        a.name = npos > 2 ? pos[2] : NULL;

        /* --hsm: a pkcs11: URI, or with --hsm-provider the OSSL_STORE URI of that provider's key. */
        if (a.hsm_uri && !a.hsm_provider && strncmp(a.hsm_uri, "pkcs11:", 7) != 0)
                return usage_error(ret_error, "--hsm takes a pkcs11: URI (RFC 7512), or an OSSL_STORE URI with "
                                              "--hsm-provider NAME");
        if ((a.hsm_provider || a.hsm_key_blob) && !a.hsm_uri)
                return usage_error(ret_error, "--hsm-provider and --hsm-key-blob need --hsm URI");
        if ((a.hsm_public_key || a.hsm_key_blob) && !a.hsm_provider)
                return usage_error(ret_error, "--hsm-public-key and --hsm-key-blob need --hsm-provider NAME");
        if (a.hsm_provider && a.hsm_pin_file)
                return usage_error(ret_error, "an OpenSSL provider's key takes no --hsm-pin-file");
        if (a.hsm_key_blob && !strstr(a.hsm_uri, "{key-blob}"))
                return usage_error(ret_error, "--hsm-key-blob needs a URI that names the blob by {key-blob}");

        switch (a.command) {
        case CLI_ENROLL:
                if (!a.unlock_key_file && a.unlock_token_id < 0)
                        return usage_error(ret_error, "enroll needs --unlock-key-file FILE or --unlock-token ID");
                if (a.unlock_key_file && a.unlock_token_id >= 0)
                        return usage_error(ret_error, "--unlock-key-file and --unlock-token are two ways in: give one");
                if (a.wipe_token && a.unlock_token_id < 0)
                        return usage_error(ret_error, "--wipe-token removes the token of --unlock-token ID");
                if (a.unlock_token_id >= 0 && a.srk_pub_file)
                        return usage_error(ret_error, "--unlock-token is for an enroll on this machine, not an offline one");
                if (a.pin_file)
                        a.tpm2_pin = true; /* a PIN file means a PIN */
                if ((a.pin_file && strcmp(a.pin_file, "-") == 0) + is_stdin(a.unlock_key_file) +
                            (a.hsm_pin_file && strcmp(a.hsm_pin_file, "-") == 0) > 1)
                        return usage_error(ret_error, "only one of the key and PIN files can be standard input");
                if ((a.hsm_pin_file || a.hsm_allow_extractable) && !a.hsm_uri)
                        return usage_error(ret_error, "--hsm-pin-file and --hsm-allow-extractable need --hsm URI");
                /* Offline: both files, nothing of this machine's (its HSM is not the target's). */
                if (!!a.srk_pub_file != !!a.pcr_values_file)
                        return usage_error(ret_error, "offline enroll needs both --tpm2-srk-pub FILE and --pcr-values FILE");
                if (a.srk_pub_file && a.hsm_uri && !a.hsm_public_key)
                        return usage_error(ret_error, "--hsm binds to this machine's HSM: with --tpm2-srk-pub, bind to the "
                                                      "target's HSM key with --hsm-provider NAME --hsm URI --hsm-public-key PEM");
                if (a.hsm_provider && strstr(a.hsm_uri, "{key-blob}") && !a.hsm_key_blob)
                        return usage_error(ret_error, "the URI names a key blob by {key-blob}: give it with --hsm-key-blob FILE");
                if (a.hsm_public_key && a.hsm_allow_extractable)
                        return usage_error(ret_error, "--hsm-allow-extractable needs the HSM key itself, not --hsm-public-key");
                if ((a.hsm_public_key && strcmp(a.hsm_public_key, "-") == 0) + (a.hsm_key_blob && strcmp(a.hsm_key_blob, "-") == 0) +
                            is_stdin(a.unlock_key_file) + (a.pin_file && strcmp(a.pin_file, "-") == 0) +
                            (a.tpm2_public_key && strcmp(a.tpm2_public_key, "-") == 0) +
                            (a.srk_pub_file && strcmp(a.srk_pub_file, "-") == 0) +
                            (a.pcr_values_file && strcmp(a.pcr_values_file, "-") == 0) > 1)
                        return usage_error(ret_error, "only one of the files can be standard input");
                if (a.tpm2_public_key && a.srk_pub_file)
                        return usage_error(ret_error, "--tpm2-public-key cannot be sealed offline (--tpm2-srk-pub)");
                if (a.tpm2_public_key && strcmp(a.tpm2_public_key, "-") == 0 &&
                    ((a.pin_file && strcmp(a.pin_file, "-") == 0) || is_stdin(a.unlock_key_file) ||
                     (a.hsm_pin_file && strcmp(a.hsm_pin_file, "-") == 0)))
                        return usage_error(ret_error, "only one of the key, PIN and public-key files can be standard input");
                if (a.srk_pub_file && is_stdin(a.unlock_key_file) + (a.pin_file && strcmp(a.pin_file, "-") == 0) +
                                              (strcmp(a.srk_pub_file, "-") == 0) + (strcmp(a.pcr_values_file, "-") == 0) > 1)
                        return usage_error(ret_error, "only one of the key, PIN, SRK and pcr-values files can be standard input");
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
        case CLI_RESEAL:
        case CLI_ROTATE:
                /* reseal: without --tpm2-pcrs, the old token's PCRs (0 tells the library). */
                if (!(seen & SEEN(OPT_TPM2_PCRS)))
                        a.pcr_mask = 0;
                if ((a.pin_file && strcmp(a.pin_file, "-") == 0) +
                            (a.unlock_key_file && strcmp(a.unlock_key_file, "-") == 0) +
                            (a.hsm_pin_file && strcmp(a.hsm_pin_file, "-") == 0) +
                            (a.pcr_values_file && strcmp(a.pcr_values_file, "-") == 0) > 1)
                        return usage_error(ret_error, "only one of the key, PIN and pcr-values files can be standard input");
                break;
        case CLI_REKEY:
                if (!a.device && !a.resume)
                        return usage_error(ret_error, "DEVICE is missing (only rekey --resume goes without it)");
                if (a.resume && (a.status || a.drop_mask))
                        return usage_error(ret_error, "rekey --resume takes neither --status nor --drop-keyslot");
                if (a.status && (a.unlock_key_file || a.pin_file || a.drop_mask))
                        return usage_error(ret_error, "rekey --status only reads: it takes no key, PIN or keyslot");
                if (a.unlock_key_file && a.pin_file && strcmp(a.unlock_key_file, "-") == 0 && strcmp(a.pin_file, "-") == 0)
                        return usage_error(ret_error, "only one of the key and PIN files can be standard input");
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
        case CLI_PCR_PREDICT:
                if (strcmp(a.device, "predict") != 0)
                        return usage_error(ret_error, "unknown pcr subcommand (try: pcr predict --event-log FILE)");
                a.device = NULL;
                if (!a.event_log)
                        return usage_error(ret_error, "pcr predict needs --event-log FILE");
                if ((strcmp(a.event_log, "-") == 0) + (a.kernel && strcmp(a.kernel, "-") == 0) +
                            (a.initrd && strcmp(a.initrd, "-") == 0) > 1)
                        return usage_error(ret_error, "only one of the event log, kernel and initrd can be standard input");
                break;
        case CLI_IMAGE_ENCRYPT:
                if (strcmp(a.device, "encrypt") != 0)
                        return usage_error(ret_error, "unknown image subcommand (try: image encrypt RAW IMG --unlock-key-file FILE)");
                if (npos != 4)
                        return usage_error(ret_error, "image encrypt takes RAW and IMG");
                a.device = NULL;
                a.name = NULL;
                a.raw = pos[2];
                a.image = pos[3];
                if (!a.unlock_key_file)
                        return usage_error(ret_error, "image encrypt needs --unlock-key-file FILE");
                if (strcmp(a.raw, "-") == 0 || strcmp(a.image, "-") == 0)
                        return usage_error(ret_error, "RAW and IMG are files: standard input and output have no size");
                if (!(seen & SEEN(OPT_TPM2_PCRS)))
                        a.pcr_mask = 0; /* the first boot's default */
                break;
        case CLI_POLICY_SIGN:
                if (strcmp(a.device, "sign") != 0)
                        return usage_error(ret_error, "unknown policy subcommand (try: policy sign --key PEM --pcr-values FILE)");
                a.device = NULL;
                if (!a.key_file || !a.pcr_values_file)
                        return usage_error(ret_error, "policy sign needs --key PEM and --pcr-values FILE");
                if (strcmp(a.key_file, "-") == 0 && strcmp(a.pcr_values_file, "-") == 0)
                        return usage_error(ret_error, "only one of --key and --pcr-values can be standard input");
                break;
        case CLI_SRK_EXPORT:
                if (strcmp(a.device, "export") != 0)
                        return usage_error(ret_error, "unknown srk subcommand (try: srk export [--output FILE])");
                a.device = NULL;
                break;
        case CLI_HSM_KEYGEN:
                if (strcmp(a.device, "keygen") != 0)
                        return usage_error(ret_error, "unknown hsm subcommand (try: hsm keygen --hsm URI)");
                a.device = NULL;
                if (!a.hsm_uri)
                        return usage_error(ret_error, "hsm keygen needs --hsm URI");
                if (a.hsm_provider && !a.hsm_key_blob)
                        return usage_error(ret_error, "hsm keygen --hsm-provider needs --hsm-key-blob FILE (where the "
                                                      "key blob goes) and a URI that names it by {key-blob}");
                if (a.hsm_key_blob && strcmp(a.hsm_key_blob, "-") == 0)
                        return usage_error(ret_error, "hsm keygen writes the key blob to a file, not to standard output");
                if (a.output && !a.hsm_provider)
                        return usage_error(ret_error, "hsm keygen --output (the public key) needs --hsm-provider NAME");
                break;
        default:
                break;
        }

        *ret = a;
        return 0;
}

int cli_exit_code(int r) {
        return cvmseal_exit_code(r);
}
