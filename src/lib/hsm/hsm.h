/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cvmseal.h"
#include "macro.h"

/*
 * The local HSM key cache, behind a small interface with two backends: PKCS#11 (hsm-pkcs11.c, keys
 * named by pkcs11: URIs) and OpenSSL 3 providers (hsm-provider.c: Azure's integrated HSM through its
 * azihsm_provider and "masked" key blobs, tpm2-openssl, pkcs11-provider; keys named by OSSL_STORE
 * URIs, the provider by a name that local configuration allows).  A backend opens a key, tells what
 * it is, and asks the HSM to decrypt (or to compute an ECDH secret); encryption needs only the
 * public key.  No backend ever reads secret key material out of the HSM.  docs/hsm.md describes it.
 *
 * Errors: -ENOKEY when the module, token or key is not there (or the URI names none), -EKEYREVOKED
 * when the HSM refuses (wrong PIN, a key not fit for the binding, a ciphertext that does not
 * decrypt), -EBADMSG when the stored binding is malformed.
 */

#include "hsm-provider.h"
#include "hsm-types.h"

void hsm_binding_done(struct hsm_binding *b);

typedef struct hsm_key hsm_key;

/* Parses uri (RFC 7512 pkcs11: URIs) and opens the one key it names, logging in with pin (NULL:
 * the URI's pin-value or pin-source, else no login).  ret_pin_used (optional) tells whether a PIN
 * was needed. */
int hsm_key_open(const char *uri, const cvmseal_secret *pin, hsm_key **ret);
/* Opens the key at an OSSL_STORE uri through the OpenSSL provider called provider, which the local
 * configuration must allow (-EPERM otherwise, -EINVAL for a name that is no bare name).  A uri with
 * {key-blob} gets the path of a private file holding blob in its place. */
int hsm_key_open_provider(const char *provider, const char *uri, const uint8_t *blob, size_t blob_size,
                          hsm_key **ret);
/* The key of a stored binding, through its backend. */
int hsm_key_open_binding(const struct hsm_binding *b, const cvmseal_secret *pin, hsm_key **ret);
void hsm_key_free(hsm_key *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(hsm_key *, hsm_key_free);

/* The PIN the URI itself carries (pin-value, or the file that pin-source names); NULL when none. */
int hsm_uri_pin(const char *uri, cvmseal_secret **ret);

/* The URI without its PIN attributes and module path: what may be stored and shown. */
int hsm_uri_public(const char *uri, char **ret);

/* A URI read from a LUKS2 header or a marker names a key only: -EPERM when it names code to load (a
 * PKCS#11 module path) or a PIN source, -EINVAL when it is no HSM URI.  Local configuration (p11-kit's
 * registered modules) decides the code. */
int hsm_uri_stored_check(const char *uri);

/* Checks that the key is fit for a binding: sensitive and not extractable (unless allowed), of a
 * supported kind, able to decrypt. */
int hsm_key_check(hsm_key *k, bool allow_extractable);

/* Encrypts a 32-byte share for the binding, with aad bound to it. */
int hsm_seal(hsm_key *k, const uint8_t *aad, size_t aad_size, const cvmseal_secret *share,
             struct hsm_binding *ret);

/* Encrypts a 32-byte share to a public key alone (PEM text: RSA 2048-8192, or EC P-256/P-384), for a
 * key of an OpenSSL provider that this machine may not have (an offline bind).  Fills everything but
 * uri, provider, key_blob and pin. */
int hsm_seal_public(const char *pem, const uint8_t *aad, size_t aad_size, const cvmseal_secret *share,
                    struct hsm_binding *ret);

/* Decrypts the share of a binding.  -EKEYREVOKED when the key is not the one it was sealed with,
 * -EBADMSG when it is but the ciphertext does not decrypt (a damaged binding). */
int hsm_unseal(hsm_key *k, const struct hsm_binding *b, const uint8_t *aad, size_t aad_size,
               cvmseal_secret **ret);

/* Creates a key fit for a binding where the URI says (type=secret-key: AES-256; type=private:
 * RSA-3072), token-resident, sensitive and never extractable.  ret_info describes it. */
int hsm_keygen(const char *uri, const cvmseal_secret *pin, json_object **ret_info);

/* A stored binding may be used here: its provider (if any) is allowed (-EBADMSG when it is not: the
 * token names code this machine does not load).  Sends nothing to any device. */
int hsm_binding_usable(const struct hsm_binding *b);
/* Makes a key with the provider, the way it allows (docs/hsm.md, "Keys"); uri must hold {key-blob}.
 * Returns the key blob (the file the URI then names) and ret_info {"provider", "uri", "mechanism",
 * "fingerprint", "public-key"}. */
int hsm_provider_keygen(const char *provider, const char *uri, uint8_t **ret_blob, size_t *ret_blob_size,
                        json_object **ret_info);
/* The public half of a provider key: {"mechanism", "fingerprint" (hex of SHA-256 of its DER
 * SubjectPublicKeyInfo: the binding's key-check), "public-key" (PEM)}. */
int hsm_key_public_info(hsm_key *k, json_object **ret);

/* The token's JSON form of a binding, and back (strict, as token.c). */
int hsm_binding_to_json(const struct hsm_binding *b, json_object **ret);
int hsm_binding_from_json(json_object *o, struct hsm_binding *ret);
