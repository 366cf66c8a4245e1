/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Argument parsing of the command line (DESIGN, "Command-line contract"): one table of options, one
 * table of commands, one getopt_long loop, then each command's own checks. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cvmseal.h"

#define V(c) (UINT32_C(1) << (c))
#define V_ALL UINT32_MAX

enum option_kind {
        K_STRING,       /* const char * at offset */
        K_NONEMPTY,     /* the same, "" refused with the option's error */
        K_FLAG,         /* bool at offset */
        K_COUNT,        /* unsigned at offset, one more each time */
        K_PCRS,         /* a PCR list into the uint32_t mask at offset */
        K_TOKEN,        /* a token id 0-31 into the int at offset */
        K_KEYSLOT_BIT,  /* a keyslot 0-31 into the uint32_t mask at offset, one bit more */
        K_TCTI,
        K_PROVIDER,
        K_NONCE,
        K_SECTOR_SIZE,
        K_VERSION,
        K_HELP,
};

static const struct option_def {
        const char *name;
        int short_name;               /* 0: long only */
        int has_arg;
        enum option_kind kind;
        size_t offset;
        uint32_t verbs;               /* V(CLI_...) of the commands that take it */
        const char *error;            /* the usage error for a value it refuses */
} option_defs[] = {
#define OPT_FIELD(field) offsetof(struct cli_args, field)
        { "tcti", 0, required_argument, K_TCTI, OPT_FIELD(tcti), V_ALL, "--tcti needs a TCTI configuration" },
        { "json", 0, no_argument, K_FLAG, OPT_FIELD(json), V_ALL, NULL },
        { "verbose", 'v', no_argument, K_COUNT, OPT_FIELD(verbose), V_ALL, NULL },
        { "help", 'h', no_argument, K_HELP, 0, V_ALL, NULL },
        { "version", 0, no_argument, K_VERSION, 0, V_ALL, NULL },
        { "unlock-key-file", 0, required_argument, K_STRING, OPT_FIELD(unlock_key_file),
          V(CLI_ENROLL) | V(CLI_IMAGE_ENCRYPT) | V(CLI_RESEAL) | V(CLI_ROTATE) | V(CLI_REKEY), NULL },
        { "tpm2-pcrs", 0, required_argument, K_PCRS, OPT_FIELD(pcr_mask),
          V(CLI_ENROLL) | V(CLI_PROVISION) | V(CLI_IMAGE_ENCRYPT) | V(CLI_RESEAL),
          "--tpm2-pcrs takes PCR numbers 0-23 separated by ',' or '+'" },
        { "tpm2-pin", 0, no_argument, K_FLAG, OPT_FIELD(tpm2_pin), V(CLI_ENROLL), NULL },
        { "pin-file", 0, required_argument, K_STRING, OPT_FIELD(pin_file),
          V(CLI_ENROLL) | V(CLI_UNLOCK) | V(CLI_RESEAL) | V(CLI_ROTATE) | V(CLI_REKEY), NULL },
        { "recovery-key", 0, no_argument, K_FLAG, OPT_FIELD(recovery_key), V(CLI_ENROLL), NULL },
        { "test", 0, no_argument, K_FLAG, OPT_FIELD(test), V(CLI_UNLOCK), NULL },
        { "print-key", 0, no_argument, K_FLAG, OPT_FIELD(print_key), V(CLI_UNLOCK), NULL },
        { "token", 0, required_argument, K_TOKEN, OPT_FIELD(token_id),
          V(CLI_UNLOCK) | V(CLI_REMOVE) | V(CLI_RESEAL) | V(CLI_ROTATE) | V(CLI_DIAGNOSE),
          "--token takes a token id from 0 to 31" },
        { "hsm", 0, required_argument, K_NONEMPTY, OPT_FIELD(hsm_uri), V(CLI_ENROLL) | V(CLI_HSM_KEYGEN) | V(CLI_IMAGE_ENCRYPT),
          "--hsm needs a URI" },
        { "hsm-pin-file", 0, required_argument, K_STRING, OPT_FIELD(hsm_pin_file),
          V(CLI_ENROLL) | V(CLI_HSM_KEYGEN) | V(CLI_PROVISION) | V(CLI_RESEAL) | V(CLI_ROTATE) | V(CLI_DIAGNOSE), NULL },
        { "hsm-allow-extractable", 0, no_argument, K_FLAG, OPT_FIELD(hsm_allow_extractable), V(CLI_ENROLL), NULL },
        { "hsm-provider", 0, required_argument, K_PROVIDER, OPT_FIELD(hsm_provider),
          V(CLI_ENROLL) | V(CLI_HSM_KEYGEN) | V(CLI_IMAGE_ENCRYPT),
          "--hsm-provider takes the bare name of an OpenSSL provider that cvmseal.conf allows, never a path" },
        { "hsm-public-key", 0, required_argument, K_NONEMPTY, OPT_FIELD(hsm_public_key), V(CLI_ENROLL),
          "--hsm-public-key needs a PEM file" },
        { "hsm-key-blob", 0, required_argument, K_NONEMPTY, OPT_FIELD(hsm_key_blob), V(CLI_ENROLL) | V(CLI_HSM_KEYGEN),
          "--hsm-key-blob needs a file" },
        { "attest-policy", 0, required_argument, K_STRING, OPT_FIELD(attest_policy), V(CLI_ENROLL) | V(CLI_IMAGE_ENCRYPT), NULL },
        { "policy", 0, required_argument, K_STRING, OPT_FIELD(attest_policy), V(CLI_ATTEST_COLLECT), NULL },
        { "nonce", 0, required_argument, K_NONCE, OPT_FIELD(nonce), V(CLI_ATTEST_COLLECT), "--nonce takes 1 to 64 bytes in hex" },
        { "sector-size", 0, required_argument, K_SECTOR_SIZE, OPT_FIELD(sector_size), V(CLI_IMAGE_ENCRYPT),
          "--sector-size takes 512 or 4096" },
        { "fast-kdf", 0, no_argument, K_FLAG, OPT_FIELD(fast_kdf), V(CLI_IMAGE_ENCRYPT), NULL },
        { "event-log", 0, required_argument, K_STRING, OPT_FIELD(event_log), V(CLI_PCR_PREDICT) | V(CLI_DIAGNOSE), NULL },
        { "kernel", 0, required_argument, K_STRING, OPT_FIELD(kernel), V(CLI_PCR_PREDICT) | V(CLI_DIAGNOSE), NULL },
        { "initrd", 0, required_argument, K_STRING, OPT_FIELD(initrd), V(CLI_PCR_PREDICT) | V(CLI_DIAGNOSE), NULL },
        { "pcrs", 0, required_argument, K_PCRS, OPT_FIELD(predict_pcr_mask), V(CLI_PCR_PREDICT) | V(CLI_POLICY_SIGN),
          "--pcrs takes PCR numbers 0-23 separated by ',' or '+'" },
        { "no-lock-pcr", 0, no_argument, K_FLAG, OPT_FIELD(no_lock_pcr), V(CLI_ENROLL), NULL },
        { "tpm2-srk-pub", 0, required_argument, K_STRING, OPT_FIELD(srk_pub_file), V(CLI_ENROLL), NULL },
        { "pcr-values", 0, required_argument, K_STRING, OPT_FIELD(pcr_values_file),
          V(CLI_ENROLL) | V(CLI_POLICY_SIGN) | V(CLI_RESEAL), NULL },
        { "output", 0, required_argument, K_NONEMPTY, OPT_FIELD(output), V(CLI_HSM_KEYGEN) | V(CLI_SRK_EXPORT) | V(CLI_POLICY_SIGN),
          "--output needs a file name" },
        { "create", 0, no_argument, K_FLAG, OPT_FIELD(create), V(CLI_SRK_EXPORT), NULL },
        { "tpm2-public-key", 0, required_argument, K_NONEMPTY, OPT_FIELD(tpm2_public_key), V(CLI_ENROLL),
          "--tpm2-public-key needs a PEM file" },
        { "key", 0, required_argument, K_NONEMPTY, OPT_FIELD(key_file), V(CLI_POLICY_SIGN), "--key needs a PEM file" },
        { "status", 0, no_argument, K_FLAG, OPT_FIELD(status), V(CLI_REKEY), NULL },
        { "resume", 0, no_argument, K_FLAG, OPT_FIELD(resume), V(CLI_REKEY), NULL },
        { "drop-keyslot", 0, required_argument, K_KEYSLOT_BIT, OPT_FIELD(drop_mask), V(CLI_REKEY),
          "--drop-keyslot takes a keyslot number from 0 to 31" },
        { "no-rekey", 0, no_argument, K_FLAG, OPT_FIELD(no_rekey), V(CLI_IMAGE_ENCRYPT), NULL },
        { "recovery-public-key", 0, required_argument, K_NONEMPTY, OPT_FIELD(recovery_public_key), V(CLI_IMAGE_ENCRYPT),
          "--recovery-public-key needs a PEM file" },
        { "unlock-token", 0, required_argument, K_TOKEN, OPT_FIELD(unlock_token_id), V(CLI_ENROLL),
          "--unlock-token takes a token id from 0 to 31" },
        { "wipe-token", 0, no_argument, K_FLAG, OPT_FIELD(wipe_token), V(CLI_ENROLL), NULL },
#undef F
};

