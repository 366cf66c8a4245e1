/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pending records of enroll, reseal and rotate (src/lib/luks/pending.c) on a real LUKS2 image
 * file (no device-mapper needed).  A record is written before the first keyslot change and read back
 * by the next run (pending_gc()), which destroys keyslots on its word: so a record must be refused
 * (left alone, nothing destroyed) when the host forged it, altered any member of it, or copied it
 * from another volume; and even a genuine record may destroy only a keyslot that is cvmseal's (the
 * PBKDF2 fingerprint), that no token uses, and that is not the volume's last.  Keyslot 0 plays the
 * recovery keyslot that a forged record once destroyed. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libcryptsetup.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "luks.h"
#include "macro.h"
#include "pending.h"
#include "secret.h"
#include "token.h"

#define RECOVERY_ITERATIONS 1000U
#define VK_SIZE 32               /* AES-XTS-128: half the keyslot material of a real volume, for valgrind */

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF *, EVP_KDF_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_KDF_CTX *, EVP_KDF_CTX_free);

/* A cvmseal token (the schema of test-token.c) for keyslot %d. */
#define CVMSEAL_TOKEN_FMT                                                                                     \
        "{\"type\":\"cvmseal\",\"keyslots\":[\"%d\"],\"version\":1,"                                          \
        "\"kdf\":{\"type\":\"hkdf-sha256\",\"salt\":\"qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq%c=\"},"        \
        "\"tpm2\":{\"srk-handle\":2164260865,\"srk-name\":\"000b0102030405060708091011121314151617181920212223" \
        "242526272829303132\",\"pcr-bank\":\"sha256\",\"pcrs\":[0,7],\"pin\":false,"                          \
        "\"policy\":\"8b5682d81b29435d08d79278150611dc7e5923b2fefcce684a09577b40130a8b\","                   \
        "\"public\":\"AAQBAgME\",\"private\":\"AAIBAg==\"}}"

static char dir[64], image[96], image2[96], template[96];

static cvmseal_secret *secret(const char *s) {
        cvmseal_secret *p = cvmseal_secret_new_from(s, strlen(s));

        assert_non_null(p);
        return p;
}

static void make_image(const char *path, const cvmseal_secret *vk) {
        struct crypt_pbkdf_type fast = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = RECOVERY_ITERATIONS,
                                         .flags = CRYPT_PBKDF_NO_BENCHMARK };
        struct crypt_device *cd = NULL;
        int fd;

        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 16 << 20), 0);
        close(fd);
        assert_int_equal(crypt_init(&cd, path), 0);
        assert_int_equal(crypt_set_pbkdf_type(cd, &fast), 0);
        assert_int_equal(crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL,
                                      vk ? (const char *) cvmseal_secret_data(vk) : NULL, VK_SIZE, NULL), 0);
        assert_int_equal(crypt_keyslot_add_by_volume_key(cd, 0, vk ? (const char *) cvmseal_secret_data(vk) : NULL, VK_SIZE,
                                                         "original", 8), 0);
        crypt_free(cd);
}

/* A 16 MiB LUKS2 image; keyslot 0 for "original" (PBKDF2-SHA256, 1000 iterations): the recovery
 * keyslot.  Formatted once (slow under valgrind), copied for each test, its zeros left as holes. */
