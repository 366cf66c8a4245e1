/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cvmseal rekey: re-encrypts a volume to a new volume key generated here (rekey.h, docs/design.md
 * "Rekey").
 *
 * Who opens what while the data is re-encrypted:
 *   - the cvmseal token names a keyslot of the new key; its twin (same passphrase) holds the old key;
 *     `cvmseal unlock`, the keyscript and `cryptsetup open` with the passphrase open both halves
 *     (libcryptsetup tries every keyslot of each key with it: CRYPT_ANY_SLOT);
 *   - a key file given to `rekey --unlock-key-file` (a recovery key, a passphrase) gets a twin of the
 *     new key too;
 *   - every other keyslot of the old key is destroyed by libcryptsetup when the data is done
 *     (reencrypt_teardown_ok() in libcryptsetup 2.6), so cvmseal refuses to start while one is left
 *     that it did not make, unless the caller consents (params->drop_mask; at first boot, the
 *     provisioning marker's "rekey").
 *
 * The initramfs starts the rekey (metadata only) and hands the token's passphrase to the booted
 * system in root's user keyring (the lock forbids another unseal); the booted system's
 * `cvmseal rekey` resumes it on the active device and removes the key when done.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "json-util.h"
#include "kdf.h"
#include "lock.h"
#include "log.h"
#include "luks.h"
#include "macro.h"
#include "enroll.h"
#include "handover.h"
#include "unlock.h"
#include "provision.h"
#include "rekey.h"
#include "secret.h"
#include "token.h"
#include "tpm2.h"

#define REKEY_RESILIENCE "checksum"
#define REKEY_HASH "sha256"
/* Bytes re-encrypted per step (a buffer that size, and header commits around each step).
 * libcryptsetup's default for "checksum" is as much as the checksums fit (up to 1 GiB, or a quarter
 * of the memory): a sixteenth of the volume between 64 and 256 MiB keeps the buffer small in a guest
 * and the progress fine, and large volumes near cryptsetup's speed (docs/performance.md). */
#define REKEY_HOTZONE_MIN (UINT64_C(64) << 20)
#define REKEY_HOTZONE_MAX (UINT64_C(256) << 20)

/* The step for the volume of cd, in 512-byte sectors as libcryptsetup takes it. */
static uint64_t rekey_hotzone(struct crypt_device *cd) {
        uint64_t size = 0, hz;
        struct stat st;
        int fd;

        /* The data device's size (an image file or a block device); unknown: the minimum. */
        fd = open(crypt_get_device_name(cd), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
                        size = (uint64_t) st.st_size;
                else if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) < 0)
                        size = 0;
                close(fd);
        }
        hz = size / 16;
        hz = hz < REKEY_HOTZONE_MIN ? REKEY_HOTZONE_MIN : hz > REKEY_HOTZONE_MAX ? REKEY_HOTZONE_MAX : hz;
        return (hz & ~((UINT64_C(1) << 20) - 1)) / 512U;
}

int rekey_new_volume_key(struct crypt_device *cd, cvmseal_secret **ret) {
        int size = crypt_get_volume_key_size(cd);

        if (size <= 0)
                return log_debug_errno(-EINVAL, "The volume key size is unknown");
        return kdf_random_secret((size_t) size, ret);
}

/* The informational record: what `list` and `rekey --status` show once the old key is gone.  It
 * decides nothing (nothing reads it to destroy or open anything), so it carries no MAC. */
