/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cvmseal(1): the command line.  Thin by design: it parses arguments, reads the files and prompts
 * that hold secrets into secret buffers, calls libcvmseal, and turns the result into output and an
 * exit code (DESIGN, "Command-line contract").  Human messages go to stderr; --json puts one JSON
 * document on stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cvmseal.h"

static struct cli_args arg;

static void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cli_error(const char *fmt, ...) {
        va_list ap;

        fputs("cvmseal: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cli_info(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static struct timespec start_time;

static void library_log(int level, const char *message, void *userdata) {
        struct timespec now;

        (void) level;
        (void) userdata;
        clock_gettime(CLOCK_MONOTONIC, &now);
        fprintf(stderr, "cvmseal: debug: [%7.3f ms] %s\n",
                (double) (now.tv_sec - start_time.tv_sec) * 1e3 + (double) (now.tv_nsec - start_time.tv_nsec) / 1e6,
                message);
}

static void cli_print_json(json_object *j) {
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Reports a failure: one line on stderr, and with --json an error document on stdout.  Returns the
 * exit code. */
static int cli_fail(int exit_code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli_fail(int exit_code, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        cli_error("%s", msg);

        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                if (j) {
                        json_object_object_add(j, "error", json_object_new_string(msg));
                        json_object_object_add(j, "exit-code", json_object_new_int(exit_code));
                        cli_print_json(j);
                }
        }
        return exit_code;
}

/* A library error in the library's words (cvmseal_error_message()), about device. */
static int cli_fail_errno(int r, const char *device) {
        char msg[1024];
        int code;

        code = cvmseal_error_message(r,
                                     &(const struct cvmseal_error_context) {
                                             .subject = device,
                                             .tcti = arg.tcti,
                                             .tpm_detail = true,
                                             .token_id = arg.token_id,
                                             .name = arg.name,
                                             .hsm_provider = arg.hsm_provider != NULL,
                                     },
                                     msg, sizeof(msg));
        return cli_fail(code, "%s", msg);
}

/* The PIN of --pin-file, else from the terminal (cvmseal_pin_read()): 0, or the exit code after the
 * message. */
static int cli_read_pin(bool confirm, cvmseal_secret **ret) {
        int r;

        r = cvmseal_pin_read(arg.pin_file, "PIN: ", confirm, CVMSEAL_PIN_MAX, ret);
        if (r >= 0)
                return 0;
        if (arg.pin_file)
                return r == -ENODATA ? cli_fail(EXIT_PIN, "%s: the PIN file is empty", arg.pin_file)
                     : r == -EFBIG   ? cli_fail(EXIT_PIN, "%s: the PIN is longer than %u bytes", arg.pin_file, CVMSEAL_PIN_MAX)
                                     : cli_fail(EXIT_OTHER, "cannot read the PIN from %s: %s", arg.pin_file, strerror(-r));
        if (r == -ENOANO)
                return cli_fail(EXIT_PIN, "a PIN is needed and there is no terminal to ask for it: give --pin-file FILE");
        if (r == -EKEYREJECTED)
                return cli_fail(EXIT_PIN, "the PINs differ");
        return cli_fail(EXIT_PIN, "cannot read the PIN: %s", strerror(-r));
}

/* The HSM PIN of --hsm-pin-file: 0, or the exit code after the message. */
static int cli_read_hsm_pin_file(cvmseal_secret **ret) {
        int r;

        r = cvmseal_pin_read(arg.hsm_pin_file, NULL, false, CVMSEAL_HSM_PIN_MAX, ret);
        if (r == -ENODATA)
                return cli_fail(EXIT_HSM, "%s: the HSM PIN file is empty", arg.hsm_pin_file);
        if (r == -EFBIG)
                return cli_fail(EXIT_HSM, "%s: the HSM PIN is longer than %u bytes", arg.hsm_pin_file, CVMSEAL_HSM_PIN_MAX);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the HSM PIN from %s: %s", arg.hsm_pin_file, strerror(-r));
        return 0;
}

/* The key of --unlock-key-file (a secret, taken byte for byte): 0, or the exit code after the message. */
static int cli_read_unlock_key(cvmseal_secret **ret) {
        int r;

        r = cvmseal_secret_read_file(arg.unlock_key_file, 0, false, ret);
        if (r == -ENODATA)
                return cli_fail(EXIT_OTHER, "%s: the unlock key file is empty", arg.unlock_key_file);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the unlock key from %s: %s", arg.unlock_key_file, strerror(-r));
        return 0;
}

/* The HSM PIN from --hsm-pin-file; the URI's pin-source or pin-value are read by the library. */
static int cli_read_hsm_pin(cvmseal_secret **ret) {
        int r;

        *ret = NULL;
        if (!arg.hsm_pin_file) {
                if (strstr(arg.hsm_uri, "pin-value="))
                        cli_error("warning: pin-value= puts the HSM PIN on the command line, where other users "
                                  "can read it; prefer pin-source= or --hsm-pin-file");
                /* The URI's own PIN, read here so that an unreadable pin-source is named. */
                r = cvmseal_hsm_uri_pin(arg.hsm_uri, ret);
                if (r < 0) {
                        /* Name the file as the URI spells it (for the message only). */
                        const char *src = strstr(arg.hsm_uri, "pin-source=");
                        int len = 0;

                        src = src ? src + strlen("pin-source=") : "?";
                        if (strncmp(src, "file:", 5) == 0)
                                src += 5;
                        while (src[len] && src[len] != '&' && src[len] != ';')
                                len++;
                        if (r == -ENODATA)
                                return cli_fail(EXIT_HSM, "%.*s: the HSM PIN file (pin-source=) is empty", len, src);
                        return cli_fail(EXIT_OTHER, "cannot read the HSM PIN from %.*s (pin-source=): %s", len, src,
                                    strerror(-r));
                }
                return 0;
        }
        return cli_read_hsm_pin_file(ret);
}

/* --hsm-provider: a name that local configuration allows.  Checked before anything else is done, so
 * a refused name never reaches a TPM or an HSM. */
static int check_hsm_provider(void) {
        const char *dir = getenv("CVMSEAL_CONFDIR");
        int r;

        if (!dir || !*dir)
                dir = "/etc/cvmseal";
        r = cvmseal_hsm_provider_check(arg.hsm_provider);
        if (r == -EINVAL)
                return cli_fail(EXIT_USAGE, "--hsm-provider: '%s' is not a bare OpenSSL provider name (letters, digits, "
                            "'_', '-', '.'; never a path)", arg.hsm_provider);
        if (r == -EPERM)
                return cli_fail(EXIT_USAGE, "--hsm-provider: %s/cvmseal.conf does not allow the OpenSSL provider '%s' "
                            "(add \"hsm-provider = %s\" there)", dir, arg.hsm_provider, arg.hsm_provider);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s/cvmseal.conf is malformed (-v says where)", dir);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "%s/cvmseal.conf: %s", dir, strerror(-r));
        return 0;
}

/* A whole file that is no secret (a public key, a key blob), NUL-terminated, through the library's
 * reader: 0, or the exit code after the message. */
static int cli_read_text(const char *path, size_t max, const char *what, char **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0;
        int r;

        r = cvmseal_read_file(path, max, &buf, &size);
        if (r == 0 && size == 0)
                return cli_fail(EXIT_OTHER, "%s: the %s is empty", path, what);
        if (r == -EFBIG)
                return cli_fail(EXIT_OTHER, "%s: the %s is longer than %zu bytes", path, what, max);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the %s %s: %s", what, path, strerror(-r));
        *ret = (char *) TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

static int check_hsm_uri(void) {
        char *public_uri = NULL;
        int r;

        if (arg.hsm_provider)
                /* An OSSL_STORE URI: its provider parses it. */
                return strlen(arg.hsm_uri) > 4096 ? cli_fail(EXIT_USAGE, "--hsm: the URI is longer than 4096 bytes") : 0;
        r = cvmseal_hsm_uri_public(arg.hsm_uri, &public_uri);
        if (r == -EINVAL)
                return cli_fail(EXIT_USAGE, "--hsm: not a valid pkcs11: URI (RFC 7512)");
        if (r < 0)
                return cli_fail(EXIT_OTHER, "--hsm: %s", strerror(-r));
        free(public_uri);
        return 0;
}

/* Reads --attest-policy: its exact text, which the library checks and stores.  0, or the exit code
 * (after the message). */
static int read_attest_policy(char **ret_text) {
        _cleanup_(json_object_putp) json_object *policy = NULL;
        int r;

        r = cvmseal_read_json_file(arg.attest_policy, 4U << 20, ret_text, &policy);
        if (r == -EPROTO)
                return cli_fail(EXIT_MALFORMED, "%s: the attestation policy is not one JSON document", arg.attest_policy);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the attestation policy %s: %s", arg.attest_policy, strerror(-r));
        return 0;
}

static int verb_attest_collect(void) {
        _cleanup_(json_object_putp) json_object *evidence = NULL;
        uint8_t nonce[64];
        size_t n = arg.nonce ? strlen(arg.nonce) / 2 : 0;
        int r;

        /* --nonce is hex (checked by cli_parse); without it the library makes a fresh one. */
        for (size_t i = 0; i < n; i++)
                sscanf(arg.nonce + 2 * i, "%2hhx", &nonce[i]);
        r = cvmseal_attest_collect(arg.tcti, arg.nonce ? nonce : NULL, n, &evidence);
        if (r < 0)
                return cli_fail_errno(r, "attest collect");
        cli_print_json(evidence);
        return EXIT_OK;
}

static int verb_attest_verify(void) {
        _cleanup_(json_object_putp) json_object *evidence = NULL, *policy = NULL, *result = NULL;
        json_object *failures;
        bool pass;
        int r;

        r = cvmseal_read_json_file(arg.attest_policy, 4U << 20, NULL, &policy);
        if (r == -EPROTO)
                return cli_fail(EXIT_MALFORMED, "%s: the policy is not one JSON document", arg.attest_policy);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the policy %s: %s", arg.attest_policy, strerror(-r));
        r = cvmseal_read_json_file(arg.evidence, 4U << 20, NULL, &evidence);
        if (r == -EPROTO)
                return cli_fail(EXIT_MALFORMED, "%s: the evidence is not one JSON document", arg.evidence);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the evidence %s: %s", arg.evidence, strerror(-r));

        r = cvmseal_attest_verify(evidence, policy, &result);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s: the evidence or the policy is malformed (-v says where)", arg.evidence);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "attest verify: %s", strerror(-r));

        pass = strcmp(json_object_get_string(json_object_object_get(result, "verdict")), "pass") == 0;
        failures = json_object_object_get(result, "failures");
        if (arg.json)
                cli_print_json(result);
        else {
                printf("%s\n", pass ? "pass" : "fail");
                for (size_t i = 0; i < json_object_array_length(failures); i++)
                        printf("  %s\n", json_object_get_string(json_object_array_get_idx(failures, i)));
        }
        return pass ? EXIT_OK : EXIT_ATTESTATION;
}

static int verb_hsm_keygen_provider(void) {
        _cleanup_(json_object_putp) json_object *info = NULL;
        const char *pem;
        uint8_t *blob = NULL;
        size_t size = 0;
        int r;

        r = check_hsm_provider();
        if (r != 0)
                return r;
        if (access(arg.hsm_key_blob, F_OK) == 0)
                return cli_fail(EXIT_OTHER, "%s exists already: hsm keygen never writes over a key blob", arg.hsm_key_blob);
        if (arg.output && strcmp(arg.output, "-") != 0 && access(arg.output, F_OK) == 0)
                return cli_fail(EXIT_OTHER, "%s exists already", arg.output);

        r = cvmseal_hsm_provider_keygen(arg.hsm_provider, arg.hsm_uri, &blob, &size, &info);
        if (r == -EINVAL)
                return cli_fail(EXIT_USAGE, "hsm keygen: the URI must name the key blob by {key-blob} (AziHSM: "
                            "azihsm://{key-blob};type=rsa)");
        if (r < 0)
                return cli_fail_errno(r, "hsm keygen");
        r = cvmseal_write_file(arg.hsm_key_blob, blob, size, CVMSEAL_WRITE_NEW);
        free(blob);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot write the key blob %s: %s", arg.hsm_key_blob, strerror(-r));
        pem = json_object_get_string(json_object_object_get(info, "public-key"));
        if (arg.output) {
                if (strcmp(arg.output, "-") == 0)
                        fputs(pem, stdout);
                else {
                        r = cvmseal_write_file(arg.output, pem, strlen(pem), CVMSEAL_WRITE_NEW);
                        if (r < 0)
                                return cli_fail(EXIT_OTHER, "cannot write the public key %s: %s", arg.output, strerror(-r));
                }
        }
        json_object_object_add(info, "key-blob", json_object_new_string(arg.hsm_key_blob));
        if (arg.json)
                cli_print_json(info);
        else
                cli_info("Created a key (%s) through the OpenSSL provider %s; its key blob is %s (%zu bytes), its "
                         "fingerprint (SHA-256 of the public key) %s.",
                         json_object_get_string(json_object_object_get(info, "mechanism")), arg.hsm_provider,
                         arg.hsm_key_blob, size, json_object_get_string(json_object_object_get(info, "fingerprint")));
        return EXIT_OK;
}

static int verb_hsm_keygen(void) {
        _cleanup_secret_ cvmseal_secret *pin = NULL;
        _cleanup_(json_object_putp) json_object *info = NULL;
        int r;

        if (arg.hsm_provider)
                return verb_hsm_keygen_provider();
        r = check_hsm_uri();
        if (r != 0)
                return r;
        r = cli_read_hsm_pin(&pin);
        if (r != 0)
                return r;
        r = cvmseal_hsm_keygen(arg.hsm_uri, pin, &info);
        if (r == -EINVAL)
                return cli_fail(EXIT_USAGE, "hsm keygen: the URI must name the key (object= or id=) and a type of "
                            "secret-key (AES-256) or private (RSA-3072)");
        if (r < 0)
                return cli_fail_errno(r, "hsm keygen");
        if (arg.json)
                cli_print_json(info);
        else
                cli_info("Created an HSM key (%s): %s", json_object_get_string(json_object_object_get(info, "mechanism")),
                         json_object_get_string(json_object_object_get(info, "uri")));
        return EXIT_OK;
}

static int verb_srk_export(void) {
        _cleanup_(json_object_putp) json_object *info = NULL;
        bool to_stdout = !arg.output || strcmp(arg.output, "-") == 0;
        _cleanup_free_ uint8_t *pub = NULL;
        size_t size = 0;
        int r;

        if (to_stdout && !arg.json && isatty(STDOUT_FILENO))
                return cli_fail(EXIT_USAGE, "srk export writes binary data: give --output FILE, redirect standard "
                            "output, or use --json");

        r = cvmseal_srk_export(arg.tcti, arg.create, &pub, &size, &info);
        if (r == -EREMCHG)
                return cli_fail(EXIT_OTHER, "this TPM has no SRK at 0x%08x: enroll a volume first, or give --create to "
                            "create the standard ECC P-256 SRK", (unsigned) CVMSEAL_SRK_HANDLE);
        if (r == -EOPNOTSUPP)
                return cli_fail(EXIT_OTHER, "the key at 0x%08x is not a storage key that offline sealing can use (-v "
                            "says why)", (unsigned) CVMSEAL_SRK_HANDLE);
        if (r < 0)
                return cli_fail_errno(r, "srk export");

        if (!to_stdout || !arg.json) {
                r = cvmseal_write_file(to_stdout ? "-" : arg.output, pub, size, 0);
                if (r < 0)
                        return cli_fail(EXIT_OTHER, "cannot write %s: %s", to_stdout ? "standard output" : arg.output,
                                        strerror(-r));
        }

        if (arg.json)
                cli_print_json(info);
        else
                cli_info("SRK 0x%08x (%s), name %s%s%s", (unsigned) CVMSEAL_SRK_HANDLE,
                         json_object_get_string(json_object_object_get(info, "key")),
                         json_object_get_string(json_object_object_get(info, "name")),
                         to_stdout ? "" : ", written to ", to_stdout ? "" : arg.output);
        return EXIT_OK;
}

/* The inputs of an offline enroll: the target's SRK (checked, and described in *ret_srk) and the
 * pcr-values document, whose PCRs (those of --tpm2-pcrs, else all it has) become p->pcr_mask. */
static int read_offline_inputs(struct cvmseal_enroll_params *p, uint8_t **ret_srk_pub, char **ret_pcr_values,
                               json_object **ret_srk) {
        _cleanup_(json_object_putp) json_object *doc = NULL, *info = NULL;
        _cleanup_free_ uint8_t *pub = NULL;
        char *text = NULL;
        uint32_t mask = 0;
        size_t n = 0;
        int r;

        r = cvmseal_read_file(arg.srk_pub_file, 4096, &pub, &n);
        if ((r == 0 && n == 0) || r == -EFBIG)
                return cli_fail(EXIT_MALFORMED, "%s: not an SRK public area (a marshalled TPM2B_PUBLIC, as 'cvmseal srk "
                            "export' writes)", arg.srk_pub_file);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the SRK public area %s: %s", arg.srk_pub_file, strerror(-r));
        r = cvmseal_srk_public_info(pub, n, &info);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s: not an SRK public area (a marshalled TPM2B_PUBLIC, as 'cvmseal srk "
                            "export' writes)", arg.srk_pub_file);
        if (r == -EOPNOTSUPP)
                return cli_fail(EXIT_OTHER, "%s: not a storage key that offline sealing can use (an RSA or ECC "
                            "restricted decryption key with AES-CFB, nameAlg sha256 or sha384; -v says why)",
                            arg.srk_pub_file);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "%s: %s", arg.srk_pub_file, strerror(-r));

        r = cvmseal_read_json_file(arg.pcr_values_file, 4U << 20, &text, &doc);
        if (r == -EPROTO)
                return cli_fail(EXIT_MALFORMED, "%s: the pcr-values document is not one JSON document", arg.pcr_values_file);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the pcr-values document %s: %s", arg.pcr_values_file, strerror(-r));
        r = cvmseal_pcr_values_select(text, strlen(text), arg.pcrs_given ? arg.pcr_mask : 0, &mask);
        if (r == -EDOM) {
                free(text);
                return cli_fail(EXIT_USAGE, arg.pcrs_given ? "%s lacks a value for a PCR of --tpm2-pcrs (-v says which)"
                                                       : "%s has no PCR value to seal to", arg.pcr_values_file);
        }
        if (r < 0) {
                free(text);
                return cli_fail(r == -EBADMSG ? EXIT_MALFORMED : EXIT_OTHER, "%s: %s", arg.pcr_values_file,
                            r == -EBADMSG ? "not a pcr-values document ({\"sha256\": {\"7\": \"<hex>\"}}; -v says where)"
                                          : strerror(-r));
        }

        p->srk_public = pub;
        p->srk_public_size = n;
        p->pcr_values = text;
        p->pcr_mask = mask;
        *ret_srk_pub = TAKE_PTR(pub);
        *ret_pcr_values = text;
        *ret_srk = TAKE_PTR(info);
        return 0;
}

/* What enroll reads before it starts, freed together. */
struct enroll_inputs {
        cvmseal_secret *key, *pin, *hsm_pin;
        char *hsm_blob, *hsm_public, *public_key, *policy, *pcr_values;
        uint8_t *srk_pub;
        json_object *srk;             /* offline: the target's SRK, described */
};

static void enroll_inputs_done(struct enroll_inputs *in) {
        cvmseal_secret_free(in->key);
        cvmseal_secret_free(in->pin);
        cvmseal_secret_free(in->hsm_pin);
        free(in->hsm_blob);
        free(in->hsm_public);
        free(in->public_key);
        free(in->policy);
        free(in->pcr_values);
        free(in->srk_pub);
        json_object_put(in->srk);
}

/* --hsm and its companions into p. */
static int enroll_read_hsm(struct cvmseal_enroll_params *p, struct enroll_inputs *in) {
        int r;

        if (arg.hsm_provider && !arg.hsm_public_key) {
                /* This machine's HSM: its provider must be allowed here, before any TPM command. */
                r = check_hsm_provider();
                if (r != 0)
                        return r;
        }
        r = check_hsm_uri();
        if (r == 0 && !arg.hsm_provider)
                r = cli_read_hsm_pin(&in->hsm_pin);
        if (r != 0)
                return r;
        p->hsm_uri = arg.hsm_uri;
        p->hsm_pin = in->hsm_pin;
        p->hsm_allow_extractable = arg.hsm_allow_extractable;
        p->hsm_provider = arg.hsm_provider;
        if (arg.hsm_key_blob) {
                r = cli_read_text(arg.hsm_key_blob, 8192, "key blob", &in->hsm_blob, &p->hsm_key_blob_size);
                if (r != 0)
                        return r;
                p->hsm_key_blob = (const uint8_t *) in->hsm_blob;
        }
        if (arg.hsm_public_key) {
                r = cli_read_text(arg.hsm_public_key, 64 * 1024, "HSM public key", &in->hsm_public, NULL);
                if (r != 0)
                        return r;
                p->hsm_public_key = in->hsm_public;
        }
        return 0;
}

/* Every file and PIN enroll needs, into p: 0, or the exit code after the message. */
static int enroll_read(struct cvmseal_enroll_params *p, struct enroll_inputs *in) {
        int r = 0;

        if (arg.unlock_key_file)
                r = cli_read_unlock_key(&in->key);
        else {
                /* The way in is another token (docs/migration.md). */
                p->unlock_with_token = true;
                p->unlock_token_id = arg.unlock_token_id;
                p->wipe_token = arg.wipe_token;
        }
        if (r == 0 && arg.tpm2_pin)
                r = cli_read_pin(true, &in->pin);
        p->pin = in->pin;
        if (r == 0 && arg.hsm_uri)
                r = enroll_read_hsm(p, in);
        if (r == 0 && arg.attest_policy)
                r = read_attest_policy(&in->policy);
        p->attest_policy = in->policy;
        if (r == 0 && arg.tpm2_public_key)
                r = cli_read_text(arg.tpm2_public_key, 64 * 1024, "public key", &in->public_key, NULL);
        p->tpm2_public_key = in->public_key;
        if (r == 0 && arg.srk_pub_file)
                r = read_offline_inputs(p, &in->srk_pub, &in->pcr_values, &in->srk);
        return r;
}

/* enroll's refusals that its options explain better than the error table. */
static int enroll_fail(int r) {
        if ((r == -EKEYREJECTED || r == -EINVAL) && arg.tpm2_public_key)
                return cli_fail(EXIT_OTHER, "%s: not a usable signing key (a PEM public key, RSA 2048-4096 or ECC P-256), "
                            "or --tpm2-pcrs names the lock PCR %u, which a signed policy never covers",
                            arg.tpm2_public_key, CVMSEAL_LOCK_PCR);
        if (r == -EBADMSG && arg.attest_policy)
                return cli_fail(EXIT_MALFORMED, "%s: the attestation policy is malformed (-v says where)", arg.attest_policy);
        if (r == -EKEYREJECTED && arg.hsm_public_key)
                return cli_fail(EXIT_OTHER, "%s: not a usable HSM public key (a PEM public key, RSA 2048-8192 or EC P-256 "
                            "or P-384), or the unlock key opens no keyslot", arg.hsm_public_key);
        if (!arg.unlock_key_file && (r == -ENOMEDIUM || r == -ENOPROTOOPT || r == -ENOANO || r == -EKEYREJECTED ||
                                    r == -EOPNOTSUPP))
                return cli_fail(r == -ENOANO ? EXIT_PIN : r == -ENOMEDIUM ? EXIT_NO_TOKEN : EXIT_OTHER, "%s: %s", arg.device,
                            r == -ENOMEDIUM    ? "there is no such token (--unlock-token)"
                            : r == -ENOPROTOOPT ? "nothing here can open a token of that type: libcryptsetup has no "
                                                  "plugin for it in its token directory (clevis tokens need clevis "
                                                  "in PATH); use --unlock-key-file"
                            : r == -ENOANO      ? "the token needs a PIN, which --unlock-token does not ask for; use "
                                                  "--unlock-key-file"
                            : r == -EOPNOTSUPP  ? "--unlock-token needs libcryptsetup 2.6 or later"
                                                : "the token did not give its keyslot's secret (its TPM policy, no "
                                                  "TPM, or its program failed: -v says why); nothing was changed");
        return cli_fail_errno(r, arg.device);
}

static void enroll_print_json(const struct cvmseal_enroll_result *res, uint32_t sealed_mask, json_object *srk, bool pin) {
        _cleanup_(json_object_putp) json_object *j = json_object_new_object(), *pcrs = json_object_new_array();

        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                if (sealed_mask & (UINT32_C(1) << i))
                        json_object_array_add(pcrs, json_object_new_int((int) i));
        json_object_object_add(j, "device", json_object_new_string(arg.device));
        json_object_object_add(j, "token", json_object_new_int(res->token_id));
        json_object_object_add(j, "keyslot", json_object_new_int(res->keyslot));
        json_object_object_add(j, "pcrs", TAKE_PTR(pcrs));
        json_object_object_add(j, "verified", json_object_new_boolean(res->verified));
        if (arg.tpm2_public_key)
                json_object_object_add(j, "signed-policy", json_object_new_boolean(true));
        if (srk) {
                /* Offline: sealed for that SRK; not verified by unsealing (no TPM was used). */
                json_object_object_add(j, "offline", json_object_new_boolean(true));
                json_object_object_add(j, "srk-name", json_object_get(json_object_object_get(srk, "name")));
        }
        json_object_object_add(j, "pin", json_object_new_boolean(pin));
        json_object_object_add(j, "hsm", json_object_new_boolean(arg.hsm_uri != NULL));
        if (arg.hsm_provider)
                json_object_object_add(j, "hsm-provider", json_object_new_string(arg.hsm_provider));
        if (arg.hsm_public_key)
                /* Bound to the public key alone: the HSM was not asked to decrypt. */
                json_object_object_add(j, "hsm-offline", json_object_new_boolean(true));
        if (arg.wipe_token && res->wiped_token >= 0) {
                _cleanup_(json_object_putp) json_object *slots = json_object_new_array();

                for (unsigned i = 0; i < 32; i++)
                        if (res->wiped_keyslots & (UINT32_C(1) << i))
                                json_object_array_add(slots, json_object_new_int((int) i));
                json_object_object_add(j, "removed-token", json_object_new_int(res->wiped_token));
                json_object_object_add(j, "removed-keyslots", TAKE_PTR(slots));
        }
        if (res->recovery_key) {
                json_object_object_add(j, "recovery-keyslot", json_object_new_int(res->recovery_keyslot));
                json_object_object_add(j, "recovery-key",
                                       json_object_new_string((const char *) cvmseal_secret_data(res->recovery_key)));
        }
        cli_print_json(j);
        if (res->recovery_key) {
                /* json-c holds copies of the key: its string and the serialization. */
                const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
                const char *copy = json_object_get_string(json_object_object_get(j, "recovery-key"));

                explicit_bzero((char *) text, strlen(text));
                explicit_bzero((char *) copy, strlen(copy));
        }
}

static void enroll_print_text(const struct cvmseal_enroll_result *res, json_object *srk) {
        cli_info("Enrolled %s: token %d opens keyslot %d%s.", arg.device, res->token_id, res->keyslot,
                 arg.hsm_uri ? " with the vTPM and the HSM key" : "");
        if (arg.wipe_token && res->wiped_token >= 0) {
                char slots[96] = "";

                for (unsigned i = 0; i < 32; i++)
                        if (res->wiped_keyslots & (UINT32_C(1) << i))
                                snprintf(slots + strlen(slots), sizeof(slots) - strlen(slots), "%s%u",
                                         *slots ? ", " : "", i);
                cli_info("Removed token %d%s%s%s.", res->wiped_token, *slots ? " and keyslot " : "", slots,
                         *slots ? "" : " (its keyslot stays: another token uses it)");
        }
        if (arg.hsm_public_key)
                cli_info("The HSM share was encrypted to the public key %s alone: no HSM was asked to decrypt "
                         "it, so it is not verified. The first unlock on the machine whose HSM holds that key "
                         "proves it.", arg.hsm_public_key);
        if (srk)
                cli_info("Sealed offline for the TPM whose SRK is %s (%s). No TPM was used, so the secret "
                         "was not unsealed to check it: the keyslot opens with the derived passphrase and "
                         "the token reads back. The first unlock on the target proves the rest.",
                         json_object_get_string(json_object_object_get(srk, "name")),
                         json_object_get_string(json_object_object_get(srk, "key")));
        else if (!res->verified && arg.hsm_public_key)
                ; /* said above */
        else if (!res->verified && arg.tpm2_public_key)
                cli_info("Sealed to policies signed by %s. No signed policy for this boot state is installed "
                         "yet, so the secret was not unsealed to check it: sign the PCR values with 'cvmseal "
                         "policy sign' and install the result.", arg.tpm2_public_key);
        else if (!res->verified)
                cli_info("The lock PCR %u is extended in this boot: the token is sealed to its value from "
                         "before the lock and first unseals at the next boot (it was not unsealed to check).",
                         CVMSEAL_LOCK_PCR);
        if (res->recovery_key) {
                cli_info("Recovery key (keyslot %d). It is shown this once: write it down and keep it "
                         "away from this machine.", res->recovery_keyslot);
                printf("%s\n", (const char *) cvmseal_secret_data(res->recovery_key));
        }
}

static int verb_enroll(void) {
        _cleanup_(enroll_inputs_done) struct enroll_inputs in = {};
        struct cvmseal_enroll_params p = {
                .tcti = arg.tcti,
                .pcr_mask = arg.pcr_mask,
                .recovery_key = arg.recovery_key,
                .no_lock_pcr = arg.no_lock_pcr,
        };
        struct cvmseal_enroll_result res = {};
        int r;

        r = enroll_read(&p, &in);
        if (r != 0)
                return r;
        r = cvmseal_enroll(arg.device, in.key, &p, &res);
        if (r < 0)
                return enroll_fail(r);
        if (arg.json)
                enroll_print_json(&res, p.pcr_mask | (arg.no_lock_pcr ? 0 : UINT32_C(1) << CVMSEAL_LOCK_PCR), in.srk,
                                  in.pin != NULL);
        else
                enroll_print_text(&res, in.srk);
        cvmseal_secret_free(res.recovery_key);
        if (p.wipe_token && res.wiped_token < 0)
                cli_error("warning: token %d was not removed (%s): the new token is enrolled; remove the old one "
                          "with cryptsetup token remove and luksKillSlot", arg.unlock_token_id,
                          res.wipe_error == -EBUSY ? "it holds the last keyslot" : strerror(-res.wipe_error));
        return EXIT_OK;
}

static int verb_unlock(void) {
        _cleanup_secret_ cvmseal_secret *pin = NULL;
        struct cvmseal_unlock_params p = {
                .tcti = arg.tcti,
                .token_id = arg.token_id,
                .name = arg.name,
        };
        struct cvmseal_unlock_result res = {};
        char *attest_failures = NULL;
        int r;

        p.ret_attest_failures = &attest_failures;
        if (arg.pin_file) {
                r = cli_read_pin(false, &pin);
                if (r != 0)
                        return r;
                p.pin = pin;
        }

        r = cvmseal_unlock(arg.device, &p, arg.print_key, &res);
        if (r == -ENOANO && !pin && isatty(STDIN_FILENO)) {
                /* The token wants a PIN and a person is there to type it. */
                r = cli_read_pin(false, &pin);
                if (r != 0)
                        return r;
                p.pin = pin;
                r = cvmseal_unlock(arg.device, &p, arg.print_key, &res);
        }
        if (r == -EBADE) {
                r = cli_fail(EXIT_ATTESTATION, "%s: attestation failed: %s", arg.device,
                         attest_failures ?: "(no detail)");
                free(attest_failures);
                return r;
        }
        free(attest_failures);
        if (r < 0)
                return cli_fail_errno(r, arg.device);

        if (res.token_version == 1)
                cli_info("cvmseal: warning: token %d of %s is version 1, which the TPM does not bind to its members; "
                         "'cvmseal reseal %s' makes it version 2.", res.token_id, arg.device, arg.device);

        if (arg.print_key) {
                /* No newline: a keyscript's output is the key, byte for byte. */
                fwrite(cvmseal_secret_data(res.passphrase), 1, cvmseal_secret_size(res.passphrase), stdout);
                fflush(stdout);
                cvmseal_secret_free(res.passphrase);
                return ferror(stdout) ? EXIT_OTHER : EXIT_OK;
        }

        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "device", json_object_new_string(arg.device));
                json_object_object_add(j, "token", json_object_new_int(res.token_id));
                json_object_object_add(j, "keyslot", json_object_new_int(res.keyslot));
                json_object_object_add(j, "activated", arg.name ? json_object_new_string(arg.name) : NULL);
                cli_print_json(j);
        } else if (arg.name)
                cli_info("Activated /dev/mapper/%s from %s with token %d.", arg.name, arg.device, res.token_id);
        else
                cli_info("Token %d opens keyslot %d of %s.", res.token_id, res.keyslot, arg.device);
        return EXIT_OK;
}

static int verb_lock(void) {
        _cleanup_(json_object_putp) json_object *info = NULL;
        int r;

        r = cvmseal_lock(arg.tcti, &info);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "the lock record is malformed (-v says where)");
        if (r < 0)
                return cli_fail_errno(r, "lock");
        if (arg.json)
                cli_print_json(info);
        else if (json_object_get_boolean(json_object_object_get(info, "already-locked")))
                cli_info("PCR %u is locked already in this boot.", CVMSEAL_LOCK_PCR);
        else
                cli_info("Extended PCR %u: cvmseal tokens do not unseal again until the next boot.", CVMSEAL_LOCK_PCR);
        return EXIT_OK;
}