#define N_OPTIONS (sizeof(option_defs) / sizeof(option_defs[0]))

static int usage_error(const char **ret_error, const char *msg) {
        *ret_error = msg;
        return -EINVAL;
}

static bool is_stdin(const char *file) {
        return file && strcmp(file, "-") == 0;
}

static int parse_0_31(const char *s, long *ret) {
        char *end;

        errno = 0;
        *ret = strtol(s, &end, 10);
        return errno != 0 || end == s || *end || *ret < 0 || *ret > 31 ? -EINVAL : 0;
}

/* One option's value into its field: NULL, or the usage error. */
static const char *option_set(const struct option_def *o, struct cli_args *a, const char *v, bool *help) {
        void *field = (char *) a + o->offset;
        size_t n = v ? strlen(v) : 0;
        long l;

        switch (o->kind) {
        case K_STRING:
                *(const char **) field = v;
                return NULL;
        case K_NONEMPTY:
                *(const char **) field = v;
                return n > 0 ? NULL : o->error;
        case K_TCTI:
                *(const char **) field = v;
                if (n > 0 && strchr(v, '/') && strcspn(v, "/") < strcspn(v, ":"))
                        return "--tcti names its module by a name (device, swtpm, pcap:...), never by a path";
                return n > 0 ? NULL : o->error;
        case K_PROVIDER: /* a bare name, which OpenSSL looks for in its modules directory: never a path */
                *(const char **) field = v;
                return n > 0 && !strchr(v, '/') ? NULL : o->error;
        case K_NONCE:
                *(const char **) field = v;
                return n > 0 && n % 2 == 0 && n <= 128 && strspn(v, "0123456789abcdefABCDEF") == n ? NULL : o->error;
        case K_FLAG:
                *(bool *) field = true;
                return NULL;
        case K_COUNT:
                (*(unsigned *) field)++;
                return NULL;
        case K_PCRS:
                return cvmseal_pcr_mask_parse(v, field) < 0 ? o->error : NULL;
        case K_TOKEN:
                if (parse_0_31(v, &l) < 0)
                        return o->error;
                *(int *) field = (int) l;
                return NULL;
        case K_KEYSLOT_BIT:
                if (parse_0_31(v, &l) < 0)
                        return o->error;
                *(uint32_t *) field |= UINT32_C(1) << l;
                return NULL;
        case K_SECTOR_SIZE:
                if (strcmp(v, "512") != 0 && strcmp(v, "4096") != 0)
                        return o->error;
                *(uint32_t *) field = (uint32_t) atoi(v);
                return NULL;
        case K_VERSION:
                a->command = CLI_VERSION;
                return NULL;
        case K_HELP:
                *help = true;
                return NULL;
        }
        return o->error;
}

