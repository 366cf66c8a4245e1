/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenSSL 3 provider backend: an HSM that speaks no PKCS#11 but ships a provider.  Azure's
 * integrated HSM (azihsm_provider: RSA keys decrypt OAEP-SHA256; keys are "masked" blobs that only
 * that HSM can load, named by azihsm://PATH;type=rsa), Debian's tpm2-openssl (keys inside a TPM,
 * ECDH), pkcs11-provider.  docs/hsm.md maps every step.
 *
 *   - The provider is loaded by NAME, in a private OSSL_LIB_CTX: OpenSSL looks for a bare name in
 *     its modules directory.  Which names may be loaded is local configuration (cvmseal.conf,
 *     "hsm-provider = NAME [PROPERTY-QUERY]"), never the disk: a name with a '/' is a path and is
 *     refused everywhere, and a name the configuration does not list is not loaded.
 *   - The property query that configuration gives is set as the context's default properties BEFORE
 *     the provider is loaded (AziHSM routes its operations that way), and passed to OSSL_STORE and
 *     to every operation on the key.
 *   - The key is opened with OSSL_STORE_open_ex.  A binding that keeps its key blob in the token
 *     names it by {key-blob} in its URI: the blob goes to a private file (a memfd, reached as
 *     /proc/self/fd/N; else a 0600 file created O_EXCL under /run/cvmseal) for the time of the load,
 *     and is wiped and removed right after.
 *   - Only the public half is read out (as a SubjectPublicKeyInfo): hsm.c encrypts to it in
 *     software; the provider decrypts (RSA-OAEP-SHA256) or computes an ECDH secret.
 *
 * Errors: -ENOKEY when the provider cannot be loaded or the key cannot be opened, -ENOTUNIQ when
 * the URI gives several keys, -EKEYREVOKED when the provider refuses an operation, -EPERM when the
 * configuration does not allow the provider, -EINVAL when the name is no bare name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "config.h"
#include "hsm-backend.h"
#include "hsm-provider.h"
#include "json-util.h"
#include "kdf.h"
#include "log.h"
#include "macro.h"
#include "secret.h"

#define CONFIG_KEY_PROVIDER "hsm-provider"

/* The software half of every operation (public-key parsing, the peer of an ECDH) stays with
 * OpenSSL's own implementation, whatever the default properties route to the HSM. */
#define PROPQ_SOFTWARE "provider=default"
#define HSM_ECDH_SECRET_MAX 66U   /* the x coordinate of P-521, the largest curve OpenSSL knows */

struct prov_key {
        OSSL_LIB_CTX *libctx;
        OSSL_PROVIDER *software, *provider;
        char *name;
        char *propq;         /* the configured property query, else "?provider=NAME" */
        EVP_PKEY *pkey;      /* the key, held by the provider */
};

/* The first OpenSSL error of the queue, for a debug message; the queue is cleared. */
static const char *ossl_reason(char *buf, size_t size) {
        unsigned long e = ERR_peek_error();

        if (e == 0)
                snprintf(buf, size, "no OpenSSL error");
        else
                ERR_error_string_n(e, buf, size);
        ERR_clear_error();
        return buf;
}

#define log_ossl_errno(r, fmt, ...)                                                                    \
        ({                                                                                             \
                char _buf_[256];                                                                       \
                log_debug_errno(r, fmt ": %s", ##__VA_ARGS__, ossl_reason(_buf_, sizeof(_buf_)));      \
        })

/* ---- configuration ---- */

bool hsm_provider_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n > HSM_PROVIDER_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.'))
                        return false;
        }
        return true;
}

struct allowed {
        const char *name;
        bool found;
        char *properties;
};