static int verb_provision(void) {
        _cleanup_secret_ cvmseal_secret *hsm_pin = NULL;
        struct cvmseal_enroll_result res = { .token_id = -1, .keyslot = -1 };
        char *attest_failures = NULL;
        int r;

        if (arg.hsm_pin_file) {
                r = cli_read_hsm_pin_file(&hsm_pin);
                if (r != 0)
                        return r;
        }
        r = cvmseal_provision(arg.device,
                              &(struct cvmseal_provision_params) {
                                      .tcti = arg.tcti,
                                      .pcr_mask = arg.pcrs_given ? arg.pcr_mask : 0,
                                      .hsm_pin = hsm_pin,
                                      .ret_attest_failures = &attest_failures,
                              },
                              &res);
        if (r == -EBADE) {
                r = cli_fail(EXIT_ATTESTATION, "%s: attestation failed, the volume is not enrolled: %s", arg.device,
                         attest_failures ?: "(no detail)");
                free(attest_failures);
                return r;
        }
        free(attest_failures);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s: the provisioning marker or a token is malformed (-v says where)",
                            arg.device);
        if (r < 0)
                return cli_fail_errno(r, arg.device);

        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "device", json_object_new_string(arg.device));
                json_object_object_add(j, "provisioned", json_object_new_boolean(r > 0));
                if (r > 0 && res.token_id >= 0) {
                        json_object_object_add(j, "token", json_object_new_int(res.token_id));
                        json_object_object_add(j, "keyslot", json_object_new_int(res.keyslot));
                }
                if (r > 0)
                        json_object_object_add(j, "rekey-started", json_object_new_boolean(res.rekey_started));
                cli_print_json(j);
        } else if (r == 0)
                cli_info("%s has no pending enrollment.", arg.device);
        else if (res.token_id >= 0)
                cli_info("Enrolled %s to this TPM: token %d opens keyslot %d; the provisioning keyslot is destroyed.",
                         arg.device, res.token_id, res.keyslot);
        else
                cli_info("Finished the interrupted first-boot enrollment of %s.", arg.device);
        /* The first boot's rekey (docs/boot.md): started here, finished after switch-root. */
        if (!arg.json && r > 0 && res.rekey_started)
                        cli_info("%s: the rekey to a volume key made here has started; the booted system "
                                 "finishes it (cvmseal rekey --status %s).", arg.device, arg.device);
        return EXIT_OK;
}