static int record_write(struct crypt_device *cd, const char *state) {
        _cleanup_(json_object_putp) json_object *j = json_object_new_object();
        char when[32];
        int r, id = -1;

        if (!j)
                return -ENOMEM;
        for (int t = 0; t < crypt_token_max(CRYPT_LUKS2); t++) {
                const char *type = NULL;

                if (crypt_token_status(cd, t, &type) != CRYPT_TOKEN_INACTIVE && streq_ptr(type, REKEY_RECORD_TYPE)) {
                        id = t;
                        break;
                }
        }
        /* The highest free id: out of the way of the tokens that matter. */
        for (int t = crypt_token_max(CRYPT_LUKS2) - 1; id < 0 && t >= 0; t--)
                if (crypt_token_status(cd, t, NULL) == CRYPT_TOKEN_INACTIVE)
                        id = t;
        if (id < 0)
                return log_debug_errno(-ENOSPC, "No free LUKS2 token");
        snprintf(when, sizeof(when), "%" PRIu64, (uint64_t) time(NULL));
        r = json_add(j, "type", json_object_new_string(REKEY_RECORD_TYPE));
        if (r >= 0)
                r = json_add(j, "keyslots", json_object_new_array());
        if (r >= 0)
                r = json_add(j, "version", json_object_new_int(1));
        if (r >= 0)
                r = json_add(j, "state", json_object_new_string(state));
        if (r >= 0)
                r = json_add(j, "time", json_object_new_string(when));
        if (r < 0)
                return r;
        r = crypt_token_json_set(cd, id, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        if (r < 0)
                return log_debug_errno(r, "Cannot write the rekey record (token %d)", id);
        return 0;
}

/* The record's state, or NULL. */
static const char *record_state(struct crypt_device *cd, char *buf, size_t size) {
        for (int t = 0; t < crypt_token_max(CRYPT_LUKS2); t++) {
                _cleanup_(json_object_putp) json_object *j = NULL;
                const char *type = NULL, *json = NULL;
                json_object *v;

                if (crypt_token_status(cd, t, &type) == CRYPT_TOKEN_INACTIVE || !streq_ptr(type, REKEY_RECORD_TYPE))
                        continue;
                if (crypt_token_json_get(cd, t, &json) < 0 || !(j = json_tokener_parse(json)))
                        return NULL;
                if (!json_object_object_get_ex(j, "state", &v) || !json_object_is_type(v, json_type_string))
                        return NULL;
                snprintf(buf, size, "%s", json_object_get_string(v));
                return buf;
        }
        return NULL;
}

int rekey_unbound_token_keyslot(struct crypt_device *cd, int *ret_token) {
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                _cleanup_(token_done) struct token t = {};

                if (token_load(cd, id, &t) < 0)
                        continue;
                if (crypt_keyslot_status(cd, t.keyslot) == CRYPT_SLOT_UNBOUND) {
                        if (ret_token)
                                *ret_token = id;
                        return t.keyslot;
                }
        }
        return -1;
}

bool rekey_keyslot_null(struct crypt_device *cd, int keyslot) {
        const char *enc;
        size_t key_size = 0;

        enc = crypt_keyslot_get_encryption(cd, keyslot, &key_size);
        return !enc || strncmp(enc, "cipher_null", strlen("cipher_null")) == 0 || key_size == 0;
}

int rekey_keyslot_check(struct crypt_device *cd, int keyslot, const cvmseal_secret *pass) {
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        int r;

        if (keyslot < 0 || crypt_keyslot_status(cd, keyslot) != CRYPT_SLOT_UNBOUND)
                return log_debug_errno(-EBADMSG, "Keyslot %d holds no new volume key (not an unbound keyslot)", keyslot);
        if (rekey_keyslot_null(cd, keyslot))
                return log_debug_errno(-EBADMSG, "Keyslot %d is not encrypted (cipher_null): it opens with any "
                                       "passphrase and proves nothing; it was planted", keyslot);
        r = luks_volume_key_from(cd, keyslot, pass, &vk);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_debug_errno(-EKEYREJECTED, "The token's passphrase does not open keyslot %d", keyslot);
        return 0;
}

int rekey_start(struct crypt_device *cd, const cvmseal_secret *pass, int keyslot_new) {
        struct crypt_params_luks2 luks2 = { .sector_size = (uint32_t) crypt_get_sector_size(cd) };
        const struct crypt_params_reencrypt rp = {
                .mode = CRYPT_REENCRYPT_REENCRYPT,
                .direction = CRYPT_REENCRYPT_FORWARD,
                .resilience = REKEY_RESILIENCE,
                .hash = REKEY_HASH,
                .max_hotzone_size = rekey_hotzone(cd),
                .luks2 = &luks2,
                .flags = CRYPT_REENCRYPT_INITIALIZE_ONLY,
        };
        _cleanup_free_ char *cipher = NULL, *mode = NULL;
        int r;

        /* The keyslot the data goes to must be one that only a holder of pass can have made.  The host
         * writes the header: libcryptsetup before 2.8.1 opens a keyslot whose area cipher is
         * cipher_null with any passphrase (cryptsetup issue #954), so such a keyslot, unbound, for a
         * key of the host's choosing would "open with pass" and take the whole volume. */
        r = rekey_keyslot_check(cd, keyslot_new, pass);
        if (r < 0)
                return r;

        /* The volume's own cipher: only the key changes. */
        cipher = strdup(crypt_get_cipher(cd) ?: "aes");
        mode = strdup(crypt_get_cipher_mode(cd) ?: "xts-plain64");
        if (!cipher || !mode)
                return -ENOMEM;
        /* The reencryption metadata gets a digest (PBKDF2) that libcryptsetup otherwise benchmarks, a
         * second of CPU here and several under TCG, then pays again at every activation and resume:
         * its input is the volume keys (512 random bits each), so the minimal count protects as much. */
        r = crypt_set_pbkdf_type(cd, &(const struct crypt_pbkdf_type) {
                                         .type = CRYPT_KDF_PBKDF2,
                                         .hash = "sha256",
                                         .iterations = 1000,
                                         .flags = CRYPT_PBKDF_NO_BENCHMARK,
                                 });
        if (r < 0)
                return log_debug_errno(r, "Cannot select PBKDF2");
        /* Before the start: libcryptsetup refuses token changes while the volume is in reencryption. */
        /* A full metadata area (-ENOSPC) does not stop the rekey: the record only informs.  Any other
         * failure to write the header stops it here, before the reencryption starts (the next boot
         * starts it). */
        r = record_write(cd, "running");
        if (r == -ENOSPC)
                log_debug_errno(r, "No room for the rekey record: the rekey goes on without it");
        else if (r < 0)
                return r;
        r = crypt_reencrypt_init_by_passphrase(cd, NULL, (const char *) cvmseal_secret_data(pass), cvmseal_secret_size(pass),
                                               CRYPT_ANY_SLOT, keyslot_new, cipher, mode, &rp);
        if (r == -EPERM || r == -ENOENT)
                return log_debug_errno(-EKEYREJECTED, "The passphrase does not open both volume keys");
        if (r < 0)
                return log_debug_errno(r, "Cannot start the reencryption");
        log_debug("Reencryption to the key of keyslot %d initialized (%s, %s)", keyslot_new, REKEY_RESILIENCE, mode);
        return 0;
}

