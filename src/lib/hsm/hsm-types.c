/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names of the binding mechanisms, as the token stores them (docs/token-format.md). */
#include <errno.h>

#include "hsm-types.h"
#include "macro.h"

static const char *const mechanism_names[_HSM_MECHANISM_MAX] = {
        [HSM_AES_256_GCM] = "aes-256-gcm",
        [HSM_RSA_OAEP_SHA256] = "rsa-oaep-sha256",
        [HSM_RSA_OAEP_SHA1] = "rsa-oaep-sha1",
        [HSM_ECDH_P256] = "ecdh-p256-aes-256-gcm",
        [HSM_ECDH_P384] = "ecdh-p384-aes-256-gcm",
};

const char *hsm_mechanism_to_string(enum hsm_mechanism m) {
        return m >= 0 && m < _HSM_MECHANISM_MAX ? mechanism_names[m] : NULL;
}

int hsm_mechanism_from_string(const char *s) {
        for (int m = 0; m < _HSM_MECHANISM_MAX; m++)
                if (streq_ptr(s, mechanism_names[m]))
                        return m;
        return -EINVAL;
}