static void print_pcrs(json_object *pcrs) {
        for (size_t i = 0; i < json_object_array_length(pcrs); i++)
                printf("%s%d", i ? "," : "", json_object_get_int(json_object_array_get_idx(pcrs, i)));
}

/* One token's lines of `list`. */
static void list_print_token(json_object *t) {
        json_object *v;

        printf("%-5d  %-8s  ", json_object_get_int(json_object_object_get(t, "id")),
               json_object_get_string(json_object_object_get(t, "type")));
        if (!json_object_object_get_ex(t, "valid", &v)) {
                printf("%s\n", strcmp(json_object_get_string(json_object_object_get(t, "type")),
                                      "cvmseal-provision") == 0 ? "(first-boot provisioning marker)"
                                                                 : "(not a cvmseal token)");
                return;
        }
        if (!json_object_get_boolean(v)) {
                printf("(malformed)\n");
                return;
        }
        printf("%-7d  ", json_object_get_int(json_object_object_get(t, "keyslot")));
        print_pcrs(json_object_object_get(t, "pcrs"));
        printf("%*s", 15 - (int) (2 * json_object_array_length(json_object_object_get(t, "pcrs")) - 1), "");
        printf("%-3s  %s\n", json_object_get_boolean(json_object_object_get(t, "pin")) ? "yes" : "no",
               json_object_get_string(json_object_object_get(t, "srk-handle")));
        if (json_object_object_get_ex(t, "hsm", &v)) {
                json_object *prov, *fp;

                if (json_object_object_get_ex(v, "provider", &prov))
                        printf("       HSM: OpenSSL provider %s, %s (%s)%s\n", json_object_get_string(prov),
                               json_object_get_string(json_object_object_get(v, "uri")),
                               json_object_get_string(json_object_object_get(v, "mechanism")),
                               json_object_object_get_ex(v, "key-blob", NULL) ? ", key blob in the token" : "");
                else
                        printf("       HSM: %s (%s)\n", json_object_get_string(json_object_object_get(v, "uri")),
                               json_object_get_string(json_object_object_get(v, "mechanism")));
                if (json_object_object_get_ex(v, "fingerprint", &fp))
                        printf("            key fingerprint (SHA-256 of its public key): %s\n",
                               json_object_get_string(fp));
        }
        if (json_object_object_get_ex(t, "srk-pinned", &v) && json_object_is_type(v, json_type_string))
                printf("       SRK: not the one /etc/cvmseal/tpm2-srk.pub pins (another TPM, or a forged token)\n");
        if (json_object_object_get_ex(t, "warning", &v))
                printf("       warning: %s\n", json_object_get_string(v));
}