/* ---- progress ---- */

static const char *rundir(void) {
        return secure_getenv("CVMSEAL_RUNDIR") ?: "/run/cvmseal";
}

struct run_ctx {
        const struct cvmseal_rekey_params *params;
        const char *uuid;
        struct timespec start, last;
        uint64_t start_offset;
        bool started;
};

static double elapsed(const struct timespec *a, const struct timespec *b) {
        return (double) (b->tv_sec - a->tv_sec) + (double) (b->tv_nsec - a->tv_nsec) / 1e9;
}

/* /run/cvmseal/rekey-UUID.json, for `rekey --status`: bytes done, the rate, who is working. */
static void run_file_write(struct run_ctx *c, uint64_t done, uint64_t total, double rate) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        FILE *f;
        int fd;

        (void) mkdir(rundir(), 0700);
        if (asprintf(&path, "%s/rekey-%s.json", rundir(), c->uuid) < 0 ||
            asprintf(&tmp, "%s/.rekey-%s.XXXXXX", rundir(), c->uuid) < 0)
                return;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return;
        f = fdopen(fd, "w");
        if (!f) {
                close(fd);
                (void) unlink(tmp);
                return;
        }
        fprintf(f, "{\"pid\": %ld, \"done\": %" PRIu64 ", \"total\": %" PRIu64 ", \"rate\": %.0f, \"time\": %" PRIu64 "}\n",
                (long) getpid(), done, total, rate, (uint64_t) time(NULL));
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                (void) unlink(tmp);
}

static void run_file_remove(const char *uuid) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/rekey-%s.json", rundir(), uuid) >= 0)
                (void) unlink(path);
}

static int run_progress(uint64_t size, uint64_t offset, void *usrptr) {
        struct run_ctx *c = usrptr;
        struct timespec now;
        double dt;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!c->started) {
                c->started = true;
                c->start = c->last = now;
                c->start_offset = offset;
                run_file_write(c, offset, size, 0);
        } else {
                /* Once a step (rekey_hotzone()): cheap next to the step itself. */
                dt = elapsed(&c->start, &now);
                c->last = now;
                run_file_write(c, offset, size, dt > 0 ? (double) (offset - c->start_offset) / dt : 0);
        }
        if (c->params->progress)
                return c->params->progress(offset, size, c->params->userdata) != 0;
        return 0;
}

/* ---- the passphrase that opens both keys ---- */

static int passphrase_get(struct crypt_device *cd, const struct cvmseal_rekey_params *params, cvmseal_secret **ret,
                          int *ret_token) {
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        int r, best = -ENOMEDIUM;

        *ret_token = -1;
        if (params->unlock_key) {
                *ret = cvmseal_secret_new_from(cvmseal_secret_data(params->unlock_key),
                                               cvmseal_secret_size(params->unlock_key));
                return *ret ? 0 : -ENOMEM;
        }
        /* What the initramfs left for the booted system (the lock forbids another unseal). */
        r = handover_read(crypt_get_uuid(cd), ret);
        if (r != -ENOKEY) {
                if (r >= 0)
                        log_debug("Using the key the initramfs handed over");
                return r;
        }
        /* Before the lock (the initramfs, a test): unseal a token. */
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                _cleanup_(token_done) struct token t = {};

                if (token_load(cd, id, &t) < 0)
                        continue;
                if (!tpm) {
                        r = tpm2_context_new(params->tcti, &tpm);
                        if (r < 0)
                                return r;
                }
                r = token_derive(cd, tpm, id, &t, params->pin, NULL, params->ret_attest_failures, ret, NULL);
                if (r >= 0) {
                        *ret_token = id;
                        return 0;
                }
                if (best == -ENOMEDIUM || r != -EBADMSG)
                        best = r;
                if (r == -ENODEV)
                        break;
        }
        return best;
}

