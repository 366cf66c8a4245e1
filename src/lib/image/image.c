/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image encrypt: a raw disk image into a new LUKS2 image, entirely in user space (docs/image-pipeline.md).
 *
 * libcryptsetup writes the header (aes-xts-plain64, a 512-bit volume key generated here, 512- or
 * 4096-byte encryption sectors); the data segment is written here, encrypted with OpenSSL's
 * AES-256-XTS exactly as dm-crypt reads it:
 *
 *   - each encryption sector (sector_size bytes) is one XTS data unit;
 *   - its IV (plain64) is the little-endian 64-bit number of the sector counted in 512-byte units
 *     from the start of the data segment (LUKS2 sets no iv_large_sectors, and its iv_tweak is 0):
 *     with 4096-byte sectors the IVs are 0, 8, 16, ...
 *
 * The image is written under a temporary name beside IMG (IMG.incomplete.XXXXXX, mode 0600), fsync'ed,
 * and renamed to IMG only when complete, without replacing anything: IMG never exists half-written.
 * A failure removes the temporary file; only SIGKILL or a crash can leave it behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>
#include <openssl/evp.h>

#include "encoding.h"
#include "escrow.h"
#include "evidence.h"
#include "hsm.h"
#include "kdf.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "provision.h"
#include "secret.h"

#define IMAGE_DATA_OFFSET (16U * 1024U * 1024U)  /* LUKS2's default: room for the keyslots of a human key */
#define IMAGE_CHUNK (4U * 1024U * 1024U)
#define IMAGE_WINDOW (32U * 1024U * 1024U)         /* writeback: start one window, wait for the one before */
#define IMAGE_VOLUME_KEY_SIZE 64U                /* aes-xts-plain64 with two AES-256 keys */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER *, EVP_CIPHER_free);

static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

/* The temporary file: removed unless the image was completed. */
struct image_tmp {
        char *path;
        int fd;
};

static void image_tmp_done(struct image_tmp *t) {
        if (t->fd >= 0)
                close(t->fd);
        if (t->path) {
                (void) unlink(t->path);
                free(t->path);
        }
}

static int raw_open(const char *raw, int *ret_fd, uint64_t *ret_size) {
        int fd;
        struct stat st;
        uint64_t size;

        fd = open(raw, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_debug_errno(negative_errno(), "Cannot open %s", raw);
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();

                close(fd);
                return r;
        }
        if (S_ISREG(st.st_mode))
                size = (uint64_t) st.st_size;
        else if (S_ISBLK(st.st_mode)) {
                if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
                        int r = negative_errno();

                        close(fd);
                        return log_debug_errno(r, "Cannot get the size of %s", raw);
                }
        } else {
                close(fd);
                return log_debug_errno(-EINVAL, "%s is neither a file nor a block device", raw);
        }
        if (size == 0) {
                close(fd);
                return log_debug_errno(-ENODATA, "%s is empty", raw);
        }
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        *ret_fd = fd;
        *ret_size = size;
        return 0;
}

/* Reads up to n bytes (fewer only at the end of the file). */
static ssize_t read_full(int fd, uint8_t *buf, size_t n) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = read(fd, buf + done, n - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

static int write_full(int fd, const uint8_t *buf, size_t n, uint64_t offset) {
        while (n > 0) {
                ssize_t k = pwrite(fd, buf, n, (off_t) offset);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                buf += k;
                n -= (size_t) k;
                offset += (uint64_t) k;
        }
        return 0;
}

/* Encrypts n bytes (a multiple of sector_size) in place; first_sector counts 512-byte units. */
static int xts_encrypt(EVP_CIPHER_CTX *ctx, uint8_t *buf, size_t n, uint32_t sector_size, uint64_t first_sector) {
        uint64_t iv_sector = first_sector;

        for (size_t off = 0; off < n; off += sector_size) {
                uint8_t iv[16] = {};
                int outl;

                for (unsigned i = 0; i < 8; i++)
                        iv[i] = (uint8_t) (iv_sector >> (8 * i));
                if (EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL) != 1 ||
                    EVP_EncryptUpdate(ctx, buf + off, &outl, buf + off, (int) sector_size) != 1 ||
                    outl != (int) sector_size)
                        return log_debug_errno(-EIO, "AES-XTS encryption failed");
                iv_sector += sector_size / 512U;
        }
        return 0;
}