static int verb_list(void) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *tokens, *slots;
        int r;

        r = cvmseal_list(arg.device, &j);
        if (r < 0)
                return cli_fail_errno(r, arg.device);
        json_object_object_get_ex(j, "tokens", &tokens);
        for (size_t i = 0; i < json_object_array_length(tokens); i++) {
                json_object *t = json_object_array_get_idx(tokens, i), *w;

                if (json_object_object_get_ex(t, "warning", &w))
                        cli_error("warning: token %d: %s", json_object_get_int(json_object_object_get(t, "id")),
                                  json_object_get_string(w));
        }
        if (arg.json) {
                cli_print_json(j);
                return EXIT_OK;
        }

        json_object_object_get_ex(j, "keyslots", &slots);
        printf("%s (LUKS2 %s)\n", arg.device, json_object_get_string(json_object_object_get(j, "uuid")));
        printf("TOKEN  TYPE      KEYSLOT  PCRS (sha256)  PIN  SRK\n");
        for (size_t i = 0; i < json_object_array_length(tokens); i++)
                list_print_token(json_object_array_get_idx(tokens, i));
        {
                json_object *pm;

                if (json_object_object_get_ex(j, "provision", &pm))
                        printf("Provisioning marker: token %d, keyslot %d (first boot pending: until then the image "
                               "is only as confidential as its storage)\n",
                               json_object_get_int(json_object_object_get(pm, "token")),
                               json_object_get_int(json_object_object_get(pm, "keyslot")));
        }
        {
                json_object *rk, *st;

                if (json_object_object_get_ex(j, "rekey", &rk) && json_object_object_get_ex(rk, "state", &st) &&
                    strcmp(json_object_get_string(st), "not-needed") != 0)
                        printf("Rekey: %s%s\n", json_object_get_string(st),
                               strcmp(json_object_get_string(st), "finished") == 0
                                       ? " (the volume key was made in this VM; no keyslot of the old one is left)"
                                       : " (cvmseal rekey --status)");
        }
        printf("Keyslots:");
        for (size_t i = 0; i < json_object_array_length(slots); i++) {
                json_object *s = json_object_array_get_idx(slots, i);

                printf(" %d%s", json_object_get_int(json_object_object_get(s, "id")),
                       json_object_get_boolean(json_object_object_get(s, "cvmseal")) ? "(cvmseal)" : "");
        }
        printf("\n");
        return EXIT_OK;
}

/* The pcr-values document of reseal --pcr-values: its text into *ret, or the exit code after the message. */
static int reseal_read_pcr_values(char **ret) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_free_ char *text = NULL;
        uint32_t mask;
        int r;

        r = cvmseal_read_json_file(arg.pcr_values_file, 4U << 20, &text, &doc);
        if (r == -EPROTO)
                return cli_fail(EXIT_MALFORMED, "%s: the pcr-values document is not one JSON document", arg.pcr_values_file);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the pcr-values document %s: %s", arg.pcr_values_file,
                                strerror(-r));
        r = cvmseal_pcr_values_select(text, strlen(text), 0, &mask);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s: the pcr-values document is malformed (-v says where)",
                                arg.pcr_values_file);
        *ret = TAKE_PTR(text);
        return 0;
}