/* One "hsm-provider = NAME [PROPERTY-QUERY]" line; the last line for a name counts. */
static int allowed_line(const char *value, void *userdata) {
        struct allowed *a = userdata;
        size_t n = strcspn(value, " \t");
        const char *q = value + n;

        while (*q == ' ' || *q == '\t')
                q++;
        {
                _cleanup_free_ char *name = strndup(value, n);

                if (!name)
                        return -ENOMEM;
                if (!hsm_provider_name_valid(name))
                        return log_debug_errno(-EBADMSG, "%s: \"%s = %s\" does not name a provider by a bare name",
                                               CONFIG_FILE, CONFIG_KEY_PROVIDER, value);
                if (!streq_ptr(name, a->name))
                        return 0;
        }
        free(a->properties);
        a->properties = NULL;
        if (*q) {
                a->properties = strdup(q);
                if (!a->properties)
                        return -ENOMEM;
        }
        a->found = true;
        return 0;
}

int hsm_provider_allowed(const char *name, char **ret_properties) {
        struct allowed a = { .name = name };
        int r;

        if (!hsm_provider_name_valid(name))
                return log_debug_errno(-EINVAL, "'%s' is not a bare OpenSSL provider name%s", name ?: "(null)",
                                       name && strchr(name, '/') ? " (a path is never loaded)" : "");
        r = config_foreach(CONFIG_KEY_PROVIDER, allowed_line, &a);
        if (r < 0) {
                free(a.properties);
                return r;
        }
        if (!a.found)
                return log_debug_errno(-EPERM, "%s/%s allows no OpenSSL provider '%s' (\"%s = %s\")", config_dir(),
                                       CONFIG_FILE, name, CONFIG_KEY_PROVIDER, name);
        if (ret_properties)
                *ret_properties = a.properties;
        else
                free(a.properties);
        return 0;
}

_public_ int cvmseal_hsm_provider_check(const char *name) {
        return hsm_provider_allowed(name, NULL);
}

/* ---- the private file of a key blob ---- */

void hsm_blob_file_done(struct blob_file *f) {
        if (f->map) {
                secure_wipe(f->map, f->size);
                (void) munlock(f->map, f->size);
                (void) munmap(f->map, f->size);
                f->map = NULL;
        }
        if (f->fd >= 0) {
                /* What the file held is gone before its name is: the pages are freed, not kept. */
                (void) !ftruncate(f->fd, 0);
                if (f->named)
                        (void) unlink(f->path);
                close(f->fd);
                f->fd = -1;
        }
}

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return w < 0 ? -errno : -EIO;
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

/* A memfd reachable as /proc/self/fd/N by code that opens a path (the provider).  With lock, its
 * content lives in a locked shared mapping (for a secret), else it is written plainly. */
static int blob_memfd(const uint8_t *data, size_t size, bool lock, struct blob_file *f) {
        int fd, probe;

        fd = memfd_create("cvmseal-hsm", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        f->fd = fd;
        /* Only this process reaches it (through its own /proc/self/fd); its mode says so too. */
        (void) fchmod(fd, 0600);
        snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", fd);
        /* /proc may be missing (an early initramfs), or hidden: then the path is useless. */
        probe = open(f->path, O_RDONLY | O_CLOEXEC);
        if (probe < 0) {
                hsm_blob_file_done(f);
                return log_debug_errno(-ENOENT, "%s cannot be opened: no memfd for the key blob", "/proc/self/fd");
        }
        close(probe);

        if (size == 0)
                return 0;
        if (lock) {
                if (ftruncate(fd, (off_t) size) < 0)
                        return -errno;
                f->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (f->map == MAP_FAILED) {
                        f->map = NULL;
                        return -errno;
                }
                f->size = size;
                (void) mlock(f->map, size);
                memcpy(f->map, data, size);
                return 0;
        }
        return write_all(fd, data, size);
}

/* A file of mode 0600 created O_EXCL in dir (made 0700 when missing). */
static int blob_named(const char *dir, const uint8_t *data, size_t size, struct blob_file *f) {
        uint8_t rnd[8];
        struct stat st;
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return log_debug_errno(-errno, "Cannot make %s", dir);
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 0022))
                return log_debug_errno(-EPERM, "%s is not a directory that only its owner can write", dir);
        r = kdf_random(rnd, sizeof(rnd));
        if (r < 0)
                return r;
        if ((size_t) snprintf(f->path, sizeof(f->path), "%s/hsm-key.%02x%02x%02x%02x%02x%02x%02x%02x", dir, rnd[0],
                              rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]) >= sizeof(f->path))
                return -ENAMETOOLONG;
        f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (f->fd < 0)
                return log_debug_errno(-errno, "Cannot create %s", f->path);
        f->named = true;
        return write_all(f->fd, data, size);
}

