/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PKCS#11 backend, through p11-kit: modules registered with p11-kit (SoftHSM2's is), or named by
 * module-path in the URI; objects chosen by RFC 7512 pkcs11: URIs.  The key never leaves the token:
 * this file asks the token to encrypt and decrypt, and reads only public attributes (class, type,
 * flags, the check value of a secret key, the modulus of an RSA key).
 *
 * CK_RV values are converted to errno here and nowhere else (p11_errno()).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "encoding.h"
#include "hsm-backend.h"
#include "log.h"
#include "macro.h"
#include "secret.h"

struct p11_key {
        CK_FUNCTION_LIST **modules;   /* from p11_kit_modules_load(), or NULL */
        bool *initialized;            /* which of them were initialized */
        CK_FUNCTION_LIST *single;     /* from p11_kit_module_load() (module-path) */
        CK_FUNCTION_LIST *module;     /* the one holding the key */
        CK_SESSION_HANDLE session;
        bool session_open;
        CK_OBJECT_HANDLE key;
        CK_OBJECT_CLASS class;
};

static int p11_errno(CK_RV rv) {
        switch (rv) {
        case CKR_OK:
                return 0;
        case CKR_HOST_MEMORY:
                return -ENOMEM;
        case CKR_TOKEN_NOT_PRESENT:
        case CKR_TOKEN_NOT_RECOGNIZED:
        case CKR_DEVICE_REMOVED:
        case CKR_SLOT_ID_INVALID:
        case CKR_OBJECT_HANDLE_INVALID:
        case CKR_KEY_HANDLE_INVALID:
                return -ENOKEY;
        case CKR_PIN_INCORRECT:
        case CKR_PIN_INVALID:
        case CKR_PIN_LEN_RANGE:
        case CKR_PIN_EXPIRED:
        case CKR_PIN_LOCKED:
        case CKR_USER_NOT_LOGGED_IN:
        case CKR_USER_PIN_NOT_INITIALIZED:
        case CKR_ENCRYPTED_DATA_INVALID:
        case CKR_ENCRYPTED_DATA_LEN_RANGE:
        case CKR_KEY_FUNCTION_NOT_PERMITTED:
        case CKR_KEY_TYPE_INCONSISTENT:
        case CKR_MECHANISM_INVALID:
        case CKR_FUNCTION_NOT_SUPPORTED:
                return -EKEYREVOKED;
        case CKR_MECHANISM_PARAM_INVALID:
        case CKR_ARGUMENTS_BAD:
                return -EOPNOTSUPP; /* e.g. OAEP with a hash the module does not implement */
        default:
                return -EIO;
        }
}

static int p11_error(CK_RV rv, const char *what) {
        int r = p11_errno(rv);

        log_debug("PKCS#11 %s failed: %s (0x%lx)", what, p11_kit_strerror(rv), (unsigned long) rv);
        return r;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(P11KitUri *, p11_kit_uri_free);

static int uri_parse(const char *s, P11KitUri **ret) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = p11_kit_uri_new();
        int r;

        if (!uri)
                return -ENOMEM;
        r = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri);
        if (r != P11_KIT_URI_OK)
                return log_debug_errno(-EINVAL, "Not a PKCS#11 URI: %s", p11_kit_uri_message(r));
        *ret = TAKE_PTR(uri);
        return 0;
}

static void p11_key_free(void *p) {
        struct p11_key *k = p;

        if (!k)
                return;
        if (k->session_open) {
                (void) k->module->C_Logout(k->session);
                (void) k->module->C_CloseSession(k->session);
        }
        if (k->single) {
                (void) p11_kit_module_finalize(k->single);
                p11_kit_module_release(k->single);
        }
        if (k->modules) {
                for (size_t i = 0; k->modules[i]; i++)
                        if (k->initialized[i])
                                (void) p11_kit_module_finalize(k->modules[i]);
                p11_kit_modules_release(k->modules);
        }
        free(k->initialized);
        free(k);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct p11_key *, p11_key_free);