static bool option_seen(uint64_t seen, const char *name) {
        for (size_t i = 0; i < N_OPTIONS; i++)
                if (strcmp(option_defs[i].name, name) == 0)
                        return seen & (UINT64_C(1) << i);
        return false;
}

/* --hsm and its companions, for every command that takes them. */
static const char *args_hsm(const struct cli_args *a) {
        /* --hsm: a pkcs11: URI, or with --hsm-provider the OSSL_STORE URI of that provider's key. */
        if (a->hsm_uri && !a->hsm_provider && strncmp(a->hsm_uri, "pkcs11:", 7) != 0)
                return "--hsm takes a pkcs11: URI (RFC 7512), or an OSSL_STORE URI with --hsm-provider NAME";
        if ((a->hsm_provider || a->hsm_key_blob) && !a->hsm_uri)
                return "--hsm-provider and --hsm-key-blob need --hsm URI";
        if ((a->hsm_public_key || a->hsm_key_blob) && !a->hsm_provider)
                return "--hsm-public-key and --hsm-key-blob need --hsm-provider NAME";
        if (a->hsm_provider && a->hsm_pin_file)
                return "an OpenSSL provider's key takes no --hsm-pin-file";
        if (a->hsm_key_blob && !strstr(a->hsm_uri, "{key-blob}"))
                return "--hsm-key-blob needs a URI that names the blob by {key-blob}";
        return NULL;
}