int hsm_blob_file(const uint8_t *data, size_t size, bool lock, const char *dir, bool memfd, struct blob_file *ret) {
        struct blob_file f = BLOB_FILE_NULL;
        int r = -ENOENT;

        if (memfd) {
                r = blob_memfd(data, size, lock, &f);
                if (r >= 0) {
                        *ret = f;
                        return 0;
                }
                hsm_blob_file_done(&f);
                f = (struct blob_file) BLOB_FILE_NULL;
                if (r != -ENOENT)
                        return r;
        }
        r = blob_named(dir ?: HSM_RUN_DIR, data, size, &f);
        if (r < 0) {
                hsm_blob_file_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

/* uri with its one {key-blob} replaced by path. */
static int uri_with_path(const char *uri, const char *path, char **ret) {
        const char *p = strstr(uri, HSM_KEY_BLOB_PLACEHOLDER);
        char *s = NULL;

        if (!p || strstr(p + 1, HSM_KEY_BLOB_PLACEHOLDER))
                return -EINVAL;
        if (asprintf(&s, "%.*s%s%s", (int) (p - uri), uri, path, p + strlen(HSM_KEY_BLOB_PLACEHOLDER)) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- the provider and the key ---- */

static void prov_key_free(void *p) {
        struct prov_key *k = p;

        if (!k)
                return;
        EVP_PKEY_free(k->pkey);
        if (k->provider)
                (void) OSSL_PROVIDER_unload(k->provider);
        if (k->software)
                (void) OSSL_PROVIDER_unload(k->software);
        OSSL_LIB_CTX_free(k->libctx);
        free(k->name);
        free(k->propq);
        free(k);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct prov_key *, prov_key_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_STORE_CTX *, OSSL_STORE_close);

/* A private library context with the software provider and the named one, loaded after the property
 * query is set (AziHSM's provider routes its operations by it). */
static int prov_context(const char *name, struct prov_key **ret) {
        _cleanup_(prov_key_freep) struct prov_key *k = calloc(1, sizeof(*k));
        int r;

        if (!k)
                return -ENOMEM;
        r = hsm_provider_allowed(name, &k->propq);
        if (r == -EPERM)
                /* -EPERM means a TPM policy refusal in the library's table: a caller naming a provider
                 * that the configuration does not allow gave an invalid argument. */
                return -EINVAL;
        if (r < 0)
                return r;
        /* Without a configured query, operations prefer the provider by its name (tpm2-openssl calls
         * itself "tpm2"): without one, OpenSSL would take the key management and the operation of
         * the default provider and try to export the key to it. */
        if (!k->propq && asprintf(&k->propq, "?provider=%s", name) < 0) {
                k->propq = NULL;
                return -ENOMEM;
        }
        k->name = strdup(name);
        k->libctx = OSSL_LIB_CTX_new();
        if (!k->name || !k->libctx)
                return -ENOMEM;
        if (EVP_set_default_properties(k->libctx, k->propq) != 1)
                return log_ossl_errno(-ENOKEY, "The property query '%s' for '%s' is not valid", k->propq, name);
        k->software = OSSL_PROVIDER_load(k->libctx, "default");
        if (!k->software)
                return log_ossl_errno(-ENOKEY, "Cannot load OpenSSL's default provider");
        if (!streq_ptr(name, "default")) {
                k->provider = OSSL_PROVIDER_load(k->libctx, name);
                if (!k->provider)
                        return log_ossl_errno(-ENOKEY, "Cannot load the OpenSSL provider '%s' (from %s)", name,
                                              getenv("OPENSSL_MODULES") ?: "OpenSSL's modules directory");
        }
        *ret = TAKE_PTR(k);
        return 0;
}

static int store_load(struct prov_key *k, const char *uri) {
        _cleanup_(OSSL_STORE_closep) OSSL_STORE_CTX *store = NULL;
        EVP_PKEY *pkey = NULL;
        unsigned n = 0;

        store = OSSL_STORE_open_ex(uri, k->libctx, k->propq, NULL, NULL, NULL, NULL, NULL);
        if (!store)
                return log_ossl_errno(-ENOKEY, "The OpenSSL provider '%s' cannot open the key", k->name);
        (void) OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY);
        while (!OSSL_STORE_eof(store)) {
                OSSL_STORE_INFO *info = OSSL_STORE_load(store);

                if (!info) {
                        if (OSSL_STORE_error(store))
                                break;
                        continue;
                }
                if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) {
                        n++;
                        if (!pkey)
                                pkey = OSSL_STORE_INFO_get1_PKEY(info);
                }
                OSSL_STORE_INFO_free(info);
        }
        if (n > 1) {
                EVP_PKEY_free(pkey);
                return log_debug_errno(-ENOTUNIQ, "The store URI gives %u keys", n);
        }
        if (!pkey)
                return log_ossl_errno(-ENOKEY, "The OpenSSL provider '%s' gives no key for the URI", k->name);
        ERR_clear_error();
        k->pkey = pkey;
        return 0;
}

int hsm_provider_open(const char *provider, const char *uri, const uint8_t *blob, size_t blob_size, void **ret) {
        _cleanup_(prov_key_freep) struct prov_key *k = NULL;
        struct blob_file f = BLOB_FILE_NULL;
        _cleanup_free_ char *resolved = NULL;
        bool placeholder;
        int r;

        if (!uri || !*uri || strlen(uri) > HSM_URI_MAX)
                return -EINVAL;
        placeholder = strstr(uri, HSM_KEY_BLOB_PLACEHOLDER) != NULL;
        if (placeholder != (blob != NULL))
                return log_debug_errno(-EINVAL, "The URI %s %s but %s key blob is given", uri,
                                       placeholder ? "names " HSM_KEY_BLOB_PLACEHOLDER : "names no key blob",
                                       blob ? "a" : "no");

        r = prov_context(provider, &k);
        if (r < 0)
                return r;

        if (blob) {
                r = hsm_blob_file(blob, blob_size, false, NULL, true, &f);
                if (r < 0)
                        return log_debug_errno(r, "Cannot make a private file for the key blob");
                r = uri_with_path(uri, f.path, &resolved);
                if (r < 0) {
                        hsm_blob_file_done(&f);
                        return r;
                }
                log_debug("The key blob (%zu bytes) is at %s for the load", blob_size, f.path);
        }
        r = store_load(k, resolved ?: uri);
        hsm_blob_file_done(&f);
        if (r < 0)
                return r;

        log_debug("Opened the key through the OpenSSL provider '%s'%s%s", provider, k->propq ? " with " : "",
                  k->propq ?: "");
        *ret = TAKE_PTR(k);
        return 0;
}

/* ---- what hsm.c asks of a key ---- */

DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_ENCODER_CTX *, OSSL_ENCODER_CTX_free);

/* The public half as DER: i2d_PUBKEY, which uses the provider's SubjectPublicKeyInfo encoder or an
 * export of the public key; else the provider's own DER encoder of the public key (AziHSM's RSA
 * encoder writes the SPKI it gets from the HSM under structure "type-specific"). */
static int prov_public_spki(void *p, uint8_t **ret, size_t *ret_size) {
        static const char *const structures[] = { "SubjectPublicKeyInfo", "type-specific", NULL };
        struct prov_key *k = p;
        uint8_t *der = NULL;
        int n;

        n = i2d_PUBKEY(k->pkey, &der);
        if (n > 0) {
                *ret = der;
                *ret_size = (size_t) n;
                return 0;
        }
        ERR_clear_error();

        for (size_t i = 0; i < ELEMENTSOF(structures); i++) {
                _cleanup_(OSSL_ENCODER_CTX_freep) OSSL_ENCODER_CTX *ectx = NULL;
                size_t size = 0;

                ectx = OSSL_ENCODER_CTX_new_for_pkey(k->pkey, EVP_PKEY_PUBLIC_KEY, "DER", structures[i], k->propq);
                if (!ectx || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0)
                        continue;
                der = NULL;
                if (OSSL_ENCODER_to_data(ectx, &der, &size) == 1 && size > 0) {
                        const uint8_t *q = der;
                        EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, (long) size);

                        if (pub) {
                                EVP_PKEY_free(pub);
                                *ret = der;
                                *ret_size = size;
                                ERR_clear_error();
                                return 0;
                        }
                }
                OPENSSL_free(der);
                der = NULL;
        }
        return log_ossl_errno(-EKEYEXPIRED, "The OpenSSL provider '%s' gives no public key", k->name);
}