/* Streams RAW into the data segment of the image. */
static int stream_encrypt(int raw_fd, uint64_t raw_size, int img_fd, uint64_t data_offset, uint64_t data_size,
                          uint32_t sector_size, const cvmseal_secret *vk, const struct cvmseal_image_params *params) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = NULL;
        _cleanup_(EVP_CIPHER_freep) EVP_CIPHER *cipher = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t pos = 0, window = 0, prev = 0;
        int r;

        cipher = EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL);
        ctx = EVP_CIPHER_CTX_new();
        buf = aligned_alloc(4096, IMAGE_CHUNK);
        if (!cipher || !ctx || !buf)
                return -ENOMEM;
        if (EVP_EncryptInit_ex2(ctx, cipher, cvmseal_secret_data(vk), NULL, NULL) != 1)
                return log_debug_errno(-EIO, "Cannot set up AES-256-XTS");

        if (params->progress) {
                r = params->progress(0, data_size, params->userdata);
                if (r != 0)
                        return log_debug_errno(-ECANCELED, "Cancelled");
        }

        while (pos < data_size) {
                size_t want = (size_t) MIN((uint64_t) IMAGE_CHUNK, data_size - pos), n = 0;
                ssize_t k;

                if (pos < raw_size) {
                        k = read_full(raw_fd, buf, (size_t) MIN((uint64_t) want, raw_size - pos));
                        if (k < 0)
                                return log_debug_errno((int) k, "Cannot read the raw image");
                        n = (size_t) k;
                        if ((uint64_t) n < MIN((uint64_t) want, raw_size - pos))
                                return log_debug_errno(-EIO, "The raw image became shorter while it was read");
                }
                /* The last sector is padded with zeros. */
                memset(buf + n, 0, want - n);

                r = xts_encrypt(ctx, buf, want, sector_size, pos / 512U);
                if (r < 0)
                        return r;
                r = write_full(img_fd, buf, want, data_offset + pos);
                if (r < 0)
                        return log_debug_errno(r, "Cannot write the image");
                pos += want;

                /* Keep the disk busy while the next window is encrypted, and the dirty pages bounded: start
                 * the writeback of this window, wait for the previous one and drop it from the page cache.
                 * Errors show in the final fsync(). */
                if (pos - window >= IMAGE_WINDOW || pos == data_size) {
                        (void) sync_file_range(img_fd, (off_t) (data_offset + window), (off_t) (pos - window),
                                               SYNC_FILE_RANGE_WRITE);
                        if (window > prev) {
                                (void) sync_file_range(img_fd, (off_t) (data_offset + prev), (off_t) (window - prev),
                                                       SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                       SYNC_FILE_RANGE_WAIT_AFTER);
                                (void) posix_fadvise(img_fd, (off_t) (data_offset + prev), (off_t) (window - prev),
                                                     POSIX_FADV_DONTNEED);
                        }
                        prev = window;
                        window = pos;
                }

                if (params->progress) {
                        r = params->progress(pos, data_size, params->userdata);
                        if (r != 0)
                                return log_debug_errno(-ECANCELED, "Cancelled");
                }
        }
        return 0;
}

/* 32 random bytes as base64: the provisioning keyslot's passphrase (44 characters). */
static int provision_passphrase(cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *raw = NULL, *text = NULL;
        int r;

        r = kdf_random_secret(32, &raw);
        if (r < 0)
                return r;
        text = cvmseal_secret_new(PROVISION_PASSPHRASE_SIZE + 1);
        if (!text)
                return -ENOMEM;
        if (EVP_EncodeBlock(cvmseal_secret_data_mut(text), cvmseal_secret_data(raw), 32) != (int) PROVISION_PASSPHRASE_SIZE)
                return -EIO;
        cvmseal_secret_truncate(text, PROVISION_PASSPHRASE_SIZE);
        *ret = TAKE_PTR(text);
        return 0;
}

