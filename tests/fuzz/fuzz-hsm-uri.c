/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HSM URIs (RFC 7512 pkcs11:, from the command line or a token): hsm_uri_public(), which must take
 * every PIN attribute out and give a URI that reads back to itself; and hsm_uri_pin() on URIs
 * that carry no pin-source (which would read a file).
 *
 * Input: the URI text.
 */
#include <string.h>

#include "fuzz.h"
#include "hsm.h"
#include "macro.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *pub = NULL, *again = NULL;
        _cleanup_secret_ cvmseal_secret *pin = NULL, *left = NULL;

        fuzz_setup_log();
        if (size > 8 * 1024)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;

        if (hsm_uri_public(s, &pub) == 0) {
                /* As p11-kit reads it back: no pin-value, no pin-source (text that merely looks like
                 * one inside a percent-encoded label is not one). */
                if (hsm_uri_pin(pub, &left) != 0 || left) {
                        fprintf(stderr, "hsm_uri_public() left a PIN attribute in: %s\n", pub);
                        abort();
                }
                if (hsm_uri_public(pub, &again) != 0 || strcmp(again, pub) != 0) {
                        fprintf(stderr, "hsm_uri_public() is not idempotent: %s -> %s\n", pub, again ?: "(error)");
                        abort();
                }
        }

        if (!strcasestr(s, "pin-source") && !strcasestr(s, "pinfile"))
                (void) hsm_uri_pin(s, &pin);
        return 0;
}