/* Whether the provider hands out the private half: a key file of OpenSSL's default provider does,
 * an HSM's key does not. */
static bool private_exportable(EVP_PKEY *pkey) {
        OSSL_PARAM *params = NULL;
        bool found = false;

        if (EVP_PKEY_todata(pkey, EVP_PKEY_KEYPAIR, &params) == 1 && params) {
                found = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY) ||
                        OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_D);
                for (OSSL_PARAM *q = params; q->key; q++)
                        if (q->data)
                                OPENSSL_cleanse(q->data, q->data_size);
                OSSL_PARAM_free(params);
        }
        ERR_clear_error();
        return found;
}

static int prov_describe(void *p, enum hsm_mechanism *ret_mechanism, bool *ret_sensitive, bool *ret_extractable) {
        struct prov_key *k = p;

        if (EVP_PKEY_is_a(k->pkey, "RSA"))
                *ret_mechanism = HSM_RSA_OAEP_SHA256;
        else if (EVP_PKEY_is_a(k->pkey, "EC"))
                *ret_mechanism = HSM_ECDH_P256; /* the curve is checked from the public half (hsm.c) */
        else
                return log_debug_ret(-EKEYEXPIRED, "The key of '%s' is neither RSA nor EC", k->name);
        /* A provider has no "sensitive but extractable": the private half is either handed out or not. */
        *ret_sensitive = true;
        *ret_extractable = private_exportable(k->pkey);
        return 0;
}

