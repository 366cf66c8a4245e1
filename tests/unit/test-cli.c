/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Argument parsing of the command-line contract, and the errno -> exit code table (scripts outside
 * the project depend on both). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

#define ARGV(...) ((char *[]) { "cvmseal", __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof((char *[]) { "cvmseal", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(ret, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (ret), &error)

static const char *error;

static void test_enroll(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "enroll", "/dev/vda2", "--unlock-key-file", "k"), 0);
        assert_int_equal(a.command, CLI_ENROLL);
        assert_string_equal(a.device, "/dev/vda2");
        assert_string_equal(a.unlock_key_file, "k");
        assert_int_equal(a.pcr_mask, 1u << 7); /* the default */
        assert_false(a.tpm2_pin);
        assert_false(a.json);
        assert_null(a.tcti);

        /* Global options before and after the command's name. */
        assert_int_equal(PARSE(&a, "--json", "--tcti", "swtpm:path=/s", "enroll", "img", "--unlock-key-file", "-",
                               "--tpm2-pcrs", "0+2,7", "--recovery-key", "-v"), 0);
        assert_true(a.json);
        assert_string_equal(a.tcti, "swtpm:path=/s");
        assert_int_equal(a.pcr_mask, (1u << 0) | (1u << 2) | (1u << 7));
        assert_true(a.recovery_key);
        assert_int_equal(a.verbose, 1);
        assert_int_equal(PARSE(&a, "enroll", "img", "--json", "--unlock-key-file=k"), 0);
        assert_true(a.json);

        /* A PIN file implies a PIN. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--pin-file", "p"), 0);
        assert_true(a.tpm2_pin);
        assert_string_equal(a.pin_file, "p");
}

static void test_unlock(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "unlock", "img", "--test"), 0);
        assert_int_equal(a.command, CLI_UNLOCK);
        assert_true(a.test);
        assert_null(a.name);
        assert_int_equal(a.token_id, -1);
        assert_int_equal(PARSE(&a, "unlock", "img", "root", "--token", "3"), 0);
        assert_string_equal(a.name, "root");
        assert_int_equal(a.token_id, 3);
        assert_int_equal(PARSE(&a, "unlock", "--print-key", "img", "--pin-file", "-"), 0);
        assert_true(a.print_key);
        assert_string_equal(a.device, "img");
}

static void test_other_commands(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "list", "img", "--json"), 0);
        assert_int_equal(a.command, CLI_LIST);
        assert_int_equal(PARSE(&a, "remove", "img", "--token", "0"), 0);
        assert_int_equal(a.command, CLI_REMOVE);
        assert_int_equal(a.token_id, 0);
        assert_int_equal(PARSE(&a, "--help"), 0);
        assert_int_equal(a.command, CLI_HELP);
        assert_int_equal(PARSE(&a, "unlock", "--help"), 0);
        assert_int_equal(a.command, CLI_HELP);
        assert_int_equal(PARSE(&a, "--version"), 0);
        assert_int_equal(a.command, CLI_VERSION);
}

static void test_pcr_predict(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "pcr", "predict", "--event-log", "log.bin"), 0);
        assert_int_equal(a.command, CLI_PCR_PREDICT);
        assert_string_equal(a.event_log, "log.bin");
        assert_null(a.kernel);
        assert_null(a.initrd);
        assert_int_equal(a.predict_pcr_mask, 0); /* every PCR the log extends */
        assert_null(a.device);

        assert_int_equal(PARSE(&a, "--json", "pcr", "--kernel", "vmlinuz", "predict", "--initrd", "initrd.img",
                               "--event-log=-", "--pcrs", "4,9+11"), 0);
        assert_true(a.json);
        assert_string_equal(a.event_log, "-");
        assert_string_equal(a.kernel, "vmlinuz");
        assert_string_equal(a.initrd, "initrd.img");
        assert_int_equal(a.predict_pcr_mask, (1u << 4) | (1u << 9) | (1u << 11));
        assert_int_equal(PARSE(&a, "pcr", "predict", "--help"), 0);
        assert_int_equal(a.command, CLI_HELP);

        assert_int_equal(PARSE(&a, "pcr"), -EINVAL);                                        /* no subcommand */
        assert_int_equal(PARSE(&a, "pcr", "predict"), -EINVAL);                             /* no --event-log */
        assert_int_equal(PARSE(&a, "pcr", "guess", "--event-log", "l"), -EINVAL);
        assert_int_equal(PARSE(&a, "pcr", "predict", "extra", "--event-log", "l"), -EINVAL);
        assert_int_equal(PARSE(&a, "pcr", "predict", "--event-log", "l", "--pcrs", "24"), -EINVAL);
        assert_int_equal(PARSE(&a, "pcr", "predict", "--event-log", "l", "--pcrs", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "pcr", "predict", "--event-log", "-", "--kernel", "-"), -EINVAL);
        assert_int_equal(PARSE(&a, "pcr", "predict", "--event-log", "l", "--tpm2-pin"), -EINVAL); /* not pcr's */
        assert_int_equal(PARSE(&a, "pcr", "predict", "--event-log"), -EINVAL);              /* no argument */
        assert_int_equal(PARSE(&a, "list", "img", "--kernel", "k"), -EINVAL);               /* not list's */
}

