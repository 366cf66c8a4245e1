/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Collecting evidence on the machine being attested (DESIGN, "Evidence sources").
 *
 *   Azure vTPM   the HCL report in NV 0x01400001, read in chunks of at most 1024 bytes, after the
 *                nonce was written to the user-data index 0x01400002 so that the paravisor makes a
 *                fresh report; the AK at 0x81000003 quotes the sha256 PCRs with the nonce
 *   other vTPMs  the same quote when the platform persisted an AK at 0x81000003; none otherwise: a
 *                key created here would be vouched for by nothing, and the unlock path creates no
 *                object on the TPM
 *   configfs-tsm /sys/kernel/config/tsm/report: inblob = the nonce (zero-padded to 64 bytes),
 *                outblob = the SNP report or TDX quote, auxblob = the SNP certificate table;
 *                "generation" is read before and after, and must not have moved
 *   event log    /sys/kernel/security/tpm0/binary_bios_measurements
 *   certificates a cache directory of PEM files (the VCEK, ASK, ARK that a pipeline fetched)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "encoding.h"
#include "evidence.h"
#include "kdf.h"
#include "log.h"
#include "macro.h"
#include "tpm2.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

#define TSM_DEFAULT_DIR "/sys/kernel/config/tsm/report"
#define EVENT_LOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"
#define COLLECT_FILE_MAX (4U << 20)

/* Reads a whole file (util/fileio.c); -ENOENT when it is not there. */
static int read_all(const char *path, struct blob *ret) {
        return cvmseal_read_file(path, COLLECT_FILE_MAX, &ret->data, &ret->size);
}

static int write_all(const char *path, const void *p, size_t n) {
        int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (write(fd, p, n) != (ssize_t) n)
                r = errno > 0 ? -errno : -EIO;
        close(fd);
        return r;
}

static int read_u64(const char *path, unsigned long long *ret) {
        struct blob b = {};
        char s[32];
        int r;

        r = read_all(path, &b);
        if (r < 0)
                return r;
        /* sscanf() reads a bounded copy: a file of 32 bytes or more is no generation number. */
        r = b.size > 0 && b.size < sizeof(s) ? 0 : -EBADMSG;
        if (r >= 0) {
                memcpy(s, b.data, b.size);
                s[b.size] = 0;
                r = sscanf(s, "%llu", ret) == 1 ? 0 : -EBADMSG;
        }
        free(b.data);
        return r;
}

static int push_der(STACK_OF(X509) **certs, const uint8_t *der, size_t size) {
        const uint8_t *p = der;
        X509 *x = d2i_X509(NULL, &p, (long) size);

        if (!x)
                return log_debug_errno(-EBADMSG, "A certificate in the SNP certificate table is not DER");
        if (!*certs)
                *certs = sk_X509_new_null();
        if (!*certs || sk_X509_push(*certs, x) <= 0) {
                X509_free(x);
                return -ENOMEM;
        }
        return 0;
}

/* The SNP extended-report certificate table: {GUID, offset u32, length u32}..., a zero GUID last. */
static int snp_cert_table(const struct blob *aux, STACK_OF(X509) **certs) {
        static const uint8_t zero[16] = {};

        for (size_t off = 0; off + 24 <= aux->size; off += 24) {
                const uint8_t *e = aux->data + off;
                uint32_t o = (uint32_t) e[16] | (uint32_t) e[17] << 8 | (uint32_t) e[18] << 16 | (uint32_t) e[19] << 24;
                uint32_t l = (uint32_t) e[20] | (uint32_t) e[21] << 8 | (uint32_t) e[22] << 16 | (uint32_t) e[23] << 24;
                int r;

                if (memcmp(e, zero, 16) == 0)
                        return 0;
                if (o > aux->size || l > aux->size - o)
                        return log_debug_errno(-EBADMSG, "The SNP certificate table points outside the auxblob");
                r = push_der(certs, aux->data + o, l);
                if (r < 0)
                        return r;
        }
        return log_debug_errno(-EBADMSG, "The SNP certificate table has no terminating entry");
}