static int prov_key_check(void *p, uint8_t *buf, size_t *size) {
        /* hsm.c takes the check of a provider key from its public half (public_spki). */
        *size = 0;
        return 0;
}

static int prov_rsa_public(void *p, uint8_t **ret_n, size_t *ret_n_size, uint8_t **ret_e, size_t *ret_e_size) {
        return -EOPNOTSUPP; /* hsm.c encrypts to the public half it gets from public_spki */
}

static int prov_rsa_oaep_decrypt(void *p, bool sha256, const uint8_t *in, size_t in_size, cvmseal_secret **ret) {
        struct prov_key *k = p;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_secret_ cvmseal_secret *out = NULL;
        char pad[16] = "", md[16] = "", mgf1[16] = "";
        OSSL_PARAM params[4], got[4];
        size_t n = 0;

        if (!sha256)
                return -EOPNOTSUPP; /* never OAEP-SHA1 through a provider (AziHSM refuses it anyway) */

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, (char *) OSSL_PKEY_RSA_PAD_MODE_OAEP, 0);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *) "SHA256", 0);
        params[2] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *) "SHA256", 0);
        params[3] = OSSL_PARAM_construct_end();
        ctx = EVP_PKEY_CTX_new_from_pkey(k->libctx, k->pkey, k->propq);
        if (!ctx)
                return log_ossl_errno(-EKEYREVOKED, "No RSA decryption for the key of '%s'", k->name);
        if (EVP_PKEY_decrypt_init_ex(ctx, params) != 1)
                return log_ossl_errno(-EOPNOTSUPP, "The OpenSSL provider '%s' does not decrypt RSA-OAEP-SHA256", k->name);

        /* A provider that takes the parameters but pads otherwise (tpm2-openssl 1.1 knows PKCS#1 v1.5
         * only) must not be used: what it reports back has to be OAEP with SHA-256 throughout. */
        got[0] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, pad, sizeof(pad));
        got[1] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, md, sizeof(md));
        got[2] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, mgf1, sizeof(mgf1));
        got[3] = OSSL_PARAM_construct_end();
        if (EVP_PKEY_CTX_get_params(ctx, got) != 1 || strcasecmp(pad, OSSL_PKEY_RSA_PAD_MODE_OAEP) != 0 ||
            (strcasecmp(md, "SHA256") != 0 && strcasecmp(md, "SHA2-256") != 0) ||
            (strcasecmp(mgf1, "SHA256") != 0 && strcasecmp(mgf1, "SHA2-256") != 0)) {
                ERR_clear_error();
                return log_debug_errno(-EOPNOTSUPP, "The OpenSSL provider '%s' does not confirm RSA-OAEP with SHA-256 "
                                       "(padding '%s', digest '%s', MGF1 '%s')", k->name, pad, md, mgf1);
        }

        if (EVP_PKEY_decrypt(ctx, NULL, &n, in, in_size) != 1 || n == 0 || n > HSM_CIPHERTEXT_MAX)
                return log_ossl_errno(-EKEYREVOKED, "The OpenSSL provider '%s' refuses to decrypt", k->name);
        out = cvmseal_secret_new(n);
        if (!out)
                return -ENOMEM;
        if (EVP_PKEY_decrypt(ctx, cvmseal_secret_data_mut(out), &n, in, in_size) != 1)
                return log_ossl_errno(-EKEYREVOKED, "The OpenSSL provider '%s' refuses the ciphertext", k->name);
        cvmseal_secret_truncate(out, n);
        *ret = TAKE_PTR(out);
        return 0;
}

