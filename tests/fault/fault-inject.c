/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault-inject.so: an LD_PRELOAD shim that makes one chosen call fail, to prove that every failure of
 * an allocation, OpenSSL, tpm2-tss or libcryptsetup call is reported, with the right exit code, and
 * that nothing is lost (libfido2 wraps malloc and OpenSSL in its fuzz builds in the same spirit).
 *
 * Each wrapper below replaces a function that libcvmseal.so or the cvmseal binary imports (nm -D
 * --undefined-only lists them); the real one is found with dlsym(RTLD_NEXT).  Only calls made from
 * libcvmseal.so or the cvmseal binary are counted and may fail: the return address of each call is
 * compared with their executable segments, so tpm2-tss calling OpenSSL, libcryptsetup calling
 * malloc, or the shell running the test are left alone.  Calls a library makes to itself never go
 * through the PLT and cannot be interposed at all.
 *
 * Environment:
 *   FAULT_FUNCTION=NAME FAULT_CALL=N   the Nth counted call of NAME (1-based) fails
 *   FAULT_SPEC=NAME:N[,NAME:N...]      several faults (one per call), e.g. to fail an undo path
 *   FAULT_LOG=FILE                     appends "NAME" for every counted call, "NAME FAULT" for a
 *                                      failed one (O_APPEND: one line per write)
 *   FAULT_TSS_RC=io|memory|0xHEX       what a failing Esys_* / TctiLdr call returns: a TCTI I/O
 *                                      error (default), TSS2_ESYS_RC_MEMORY, or that value
 *   FAULT_ERRNO=N                      what a failing crypt_* call returns (-N), instead of the
 *                                      per-function default below
 *   FAULT_OBJECTS=a,b                  the objects whose calls count, by file-name prefix
 *                                      (default "libcvmseal.so,cvmseal")
 *
 * Failure values: allocators return NULL with errno ENOMEM; OpenSSL functions their documented
 * failure value (0 or NULL; EVP_DigestVerify and X509_verify_cert -1, the "error" answer, which a
 * check written as `!ok` would take for success); tpm2-tss Esys_* and Tss2_TctiLdr_Initialize the
 * TCTI I/O error or TSS2_ESYS_RC_MEMORY, Tss2_MU_* TSS2_MU_RC_INSUFFICIENT_BUFFER; libcryptsetup
 * -ENOMEM (crypt_init, crypt_set_pbkdf_type) or -EIO (the others).  The real function is not
 * called when the fault fires: the TPM never sees the command, the header is not written.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc's own allocator entry points: no dlsym() (which allocates) needed for them. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

/* ---- the interposed functions, by name ---- */

#define FUNCTIONS(X)                                                                                      \
        X(malloc) X(calloc) X(realloc) X(strdup) X(strndup)                                               \
        X(EVP_DigestInit_ex) X(EVP_DigestInit_ex2) X(EVP_DigestUpdate) X(EVP_DigestFinal_ex) X(EVP_Digest) \
        X(EVP_Q_digest) X(EVP_MD_CTX_new) X(EVP_KDF_fetch) X(EVP_KDF_CTX_new) X(EVP_KDF_derive)           \
        X(EVP_PKEY_CTX_new_from_pkey) X(EVP_PKEY_CTX_new_from_name) X(EVP_PKEY_encrypt_init)               \
        X(EVP_PKEY_encrypt) X(EVP_PKEY_fromdata_init) X(EVP_PKEY_fromdata) X(EVP_PKEY_dup)                 \
        X(EVP_DigestVerifyInit_ex) X(EVP_DigestVerify) X(RAND_priv_bytes) X(EVP_EncodeBlock)               \
        X(EVP_DecodeBlock) X(OPENSSL_hexstr2buf_ex) X(BIO_new_mem_buf) X(BN_bin2bn) X(ECDSA_SIG_new)      \
        X(i2d_ECDSA_SIG) X(OSSL_PARAM_BLD_new) X(OSSL_PARAM_BLD_to_param) X(d2i_X509)                      \
        X(PEM_read_bio_X509) X(X509_STORE_new) X(X509_STORE_add_cert) X(X509_STORE_CTX_new_ex)            \
        X(X509_STORE_CTX_init) X(X509_verify_cert)                                                        \
        X(Tss2_TctiLdr_Initialize) X(Esys_Initialize) X(Esys_TR_FromTPMPublic) X(Esys_TR_GetName)         \
        X(Esys_TR_SetAuth) X(Esys_TR_Close) X(Esys_TRSess_SetAttributes) X(Esys_ReadPublic)               \
        X(Esys_CreatePrimary) X(Esys_EvictControl) X(Esys_Create) X(Esys_Load) X(Esys_StartAuthSession)   \
        X(Esys_PolicyPCR) X(Esys_PolicyAuthValue) X(Esys_Unseal) X(Esys_FlushContext) X(Esys_PCR_Read)    \
        X(Esys_NV_ReadPublic) X(Esys_NV_Read) X(Esys_NV_Write) X(Esys_Quote)                               \
        X(Tss2_MU_TPM2B_PUBLIC_Marshal) X(Tss2_MU_TPM2B_PUBLIC_Unmarshal) X(Tss2_MU_TPM2B_PRIVATE_Marshal) \
        X(Tss2_MU_TPM2B_PRIVATE_Unmarshal) X(Tss2_MU_TPML_PCR_SELECTION_Marshal)                          \
        X(Tss2_MU_TPMS_ATTEST_Unmarshal) X(Tss2_MU_TPMT_SIGNATURE_Marshal) X(Tss2_MU_TPMT_SIGNATURE_Unmarshal) \
        X(crypt_init) X(crypt_load) X(crypt_set_pbkdf_type) X(crypt_keyslot_add_by_volume_key)            \
        X(crypt_token_json_set) X(crypt_volume_key_get) X(crypt_activate_by_passphrase)                   \
        X(crypt_keyslot_destroy) X(crypt_reencrypt_init_by_passphrase)