int rekey_start_pending(struct crypt_device *cd, const char *tcti, const cvmseal_secret *pass, int keyslot) {
        _cleanup_secret_ cvmseal_secret *unsealed = NULL;
        const struct cvmseal_rekey_params params = { .tcti = tcti };
        int r, token;

        if (luks_in_reencryption(cd))
                return 0;
        /* Cheap first: no unseal when no token names a keyslot of a new key.  Not when the caller
         * names the keyslot: a token that fails to parse here (out of memory) must not pass for
         * "nothing to start" after an enrollment that asked for the rekey. */
        if (!pass && rekey_unbound_token_keyslot(cd, NULL) < 0)
                return 0;
        if (!pass) {
                _cleanup_(token_done) struct token t = {};

                /* The keyslot of the token that was unsealed, never of one that only parses: any
                 * other token on the disk is the host's to write. */
                r = passphrase_get(cd, &params, &unsealed, &token);
                if (r < 0)
                        return r;
                pass = unsealed;
                if (token < 0 || token_load(cd, token, &t) < 0)
                        return log_debug_errno(-EBADMSG, "The unsealed token cannot be read back");
                keyslot = t.keyslot;
        }
        if (keyslot < 0 || crypt_keyslot_status(cd, keyslot) != CRYPT_SLOT_UNBOUND) {
                log_debug("The token's keyslot %d holds the volume's key: no rekey to start", keyslot);
                return 0;
        }
        r = rekey_start(cd, pass, keyslot);
        return r < 0 ? r : 1;
}

/* ---- starting by hand: every cvmseal token is replaced by one for the new key ---- */

static bool is_active(crypt_keyslot_info ki) {
        return ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST;
}

static int replace_token(const char *device, int id, const cvmseal_secret *old_pass, const cvmseal_secret *vk_new,
                         const struct cvmseal_rekey_params *params, cvmseal_secret **ret_pass, int *ret_keyslot) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(token_done) struct token t = {};
        _cleanup_free_ char *policy = NULL;
        struct cvmseal_enroll_result res = { .token_id = -1 };
        int r;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        r = token_load(cd, id, &t);
        if (r < 0)
                return r;
        crypt_free(TAKE_PTR(cd));
        if (t.tpm2.pubkey)
                return log_debug_errno(-EOPNOTSUPP, "Token %d is sealed to signed policies: re-enroll it after the rekey", id);
        if (t.attest_policy) {
                policy = strndup((const char *) t.attest_policy, t.attest_policy_size);
                if (!policy)
                        return -ENOMEM;
        }
        r = enroll_internal(device, old_pass,
                            &(const struct cvmseal_enroll_params) {
                                    .tcti = params->tcti,
                                    .pcr_mask = (t.tpm2.pcr_mask & ~CVMSEAL_LOCK_MASK) ?: t.tpm2.pcr_mask,
                                    .no_lock_pcr = !(t.tpm2.pcr_mask & CVMSEAL_LOCK_MASK),
                                    .pin = t.tpm2.pin ? params->pin : NULL,
                                    .hsm_uri = t.has_hsm ? t.hsm.uri : NULL,
                                    .hsm_allow_extractable = true,
                                    .hsm_provider = t.has_hsm ? t.hsm.provider : NULL,
                                    .hsm_key_blob = t.has_hsm ? t.hsm.key_blob : NULL,
                                    .hsm_key_blob_size = t.has_hsm ? t.hsm.key_blob_size : 0,
                                    .attest_policy = policy,
                            },
                            vk_new, &res, ret_pass);
        if (r < 0)
                return log_debug_errno(r, "Cannot make the new key's token for token %d", id);
        cvmseal_secret_free(res.recovery_key);
        /* The old token goes now: it opens only the old key, which is useless from here on.  Its keyslot
         * (cvmseal's, named by the token) goes with it. */
        r = luks_open(device, &cd);
        if (r >= 0)
                r = luks_token_remove(cd, id, LUKS_ALL_KEYSLOTS, NULL);
        if (r < 0)
                return log_debug_errno(r, "Cannot remove token %d after replacing it by token %d", id, res.token_id);
        log_debug("Token %d (keyslot %d, new key) replaces token %d", res.token_id, res.keyslot, id);
        *ret_keyslot = res.keyslot;
        return res.token_id;
}