static int policy_check(const char *text) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_(attest_policy_done) struct attest_policy p = {};
        enum json_tokener_error e;

        j = json_tokener_parse_verbose(text, &e);
        if (!j)
                return log_debug_errno(-EBADMSG, "The attestation policy is not JSON (%s)", json_tokener_error_desc(e));
        return attest_policy_from_json(j, &p);
}

/* Writes the LUKS2 header: keyslot 0 for the unlock key, a provisioning keyslot and its marker. */
static int write_header(const char *path, uint32_t sector_size, const cvmseal_secret *vk, const cvmseal_secret *unlock_key,
                        const struct cvmseal_image_params *params, struct cvmseal_image_result *res,
                        uint64_t *ret_data_offset) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *pass = NULL, *check = NULL;
        _cleanup_(provision_marker_done) struct provision_marker marker = { .version = PROVISION_TOKEN_VERSION,
                                                                            .token_id = -1, .keyslot = -1 };
        const struct crypt_pbkdf_type fast = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = "sha256",
                .iterations = 1000,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        /* The volume key's digest needs no slow KDF (the key is 512 random bits): NO_BENCHMARK in the
         * format's PBKDF gives it the minimal iterations and saves a benchmark. */
        struct crypt_params_luks2 luks2 = { .sector_size = sector_size, .pbkdf = &fast };
        struct crypt_pbkdf_type slow;
        const struct crypt_pbkdf_type *def;
        int r, slot;

        r = crypt_init(&cd, path);
        if (r < 0)
                return log_debug_errno(r, "Cannot open %s", path);
        crypt_set_log_callback(cd, luks_log, NULL);

        r = crypt_set_data_offset(cd, IMAGE_DATA_OFFSET / 512U);
        if (r < 0)
                return log_debug_errno(r, "Cannot set the data offset");
        r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, (const char *) cvmseal_secret_data(vk),
                         IMAGE_VOLUME_KEY_SIZE, &luks2);
        if (r < 0)
                return log_debug_errno(r, "Cannot write the LUKS2 header");
        log_debug("Wrote the LUKS2 header (%s)", crypt_get_uuid(cd));

        /* Keyslot 0: the unlock key, which may be a person's passphrase: libcryptsetup's default KDF
         * (argon2id, benchmarked), unless the caller says it is a random key. */
        if (params->fast_kdf)
                r = crypt_set_pbkdf_type(cd, &fast);
        else {
                def = crypt_get_pbkdf_default(CRYPT_LUKS2);
                if (!def)
                        return -EINVAL;
                slow = *def;
                r = crypt_set_pbkdf_type(cd, &slow);
        }
        if (r < 0)
                return log_debug_errno(r, "Cannot select the KDF of keyslot 0");
        r = crypt_keyslot_add_by_volume_key(cd, 0, (const char *) cvmseal_secret_data(vk), IMAGE_VOLUME_KEY_SIZE,
                                            (const char *) cvmseal_secret_data(unlock_key), cvmseal_secret_size(unlock_key));
        if (r < 0)
                return log_debug_errno(r, "Cannot add keyslot 0");
        log_debug("Added keyslot 0 (%s)", crypt_get_pbkdf_type(cd) ? crypt_get_pbkdf_type(cd)->type : "?");

        /* The provisioning keyslot: its passphrase is derived from a random secret, kept in clear in the
         * marker, and from the marker's members, so an edited marker opens nothing (provision.h). */
        r = provision_passphrase(&marker.secret);
        if (r < 0)
                return r;
        marker.pcr_mask = params->pcr_mask;
        marker.no_rekey = params->no_rekey;
        if (params->recovery_public_key) {
                r = escrow_key_from_pem(params->recovery_public_key, &marker.recovery_key, &marker.recovery_key_size);
                if (r < 0)
                        return r;
        }
        marker.attest_policy = params->attest_policy ? strdup(params->attest_policy) : NULL;
        if (params->hsm_provider) {
                /* An OpenSSL provider's OSSL_STORE URI is stored as it is (provision_marker_add()
                 * checks it). */
                marker.hsm_provider = strdup(params->hsm_provider);
                marker.hsm_uri = params->hsm_uri ? strdup(params->hsm_uri) : NULL;
                if (!marker.hsm_provider || (params->hsm_uri && !marker.hsm_uri))
                        return -ENOMEM;
        } else if (params->hsm_uri) {
                r = hsm_uri_public(params->hsm_uri, &marker.hsm_uri);
                if (r < 0)
                        return r;
        }
        if (params->attest_policy && !marker.attest_policy)
                return -ENOMEM;
        r = provision_keyslot_passphrase(&marker, crypt_get_uuid(cd), &pass);
        if (r < 0)
                return r;
        slot = luks_keyslot_add(cd, vk, pass);
        if (slot < 0)
                return slot;
        r = provision_marker_add(cd, slot, &marker, &res->provision_token);
        if (r < 0)
                return r;
        res->provision_keyslot = slot;

        /* Proof that the header as written gives back the volume key the data is encrypted with. */
        r = luks_volume_key_from(cd, slot, pass, &check);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || cvmseal_secret_size(check) != IMAGE_VOLUME_KEY_SIZE ||
            !secret_equal(cvmseal_secret_data(check), cvmseal_secret_data(vk), IMAGE_VOLUME_KEY_SIZE))
                return log_debug_errno(-EIO, "The header as written does not give back the volume key");

        if (!crypt_get_uuid(cd) || strlen(crypt_get_uuid(cd)) >= sizeof(res->uuid))
                return -EIO;
        strcpy(res->uuid, crypt_get_uuid(cd));
        res->keyslot = 0;
        *ret_data_offset = crypt_get_data_offset(cd) * 512U;
        return 0;
}