static int group_setup(void **state) {
        snprintf(dir, sizeof(dir), "/tmp/cvmseal-test-pending.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(template, sizeof(template), "%s/template", dir);
        snprintf(image, sizeof(image), "%s/img", dir);
        snprintf(image2, sizeof(image2), "%s/img2", dir);
        make_image(template, NULL);
        return 0;
}

static int group_teardown(void **state) {
        unlink(template);
        rmdir(dir);
        return 0;
}

static int setup(void **state) {
        static const uint8_t zero[65536];
        uint8_t buf[65536];
        int in, out;
        ssize_t n;

        in = open(template, O_RDONLY | O_CLOEXEC);
        out = open(image, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(in >= 0 && out >= 0);
        while ((n = read(in, buf, sizeof(buf))) > 0) {
                if (n == (ssize_t) sizeof(buf) && memcmp(buf, zero, sizeof(buf)) == 0)
                        assert_true(lseek(out, n, SEEK_CUR) >= 0);
                else
                        assert_int_equal(write(out, buf, (size_t) n), n);
        }
        assert_int_equal(n, 0);
        assert_int_equal(ftruncate(out, 16 << 20), 0);
        close(in);
        close(out);
        return 0;
}

static int teardown(void **state) {
        unlink(image);
        unlink(image2);
        return 0;
}

/* Opens the image and its volume key (through the recovery keyslot). */
static void open_image(const char *path, struct crypt_device **ret_cd, cvmseal_secret **ret_vk) {
        _cleanup_secret_ cvmseal_secret *original = secret("original");

        assert_int_equal(luks_open(path, ret_cd), 0);
        assert_true(luks_volume_key(*ret_cd, original, ret_vk) >= 0);
        assert_int_equal(cvmseal_secret_size(*ret_vk), VK_SIZE);
}

/* Another run after a crash: the header as it is on the disk. */
static void reopen(struct crypt_device **cd) {
        crypt_free(*cd);
        *cd = NULL;
        assert_int_equal(luks_open(image, cd), 0);
}

static bool token_active(struct crypt_device *cd, int id) {
        return crypt_token_status(cd, id, NULL) != CRYPT_TOKEN_INACTIVE;
}

/* Writes a cvmseal token at id for keyslot; variant changes its content (and so its digest). */
static void write_cvmseal_token(struct crypt_device *cd, int id, int keyslot, char variant) {
        char json[1024];

        snprintf(json, sizeof(json), CVMSEAL_TOKEN_FMT, keyslot, variant);
        assert_int_equal(crypt_token_json_set(cd, id, json), id);
}

static void token_digest_of(struct crypt_device *cd, int id, uint8_t ret[32]) {
        _cleanup_(token_done) struct token t = {};
        const char *json = NULL;

        assert_int_equal(crypt_token_json_get(cd, id, &json), id);
        assert_int_equal(token_from_string(json, &t), 0);
        assert_int_equal(token_digest(&t, ret), 0);
}

static char *record_text(struct crypt_device *cd, int id) {
        const char *json = NULL;
        char *s;

        assert_int_equal(crypt_token_json_get(cd, id, &json), id);
        s = strdup(json);
        assert_non_null(s);
        return s;
}

static cvmseal_secret *random_vk(void) {
        uint8_t b[64];

        for (size_t i = 0; i < sizeof(b); i++)
                b[i] = (uint8_t) (0x5a ^ i);
        return cvmseal_secret_new_from(b, sizeof(b));
}

/* ---- the key ---- */

static void test_key(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *other = random_vk();
        _cleanup_(EVP_KDF_freep) EVP_KDF *hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        _cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *kctx = NULL;
        const char *uuid;
        uint8_t k1[32], k2[32], want[32], info[sizeof(PENDING_KEY_INFO) + 36];
        OSSL_PARAM params[4];

        open_image(image, &cd, &vk);
        uuid = crypt_get_uuid(cd);
        assert_int_equal(strlen(uuid), 36);

        assert_int_equal(pending_key(vk, uuid, k1), 0);
        assert_int_equal(pending_key(vk, uuid, k2), 0);
        assert_memory_equal(k1, k2, 32);

        /* The documented derivation: HKDF-SHA256(volume key, no salt, "cvmseal pending v2" NUL || UUID). */
        memcpy(info, PENDING_KEY_INFO, sizeof(PENDING_KEY_INFO));
        memcpy(info + sizeof(PENDING_KEY_INFO), uuid, 36);
        assert_non_null(hkdf);
        kctx = EVP_KDF_CTX_new(hkdf);
        assert_non_null(kctx);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) cvmseal_secret_data(vk),
                                                      cvmseal_secret_size(vk));
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
        params[3] = OSSL_PARAM_construct_end();
        assert_int_equal(EVP_KDF_derive(kctx, want, sizeof(want), params), 1);
        assert_memory_equal(k1, want, 32);

        /* Another volume key, another volume (UUID): another key. */
        assert_int_equal(pending_key(other, uuid, k2), 0);
        assert_memory_not_equal(k1, k2, 32);
        assert_int_equal(pending_key(vk, "00000000-0000-0000-0000-000000000000", k2), 0);
        assert_memory_not_equal(k1, k2, 32);

        assert_int_equal(pending_key(vk, "0000", k2), -EINVAL);
        assert_int_equal(pending_key(vk, NULL, k2), -EINVAL);
        assert_int_equal(pending_key(NULL, uuid, k2), -EINVAL);
}

/* ---- the plan ---- */