static int rekey_begin(const char *device, const struct cvmseal_rekey_params *params, cvmseal_secret **ret_pass,
                       int *ret_keyslot, json_object *info) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(tpm2_context_freep) tpm2_context *tpm = NULL;
        _cleanup_secret_ cvmseal_secret *pass0 = NULL, *vk_old = NULL, *vk_new = NULL, *pass_new = NULL;
        _cleanup_(json_object_putp) json_object *replaced = json_object_new_array(), *dropped = json_object_new_array();
        uint32_t tokens = 0, token_slots = 0, refused = 0;
        int r, slot0, token0, keyslot_new = -1;

        if (!replaced || !dropped)
                return -ENOMEM;
        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        r = passphrase_get(cd, params, &pass0, &token0);
        if (r < 0)
                return r;
        r = luks_volume_key(cd, pass0, &vk_old);
        if (r < 0)
                return r;
        slot0 = r;

        /* A token is cvmseal's only when it unseals here and its passphrase opens its keyslot: the TPM
         * then vouches for its members (version 2), which its replacement copies.  One that only
         * parses is the host's to have written: its keyslot is another's (below), never replaced or
         * removed on the token's word. */
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2) && id < 32; id++) {
                _cleanup_(token_done) struct token t = {};
                _cleanup_secret_ cvmseal_secret *p = NULL;

                if (token_load(cd, id, &t) < 0 || t.keyslot < 0 || t.keyslot >= 32)
                        continue;
                if (id != token0 || t.keyslot != slot0) {
                        if (!tpm && tpm2_context_new(params->tcti, &tpm) < 0) {
                                log_debug("Token %d cannot be checked (no TPM): its keyslot %d counts as another's", id,
                                          t.keyslot);
                                continue;
                        }
                        if (token_derive(cd, tpm, id, &t, params->pin, NULL, NULL, &p, NULL) < 0 ||
                            luks_activate(cd, NULL, t.keyslot, p) < 0) {
                                log_debug("Token %d does not unseal here or does not open keyslot %d: that keyslot "
                                          "counts as another's", id, t.keyslot);
                                continue;
                        }
                }
                tokens |= UINT32_C(1) << id;
                token_slots |= UINT32_C(1) << t.keyslot;
        }
        tpm2_context_free(TAKE_PTR(tpm));
        /* Every keyslot of the old key is destroyed at the end: each must be cvmseal's (a token's, to be
         * replaced), carried over (the key file's), or given up by the caller. */
        for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++) {
                if (!is_active(crypt_keyslot_status(cd, s)))
                        continue;
                if ((token_slots & (UINT32_C(1) << s)) || (params->unlock_key && s == slot0))
                        continue;
                if (params->drop_mask & (UINT32_C(1) << s)) {
                        if (json_object_array_add(dropped, json_object_new_int(s)) < 0)
                                return -ENOMEM;
                        continue;
                }
                refused |= UINT32_C(1) << s;
        }
        if (refused) {
                char list[128] = "";

                for (int s = 0; s < 32; s++)
                        if (refused & (UINT32_C(1) << s))
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", *list ? ", " : "", s);
                return log_debug_errno(-EBUSY, "Keyslot(s) %s would be lost with the old volume key: give their key with "
                                       "--unlock-key-file, or name them with --drop-keyslot", list);
        }

        r = rekey_new_volume_key(cd, &vk_new);
        if (r < 0)
                return r;
        crypt_free(TAKE_PTR(cd));

        /* The key file's keyslot first (it stays valid whatever happens to the tokens). */
        if (params->unlock_key) {
                struct crypt_pbkdf_type pbkdf = {};

                r = luks_open(device, &cd);
                if (r < 0)
                        return r;
                r = crypt_keyslot_get_pbkdf(cd, slot0, &pbkdf);
                if (r >= 0) {
                        pbkdf.flags |= CRYPT_PBKDF_NO_BENCHMARK;
                        r = crypt_set_pbkdf_type(cd, &pbkdf);
                }
                if (r >= 0)
                        r = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, (const char *) cvmseal_secret_data(vk_new),
                                                     cvmseal_secret_size(vk_new), (const char *) cvmseal_secret_data(pass0),
                                                     cvmseal_secret_size(pass0), CRYPT_VOLUME_KEY_NO_SEGMENT | CRYPT_VOLUME_KEY_DIGEST_REUSE);
                if (r < 0)
                        return log_debug_errno(r == -EINVAL ? -ENOSPC : r, "Cannot add the key file's keyslot for the new key");
                log_debug("Keyslot %d: the key file's keyslot %d, for the new key", r, slot0);
                keyslot_new = r;
                pass_new = cvmseal_secret_new_from(cvmseal_secret_data(pass0), cvmseal_secret_size(pass0));
                if (!pass_new)
                        return -ENOMEM;
                crypt_free(TAKE_PTR(cd));
        }

        for (int id = 0; id < 32; id++) {
                _cleanup_secret_ cvmseal_secret *p = NULL;
                json_object *o;
                int k, nid;

                if (!(tokens & (UINT32_C(1) << id)))
                        continue;
                nid = replace_token(device, id, pass0, vk_new, params, &p, &k);
                if (nid < 0)
                        return nid;
                o = json_object_new_object();
                if (!o || json_object_array_add(replaced, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
                r = json_add(o, "token", json_object_new_int(id));
                if (r >= 0)
                        r = json_add(o, "new-token", json_object_new_int(nid));
                if (r >= 0)
                        r = json_add(o, "keyslot", json_object_new_int(k));
                if (r < 0)
                        return r;
                if (!pass_new) {
                        pass_new = TAKE_PTR(p);
                        keyslot_new = k;
                }
        }
        if (!pass_new)
                return log_debug_errno(-ENOMEDIUM, "Nothing to carry over to the new key");

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        r = rekey_start(cd, pass_new, keyslot_new);
        if (r < 0)
                return r;
        r = json_add(info, "replaced", TAKE_PTR(replaced));
        if (r >= 0)
                r = json_add(info, "dropped", TAKE_PTR(dropped));
        if (r < 0)
                return r;
        *ret_pass = TAKE_PTR(pass_new);
        *ret_keyslot = keyslot_new;
        return 0;
}

/* ---- finding the active device ---- */

/* ---- after the last byte ---- */

/* libcryptsetup destroyed every keyslot of the old key: a cvmseal token that named one (replaced by
 * hand before it was removed... or a first boot's) now names none and is malformed.  Such a token
 * opens nothing; removing it destroys nothing. */
static int finish(struct crypt_device *cd, json_object *info) {
        int r;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
                const char *json = NULL, *type = NULL;
                bool assigned = false;

                if (crypt_token_status(cd, id, &type) == CRYPT_TOKEN_INACTIVE || !streq_ptr(type, CVMSEAL_TOKEN_TYPE))
                        continue;
                for (int s = 0; s < crypt_keyslot_max(CRYPT_LUKS2); s++)
                        if (crypt_token_is_assigned(cd, id, s) == 0)
                                assigned = true;
                if (assigned || crypt_token_json_get(cd, id, &json) < 0)
                        continue;
                r = crypt_token_json_set(cd, id, NULL);
                if (r < 0)
                        return log_debug_errno(r, "Cannot remove token %d, which names no keyslot", id);
                log_debug("Removed token %d, which named a keyslot of the old key", id);
        }
        r = record_write(cd, "finished");
        if (r < 0)
                log_debug_errno(r, "Cannot mark the rekey record finished");
        return json_add(info, "state", json_object_new_string("finished"));
}