/* Loads the module the URI names (module-path, module-name) or every registered one that may hold
 * keys (not the trust-policy modules, which hold certificates). */
static int load_modules(P11KitUri *uri, struct p11_key *k) {
        const char *path = p11_kit_uri_get_module_path(uri), *name = p11_kit_uri_get_module_name(uri);
        size_t n = 0;
        CK_RV rv;

        if (path) {
                k->single = p11_kit_module_load(path, 0);
                if (!k->single)
                        return log_debug_ret(-ENOKEY, "Cannot load the PKCS#11 module %s", path);
                rv = p11_kit_module_initialize(k->single);
                if (rv != CKR_OK) {
                        p11_kit_module_release(k->single);
                        k->single = NULL;
                        return p11_error(rv, "C_Initialize") == -ENOMEM ? -ENOMEM : -ENOKEY;
                }
                return 0;
        }

        k->modules = p11_kit_modules_load(NULL, 0);
        if (!k->modules)
                return log_debug_ret(-ENOKEY, "p11-kit has no PKCS#11 modules registered");
        while (k->modules[n])
                n++;
        k->initialized = calloc(n + 1, sizeof(bool));
        if (!k->initialized)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *mname = p11_kit_module_get_name(k->modules[i]);
                _cleanup_free_ char *trust = p11_kit_config_option(k->modules[i], "trust-policy");

                if (name ? !streq_ptr(mname, name) : streq_ptr(trust, "yes"))
                        continue;
                rv = p11_kit_module_initialize(k->modules[i]);
                if (rv != CKR_OK) {
                        (void) p11_error(rv, "C_Initialize");
                        continue;
                }
                k->initialized[i] = true;
        }
        return 0;
}