/* IMG.incomplete.XXXXXX, beside IMG. */
static int tmp_create(const char *img, struct image_tmp *ret) {
        _cleanup_free_ char *path = NULL;
        int fd;

        if (asprintf(&path, "%s.incomplete.XXXXXX", img) < 0)
                return -ENOMEM;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(negative_errno(), "Cannot create %s", path);
        ret->fd = fd;
        ret->path = TAKE_PTR(path);
        return 0;
}

/* The complete image takes its name, without replacing anything that appeared there meanwhile. */
static int tmp_commit(struct image_tmp *t, const char *img) {
        _cleanup_free_ char *dir_copy = strdup(img);
        int dfd;

        if (!dir_copy)
                return -ENOMEM;
        if (renameat2(AT_FDCWD, t->path, AT_FDCWD, img, RENAME_NOREPLACE) < 0) {
                if (errno == EEXIST)
                        return log_debug_errno(-EEXIST, "%s appeared meanwhile", img);
                if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
                        return log_debug_errno(negative_errno(), "Cannot rename %s to %s", t->path, img);
                /* A file system without RENAME_NOREPLACE: link() refuses to replace too. */
                if (link(t->path, img) < 0)
                        return log_debug_errno(negative_errno(), "Cannot link %s to %s", t->path, img);
                (void) unlink(t->path);
        }
        free(t->path);
        t->path = NULL;

        /* The new name is durable too. */
        dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void) fsync(dfd);
                close(dfd);
        }
        return 0;
}