static void test_reseal_rotate(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "reseal", "img"), 0);
        assert_int_equal(a.command, CLI_RESEAL);
        assert_string_equal(a.device, "img");
        assert_int_equal(a.pcr_mask, 0); /* the old token's PCRs */
        assert_int_equal(a.token_id, -1);
        assert_null(a.pcr_values_file);
        assert_int_equal(PARSE(&a, "--json", "reseal", "img", "--token", "2", "--tpm2-pcrs", "0+7", "--pcr-values",
                               "v.json", "--pin-file", "p"), 0);
        assert_true(a.json);
        assert_int_equal(a.token_id, 2);
        assert_int_equal(a.pcr_mask, (1u << 0) | (1u << 7));
        assert_string_equal(a.pcr_values_file, "v.json");
        assert_string_equal(a.pin_file, "p");
        assert_int_equal(PARSE(&a, "reseal", "img", "--unlock-key-file", "k", "--hsm-pin-file", "h"), 0);
        assert_string_equal(a.unlock_key_file, "k");
        assert_string_equal(a.hsm_pin_file, "h");

        assert_int_equal(PARSE(&a, "rotate", "img", "--token", "0", "--json"), 0);
        assert_int_equal(a.command, CLI_ROTATE);
        assert_int_equal(a.token_id, 0);
        assert_int_equal(a.pcr_mask, 0);

        /* rotate keeps the PCRs and their values. */
        assert_int_equal(PARSE(&a, "rotate", "img", "--tpm2-pcrs", "7"), -EINVAL);
        assert_int_equal(PARSE(&a, "rotate", "img", "--pcr-values", "v.json"), -EINVAL);
        assert_int_equal(PARSE(&a, "reseal"), -EINVAL);
        assert_int_equal(PARSE(&a, "reseal", "img", "extra"), -EINVAL);
        assert_int_equal(PARSE(&a, "reseal", "img", "--recovery-key"), -EINVAL);
        assert_int_equal(PARSE(&a, "reseal", "img", "--pcr-values", "-", "--pin-file", "-"), -EINVAL);
        assert_int_equal(PARSE(&a, "reseal", "img", "--token", "32"), -EINVAL);
}

static void test_offline(void **state) {
        struct cli_args a;

        /* Offline enroll: both files; --tpm2-pcrs optional (then every PCR of the file). */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-srk-pub", "srk.pub",
                               "--pcr-values", "pv.json"), 0);
        assert_int_equal(a.command, CLI_ENROLL);
        assert_string_equal(a.srk_pub_file, "srk.pub");
        assert_string_equal(a.pcr_values_file, "pv.json");
        assert_false(a.pcrs_given);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-srk-pub", "srk.pub",
                               "--pcr-values", "pv.json", "--tpm2-pcrs", "7,14", "--pin-file", "p", "--json"), 0);
        assert_true(a.pcrs_given);
        assert_int_equal(a.pcr_mask, (1u << 7) | (1u << 14));
        assert_true(a.tpm2_pin);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-srk-pub", "srk.pub"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--pcr-values", "pv.json"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-srk-pub", "s", "--pcr-values",
                               "p", "--hsm", "pkcs11:token=t;object=o"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "-", "--tpm2-srk-pub", "-", "--pcr-values",
                               "p"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--tpm2-srk-pub", "s"), -EINVAL);

        /* srk export */
        assert_int_equal(PARSE(&a, "srk", "export"), 0);
        assert_int_equal(a.command, CLI_SRK_EXPORT);
        assert_null(a.device);
        assert_null(a.output);
        assert_false(a.create);
        assert_int_equal(PARSE(&a, "--json", "srk", "export", "--output", "srk.pub", "--create"), 0);
        assert_string_equal(a.output, "srk.pub");
        assert_true(a.create);
        assert_true(a.json);
        assert_int_equal(PARSE(&a, "srk"), -EINVAL);
        assert_int_equal(PARSE(&a, "srk", "import"), -EINVAL);
        assert_int_equal(PARSE(&a, "srk", "export", "extra"), -EINVAL);
        assert_int_equal(PARSE(&a, "srk", "export", "--output", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "srk", "export", "--test"), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "--create"), -EINVAL);
}

