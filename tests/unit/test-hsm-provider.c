/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenSSL provider backend (src/lib/hsm/hsm-provider.c) and the binding it writes (src/lib/hsm/hsm.c):
 *   - the "hsm" member of a provider binding parses strictly (every new member, every combination
 *     that must be refused) and is written back the same;
 *   - cvmseal.conf decides which provider names may be loaded ("hsm-provider = NAME [QUERY]");
 *   - the private file of a key blob: a memfd reached by /proc/self/fd/N, or a 0600 file that is gone
 *     afterwards;
 *   - ECIES (P-256, P-384) and RSA-OAEP-SHA256 through the provider code path, with OpenSSL's default
 *     provider and key files: this exercises the code, not an HSM (the keys are extractable, which the
 *     fitness check says).  Sealed to the key or to its public half alone, a share comes back; a
 *     flipped ciphertext, another AAD or an ephemeral point off the curve is a damaged binding
 *     (-EBADMSG); another key at the same URI is a refusal (-EKEYREVOKED) found by the key check.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "hsm-backend.h"
#include "hsm.h"
#include "kdf.h"
#include "macro.h"
#include "secret.h"

static char dir[] = "/tmp/cvmseal-test-hsm-provider.XXXXXX";

static void write_file(const char *name, const char *text) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static char *path_of(const char *name) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

/* A private key (PEM) and its public half (PEM) as files of the test directory. */
static void make_key(const char *name, const char *type, const char *arg) {
        _cleanup_free_ char *priv = NULL, *pub = NULL;
        EVP_PKEY *k;
        FILE *f;

        if (streq_ptr(type, "RSA"))
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        else
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", arg);
        assert_non_null(k);
        assert_true(asprintf(&priv, "%s/%s.pem", dir, name) > 0);
        assert_true(asprintf(&pub, "%s/%s.pub", dir, name) > 0);
        f = fopen(priv, "w");
        assert_non_null(f);
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
        fclose(f);
        f = fopen(pub, "w");
        assert_non_null(f);
        assert_int_equal(PEM_write_PUBKEY(f, k), 1);
        fclose(f);
        EVP_PKEY_free(k);
}

static char *read_text(const char *name) {
        _cleanup_free_ char *p = path_of(name);
        char *buf = calloc(1, 65536);
        FILE *f = fopen(p, "r");

        assert_non_null(f);
        assert_non_null(buf);
        assert_true(fread(buf, 1, 65535, f) > 0);
        fclose(f);
        return buf;
}

static int setup(void **state) {
        assert_non_null(mkdtemp(dir));
        setenv("CVMSEAL_CONFDIR", dir, 1);
        write_file("cvmseal.conf", "# test\nhsm-provider = default\n");
        make_key("p256", "EC", "P-256");
        make_key("p384", "EC", "P-384");
        make_key("other256", "EC", "P-256");
        make_key("rsa", "RSA", NULL);
        make_key("p521", "EC", "P-521");
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* ---- the binding's JSON ---- */

#define EPH "BAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define CT48 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
#define CHECK "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char ecdh_json[] =
        "{\"provider\":\"tpm2\",\"uri\":\"handle:0x81000101\",\"mechanism\":\"ecdh-p256-aes-256-gcm\","
        "\"ephemeral\":\"" EPH "\",\"iv\":\"AAECAwQFBgcICQoL\",\"key-check\":\"" CHECK "\","
        "\"ciphertext\":\"" CT48 "\",\"pin\":false}";

static void test_json_valid(void **state) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(ecdh_json), *out = NULL;
        _cleanup_(hsm_binding_done) struct hsm_binding b = {}, blob = {};

        assert_int_equal(hsm_binding_from_json(j, &b), 0);
        assert_string_equal(b.provider, "tpm2");
        assert_string_equal(b.uri, "handle:0x81000101");
        assert_int_equal(b.mechanism, HSM_ECDH_P256);
        assert_int_equal(b.ephemeral_size, 65);
        assert_int_equal(b.ephemeral[0], 4);
        assert_int_equal(b.key_check_size, 32);
        assert_int_equal(b.ciphertext_size, 48);
        assert_false(b.pin);
        assert_null(b.key_blob);
        assert_int_equal(hsm_binding_to_json(&b, &out), 0);
        assert_string_equal(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
                            json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));

        /* A key blob in the token, named by {key-blob} in the URI. */
        json_object_object_add(j, "uri", json_object_new_string("azihsm://{key-blob};type=ec"));
        json_object_object_add(j, "key-blob", json_object_new_string("bWFza2Vk"));
        assert_int_equal(hsm_binding_from_json(j, &blob), 0);
        assert_int_equal(blob.key_blob_size, 6);
        assert_memory_equal(blob.key_blob, "masked", 6);
        json_object_put(out);
        out = NULL;
        assert_int_equal(hsm_binding_to_json(&blob, &out), 0);
        assert_string_equal(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
                            json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
}