static int prov_ecdh(void *p, const uint8_t *peer, size_t peer_size, cvmseal_secret **ret) {
        struct prov_key *k = p;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *from = NULL, *ctx = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *peer_key = NULL;
        _cleanup_secret_ cvmseal_secret *z = NULL;
        char group[64];
        OSSL_PARAM params[3];
        size_t n = 0;

        if (EVP_PKEY_get_group_name(k->pkey, group, sizeof(group), NULL) != 1)
                return log_ossl_errno(-EKEYREVOKED, "The EC key of '%s' names no curve", k->name);

        /* The peer (the token's ephemeral point, checked by hsm.c) as a software key of this context;
         * OpenSSL hands it to the provider's key management for the derivation. */
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *) peer, peer_size);
        params[2] = OSSL_PARAM_construct_end();
        from = EVP_PKEY_CTX_new_from_name(k->libctx, "EC", PROPQ_SOFTWARE);
        if (!from || EVP_PKEY_fromdata_init(from) != 1 ||
            EVP_PKEY_fromdata(from, &peer_key, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return log_ossl_errno(-EBADMSG, "The ephemeral point is not a key of the curve %s", group);

        ctx = EVP_PKEY_CTX_new_from_pkey(k->libctx, k->pkey, k->propq);
        if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer_ex(ctx, peer_key, 0) != 1)
                return log_ossl_errno(-EKEYREVOKED, "The OpenSSL provider '%s' does not compute ECDH with its key",
                                      k->name);
        /* One derivation into a buffer big enough for any curve: asking for the size first costs
         * tpm2-openssl a second ECDH_ZGen in its TPM. */
        z = cvmseal_secret_new(HSM_ECDH_SECRET_MAX);
        if (!z)
                return -ENOMEM;
        n = HSM_ECDH_SECRET_MAX;
        if (EVP_PKEY_derive(ctx, cvmseal_secret_data_mut(z), &n) != 1 || n == 0 || n > HSM_ECDH_SECRET_MAX)
                return log_ossl_errno(-EKEYREVOKED, "The OpenSSL provider '%s' refuses ECDH", k->name);
        cvmseal_secret_truncate(z, n);
        *ret = TAKE_PTR(z);
        return 0;
}