static int collect_tsm(const char *base, const uint8_t *nonce, size_t nonce_size, struct evidence *e) {
        char dir[PATH_MAX], path[PATH_MAX + 32];
        unsigned long long gen_before, gen_after;
        uint8_t inblob[64] = {};
        struct blob provider = {}, out = {}, aux = {};
        int r;

        if (access(base, F_OK) < 0)
                return 0;
        snprintf(dir, sizeof(dir), "%s/cvmseal-%d", base, (int) getpid());
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return log_debug_errno(-errno, "Cannot create %s", dir);

        memcpy(inblob, nonce, nonce_size);
        snprintf(path, sizeof(path), "%s/inblob", dir);
        r = write_all(path, inblob, sizeof(inblob));
        if (r < 0)
                goto finish;
        snprintf(path, sizeof(path), "%s/generation", dir);
        r = read_u64(path, &gen_before);
        if (r < 0)
                goto finish;

        snprintf(path, sizeof(path), "%s/provider", dir);
        r = read_all(path, &provider);
        if (r < 0)
                goto finish;
        snprintf(path, sizeof(path), "%s/outblob", dir);
        r = read_all(path, &out);
        if (r < 0)
                goto finish;
        snprintf(path, sizeof(path), "%s/auxblob", dir);
        if (read_all(path, &aux) < 0)
                aux = (struct blob) {};

        snprintf(path, sizeof(path), "%s/generation", dir);
        r = read_u64(path, &gen_after);
        if (r < 0)
                goto finish;
        if (gen_after != gen_before) {
                /* Someone else wrote inblob in between: the report may answer their nonce. */
                r = log_debug_errno(-EAGAIN, "configfs-tsm generation moved from %llu to %llu", gen_before, gen_after);
                goto finish;
        }

        if (provider.size >= 9 && memcmp(provider.data, "sev_guest", 9) == 0) {
                e->snp_report = out;
                out = (struct blob) {};
                if (aux.data) {
                        r = snp_cert_table(&aux, &e->certificates);
                        if (r < 0)
                                goto finish;
                }
        } else if (provider.size >= 9 && memcmp(provider.data, "tdx_guest", 9) == 0) {
                e->tdx_quote = out;
                out = (struct blob) {};
        } else
                log_debug("configfs-tsm provider %.*s is not one cvmseal knows", (int) provider.size,
                          (const char *) provider.data);
        r = 0;

finish:
        free(provider.data);
        free(out.data);
        free(aux.data);
        (void) rmdir(dir);
        return r;
}

static int collect_cert_cache(const char *path, STACK_OF(X509) **certs) {
        _cleanup_free_ struct dirent **names = NULL;
        int n;

        n = scandir(path, &names, NULL, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : -errno;
        for (int i = 0; i < n; i++) {
                char file[PATH_MAX];
                FILE *f;
                X509 *x;

                snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
                free(names[i]);
                if (!strstr(file, ".pem") && !strstr(file, ".crt"))
                        continue;
                f = fopen(file, "re");
                if (!f)
                        continue;
                while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
                        if (!*certs)
                                *certs = sk_X509_new_null();
                        if (!*certs || sk_X509_push(*certs, x) <= 0) {
                                X509_free(x);
                                fclose(f);
                                return -ENOMEM;
                        }
                }
                fclose(f);
        }
        return 0;
}

int attest_local_roots(STACK_OF(X509) **ret) {
        _cleanup_free_ char *dir = config_path("roots");
        _cleanup_free_ struct dirent **names = NULL;
        STACK_OF(X509) *roots = NULL;
        int n, r = 0;

        if (!dir)
                return -ENOMEM;
        n = scandir(dir, &names, NULL, alphasort);
        if (n < 0) {
                if (errno != ENOENT)
                        return log_debug_errno(-errno, "Cannot read %s", dir);
                *ret = NULL;
                return 0;
        }
        for (int i = 0; i < n; i++) {
                size_t len = strlen(names[i]->d_name), found = 0;
                char file[PATH_MAX];
                FILE *f;
                X509 *x;

                if (r < 0 || len < 5 || strcmp(names[i]->d_name + len - 4, ".pem") != 0) {
                        free(names[i]);
                        continue;
                }
                snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
                free(names[i]);
                f = fopen(file, "re");
                if (!f) {
                        r = log_debug_errno(-errno, "Cannot read the trusted root %s", file);
                        continue;
                }
                while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
                        found++;
                        if (!roots)
                                roots = sk_X509_new_null();
                        if (!roots || sk_X509_push(roots, x) <= 0) {
                                X509_free(x);
                                r = -ENOMEM;
                                break;
                        }
                }
                ERR_clear_error();
                fclose(f);
                /* Local configuration, not input: a file there that holds no certificate is a
                 * mistake to report, not to skip. */
                if (r >= 0 && found == 0)
                        r = log_debug_errno(-EINVAL, "%s holds no PEM certificate", file);
        }
        if (r < 0) {
                sk_X509_pop_free(roots, X509_free);
                return r;
        }
        if (roots)
                log_debug("%d extra trusted root(s) from %s", sk_X509_num(roots), dir);
        *ret = roots;
        return 0;
}