static const char *args_enroll_way_in(struct cli_args *a) {
        if (!a->unlock_key_file && a->unlock_token_id < 0)
                return "enroll needs --unlock-key-file FILE or --unlock-token ID";
        if (a->unlock_key_file && a->unlock_token_id >= 0)
                return "--unlock-key-file and --unlock-token are two ways in: give one";
        if (a->wipe_token && a->unlock_token_id < 0)
                return "--wipe-token removes the token of --unlock-token ID";
        if (a->unlock_token_id >= 0 && a->srk_pub_file)
                return "--unlock-token is for an enroll on this machine, not an offline one";
        if (a->pin_file)
                a->tpm2_pin = true; /* a PIN file means a PIN */
        if (is_stdin(a->pin_file) + is_stdin(a->unlock_key_file) + is_stdin(a->hsm_pin_file) > 1)
                return "only one of the key and PIN files can be standard input";
        if ((a->hsm_pin_file || a->hsm_allow_extractable) && !a->hsm_uri)
                return "--hsm-pin-file and --hsm-allow-extractable need --hsm URI";
        return NULL;
}

static const char *args_enroll(struct cli_args *a, const char *const *pos, unsigned npos) {
        const char *e = args_enroll_way_in(a);

        if (e)
                return e;
        /* Offline: both files, nothing of this machine's (its HSM is not the target's). */
        if (!!a->srk_pub_file != !!a->pcr_values_file)
                return "offline enroll needs both --tpm2-srk-pub FILE and --pcr-values FILE";
        if (a->srk_pub_file && a->hsm_uri && !a->hsm_public_key)
                return "--hsm binds to this machine's HSM: with --tpm2-srk-pub, bind to the target's HSM key with "
                       "--hsm-provider NAME --hsm URI --hsm-public-key PEM";
        if (a->hsm_provider && strstr(a->hsm_uri, "{key-blob}") && !a->hsm_key_blob)
                return "the URI names a key blob by {key-blob}: give it with --hsm-key-blob FILE";
        if (a->hsm_public_key && a->hsm_allow_extractable)
                return "--hsm-allow-extractable needs the HSM key itself, not --hsm-public-key";
        if (is_stdin(a->hsm_public_key) + is_stdin(a->hsm_key_blob) + is_stdin(a->unlock_key_file) +
                    is_stdin(a->pin_file) + is_stdin(a->tpm2_public_key) + is_stdin(a->srk_pub_file) +
                    is_stdin(a->pcr_values_file) > 1)
                return "only one of the files can be standard input";
        if (a->tpm2_public_key && a->srk_pub_file)
                return "--tpm2-public-key cannot be sealed offline (--tpm2-srk-pub)";
        if (is_stdin(a->tpm2_public_key) &&
            (is_stdin(a->pin_file) || is_stdin(a->unlock_key_file) || is_stdin(a->hsm_pin_file)))
                return "only one of the key, PIN and public-key files can be standard input";
        if (a->srk_pub_file && is_stdin(a->unlock_key_file) + is_stdin(a->pin_file) + is_stdin(a->srk_pub_file) +
                                       is_stdin(a->pcr_values_file) > 1)
                return "only one of the key, PIN, SRK and pcr-values files can be standard input";
        return NULL;
}