const struct hsm_backend hsm_provider_backend = {
        .scheme = NULL,
        .close = prov_key_free,
        .describe = prov_describe,
        .key_check = prov_key_check,
        .rsa_public = prov_rsa_public,
        .rsa_oaep_decrypt = prov_rsa_oaep_decrypt,
        .public_spki = prov_public_spki,
        .ecdh = prov_ecdh,
};

/* ---- keygen ---- */

/* The key's blob: the provider's encoding of its private half (tpm2-openssl: a "TSS2 PRIVATE KEY"
 * PEM, the TPM-wrapped key that only that TPM loads). */
static int encode_private(struct prov_key *k, EVP_PKEY *pkey, uint8_t **ret, size_t *ret_size) {
        _cleanup_(OSSL_ENCODER_CTX_freep) OSSL_ENCODER_CTX *ectx = NULL;
        uint8_t *data = NULL;
        size_t size = 0;

        ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", k->propq);
        if (!ectx || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0 || OSSL_ENCODER_to_data(ectx, &data, &size) != 1 ||
            size == 0)
                return log_ossl_errno(-EKEYEXPIRED, "The OpenSSL provider '%s' cannot encode its key", k->name);
        if (size > HSM_KEY_BLOB_MAX) {
                OPENSSL_clear_free(data, size);
                return log_debug_errno(-EKEYEXPIRED, "The key blob is %zu bytes, more than %u", size, HSM_KEY_BLOB_MAX);
        }
        *ret = malloc(size);
        if (!*ret) {
                OPENSSL_clear_free(data, size);
                return -ENOMEM;
        }
        memcpy(*ret, data, size);
        OPENSSL_clear_free(data, size);
        *ret_size = size;
        return 0;
}

/* An EC P-256 key generated inside the provider's device. */
static int keygen_ec(struct prov_key *k, uint8_t **ret_blob, size_t *ret_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        const OSSL_PROVIDER *owner;

        pkey = EVP_PKEY_Q_keygen(k->libctx, k->propq, "EC", "P-256");
        if (!pkey)
                return log_ossl_errno(-EKEYEXPIRED, "The OpenSSL provider '%s' does not generate an EC P-256 key",
                                      k->name);
        owner = EVP_PKEY_get0_provider(pkey);
        if (!owner || owner != k->provider)
                return log_debug_errno(-EKEYEXPIRED, "The EC key was not generated by '%s' but by '%s': set its "
                                       "property query in %s", k->name,
                                       owner ? OSSL_PROVIDER_get0_name(owner) : "?", CONFIG_FILE);
        if (private_exportable(pkey))
                return log_debug_errno(-EKEYEXPIRED, "The key that '%s' generated hands out its private half", k->name);
        return encode_private(k, pkey, ret_blob, ret_size);
}

/* AziHSM: the HSM cannot generate RSA keys (its provider asks for azihsm.input_key), and its ECDH
 * output stays masked inside the HSM, so a decryption key must be an RSA key imported once.  The
 * key is generated here, its DER lives in locked memory and in a locked memfd that the provider
 * reads by path, it is imported as keyEncipherment (decrypt only) and wiped; the provider writes
 * the masked blob to a second memfd. */
