/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first-boot provisioning marker (a "cvmseal-provision" LUKS2 token): provision_marker_parse(),
 * which the first boot applies to a token read from an unauthenticated disk.  For a marker that
 * parses, the invariants the first boot relies on are checked: a keyslot from -1 to 31, a 44-character
 * passphrase, PCRs below 24, a policy that is NUL-free text, an HSM URI without a PIN attribute; with
 * an OpenSSL provider, a bare provider name (never a path) and a URI that names no key blob.
 *
 * Input: the token's JSON text.  No fix-ups: the schema has no checksums.
 */
#include <stdio.h>

#include "fuzz.h"
#include "hsm.h"
#include "macro.h"
#include "provision.h"

/* Whether p11-kit reads a PIN out of the URI (pin-value or pin-source as attributes).  Not a search
 * for "pin-value=": that text may be part of a value ("token=pin-value=x" is the token label
 * "pin-value=x"), which carries no PIN. */
static bool uri_has_pin(const char *uri) {
        cvmseal_secret *pin = NULL;
        int r = hsm_uri_pin(uri, &pin);

        cvmseal_secret_free(pin);
        return r != 0 || pin;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        struct provision_marker m = { .token_id = -1, .keyslot = -1 };

        fuzz_setup_log();
        if (size > 256 * 1024)   /* tokens are small; the policy is at most 64 KiB */
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;
        if (provision_marker_parse(s, &m) == 0) {
                if (m.keyslot < -1 || m.keyslot > 31 || m.token_id != -1 || !m.secret ||
                    cvmseal_secret_size(m.secret) != PROVISION_PASSPHRASE_SIZE ||
                    m.pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX) ||
                    (m.attest_policy && (strlen(m.attest_policy) == 0 || strlen(m.attest_policy) > PROVISION_POLICY_MAX)) ||
                    (m.hsm_uri && !m.hsm_provider && (strncmp(m.hsm_uri, "pkcs11:", 7) != 0 || uri_has_pin(m.hsm_uri))) ||
                    (m.hsm_provider && (!m.hsm_uri || !hsm_provider_name_valid(m.hsm_provider) ||
                                        strstr(m.hsm_uri, HSM_KEY_BLOB_PLACEHOLDER)))) {
                        fprintf(stderr, "a parsed provisioning marker breaks an invariant\n");
                        abort();
                }
                provision_marker_done(&m);
        }
        ERR_clear_error();
        return 0;
}