static void expect_bad(const char *base, const char *key, json_object *value) {
        _cleanup_(json_object_putp) json_object *j = json_tokener_parse(base);
        _cleanup_(hsm_binding_done) struct hsm_binding b = {};

        assert_non_null(j);
        if (value)
                json_object_object_add(j, key, value);
        else
                json_object_object_del(j, key);
        if (hsm_binding_from_json(j, &b) != -EBADMSG)
                fail_msg("hsm.%s mutated to %s was accepted", key, value ? json_object_to_json_string(value) : "(absent)");
}

static void test_json_bad(void **state) {
        static const char *const required[] = { "uri", "mechanism", "ephemeral", "iv", "key-check", "ciphertext", "pin" };
        char rsa[1024];

        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                expect_bad(ecdh_json, required[i], NULL);
        /* A provider by a bare name only: never a path, nothing odd. */
        expect_bad(ecdh_json, "provider", json_object_new_string("/usr/lib/x86_64-linux-gnu/ossl-modules/tpm2.so"));
        expect_bad(ecdh_json, "provider", json_object_new_string("../tpm2"));
        expect_bad(ecdh_json, "provider", json_object_new_string("tpm2 extra"));
        expect_bad(ecdh_json, "provider", json_object_new_string(""));
        expect_bad(ecdh_json, "provider", json_object_new_string("-tpm2"));
        expect_bad(ecdh_json, "provider", json_object_new_string_len("tpm2\0x", 6));
        expect_bad(ecdh_json, "provider", json_object_new_int(2));
        expect_bad(ecdh_json, "provider",
                   json_object_new_string("a123456789012345678901234567890123456789012345678901234567890123456789"));
        /* The URI: text, no control characters, {key-blob} only with a key blob. */
        expect_bad(ecdh_json, "uri", json_object_new_string(""));
        expect_bad(ecdh_json, "uri", json_object_new_string("handle:\n0x81000101"));
        expect_bad(ecdh_json, "uri", json_object_new_string_len("handle:\0x", 9));
        expect_bad(ecdh_json, "uri", json_object_new_string("{key-blob}"));
        expect_bad(ecdh_json, "key-blob", json_object_new_string("bWFza2Vk"));     /* URI without {key-blob} */
        /* Mechanisms a provider binding does not take, and the ECDH members' shapes. */
        expect_bad(ecdh_json, "mechanism", json_object_new_string("aes-256-gcm"));
        expect_bad(ecdh_json, "mechanism", json_object_new_string("rsa-oaep-sha1"));
        expect_bad(ecdh_json, "mechanism", json_object_new_string("ecdh-p384-aes-256-gcm")); /* a 65-byte point */
        expect_bad(ecdh_json, "ephemeral", json_object_new_string("AgABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f")); /* compressed */
        expect_bad(ecdh_json, "key-check", json_object_new_string("00010203"));
        expect_bad(ecdh_json, "key-check", json_object_new_string(""));
        expect_bad(ecdh_json, "ciphertext", json_object_new_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
        expect_bad(ecdh_json, "pin", json_object_new_boolean(true));
        expect_bad(ecdh_json, "extra", json_object_new_int(1));

        /* Twice {key-blob}; a key blob in a PKCS#11 binding; ECDH without a provider. */
        {
                _cleanup_(json_object_putp) json_object *j = json_tokener_parse(ecdh_json);
                _cleanup_(hsm_binding_done) struct hsm_binding b = {};

                json_object_object_add(j, "uri", json_object_new_string("{key-blob}{key-blob}"));
                json_object_object_add(j, "key-blob", json_object_new_string("bWFza2Vk"));
                assert_int_equal(hsm_binding_from_json(j, &b), -EBADMSG);
                json_object_object_add(j, "uri", json_object_new_string("{key-blob}"));
                json_object_object_add(j, "key-blob", json_object_new_string(""));
                assert_int_equal(hsm_binding_from_json(j, &b), -EBADMSG);
                json_object_object_del(j, "provider");
                json_object_object_del(j, "key-blob");
                json_object_object_add(j, "uri", json_object_new_string("pkcs11:token=t;object=o"));
                assert_int_equal(hsm_binding_from_json(j, &b), -EBADMSG);
        }

        /* An RSA provider binding: no IV, no ephemeral point. */
        {
                uint8_t zero[256] = {};
                char ct[345];

                assert_int_equal(EVP_EncodeBlock((uint8_t *) ct, zero, sizeof(zero)), 344);
                snprintf(rsa, sizeof(rsa),
                         "{\"provider\":\"azihsm_provider\",\"uri\":\"azihsm:///etc/cvmseal/hsm/disk.masked;type=rsa\","
                         "\"mechanism\":\"rsa-oaep-sha256\",\"key-check\":\"" CHECK "\",\"ciphertext\":\"%s\","
                         "\"pin\":false}", ct);
        }
        {
                _cleanup_(json_object_putp) json_object *j = json_tokener_parse(rsa);
                _cleanup_(hsm_binding_done) struct hsm_binding b = {};

                assert_non_null(j);
                assert_int_equal(hsm_binding_from_json(j, &b), 0);
                assert_int_equal(b.mechanism, HSM_RSA_OAEP_SHA256);
                assert_int_equal(b.ciphertext_size, 256);
        }
        expect_bad(rsa, "iv", json_object_new_string("AAECAwQFBgcICQoL"));
        expect_bad(rsa, "ephemeral", json_object_new_string(EPH));
}

/* ---- configuration ---- */

static void test_config(void **state) {
        _cleanup_free_ char *q = NULL;

        write_file("cvmseal.conf", "hsm-provider = tpm2\n"
                                   "hsm-provider = azihsm_provider   ?provider=azihsm\n"
                                   "hsm-provider = tpm2 provider=tpm2\n");
        assert_int_equal(hsm_provider_allowed("tpm2", &q), 0);
        assert_string_equal(q, "provider=tpm2"); /* the last line for a name counts */
        free(TAKE_PTR(q));
        assert_int_equal(hsm_provider_allowed("azihsm_provider", &q), 0);
        assert_string_equal(q, "?provider=azihsm");
        assert_int_equal(hsm_provider_allowed("default", NULL), -EPERM);
        assert_int_equal(hsm_provider_allowed("/usr/lib/x86_64-linux-gnu/ossl-modules/tpm2.so", NULL), -EINVAL);
        assert_int_equal(hsm_provider_allowed("tpm2.so/", NULL), -EINVAL);
        assert_int_equal(cvmseal_hsm_provider_check("tpm2"), 0);
        assert_int_equal(cvmseal_hsm_provider_check("pkcs11"), -EPERM);

        /* A line that names a path (or nothing) makes the file malformed. */
        write_file("cvmseal.conf", "hsm-provider = /opt/evil.so\n");
        assert_int_equal(hsm_provider_allowed("tpm2", NULL), -EBADMSG);
        write_file("cvmseal.conf", "hsm-provider =\n");
        assert_int_equal(hsm_provider_allowed("tpm2", NULL), -EBADMSG);

        /* Without the file, nothing is allowed; a binding naming a provider is then unusable. */
        {
                _cleanup_free_ char *p = path_of("cvmseal.conf");

                unlink(p);
        }
        assert_int_equal(hsm_provider_allowed("tpm2", NULL), -EPERM);
        assert_int_equal(hsm_binding_usable(&(struct hsm_binding) { .provider = (char *) "tpm2" }), -EBADMSG);
        assert_int_equal(hsm_binding_usable(&(struct hsm_binding) { .uri = (char *) "pkcs11:token=t" }), 0);
        write_file("cvmseal.conf", "hsm-provider = default\n");
        assert_int_equal(hsm_binding_usable(&(struct hsm_binding) { .provider = (char *) "default" }), 0);
}

/* ---- the private file of a key blob ---- */

static void check_file(const struct blob_file *f, const char *want) {
        char buf[64] = "";
        struct stat st;
        int fd = open(f->path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t) strlen(want));
        assert_string_equal(buf, want);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
        close(fd);
}