/* reseal's and rotate's refusals that their options explain better than the error table. */
static int reseal_fail(int r, bool rotate, bool have_key, bool have_hsm_pin) {
        if (r == -EPERM && !have_key)
                return cli_fail(EXIT_POLICY,
                            "%s: the token does not unseal in this boot state (the PCRs differ from the sealed ones, "
                            "or the lock PCR is extended): %s needs the old token to unseal, or --unlock-key-file "
                            "FILE (the passphrase or the recovery key); nothing was changed", arg.device,
                            rotate ? "rotate" : "reseal");
        if (r == -ENOTSUP)
                return cli_fail(EXIT_OTHER, "%s: the token is sealed offline or to signed policies: not %s (signed "
                            "policies need no reseal)", arg.device, rotate ? "rotated" : "resealed");
        if (r == -EKEYREVOKED && have_key && !have_hsm_pin)
                return cli_fail(EXIT_HSM, "%s: the token's HSM PIN is sealed in the TPM: with --unlock-key-file, give "
                            "--hsm-pin-file FILE", arg.device);
        return cli_fail_errno(r, arg.device);
}

static int reseal_print(json_object *res, bool rotate) {
        size_t n = json_object_array_length(res);

        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "device", json_object_new_string(arg.device));
                if (n == 1) {
                        json_object *one = json_object_array_get_idx(res, 0);

                        json_object_object_add(j, "token", json_object_get(json_object_object_get(one, "token")));
                        json_object_object_add(j, "keyslot", json_object_get(json_object_object_get(one, "keyslot")));
                        json_object_object_add(j, "removed", json_object_get(json_object_object_get(one, "removed")));
                        json_object_object_add(j, "verified", json_object_get(json_object_object_get(one, "verified")));
                }
                json_object_object_add(j, rotate ? "rotated" : "resealed", json_object_get(res));
                cli_print_json(j);
                return EXIT_OK;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *one = json_object_array_get_idx(res, i), *removed = json_object_object_get(one, "removed");
                bool unsealed = strcmp(json_object_get_string(json_object_object_get(one, "verified")), "unsealed") == 0;

                cli_info("%s %s: token %d (keyslot %d) replaces token %d (keyslot %d), PCRs %s; %s.",
                         rotate ? "Rotated" : "Resealed", arg.device,
                         json_object_get_int(json_object_object_get(one, "token")),
                         json_object_get_int(json_object_object_get(one, "keyslot")),
                         json_object_get_int(json_object_object_get(removed, "token")),
                         json_object_get_int(json_object_object_get(removed, "keyslot")),
                         json_object_to_json_string_ext(json_object_object_get(one, "pcrs"), JSON_C_TO_STRING_PLAIN),
                         unsealed ? "verified by unsealing it now"
                                  : "sealed to the given values, which are not the current ones: the TPM accepts "
                                    "the object, and it unseals only once the PCRs have those values");
        }
        return EXIT_OK;
}

/* reseal and rotate, one library function: each cvmseal token is replaced by a new one. */
static int verb_reseal(void) {
        _cleanup_secret_ cvmseal_secret *pin = NULL, *key = NULL, *hsm_pin = NULL;
        _cleanup_(json_object_putp) json_object *res = NULL;
        _cleanup_free_ char *pcr_values = NULL, *attest_failures = NULL;
        bool rotate = arg.command == CLI_ROTATE;
        struct cvmseal_reseal_params p = {
                .tcti = arg.tcti,
                .token_id = arg.token_id,
                .pcr_mask = rotate ? 0 : arg.pcr_mask,
                .rotate = rotate,
                .ret_attest_failures = &attest_failures,
        };
        int r = 0;

        if (arg.pin_file)
                r = cli_read_pin(false, &pin);
        if (r == 0 && arg.unlock_key_file)
                r = cli_read_unlock_key(&key);
        if (r == 0 && arg.hsm_pin_file)
                r = cli_read_hsm_pin_file(&hsm_pin);
        if (r == 0 && arg.pcr_values_file)
                r = reseal_read_pcr_values(&pcr_values);
        if (r != 0)
                return r;
        p.pin = pin;
        p.unlock_key = key;
        p.hsm_pin = hsm_pin;
        p.pcr_values = pcr_values;

        r = cvmseal_reseal(arg.device, &p, &res);
        if (r == -ENOANO && !pin && isatty(STDIN_FILENO)) {
                r = cli_read_pin(false, &pin);
                if (r != 0)
                        return r;
                p.pin = pin;
                r = cvmseal_reseal(arg.device, &p, &res);
        }
        if (r == -EBADE)
                return cli_fail(EXIT_ATTESTATION, "%s: attestation failed: %s", arg.device, attest_failures ?: "(no detail)");
        if (r < 0)
                return reseal_fail(r, rotate, key != NULL, hsm_pin != NULL);
        return reseal_print(res, rotate);
}

static int verb_remove(void) {
        _cleanup_(json_object_putp) json_object *slots = NULL;
        int r;

        r = cvmseal_remove(arg.device, arg.token_id, &slots);
        if (r < 0)
                return cli_fail_errno(r, arg.device);

        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "device", json_object_new_string(arg.device));
                json_object_object_add(j, "removed-token", json_object_new_int(arg.token_id));
                json_object_object_add(j, "removed-keyslots", TAKE_PTR(slots));
                cli_print_json(j);
        } else
                cli_info("Removed token %d and keyslot(s) %s from %s.", arg.token_id,
                         json_object_to_json_string_ext(slots, JSON_C_TO_STRING_PLAIN), arg.device);
        return EXIT_OK;
}

/* ---- diagnose ---- */

/* The exit code of a library JSON object's "errno" (positive), 0 without one. */
static int errno_exit_code(json_object *o) {
        json_object *e;

        if (!json_object_object_get_ex(o, "errno", &e))
                return EXIT_OK;
        return cvmseal_exit_code(-json_object_get_int(e));
}

static void print_diagnose_check(json_object *check) {
        const char *status = json_object_get_string(json_object_object_get(check, "status")), *label;
        json_object *pcrs;

        label = strcmp(status, "failed") == 0 ? "FAILED" : status;
        printf("  %-7s %-14s %s\n", label, json_object_get_string(json_object_object_get(check, "check")),
               json_object_get_string(json_object_object_get(check, "message")));
        if (!json_object_object_get_ex(check, "pcrs", &pcrs))
                return;
        for (size_t i = 0; i < json_object_array_length(pcrs); i++) {
                json_object *p = json_object_array_get_idx(pcrs, i), *events;
                const char *change = json_object_get_string(json_object_object_get(p, "change"));
                size_t n;

                printf("  %-7s %-14s %s\n", "", "", json_object_get_string(json_object_object_get(p, "message")));
                printf("  %-7s %-14s   enrolled %s\n  %-7s %-14s   now      %s\n", "", "",
                       json_object_get_string(json_object_object_get(p, "enrolled")), "", "",
                       json_object_get_string(json_object_object_get(p, "current")));
                /* Where the difference could not be pinned down, the PCR's events, for the operator. */
                if (!json_object_object_get_ex(p, "events", &events) ||
                    (strcmp(change, "unknown") != 0 && strcmp(change, "unexplained") != 0))
                        continue;
                n = json_object_array_length(events);
                for (size_t k = 0; k < n && k < 16; k++) {
                        json_object *e = json_object_array_get_idx(events, k);

                        const char *desc = json_object_get_string(json_object_object_get(e, "description"));

                        printf("  %-7s %-14s   event %3d %s%s%s\n", "", "",
                               json_object_get_int(json_object_object_get(e, "index")),
                               json_object_get_string(json_object_object_get(e, "type")), *desc ? " " : "", desc);
                }
                if (n > 16)
                        printf("  %-7s %-14s   (%zu more events)\n", "", "", n - 16);
        }
}

static int verb_diagnose(void) {
        _cleanup_secret_ cvmseal_secret *hsm_pin = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *tokens, *log;
        int r, code;

        if (arg.hsm_pin_file) {
                r = cli_read_hsm_pin_file(&hsm_pin);
                if (r != 0)
                        return r;
        }
        r = cvmseal_diagnose(arg.device,
                             &(struct cvmseal_diagnose_params) {
                                     .tcti = arg.tcti,
                                     .token_id = arg.token_id,
                                     .event_log = arg.event_log,
                                     .kernel = arg.kernel,
                                     .initrd = arg.initrd,
                                     .hsm_pin = hsm_pin,
                             },
                             &j);
        if (r < 0)
                return cli_fail_errno(r, arg.device);

        /* The exit code: 0 when a token would unlock, else the one unlock would give. */
        code = errno_exit_code(j);
        json_object_object_get_ex(j, "tokens", &tokens);
        if (arg.json) {
                for (size_t i = 0; i < json_object_array_length(tokens); i++) {
                        json_object *t = json_object_array_get_idx(tokens, i);

                        if (json_object_object_get_ex(t, "unlocks", NULL))
                                json_object_object_add(t, "exit-code", json_object_new_int(errno_exit_code(t)));
                }
                json_object_object_add(j, "exit-code", json_object_new_int(code));
                cli_print_json(j);
                return code;
        }

        printf("%s (LUKS2 %s): %s", arg.device, json_object_get_string(json_object_object_get(j, "uuid")),
               code == EXIT_OK ? "an unlock would succeed now\n" : "an unlock would be refused");
        if (code != EXIT_OK)
                printf(" (exit %d)\n", code);
        for (size_t i = 0; i < json_object_array_length(tokens); i++) {
                json_object *t = json_object_array_get_idx(tokens, i), *checks;
                int id = json_object_get_int(json_object_object_get(t, "id"));

                if (!json_object_object_get_ex(t, "checks", &checks)) {
                        const char *type = json_object_get_string(json_object_object_get(t, "type"));

                        if (strcmp(type, "cvmseal-provision") == 0)
                                printf("Token %d: the first-boot provisioning marker (not enrolled to a TPM yet: "
                                       "'cvmseal provision' at its first boot does it)\n", id);
                        else
                                printf("Token %d (%s): not a cvmseal token ('cvmseal enroll --unlock-token %d' moves the "
                                       "volume from it)\n", id, type, id);
                        continue;
                }
                if (json_object_get_boolean(json_object_object_get(t, "unlocks")))
                        printf("Token %d: would unlock\n", id);
                else
                        printf("Token %d: would be refused (exit %d)\n", id, errno_exit_code(t));
                for (size_t k = 0; k < json_object_array_length(checks); k++)
                        print_diagnose_check(json_object_array_get_idx(checks, k));
        }
        if (json_object_array_length(tokens) == 0)
                printf("No token%s.\n", arg.token_id >= 0 ? " of that id" : "");
        if (json_object_object_get_ex(j, "event-log", &log)) {
                json_object *e;

                if (json_object_object_get_ex(log, "events", &e))
                        printf("Event log: %s (%d events)\n", json_object_get_string(json_object_object_get(log, "source")),
                               json_object_get_int(e));
                else
                        printf("Event log: %s: %s\n", json_object_get_string(json_object_object_get(log, "source")),
                               json_object_get_string(json_object_object_get(log, "error")));
        }
        fflush(stdout);
        return code;
}