_public_ int cvmseal_image_encrypt(const char *raw, const char *img, const cvmseal_secret *unlock_key,
                                   const struct cvmseal_image_params *params, struct cvmseal_image_result *ret) {
        static const struct cvmseal_image_params no_params = {};
        _cleanup_(image_tmp_done) struct image_tmp tmp = { .fd = -1 };
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        _cleanup_(closep) int raw_fd = -1;
        struct cvmseal_image_result res = { .keyslot = -1, .provision_keyslot = -1, .provision_token = -1 };
        uint64_t raw_size, data_size, data_offset = 0;
        uint32_t sector_size;
        struct stat st;
        int r;

        if (!raw || !img || !unlock_key || !ret)
                return -EINVAL;
        if (!params)
                params = &no_params;
        if (params->sector_size != 0 && params->sector_size != 512 && params->sector_size != 4096)
                return log_debug_errno(-EINVAL, "The sector size is neither 512 nor 4096");
        if (params->pcr_mask >= (UINT32_C(1) << CVMSEAL_PCR_MAX))
                return log_debug_errno(-EINVAL, "PCRs out of range");
        if (cvmseal_secret_size(unlock_key) == 0)
                return log_debug_errno(-EINVAL, "The unlock key is empty");
        if (params->fast_kdf && cvmseal_secret_size(unlock_key) < 32)
                return log_debug_errno(-EINVAL, "A fast KDF needs a random unlock key of 32 bytes or more");

        /* Everything that can be refused is refused before a byte is written. */
        if (params->attest_policy) {
                r = policy_check(params->attest_policy);
                if (r < 0)
                        return r;
        }
        if (params->hsm_provider) {
                /* The first boot's provider: a bare name; that machine's configuration must allow it. */
                if (!params->hsm_uri || !hsm_provider_name_valid(params->hsm_provider) ||
                    strstr(params->hsm_uri, HSM_KEY_BLOB_PLACEHOLDER))
                        return log_debug_errno(-EINVAL, "An OpenSSL provider's bare name and a URI without {key-blob}");
        } else if (params->hsm_uri) {
                _cleanup_free_ char *pub = NULL;

                r = hsm_uri_public(params->hsm_uri, &pub);
                if (r < 0)
                        return log_debug_errno(r, "Not an HSM URI");
        }

        if (params->recovery_public_key) {
                _cleanup_free_ uint8_t *der = NULL;
                size_t der_size;

                r = escrow_key_from_pem(params->recovery_public_key, &der, &der_size);
                if (r < 0)
                        return r;
        }

        r = raw_open(raw, &raw_fd, &raw_size);
        if (r < 0)
                return r;

        if (lstat(img, &st) == 0)
                return log_debug_errno(-EEXIST, "%s exists already", img);
        if (errno != ENOENT)
                return log_debug_errno(negative_errno(), "Cannot access %s", img);

        sector_size = params->sector_size ?: (raw_size % 4096 == 0 ? 4096 : 512);
        data_size = (raw_size + sector_size - 1) / sector_size * sector_size;
        res.sector_size = sector_size;
        res.size = data_size;

        r = tmp_create(img, &tmp);
        if (r < 0)
                return r;
        /* The whole size first: libcryptsetup checks that it is a multiple of the sector size. */
        if (ftruncate(tmp.fd, (off_t) (IMAGE_DATA_OFFSET + data_size)) < 0)
                return log_debug_errno(negative_errno(), "Cannot size %s", tmp.path);

        r = kdf_random_secret(IMAGE_VOLUME_KEY_SIZE, &vk);
        if (r < 0)
                return r;

        r = write_header(tmp.path, sector_size, vk, unlock_key, params, &res, &data_offset);
        if (r < 0)
                return r;
        if (data_offset != IMAGE_DATA_OFFSET)
                return log_debug_errno(-EIO, "libcryptsetup put the data segment at %" PRIu64 ", not %u", data_offset,
                                       IMAGE_DATA_OFFSET);

        log_debug("Encrypting %" PRIu64 " bytes in %" PRIu32 "-byte sectors at offset %" PRIu64, data_size, sector_size,
                  data_offset);
        r = stream_encrypt(raw_fd, raw_size, tmp.fd, data_offset, data_size, sector_size, vk, params);
        if (r < 0)
                return r;

        if (fsync(tmp.fd) < 0)
                return log_debug_errno(negative_errno(), "Cannot write %s to disk", tmp.path);
        r = tmp_commit(&tmp, img);
        if (r < 0)
                return r;

        log_debug("Wrote %s: LUKS2 %s, keyslot 0, provisioning keyslot %d (token %d)", img, res.uuid,
                  res.provision_keyslot, res.provision_token);
        *ret = res;
        return 0;
}
