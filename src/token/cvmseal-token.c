/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcryptsetup-token-cvmseal.so: the external LUKS2 token plugin, so that `cryptsetup open` and
 * systemd-cryptsetup unlock cvmseal tokens natively.  It is a thin layer over libcvmseal: the same
 * cvmseal_token_open() as `cvmseal unlock`, hence the same SRK pinning, PCR policy, PIN, HSM binding
 * and attestation gate, with no second path.
 *
 * Returns what libcryptsetup expects: -EAGAIN when no TPM is there (another token or a passphrase
 * may do), -ENOANO when the PIN is missing or wrong (ask for one), other negative errno otherwise.
 * The TCTI comes from $CVMSEAL_TCTI, then device:/dev/tpmrm0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "cvmseal.h"

#define _public_ __attribute__((visibility("default")))

/* The plugin interface of libcryptsetup (CRYPTSETUP_TOKEN_1.0); its headers do not declare it. */
int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len, void *usrptr);
int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin, size_t pin_size, char **buffer,
                              size_t *buffer_len, void *usrptr);
void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len);
int cryptsetup_token_validate(struct crypt_device *cd, const char *json);
void cryptsetup_token_dump(struct crypt_device *cd, const char *json);
const char *cryptsetup_token_version(void);

/* The library's debug messages go to libcryptsetup's debug log (cryptsetup --debug). */
static void log_to_cryptsetup(int level, const char *message, void *userdata) {
        (void) level;
        crypt_logf(userdata, CRYPT_LOG_DEBUG, "cvmseal: %s", message);
}

/* A private OpenSSL library context, made the default of this thread while libcvmseal runs: every
 * fetch of libcvmseal, of tpm2-tss's ESAPI and of a PKCS#11 module that uses OpenSSL goes to a
 * context with only the default provider, whatever the host process (cryptsetup,
 * systemd-cryptsetup) configured in its own default context (providers, FIPS mode, default
 * properties), and nothing of ours is left in the host's context afterwards. */
struct private_ctx {
        OSSL_LIB_CTX *libctx, *previous;
        OSSL_PROVIDER *provider;
};

static int private_ctx_enter(struct private_ctx *c) {
        c->libctx = OSSL_LIB_CTX_new();
        c->provider = c->libctx ? OSSL_PROVIDER_load(c->libctx, "default") : NULL;
        if (!c->provider) {
                OSSL_LIB_CTX_free(c->libctx);
                return -ENOMEM;
        }
        c->previous = OSSL_LIB_CTX_set0_default(c->libctx);
        return 0;
}

static void private_ctx_leave(struct private_ctx *c) {
        (void) OSSL_LIB_CTX_set0_default(c->previous);
        OSSL_PROVIDER_unload(c->provider);
        OSSL_LIB_CTX_free(c->libctx);
}

/* After a refusal of the TPM policy: the PCRs that differ and the events of this boot's log that made
 * them differ (cvmseal_token_diagnose(), PCRs only: no second attestation, no HSM), each on its own line
 * of libcryptsetup's log, before cryptsetup or systemd-cryptsetup asks for a passphrase.  The library's
 * messages are printable ASCII only: they can quote the event log. */
/* The table's words where a plugin says them: no "-v" inside cryptsetup (the command line's
 * `cvmseal -v unlock DEVICE --test` is the way to the whole story), and no unlock key of the
 * operator's, but the share the TPM gave. */
static void plugin_words(int r, char *why, size_t size) {
        char *hint = strstr(why, " (-v says ");

        if (r == -EKEYREJECTED)
                (void) snprintf(why, size, "the unsealed secret opens no keyslot");
        else if (hint)
                (void) snprintf(hint, size - (size_t) (hint - why), " (cvmseal -v unlock DEVICE --test says which)");
        else if (r == -EBADE)
                (void) strncat(why, " (cvmseal -v unlock DEVICE --test says which check)", size - strlen(why) - 1);
}

static void log_diagnosis(struct crypt_device *cd, int token) {
        const struct cvmseal_diagnose_params params = { .token_id = token, .boot_dir = "", .pcrs_only = true };
        json_object *j = NULL, *tokens, *checks;
        struct private_ctx ctx;

        if (private_ctx_enter(&ctx) < 0)
                return;
        if (cvmseal_token_diagnose(cd, &params, &j) < 0) {
                private_ctx_leave(&ctx);
                return;
        }
        private_ctx_leave(&ctx);
        if (json_object_object_get_ex(j, "tokens", &tokens) && json_object_array_length(tokens) == 1 &&
            json_object_object_get_ex(json_object_array_get_idx(tokens, 0), "checks", &checks))
                for (size_t i = 0; i < json_object_array_length(checks); i++) {
                        json_object *c = json_object_array_get_idx(checks, i), *pcrs;

                        if (strcmp(json_object_get_string(json_object_object_get(c, "status")), "failed") != 0)
                                continue;
                        crypt_logf(cd, CRYPT_LOG_ERROR, "cvmseal token %d: %s", token,
                                   json_object_get_string(json_object_object_get(c, "message")));
                        if (!json_object_object_get_ex(c, "pcrs", &pcrs))
                                continue;
                        for (size_t k = 0; k < json_object_array_length(pcrs); k++)
                                crypt_logf(cd, CRYPT_LOG_ERROR, "cvmseal token %d: %s", token,
                                           json_object_get_string(json_object_object_get(json_object_array_get_idx(pcrs, k),
                                                                                         "message")));
                }
        json_object_put(j);
}

