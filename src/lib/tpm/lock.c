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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "cvmseal.h"
#include "encoding.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "secret.h"
#include "srk-pin.h"
#include "tpm2.h"

static const struct json_doc record_doc = { "lock record", "" };

const char *lock_record_path(void) {
        const char *p = secure_getenv("CVMSEAL_LOCK_RECORD");

        return p && *p ? p : CVMSEAL_LOCK_RECORD_DEFAULT;
}

/* Reads the record: 1 and before/after when there is one, 0 when there is none, -EBADMSG when it is
 * malformed. */
static int record_read(uint8_t before[32], uint8_t after[32]) {
        static const char *const known[] = { "pcr", "bank", "before", "after", "volumes", NULL };
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

/* The directory of the lock record (for the volume notes beside it), created when missing. */
static int record_dir(char **ret) {
        _cleanup_free_ char *dir = strdup(lock_record_path());
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash)
                return -EINVAL;
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return log_debug_errno(-errno, "Cannot create %s", dir);
        *ret = TAKE_PTR(dir);
        return 0;
}

/* Writes text to path whole or not at all: a new file of an unpredictable name in the same directory
 * (O_EXCL, by mkostemp), written and synced, then renamed over path. */
static int write_atomic(const char *path, const char *text, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        size_t len = strlen(text);
        int fd, r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(-errno, "Cannot create a file beside %s", path);
        r = write(fd, text, len) == (ssize_t) len ? 0 : negative_errno();
        if (r == 0 && fchmod(fd, mode) < 0)
                r = negative_errno();
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        if (r == 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlink(tmp);
                return log_debug_errno(r, "Cannot write %s", path);
        }
        return 0;
}

/* Writes the record, whole or absent. */
static int record_write(const uint8_t before[32], const uint8_t after[32], const uint8_t *volumes) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *dir = NULL, *text = NULL;
        const char *s;
        int r;

        if (!o)
                return -ENOMEM;
        if (json_add(o, "pcr", json_object_new_int(CVMSEAL_LOCK_PCR)) < 0 ||
            json_add(o, "bank", json_object_new_string("sha256")) < 0 ||
            json_add_blob(o, "before", true, before, 32) < 0 ||
            json_add_blob(o, "after", true, after, 32) < 0 ||
            (volumes && json_add_blob(o, "volumes", true, volumes, 32) < 0))
                return -ENOMEM;
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!s || asprintf(&text, "%s\n", s) < 0)
                return -ENOMEM;
        r = record_dir(&dir);
        if (r < 0)
                return r;
        return write_atomic(lock_record_path(), text, 0644);
}

static bool uuid_valid(const char *uuid) {
        if (!uuid || strlen(uuid) != 36)
                return false;
        for (size_t i = 0; i < 36; i++)
                if (!((uuid[i] >= '0' && uuid[i] <= '9') || (uuid[i] >= 'a' && uuid[i] <= 'f') ||
                      (uuid[i] >= 'A' && uuid[i] <= 'F') || uuid[i] == '-'))
                        return false;
        return true;
}

int lock_note_volume(const char *uuid, const cvmseal_secret *passphrase) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *hex = NULL, *text = NULL;
        uint8_t msg[sizeof(LOCK_VOLUME_INFO) + 36], mac[32];
        unsigned n = 0;
        int r;

        if (!uuid_valid(uuid) || !passphrase)
                return -EINVAL;
        memcpy(msg, LOCK_VOLUME_INFO, sizeof(LOCK_VOLUME_INFO)); /* with its NUL */
        memcpy(msg + sizeof(LOCK_VOLUME_INFO), uuid, 36);
        if (!HMAC(EVP_sha256(), cvmseal_secret_data(passphrase), (int) cvmseal_secret_size(passphrase), msg, sizeof(msg),
                  mac, &n) || n != 32)
                return -EIO;
        hex = hex_encode(mac, sizeof(mac));
        if (!hex)
                return -ENOMEM;
        r = record_dir(&dir);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/volumes", dir) < 0)
                return -ENOMEM;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return log_debug_errno(-errno, "Cannot create %s", path);
        free(path);
        path = NULL;
        if (asprintf(&path, "%s/volumes/%s", dir, uuid) < 0 || asprintf(&text, "%s\n", hex) < 0)
                return -ENOMEM;
        return write_atomic(path, text, 0600);
}

