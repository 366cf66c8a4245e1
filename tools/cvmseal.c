/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cvmseal(1): the command line.  Thin by design: it parses arguments, reads the files and prompts
 * that hold secrets into secret buffers, calls libcvmseal, and turns the result into output and an
 * exit code (DESIGN, "Command-line contract").  Human messages go to stderr; --json puts one JSON
 * document on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cvmseal.h"

#define PIN_MAX 1024U

static struct cli_args arg;

#define _cleanup_(f) __attribute__((cleanup(f)))
static void secret_freep(cvmseal_secret **s) {
        cvmseal_secret_free(*s);
}
#define _cleanup_secret_ _cleanup_(secret_freep)
static void json_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}

static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_error(const char *fmt, ...) {
        va_list ap;

        fputs("cvmseal: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_info(const char *fmt, ...) {
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

static void print_json(json_object *j) {
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Reports a failure: one line on stderr, and with --json an error document on stdout.  Returns the
 * exit code. */
static int fail(int exit_code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int exit_code, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_error("%s", msg);

        if (arg.json) {
                _cleanup_(json_putp) json_object *j = json_object_new_object();

                if (j) {
                        json_object_object_add(j, "error", json_object_new_string(msg));
                        json_object_object_add(j, "exit-code", json_object_new_int(exit_code));
                        print_json(j);
                }
        }
        return exit_code;
}

/* The message for a library error, in the words of the operation that failed. */
static int fail_errno(int r, const char *device) {
        const char *tcti = cvmseal_tcti_resolve(arg.tcti);

        switch (-r) {
        case EPERM:
                return fail(cli_exit_code(r),
                            "%s: the TPM policy is not satisfied: the boot state (the PCRs) differs from the "
                            "enrolled one, or the lock PCR has been extended", device);
        case EREMCHG:
                return fail(cli_exit_code(r), "%s: this is not the TPM the token was sealed to (its SRK differs)",
                            device);
        case ENODEV:
                return fail(cli_exit_code(r), "no TPM is available through '%s'", tcti);
        case ETIMEDOUT:
                return fail(cli_exit_code(r), "the TPM at '%s' kept asking to retry; try again later", tcti);
        case ENOBUFS:
                return fail(cli_exit_code(r),
                            "the TPM at '%s' is out of memory for objects or sessions (too many left loaded: "
                            "is a resource manager in front of it?)", tcti);
        case ENOANO:
                return fail(cli_exit_code(r), "%s: the token needs a PIN: give --pin-file FILE", device);
        case EACCES:
                return fail(cli_exit_code(r), "%s: wrong PIN", device);
        case ENOLCK: {
                unsigned counter, max, interval;

                /* One more TPM command, on this path only: say when the lockout ends. */
                if (cvmseal_tpm_lockout_info(arg.tcti, &counter, &max, &interval) < 0)
                        return fail(cli_exit_code(r),
                                    "the TPM is in dictionary-attack lockout: wait for the lockout to end, or reset "
                                    "it with the lockout authorization");
                if (counter < max)
                        /* Forgiven since, or the lockout was not the counter's (a proxy, a TPM bug). */
                        return fail(cli_exit_code(r),
                                    "the TPM refused with a dictionary-attack lockout, but its counter is now at %u "
                                    "of %u: try again (one failure is forgiven every %u s)",
                                    counter, max, interval);
                if (interval == 0)
                        return fail(cli_exit_code(r),
                                    "the TPM is in dictionary-attack lockout: the counter is at %u of %u and does "
                                    "not decay (lockout interval 0); reset it with the lockout authorization",
                                    counter, max);
                return fail(cli_exit_code(r),
                            "the TPM is in dictionary-attack lockout: one failure is forgiven every %u s (the counter "
                            "is at %u of %u); try again in about %u s, or reset it with the lockout authorization",
                            interval, counter, max, interval);
        }
        case EMEDIUMTYPE:
                return fail(cli_exit_code(r), "%s is not a LUKS2 device", device);
        case ENOMEDIUM:
                if (arg.token_id >= 0)
                        return fail(cli_exit_code(r), "%s has no cvmseal token %d", device, arg.token_id);
                return fail(cli_exit_code(r), "%s has no cvmseal token", device);
        case EBADMSG:
                return fail(cli_exit_code(r), "%s: the cvmseal token is malformed or damaged (-v says where)",
                            device);
        case EKEYREJECTED:
                return fail(cli_exit_code(r), "%s: the unlock key opens no keyslot", device);
        case ENOSPC:
                return fail(cli_exit_code(r),
                            "%s: no room left: no free keyslot or token, or the LUKS2 metadata area is full", device);
        case EBUSY:
                return fail(cli_exit_code(r), "%s: refusing to remove token %d: it holds the last way into the volume",
                            device, arg.token_id);
        case ENOTSUP:
                if (arg.name)
                        return fail(cli_exit_code(r), "cannot activate %s: device-mapper is not available here", arg.name);
                return fail(cli_exit_code(r), "%s: %s", device, strerror(-r));
        case ENOENT:
                return fail(cli_exit_code(r), "%s: no such file or device", device);
        case ENOKEY:
                return fail(cli_exit_code(r), "%s: the HSM key is unavailable: no PKCS#11 module, token or key matches "
                            "the URI (-v says which)", device);
        case ENOTUNIQ:
                return fail(cli_exit_code(r), "%s: the HSM URI matches more than one key: name one (object=, id=, type=)",
                            device);
        case EKEYREVOKED:
                return fail(cli_exit_code(r), "%s: the HSM refused: wrong or missing HSM PIN, or not the key the token "
                            "was bound to (-v says which)", device);
        case EKEYEXPIRED:
                return fail(cli_exit_code(r), "%s: the HSM key is not fit for a binding: it must be a sensitive, "
                            "non-extractable AES-256 or RSA key (--hsm-allow-extractable accepts an extractable one)",
                            device);
        case EBADE:
                return fail(cli_exit_code(r), "%s: attestation failed", device);
        case EPROTO:
                return fail(cli_exit_code(r), "%s: the attestation evidence this machine gives is malformed (-v says where)",
                            device);
        case EEXIST:
                return fail(cli_exit_code(r), "%s: a key of that name exists already", device);
        default:
                return fail(cli_exit_code(r), "%s: %s", device, strerror(-r));
        }
}

/* Reads a PIN from the terminal, without echo.  -ENOANO without a terminal: a pipeline never gets a
 * prompt. */
static int prompt_pin(const char *prompt, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *s = NULL;
        struct termios old, quiet;
        int fd, r;

        fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || !isatty(STDIN_FILENO)) {
                if (fd >= 0)
                        close(fd);
                return -ENOANO;
        }
        if (tcgetattr(fd, &old) < 0) {
                close(fd);
                return -ENOANO;
        }
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        quiet.c_lflag |= ICANON;
        (void) !write(fd, prompt, strlen(prompt));
        (void) tcsetattr(fd, TCSAFLUSH, &quiet);

        r = cvmseal_secret_read_line(fd, PIN_MAX, &s);
        (void) tcsetattr(fd, TCSAFLUSH, &old);
        (void) !write(fd, "\n", 1);
        close(fd);
        if (r < 0)
                return r == -ENODATA ? -ENOANO : r;
        *ret = s;
        s = NULL;
        return 0;
}

static int read_pin(bool confirm, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *a = NULL, *b = NULL;
        int r;

        if (arg.pin_file) {
                r = cvmseal_secret_read_file(arg.pin_file, PIN_MAX, true, ret);
                if (r == -ENODATA)
                        return fail(EXIT_PIN, "%s: the PIN file is empty", arg.pin_file);
                if (r == -EFBIG)
                        return fail(EXIT_PIN, "%s: the PIN is longer than %u bytes", arg.pin_file, PIN_MAX);
                if (r < 0)
                        return fail(EXIT_OTHER, "cannot read the PIN from %s: %s", arg.pin_file, strerror(-r));
                return 0;
        }

        r = prompt_pin("PIN: ", &a);
        if (r == -ENOANO)
                return fail(EXIT_PIN, "a PIN is needed and there is no terminal to ask for it: give --pin-file FILE");
        if (r < 0)
                return fail(EXIT_PIN, "cannot read the PIN: %s", strerror(-r));
        if (confirm) {
                r = prompt_pin("PIN (again): ", &b);
                if (r < 0)
                        return fail(EXIT_PIN, "cannot read the PIN: %s", strerror(-r));
                if (cvmseal_secret_size(a) != cvmseal_secret_size(b) ||
                    memcmp(cvmseal_secret_data(a), cvmseal_secret_data(b), cvmseal_secret_size(a)) != 0)
                        return fail(EXIT_PIN, "the PINs differ");
        }
        *ret = a;
        a = NULL;
        return 0;
}

/* The HSM PIN from --hsm-pin-file; the URI's pin-source or pin-value are read by the library. */
static int read_hsm_pin(cvmseal_secret **ret) {
        int r;

        *ret = NULL;
        if (!arg.hsm_pin_file) {
                if (strstr(arg.hsm_uri, "pin-value="))
                        log_error("warning: pin-value= puts the HSM PIN on the command line, where other users "
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
                                return fail(EXIT_HSM, "%.*s: the HSM PIN file (pin-source=) is empty", len, src);
                        return fail(EXIT_OTHER, "cannot read the HSM PIN from %.*s (pin-source=): %s", len, src,
                                    strerror(-r));
                }
                return 0;
        }
        r = cvmseal_secret_read_file(arg.hsm_pin_file, 96, true, ret);
        if (r == -ENODATA)
                return fail(EXIT_HSM, "%s: the HSM PIN file is empty", arg.hsm_pin_file);
        if (r == -EFBIG)
                return fail(EXIT_HSM, "%s: the HSM PIN is longer than 96 bytes", arg.hsm_pin_file);
        if (r < 0)
                return fail(EXIT_OTHER, "cannot read the HSM PIN from %s: %s", arg.hsm_pin_file, strerror(-r));
        return 0;
}

static int check_hsm_uri(void) {
        char *public_uri = NULL;
        int r;

        r = cvmseal_hsm_uri_public(arg.hsm_uri, &public_uri);
        if (r == -EINVAL)
                return fail(EXIT_USAGE, "--hsm: not a valid pkcs11: URI (RFC 7512)");
        if (r < 0)
                return fail(EXIT_OTHER, "--hsm: %s", strerror(-r));
        free(public_uri);
        return 0;
}

/* A JSON document from a file ("-": standard input): exactly one document, white space around it at
 * most.  -EPROTO when it is not that (empty, not JSON, trailing text). */
static int read_json_file(const char *path, char **ret_text, json_object **ret) {
        _cleanup_secret_ cvmseal_secret *s = NULL;
        json_tokener *tok;
        json_object *j;
        size_t n, end;
        char *text;
        int r;

        /* Not a secret, but the same careful reader (size limit, "-"). */
        r = cvmseal_secret_read_file(path, 4U << 20, false, &s);
        if (r == -ENODATA)
                return -EPROTO;
        if (r < 0)
                return r;
        n = cvmseal_secret_size(s);
        text = strndup((const char *) cvmseal_secret_data(s), n);
        if (!text)
                return -ENOMEM;
        if (strlen(text) != n) {
                free(text);
                return -EPROTO; /* a NUL inside */
        }

        tok = json_tokener_new();
        if (!tok) {
                free(text);
                return -ENOMEM;
        }
        j = json_tokener_parse_ex(tok, text, (int) n);
        end = json_tokener_get_parse_end(tok);
        if (!j || json_tokener_get_error(tok) != json_tokener_success || strspn(text + end, " \t\r\n") != n - end) {
                json_object_put(j);
                json_tokener_free(tok);
                free(text);
                return -EPROTO;
        }
        json_tokener_free(tok);

        if (ret_text)
                *ret_text = text;
        else
                free(text);
        *ret = j;
        return 0;
}

static int verb_attest_collect(void) {
        _cleanup_(json_putp) json_object *evidence = NULL;
        uint8_t nonce[64];
        size_t n = 0;
        int r;

        if (arg.nonce) {
                n = strlen(arg.nonce) / 2;
                for (size_t i = 0; i < n; i++)
                        sscanf(arg.nonce + 2 * i, "%2hhx", &nonce[i]);
        } else {
                FILE *f = fopen("/dev/urandom", "re");

                n = 32;
                if (!f || fread(nonce, 1, n, f) != n) {
                        if (f)
                                fclose(f);
                        return fail(EXIT_OTHER, "cannot read /dev/urandom for a nonce");
                }
                fclose(f);
        }

        r = cvmseal_attest_collect(arg.tcti, nonce, n, &evidence);
        if (r < 0)
                return fail_errno(r, "attest collect");
        print_json(evidence);
        return EXIT_OK;
}

static int verb_attest_verify(void) {
        _cleanup_(json_putp) json_object *evidence = NULL, *policy = NULL, *result = NULL;
        json_object *failures;
        bool pass;
        int r;

        r = read_json_file(arg.attest_policy, NULL, &policy);
        if (r == -EPROTO)
                return fail(EXIT_MALFORMED, "%s: the policy is not one JSON document", arg.attest_policy);
        if (r < 0)
                return fail(EXIT_OTHER, "cannot read the policy %s: %s", arg.attest_policy, strerror(-r));
        r = read_json_file(arg.evidence, NULL, &evidence);
        if (r == -EPROTO)
                return fail(EXIT_MALFORMED, "%s: the evidence is not one JSON document", arg.evidence);
        if (r < 0)
                return fail(EXIT_OTHER, "cannot read the evidence %s: %s", arg.evidence, strerror(-r));

        r = cvmseal_attest_verify(evidence, policy, &result);
        if (r == -EBADMSG)
                return fail(EXIT_MALFORMED, "%s: the evidence or the policy is malformed (-v says where)", arg.evidence);
        if (r < 0)
                return fail(EXIT_OTHER, "attest verify: %s", strerror(-r));

        pass = strcmp(json_object_get_string(json_object_object_get(result, "verdict")), "pass") == 0;
        failures = json_object_object_get(result, "failures");
        if (arg.json)
                print_json(result);
        else {
                printf("%s\n", pass ? "pass" : "fail");
                for (size_t i = 0; i < json_object_array_length(failures); i++)
                        printf("  %s\n", json_object_get_string(json_object_array_get_idx(failures, i)));
        }
        return pass ? EXIT_OK : EXIT_ATTESTATION;
}

static int verb_hsm_keygen(void) {
        _cleanup_secret_ cvmseal_secret *pin = NULL;
        _cleanup_(json_putp) json_object *info = NULL;
        int r;

        r = check_hsm_uri();
        if (r != 0)
                return r;
        r = read_hsm_pin(&pin);
        if (r != 0)
                return r;
        r = cvmseal_hsm_keygen(arg.hsm_uri, pin, &info);
        if (r == -EINVAL)
                return fail(EXIT_USAGE, "hsm keygen: the URI must name the key (object= or id=) and a type of "
                            "secret-key (AES-256) or private (RSA-3072)");
        if (r < 0)
                return fail_errno(r, "hsm keygen");
        if (arg.json)
                print_json(info);
        else
                log_info("Created a %s key: %s", json_object_get_string(json_object_object_get(info, "mechanism")),
                         json_object_get_string(json_object_object_get(info, "uri")));
        return EXIT_OK;
}

static int verb_enroll(void) {
        _cleanup_secret_ cvmseal_secret *key = NULL, *pin = NULL, *hsm_pin = NULL;
        _cleanup_(json_putp) json_object *policy = NULL;
        char *policy_text = NULL;
        struct cvmseal_enroll_params p = {
                .tcti = arg.tcti,
                .pcr_mask = arg.pcr_mask,
                .recovery_key = arg.recovery_key,
        };
        struct cvmseal_enroll_result res = {};
        int r;

        r = cvmseal_secret_read_file(arg.unlock_key_file, 0, false, &key);
        if (r == -ENODATA)
                return fail(EXIT_OTHER, "%s: the unlock key file is empty", arg.unlock_key_file);
        if (r < 0)
                return fail(EXIT_OTHER, "cannot read the unlock key from %s: %s", arg.unlock_key_file, strerror(-r));

        if (arg.tpm2_pin) {
                r = read_pin(true, &pin);
                if (r != 0)
                        return r;
                p.pin = pin;
        }
        if (arg.hsm_uri) {
                r = check_hsm_uri();
                if (r != 0)
                        return r;
                r = read_hsm_pin(&hsm_pin);
                if (r != 0)
                        return r;
                p.hsm_uri = arg.hsm_uri;
                p.hsm_pin = hsm_pin;
                p.hsm_allow_extractable = arg.hsm_allow_extractable;
        }

        if (arg.attest_policy) {
                r = read_json_file(arg.attest_policy, &policy_text, &policy);
                if (r == -EPROTO)
                        return fail(EXIT_MALFORMED, "%s: the attestation policy is not one JSON document",
                                    arg.attest_policy);
                if (r < 0)
                        return fail(EXIT_OTHER, "cannot read the attestation policy %s: %s", arg.attest_policy,
                                    strerror(-r));
                p.attest_policy = policy_text;
        }

        r = cvmseal_enroll(arg.device, key, &p, &res);
        free(policy_text);
        if (r == -EBADMSG && arg.attest_policy)
                return fail(EXIT_MALFORMED, "%s: the attestation policy is malformed (-v says where)", arg.attest_policy);
        if (r < 0)
                return fail_errno(r, arg.device);

        if (arg.json) {
                _cleanup_(json_putp) json_object *j = json_object_new_object(), *pcrs = json_object_new_array();

                for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++)
                        if (arg.pcr_mask & (UINT32_C(1) << i))
                                json_object_array_add(pcrs, json_object_new_int((int) i));
                json_object_object_add(j, "device", json_object_new_string(arg.device));
                json_object_object_add(j, "token", json_object_new_int(res.token_id));
                json_object_object_add(j, "keyslot", json_object_new_int(res.keyslot));
                json_object_object_add(j, "pcrs", pcrs);
                pcrs = NULL;
                json_object_object_add(j, "pin", json_object_new_boolean(pin != NULL));
                json_object_object_add(j, "hsm", json_object_new_boolean(arg.hsm_uri != NULL));
                if (res.recovery_key) {
                        json_object_object_add(j, "recovery-keyslot", json_object_new_int(res.recovery_keyslot));
                        json_object_object_add(j, "recovery-key",
                                               json_object_new_string((const char *) cvmseal_secret_data(res.recovery_key)));
                }
                print_json(j);
                if (res.recovery_key) {
                        /* json-c holds copies of the key: its string and the serialization. */
                        const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
                        const char *copy = json_object_get_string(json_object_object_get(j, "recovery-key"));

                        explicit_bzero((char *) text, strlen(text));
                        explicit_bzero((char *) copy, strlen(copy));
                }
        } else {
                log_info("Enrolled %s: token %d opens keyslot %d%s.", arg.device, res.token_id, res.keyslot,
                         arg.hsm_uri ? " with the vTPM and the HSM key" : "");
                if (res.recovery_key) {
                        log_info("Recovery key (keyslot %d). It is shown this once: write it down and keep it "
                                 "away from this machine.", res.recovery_keyslot);
                        printf("%s\n", (const char *) cvmseal_secret_data(res.recovery_key));
                }
        }
        cvmseal_secret_free(res.recovery_key);
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
                r = read_pin(false, &pin);
                if (r != 0)
                        return r;
                p.pin = pin;
        }

        r = cvmseal_unlock(arg.device, &p, arg.print_key, &res);
        if (r == -ENOANO && !pin && isatty(STDIN_FILENO)) {
                /* The token wants a PIN and a person is there to type it. */
                r = read_pin(false, &pin);
                if (r != 0)
                        return r;
                p.pin = pin;
                r = cvmseal_unlock(arg.device, &p, arg.print_key, &res);
        }
        if (r == -EBADE) {
                r = fail(EXIT_ATTESTATION, "%s: attestation failed: %s", arg.device,
                         attest_failures ?: "(no detail)");
                free(attest_failures);
                return r;
        }
        free(attest_failures);
        if (r < 0)
                return fail_errno(r, arg.device);

        if (arg.print_key) {
                /* No newline: a keyscript's output is the key, byte for byte. */
                fwrite(cvmseal_secret_data(res.passphrase), 1, cvmseal_secret_size(res.passphrase), stdout);
                fflush(stdout);
                cvmseal_secret_free(res.passphrase);
                return ferror(stdout) ? EXIT_OTHER : EXIT_OK;
        }

        if (arg.json) {
                _cleanup_(json_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "device", json_object_new_string(arg.device));
                json_object_object_add(j, "token", json_object_new_int(res.token_id));
                json_object_object_add(j, "keyslot", json_object_new_int(res.keyslot));
                json_object_object_add(j, "activated", arg.name ? json_object_new_string(arg.name) : NULL);
                print_json(j);
        } else if (arg.name)
                log_info("Activated /dev/mapper/%s from %s with token %d.", arg.name, arg.device, res.token_id);
        else
                log_info("Token %d opens keyslot %d of %s.", res.token_id, res.keyslot, arg.device);
        return EXIT_OK;
}