enum {
#define X(f) FN_##f,
        FUNCTIONS(X)
#undef X
        FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define X(f) [FN_##f] = #f,
        FUNCTIONS(X)
#undef X
};

/* ---- configuration, read once by the constructor ---- */

#define MAX_FAULTS 8
#define MAX_RANGES 16

static struct {
        bool ready;
        int log_fd;
        unsigned n_faults;
        struct { int fn; unsigned long call; } faults[MAX_FAULTS];
        unsigned n_ranges;
        struct { uintptr_t start, end; } ranges[MAX_RANGES];
        TSS2_RC tss_rc;
        int crypt_errno;
        unsigned long calls[FN_COUNT];
} cfg = { .log_fd = -1 };

static const char *object_prefixes = "libcvmseal.so,cvmseal";

static bool name_matches(const char *path) {
        const char *base = strrchr(path, '/'), *p = object_prefixes;

        base = base ? base + 1 : path;
        if (!*base)
                return false;
        while (*p) {
                size_t n = strcspn(p, ",");

                if (n > 0 && strncmp(base, p, n) == 0)
                        return true;
                p += n;
                if (*p == ',')
                        p++;
        }
        return false;
}

static int add_ranges(struct dl_phdr_info *info, size_t size, void *data) {
        char exe[4096];
        const char *path = info->dlpi_name;

        (void) size;
        (void) data;
        if (!path || !*path) {
                /* The main program: its name from /proc. */
                ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

                if (n <= 0)
                        return 0;
                exe[n] = 0;
                path = exe;
        }
        if (!name_matches(path))
                return 0;
        for (unsigned i = 0; i < info->dlpi_phnum && cfg.n_ranges < MAX_RANGES; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

                if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
                        continue;
                cfg.ranges[cfg.n_ranges].start = info->dlpi_addr + ph->p_vaddr;
                cfg.ranges[cfg.n_ranges].end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
                cfg.n_ranges++;
        }
        return 0;
}

static int fn_by_name(const char *name, size_t n) {
        for (int i = 0; i < FN_COUNT; i++)
                if (strlen(fn_names[i]) == n && strncmp(fn_names[i], name, n) == 0)
                        return i;
        return -1;
}

static void add_fault(const char *name, size_t n, unsigned long call) {
        int fn = fn_by_name(name, n);

        if (fn < 0 || call == 0 || cfg.n_faults >= MAX_FAULTS) {
                static const char msg[] = "fault-inject: ignoring an unknown function or a call number of 0\n";
                (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
                return;
        }
        cfg.faults[cfg.n_faults].fn = fn;
        cfg.faults[cfg.n_faults].call = call;
        cfg.n_faults++;
}

__attribute__((constructor)) static void fault_init(void) {
        const char *e;

        e = getenv("FAULT_OBJECTS");
        if (e && *e)
                object_prefixes = e;
        e = getenv("FAULT_LOG");
        if (e && *e)
                cfg.log_fd = open(e, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

        e = getenv("FAULT_FUNCTION");
        if (e && *e) {
                const char *c = getenv("FAULT_CALL");
                add_fault(e, strlen(e), c ? strtoul(c, NULL, 10) : 1);
        }
        e = getenv("FAULT_SPEC");
        while (e && *e) {
                size_t n = strcspn(e, ",");
                const char *colon = memchr(e, ':', n);

                if (colon)
                        add_fault(e, (size_t) (colon - e), strtoul(colon + 1, NULL, 10));
                e += n;
                if (*e == ',')
                        e++;
        }

        cfg.tss_rc = TSS2_TCTI_RC_IO_ERROR;
        e = getenv("FAULT_TSS_RC");
        if (e && strcmp(e, "memory") == 0)
                cfg.tss_rc = TSS2_ESYS_RC_MEMORY;
        else if (e && strncmp(e, "0x", 2) == 0)
                cfg.tss_rc = (TSS2_RC) strtoul(e, NULL, 16);
        e = getenv("FAULT_ERRNO");
        cfg.crypt_errno = e && *e ? atoi(e) : 0;

        dl_iterate_phdr(add_ranges, NULL);
        __atomic_store_n(&cfg.ready, true, __ATOMIC_RELEASE);
}

static bool from_project(const void *ra) {
        uintptr_t a = (uintptr_t) ra;

        for (unsigned i = 0; i < cfg.n_ranges; i++)
                if (a >= cfg.ranges[i].start && a < cfg.ranges[i].end)
                        return true;
        return false;
}

static void log_call(int fn, bool fault) {
        char line[128];
        size_t n = strlen(fn_names[fn]);

        if (cfg.log_fd < 0 || n + 8 > sizeof(line))
                return;
        memcpy(line, fn_names[fn], n);
        if (fault) {
                memcpy(line + n, " FAULT", 6);
                n += 6;
        }
        line[n++] = '\n';
        (void) !write(cfg.log_fd, line, n);
}

/* Counts a call of fn made from ra; true when this call must fail. */
static bool fault_hit(int fn, const void *ra) {
        unsigned long n;
        bool fault = false;

        if (!__atomic_load_n(&cfg.ready, __ATOMIC_ACQUIRE) || !from_project(ra))
                return false;
        n = __atomic_add_fetch(&cfg.calls[fn], 1, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < cfg.n_faults; i++)
                if (cfg.faults[i].fn == fn && cfg.faults[i].call == n)
                        fault = true;
        log_call(fn, fault);
        return fault;
}

static void *real_fn(int fn) {
        static void *cache[FN_COUNT];
        void *p = __atomic_load_n(&cache[fn], __ATOMIC_ACQUIRE);

        if (!p) {
                p = dlsym(RTLD_NEXT, fn_names[fn]);
                if (!p) {
                        static const char msg[] = "fault-inject: dlsym(RTLD_NEXT) found no real function\n";
                        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
                        abort();
                }
                __atomic_store_n(&cache[fn], p, __ATOMIC_RELEASE);
        }
        return p;
}

#define CALLER __builtin_return_address(0)
#define REAL(f) ((__typeof__(&f)) real_fn(FN_##f))

/* ---- allocators ---- */

EXPORT void *malloc(size_t size) {
        if (fault_hit(FN_malloc, CALLER)) {
                errno = ENOMEM;
                return NULL;
        }
        return __libc_malloc(size);
}

EXPORT void *calloc(size_t n, size_t size) {
        if (fault_hit(FN_calloc, CALLER)) {
                errno = ENOMEM;
                return NULL;
        }
        return __libc_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t size) {
        if (fault_hit(FN_realloc, CALLER)) {
                errno = ENOMEM;
                return NULL;
        }
        return __libc_realloc(p, size);
}

EXPORT char *strdup(const char *s) {
        size_t n;
        char *d;

        if (fault_hit(FN_strdup, CALLER)) {
                errno = ENOMEM;
                return NULL;
        }
        n = strlen(s) + 1;
        d = __libc_malloc(n);
        if (d)
                memcpy(d, s, n);
        return d;
}

EXPORT char *strndup(const char *s, size_t max) {
        size_t n;
        char *d;

        if (fault_hit(FN_strndup, CALLER)) {
                errno = ENOMEM;
                return NULL;
        }
        n = strnlen(s, max);
        d = __libc_malloc(n + 1);
        if (d) {
                memcpy(d, s, n);
                d[n] = 0;
        }
        return d;
}

/* ---- the others: WRAP(return type, name, failure value, (parameters), (arguments)) ---- */

#define WRAP(type, f, failure, params, args)                        \
        EXPORT type f params {                                      \
                if (fault_hit(FN_##f, CALLER))                      \
                        return (failure);                           \
                return REAL(f) args;                                \
        }

/* OpenSSL */
WRAP(int, EVP_DigestInit_ex, 0, (EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl), (ctx, type, impl))
WRAP(int, EVP_DigestInit_ex2, 0, (EVP_MD_CTX *ctx, const EVP_MD *type, const OSSL_PARAM params[]), (ctx, type, params))
WRAP(int, EVP_DigestUpdate, 0, (EVP_MD_CTX *ctx, const void *d, size_t cnt), (ctx, d, cnt))
WRAP(int, EVP_DigestFinal_ex, 0, (EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s), (ctx, md, s))
WRAP(int, EVP_Digest, 0,
     (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, ENGINE *impl),
     (data, count, md, size, type, impl))
WRAP(int, EVP_Q_digest, 0,
     (OSSL_LIB_CTX *libctx, const char *name, const char *propq, const void *data, size_t datalen, unsigned char *md,
      size_t *mdlen),
     (libctx, name, propq, data, datalen, md, mdlen))
WRAP(EVP_MD_CTX *, EVP_MD_CTX_new, NULL, (void), ())
WRAP(EVP_KDF *, EVP_KDF_fetch, NULL, (OSSL_LIB_CTX *libctx, const char *algorithm, const char *properties),
     (libctx, algorithm, properties))
WRAP(EVP_KDF_CTX *, EVP_KDF_CTX_new, NULL, (EVP_KDF *kdf), (kdf))
WRAP(int, EVP_KDF_derive, 0, (EVP_KDF_CTX *ctx, unsigned char *key, size_t keylen, const OSSL_PARAM params[]),
     (ctx, key, keylen, params))
WRAP(EVP_PKEY_CTX *, EVP_PKEY_CTX_new_from_pkey, NULL, (OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, const char *propquery),
     (libctx, pkey, propquery))
WRAP(EVP_PKEY_CTX *, EVP_PKEY_CTX_new_from_name, NULL, (OSSL_LIB_CTX *libctx, const char *name, const char *propquery),
     (libctx, name, propquery))
WRAP(int, EVP_PKEY_encrypt_init, 0, (EVP_PKEY_CTX *ctx), (ctx))
WRAP(int, EVP_PKEY_encrypt, 0,
     (EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen),
     (ctx, out, outlen, in, inlen))
WRAP(int, EVP_PKEY_fromdata_init, 0, (EVP_PKEY_CTX *ctx), (ctx))
WRAP(int, EVP_PKEY_fromdata, 0, (EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey, int selection, OSSL_PARAM params[]),
     (ctx, ppkey, selection, params))
WRAP(EVP_PKEY *, EVP_PKEY_dup, NULL, (EVP_PKEY *key), (key))
WRAP(int, EVP_DigestVerifyInit_ex, 0,
     (EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const char *mdname, OSSL_LIB_CTX *libctx, const char *props,
      EVP_PKEY *pkey, const OSSL_PARAM params[]),
     (ctx, pctx, mdname, libctx, props, pkey, params))
WRAP(int, EVP_DigestVerify, -1,
     (EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen, const unsigned char *tbs, size_t tbslen),
     (ctx, sigret, siglen, tbs, tbslen))
WRAP(int, RAND_priv_bytes, 0, (unsigned char *buf, int num), (buf, num))
WRAP(int, EVP_DecodeBlock, -1, (unsigned char *t, const unsigned char *f, int n), (t, f, n))
WRAP(int, OPENSSL_hexstr2buf_ex, 0,
     (unsigned char *buf, size_t buf_n, size_t *buflen, const char *str, const char sep),
     (buf, buf_n, buflen, str, sep))
WRAP(BIO *, BIO_new_mem_buf, NULL, (const void *buf, int len), (buf, len))
WRAP(BIGNUM *, BN_bin2bn, NULL, (const unsigned char *s, int len, BIGNUM *ret), (s, len, ret))
WRAP(ECDSA_SIG *, ECDSA_SIG_new, NULL, (void), ())
WRAP(int, i2d_ECDSA_SIG, -1, (const ECDSA_SIG *sig, unsigned char **pp), (sig, pp))
WRAP(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_new, NULL, (void), ())
WRAP(OSSL_PARAM *, OSSL_PARAM_BLD_to_param, NULL, (OSSL_PARAM_BLD *bld), (bld))
WRAP(X509 *, d2i_X509, NULL, (X509 **a, const unsigned char **in, long len), (a, in, len))
WRAP(X509 *, PEM_read_bio_X509, NULL, (BIO *bp, X509 **x, pem_password_cb *cb, void *u), (bp, x, cb, u))
WRAP(X509_STORE *, X509_STORE_new, NULL, (void), ())
WRAP(int, X509_STORE_add_cert, 0, (X509_STORE *xs, X509 *x), (xs, x))
WRAP(X509_STORE_CTX *, X509_STORE_CTX_new_ex, NULL, (OSSL_LIB_CTX *libctx, const char *propq), (libctx, propq))
WRAP(int, X509_STORE_CTX_init, 0, (X509_STORE_CTX *ctx, X509_STORE *trust_store, X509 *target, STACK_OF(X509) *untrusted),
     (ctx, trust_store, target, untrusted))
WRAP(int, X509_verify_cert, -1, (X509_STORE_CTX *ctx), (ctx))

/* EVP_EncodeBlock cannot fail in OpenSSL 3.0; its "failure" is the empty encoding (what it gives for
 * no input), so that a caller that ignores the length gets a string, never uninitialised memory. */
EXPORT int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n) {
        if (fault_hit(FN_EVP_EncodeBlock, CALLER)) {
                t[0] = 0;
                return 0;
        }
        return REAL(EVP_EncodeBlock)(t, f, n);
}

/* tpm2-tss */
#define TSS_FAIL cfg.tss_rc
#define MU_FAIL TSS2_MU_RC_INSUFFICIENT_BUFFER

WRAP(TSS2_RC, Tss2_TctiLdr_Initialize, cfg.tss_rc == TSS2_ESYS_RC_MEMORY ? TSS2_TCTI_RC_MEMORY : cfg.tss_rc,
     (const char *nameConf, TSS2_TCTI_CONTEXT **context), (nameConf, context))
WRAP(TSS2_RC, Esys_Initialize, TSS_FAIL, (ESYS_CONTEXT **esys_context, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abiVersion),
     (esys_context, tcti, abiVersion))
WRAP(TSS2_RC, Esys_TR_FromTPMPublic, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, TPM2_HANDLE tpm_handle, ESYS_TR optionalSession1, ESYS_TR optionalSession2,
      ESYS_TR optionalSession3, ESYS_TR *object),
     (esysContext, tpm_handle, optionalSession1, optionalSession2, optionalSession3, object))
WRAP(TSS2_RC, Esys_TR_GetName, TSS_FAIL, (ESYS_CONTEXT *esysContext, ESYS_TR handle, TPM2B_NAME **name),
     (esysContext, handle, name))
WRAP(TSS2_RC, Esys_TR_SetAuth, TSS_FAIL, (ESYS_CONTEXT *esysContext, ESYS_TR handle, TPM2B_AUTH const *authValue),
     (esysContext, handle, authValue))
WRAP(TSS2_RC, Esys_TR_Close, TSS_FAIL, (ESYS_CONTEXT *esysContext, ESYS_TR *rsrc_handle), (esysContext, rsrc_handle))
WRAP(TSS2_RC, Esys_TRSess_SetAttributes, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR session, TPMA_SESSION flags, TPMA_SESSION mask),
     (esysContext, session, flags, mask))
WRAP(TSS2_RC, Esys_ReadPublic, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR objectHandle, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      TPM2B_PUBLIC **outPublic, TPM2B_NAME **name, TPM2B_NAME **qualifiedName),
     (esysContext, objectHandle, shandle1, shandle2, shandle3, outPublic, name, qualifiedName))
WRAP(TSS2_RC, Esys_CreatePrimary, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR primaryHandle, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPM2B_SENSITIVE_CREATE *inSensitive, const TPM2B_PUBLIC *inPublic, const TPM2B_DATA *outsideInfo,
      const TPML_PCR_SELECTION *creationPCR, ESYS_TR *objectHandle, TPM2B_PUBLIC **outPublic,
      TPM2B_CREATION_DATA **creationData, TPM2B_DIGEST **creationHash, TPMT_TK_CREATION **creationTicket),
     (esysContext, primaryHandle, shandle1, shandle2, shandle3, inSensitive, inPublic, outsideInfo, creationPCR,
      objectHandle, outPublic, creationData, creationHash, creationTicket))