static int filter_uuid(const struct dirent *d) {
        return uuid_valid(d->d_name);
}

/* SHA-256 over "UUID:HMAC\n" of every volume noted in this boot, in name order; 0 when there are
 * some, -ENOENT when none. */
static int volumes_digest(uint8_t ret[32]) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        struct dirent **names = NULL;
        int n, r = 0;

        if (!md)
                return -ENOMEM;
        dir = strdup(lock_record_path());
        if (!dir)
                return -ENOMEM;
        if (strrchr(dir, '/'))
                *strrchr(dir, '/') = '\0';
        if (asprintf(&path, "%s/volumes", *dir ? dir : "/") < 0)
                return -ENOMEM;
        n = scandir(path, &names, filter_uuid, alphasort);
        if (n <= 0) {
                free(names);
                return -ENOENT;
        }
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                r = -EIO;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *file = NULL;
                char hex[65] = {};
                int fd;

                if (r >= 0 && asprintf(&file, "%s/%s", path, names[i]->d_name) < 0)
                        r = -ENOMEM;
                if (r >= 0) {
                        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                        if (fd < 0 || read(fd, hex, 64) != 64)
                                r = log_debug_errno(-EBADMSG, "The volume note %s is unreadable", file);
                        if (fd >= 0)
                                close(fd);
                }
                if (r >= 0 && (EVP_DigestUpdate(md, names[i]->d_name, 36) != 1 || EVP_DigestUpdate(md, ":", 1) != 1 ||
                               EVP_DigestUpdate(md, hex, 64) != 1 || EVP_DigestUpdate(md, "\n", 1) != 1))
                        r = -EIO;
                free(names[i]);
        }
        free(names);
        if (r >= 0 && EVP_DigestFinal_ex(md, ret, NULL) != 1)
                r = -EIO;
        return r;
}

int lock_pcr_read(tpm2_context *c, uint32_t mask, uint8_t values[][32]) {
        ESYS_TR session = ESYS_TR_NONE;
        TPM2B_NAME pinned;
        int r;

        /* What is sealed to must be what the TPM says, not what an interposer says: the values come
         * through an audit session salted with the pinned SRK (with none pinned yet, the SRK the TPM
         * shows: the enrollment that pins it trusts the channel anyway). */
        r = srk_pin_load(&pinned);
        if (r < 0 && r != -ENOENT)
                return r;
        r = tpm2_hmac_session(c, r == -ENOENT ? NULL : &pinned, true, &session);
        if (r < 0)
                return r;
        r = tpm2_pcr_read_authenticated_mask(c, session, mask, values);
        tpm2_session_close(c, &session);
        return r;
}

int lock_seal_values(tpm2_context *c, uint32_t mask, uint8_t values[][32], uint8_t now[][32], bool *ret_locked) {
        uint8_t before[32], after[32];
        unsigned at;
        int r;

        r = lock_pcr_read(c, mask, values);
        if (r < 0)
                return r;
        if (now)
                memcpy(now, values, 32 * (size_t) __builtin_popcount(mask));
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

        r = lock_seal_values(c, CVMSEAL_LOCK_MASK, values, NULL, ret_locked);
        if (r < 0)
                return r;
        memcpy(ret, values[0], 32);
        return 0;
}

/* The lock's event: the fixed text, and the digest of the volumes this boot unlocked when any. */
static int lock_event(const uint8_t *volumes, char **ret) {
        _cleanup_free_ char *hex = NULL;

        if (!volumes)
                return (*ret = strdup(CVMSEAL_LOCK_EVENT)) ? 0 : -ENOMEM;
        hex = hex_encode(volumes, 32);
        if (!hex || asprintf(ret, "%s; volumes sha256:%s", CVMSEAL_LOCK_EVENT, hex) < 0)
                return -ENOMEM;
        return 0;
}