static int verb_pcr_predict(void) {
        _cleanup_free_ uint8_t *log = NULL, *kernel = NULL, *initrd = NULL;
        _cleanup_(json_object_putp) json_object *values = NULL;
        size_t log_size = 0, kernel_size = 0, initrd_size = 0;
        int r;

        r = cvmseal_read_file(arg.event_log, 64U << 20, &log, &log_size);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the event log %s: %s", arg.event_log, strerror(-r));
        if (arg.kernel) {
                r = cvmseal_read_file(arg.kernel, 1U << 30, &kernel, &kernel_size);
                if (r < 0)
                        return cli_fail(EXIT_OTHER, "cannot read the kernel %s: %s", arg.kernel, strerror(-r));
        }
        if (arg.initrd) {
                r = cvmseal_read_file(arg.initrd, 1U << 30, &initrd, &initrd_size);
                if (r < 0)
                        return cli_fail(EXIT_OTHER, "cannot read the initrd %s: %s", arg.initrd, strerror(-r));
        }

        r = cvmseal_pcr_predict(log, log_size, kernel, kernel_size, initrd, initrd_size, arg.predict_pcr_mask,
                                &values);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s%s%s: malformed event log or kernel image, or a log without "
                            "SHA-256 digests (-v says which)", arg.event_log, arg.kernel ? " or " : "",
                            arg.kernel ? arg.kernel : "");
        if (r == -ENOMSG)
                return cli_fail(EXIT_OTHER, "%s: the event log measured no EFI application into PCR 4: no kernel "
                            "measurement to replace with %s", arg.event_log, arg.kernel);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "pcr predict: %s", strerror(-r));
        /* The pcr-values document is the output, with --json or without. */
        cli_print_json(values);
        return ferror(stdout) ? EXIT_OTHER : EXIT_OK;
}

/* ---- signals: a long operation stops cleanly ---- */

static const int caught_signals[3] = { SIGINT, SIGTERM, SIGHUP };

static void signals_catch(void (*handler)(int), struct sigaction old[3]) {
        struct sigaction sa = { .sa_handler = handler };

        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < 3; i++)
                (void) sigaction(caught_signals[i], &sa, &old[i]);
}

static void signals_restore(const struct sigaction old[3]) {
        for (size_t i = 0; i < 3; i++)
                (void) sigaction(caught_signals[i], &old[i], NULL);
}

/* ---- image encrypt ---- */

static volatile sig_atomic_t image_interrupted;

static void image_on_signal(int sig) {
        (void) sig;
        image_interrupted = 1;
}

struct image_progress {
        struct timespec start, last;
        int last_percent;
        bool shown;
};

/* Progress on stderr, only when it is a terminal; a signal cancels (the library then removes the
 * partial image). */
static int image_progress(uint64_t done, uint64_t total, void *userdata) {
        struct image_progress *p = userdata;
        struct timespec now;
        double elapsed, since;
        int percent;

        if (image_interrupted)
                return -1;
        if (!isatty(STDERR_FILENO))
                return 0;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (done == 0) {
                p->start = p->last = now;
                p->last_percent = -1;
        }
        percent = total ? (int) (done * 100 / total) : 100;
        since = (double) (now.tv_sec - p->last.tv_sec) + (double) (now.tv_nsec - p->last.tv_nsec) / 1e9;
        if (percent == p->last_percent || (since < 0.2 && done < total && done > 0))
                return 0;
        p->last = now;
        p->last_percent = percent;
        elapsed = (double) (now.tv_sec - p->start.tv_sec) + (double) (now.tv_nsec - p->start.tv_nsec) / 1e9;
        fprintf(stderr, "\rEncrypting: %3d%% (%" PRIu64 " of %" PRIu64 " MiB, %.0f MiB/s)\033[K", percent,
                done >> 20, total >> 20, elapsed > 0 ? (double) done / 1048576.0 / elapsed : 0.0);
        if (done == total)
                fputc('\n', stderr);
        p->shown = true;
        return 0;
}

/* image encrypt's refusals, in the words of its files. */
static int image_fail(int r) {
        switch (r) {
        case -EEXIST:
                return cli_fail(EXIT_OTHER, "%s exists already: refusing to overwrite it", arg.image);
        case -ENOENT:
                if (access(arg.raw, F_OK) < 0)
                        return cli_fail(EXIT_OTHER, "%s: no such file (the raw image)", arg.raw);
                return cli_fail(EXIT_OTHER, "%s: its directory does not exist", arg.image);
        case -ENODATA:
                return cli_fail(EXIT_OTHER, "%s: the raw image is empty", arg.raw);
        case -EBADMSG:
                return cli_fail(EXIT_MALFORMED, "%s: the attestation policy is malformed (-v says where)", arg.attest_policy);
        case -ECANCELED:
                return cli_fail(EXIT_OTHER, "interrupted: %s was not written", arg.image);
        case -ENOSPC:
                return cli_fail(EXIT_OTHER, "%s: no space left on the file system (nothing was left behind)", arg.image);
        case -EINVAL:
                if (arg.recovery_public_key && !access(arg.raw, R_OK))
                        return cli_fail(EXIT_OTHER, "%s: not a regular file or block device, or an invalid parameter such as "
                                    "a recovery public key that is no RSA key of 2048 to 4096 bits (-v says which)", arg.raw);
                return cli_fail(EXIT_OTHER, "%s: not a regular file or block device, or an invalid parameter (-v says which)",
                            arg.raw);
        default:
                /* No TPM, HSM or PIN is involved: -EACCES or -EPERM are the file system's, never exit 7 or 3. */
                return cli_fail(EXIT_OTHER, "image encrypt %s %s: %s", arg.raw, arg.image, strerror(-r));
        }
}

static void image_print(const struct cvmseal_image_result *res) {
        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "image", json_object_new_string(arg.image));
                json_object_object_add(j, "size", json_object_new_int64((int64_t) res->size));
                json_object_object_add(j, "uuid", json_object_new_string(res->uuid));
                json_object_object_add(j, "keyslot", json_object_new_int(res->keyslot));
                json_object_object_add(j, "provision-keyslot", json_object_new_int(res->provision_keyslot));
                json_object_object_add(j, "provision-token", json_object_new_int(res->provision_token));
                json_object_object_add(j, "sector-size", json_object_new_int((int) res->sector_size));
                cli_print_json(j);
        } else
                cli_info("Wrote %s: LUKS2 %s, %" PRIu64 " bytes of data in %" PRIu32 "-byte sectors; keyslot %d opens "
                         "with the unlock key, keyslot %d (marker: token %d) is for the first boot.  Until that boot "
                         "the image is only as confidential as its storage.",
                         arg.image, res->uuid, res->size, res->sector_size, res->keyslot, res->provision_keyslot,
                         res->provision_token);
}

static int verb_image_encrypt(void) {
        _cleanup_secret_ cvmseal_secret *key = NULL;
        _cleanup_free_ char *recovery_pem = NULL;
        struct image_progress progress = {};
        struct sigaction old[3];
        _cleanup_free_ char *policy_text = NULL;
        struct cvmseal_image_params p = {
                .sector_size = arg.sector_size,
                .fast_kdf = arg.fast_kdf,
                .pcr_mask = arg.pcr_mask,
                .progress = image_progress,
                .userdata = &progress,
                .no_rekey = arg.no_rekey,
        };
        struct cvmseal_image_result res = {};
        int r;

        r = cli_read_unlock_key(&key);
        if (r != 0)
                return r;
        if (arg.fast_kdf && cvmseal_secret_size(key) < 32)
                return cli_fail(EXIT_USAGE, "--fast-kdf is for a random unlock key of 32 bytes or more; %s is shorter",
                            arg.unlock_key_file);

        if (arg.hsm_uri) {
                r = check_hsm_uri();
                if (r != 0)
                        return r;
                if (strstr(arg.hsm_uri, "pin-value=") || strstr(arg.hsm_uri, "pin-source="))
                        cli_error("warning: the image keeps the HSM URI without its PIN: the first boot needs the "
                                  "PIN from elsewhere");
                p.hsm_uri = arg.hsm_uri;
                /* The first boot's provider: it must be allowed there, not here (a bare name is checked). */
                p.hsm_provider = arg.hsm_provider;
        }
        if (arg.attest_policy) {
                r = read_attest_policy(&policy_text);
                if (r != 0)
                        return r;
                p.attest_policy = policy_text;
        }
        if (arg.recovery_public_key) {
                r = cli_read_text(arg.recovery_public_key, 64 * 1024, "recovery public key", &recovery_pem, NULL);
                if (r != 0)
                        return r;
                p.recovery_public_key = recovery_pem;
        }

        if (!arg.no_rekey && !arg.recovery_public_key && !arg.json)
                cli_error("warning: the first boot re-encrypts the volume to a key made in the VM and destroys this "
                          "image's keyslots: without --recovery-public-key the volume will have no recovery key");

        /* Interrupted, the library removes what it wrote. */
        signals_catch(image_on_signal, old);
        r = cvmseal_image_encrypt(arg.raw, arg.image, key, &p, &res);
        signals_restore(old);
        if (progress.shown && r < 0)
                fputc('\n', stderr);

        if (r < 0)
                return image_fail(r);
        image_print(&res);
        return EXIT_OK;
}

/* ---- policy sign ---- */

/* ---- rekey ---- */

static volatile sig_atomic_t rekey_interrupted;

static void rekey_on_signal(int sig) {
        (void) sig;
        rekey_interrupted = 1;
}

struct rekey_progress {
        struct timespec start, last;
        uint64_t first;
        bool begun, announced, shown;
};

static double seconds_since(const struct timespec *t) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Once, after two seconds of work, a line with what is left and how long it should take (on the
 * console at boot); a progress bar only on a terminal.  A signal stops cleanly: the volume stays in
 * reencryption, and the next run resumes it. */