WRAP(TSS2_RC, Esys_EvictControl, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR auth, ESYS_TR objectHandle, ESYS_TR shandle1, ESYS_TR shandle2,
      ESYS_TR shandle3, TPMI_DH_PERSISTENT persistentHandle, ESYS_TR *newObjectHandle),
     (esysContext, auth, objectHandle, shandle1, shandle2, shandle3, persistentHandle, newObjectHandle))
WRAP(TSS2_RC, Esys_Create, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR parentHandle, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPM2B_SENSITIVE_CREATE *inSensitive, const TPM2B_PUBLIC *inPublic, const TPM2B_DATA *outsideInfo,
      const TPML_PCR_SELECTION *creationPCR, TPM2B_PRIVATE **outPrivate, TPM2B_PUBLIC **outPublic,
      TPM2B_CREATION_DATA **creationData, TPM2B_DIGEST **creationHash, TPMT_TK_CREATION **creationTicket),
     (esysContext, parentHandle, shandle1, shandle2, shandle3, inSensitive, inPublic, outsideInfo, creationPCR,
      outPrivate, outPublic, creationData, creationHash, creationTicket))
WRAP(TSS2_RC, Esys_Load, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR parentHandle, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPM2B_PRIVATE *inPrivate, const TPM2B_PUBLIC *inPublic, ESYS_TR *objectHandle),
     (esysContext, parentHandle, shandle1, shandle2, shandle3, inPrivate, inPublic, objectHandle))