/* The HCL report, read to its own length: the first chunk carries its header, whose report_size says
 * how much more to read, so no NV_ReadPublic is needed (Azure's index is 2600 bytes, the report
 * shorter, zero-padded).  An index that is shorter than its header says, or whose first bytes are no
 * HCL header, is read whole (its size from NV_ReadPublic) and collected as it is: the verifier calls
 * it malformed.  -ENOENT when the index is not there. */
static int collect_hcl(tpm2_context *tpm, struct blob *ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;
        int r;

        buf = malloc(HCL_REPORT_MAX);
        if (!buf)
                return -ENOMEM;
        r = tpm2_nv_read_at(tpm, TPM2_AZURE_HCL_REPORT_INDEX, 0, TPM2_NV_CHUNK, buf);
        if (r == -ERANGE)
                goto whole;       /* shorter than one chunk */
        if (r < 0)
                return r;
        r = hcl_report_size(buf, TPM2_NV_CHUNK, &size);
        if (r < 0)
                goto whole;
        if (size > TPM2_NV_CHUNK) {
                r = tpm2_nv_read_at(tpm, TPM2_AZURE_HCL_REPORT_INDEX, TPM2_NV_CHUNK, size - TPM2_NV_CHUNK,
                                    buf + TPM2_NV_CHUNK);
                if (r == -ERANGE)
                        goto whole;
                if (r < 0)
                        return r;
        }
        log_debug("Read the %zu-byte HCL report from NV 0x%08x", size, (unsigned) TPM2_AZURE_HCL_REPORT_INDEX);
        ret->data = TAKE_PTR(buf);
        ret->size = size;
        return 0;

whole:
        log_debug("NV 0x%08x does not hold the HCL report its header announces: reading the index whole",
                  (unsigned) TPM2_AZURE_HCL_REPORT_INDEX);
        return tpm2_nv_read(tpm, TPM2_AZURE_HCL_REPORT_INDEX, &ret->data, &ret->size);
}

static int collect_tpm(tpm2_context *tpm, const uint8_t *nonce, size_t nonce_size, bool quote, uint32_t mask,
                       struct evidence *e) {
        uint8_t values[24][32], user_data[64] = {};
        _cleanup_(json_object_putp) json_object *pcrs = NULL;
        bool want_ak_public = true;
        int r;

        /* Azure: a fresh HCL report that carries the nonce in its runtime claims. */
        memcpy(user_data, nonce, nonce_size);
        r = tpm2_nv_write(tpm, TPM2_AZURE_USER_DATA_INDEX, user_data, sizeof(user_data));
        if (r < 0 && r != -ENOENT)
                return log_debug_errno(r, "Cannot write the nonce to NV 0x%08x", (unsigned) TPM2_AZURE_USER_DATA_INDEX);
        r = collect_hcl(tpm, &e->hcl_report);
        if (r < 0 && r != -ENOENT)
                return log_debug_errno(r, "Cannot read the HCL report from NV 0x%08x", (unsigned) TPM2_AZURE_HCL_REPORT_INDEX);

        if (!quote)
                return 0;

        /* ak-public only when no HCLAkPub names the key (DESIGN lets it be absent then): the
         * verifier trusts HCLAkPub, not what the TPM channel says the AK is. */
        if (e->hcl_report.data) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
                struct hcl_report h;

                if (hcl_report_parse(e->hcl_report.data, e->hcl_report.size, &h) >= 0 && hcl_report_ak(&h, &ak) >= 0 &&
                    ak)
                        want_ak_public = false;
        }

        r = tpm2_quote(tpm, TPM2_AZURE_AK_HANDLE, nonce, nonce_size, mask, &e->quote_message.data,
                       &e->quote_message.size, &e->quote_signature.data, &e->quote_signature.size,
                       want_ak_public ? &e->quote_ak.data : NULL, want_ak_public ? &e->quote_ak.size : NULL,
                       values);
        if (r == -ENOENT) {
                log_debug("No AK at 0x%08x: the evidence has no TPM quote", (unsigned) TPM2_AZURE_AK_HANDLE);
                return 0;
        }
        if (r < 0)
                return log_debug_errno(r, "Cannot quote the PCRs");
        e->has_quote = true;
        if (mask == 0)
                return 0;   /* a quote of no PCR: no values to carry */

        pcrs = json_object_new_object();
        if (!pcrs)
                return -ENOMEM;
        for (unsigned i = 0, k = 0; i < 24; i++) {
                _cleanup_free_ char *hex = NULL;
                char key[4];

                if (!(mask & (UINT32_C(1) << i)))
                        continue;
                hex = hex_encode(values[k++], 32);
                snprintf(key, sizeof(key), "%u", i);
                if (!hex || json_object_object_add(pcrs, key, json_object_new_string(hex)) < 0)
                        return -ENOMEM;
        }
        e->pcrs_sha256 = TAKE_PTR(pcrs);
        return 0;
}

