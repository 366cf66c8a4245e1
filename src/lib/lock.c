/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lock PCR: the last step of the initramfs, and what enrollment seals the lock PCR to.
 *
 * Why PCR 15: it is in the range the OS owns (8-15), it cannot be reset at any locality (16 and 23
 * can be reset from locality 0, so they could be put back), no firmware measures into it, and it is
 * where systemd measures the "system identity" (volume keys with tpm2-measure-pcr=, machine-id,
 * file systems), which is zero until the first such measurement.  Sealing to PCR 15's value from
 * before the lock follows systemd's own pattern for "unseal only in the initrd"; the two compose: a
 * measurement by systemd-cryptsetup before cvmseal's lock is recorded in "before".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "cvmseal.h"
#include "encoding.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "tpm2.h"

static const struct json_doc record_doc = { "lock record", "" };

const char *lock_record_path(void) {
        const char *p = secure_getenv("CVMSEAL_LOCK_RECORD");

        return p && *p ? p : CVMSEAL_LOCK_RECORD_DEFAULT;
}

/* Reads the record: 1 and before/after when there is one, 0 when there is none, -EBADMSG when it is
 * malformed. */
static int record_read(uint8_t before[32], uint8_t after[32]) {
        static const char *const known[] = { "pcr", "bank", "before", "after", NULL };
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ uint8_t *b = NULL, *a = NULL;
        json_object *pcr, *bank;
        size_t bn, an;
        int r;

        o = json_object_from_file(lock_record_path());
        if (!o) {
                if (access(lock_record_path(), F_OK) < 0 && errno == ENOENT)
                        return 0;
                return log_debug_errno(-EBADMSG, "The lock record %s cannot be read as JSON", lock_record_path());
        }
        if (!json_object_is_type(o, json_type_object))
                return json_bad(&record_doc, "", "is not an object");
        r = json_only_members(&record_doc, o, known);
        if (r < 0)
                return r;
        pcr = json_member(&record_doc, o, "pcr", json_type_int);
        bank = json_member(&record_doc, o, "bank", json_type_string);
        if (!pcr || !bank)
                return -EBADMSG;
        if (json_object_get_int64(pcr) != CVMSEAL_LOCK_PCR)
                return json_bad(&record_doc, "pcr", "is not the lock PCR");
        if (!streq_ptr(json_object_get_string(bank), "sha256"))
                return json_bad(&record_doc, "bank", "is not sha256");
        r = json_get_blob(&record_doc, o, "before", JSON_BLOB_HEX, 32, 32, &b, &bn);
        if (r < 0)
                return r;
        r = json_get_blob(&record_doc, o, "after", JSON_BLOB_HEX, 32, 32, &a, &an);
        if (r < 0)
                return r;
        memcpy(before, b, 32);
        memcpy(after, a, 32);
        return 1;
}

/* Writes the record: a file in the same directory, then rename, so that it is whole or absent. */
static int record_write(const uint8_t before[32], const uint8_t after[32]) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        const char *path = lock_record_path(), *text;
        char *slash;
        size_t len;
        int fd, r;

        if (!o)
                return -ENOMEM;
        if (json_add(o, "pcr", json_object_new_int(CVMSEAL_LOCK_PCR)) < 0 ||
            json_add(o, "bank", json_object_new_string("sha256")) < 0 ||
            json_add_blob(o, "before", true, before, 32) < 0 ||
            json_add_blob(o, "after", true, after, 32) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!text)
                return -ENOMEM;

        dir = strdup(path);
        if (!dir || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return log_debug_errno(-errno, "Cannot create %s: %m", dir);
        }

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return log_debug_errno(-errno, "Cannot create %s: %m", tmp);
        len = strlen(text);
        r = write(fd, text, len) == (ssize_t) len && write(fd, "\n", 1) == 1 ? 0 : -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return log_debug_errno(r < 0 ? r : -EIO, "Cannot write the lock record %s", path);
        }
        return 0;
}