/* The first slot, over the loaded modules, whose token the URI matches. */
static int find_token(P11KitUri *uri, struct p11_key *k, CK_SLOT_ID *ret_slot, CK_TOKEN_INFO *ret_info) {
        CK_FUNCTION_LIST *single[2] = { k->single, NULL }, **mods = k->single ? single : k->modules;

        for (size_t i = 0; mods[i]; i++) {
                _cleanup_free_ CK_SLOT_ID *slots = NULL;
                CK_ULONG n = 0;
                CK_INFO minfo;
                CK_RV rv;

                if (!k->single && !k->initialized[i])
                        continue;
                if (mods[i]->C_GetInfo(&minfo) != CKR_OK || !p11_kit_uri_match_module_info(uri, &minfo))
                        continue;
                rv = mods[i]->C_GetSlotList(CK_TRUE, NULL, &n);
                if (rv != CKR_OK || n == 0)
                        continue;
                slots = calloc(n, sizeof(CK_SLOT_ID));
                if (!slots)
                        return -ENOMEM;
                if (mods[i]->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
                        continue;

                for (CK_ULONG s = 0; s < n; s++) {
                        CK_TOKEN_INFO info;

                        if (mods[i]->C_GetTokenInfo(slots[s], &info) != CKR_OK)
                                continue;
                        if (!p11_kit_uri_match_token_info(uri, &info))
                                continue;
                        k->module = mods[i];
                        *ret_slot = slots[s];
                        *ret_info = info;
                        return 0;
                }
        }
        return log_debug_ret(-ENOKEY, "No PKCS#11 token matches the URI");
}

static int login(struct p11_key *k, const CK_TOKEN_INFO *info, const cvmseal_secret *pin) {
        CK_RV rv;

        if (!(info->flags & CKF_LOGIN_REQUIRED))
                return 0;
        if (!pin)
                return log_debug_ret(-EKEYREVOKED, "The PKCS#11 token needs a PIN and none was given");
        rv = k->module->C_Login(k->session, CKU_USER, (CK_UTF8CHAR_PTR) cvmseal_secret_data(pin),
                                cvmseal_secret_size(pin));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
                return p11_error(rv, "C_Login");
        return 0;
}

/* Finds objects matching the URI's attributes (and class, when given); at most max. */
static int find_objects(struct p11_key *k, P11KitUri *uri, CK_OBJECT_CLASS class, CK_OBJECT_HANDLE *out,
                        CK_ULONG max, CK_ULONG *ret_n) {
        CK_ATTRIBUTE tmpl[8];
        CK_ULONG na = 0, n = 0;
        CK_ATTRIBUTE_PTR attrs = p11_kit_uri_get_attributes(uri, &na);
        CK_ULONG nt = 0;
        CK_RV rv;

        for (CK_ULONG i = 0; i < na && nt < ELEMENTSOF(tmpl) - 1; i++)
                if (attrs[i].type != CKA_CLASS)
                        tmpl[nt++] = attrs[i];
        tmpl[nt++] = (CK_ATTRIBUTE) { CKA_CLASS, &class, sizeof(class) };

        rv = k->module->C_FindObjectsInit(k->session, tmpl, nt);
        if (rv != CKR_OK)
                return p11_error(rv, "C_FindObjectsInit");
        rv = k->module->C_FindObjects(k->session, out, max, &n);
        (void) k->module->C_FindObjectsFinal(k->session);
        if (rv != CKR_OK)
                return p11_error(rv, "C_FindObjects");
        *ret_n = n;
        return 0;
}

static bool uri_class(P11KitUri *uri, CK_OBJECT_CLASS *ret) {
        CK_ATTRIBUTE_PTR a = p11_kit_uri_get_attribute(uri, CKA_CLASS);

        if (!a || a->ulValueLen != sizeof(CK_OBJECT_CLASS))
                return false;
        memcpy(ret, a->pValue, sizeof(CK_OBJECT_CLASS));
        return true;
}

static int open_session(const char *uri_string, const cvmseal_secret *pin, bool rw, P11KitUri **ret_uri,
                        struct p11_key **ret) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = NULL;
        _cleanup_(p11_key_freep) struct p11_key *k = NULL;
        CK_TOKEN_INFO info;
        CK_SLOT_ID slot;
        CK_RV rv;
        int r;

        r = uri_parse(uri_string, &uri);
        if (r < 0)
                return r;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;

        r = load_modules(uri, k);
        if (r < 0)
                return r;
        r = find_token(uri, k, &slot, &info);
        if (r < 0)
                return r;

        rv = k->module->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &k->session);
        if (rv != CKR_OK)
                return p11_error(rv, "C_OpenSession");
        k->session_open = true;

        r = login(k, &info, pin);
        if (r < 0)
                return r;

        *ret_uri = TAKE_PTR(uri);
        *ret = TAKE_PTR(k);
        return 0;
}

static int p11_open(const char *uri_string, const cvmseal_secret *pin, void **ret) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = NULL;
        _cleanup_(p11_key_freep) struct p11_key *k = NULL;
        static const CK_OBJECT_CLASS classes[] = { CKO_SECRET_KEY, CKO_PRIVATE_KEY };
        CK_OBJECT_CLASS wanted;
        bool have_class;
        int r;

        r = open_session(uri_string, pin, false, &uri, &k);
        if (r < 0)
                return r;

        /* A URI without a type may name an AES key or an RSA private key; it must name one key. */
        have_class = uri_class(uri, &wanted);
        for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
                CK_OBJECT_HANDLE found[2];
                CK_ULONG n = 0;

                if (have_class && wanted != classes[i])
                        continue;
                r = find_objects(k, uri, classes[i], found, 2, &n);
                if (r < 0)
                        return r;
                if (n > 1)
                        return log_debug_ret(-ENOTUNIQ, "The PKCS#11 URI matches more than one key");
                if (n == 1) {
                        k->key = found[0];
                        k->class = classes[i];
                        *ret = TAKE_PTR(k);
                        return 0;
                }
        }
        return log_debug_ret(-ENOKEY, "No key in the PKCS#11 token matches the URI");
}

static int get_attr(struct p11_key *k, CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG *size) {
        CK_ATTRIBUTE a = { type, buf, *size };
        CK_RV rv;

        rv = k->module->C_GetAttributeValue(k->session, k->key, &a, 1);
        if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
                return -ENODATA;
        *size = a.ulValueLen;
        return 0;
}