WRAP(TSS2_RC, Esys_StartAuthSession, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR tpmKey, ESYS_TR bind, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPM2B_NONCE *nonceCaller, TPM2_SE sessionType, const TPMT_SYM_DEF *symmetric, TPMI_ALG_HASH authHash,
      ESYS_TR *sessionHandle),
     (esysContext, tpmKey, bind, shandle1, shandle2, shandle3, nonceCaller, sessionType, symmetric, authHash,
      sessionHandle))
WRAP(TSS2_RC, Esys_PolicyPCR, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR policySession, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPM2B_DIGEST *pcrDigest, const TPML_PCR_SELECTION *pcrs),
     (esysContext, policySession, shandle1, shandle2, shandle3, pcrDigest, pcrs))
WRAP(TSS2_RC, Esys_PolicyAuthValue, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR policySession, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3),
     (esysContext, policySession, shandle1, shandle2, shandle3))
WRAP(TSS2_RC, Esys_Unseal, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR itemHandle, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      TPM2B_SENSITIVE_DATA **outData),
     (esysContext, itemHandle, shandle1, shandle2, shandle3, outData))
WRAP(TSS2_RC, Esys_FlushContext, TSS_FAIL, (ESYS_CONTEXT *esysContext, ESYS_TR flushHandle), (esysContext, flushHandle))
WRAP(TSS2_RC, Esys_PCR_Read, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPML_PCR_SELECTION *pcrSelectionIn, UINT32 *pcrUpdateCounter, TPML_PCR_SELECTION **pcrSelectionOut,
      TPML_DIGEST **pcrValues),
     (esysContext, shandle1, shandle2, shandle3, pcrSelectionIn, pcrUpdateCounter, pcrSelectionOut, pcrValues))