static void test_blob_file(void **state) {
        struct blob_file f = BLOB_FILE_NULL, g = BLOB_FILE_NULL, s = BLOB_FILE_NULL;
        _cleanup_free_ char *run = path_of("run");
        char path[sizeof(f.path)];

        /* A memfd, reached by path. */
        assert_int_equal(hsm_blob_file((const uint8_t *) "masked key", 10, false, NULL, true, &f), 0);
        assert_false(f.named);
        assert_memory_equal(f.path, "/proc/self/fd/", 14);
        check_file(&f, "masked key");
        hsm_blob_file_done(&f);
        assert_int_equal(f.fd, -1);

        /* A secret, in a locked mapping of a memfd. */
        assert_int_equal(hsm_blob_file((const uint8_t *) "rsa der", 7, true, NULL, true, &s), 0);
        assert_non_null(s.map);
        check_file(&s, "rsa der");
        hsm_blob_file_done(&s);

        /* Without a memfd: a 0600 file in a 0700 directory, gone afterwards. */
        assert_int_equal(hsm_blob_file((const uint8_t *) "masked key", 10, false, run, false, &g), 0);
        assert_true(g.named);
        assert_memory_equal(g.path, run, strlen(run));
        check_file(&g, "masked key");
        memcpy(path, g.path, sizeof(path));
        hsm_blob_file_done(&g);
        assert_int_equal(access(path, F_OK), -1);
        {
                struct stat st;

                assert_int_equal(stat(run, &st), 0);
                assert_int_equal(st.st_mode & 0777, 0700);
                /* A directory others can write is refused. */
                assert_int_equal(chmod(run, 0777), 0);
                assert_int_equal(hsm_blob_file((const uint8_t *) "x", 1, false, run, false, &g), -EPERM);
        }
}