static int get_bool(struct p11_key *k, CK_ATTRIBUTE_TYPE type, bool *ret) {
        CK_BBOOL b = CK_FALSE;
        CK_ULONG n = sizeof(b);
        int r;

        r = get_attr(k, type, &b, &n);
        if (r < 0)
                return r;
        *ret = b == CK_TRUE;
        return 0;
}

static int get_blob(struct p11_key *k, CK_ATTRIBUTE_TYPE type, uint8_t **ret, size_t *ret_size) {
        CK_ATTRIBUTE a = { type, NULL, 0 };
        _cleanup_free_ uint8_t *buf = NULL;

        if (k->module->C_GetAttributeValue(k->session, k->key, &a, 1) != CKR_OK ||
            a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0 || a.ulValueLen > 4096)
                return -ENODATA;
        buf = malloc(a.ulValueLen);
        if (!buf)
                return -ENOMEM;
        a.pValue = buf;
        if (k->module->C_GetAttributeValue(k->session, k->key, &a, 1) != CKR_OK)
                return -ENODATA;
        *ret = TAKE_PTR(buf);
        *ret_size = a.ulValueLen;
        return 0;
}

static int p11_describe(void *p, enum hsm_mechanism *ret_mechanism, bool *ret_sensitive, bool *ret_extractable) {
        struct p11_key *k = p;
        CK_KEY_TYPE type = 0;
        CK_ULONG n = sizeof(type), len = 0;
        bool sensitive = false, extractable = true, decrypt = false;

        if (get_attr(k, CKA_KEY_TYPE, &type, &n) < 0)
                return log_debug_ret(-EKEYREVOKED, "The key has no type");
        if (get_bool(k, CKA_SENSITIVE, &sensitive) < 0 || get_bool(k, CKA_EXTRACTABLE, &extractable) < 0)
                return log_debug_ret(-EKEYREVOKED, "The key does not say whether it is sensitive and extractable");
        if (get_bool(k, CKA_DECRYPT, &decrypt) < 0 || !decrypt)
                return log_debug_ret(-EKEYREVOKED, "The key may not decrypt");

        if (k->class == CKO_SECRET_KEY && type == CKK_AES) {
                n = sizeof(len);
                if (get_attr(k, CKA_VALUE_LEN, &len, &n) < 0 || len != 32)
                        return log_debug_ret(-EKEYREVOKED, "The AES key is not 256 bits long");
                *ret_mechanism = HSM_AES_256_GCM;
        } else if (k->class == CKO_PRIVATE_KEY && type == CKK_RSA)
                *ret_mechanism = HSM_RSA_OAEP_SHA256;
        else
                return log_debug_ret(-EKEYREVOKED, "The key is neither an AES key nor an RSA private key");

        *ret_sensitive = sensitive;
        *ret_extractable = extractable;
        return 0;
}

static int p11_key_check(void *p, uint8_t *buf, size_t *size) {
        struct p11_key *k = p;
        _cleanup_free_ uint8_t *n = NULL, *e = NULL;
        size_t n_size, e_size;
        unsigned md = 0;
        CK_ULONG len = *size;

        if (k->class == CKO_SECRET_KEY) {
                /* PKCS#11's key check value: derived from an encryption of a fixed block, and never
                 * sensitive.  An HSM that keeps none gives none. */
                if (get_attr(k, CKA_CHECK_VALUE, buf, &len) < 0)
                        len = 0;
                *size = len;
                return 0;
        }

        /* An RSA key: the digest of its public key. */
        if (get_blob(k, CKA_MODULUS, &n, &n_size) < 0 || get_blob(k, CKA_PUBLIC_EXPONENT, &e, &e_size) < 0 ||
            *size < 32)
                return log_debug_ret(-EKEYREVOKED, "The RSA key shows no public key");
        {
                _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

                if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, n, n_size) != 1 ||
                    EVP_DigestUpdate(ctx, e, e_size) != 1 || EVP_DigestFinal_ex(ctx, buf, &md) != 1)
                        return -EIO;
        }
        *size = md;
        return 0;
}