static int token_open(struct crypt_device *cd, int token, const char *pin, size_t pin_size, char **ret_buffer,
                      size_t *ret_len) {
        cvmseal_secret *p = NULL, *pass = NULL;
        struct private_ctx ctx;
        const char *keyscript, *json = NULL;
        char *buffer;
        int r;

        /* Debian's cryptroot (initramfs-tools) starts `cryptsetup open --key-file=-` and cvmseal's
         * keyscript together, and cryptsetup tries tokens before it reads the key.  Both would
         * unseal, and when the token won, the keyscript would be left at a prompt that nobody
         * reads.  There the keyscript owns the unlock (with its first-boot step, its explanations
         * and the recovery prompt): cryptroot exports the crypttab options to cryptsetup. */
        keyscript = getenv("CRYPTTAB_OPTION_keyscript");
        if (keyscript && strstr(keyscript, "cvmseal-keyscript")) {
                crypt_logf(cd, CRYPT_LOG_DEBUG, "cvmseal: token %d: left to %s", token, keyscript);
                return -EAGAIN;
        }

        if (pin) {
                p = cvmseal_secret_new_from(pin, pin_size);
                if (!p)
                        return -ENOMEM;
        }

        /* The host's environment is left alone (setenv() in a host process races its other threads'
         * getenv()): tpm2-tss may print its own error lines to stderr, besides the reason below. */

        /* Version 1 tokens still open, but the TPM does not bind them to their members. */
        if (crypt_token_json_get(cd, token, &json) >= 0 && cvmseal_token_version(json) == 1)
                crypt_logf(cd, CRYPT_LOG_NORMAL, "cvmseal token %d is version 1, which the TPM does not bind to its "
                           "members: run 'cvmseal reseal' to make it version 2\n", token);

        if (private_ctx_enter(&ctx) < 0) {
                cvmseal_secret_free(p);
                return -ENOMEM;
        }
        cvmseal_set_log(log_to_cryptsetup, cd);
        r = cvmseal_token_open(cd, token, p, &pass);
        cvmseal_set_log(NULL, NULL);
        cvmseal_secret_free(p);
        private_ctx_leave(&ctx);

        switch (r) {
        case 0:
                break;
        case -ENOANO:
        case -EACCES:
                return -ENOANO;   /* PIN missing or wrong: the caller asks for one */
        default: {
                char why[512];

                /* Why the token did not open, in one line and in the command line's words (the
                 * library's table): libcryptsetup shows it before it falls back to a passphrase.  No
                 * secret, no TCTI string.  `cvmseal -v unlock DEVICE --test` tells the whole story. */
                (void) cvmseal_error_message(r, NULL, why, sizeof(why));
                plugin_words(r, why, sizeof(why));
                crypt_logf(cd, CRYPT_LOG_ERROR, "cvmseal token %d: %s", token, why);
                if (r == -EPERM || r == -ENOMSG)
                        log_diagnosis(cd, token);
                return r == -ENODEV ? -EAGAIN : r;   /* no TPM here: not this token's day */
        }
        }

        /* libcryptsetup owns this buffer and gives it back to cryptsetup_token_buffer_free(). */
        buffer = malloc(cvmseal_secret_size(pass) + 1);
        if (!buffer) {
                cvmseal_secret_free(pass);
                return -ENOMEM;
        }
        memcpy(buffer, cvmseal_secret_data(pass), cvmseal_secret_size(pass));
        buffer[cvmseal_secret_size(pass)] = 0;
        *ret_len = cvmseal_secret_size(pass);
        *ret_buffer = buffer;
        cvmseal_secret_free(pass);
        return 0;
}

_public_ int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
                                   void *usrptr) {
        (void) usrptr;
        return token_open(cd, token, NULL, 0, buffer, buffer_len);
}

_public_ int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin, size_t pin_size,
                                       char **buffer, size_t *buffer_len, void *usrptr) {
        (void) usrptr;
        return token_open(cd, token, pin, pin_size, buffer, buffer_len);
}

/* Never inlined: the wipe must happen. */
__attribute__((noinline)) static void wipe(void *p, size_t n) {
        explicit_bzero(p, n);
}

_public_ void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len) {
        if (!buffer)
                return;
        wipe(buffer, buffer_len);
        free(buffer);
}

_public_ int cryptsetup_token_validate(struct crypt_device *cd, const char *json) {
        struct private_ctx ctx;
        int r;

        /* Validation computes digests (the policy a version 2 token's members give): in the private
         * context too. */
        if (private_ctx_enter(&ctx) < 0)
                return -ENOMEM;
        r = cvmseal_token_validate(json);
        private_ctx_leave(&ctx);

        if (r < 0) {
                crypt_logf(cd, CRYPT_LOG_ERROR, "cvmseal token: malformed (cvmseal -v list says where)");
                return -EINVAL;
        }
        return 0;
}

_public_ void cryptsetup_token_dump(struct crypt_device *cd, const char *json) {
        struct private_ctx ctx;
        char *s = NULL;
        int r;

        if (private_ctx_enter(&ctx) < 0)
                return;
        r = cvmseal_token_describe(json, &s);
        private_ctx_leave(&ctx);
        if (r < 0) {
                crypt_logf(cd, CRYPT_LOG_NORMAL, "\tcvmseal token: malformed\n");
                return;
        }
        crypt_logf(cd, CRYPT_LOG_NORMAL, "%s", s);
        free(s);
}

_public_ const char *cryptsetup_token_version(void) {
        return "cvmseal " PROJECT_VERSION;
}