static void test_plan(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        struct pending p, q;
        bool differ = false;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 5, 2, -1, -1, &p), 0);
        assert_int_equal(p.id, -1);
        assert_int_equal(p.token, 5);
        assert_int_equal(p.n_slots, 2);
        assert_int_equal(p.slots[0], 1);            /* keyslot 0 is in use */
        assert_int_equal(p.slots[1], 2);
        for (unsigned i = 0; i < 2; i++)
                assert_in_range(p.iterations[i], 1001, 2024);
        assert_int_equal(p.old_token, -1);
        assert_false(p.replacing);
        assert_int_equal(pending_slot_mask(&p), (UINT32_C(1) << 1) | (UINT32_C(1) << 2));

        /* A plan writes nothing. */
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                assert_false(token_active(cd, id));
        assert_false(luks_keyslot_active(cd, 1));

        /* The iteration counts are random: the fingerprint that tells cvmseal's keyslots apart. */
        for (int k = 0; k < 8 && !differ; k++) {
                assert_int_equal(pending_plan(cd, vk, 5, 1, -1, -1, &q), 0);
                differ = q.iterations[0] != p.iterations[0];
        }
        assert_true(differ);

        /* A keyslot in use is not planned. */
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), 1);
        assert_int_equal(pending_plan(cd, vk, 5, 1, -1, -1, &q), 0);
        assert_int_equal(q.slots[0], 2);

        /* A replacement records the PBKDF2 iterations of the keyslot replaced, read from the header. */
        assert_int_equal(pending_plan(cd, vk, 5, 1, 0, 0, &q), 0);
        assert_int_equal(q.old_token, 0);
        assert_int_equal(q.old_keyslot, 0);
        assert_int_equal(q.old_iterations, RECOVERY_ITERATIONS);
        assert_true(pending_plan(cd, vk, 5, 1, 0, 7, &q) < 0);           /* no keyslot 7 */

        assert_int_equal(pending_plan(cd, vk, 5, 0, -1, -1, &q), -EINVAL);
        assert_int_equal(pending_plan(cd, vk, 5, PENDING_SLOTS_MAX + 1, -1, -1, &q), -EINVAL);
        assert_int_equal(pending_keyslot_add(cd, &p, 2, vk, pass, false), -EINVAL);   /* not planned */
}

/* ---- the record ---- */

static void test_roundtrip(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *other = random_vk(), *pass = secret("a token's passphrase");
        _cleanup_(json_object_putp) json_object *j = NULL;
        struct crypt_pbkdf_type pbkdf = {};
        json_object *v, *a;
        _cleanup_free_ char *text = NULL;
        struct pending p;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 1, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(p.id, 0);                 /* the first free token id other than the new token's */

        /* What the header shows (pending.h). */
        text = record_text(cd, p.id);
        j = json_tokener_parse(text);
        assert_non_null(j);
        assert_true(json_object_object_get_ex(j, "type", &v));
        assert_string_equal(json_object_get_string(v), PENDING_TOKEN_TYPE);
        assert_true(json_object_object_get_ex(j, "keyslots", &v));
        assert_int_equal(json_object_array_length(v), 0);
        assert_true(json_object_object_get_ex(j, "version", &v));
        assert_int_equal(json_object_get_int(v), PENDING_VERSION);
        assert_true(json_object_object_get_ex(j, "state", &v));
        assert_string_equal(json_object_get_string(v), "adding");
        assert_true(json_object_object_get_ex(j, "token", &v));
        assert_int_equal(json_object_get_int(v), 1);
        assert_true(json_object_object_get_ex(j, "added", &v));
        assert_int_equal(json_object_array_length(v), 1);
        a = json_object_array_get_idx(v, 0);
        assert_true(json_object_object_get_ex(a, "keyslot", &v));
        assert_int_equal(json_object_get_int(v), p.slots[0]);
        assert_true(json_object_object_get_ex(a, "iterations", &v));
        assert_int_equal(json_object_get_int64(v), p.iterations[0]);
        assert_false(json_object_object_get_ex(j, "replaces", NULL));
        assert_true(json_object_object_get_ex(j, "mac", &v));
        assert_int_equal(strlen(json_object_get_string(v)), 64);

        /* The keyslot, with the planned fingerprint; then the run is killed before its token. */
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), p.slots[0]);
        assert_int_equal(crypt_keyslot_get_pbkdf(cd, p.slots[0], &pbkdf), 0);
        assert_string_equal(pbkdf.type, CRYPT_KDF_PBKDF2);
        assert_string_equal(pbkdf.hash, "sha256");
        assert_int_equal(pbkdf.iterations, p.iterations[0]);
        assert_int_equal(luks_activate(cd, NULL, p.slots[0], pass), p.slots[0]);
        reopen(&cd);

        /* Another volume key does not authenticate it: left alone. */
        assert_int_equal(pending_gc(cd, other), 0);
        assert_true(token_active(cd, 0));
        assert_true(luks_keyslot_active(cd, p.slots[0]));

        /* Read back with this volume's key: the interrupted addition is undone, keyslot by keyslot. */
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, 0));
        assert_false(luks_keyslot_active(cd, p.slots[0]));
        assert_true(luks_keyslot_active(cd, 0));
}