static int p11_gcm_encrypt(void *p, const uint8_t iv[HSM_IV_SIZE], const uint8_t *aad, size_t aad_size,
                           const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_size) {
        struct p11_key *k = p;
        CK_GCM_PARAMS params = {
                .iv_ptr = (uint8_t *) iv, .iv_len = HSM_IV_SIZE, .iv_bits = HSM_IV_SIZE * 8,
                .aad_ptr = (uint8_t *) aad, .aad_len = aad_size, .tag_bits = HSM_TAG_SIZE * 8,
        };
        CK_MECHANISM mech = { CKM_AES_GCM, &params, sizeof(params) };
        CK_ULONG n = *out_size;
        CK_RV rv;

        rv = k->module->C_EncryptInit(k->session, &mech, k->key);
        if (rv != CKR_OK)
                return p11_error(rv, "C_EncryptInit (AES-GCM)");
        rv = k->module->C_Encrypt(k->session, (uint8_t *) in, in_size, out, &n);
        if (rv != CKR_OK)
                return p11_error(rv, "C_Encrypt (AES-GCM)");
        *out_size = n;
        return 0;
}

static int decrypt(struct p11_key *k, CK_MECHANISM *mech, const uint8_t *in, size_t in_size, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *out = cvmseal_secret_new(in_size);
        CK_ULONG n = in_size;
        CK_RV rv;

        if (!out)
                return -ENOMEM;
        rv = k->module->C_DecryptInit(k->session, mech, k->key);
        if (rv != CKR_OK)
                return p11_error(rv, "C_DecryptInit");
        rv = k->module->C_Decrypt(k->session, (uint8_t *) in, in_size, cvmseal_secret_data_mut(out), &n);
        if (rv != CKR_OK)
                return p11_error(rv, "C_Decrypt");
        cvmseal_secret_truncate(out, n);
        *ret = TAKE_PTR(out);
        return 0;
}

static int p11_gcm_decrypt(void *p, const uint8_t iv[HSM_IV_SIZE], const uint8_t *aad, size_t aad_size,
                           const uint8_t *in, size_t in_size, cvmseal_secret **ret) {
        CK_GCM_PARAMS params = {
                .iv_ptr = (uint8_t *) iv, .iv_len = HSM_IV_SIZE, .iv_bits = HSM_IV_SIZE * 8,
                .aad_ptr = (uint8_t *) aad, .aad_len = aad_size, .tag_bits = HSM_TAG_SIZE * 8,
        };
        CK_MECHANISM mech = { CKM_AES_GCM, &params, sizeof(params) };

        return decrypt(p, &mech, in, in_size, ret);
}

static int p11_rsa_public(void *p, uint8_t **ret_n, size_t *ret_n_size, uint8_t **ret_e, size_t *ret_e_size) {
        struct p11_key *k = p;
        _cleanup_free_ uint8_t *n = NULL, *e = NULL;
        size_t n_size, e_size;

        if (get_blob(k, CKA_MODULUS, &n, &n_size) < 0 || get_blob(k, CKA_PUBLIC_EXPONENT, &e, &e_size) < 0)
                return log_debug_ret(-EKEYREVOKED, "The RSA key shows no public key");
        *ret_n = TAKE_PTR(n);
        *ret_n_size = n_size;
        *ret_e = TAKE_PTR(e);
        *ret_e_size = e_size;
        return 0;
}

static int p11_rsa_oaep_decrypt(void *p, bool sha256, const uint8_t *in, size_t in_size, cvmseal_secret **ret) {
        CK_RSA_PKCS_OAEP_PARAMS params = {
                .hash_alg = sha256 ? CKM_SHA256 : CKM_SHA_1,
                .mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
                .source = CKZ_DATA_SPECIFIED,
        };
        CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &params, sizeof(params) };

        return decrypt(p, &mech, in, in_size, ret);
}

