/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test certificates the harnesses make for themselves at start-up (never trusted: no pinned root
 * and no policy root signs them, so every chain check fails, as it must). */

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"

/* Adds a non-critical extension of that OID with those content bytes. */
static inline void fuzz_cert_add_ext(X509 *x, const char *oid, const uint8_t *der, size_t size) {
        ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509_EXTENSION *ext;

        FUZZ_ASSERT(obj && os && ASN1_OCTET_STRING_set(os, der, (int) size) == 1);
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        FUZZ_ASSERT(ext && X509_add_ext(x, ext, -1) == 1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
}

/* A DER INTEGER from 0 to 127, as AMD's SPL extensions hold them. */
static inline void fuzz_cert_add_spl(X509 *x, const char *oid, uint8_t value) {
        uint8_t der[3] = { 0x02, 0x01, (uint8_t) (value & 0x7f) };

        fuzz_cert_add_ext(x, oid, der, sizeof(der));
}

/* A v3 end-entity certificate for key, issued (in name only) by issuer_cn and signed by key itself. */
static inline X509 *fuzz_cert_new(EVP_PKEY *key, const char *cn, const char *issuer_cn) {
        X509 *x = X509_new();
        X509_NAME *subject = X509_NAME_new(), *issuer = X509_NAME_new();

        FUZZ_ASSERT(x && subject && issuer);
        FUZZ_ASSERT(X509_set_version(x, 2) == 1);
        FUZZ_ASSERT(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1);
        FUZZ_ASSERT(ASN1_TIME_set_string(X509_getm_notBefore(x), "20200101000000Z") == 1);
        FUZZ_ASSERT(ASN1_TIME_set_string(X509_getm_notAfter(x), "20450101000000Z") == 1);
        FUZZ_ASSERT(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0) == 1);
        FUZZ_ASSERT(X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, (const unsigned char *) issuer_cn, -1, -1, 0) == 1);
        FUZZ_ASSERT(X509_set_subject_name(x, subject) == 1 && X509_set_issuer_name(x, issuer) == 1);
        FUZZ_ASSERT(X509_set_pubkey(x, key) == 1);
        X509_NAME_free(subject);
        X509_NAME_free(issuer);
        return x;
}

static inline void fuzz_cert_sign(X509 *x, EVP_PKEY *key) {
        FUZZ_ASSERT(X509_sign(x, key, EVP_sha384()) > 0);
}