_public_ int cvmseal_lock(const char *tcti, json_object **ret_info) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_(json_object_putp) json_object *info = NULL;
        _cleanup_free_ char *event = NULL;
        uint8_t current[32], before[32], after[32], event_digest[32], volumes[32], check[32];
        ESYS_TR session = ESYS_TR_NONE;
        TPM2B_NAME pinned;
        bool already = false, have_volumes;
        EVP_MD_CTX *md;
        int r;

        r = tpm2_context_new(tcti, &tpm);
        if (r < 0)
                return r;

        /* Every answer the lock relies on comes through a session salted with the pinned SRK, so an
         * interposer can neither forge the extension's success nor the value read back. */
        r = srk_pin_load(&pinned);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT)
                log_debug("No SRK is pinned: the lock's session is salted with the SRK the TPM shows");
        r = tpm2_hmac_session(tpm, r == -ENOENT ? NULL : &pinned, false, &session);
        if (r < 0)
                return r;

        r = tpm2_pcr_read_authenticated(tpm, session, CVMSEAL_LOCK_PCR, current);
        if (r < 0)
                goto finish;

        r = record_read(before, after);
        if (r < 0)
                goto finish;
        if (r > 0 && memcmp(current, before, 32) != 0) {
                /* Extended since the record was written: locked. */
                already = true;
                memcpy(after, current, 32);
        } else {
                r = volumes_digest(volumes);
                if (r < 0 && r != -ENOENT)
                        goto finish;
                have_volumes = r >= 0;
                r = lock_event(have_volumes ? volumes : NULL, &event);
                if (r < 0)
                        goto finish;

                /* after = SHA-256(current || SHA-256(event)), as PCR_Event extends the sha256 bank.
                 * The record is written before the extension: a crash between the two leaves a
                 * record whose "before" is still current, and the next lock extends. */
                if (!SHA256((const uint8_t *) event, strlen(event), event_digest)) {
                        r = -ENOMEM;
                        goto finish;
                }
                memcpy(before, current, 32);
                md = EVP_MD_CTX_new();
                if (!md) {
                        r = -ENOMEM;
                        goto finish;
                }
                if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, before, 32) != 1 ||
                    EVP_DigestUpdate(md, event_digest, 32) != 1 || EVP_DigestFinal_ex(md, after, NULL) != 1) {
                        EVP_MD_CTX_free(md);
                        r = -ENOMEM;
                        goto finish;
                }
                EVP_MD_CTX_free(md);

                r = record_write(before, after, have_volumes ? volumes : NULL);
                if (r < 0)
                        goto finish;
                r = tpm2_pcr_event_authenticated(tpm, session, CVMSEAL_LOCK_PCR, event, strlen(event));
                if (r < 0)
                        goto finish;
                log_debug("Extended PCR %u: the lock is applied", CVMSEAL_LOCK_PCR);
        }

        /* Read back through the session: the lock holds only if the TPM itself says so. */
        r = tpm2_pcr_read_authenticated(tpm, session, CVMSEAL_LOCK_PCR, check);
        if (r < 0)
                goto finish;
        if (memcmp(check, after, 32) != 0) {
                r = log_debug_errno(-EIO, "PCR %u does not have the value the lock gives it", CVMSEAL_LOCK_PCR);
                goto finish;
        }

        if (ret_info) {
                info = json_object_new_object();
                if (!info ||
                    json_add(info, "pcr", json_object_new_int(CVMSEAL_LOCK_PCR)) < 0 ||
                    json_add(info, "already-locked", json_object_new_boolean(already)) < 0 ||
                    json_add_blob(info, "before", true, before, 32) < 0 ||
                    json_add_blob(info, "after", true, after, 32) < 0 ||
                    json_add(info, "verified", json_object_new_boolean(true)) < 0 ||
                    json_add(info, "record", json_object_new_string(lock_record_path())) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                *ret_info = TAKE_PTR(info);
        }
        r = 0;

finish:
        tpm2_session_close(tpm, &session);
        return r;
}
