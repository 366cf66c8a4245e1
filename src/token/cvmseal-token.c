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

static int token_open(struct crypt_device *cd, int token, const char *pin, size_t pin_size, char **ret_buffer,
                      size_t *ret_len) {
        cvmseal_secret *p = NULL, *pass = NULL;
        char *buffer;
        int r;

        if (pin) {
                p = cvmseal_secret_new_from(pin, pin_size);
                if (!p)
                        return -ENOMEM;
        }

        /* tpm2-tss writes its own errors to stderr unless told otherwise; the failure reaches the user
         * through libcryptsetup.  A TSS2_LOG the user set is left alone. */
        (void) setenv("TSS2_LOG", "all+none", 0);

        cvmseal_set_log(log_to_cryptsetup, cd);
        r = cvmseal_token_open(cd, token, p, &pass);
        cvmseal_set_log(NULL, NULL);
        cvmseal_secret_free(p);

        switch (r) {
        case 0:
                break;
        case -ENODEV:
                return -EAGAIN;   /* no TPM here: not this token's day */
        case -ENOANO:
        case -EACCES:
                return -ENOANO;   /* PIN missing or wrong */
        default:
                crypt_logf(cd, CRYPT_LOG_DEBUG, "cvmseal: token %d: %s", token, strerror(-r));
                return r;
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
        int r = cvmseal_token_validate(json);

        if (r < 0) {
                crypt_logf(cd, CRYPT_LOG_ERROR, "cvmseal token: malformed (cvmseal -v list says where)");
                return -EINVAL;
        }
        return 0;
}

_public_ void cryptsetup_token_dump(struct crypt_device *cd, const char *json) {
        char *s = NULL;

        if (cvmseal_token_describe(json, &s) < 0) {
                crypt_logf(cd, CRYPT_LOG_NORMAL, "\tcvmseal token: malformed\n");
                return;
        }
        crypt_logf(cd, CRYPT_LOG_NORMAL, "%s", s);
        free(s);
}

_public_ const char *cryptsetup_token_version(void) {
        return "cvmseal " PROJECT_VERSION;
}