static const char *args_unlock(struct cli_args *a, const char *const *pos, unsigned npos) {
        if ((a->test ? 1 : 0) + (a->print_key ? 1 : 0) + (a->name ? 1 : 0) != 1)
                return "unlock takes exactly one of --test, --print-key and NAME";
        if (a->print_key && a->json)
                return "--print-key writes the key itself, not JSON";
        if (a->name && (!*a->name || strchr(a->name, '/')))
                return "NAME is a device-mapper name, without '/'";
        return NULL;
}

static const char *args_remove(struct cli_args *a, const char *const *pos, unsigned npos) {
        return a->token_id < 0 ? "remove needs --token ID" : NULL;
}

static const char *args_reseal(struct cli_args *a, const char *const *pos, unsigned npos) {
        /* reseal: without --tpm2-pcrs, the old token's PCRs (0 tells the library). */
        if (!a->pcrs_given)
                a->pcr_mask = 0;
        if (is_stdin(a->pin_file) + is_stdin(a->unlock_key_file) + is_stdin(a->hsm_pin_file) +
                    is_stdin(a->pcr_values_file) > 1)
                return "only one of the key, PIN and pcr-values files can be standard input";
        return NULL;
}

static const char *args_rekey(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (!a->device && !a->resume)
                return "DEVICE is missing (only rekey --resume goes without it)";
        if (a->resume && (a->status || a->drop_mask))
                return "rekey --resume takes neither --status nor --drop-keyslot";
        if (a->status && (a->unlock_key_file || a->pin_file || a->drop_mask))
                return "rekey --status only reads: it takes no key, PIN or keyslot";
        if (is_stdin(a->unlock_key_file) && is_stdin(a->pin_file))
                return "only one of the key and PIN files can be standard input";
        return NULL;
}

static const char *args_attest(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (strcmp(a->device, "collect") == 0) {
                if (a->name || a->attest_policy)
                        return "attest collect takes no EVIDENCE and no --policy";
        } else if (strcmp(a->device, "verify") == 0) {
                a->command = CLI_ATTEST_VERIFY;
                if (!a->attest_policy || !a->name)
                        return "attest verify needs --policy FILE and EVIDENCE";
                if (a->nonce)
                        return "attest verify takes the nonce from the policy";
                a->evidence = TAKE_PTR(a->name);
        } else
                return "unknown attest subcommand (collect or verify)";
        a->device = NULL;
        return NULL;
}

static const char *args_pcr(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (strcmp(a->device, "predict") != 0)
                return "unknown pcr subcommand (try: pcr predict --event-log FILE)";
        a->device = NULL;
        if (!a->event_log)
                return "pcr predict needs --event-log FILE";
        if (is_stdin(a->event_log) + is_stdin(a->kernel) + is_stdin(a->initrd) > 1)
                return "only one of the event log, kernel and initrd can be standard input";
        return NULL;
}