static void test_signed_policy(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-public-key", "pub.pem",
                               "--tpm2-pcrs", "4,7"), 0);
        assert_int_equal(a.command, CLI_ENROLL);
        assert_string_equal(a.tpm2_public_key, "pub.pem");
        assert_int_equal(a.pcr_mask, (1u << 4) | (1u << 7));
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k"), 0);
        assert_null(a.tpm2_public_key);

        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "k.pem", "--pcr-values", "v.json"), 0);
        assert_int_equal(a.command, CLI_POLICY_SIGN);
        assert_null(a.device);
        assert_string_equal(a.key_file, "k.pem");
        assert_string_equal(a.pcr_values_file, "v.json");
        assert_int_equal(a.predict_pcr_mask, 0); /* every PCR of the document */
        assert_null(a.output);
        assert_int_equal(PARSE(&a, "--json", "policy", "sign", "--key", "-", "--pcr-values", "v.json", "--pcrs", "4+7",
                               "--output", "p.json"), 0);
        assert_true(a.json);
        assert_string_equal(a.key_file, "-");
        assert_int_equal(a.predict_pcr_mask, (1u << 4) | (1u << 7));
        assert_string_equal(a.output, "p.json");

        assert_int_equal(PARSE(&a, "policy"), -EINVAL);                                         /* no subcommand */
        assert_int_equal(PARSE(&a, "policy", "verify", "--key", "k", "--pcr-values", "v"), -EINVAL);
        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "k"), -EINVAL);                   /* no values */
        assert_int_equal(PARSE(&a, "policy", "sign", "--pcr-values", "v"), -EINVAL);            /* no key */
        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "-", "--pcr-values", "-"), -EINVAL);
        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "", "--pcr-values", "v"), -EINVAL);
        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "k", "--pcr-values", "v", "--pcrs", "24"), -EINVAL);
        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "k", "--pcr-values", "v", "--tpm2-pin"), -EINVAL);
        assert_int_equal(PARSE(&a, "policy", "sign", "--key", "k", "--pcr-values", "v", "extra"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--key", "k"), -EINVAL);          /* not unlock's */
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--tpm2-public-key", "p"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-public-key", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "-", "--tpm2-public-key", "-"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-public-key", "p",
                               "--tpm2-srk-pub", "s", "--pcr-values", "v"), -EINVAL);  /* not offline */
}