/* The state a reseal leaves when killed after its record said "replacing": old token 0 on keyslot 1
 * (added by cvmseal), new token 2 on keyslot 2, the record in token 1.  Returns the record's text. */
static char *make_replacing(struct crypt_device *cd, const cvmseal_secret *vk, struct pending *ret) {
        _cleanup_secret_ cvmseal_secret *pass = secret("a token's passphrase");
        struct pending old, p;

        assert_int_equal(pending_plan(cd, vk, 0, 1, -1, -1, &old), 0);
        assert_int_equal(pending_keyslot_add(cd, &old, 0, vk, pass, false), 1);
        write_cvmseal_token(cd, 0, 1, 'o');

        assert_int_equal(pending_plan(cd, vk, 2, 1, 0, 1, &p), 0);
        assert_int_equal(p.slots[0], 2);
        assert_int_equal(p.old_iterations, old.iterations[0]);
        token_digest_of(cd, 0, p.old_digest);
        p.replacing = true;
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(p.id, 1);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), 2);
        write_cvmseal_token(cd, 2, 2, 'o');
        *ret = p;
        return record_text(cd, p.id);
}

static void assert_untouched(struct crypt_device *cd, int line) {
        for (int s = 0; s <= 2; s++)
                if (!luks_keyslot_active(cd, s))
                        fail_msg("line %d: keyslot %d was destroyed", line, s);
        for (int id = 0; id <= 2; id++)
                if (!token_active(cd, id))
                        fail_msg("line %d: token %d was removed", line, id);
}

/* Replaces member key of the genuine record (of its "replaces" object, or of its first "added"
 * entry) by value (JSON text; NULL deletes it), writes it over the record and runs pending_gc():
 * the record must be left alone and nothing destroyed. */
static void expect_refused_at(int line, struct crypt_device *cd, const cvmseal_secret *vk, const char *genuine,
                              const char *object, const char *key, const char *value) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(genuine);
        json_object *o = j;
        int r;

        assert_non_null(j);
        if (streq_ptr(object, "replaces"))
                assert_true(json_object_object_get_ex(j, "replaces", &o));
        else if (streq_ptr(object, "added")) {
                assert_true(json_object_object_get_ex(j, "added", &o));
                o = json_object_array_get_idx(o, 0);
        }
        if (value) {
                json_object *v = json_tokener_parse(value);

                if (!v && strcmp(value, "null") != 0)
                        fail_msg("line %d: bad test value %s", line, value);
                json_object_object_add(o, key, v);
        } else
                json_object_object_del(o, key);

        r = crypt_token_json_set(cd, 1, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        if (r != 1)
                fail_msg("line %d: libcryptsetup refused the altered record (%d)", line, r);
        r = pending_gc(cd, vk);
        if (r != 0)
                fail_msg("line %d: %s%s%s = %s: pending_gc() gave %d", line, object ?: "", object ? "." : "", key,
                         value ?: "(deleted)", r);
        if (!token_active(cd, 1))
                fail_msg("line %d: the record altered at %s%s%s = %s was accepted", line, object ?: "",
                         object ? "." : "", key, value ?: "(deleted)");
        assert_untouched(cd, line);
}
#define expect_refused(object, key, value) expect_refused_at(__LINE__, cd, vk, genuine, object, key, value)