/* ---- sealing and unsealing through the provider code (OpenSSL's default provider) ---- */

static const uint8_t aad[40] = "01234567-89ab-cdef-0123-456789abcdef\0\0\0\7";

static void roundtrip(const char *name, enum hsm_mechanism want) {
        _cleanup_free_ char *key = NULL, *other = NULL;
        _cleanup_secret_ cvmseal_secret *share = NULL, *back = NULL;
        _cleanup_(hsm_binding_done) struct hsm_binding b = {}, offline = {};
        hsm_key *k = NULL;
        uint8_t wrong[40];

        assert_true(asprintf(&key, "%s/%s.pem", dir, name) > 0);
        assert_int_equal(kdf_random_secret(32, &share), 0);

        assert_int_equal(hsm_key_open_provider("default", key, NULL, 0, &k), 0);
        /* A key file of the default provider hands out its private half: not fit unless allowed. */
        assert_int_equal(hsm_key_check(k, false), -EKEYEXPIRED);
        assert_int_equal(hsm_key_check(k, true), 0);
        assert_int_equal(hsm_seal(k, aad, sizeof(aad), share, &b), 0);
        assert_int_equal(b.mechanism, want);
        assert_int_equal(b.key_check_size, 32);
        assert_int_equal(hsm_unseal(k, &b, aad, sizeof(aad), &back), 0);
        assert_memory_equal(cvmseal_secret_data(back), cvmseal_secret_data(share), 32);
        cvmseal_secret_free(TAKE_PTR(back));

        /* Another volume or token: the same key refuses the binding as damaged. */
        memcpy(wrong, aad, sizeof(wrong));
        wrong[39] ^= 1;
        assert_int_equal(hsm_unseal(k, &b, wrong, sizeof(wrong), &back), -EBADMSG);
        /* A flipped ciphertext byte. */
        b.ciphertext[b.ciphertext_size / 2] ^= 1;
        assert_int_equal(hsm_unseal(k, &b, aad, sizeof(aad), &back), -EBADMSG);
        b.ciphertext[b.ciphertext_size / 2] ^= 1;
        if (b.ephemeral_size > 0) {
                /* A point off the curve. */
                b.ephemeral[b.ephemeral_size - 1] ^= 1;
                assert_int_equal(hsm_unseal(k, &b, aad, sizeof(aad), &back), -EBADMSG);
                b.ephemeral[b.ephemeral_size - 1] ^= 1;
        }

        /* Offline: sealed to the public half alone, the key opens it; the binding is the same kind. */
        {
                _cleanup_free_ char *pubname = NULL, *pubtext = NULL;

                assert_true(asprintf(&pubname, "%s.pub", name) > 0);
                pubtext = read_text(pubname);
                assert_int_equal(hsm_seal_public(pubtext, aad, sizeof(aad), share, &offline), 0);
        }
        assert_int_equal(offline.mechanism, want);
        assert_memory_equal(offline.key_check, b.key_check, 32);
        assert_int_equal(hsm_unseal(k, &offline, aad, sizeof(aad), &back), 0);
        assert_memory_equal(cvmseal_secret_data(back), cvmseal_secret_data(share), 32);
        cvmseal_secret_free(TAKE_PTR(back));
        hsm_key_free(TAKE_PTR(k));

        /* Another key under the same URI: the key check refuses it before any decryption. */
        assert_true(asprintf(&other, "%s/%s.pem", dir, want == HSM_RSA_OAEP_SHA256 ? "p256" : "other256") > 0);
        assert_int_equal(hsm_key_open_provider("default", other, NULL, 0, &k), 0);
        assert_int_equal(hsm_unseal(k, &b, aad, sizeof(aad), &back), -EKEYREVOKED);
        hsm_key_free(TAKE_PTR(k));

        /* The key as a blob kept in the token, through {key-blob}. */
        {
                uint8_t *blob = (uint8_t *) read_text(strrchr(key, '/') + 1);

                assert_int_equal(hsm_key_open_provider("default", "{key-blob}", blob, strlen((char *) blob), &k), 0);
                assert_int_equal(hsm_unseal(k, &b, aad, sizeof(aad), &back), 0);
                assert_memory_equal(cvmseal_secret_data(back), cvmseal_secret_data(share), 32);
                hsm_key_free(TAKE_PTR(k));
                assert_int_equal(hsm_key_open_provider("default", "file:{key-blob}", blob, strlen((char *) blob), &k), 0);
                hsm_key_free(TAKE_PTR(k));
                /* {key-blob} and a blob go together. */
                assert_int_equal(hsm_key_open_provider("default", "{key-blob}", NULL, 0, &k), -EINVAL);
                assert_int_equal(hsm_key_open_provider("default", key, blob, 3, &k), -EINVAL);
                free(blob);
        }
}