_public_ int cvmseal_rekey(const char *device, const struct cvmseal_rekey_params *params, json_object **ret) {
        static const struct cvmseal_rekey_params no_params = {};
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(json_object_putp) json_object *info = NULL;
        _cleanup_(provision_marker_done) struct provision_marker m = { .token_id = -1, .keyslot = -1 };
        _cleanup_secret_ cvmseal_secret *pass = NULL;
        _cleanup_free_ char *name = NULL, *uuid = NULL;
        crypt_reencrypt_info ri;
        struct run_ctx ctx = {};
        int r, token = -1, keyslot;

        if (!device)
                return -EINVAL;
        if (!params)
                params = &no_params;
        info = json_object_new_object();
        if (!info)
                return -ENOMEM;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        uuid = strdup(crypt_get_uuid(cd) ?: "");
        if (!uuid)
                return -ENOMEM;
        if (strlen(uuid) != 36)
                return log_debug_errno(-EMEDIUMTYPE, "The LUKS2 header has no UUID");
        r = provision_marker_find(cd, &m);
        if (r >= 0)
                return log_debug_errno(-EBUSY, "%s has a provisioning marker: its first boot rekeys it (cvmseal provision)",
                                       device);

        ri = crypt_reencrypt_status(cd, NULL);
        if (ri == CRYPT_REENCRYPT_INVALID)
                return log_debug_errno(-EBADMSG, "The reencryption metadata of %s is invalid", device);
        if (params->resume_only && ri == CRYPT_REENCRYPT_NONE && rekey_unbound_token_keyslot(cd, NULL) < 0) {
                log_debug("%s: no rekey under way", device);
                handover_drop(uuid);
                r = json_add(info, "state", json_object_new_string("not-needed"));
                if (r >= 0)
                        r = json_add(info, "device", json_object_new_string(device));
                if (r < 0)
                        return r;
                if (ret)
                        *ret = TAKE_PTR(info);
                return 0;
        }
        if (ri == CRYPT_REENCRYPT_NONE) {
                keyslot = rekey_unbound_token_keyslot(cd, &token);
                if (keyslot >= 0) {
                        /* Interrupted between the new token and the start (a first boot, or by hand).
                         * The keyslot of the token that was unsealed, when one was; rekey_start()
                         * checks that pass opens it and that it is no planted cipher_null keyslot. */
                        r = passphrase_get(cd, params, &pass, &token);
                        if (r < 0)
                                return r;
                        if (token >= 0) {
                                _cleanup_(token_done) struct token t = {};

                                if (token_load(cd, token, &t) < 0)
                                        return log_debug_errno(-EBADMSG, "The unsealed token cannot be read back");
                                keyslot = t.keyslot;
                        }
                        r = rekey_start(cd, pass, keyslot);
                } else {
                        crypt_free(TAKE_PTR(cd));
                        r = rekey_begin(device, params, &pass, &keyslot, info);
                        if (r >= 0)
                                r = luks_open(device, &cd);
                }
                if (r < 0)
                        return r;
                r = json_add(info, "started", json_object_new_boolean(true));
                if (r < 0)
                        return r;
        } else {
                r = passphrase_get(cd, params, &pass, &token);
                if (r < 0)
                        return r;
        }

        if (!params->start_only) {
                (void) luks_active(uuid, &name, NULL);
                /* libcryptsetup reads the header again, under its reencryption lock. */
                crypt_free(TAKE_PTR(cd));
                r = luks_open(device, &cd);
                if (r < 0)
                        return r;
                r = crypt_reencrypt_init_by_passphrase(
                        cd, name, (const char *) cvmseal_secret_data(pass), cvmseal_secret_size(pass), CRYPT_ANY_SLOT,
                        CRYPT_ANY_SLOT, NULL, NULL,
                        &(const struct crypt_params_reencrypt) {
                                .resilience = REKEY_RESILIENCE,
                                .hash = REKEY_HASH,
                                .max_hotzone_size = rekey_hotzone(cd),
                                .flags = CRYPT_REENCRYPT_RESUME_ONLY,
                        });
                if (r == -EPERM || r == -ENOENT)
                        return log_debug_errno(-EKEYREJECTED, "The key does not open both volume keys of %s", device);
                if (r < 0)
                        return log_debug_errno(r, "Cannot resume the reencryption of %s", device);
                log_debug("Re-encrypting %s%s%s", device, name ? " online, through /dev/mapper/" : " offline",
                          name ?: "");
                ctx = (struct run_ctx) { .params = params, .uuid = uuid };
                r = crypt_reencrypt_run(cd, run_progress, &ctx);
                run_file_remove(uuid);
                if (r < 0)
                        return log_debug_errno(r, "The reencryption of %s stopped", device);
                crypt_free(TAKE_PTR(cd));
                r = luks_open(device, &cd);
                if (r < 0)
                        return r;
                if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_NONE) {
                        r = finish(cd, info);
                        if (r < 0)
                                return r;
                        handover_drop(uuid);
                } else {
                        r = json_add(info, "state", json_object_new_string("running"));
                        if (r < 0)
                                return r;
                }
                if (name)
                        r = json_add(info, "name", json_object_new_string(name));
        } else
                r = json_add(info, "state", json_object_new_string("running"));
        if (r >= 0)
                r = json_add(info, "device", json_object_new_string(device));
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(info);
        return 0;
}