static int p11_uri_public(const char *uri_string, char **ret) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = NULL;
        char *s = NULL;
        int r;

        r = uri_parse(uri_string, &uri);
        if (r < 0)
                return r;
        p11_kit_uri_set_pin_value(uri, NULL);
        p11_kit_uri_set_pin_source(uri, NULL);
        /* What is stored names the key, never the code that reaches it: unlock finds the module
         * through p11-kit's registration (local configuration), not through a path on the disk. */
        p11_kit_uri_set_module_path(uri, NULL);
        if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_ANY, &s) != P11_KIT_URI_OK)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* A URI read from a LUKS2 header or a marker: it may name a key (and a registered module by name),
 * never a module by path nor a PIN or a file to read one from. */
static int p11_uri_stored_check(const char *uri_string) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = NULL;
        int r;

        r = uri_parse(uri_string, &uri);
        if (r < 0)
                return r;
        if (p11_kit_uri_get_module_path(uri))
                return log_debug_errno(-EPERM, "The stored HSM URI names a PKCS#11 module by path");
        if (p11_kit_uri_get_pin_value(uri) || p11_kit_uri_get_pin_source(uri))
                return log_debug_errno(-EPERM, "The stored HSM URI carries a PIN or a PIN source");
        return 0;
}

static int p11_uri_pin(const char *uri_string, cvmseal_secret **ret) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = NULL;
        const char *value, *source;
        int r;

        r = uri_parse(uri_string, &uri);
        if (r < 0)
                return r;

        value = p11_kit_uri_get_pin_value(uri);
        if (value) {
                *ret = cvmseal_secret_new_from(value, strlen(value));
                return *ret ? 1 : -ENOMEM;
        }
        source = p11_kit_uri_get_pin_source(uri);
        if (source) {
                /* A file, by path or file: URL: its first line is the PIN. */
                if (strncmp(source, "file:", 5) == 0)
                        source += 5;
                r = cvmseal_secret_read_file(source, HSM_PIN_MAX, true, ret);
                if (r < 0)
                        return log_debug_errno(r, "Cannot read the PKCS#11 PIN from %s", source);
                return 1;
        }
        *ret = NULL;
        return 0;
}