static const char *args_image(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (strcmp(a->device, "encrypt") != 0)
                return "unknown image subcommand (try: image encrypt RAW IMG --unlock-key-file FILE)";
        if (npos != 4)
                return "image encrypt takes RAW and IMG";
        a->device = a->name = NULL;
        a->raw = pos[2];
        a->image = pos[3];
        if (!a->unlock_key_file)
                return "image encrypt needs --unlock-key-file FILE";
        if (strcmp(a->raw, "-") == 0 || strcmp(a->image, "-") == 0)
                return "RAW and IMG are files: standard input and output have no size";
        if (!a->pcrs_given)
                a->pcr_mask = 0; /* the first boot's default */
        return NULL;
}

static const char *args_policy(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (strcmp(a->device, "sign") != 0)
                return "unknown policy subcommand (try: policy sign --key PEM --pcr-values FILE)";
        a->device = NULL;
        if (!a->key_file || !a->pcr_values_file)
                return "policy sign needs --key PEM and --pcr-values FILE";
        if (is_stdin(a->key_file) && is_stdin(a->pcr_values_file))
                return "only one of --key and --pcr-values can be standard input";
        return NULL;
}

static const char *args_srk(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (strcmp(a->device, "export") != 0)
                return "unknown srk subcommand (try: srk export [--output FILE])";
        a->device = NULL;
        return NULL;
}

static const char *args_hsm_keygen(struct cli_args *a, const char *const *pos, unsigned npos) {
        if (strcmp(a->device, "keygen") != 0)
                return "unknown hsm subcommand (try: hsm keygen --hsm URI)";
        a->device = NULL;
        if (!a->hsm_uri)
                return "hsm keygen needs --hsm URI";
        if (a->hsm_provider && !a->hsm_key_blob)
                return "hsm keygen --hsm-provider needs --hsm-key-blob FILE (where the key blob goes) and a URI that "
                       "names it by {key-blob}";
        if (is_stdin(a->hsm_key_blob))
                return "hsm keygen writes the key blob to a file, not to standard output";
        if (a->output && !a->hsm_provider)
                return "hsm keygen --output (the public key) needs --hsm-provider NAME";
        return NULL;
}

static const struct command_def {
        const char *name;
        enum cli_command command;
        unsigned min_pos, max_pos;    /* positional arguments after the command's name */
        const char *missing;          /* the usage error below min_pos */
        const char *(*check)(struct cli_args *a, const char *const *pos, unsigned npos);
} cli_commands[] = {
        { "enroll", CLI_ENROLL, 1, 1, "DEVICE is missing", args_enroll },
        { "unlock", CLI_UNLOCK, 1, 2, "DEVICE is missing", args_unlock },
        { "list", CLI_LIST, 1, 1, "DEVICE is missing", NULL },
        { "remove", CLI_REMOVE, 1, 1, "DEVICE is missing", args_remove },
        { "hsm", CLI_HSM_KEYGEN, 1, 1, "hsm takes a subcommand: keygen", args_hsm_keygen },
        { "attest", CLI_ATTEST_COLLECT, 1, 2, "attest takes a subcommand: collect or verify", args_attest },
        { "pcr", CLI_PCR_PREDICT, 1, 1, "pcr takes a subcommand: predict", args_pcr },
        { "lock", CLI_LOCK, 0, 0, NULL, NULL },
        { "provision", CLI_PROVISION, 1, 1, "DEVICE is missing", NULL },
        { "image", CLI_IMAGE_ENCRYPT, 1, 3, "image takes a subcommand: encrypt", args_image },
        { "srk", CLI_SRK_EXPORT, 1, 1, "srk takes a subcommand: export", args_srk },
        { "policy", CLI_POLICY_SIGN, 1, 1, "policy takes a subcommand: sign", args_policy },
        { "reseal", CLI_RESEAL, 1, 1, "DEVICE is missing", args_reseal },
        { "rotate", CLI_ROTATE, 1, 1, "DEVICE is missing", args_reseal },
        { "rekey", CLI_REKEY, 0, 1, NULL, args_rekey },
        { "diagnose", CLI_DIAGNOSE, 1, 1, "DEVICE is missing", NULL },
        { "help", CLI_HELP, 0, 0, NULL, NULL },
};