int lock_seal_values(tpm2_context *c, uint32_t mask, uint8_t values[][32], bool *ret_locked) {
        uint8_t before[32], after[32];
        unsigned at;
        int r;

        r = tpm2_pcr_read(c, mask, values);
        if (r < 0)
                return r;
        if (!(mask & CVMSEAL_LOCK_MASK)) {
                *ret_locked = false;
                return 0;
        }

        at = (unsigned) __builtin_popcount(mask & (CVMSEAL_LOCK_MASK - 1));
        r = record_read(before, after);
        if (r < 0)
                return r;
        if (r == 0) {
                *ret_locked = false;
                return 0;
        }
        *ret_locked = memcmp(values[at], before, 32) != 0;
        if (*ret_locked)
                log_debug("PCR %u is locked in this boot: sealing to its value from before the lock", CVMSEAL_LOCK_PCR);
        memcpy(values[at], before, 32);
        return 0;
}

int lock_pcr_value(tpm2_context *c, uint8_t ret[32], bool *ret_locked) {
        uint8_t values[1][32];
        int r;

        r = lock_seal_values(c, CVMSEAL_LOCK_MASK, values, ret_locked);
        if (r < 0)
                return r;
        memcpy(ret, values[0], 32);
        return 0;
}

_public_ int cvmseal_lock(const char *tcti, json_object **ret_info) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_(json_object_putp) json_object *info = NULL;
        uint8_t current[1][32], before[32], after[32], event_digest[32];
        bool already = false;
        EVP_MD_CTX *md;
        int r;

        r = tpm2_context_new(tcti, &tpm);
        if (r < 0)
                return r;
        r = tpm2_pcr_read(tpm, CVMSEAL_LOCK_MASK, current);
        if (r < 0)
                return r;

        r = record_read(before, after);
        if (r < 0)
                return r;
        if (r > 0 && memcmp(current[0], before, 32) != 0) {
                /* Extended since the record was written: locked. */
                already = true;
                memcpy(after, current[0], 32);
        } else {
                /* after = SHA-256(current || SHA-256(event)), as PCR_Event extends the sha256 bank.
                 * The record is written before the extension: a crash between the two leaves a
                 * record whose "before" is still current, and the next lock extends. */
                if (!SHA256((const uint8_t *) CVMSEAL_LOCK_EVENT, strlen(CVMSEAL_LOCK_EVENT), event_digest))
                        return -ENOMEM;
                memcpy(before, current[0], 32);
                md = EVP_MD_CTX_new();
                if (!md)
                        return -ENOMEM;
                if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, before, 32) != 1 ||
                    EVP_DigestUpdate(md, event_digest, 32) != 1 || EVP_DigestFinal_ex(md, after, NULL) != 1) {
                        EVP_MD_CTX_free(md);
                        return -ENOMEM;
                }
                EVP_MD_CTX_free(md);

                r = record_write(before, after);
                if (r < 0)
                        return r;
                r = tpm2_pcr_event(tpm, CVMSEAL_LOCK_PCR, CVMSEAL_LOCK_EVENT, strlen(CVMSEAL_LOCK_EVENT));
                if (r < 0)
                        return r;
                log_debug("Extended PCR %u: the lock is applied", CVMSEAL_LOCK_PCR);
        }

        if (ret_info) {
                info = json_object_new_object();
                if (!info)
                        return -ENOMEM;
                if (json_add(info, "pcr", json_object_new_int(CVMSEAL_LOCK_PCR)) < 0 ||
                    json_add(info, "already-locked", json_object_new_boolean(already)) < 0 ||
                    json_add_blob(info, "before", true, before, 32) < 0 ||
                    json_add_blob(info, "after", true, after, 32) < 0 ||
                    json_add(info, "record", json_object_new_string(lock_record_path())) < 0)
                        return -ENOMEM;
                *ret_info = TAKE_PTR(info);
        }
        return 0;
}