static int p11_keygen(const char *uri_string, const cvmseal_secret *pin, json_object **ret_info) {
        _cleanup_(p11_kit_uri_freep) P11KitUri *uri = NULL;
        _cleanup_(p11_key_freep) struct p11_key *k = NULL;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_OBJECT_CLASS class = CKO_SECRET_KEY;
        CK_ATTRIBUTE_PTR label, id;
        CK_OBJECT_HANDLE found[1];
        CK_ULONG n = 0;
        CK_RV rv;
        int r;

        r = open_session(uri_string, pin, true, &uri, &k);
        if (r < 0)
                return r;

        label = p11_kit_uri_get_attribute(uri, CKA_LABEL);
        id = p11_kit_uri_get_attribute(uri, CKA_ID);
        if (!label && !id)
                return log_debug_errno(-EINVAL, "The URI names no object (object= or id=)");
        if (uri_class(uri, &class) && class != CKO_SECRET_KEY && class != CKO_PRIVATE_KEY)
                return log_debug_errno(-EINVAL, "type= must be secret-key (AES) or private (RSA)");

        r = find_objects(k, uri, class, found, 1, &n);
        if (r < 0)
                return r;
        if (n > 0)
                return log_debug_errno(-EEXIST, "A key with that name exists already");

/* The attributes of every key cvmseal makes: a token object that never leaves the HSM in the clear,
 * named by the URI's label and id. */
#define KEY_STAYS_INSIDE \
        { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_PRIVATE, &yes, sizeof(yes) }, \
        { CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &no, sizeof(no) }
#define KEY_NAME \
        label ? *label : (CK_ATTRIBUTE) { CKA_LABEL, NULL, 0 }, id ? *id : (CK_ATTRIBUTE) { CKA_ID, NULL, 0 }

        if (class == CKO_SECRET_KEY) {
                CK_KEY_TYPE type = CKK_AES;
                CK_ULONG len = 32;
                CK_ATTRIBUTE tmpl[] = {
                        { CKA_CLASS, &class, sizeof(class) },
                        { CKA_KEY_TYPE, &type, sizeof(type) },
                        { CKA_VALUE_LEN, &len, sizeof(len) },
                        KEY_STAYS_INSIDE,
                        { CKA_ENCRYPT, &yes, sizeof(yes) },
                        { CKA_DECRYPT, &yes, sizeof(yes) },
                        { CKA_WRAP, &no, sizeof(no) },
                        { CKA_UNWRAP, &no, sizeof(no) },
                        { CKA_SIGN, &no, sizeof(no) },
                        { CKA_VERIFY, &no, sizeof(no) },
                        KEY_NAME,
                };
                CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };

                rv = k->module->C_GenerateKey(k->session, &mech, tmpl, ELEMENTSOF(tmpl), &k->key);
                if (rv != CKR_OK)
                        return p11_error(rv, "C_GenerateKey (AES-256)");
        } else {
                CK_ULONG bits = 3072;
                CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
                CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY;
                CK_OBJECT_HANDLE pub;
                CK_ATTRIBUTE pub_tmpl[] = {
                        { CKA_CLASS, &pub_class, sizeof(pub_class) },
                        { CKA_TOKEN, &yes, sizeof(yes) },
                        { CKA_MODULUS_BITS, &bits, sizeof(bits) },
                        { CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) },
                        { CKA_ENCRYPT, &yes, sizeof(yes) },
                        { CKA_VERIFY, &no, sizeof(no) },
                        { CKA_WRAP, &no, sizeof(no) },
                        KEY_NAME,
                };
                CK_ATTRIBUTE priv_tmpl[] = {
                        { CKA_CLASS, &class, sizeof(class) },
                        KEY_STAYS_INSIDE,
                        { CKA_DECRYPT, &yes, sizeof(yes) },
                        { CKA_SIGN, &no, sizeof(no) },
                        { CKA_UNWRAP, &no, sizeof(no) },
                        KEY_NAME,
                };
                CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };

                rv = k->module->C_GenerateKeyPair(k->session, &mech, pub_tmpl, ELEMENTSOF(pub_tmpl), priv_tmpl,
                                                  ELEMENTSOF(priv_tmpl), &pub, &k->key);
                if (rv != CKR_OK)
                        return p11_error(rv, "C_GenerateKeyPair (RSA-3072)");
        }
#undef KEY_STAYS_INSIDE
#undef KEY_NAME
        k->class = class;

        if (ret_info) {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();
                _cleanup_free_ char *pub_uri = NULL;

                r = p11_uri_public(uri_string, &pub_uri);
                if (r < 0)
                        return r;
                if (!o || json_object_object_add(o, "uri", json_object_new_string(pub_uri)) < 0 ||
                    json_object_object_add(o, "mechanism",
                                           json_object_new_string(hsm_mechanism_to_string(
                                                   class == CKO_SECRET_KEY ? HSM_AES_256_GCM
                                                                           : HSM_RSA_OAEP_SHA256))) < 0)
                        return -ENOMEM;
                *ret_info = TAKE_PTR(o);
        }
        return 0;
}

const struct hsm_backend hsm_pkcs11_backend = {
        .scheme = "pkcs11:",
        .open = p11_open,
        .close = p11_key_free,
        .describe = p11_describe,
        .key_check = p11_key_check,
        .gcm_encrypt = p11_gcm_encrypt,
        .gcm_decrypt = p11_gcm_decrypt,
        .rsa_public = p11_rsa_public,
        .rsa_oaep_decrypt = p11_rsa_oaep_decrypt,
        .uri_public = p11_uri_public,
        .uri_pin = p11_uri_pin,
        .uri_stored_check = p11_uri_stored_check,
        .keygen = p11_keygen,
};