static int keygen_azihsm(struct prov_key *k, uint8_t **ret_blob, size_t *ret_size) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *gen = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *soft = NULL, *imported = NULL;
        _cleanup_secret_ cvmseal_secret *der = NULL;
        struct blob_file in = BLOB_FILE_NULL, out = BLOB_FILE_NULL;
        _cleanup_free_ uint8_t *blob = NULL;
        unsigned bits = 3072;
        OSSL_PARAM params[5];
        uint8_t *p;
        struct stat st;
        ssize_t n;
        int len, r;

        soft = EVP_PKEY_Q_keygen(k->libctx, PROPQ_SOFTWARE, "RSA", (size_t) bits);
        if (!soft)
                return log_ossl_errno(-EIO, "Cannot generate an RSA-%u key", bits);
        len = i2d_PrivateKey(soft, NULL);
        if (len <= 0)
                return log_ossl_errno(-EIO, "Cannot encode the RSA key");
        der = cvmseal_secret_new((size_t) len);
        if (!der)
                return -ENOMEM;
        p = cvmseal_secret_data_mut(der);
        if (i2d_PrivateKey(soft, &p) != len)
                return log_ossl_errno(-EIO, "Cannot encode the RSA key");
        EVP_PKEY_free(TAKE_PTR(soft)); /* its numbers are cleared as they are freed */

        r = hsm_blob_file(cvmseal_secret_data(der), cvmseal_secret_size(der), true, NULL, true, &in);
        if (r < 0)
                return log_debug_errno(r, "No private memory file for the RSA key");
        r = hsm_blob_file(NULL, 0, false, NULL, true, &out);
        if (r < 0) {
                hsm_blob_file_done(&in);
                return log_debug_errno(r, "No private memory file for the masked key");
        }

        params[0] = OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_BITS, &bits);
        params[1] = OSSL_PARAM_construct_utf8_string("azihsm.key_usage", (char *) "keyEncipherment", 0);
        params[2] = OSSL_PARAM_construct_utf8_string("azihsm.input_key", in.path, 0);
        params[3] = OSSL_PARAM_construct_utf8_string("azihsm.masked_key", out.path, 0);
        params[4] = OSSL_PARAM_construct_end();
        gen = EVP_PKEY_CTX_new_from_name(k->libctx, "RSA", k->propq);
        if (!gen || EVP_PKEY_keygen_init(gen) != 1 || EVP_PKEY_CTX_set_params(gen, params) != 1 ||
            EVP_PKEY_generate(gen, &imported) != 1)
                r = log_ossl_errno(-EKEYEXPIRED, "The OpenSSL provider '%s' does not import the RSA key", k->name);
        hsm_blob_file_done(&in); /* the RSA key's last copy outside the HSM, wiped */

        if (r >= 0 && (fstat(out.fd, &st) < 0 || st.st_size <= 0 || st.st_size > HSM_KEY_BLOB_MAX))
                r = log_debug_errno(-EKEYEXPIRED, "The provider wrote no masked key blob (or one over %u bytes)",
                                    HSM_KEY_BLOB_MAX);
        if (r >= 0) {
                blob = malloc((size_t) st.st_size);
                if (!blob)
                        r = -ENOMEM;
                else if ((n = pread(out.fd, blob, (size_t) st.st_size, 0)) != st.st_size)
                        r = log_debug_errno(n < 0 ? -errno : -EIO, "Cannot read the masked key blob back");
        }
        hsm_blob_file_done(&out);
        if (r < 0)
                return r;
        *ret_blob = TAKE_PTR(blob);
        *ret_size = (size_t) st.st_size;
        return 0;
}

int hsm_provider_keygen_blob(const char *provider, const char *uri, uint8_t **ret_blob, size_t *ret_blob_size) {
        _cleanup_(prov_key_freep) struct prov_key *k = NULL;
        int r;

        if (!uri || strlen(uri) > HSM_URI_MAX || !strstr(uri, HSM_KEY_BLOB_PLACEHOLDER))
                return log_debug_errno(-EINVAL, "hsm keygen makes a key blob: the URI must name it by %s",
                                       HSM_KEY_BLOB_PLACEHOLDER);
        r = prov_context(provider, &k);
        if (r < 0)
                return r;

        if (strncmp(uri, "azihsm://", 9) == 0) {
                if (!strstr(uri, ";type=rsa"))
                        return log_debug_errno(-EINVAL, "AziHSM's ECDH output stays masked in the HSM: an AziHSM key "
                                               "for cvmseal is an RSA key (;type=rsa)");
                return keygen_azihsm(k, ret_blob, ret_blob_size);
        }
        return keygen_ec(k, ret_blob, ret_blob_size);
}