WRAP(TSS2_RC, Esys_NV_ReadPublic, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR nvIndex, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      TPM2B_NV_PUBLIC **nvPublic, TPM2B_NAME **nvName),
     (esysContext, nvIndex, shandle1, shandle2, shandle3, nvPublic, nvName))
WRAP(TSS2_RC, Esys_NV_Read, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR authHandle, ESYS_TR nvIndex, ESYS_TR shandle1, ESYS_TR shandle2,
      ESYS_TR shandle3, UINT16 size, UINT16 offset, TPM2B_MAX_NV_BUFFER **data),
     (esysContext, authHandle, nvIndex, shandle1, shandle2, shandle3, size, offset, data))
WRAP(TSS2_RC, Esys_NV_Write, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR authHandle, ESYS_TR nvIndex, ESYS_TR shandle1, ESYS_TR shandle2,
      ESYS_TR shandle3, const TPM2B_MAX_NV_BUFFER *data, UINT16 offset),
     (esysContext, authHandle, nvIndex, shandle1, shandle2, shandle3, data, offset))
WRAP(TSS2_RC, Esys_Quote, TSS_FAIL,
     (ESYS_CONTEXT *esysContext, ESYS_TR signHandle, ESYS_TR shandle1, ESYS_TR shandle2, ESYS_TR shandle3,
      const TPM2B_DATA *qualifyingData, const TPMT_SIG_SCHEME *inScheme, const TPML_PCR_SELECTION *PCRselect,
      TPM2B_ATTEST **quoted, TPMT_SIGNATURE **signature),
     (esysContext, signHandle, shandle1, shandle2, shandle3, qualifyingData, inScheme, PCRselect, quoted, signature))