static void test_altered(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        _cleanup_free_ char *genuine = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_object *v;
        char mac[80], iters[32], added[256];
        struct pending p;

        open_image(image, &cd, &vk);
        genuine = make_replacing(cd, vk, &p);
        j = json_tokener_parse(genuine);
        assert_true(json_object_object_get_ex(j, "mac", &v));
        snprintf(mac, sizeof(mac), "\"%s", json_object_get_string(v));

        /* Each member changed to what would make the run destroy something else. */
        expect_refused(NULL, "state", "\"adding\"");
        expect_refused(NULL, "token", "0");
        expect_refused(NULL, "token", "3");
        expect_refused("added", "keyslot", "0");
        expect_refused("added", "keyslot", "1");
        snprintf(iters, sizeof(iters), "%u", p.iterations[0] + 1);
        expect_refused("added", "iterations", iters);
        expect_refused("added", "iterations", "1000");
        snprintf(added, sizeof(added), "[{\"keyslot\":2,\"iterations\":%u},{\"keyslot\":0,\"iterations\":1000}]",
                 p.iterations[0]);
        expect_refused(NULL, "added", added);
        expect_refused(NULL, "added", "[]");
        expect_refused("replaces", "token", "2");
        expect_refused("replaces", "keyslot", "0");
        expect_refused("replaces", "iterations", "1000");
        expect_refused("replaces", "digest", "\"0000000000000000000000000000000000000000000000000000000000000000\"");
        expect_refused(NULL, "replaces", NULL);
        expect_refused(NULL, "version", "1");
        expect_refused(NULL, "version", "3");

        /* The MAC itself: another, truncated, not hex, missing, of another type. */
        mac[1] = mac[1] == '0' ? '1' : '0';
        strcat(mac, "\"");
        expect_refused(NULL, "mac", mac);
        expect_refused(NULL, "mac", "\"00\"");
        expect_refused(NULL, "mac", "\"zz00000000000000000000000000000000000000000000000000000000000000\"");
        expect_refused(NULL, "mac", NULL);
        expect_refused(NULL, "mac", "0");

        /* Strict parsing: unknown members, wrong types, out of range (the MAC is not even reached). */
        expect_refused(NULL, "note", "\"hello\"");
        expect_refused("added", "note", "1");
        expect_refused("replaces", "note", "1");
        expect_refused(NULL, "version", "\"2\"");
        expect_refused(NULL, "version", "null");
        expect_refused(NULL, "state", "\"done\"");
        expect_refused(NULL, "state", "1");
        expect_refused(NULL, "token", "\"2\"");
        expect_refused(NULL, "token", "-1");
        expect_refused(NULL, "token", "32");
        expect_refused(NULL, "token", "2.0");
        expect_refused(NULL, "token", NULL);
        expect_refused("added", "keyslot", "32");
        expect_refused("added", "keyslot", "-1");
        expect_refused("added", "keyslot", "\"2\"");
        expect_refused("added", "keyslot", NULL);
        expect_refused("added", "iterations", "-1");
        expect_refused("added", "iterations", "4294967296");
        expect_refused("added", "iterations", NULL);
        expect_refused(NULL, "added", "{}");
        expect_refused(NULL, "added", "[1]");
        expect_refused(NULL, "added", "[{},{},{},{},{}]");
        expect_refused(NULL, "added", NULL);
        expect_refused(NULL, "replaces", "[]");
        expect_refused("replaces", "digest", "\"00\"");
        expect_refused("replaces", "digest", NULL);
        expect_refused("replaces", "keyslot", "99");

        /* The genuine record, written back as it was: it is this run's to finish (rolled forward). */
        assert_int_equal(crypt_token_json_set(cd, 1, genuine), 1);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, 1));
        assert_false(token_active(cd, 0));
        assert_false(luks_keyslot_active(cd, 1));
        assert_true(token_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 0));
}

/* A record that is not even a whole one: libcryptsetup never stores JSON that does not parse, and
 * pending_gc() leaves records without their members alone. */
static void test_not_a_record(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        static const char *const husks[] = {
                "{\"type\":\"cvmseal-pending\",\"keyslots\":[]}",
                "{\"type\":\"cvmseal-pending\",\"keyslots\":[],\"version\":2}",
                "{\"type\":\"cvmseal-pending\",\"keyslots\":[],\"version\":2,\"state\":\"adding\",\"token\":1,"
                "\"added\":[{\"keyslot\":0,\"iterations\":1000}]}",
                "{\"type\":\"cvmseal-pending\",\"keyslots\":[],\"version\":2,\"state\":\"replacing\",\"token\":1,"
                "\"added\":[],\"mac\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
                "{\"type\":\"cvmseal-pending\",\"keyslots\":[],\"version\":2,\"state\":\"adding\",\"token\":1,"
                "\"added\":[[[[[[[[[[]]]]]]]]]],\"mac\":\"\"}",
        };

        open_image(image, &cd, &vk);
        assert_true(crypt_token_json_set(cd, 0, "{\"type\":\"cvmseal-pending\",\"keyslots\":[],\"version\":2") < 0);
        assert_true(crypt_token_json_set(cd, 0, "[\"cvmseal-pending\"]") < 0);
        assert_false(token_active(cd, 0));

        for (size_t i = 0; i < ELEMENTSOF(husks); i++) {
                assert_int_equal(crypt_token_json_set(cd, (int) i, husks[i]), (int) i);
                assert_int_equal(pending_gc(cd, vk), 0);
                assert_true(token_active(cd, (int) i));
                assert_true(luks_keyslot_active(cd, 0));
        }
}

/* Records that this volume's key authenticates but that say what no run of cvmseal writes (a
 * keyslot or token out of range, an iteration count beyond 32 bits, "replacing" without what it
 * replaces): the strict parser refuses them before the MAC is even computed. */