/* ---- status ---- */

static uint64_t parse_u64(json_object *o) {
        const char *s = json_object_get_string(o);

        return s ? strtoull(s, NULL, 10) : 0;
}

static bool has_flag(json_object *seg, const char *prefix) {
        json_object *flags;

        if (!json_object_object_get_ex(seg, "flags", &flags) || !json_object_is_type(flags, json_type_array))
                return false;
        for (size_t i = 0; i < json_object_array_length(flags); i++)
                if (strncmp(json_object_get_string(json_object_array_get_idx(flags, i)) ?: "", prefix, strlen(prefix)) == 0)
                        return true;
        return false;
}

static int device_size(const char *device, uint64_t *ret) {
        struct stat st;
        int fd;

        if (stat(device, &st) < 0)
                return negative_errno();
        if (S_ISREG(st.st_mode)) {
                *ret = (uint64_t) st.st_size;
                return 0;
        }
        fd = open(device, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (ioctl(fd, BLKGETSIZE64, ret) < 0) {
                int r = negative_errno();

                close(fd);
                return r;
        }
        close(fd);
        return 0;
}

/* Bytes already re-encrypted: the segments of the new key (the digest of the "backup-final"
 * segment), not counting the backups. */
static void progress_from_header(struct crypt_device *cd, uint64_t total_end, uint64_t *ret_done) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *segs, *digests;
        const char *json = NULL, *final = NULL;
        uint64_t done = 0;

        *ret_done = 0;
        if (crypt_dump_json(cd, &json, 0) < 0 || !(j = json_tokener_parse(json)))
                return;
        if (!json_object_object_get_ex(j, "segments", &segs) || !json_object_object_get_ex(j, "digests", &digests))
                return;
        json_object_object_foreach(segs, sid, seg) {
                if (has_flag(seg, "backup-final"))
                        final = sid;
        }
        if (!final)
                return;
        json_object_object_foreach(digests, did, dig) {
                json_object *ds;
                bool is_new = false;

                (void) did;
                if (!json_object_object_get_ex(dig, "segments", &ds))
                        continue;
                for (size_t i = 0; i < json_object_array_length(ds); i++)
                        if (streq_ptr(json_object_get_string(json_object_array_get_idx(ds, i)), final))
                                is_new = true;
                if (!is_new)
                        continue;
                for (size_t i = 0; i < json_object_array_length(ds); i++) {
                        json_object *sg, *size, *offset;

                        if (!json_object_object_get_ex(segs, json_object_get_string(json_object_array_get_idx(ds, i)), &sg) ||
                            has_flag(sg, "backup-") || has_flag(sg, "in-reencryption"))
                                continue;
                        if (!json_object_object_get_ex(sg, "size", &size) || !json_object_object_get_ex(sg, "offset", &offset))
                                continue;
                        if (streq_ptr(json_object_get_string(size), "dynamic"))
                                done += total_end > parse_u64(offset) ? total_end - parse_u64(offset) : 0;
                        else
                                done += parse_u64(size);
                }
        }
        *ret_done = done;
}