static void print_pcrs(json_object *pcrs) {
        for (size_t i = 0; i < json_object_array_length(pcrs); i++)
                printf("%s%d", i ? "," : "", json_object_get_int(json_object_array_get_idx(pcrs, i)));
}

static int verb_list(void) {
        _cleanup_(json_putp) json_object *j = NULL;
        json_object *tokens, *slots;
        int r;

        r = cvmseal_list(arg.device, &j);
        if (r < 0)
                return fail_errno(r, arg.device);
        if (arg.json) {
                print_json(j);
                return EXIT_OK;
        }

        json_object_object_get_ex(j, "tokens", &tokens);
        json_object_object_get_ex(j, "keyslots", &slots);
        printf("%s (LUKS2 %s)\n", arg.device, json_object_get_string(json_object_object_get(j, "uuid")));
        printf("TOKEN  TYPE      KEYSLOT  PCRS (sha256)  PIN  SRK\n");
        for (size_t i = 0; i < json_object_array_length(tokens); i++) {
                json_object *t = json_object_array_get_idx(tokens, i), *v;

                printf("%-5d  %-8s  ", json_object_get_int(json_object_object_get(t, "id")),
                       json_object_get_string(json_object_object_get(t, "type")));
                if (!json_object_object_get_ex(t, "valid", &v)) {
                        printf("(not a cvmseal token)\n");
                        continue;
                }
                if (!json_object_get_boolean(v)) {
                        printf("(malformed)\n");
                        continue;
                }
                printf("%-7d  ", json_object_get_int(json_object_object_get(t, "keyslot")));
                print_pcrs(json_object_object_get(t, "pcrs"));
                printf("%*s", 15 - (int) (2 * json_object_array_length(json_object_object_get(t, "pcrs")) - 1), "");
                printf("%-3s  %s\n", json_object_get_boolean(json_object_object_get(t, "pin")) ? "yes" : "no",
                       json_object_get_string(json_object_object_get(t, "srk-handle")));
                if (json_object_object_get_ex(t, "hsm", &v))
                        printf("       HSM: %s (%s)\n", json_object_get_string(json_object_object_get(v, "uri")),
                               json_object_get_string(json_object_object_get(v, "mechanism")));
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

static int verb_remove(void) {
        _cleanup_(json_putp) json_object *slots = NULL;
        int r;

        r = cvmseal_remove(arg.device, arg.token_id, &slots);
        if (r < 0)
                return fail_errno(r, arg.device);

        if (arg.json) {
                _cleanup_(json_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "device", json_object_new_string(arg.device));
                json_object_object_add(j, "removed-token", json_object_new_int(arg.token_id));
                json_object_object_add(j, "removed-keyslots", slots);
                slots = NULL;
                print_json(j);
        } else
                log_info("Removed token %d and keyslot(s) %s from %s.", arg.token_id,
                         json_object_to_json_string_ext(slots, JSON_C_TO_STRING_PLAIN), arg.device);
        return EXIT_OK;
}

static void help(void) {
        printf("Usage: cvmseal [--tcti CONF] [--json] [-v] COMMAND ...\n"
               "\n"
               "Seal the unlock secret of a LUKS2 volume to the (v)TPM of a Confidential VM.\n"
               "\n"
               "Commands:\n"
               "  enroll DEVICE --unlock-key-file FILE [--tpm2-pcrs LIST] [--tpm2-pin] [--pin-file FILE]\n"
               "                [--recovery-key] [--hsm URI [--hsm-pin-file FILE] [--hsm-allow-extractable]]\n"
               "                [--attest-policy FILE]\n"
               "                        add a keyslot and a cvmseal token sealed to the TPM\n"
               "  unlock DEVICE [NAME] [--test | --print-key] [--pin-file FILE] [--token ID]\n"
               "                        unseal and open: activate NAME, --test the keyslot, or\n"
               "                        --print-key for a crypttab keyscript\n"
               "  list DEVICE           show the keyslots and cvmseal tokens\n"
               "  remove DEVICE --token ID\n"
               "                        remove a token and its keyslot (never the last way in)\n"
               "  attest collect [--nonce HEX]\n"
               "                        collect attestation evidence (JSON on stdout)\n"
               "  attest verify --policy FILE EVIDENCE\n"
               "                        verify evidence against a policy (--json for the claims)\n"
               "  hsm keygen --hsm URI [--hsm-pin-file FILE]\n"
               "                        create a sensitive, non-extractable key for --hsm\n"
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
               "9 TPM lockout, 10 token malformed.  See cvmseal(1).\n");
}

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
                log_error("%s", error);
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
                        log_error("warning: TSS2_LOG=%s would dump TPM buffers that hold secrets; using all+info "
                                  "(set CVMSEAL_UNSAFE_TSS2_LOG=1 to insist)", l);
                        (void) setenv("TSS2_LOG", "all+info", 1);
                }
        }

        switch (arg.command) {
        case CLI_HELP:
                help();
                return EXIT_OK;
        case CLI_VERSION:
                printf("cvmseal %s\n", cvmseal_version());
                return EXIT_OK;
        case CLI_ENROLL:
                return verb_enroll();
        case CLI_UNLOCK:
                return verb_unlock();
        case CLI_LIST:
                return verb_list();
        case CLI_REMOVE:
                return verb_remove();
        case CLI_HSM_KEYGEN:
                return verb_hsm_keygen();
        case CLI_ATTEST_COLLECT:
                return verb_attest_collect();
        case CLI_ATTEST_VERIFY:
                return verb_attest_verify();
        default:
                return EXIT_USAGE;
        }
}