static void test_authenticated_out_of_range(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        const struct pending base = { .id = -1, .token = 3, .n_slots = 1, .slots = { 1 }, .iterations = { 1500 },
                                      .old_token = -1, .old_keyslot = -1 };
        struct pending bad[6];

        open_image(image, &cd, &vk);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                bad[i] = base;
                assert_int_equal(pending_key(vk, crypt_get_uuid(cd), bad[i].key), 0);
        }
        bad[0].slots[0] = 32;
        bad[1].token = 32;
        bad[2].iterations[0] = UINT32_C(0x80000000);
        bad[3].old_token = 0, bad[3].old_keyslot = 32;
        bad[4].old_token = 32, bad[4].old_keyslot = 0;
        bad[5].replacing = true;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(pending_start(cd, &bad[i]), 0);
                assert_int_equal(pending_gc(cd, vk), 0);
                if (!token_active(cd, bad[i].id))
                        fail_msg("record %zu was accepted", i);
                assert_true(luks_keyslot_active(cd, 0));
                assert_int_equal(crypt_token_json_set(cd, bad[i].id, NULL), bad[i].id);
        }

        /* The same record in range is read back (and removed: it has nothing to undo). */
        bad[0] = base;
        assert_int_equal(pending_key(vk, crypt_get_uuid(cd), bad[0].key), 0);
        assert_int_equal(pending_start(cd, &bad[0]), 0);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, bad[0].id));
}

/* The bug of the past: a record the host forged to name the recovery keyslot, with every value it
 * can read from the header (keyslot 0, PBKDF2-SHA256, 1000 iterations) but not the volume key. */
static void test_forged(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *attacker = random_vk(), *pass = secret("a token's passphrase");
        struct pending adding = { .id = -1, .token = 7, .n_slots = 1, .slots = { 0 },
                                  .iterations = { RECOVERY_ITERATIONS }, .old_token = -1, .old_keyslot = -1 };
        struct pending replacing = { .id = -1, .token = 7, .n_slots = 1, .slots = { 9 }, .iterations = { 1500 },
                                     .old_token = 8, .old_keyslot = 0, .old_iterations = RECOVERY_ITERATIONS,
                                     .replacing = true };
        struct pending genuine;

        open_image(image, &cd, &vk);
        /* The token's keyslot: keyslot 0 is not the volume's last. */
        assert_int_equal(luks_keyslot_add(cd, vk, pass), 1);

        /* Keyed from another volume key; keyed with zeros. */
        assert_int_equal(pending_key(attacker, crypt_get_uuid(cd), adding.key), 0);
        assert_int_equal(pending_start(cd, &adding), 0);
        memset(replacing.key, 0, sizeof(replacing.key));
        assert_int_equal(pending_start(cd, &replacing), 0);
        assert_int_not_equal(adding.id, replacing.id);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_true(luks_keyslot_active(cd, 0));
        assert_true(token_active(cd, adding.id));
        assert_true(token_active(cd, replacing.id));
        assert_int_equal(crypt_token_json_set(cd, adding.id, NULL), adding.id);
        assert_int_equal(crypt_token_json_set(cd, replacing.id, NULL), replacing.id);

        /* Only the MAC stood in the way: the same record keyed from this volume's key is cvmseal's
         * own plan, and pending_gc() carries it out. */
        genuine = adding;
        genuine.id = -1;
        assert_int_equal(pending_key(vk, crypt_get_uuid(cd), genuine.key), 0);
        assert_int_equal(pending_start(cd, &genuine), 0);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, genuine.id));
        assert_false(luks_keyslot_active(cd, 0));
}

/* A genuine record copied into the header of another volume with the same volume key (a clone of
 * the image, re-formatted): its UUID differs, so the record is not that volume's. */
static void test_other_volume(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL, *cd2 = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *vk2 = NULL, *pass = secret("a token's passphrase");
        _cleanup_free_ char *text = NULL;
        struct pending p;

        open_image(image, &cd, &vk);
        make_image(image2, vk);
        open_image(image2, &cd2, &vk2);
        assert_memory_equal(cvmseal_secret_data(vk), cvmseal_secret_data(vk2), VK_SIZE);
        assert_string_not_equal(crypt_get_uuid(cd), crypt_get_uuid(cd2));

        assert_int_equal(pending_plan(cd, vk, 3, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        text = record_text(cd, p.id);

        /* The second volume has a keyslot that fits the record (slot and fingerprint). */
        assert_int_equal(pending_keyslot_add(cd2, &p, 0, vk2, pass, false), p.slots[0]);
        assert_int_equal(crypt_token_json_set(cd2, p.id, text), p.id);
        assert_int_equal(pending_gc(cd2, vk2), 0);
        assert_true(luks_keyslot_active(cd2, p.slots[0]));
        assert_true(token_active(cd2, p.id));

        /* On its own volume it is read back. */
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, p.id));
}