static void test_ecdh_p256(void **state) {
        roundtrip("p256", HSM_ECDH_P256);
}

static void test_ecdh_p384(void **state) {
        roundtrip("p384", HSM_ECDH_P384);
}

static void test_rsa_oaep(void **state) {
        roundtrip("rsa", HSM_RSA_OAEP_SHA256);
}

static void test_refusals(void **state) {
        _cleanup_free_ char *p521 = path_of("p521.pem"), *missing = path_of("missing.pem");
        _cleanup_secret_ cvmseal_secret *share = NULL;
        _cleanup_(hsm_binding_done) struct hsm_binding b = {};
        hsm_key *k = NULL;

        assert_int_equal(kdf_random_secret(32, &share), 0);
        /* Not allowed, not a bare name, not installed, no key there. */
        assert_int_equal(hsm_key_open_provider("tpm2", "handle:0x81000101", NULL, 0, &k), -EINVAL);
        assert_int_equal(hsm_key_open_provider("/tmp/x.so", "handle:0x81000101", NULL, 0, &k), -EINVAL);
        write_file("cvmseal.conf", "hsm-provider = default\nhsm-provider = cvmseal-no-such-provider\n");
        assert_int_equal(hsm_key_open_provider("cvmseal-no-such-provider", "handle:1", NULL, 0, &k), -ENOKEY);
        assert_int_equal(hsm_key_open_provider("default", missing, NULL, 0, &k), -ENOKEY);
        /* A curve the binding does not take. */
        assert_int_equal(hsm_key_open_provider("default", p521, NULL, 0, &k), 0);
        assert_int_equal(hsm_seal(k, aad, sizeof(aad), share, &b), -EKEYEXPIRED);
        hsm_key_free(k);
        /* Not a public key. */
        assert_int_equal(hsm_seal_public("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", aad,
                                         sizeof(aad), share, &b), -EKEYREJECTED);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_valid),
                cmocka_unit_test(test_json_bad),
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_blob_file),
                cmocka_unit_test(test_ecdh_p256),
                cmocka_unit_test(test_ecdh_p384),
                cmocka_unit_test(test_rsa_oaep),
                cmocka_unit_test(test_refusals),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