static void test_image_encrypt(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "image", "encrypt", "raw.img", "out.img", "--unlock-key-file", "k"), 0);
        assert_int_equal(a.command, CLI_IMAGE_ENCRYPT);
        assert_string_equal(a.raw, "raw.img");
        assert_string_equal(a.image, "out.img");
        assert_string_equal(a.unlock_key_file, "k");
        assert_null(a.device);
        assert_null(a.name);
        assert_int_equal(a.pcr_mask, 0);      /* the first boot's default */
        assert_int_equal(a.sector_size, 0);   /* chosen by RAW's size */
        assert_false(a.fast_kdf);
        assert_null(a.attest_policy);
        assert_null(a.hsm_uri);

        assert_int_equal(PARSE(&a, "--json", "image", "--sector-size", "4096", "encrypt", "r", "--fast-kdf", "i",
                               "--unlock-key-file=-", "--tpm2-pcrs", "4,7+9", "--attest-policy", "p.json",
                               "--hsm", "pkcs11:token=t;object=o"), 0);
        assert_true(a.json);
        assert_string_equal(a.raw, "r");
        assert_string_equal(a.image, "i");
        assert_string_equal(a.unlock_key_file, "-");
        assert_int_equal(a.sector_size, 4096);
        assert_true(a.fast_kdf);
        assert_int_equal(a.pcr_mask, (1u << 4) | (1u << 7) | (1u << 9));
        assert_string_equal(a.attest_policy, "p.json");
        assert_string_equal(a.hsm_uri, "pkcs11:token=t;object=o");
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--sector-size", "512"), 0);
        assert_int_equal(a.sector_size, 512);
        assert_int_equal(PARSE(&a, "image", "encrypt", "--help"), 0);
        assert_int_equal(a.command, CLI_HELP);

        assert_int_equal(PARSE(&a, "image"), -EINVAL);                                         /* no subcommand */
        assert_int_equal(PARSE(&a, "image", "decrypt", "r", "i", "--unlock-key-file", "k"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "--unlock-key-file", "k"), -EINVAL);   /* no IMG */
        assert_int_equal(PARSE(&a, "image", "encrypt", "--unlock-key-file", "k"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "x", "--unlock-key-file", "k"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i"), -EINVAL);                   /* no key file */
        assert_int_equal(PARSE(&a, "image", "encrypt", "-", "i", "--unlock-key-file", "k"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "-", "--unlock-key-file", "k"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--sector-size", "1024"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--sector-size", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--sector-size"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--tpm2-pcrs", "24"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--hsm", "file:x"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--tpm2-pin"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--recovery-key"), -EINVAL);
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--hsm-pin-file", "p"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--fast-kdf"), -EINVAL);  /* image's */
        assert_int_equal(PARSE(&a, "list", "img", "--sector-size", "512"), -EINVAL);
}

static void test_usage_errors(void **state) {
        struct cli_args a;

        assert_int_equal(cli_parse(1, ARGV(NULL), &a, &error), -EINVAL);
        assert_non_null(error);
        assert_int_equal(PARSE(&a, "frobnicate", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img"), -EINVAL);                             /* no key file */
        assert_int_equal(PARSE(&a, "enroll", "--unlock-key-file", "k"), -EINVAL);          /* no device */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", "24"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", "7,"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-pcrs", "-1"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "-", "--pin-file", "-"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--test"), -EINVAL); /* not enroll's */
        assert_int_equal(PARSE(&a, "unlock", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--print-key"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "name", "--test"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--print-key", "--json"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "a/b"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--token", "32"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--token", "x"), -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--tcti"), -EINVAL);          /* no argument */
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--tcti", ""), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "extra"), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "--recovery-key"), -EINVAL);
        assert_int_equal(PARSE(&a, "remove", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "list", "img", "--no-such-option"), -EINVAL);
}

static void test_diagnose_and_migration(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "diagnose", "img"), 0);
        assert_int_equal(a.command, CLI_DIAGNOSE);
        assert_string_equal(a.device, "img");
        assert_int_equal(a.token_id, -1);
        assert_null(a.event_log);
        assert_int_equal(PARSE(&a, "--json", "diagnose", "img", "--token", "2", "--event-log", "log", "--kernel", "k",
                               "--initrd", "i", "--hsm-pin-file", "p"), 0);
        assert_int_equal(a.token_id, 2);
        assert_string_equal(a.event_log, "log");
        assert_string_equal(a.kernel, "k");
        assert_string_equal(a.initrd, "i");
        assert_string_equal(a.hsm_pin_file, "p");
        assert_int_equal(PARSE(&a, "diagnose"), -EINVAL);
        assert_int_equal(PARSE(&a, "diagnose", "img", "--test"), -EINVAL);
        assert_int_equal(PARSE(&a, "diagnose", "img", "--unlock-token", "0"), -EINVAL);

        /* enroll's way in through another token. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-token", "0"), 0);
        assert_int_equal(a.unlock_token_id, 0);
        assert_null(a.unlock_key_file);
        assert_false(a.wipe_token);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-token", "31", "--wipe-token", "--pin-file", "-"), 0);
        assert_int_equal(a.unlock_token_id, 31);
        assert_true(a.wipe_token);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k"), 0);
        assert_int_equal(a.unlock_token_id, -1);
        assert_int_equal(PARSE(&a, "enroll", "img"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-token", "0", "--unlock-key-file", "k"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--wipe-token"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-token", "32"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-token", "x"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-token", "0", "--tpm2-srk-pub", "s", "--pcr-values", "v"),
                         -EINVAL);
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--unlock-token", "0"), -EINVAL);
        assert_int_equal(PARSE(&a, "reseal", "img", "--wipe-token"), -EINVAL);
}

static void test_exit_codes(void **state) {
        static const struct {
                int r, code;
        } cases[] = {
                { 0, 0 },           { 5, 0 },
                { -EPERM, 3 },      { -EREMCHG, 3 },    { -ENOMSG, 3 },
                { -EBADE, 4 },
                { -ENOKEY, 5 },     { -EKEYREVOKED, 5 }, { -EKEYEXPIRED, 5 }, { -ENOTUNIQ, 5 },
                { -ENODEV, 6 },     { -ETIMEDOUT, 6 },  { -ENOBUFS, 6 },
                { -ENOANO, 7 },     { -EACCES, 7 },
                { -EMEDIUMTYPE, 8 }, { -ENOMEDIUM, 8 },
                { -ENOLCK, 9 },
                { -EBADMSG, 10 },  { -EPROTO, 10 },
                { -ENOENT, 1 },     { -EKEYREJECTED, 1 }, { -ENOSPC, 1 }, { -EBUSY, 1 },
                { -ENOTSUP, 1 },    { -ENOMEM, 1 },       { -EIO, 1 },    { -EINVAL, 1 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (cli_exit_code(cases[i].r) != cases[i].code)
                        fail_msg("errno %d: exit %d, want %d", cases[i].r, cli_exit_code(cases[i].r), cases[i].code);
}

/* The OpenSSL provider backend: --hsm-provider NAME --hsm STORE-URI, its key blob, its public key. */
static void test_hsm_provider(void **state) {
        struct cli_args a;

        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "tpm2", "--hsm",
                               "handle:0x81000101"), 0);
        assert_string_equal(a.hsm_provider, "tpm2");
        assert_string_equal(a.hsm_uri, "handle:0x81000101");
        assert_null(a.hsm_key_blob);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "azihsm_provider",
                               "--hsm", "azihsm://{key-blob};type=rsa", "--hsm-key-blob", "disk.masked"), 0);
        assert_string_equal(a.hsm_key_blob, "disk.masked");

        /* A provider is a bare name: never a path. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "/tmp/evil.so",
                               "--hsm", "handle:0x81000101"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "./tpm2",
                               "--hsm", "handle:0x81000101"), -EINVAL);
        /* A store URI only with a provider; the provider only with a URI; no PIN file for it. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm", "handle:0x81000101"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "tpm2"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "tpm2", "--hsm",
                               "handle:0x81000101", "--hsm-pin-file", "p"), -EINVAL);
        /* A key blob only with a URI that names it. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "tpm2", "--hsm",
                               "handle:0x81000101", "--hsm-key-blob", "b"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm", "pkcs11:token=t",
                               "--hsm-key-blob", "b"), -EINVAL);

        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "tpm2", "--hsm",
                               "{key-blob}"), -EINVAL);

        /* Offline: the target's HSM key from its public half, with the target's SRK. */
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--tpm2-srk-pub", "s", "--pcr-values",
                               "p", "--hsm-provider", "tpm2", "--hsm", "handle:0x81000101", "--hsm-public-key",
                               "hsm.pem"), 0);
        assert_string_equal(a.hsm_public_key, "hsm.pem");
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-public-key", "hsm.pem"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "k", "--hsm-provider", "tpm2", "--hsm",
                               "handle:0x81000101", "--hsm-public-key", "hsm.pem", "--hsm-allow-extractable"), -EINVAL);
        assert_int_equal(PARSE(&a, "enroll", "img", "--unlock-key-file", "-", "--hsm-provider", "tpm2", "--hsm",
                               "handle:0x81000101", "--hsm-public-key", "-"), -EINVAL);

        /* hsm keygen through a provider writes a blob. */
        assert_int_equal(PARSE(&a, "hsm", "keygen", "--hsm-provider", "tpm2", "--hsm", "{key-blob}", "--hsm-key-blob",
                               "k.blob", "--output", "k.pem"), 0);
        assert_int_equal(a.command, CLI_HSM_KEYGEN);
        assert_string_equal(a.output, "k.pem");
        assert_int_equal(PARSE(&a, "hsm", "keygen", "--hsm-provider", "tpm2", "--hsm", "{key-blob}"), -EINVAL);
        assert_int_equal(PARSE(&a, "hsm", "keygen", "--hsm", "pkcs11:token=t;object=o", "--output", "k.pem"), -EINVAL);

        /* image encrypt: the first boot's provider. */
        assert_int_equal(PARSE(&a, "image", "encrypt", "r", "i", "--unlock-key-file", "k", "--hsm-provider", "tpm2",
                               "--hsm", "handle:0x81000101"), 0);
        assert_string_equal(a.hsm_provider, "tpm2");
        assert_int_equal(PARSE(&a, "unlock", "img", "--test", "--hsm-provider", "tpm2"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enroll),
                cmocka_unit_test(test_unlock),
                cmocka_unit_test(test_other_commands),
                cmocka_unit_test(test_pcr_predict),
                cmocka_unit_test(test_reseal_rotate),
                cmocka_unit_test(test_offline),
                cmocka_unit_test(test_signed_policy),
                cmocka_unit_test(test_image_encrypt),
                cmocka_unit_test(test_hsm_provider),
                cmocka_unit_test(test_diagnose_and_migration),
                cmocka_unit_test(test_usage_errors),
                cmocka_unit_test(test_exit_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