static int rekey_progress(uint64_t done, uint64_t total, void *userdata) {
        struct rekey_progress *p = userdata;
        double t, rate;
        int percent;

        if (rekey_interrupted)
                return 1;
        if (!p->begun) {
                clock_gettime(CLOCK_MONOTONIC, &p->start);
                p->last = p->start;
                p->first = done;
                p->begun = true;
                return 0;
        }
        t = seconds_since(&p->start);
        rate = t > 0 ? (double) (done - p->first) / t : 0;
        /* Announced once the rate is measured: after two seconds and at least one step. */
        if (!p->announced && ((t >= 2.0 && done > p->first) || done >= total)) {
                p->announced = true;
                if (p->shown)
                        fputc('\n', stderr);
                cli_info("Re-encrypting %s to a new volume key: %" PRIu64 " of %" PRIu64 " MiB left, about %.0f s at "
                         "%.0f MiB/s (cvmseal rekey --status %s).", arg.device, (total - done) >> 20, total >> 20,
                         rate > 0 ? (double) (total - done) / rate : 0.0, rate / 1048576.0, arg.device);
        }
        if (!isatty(STDERR_FILENO) || (seconds_since(&p->last) < 0.2 && done < total))
                return 0;
        clock_gettime(CLOCK_MONOTONIC, &p->last);
        percent = total ? (int) (done * 100 / total) : 100;
        fprintf(stderr, "\r[%-40.*s] %3d%% %" PRIu64 "/%" PRIu64 " MiB %.0f MiB/s\033[K", percent * 40 / 100,
                "########################################", percent, done >> 20, total >> 20, rate / 1048576.0);
        if (done >= total)
                fputc('\n', stderr);
        p->shown = true;
        return 0;
}

static int verb_rekey_status(void) {
        _cleanup_(json_object_putp) json_object *st = NULL;
        json_object *v;
        const char *state;
        int r;

        r = cvmseal_rekey_status(arg.device, &st);
        if (r < 0)
                return cli_fail_errno(r, arg.device);
        if (arg.json) {
                cli_print_json(st);
                return EXIT_OK;
        }
        json_object_object_get_ex(st, "state", &v);
        state = json_object_get_string(v);
        if (streq_ptr(state, "running")) {
                int64_t done = 0, total = 0, rate = 0;
                bool active = false;

                if (json_object_object_get_ex(st, "bytes-done", &v))
                        done = json_object_get_int64(v);
                if (json_object_object_get_ex(st, "bytes-total", &v))
                        total = json_object_get_int64(v);
                if (json_object_object_get_ex(st, "rate", &v))
                        rate = json_object_get_int64(v);
                if (json_object_object_get_ex(st, "active", &v))
                        active = json_object_get_boolean(v);
                printf("%s: re-encrypting to a new volume key: %" PRId64 " of %" PRId64 " MiB done (%d%%)", arg.device,
                       done >> 20, total >> 20, total > 0 ? (int) (done * 100 / total) : 0);
                if (active)
                        printf(", %" PRId64 " MiB/s, about %" PRId64 " s left\n", rate >> 20,
                               rate > 0 ? (total - done) / rate : 0);
                else
                        printf("; stopped (cvmseal rekey %s resumes it)\n", arg.device);
        } else if (streq_ptr(state, "finished"))
                printf("%s: rekeyed: the volume key was made here; no keyslot of the old key is left\n", arg.device);
        else if (streq_ptr(state, "starting"))
                printf("%s: a rekey is about to start (the next boot or cvmseal rekey %s starts it)\n", arg.device,
                       arg.device);
        else if (streq_ptr(state, "pending"))
                printf("%s: its first boot will rekey it (the provisioning marker asks for it)\n", arg.device);
        else
                printf("%s: no rekey needed or under way\n", arg.device);
        return EXIT_OK;
}

static int rekey_one(const cvmseal_secret *key, const cvmseal_secret *pin);

/* rekey --resume without DEVICE: every volume whose rekey the initramfs handed over (the booted
 * system's cvmseal-rekey.service). */
static int rekey_handed_over(const cvmseal_secret *key, const cvmseal_secret *pin) {
        char **devices = NULL;
        int r, rc = EXIT_OK;

        r = cvmseal_rekey_handed_over(&devices);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the kernel keyring: %s", strerror(-r));
        if (r == 0 && !arg.json)
                cli_info("No rekey was handed over by the initramfs.");
        for (char **d = devices; *d; d++) {
                int k;

                arg.device = *d;
                k = rekey_one(key, pin);
                if (k != EXIT_OK)
                        rc = k;
        }
        for (char **d = devices; *d; d++)
                free(*d);
        free(devices);
        arg.device = NULL;
        return rc;
}

static int verb_rekey(void) {
        _cleanup_secret_ cvmseal_secret *key = NULL, *pin = NULL;
        int r;

        if (arg.status)
                return verb_rekey_status();
        if (arg.unlock_key_file) {
                r = cli_read_unlock_key(&key);
                if (r != 0)
                        return r;
        }
        if (arg.pin_file) {
                r = cli_read_pin(false, &pin);
                if (r != 0)
                        return r;
        }
        if (!arg.device)
                return rekey_handed_over(key, pin);
        return rekey_one(key, pin);
}

static int rekey_one(const cvmseal_secret *key, const cvmseal_secret *pin) {
        _cleanup_(json_object_putp) json_object *res = NULL;
        struct rekey_progress progress = {};
        struct sigaction old[3];
        char *attest_failures = NULL;
        json_object *v;
        int r;

        signals_catch(rekey_on_signal, old);
        r = cvmseal_rekey(arg.device,
                          &(const struct cvmseal_rekey_params) {
                                  .tcti = arg.tcti,
                                  .unlock_key = key,
                                  .pin = pin,
                                  .drop_mask = arg.drop_mask,
                                  .resume_only = arg.resume,
                                  .progress = rekey_progress,
                                  .userdata = &progress,
                                  .ret_attest_failures = &attest_failures,
                          },
                          &res);
        signals_restore(old);
        if (progress.shown && (r < 0 || rekey_interrupted))
                fputc('\n', stderr);
        if (r == -EBADE) {
                r = cli_fail(EXIT_ATTESTATION, "%s: attestation failed: %s", arg.device, attest_failures ?: "(no detail)");
                free(attest_failures);
                return r;
        }
        free(attest_failures);
        if (r == -EBUSY)
                return cli_fail(EXIT_OTHER, "%s: not rekeyed: a provisioning marker (its first boot rekeys it), or "
                            "keyslots of the old key that cannot be carried over (-v names them): give their key "
                            "with --unlock-key-file, or give them up with --drop-keyslot ID", arg.device);
        if (r == -EKEYREJECTED)
                return cli_fail(EXIT_OTHER, "%s: the key does not open the volume's keys (during a rekey, only the keys "
                            "carried over to the new volume key do)", arg.device);
        if (r == -ENOKEY || r == -EPERM)
                return cli_fail(cvmseal_exit_code(r), "%s: no key to re-encrypt with: the tokens do not unseal (after the "
                            "lock, only the key the initramfs handed over or --unlock-key-file can)", arg.device);
        if (r < 0)
                return cli_fail_errno(r, arg.device);

        if (arg.json) {
                cli_print_json(res);
                return EXIT_OK;
        }
        json_object_object_get_ex(res, "state", &v);
        if (streq_ptr(json_object_get_string(v), "not-needed"))
                cli_info("%s: no rekey under way.", arg.device);
        else if (streq_ptr(json_object_get_string(v), "finished"))
                cli_info("Rekeyed %s: the data is encrypted with a new volume key, and no keyslot of the old one is "
                         "left.", arg.device);
        else
                cli_info("Stopped the rekey of %s; 'cvmseal rekey %s' resumes it.", arg.device, arg.device);
        return EXIT_OK;
}

static int verb_policy_sign(void) {
        _cleanup_secret_ cvmseal_secret *key = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_free_ char *file = NULL;
        uint8_t *values = NULL;
        size_t values_size = 0;
        const char *text;
        int r;

        /* The private key is a secret: read into a locked buffer, never echoed, no prompt (an encrypted
         * key is refused rather than asked about). */
        r = cvmseal_secret_read_file(arg.key_file, 1024 * 1024, false, &key);
        if (r == -ENODATA)
                return cli_fail(EXIT_OTHER, "%s: the key file is empty", arg.key_file);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot read the key from %s: %s", arg.key_file, strerror(-r));
        r = cvmseal_read_file(arg.pcr_values_file, 64 * 1024, &values, &values_size);
        if (r < 0)
                return cli_fail(r == -EFBIG ? EXIT_MALFORMED : EXIT_OTHER, "cannot read the PCR values from %s: %s",
                            arg.pcr_values_file, strerror(-r));

        r = cvmseal_policy_sign(key, (const char *) values, values_size, arg.predict_pcr_mask, &doc);
        free(values);
        if (r == -EBADMSG)
                return cli_fail(EXIT_MALFORMED, "%s: not a pcr-values document ({\"sha256\": {\"7\": \"<hex>\"}}; -v says "
                            "where)", arg.pcr_values_file);
        if (r == -EDOM)
                return cli_fail(EXIT_OTHER, "%s: lacks a PCR that --pcrs names", arg.pcr_values_file);
        if (r == -EKEYREJECTED)
                return cli_fail(EXIT_OTHER, "%s: not an unencrypted PEM private key of RSA 2048-4096 bits or ECC P-256",
                            arg.key_file);
        if (r == -EINVAL)
                return cli_fail(EXIT_OTHER, "the lock PCR %u is never part of a signed policy", CVMSEAL_LOCK_PCR);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "policy sign: %s", strerror(-r));

        if (!arg.output || strcmp(arg.output, "-") == 0) {
                /* The document is the output, with --json or without. */
                cli_print_json(doc);
                return ferror(stdout) ? EXIT_OTHER : EXIT_OK;
        }

        text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        /* A signed policy is public: mode 0644, replaced atomically, with a final newline. */
        if (asprintf(&file, "%s\n", text) < 0)
                return cli_fail(EXIT_OTHER, "out of memory");
        r = cvmseal_write_file(arg.output, file, strlen(file), CVMSEAL_WRITE_ATOMIC);
        if (r < 0)
                return cli_fail(EXIT_OTHER, "cannot write %s: %s", arg.output, strerror(-r));
        if (arg.json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "output", json_object_new_string(arg.output));
                json_object_object_add(j, "policy", json_object_get(json_object_object_get(doc, "policy")));
                json_object_object_add(j, "key", json_object_get(json_object_object_get(doc, "key")));
                json_object_object_add(j, "created", json_object_get(json_object_object_get(doc, "created")));
                cli_print_json(j);
        } else
                cli_info("Wrote the signed policy %s (approved policy %s).", arg.output,
                         json_object_get_string(json_object_object_get(doc, "policy")));
        return EXIT_OK;
}

