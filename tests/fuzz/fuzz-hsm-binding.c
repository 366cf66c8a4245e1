/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "hsm" member of a token: hsm_binding_from_json(), and for a binding that parses,
 * hsm_binding_to_json() and a second parse that must give the same binding (PKCS#11 bindings, and
 * OpenSSL provider bindings with their provider, ECDH ephemeral point and key blob).  A parsed
 * provider binding must name its provider by a bare name and its key blob by {key-blob} exactly
 * when it carries one.
 *
 * Input: the member's JSON text (an object), as the token carries it.
 */
#include "fuzz.h"
#include "hsm.h"
#include "macro.h"

static bool same_binding(const struct hsm_binding *a, const struct hsm_binding *b) {
        return streq_ptr(a->uri, b->uri) && a->mechanism == b->mechanism &&
               memcmp(a->iv, b->iv, sizeof(a->iv)) == 0 && a->key_check_size == b->key_check_size &&
               memcmp(a->key_check, b->key_check, a->key_check_size) == 0 &&
               a->ciphertext_size == b->ciphertext_size &&
               memcmp(a->ciphertext, b->ciphertext, a->ciphertext_size) == 0 && a->pin == b->pin &&
               (a->provider ? streq_ptr(a->provider, b->provider) : !b->provider) &&
               a->ephemeral_size == b->ephemeral_size && memcmp(a->ephemeral, b->ephemeral, a->ephemeral_size) == 0 &&
               a->key_blob_size == b->key_blob_size && (a->key_blob ? b->key_blob != NULL : !b->key_blob) &&
               (!a->key_blob || memcmp(a->key_blob, b->key_blob, a->key_blob_size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL, *out = NULL;
        _cleanup_(hsm_binding_done) struct hsm_binding b = {}, again = {};

        fuzz_setup_log();
        if (size > 64 * 1024)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;
        j = json_tokener_parse(s);
        if (!j)
                return 0;
        if (hsm_binding_from_json(j, &b) < 0)
                goto done;
        if (b.provider && (!hsm_provider_name_valid(b.provider) || strchr(b.provider, '/') ||
                           (strstr(b.uri, HSM_KEY_BLOB_PLACEHOLDER) != NULL) != (b.key_blob != NULL))) {
                fprintf(stderr, "a provider binding that names a path or a key blob it lacks was accepted\n");
                abort();
        }

        if (hsm_binding_to_json(&b, &out) < 0)
                goto done;
        if (hsm_binding_from_json(out, &again) < 0 || !same_binding(&b, &again)) {
                fprintf(stderr, "a parsed HSM binding does not round-trip through hsm_binding_to_json()\n");
                abort();
        }
done:
        ERR_clear_error();
        return 0;
}