_public_ int cvmseal_rekey_status(const char *device, json_object **ret) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(provision_marker_done) struct provision_marker m = { .token_id = -1, .keyslot = -1 };
        _cleanup_free_ char *path = NULL;
        crypt_reencrypt_info ri;
        char buf[32];
        const char *state, *rec;
        uint64_t end = 0, total = 0, done = 0;
        int r;

        r = luks_open(device, &cd);
        if (r < 0)
                return r;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        if (device_size(device, &end) >= 0 && end > crypt_get_data_offset(cd) * 512U)
                total = end - crypt_get_data_offset(cd) * 512U;

        ri = crypt_reencrypt_status(cd, NULL);
        rec = record_state(cd, buf, sizeof(buf));
        if (ri == CRYPT_REENCRYPT_INVALID)
                state = "invalid";
        else if (ri != CRYPT_REENCRYPT_NONE)
                state = "running";
        else if (rekey_unbound_token_keyslot(cd, NULL) >= 0)
                state = "starting";
        else if (provision_marker_find(cd, &m) >= 0)
                state = m.no_rekey ? "not-needed" : "pending";
        else if (streq_ptr(rec, "finished"))
                state = "finished";
        else
                state = "not-needed";

        r = json_add(o, "device", json_object_new_string(device));
        if (r >= 0)
                r = json_add(o, "state", json_object_new_string(state));
        if (r >= 0 && ri != CRYPT_REENCRYPT_NONE) {
                progress_from_header(cd, end, &done);
                r = json_add(o, "bytes-done", json_object_new_int64((int64_t) done));
                if (r >= 0)
                        r = json_add(o, "bytes-total", json_object_new_int64((int64_t) total));
                /* "crashed": a step was cut (repaired at the next activation or run); while a process
                 * works, its step in progress looks the same. */
        }
        if (r >= 0 && ri != CRYPT_REENCRYPT_NONE && crypt_get_uuid(cd) &&
            asprintf(&path, "%s/rekey-%s.json", rundir(), crypt_get_uuid(cd)) >= 0) {
                _cleanup_(json_object_putp) json_object *run = json_object_from_file(path);
                json_object *v;

                /* Written by the process at work, every second; counts only while that process lives. */
                if (run && json_object_object_get_ex(run, "pid", &v) && json_object_is_type(v, json_type_int) &&
                    json_object_get_int(v) > 0 && kill(json_object_get_int(v), 0) == 0) {
                        r = json_add(o, "active", json_object_new_boolean(true));
                        if (r >= 0 && json_object_object_get_ex(run, "rate", &v))
                                r = json_add(o, "rate", json_object_new_int64(json_object_get_int64(v)));
                        if (r >= 0 && json_object_object_get_ex(run, "done", &v) && json_object_get_int64(v) > (int64_t) done)
                                r = json_add(o, "bytes-done", json_object_new_int64(json_object_get_int64(v)));
                } else {
                        r = json_add(o, "active", json_object_new_boolean(false));
                        if (r >= 0)
                                r = json_add(o, "crashed", json_object_new_boolean(ri == CRYPT_REENCRYPT_CRASH));
                }
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- the volumes handed over ---- */