/* ---- what a genuine record may destroy ---- */

/* Keyslot p.slots[0] was added after the crash by someone else, with another PBKDF: kept. */
static void test_not_owned_fingerprint(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        struct pending p;
        struct {
                const char *hash;
                unsigned delta;
        } other[] = { { "sha256", 1 }, { "sha512", 0 } };

        open_image(image, &cd, &vk);
        for (size_t i = 0; i < ELEMENTSOF(other); i++) {
                struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = other[i].hash,
                                                  .flags = CRYPT_PBKDF_NO_BENCHMARK };

                assert_int_equal(pending_plan(cd, vk, 3, 1, -1, -1, &p), 0);
                assert_int_equal(pending_start(cd, &p), 0);
                pbkdf.iterations = p.iterations[0] + other[i].delta;
                assert_int_equal(crypt_set_pbkdf_type(cd, &pbkdf), 0);
                assert_int_equal(crypt_keyslot_add_by_volume_key(cd, p.slots[0], (const char *) cvmseal_secret_data(vk),
                                                                 VK_SIZE, "someone else's", 14), p.slots[0]);
                reopen(&cd);
                assert_int_equal(pending_gc(cd, vk), 0);
                assert_false(token_active(cd, p.id));               /* the record was genuine: done */
                assert_true(luks_keyslot_active(cd, p.slots[0]));   /* not cvmseal's keyslot: kept */
        }
}

/* Keyslot p.slots[0] has cvmseal's fingerprint but a token (not cvmseal's) uses it: kept, with the token. */
static void test_not_owned_referenced(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        struct pending p;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 3, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), p.slots[0]);
        assert_int_equal(crypt_token_json_set(cd, 3, "{\"type\":\"cvmseal-test\",\"keyslots\":[]}"), 3);
        assert_int_equal(crypt_token_assign_keyslot(cd, 3, p.slots[0]), 3);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, p.id));
        assert_true(token_active(cd, 3));
        assert_true(luks_keyslot_active(cd, p.slots[0]));
}

/* Keyslot p.slots[0] is cvmseal's and unused, but the volume's last: kept. */
static void test_not_owned_last(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        struct pending p;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 3, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), p.slots[0]);
        assert_int_equal(crypt_keyslot_destroy(cd, 0), 0);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, p.id));
        assert_true(luks_keyslot_active(cd, p.slots[0]));
        assert_int_equal(luks_activate(cd, NULL, p.slots[0], pass), p.slots[0]);
}

/* ---- finishing ---- */

static void test_rollback(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        struct pending p;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 4, 2, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), 1);
        assert_int_equal(pending_keyslot_add(cd, &p, 1, vk, pass, false), 2);
        write_cvmseal_token(cd, 4, 1, 'o');

        /* The new token first, then its keyslots, then the record. */
        assert_int_equal(pending_rollback(cd, &p), 0);
        assert_int_equal(p.id, -1);
        assert_false(token_active(cd, 4));
        assert_false(luks_keyslot_active(cd, 1));
        assert_false(luks_keyslot_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 0));
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                assert_false(token_active(cd, id));

        /* A token at the planned id that is not cvmseal's is not the run's: kept, and its keyslot. */
        assert_int_equal(pending_plan(cd, vk, 4, 2, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), 1);
        assert_int_equal(pending_keyslot_add(cd, &p, 1, vk, pass, false), 2);
        assert_int_equal(crypt_token_json_set(cd, 4, "{\"type\":\"cvmseal-test\",\"keyslots\":[\"1\"]}"), 4);
        assert_int_equal(pending_rollback(cd, &p), 0);
        assert_true(token_active(cd, 4));
        assert_true(luks_keyslot_active(cd, 1));
        assert_false(luks_keyslot_active(cd, 2));
        assert_false(token_active(cd, 0));
}

static void test_commit_add(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        struct pending p;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 2, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), 1);
        write_cvmseal_token(cd, 2, 1, 'o');
        assert_int_equal(pending_commit(cd, &p), 0);
        assert_int_equal(p.id, -1);
        assert_false(token_active(cd, 0));
        assert_true(token_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 1));
        assert_true(luks_keyslot_active(cd, 0));
}

static void test_commit_replace(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        _cleanup_free_ char *text = NULL;
        struct pending p;

        open_image(image, &cd, &vk);
        text = make_replacing(cd, vk, &p);
        p.replacing = false;       /* pending_commit() marks it */
        assert_int_equal(pending_commit(cd, &p), 0);
        assert_int_equal(p.id, -1);
        assert_true(p.replacing);
        assert_false(token_active(cd, 0));
        assert_false(luks_keyslot_active(cd, 1));
        assert_false(token_active(cd, 1));
        assert_true(token_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 0));
}