#define WRAP_MU(T)                                                                                        \
        WRAP(TSS2_RC, Tss2_MU_##T##_Marshal, MU_FAIL,                                                     \
             (T const *src, uint8_t buffer[], size_t buffer_size, size_t *offset),                         \
             (src, buffer, buffer_size, offset))
#define WRAP_UNMU(T)                                                                                      \
        WRAP(TSS2_RC, Tss2_MU_##T##_Unmarshal, MU_FAIL,                                                   \
             (uint8_t const buffer[], size_t buffer_size, size_t *offset, T *dest),                        \
             (buffer, buffer_size, offset, dest))
WRAP_MU(TPM2B_PUBLIC)
WRAP_UNMU(TPM2B_PUBLIC)
WRAP_MU(TPM2B_PRIVATE)
WRAP_UNMU(TPM2B_PRIVATE)
WRAP_MU(TPML_PCR_SELECTION)
WRAP_UNMU(TPMS_ATTEST)
WRAP_MU(TPMT_SIGNATURE)
WRAP_UNMU(TPMT_SIGNATURE)

/* libcryptsetup */
#define CRYPT_FAIL(e) (-(cfg.crypt_errno > 0 ? cfg.crypt_errno : (e)))

WRAP(int, crypt_init, CRYPT_FAIL(ENOMEM), (struct crypt_device **cd, const char *device), (cd, device))
WRAP(int, crypt_load, CRYPT_FAIL(EIO), (struct crypt_device *cd, const char *requested_type, void *params),
     (cd, requested_type, params))