static const char help_text[] =
        "Usage: cvmseal [--tcti CONF] [--json] [-v] COMMAND ...\n"
               "\n"
               "Seal the unlock secret of a LUKS2 volume to the (v)TPM of a Confidential VM.\n"
               "\n"
               "Commands:\n"
               "  enroll DEVICE --unlock-key-file FILE [--tpm2-pcrs LIST] [--tpm2-pin] [--pin-file FILE]\n"
               "                [--recovery-key] [--hsm URI [--hsm-pin-file FILE] [--hsm-allow-extractable]]\n"
               "                [--hsm-provider NAME --hsm STORE-URI [--hsm-key-blob FILE]\n"
               "                 [--hsm-public-key PEM] [--hsm-allow-extractable]]\n"
               "                [--attest-policy FILE] [--no-lock-pcr] [--tpm2-public-key PEM]\n"
               "                        add a keyslot and a cvmseal token sealed to the TPM\n"
               "                        (PCR 7 by default, and always the lock PCR 15 unless\n"
               "                        --no-lock-pcr); with --tpm2-public-key, to PCR values\n"
               "                        that PEM's key signs ('policy sign'): no reseal on updates;\n"
               "                        --hsm-provider: the HSM key of an OpenSSL provider that\n"
               "                        cvmseal.conf allows (AziHSM), its blob kept in the token\n"
               "                        with --hsm-key-blob; --hsm-public-key binds from the key's\n"
               "                        public half alone (offline, not verified)\n"
               "  enroll DEVICE --unlock-token ID [--wipe-token] [the options above]\n"
               "                        the existing keyslot's secret from another token instead\n"
               "                        of a key file (systemd-cryptenroll's through its plugin,\n"
               "                        clevis's through 'clevis luks pass'); --wipe-token then\n"
               "                        removes that token and the keyslot only it used\n"
               "  enroll IMG --unlock-key-file FILE --tpm2-srk-pub FILE --pcr-values FILE\n"
               "                [--tpm2-pcrs LIST] [--tpm2-pin] [--attest-policy FILE] [--recovery-key]\n"
               "                [--hsm-provider NAME --hsm STORE-URI --hsm-public-key PEM [--hsm-key-blob FILE]]\n"
               "                        offline: seal for the TPM whose SRK that is, to those PCR\n"
               "                        values (all of the file's by default), and for the HSM\n"
               "                        key whose public half PEM is; no TPM or HSM is used\n"
               "  unlock DEVICE [NAME] [--test | --print-key] [--pin-file FILE] [--token ID]\n"
               "                        unseal and open: activate NAME, --test the keyslot, or\n"
               "                        --print-key for a crypttab keyscript\n"
               "  list DEVICE           show the keyslots and cvmseal tokens\n"
               "  remove DEVICE --token ID\n"
               "                        remove a token and its keyslot (never the last way in)\n"
               "  reseal DEVICE [--token ID] [--tpm2-pcrs LIST] [--pcr-values FILE] [--pin-file FILE]\n"
               "                [--unlock-key-file FILE [--hsm-pin-file FILE]]\n"
               "                        seal the token(s) again, to predicted (--pcr-values) or\n"
               "                        current PCR values: a new keyslot and token replace the old\n"
               "                        ones atomically (before rebooting into an update)\n"
               "  rotate DEVICE [--token ID] [--pin-file FILE] [--unlock-key-file FILE [--hsm-pin-file FILE]]\n"
               "                        the same with a new secret and the same PCRs and values\n"
               "  rekey DEVICE [--unlock-key-file FILE] [--pin-file FILE] [--drop-keyslot ID]...\n"
               "                        re-encrypt the volume to a new volume key made here, or\n"
               "                        resume it (first boot starts it; the old key's keyslots\n"
               "                        are destroyed at the end)\n"
               "  rekey --resume [DEVICE]\n"
               "                        go on with a rekey under way (without DEVICE: those the\n"
               "                        initramfs handed over; cvmseal-rekey.service)\n"
               "  rekey DEVICE --status [--json]\n"
               "                        not needed, pending, running (bytes, rate) or finished\n"
               "  provision DEVICE [--tpm2-pcrs LIST] [--hsm-pin-file FILE]\n"
               "                        first boot: enroll a pipeline-built image to this TPM and\n"
               "                        destroy its provisioning keyslot (nothing to do: exit 0)\n"
               "  lock                  extend the lock PCR 15 once in this boot (initramfs)\n"
               "  attest collect [--nonce HEX]\n"
               "                        collect attestation evidence (JSON on stdout)\n"
               "  attest verify --policy FILE EVIDENCE\n"
               "                        verify evidence against a policy (--json for the claims)\n"
               "  srk export [--output FILE] [--create]\n"
               "                        write this TPM's SRK public area (TPM2B_PUBLIC), for\n"
               "                        enroll --tpm2-srk-pub on another machine\n"
               "  hsm keygen --hsm URI [--hsm-pin-file FILE]\n"
               "                        create a sensitive, non-extractable key for --hsm\n"
               "  hsm keygen --hsm-provider NAME --hsm STORE-URI --hsm-key-blob FILE [--output PEM]\n"
               "                        make a key with an OpenSSL provider (AziHSM: an RSA key\n"
               "                        imported once; others: EC P-256 made inside the device);\n"
               "                        the URI names the blob by {key-blob}: it goes to FILE,\n"
               "                        the public key to PEM\n"
               "  pcr predict --event-log FILE [--kernel FILE] [--initrd FILE] [--pcrs LIST]\n"
               "                        predict the SHA-256 PCRs of a boot with a new kernel or\n"
               "                        initrd (pcr-values JSON on stdout)\n"
               "  image encrypt RAW IMG --unlock-key-file FILE [--tpm2-pcrs LIST] [--attest-policy FILE]\n"
               "                [--hsm URI [--hsm-provider NAME]] [--sector-size 512|4096] [--fast-kdf]\n"
               "                [--no-rekey] [--recovery-public-key PEM]\n"
               "                        write RAW's content into a new LUKS2 image IMG, with a\n"
               "                        provisioning marker for its first boot\n"
               "  policy sign --key PEM --pcr-values FILE [--pcrs LIST] [--output FILE]\n"
               "                        sign PCR values for tokens enrolled with --tpm2-public-key\n"
               "                        (a signed-policy JSON document; install it in\n"
               "                        /etc/cvmseal/signed-policies/)\n"
               "  diagnose DEVICE [--token ID] [--event-log FILE] [--kernel FILE] [--initrd FILE]\n"
               "           [--hsm-pin-file FILE]\n"
               "                        why an unlock would be refused: the token, attestation, the\n"
               "                        SRK, the PCRs that differ and the events of this boot's log\n"
               "                        that made them differ, the lockout, the HSM key; sends no\n"
               "                        Unseal and writes nothing (exit: 0 when an unlock would\n"
               "                        succeed, else the code unlock would give)\n"
               "\n"
               "Options:\n"
               "  --tcti CONF           tpm2-tss TCTI (default: $CVMSEAL_TCTI, then device:/dev/tpmrm0)\n"
               "  --json                one JSON document on stdout; messages on stderr\n"
               "  -v, --verbose         explain each step on stderr\n"
               "  -h, --help            this text\n"
               "  --version             the version\n"
               "\n"
               "FILE may be '-' for standard input.  Exit codes: 0 success, 1 other failure, 2 usage,\n"
               "3 TPM policy not satisfied or another TPM, 4 attestation failed, 5 HSM key unavailable,\n"
               "6 TPM unavailable, 7 PIN wrong or missing, 8 no cvmseal token or not LUKS2,\n"
               "9 TPM lockout, 10 token malformed.  See cvmseal(1).\n";

static void print_help(void) {
        fputs(help_text, stdout);
}

/* The command each parsed verb runs. */
static int (*const verbs[])(void) = {
        [CLI_ENROLL] = verb_enroll,
        [CLI_UNLOCK] = verb_unlock,
        [CLI_LIST] = verb_list,
        [CLI_REMOVE] = verb_remove,
        [CLI_RESEAL] = verb_reseal,
        [CLI_ROTATE] = verb_reseal,
        [CLI_REKEY] = verb_rekey,
        [CLI_HSM_KEYGEN] = verb_hsm_keygen,
        [CLI_ATTEST_COLLECT] = verb_attest_collect,
        [CLI_ATTEST_VERIFY] = verb_attest_verify,
        [CLI_SRK_EXPORT] = verb_srk_export,
        [CLI_IMAGE_ENCRYPT] = verb_image_encrypt,
        [CLI_PCR_PREDICT] = verb_pcr_predict,
        [CLI_LOCK] = verb_lock,
        [CLI_PROVISION] = verb_provision,
        [CLI_POLICY_SIGN] = verb_policy_sign,
        [CLI_DIAGNOSE] = verb_diagnose,
};

int main(int argc, char *argv[]) {
        const struct rlimit no_core = {};
        const char *error = NULL;
        int r;

        /* Secrets pass through this process: no core dumps, no ptrace by unprivileged peers. */
        (void) setrlimit(RLIMIT_CORE, &no_core);
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        clock_gettime(CLOCK_MONOTONIC, &start_time);
        r = cli_parse(argc, argv, &arg, &error);
        if (r < 0) {
                cli_error("%s", error);
                return EXIT_USAGE;
        }

        if (arg.verbose)
                cvmseal_set_log(library_log, NULL);
        else
                /* tpm2-tss prints its own errors unless told otherwise; ours say more. */
                (void) setenv("TSS2_LOG", "all+none", 0);

        /* tpm2-tss dumps command and response buffers at its debug and trace levels: an HSM PIN or an
         * authValue would reach the terminal.  Those levels only by explicit choice. */
        {
                const char *l = getenv("TSS2_LOG");

                if (l && (strstr(l, "debug") || strstr(l, "DEBUG") || strstr(l, "trace") || strstr(l, "TRACE")) &&
                    !getenv("CVMSEAL_UNSAFE_TSS2_LOG")) {
                        cli_error("warning: TSS2_LOG=%s would dump TPM buffers that hold secrets; using all+info "
                                  "(set CVMSEAL_UNSAFE_TSS2_LOG=1 to insist)", l);
                        (void) setenv("TSS2_LOG", "all+info", 1);
                }
        }

        if (arg.command == CLI_HELP) {
                print_help();
                return EXIT_OK;
        }
        if (arg.command == CLI_VERSION) {
                printf("cvmseal %s\n", cvmseal_version());
                return EXIT_OK;
        }
        if ((size_t) arg.command >= ELEMENTSOF(verbs) || !verbs[arg.command])
                return EXIT_USAGE;
        return verbs[arg.command]();
}