/* The options as getopt_long wants them: each returns 0x100 + its index in option_defs. */
static const struct option *long_options(void) {
        static struct option o[N_OPTIONS + 1];

        for (size_t i = 0; i < N_OPTIONS; i++)
                o[i] = (struct option) { option_defs[i].name, option_defs[i].has_arg, NULL, 0x100 + (int) i };
        return o;
}

static const struct option_def *option_of(int c) {
        for (size_t i = 0; i < N_OPTIONS; i++)
                if (c == 0x100 + (int) i || (c < 0x100 && c == option_defs[i].short_name))
                        return &option_defs[i];
        return NULL;
}

/* The command named by pos[0] (with --help: its help), its positional arguments and the options seen
 * checked. */
static const char *command_apply(struct cli_args *a, const char *const *pos, unsigned npos, uint64_t seen, bool help) {
        const struct command_def *d = NULL;

        for (size_t i = 0; i < sizeof(cli_commands) / sizeof(cli_commands[0]) && !d; i++)
                if (strcmp(pos[0], cli_commands[i].name) == 0)
                        d = &cli_commands[i];
        if (!d)
                return "unknown command (try --help)";
        a->command = d->command;
        if (help || d->command == CLI_HELP) {
                a->command = CLI_HELP;
                return NULL;
        }
        for (size_t i = 0; i < N_OPTIONS; i++)
                if ((seen & (UINT64_C(1) << i)) && !(option_defs[i].verbs & V(d->command)))
                        return "an option does not apply to this command";
        if (npos - 1 < d->min_pos)
                return d->missing;
        if (npos - 1 > d->max_pos)
                return "too many arguments";
        a->device = npos > 1 ? pos[1] : NULL;
        a->name = npos > 2 ? pos[2] : NULL;
        a->pcrs_given = option_seen(seen, "tpm2-pcrs");
        if (args_hsm(a))
                return args_hsm(a);
        return d->check ? d->check(a, pos, npos) : NULL;
}

int cli_parse(int argc, char *argv[], struct cli_args *ret, const char **ret_error) {
        struct cli_args a = {
                .command = CLI_NONE,
                .pcr_mask = UINT32_C(1) << 7,
                .token_id = -1,
                .unlock_token_id = -1,
        };
        const struct option *options = long_options();
        const char *pos[4], *e;
        unsigned npos = 0;
        uint64_t seen = 0;
        bool help = false;
        int c;

        *ret_error = NULL;
        optind = 0; /* reset getopt, and let it permute: options may follow the command's name */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "-vh", options, NULL)) >= 0) {
                const struct option_def *o = option_of(c);

                if (c == 1) { /* a positional argument, in order */
                        if (npos >= sizeof(pos) / sizeof(pos[0]))
                                return usage_error(ret_error, "too many arguments");
                        pos[npos++] = optarg;
                        continue;
                }
                if (!o)
                        return usage_error(ret_error, optopt ? "an option is missing its argument or unknown"
                                                             : "unknown option");
                seen |= UINT64_C(1) << (o - option_defs);
                e = option_set(o, &a, optarg, &help);
                if (e)
                        return usage_error(ret_error, e);
        }

        if (a.command != CLI_VERSION) {
                if (npos == 0 && !help)
                        return usage_error(ret_error, "no command given (try --help)");
                e = npos == 0 ? NULL : command_apply(&a, pos, npos, seen, help);
                if (e)
                        return usage_error(ret_error, e);
                if (npos == 0)
                        a.command = CLI_HELP;
        }
        *ret = a;
        return 0;
}

int cli_exit_code(int r) {
        return cvmseal_exit_code(r);
}