WRAP(int, crypt_set_pbkdf_type, CRYPT_FAIL(ENOMEM), (struct crypt_device *cd, const struct crypt_pbkdf_type *pbkdf),
     (cd, pbkdf))
WRAP(int, crypt_keyslot_add_by_volume_key, CRYPT_FAIL(EIO),
     (struct crypt_device *cd, int keyslot, const char *volume_key, size_t volume_key_size, const char *passphrase,
      size_t passphrase_size),
     (cd, keyslot, volume_key, volume_key_size, passphrase, passphrase_size))
WRAP(int, crypt_token_json_set, CRYPT_FAIL(EIO), (struct crypt_device *cd, int token, const char *json), (cd, token, json))
WRAP(int, crypt_volume_key_get, CRYPT_FAIL(EIO),
     (struct crypt_device *cd, int keyslot, char *volume_key, size_t *volume_key_size, const char *passphrase,
      size_t passphrase_size),
     (cd, keyslot, volume_key, volume_key_size, passphrase, passphrase_size))
WRAP(int, crypt_activate_by_passphrase, CRYPT_FAIL(EIO),
     (struct crypt_device *cd, const char *name, int keyslot, const char *passphrase, size_t passphrase_size,
      uint32_t flags),
     (cd, name, keyslot, passphrase, passphrase_size, flags))
WRAP(int, crypt_keyslot_destroy, CRYPT_FAIL(EIO), (struct crypt_device *cd, int keyslot), (cd, keyslot))
WRAP(int, crypt_reencrypt_init_by_passphrase, CRYPT_FAIL(EIO),
     (struct crypt_device *cd, const char *name, const char *passphrase, size_t passphrase_size, int keyslot_old,
      int keyslot_new, const char *cipher, const char *cipher_mode, const struct crypt_params_reencrypt *params),
     (cd, name, passphrase, passphrase_size, keyslot_old, keyslot_new, cipher, cipher_mode, params))