int attest_collect(const struct attest_collect_params *p, struct evidence *ret) {
        _cleanup_(evidence_done) struct evidence e = { .version = 1 };
        const char *tsm = p->tsm_dir ?: TSM_DEFAULT_DIR, *log = p->event_log ?: EVENT_LOG_DEFAULT;
        int r;

        if (!p->nonce || p->nonce_size == 0 || p->nonce_size > 64)
                return -EINVAL;
        e.nonce.data = malloc(p->nonce_size);
        if (!e.nonce.data)
                return -ENOMEM;
        memcpy(e.nonce.data, p->nonce, p->nonce_size);
        e.nonce.size = p->nonce_size;

        /* The event log first: the PCRs it extends may be the ones to quote. */
        if (*log) {
                r = read_all(log, &e.event_log);
                if (r < 0 && r != -ENOENT && r != -EACCES)
                        return log_debug_errno(r, "Cannot read the event log %s", log);
        }
        if (p->tpm) {
                uint32_t mask = p->quote == ATTEST_QUOTE_ALL ? UINT32_C(0xFFFFFF) : p->quote_mask;

                if (p->quote == ATTEST_QUOTE_MASK && p->quote_log_pcrs && e.event_log.data) {
                        struct eventlog replayed;

                        /* A log that does not replay adds nothing: the verifier says it is malformed. */
                        if (eventlog_replay(e.event_log.data, e.event_log.size, &replayed) >= 0)
                                mask |= replayed.extended & UINT32_C(0xFFFFFF);
                }
                r = collect_tpm(p->tpm, p->nonce, p->nonce_size, p->quote != ATTEST_QUOTE_NONE, mask, &e);
                if (r < 0)
                        return r;
        }
        if (*tsm) {
                r = collect_tsm(tsm, p->nonce, p->nonce_size, &e);
                if (r < 0)
                        return r;
        }
        if (p->cert_cache) {
                r = collect_cert_cache(p->cert_cache, &e.certificates);
                if (r < 0)
                        return log_debug_errno(r, "Cannot read the certificate cache %s", p->cert_cache);
        }

        *ret = e;
        memset(&e, 0, sizeof(e));
        return 0;
}

_public_ int cvmseal_attest_collect(const char *tcti, const uint8_t *nonce, size_t nonce_size, json_object **ret_evidence) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_(evidence_done) struct evidence e = {};
        uint8_t fresh[32];
        int r;

        if (!nonce) {
                /* A fresh nonce, as the attestation gate makes its own. */
                r = kdf_random(fresh, sizeof(fresh));
                if (r < 0)
                        return r;
                nonce = fresh;
                nonce_size = sizeof(fresh);
        }

        r = tpm2_context_new(tcti, &tpm);
        if (r < 0)
                log_debug("No TPM: collecting without the vTPM's evidence");
        r = attest_collect(&(struct attest_collect_params) {
                                   .tpm = tpm,
                                   .nonce = nonce,
                                   .nonce_size = nonce_size,
                                   .tsm_dir = secure_getenv("CVMSEAL_TSM_DIR"),
                                   .event_log = secure_getenv("CVMSEAL_EVENT_LOG"),
                                   .cert_cache = secure_getenv("CVMSEAL_CERT_CACHE") ?: "/etc/cvmseal/certs",
                           },
                           &e);
        if (r < 0)
                return r;
        return evidence_to_json(&e, ret_evidence);
}