/* The old token was not the recorded one (its digest): kept, and so its keyslot. */
static void test_commit_replace_other_token(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        _cleanup_free_ char *text = NULL;
        struct pending p;

        open_image(image, &cd, &vk);
        text = make_replacing(cd, vk, &p);
        write_cvmseal_token(cd, 0, 1, 'g');         /* token 0 changed since the plan */
        assert_int_equal(pending_commit(cd, &p), 0);
        assert_true(token_active(cd, 0));
        assert_true(luks_keyslot_active(cd, 1));
        assert_false(token_active(cd, 1));
        assert_true(token_active(cd, 2));
}

/* "replacing" rolls forward only with the new token in place; without it the addition is undone. */
static void test_gc_replacing_without_new_token(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        _cleanup_free_ char *text = NULL;
        struct pending p;

        open_image(image, &cd, &vk);
        text = make_replacing(cd, vk, &p);
        assert_int_equal(crypt_token_json_set(cd, 2, NULL), 2);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, 1));
        assert_true(token_active(cd, 0));
        assert_true(luks_keyslot_active(cd, 1));
        assert_false(luks_keyslot_active(cd, 2));
}

/* A genuine "adding" record written back after its run finished (the host saw it go by): the token
 * is in place, so it is kept with its keyslot; only the record goes. */
static void test_gc_replayed_addition(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        _cleanup_free_ char *text = NULL;
        struct pending p;

        open_image(image, &cd, &vk);
        assert_int_equal(pending_plan(cd, vk, 2, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), 0);
        text = record_text(cd, p.id);
        assert_int_equal(pending_keyslot_add(cd, &p, 0, vk, pass, false), 1);
        write_cvmseal_token(cd, 2, 1, 'o');
        assert_int_equal(pending_commit(cd, &p), 0);

        assert_int_equal(crypt_token_json_set(cd, 0, text), 0);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, 0));
        assert_true(token_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 1));
        assert_int_equal(luks_activate(cd, NULL, 1, pass), 1);
}

/* A genuine "replacing" record written back after a later enroll took the old token's id: the
 * token there now is not the recorded one (digest), and neither is its keyslot (fingerprint). */
static void test_gc_replayed_replacement(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL, *pass = secret("a token's passphrase");
        _cleanup_free_ char *text = NULL;
        struct pending p, later;

        open_image(image, &cd, &vk);
        text = make_replacing(cd, vk, &p);
        assert_int_equal(pending_commit(cd, &p), 0);
        assert_false(token_active(cd, 0));

        /* The later enroll: token 0 again, on keyslot 1 again, with its own fingerprint. */
        do
                assert_int_equal(pending_plan(cd, vk, 0, 1, -1, -1, &later), 0);
        while (later.iterations[0] == p.old_iterations);
        assert_int_equal(later.slots[0], 1);
        assert_int_equal(pending_keyslot_add(cd, &later, 0, vk, pass, false), 1);
        write_cvmseal_token(cd, 0, 1, 'g');

        assert_int_equal(crypt_token_json_set(cd, 1, text), 1);
        reopen(&cd);
        assert_int_equal(pending_gc(cd, vk), 0);
        assert_false(token_active(cd, 1));
        assert_true(token_active(cd, 0));
        assert_true(luks_keyslot_active(cd, 1));
        assert_true(token_active(cd, 2));
        assert_true(luks_keyslot_active(cd, 2));
}

/* No free token for the record: -ENOSPC; the record never takes the id planned for the new token. */
static void test_no_free_token(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *vk = NULL;
        struct pending p;
        int last = crypt_token_max(CRYPT_LUKS2) - 1;

        open_image(image, &cd, &vk);
        for (int id = 0; id < last; id++)
                assert_int_equal(crypt_token_json_set(cd, id, "{\"type\":\"cvmseal-test\",\"keyslots\":[]}"), id);
        assert_int_equal(pending_plan(cd, vk, last, 1, -1, -1, &p), 0);
        assert_int_equal(pending_start(cd, &p), -ENOSPC);
        assert_int_equal(p.id, -1);
        assert_false(token_active(cd, last));

        assert_int_equal(crypt_token_json_set(cd, 5, NULL), 5);
        assert_int_equal(pending_start(cd, &p), 0);
        assert_int_equal(p.id, 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
                cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_altered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_record, setup, teardown),
                cmocka_unit_test_setup_teardown(test_authenticated_out_of_range, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_volume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_owned_fingerprint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_owned_referenced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_owned_last, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_add, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_replace_other_token, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_replacing_without_new_token, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_replayed_addition, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_replayed_replacement, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_free_token, setup, teardown),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
