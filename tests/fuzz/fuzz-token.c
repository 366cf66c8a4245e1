/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cvmseal LUKS2 token: token_from_string(), and for a token that parses, tpm2_sealed_unmarshal()
 * of its public and private blobs and its SRK name (what unlock does before it talks to the TPM),
 * then token_to_json() and a second parse of that (a parsed token must serialize to a token that
 * parses the same).
 *
 * Input: a token's JSON text, or (first byte below 0x08) the binary mode, so that mutations of the
 * TPM blobs need not keep base64 valid: 0x0N | u16 LE public size | public | private, wrapped into a
 * well-formed token (N & 1: with an HSM binding, N & 2: with an attestation policy, N & 4: with a PIN).
 */
#include <stdio.h>

#include "encoding.h"
#include "fuzz.h"
#include "macro.h"
#include "token.h"
#include "tpm2.h"

static void check_token(const struct token *t) {
        struct tpm2_sealed sealed;
        json_object *j = NULL;
        struct token again = {};

        (void) tpm2_sealed_unmarshal(t->tpm2.public, t->tpm2.public_size, t->tpm2.private, t->tpm2.private_size,
                                     t->tpm2.srk_name, t->tpm2.srk_name_size, &sealed);

        /* What parsed serializes to a token that parses again, to the same blobs. */
        if (token_to_json(t, &j) < 0)
                return;
        if (token_from_json(j, &again) < 0 || again.keyslot != t->keyslot ||
            again.tpm2.pcr_mask != t->tpm2.pcr_mask || again.tpm2.public_size != t->tpm2.public_size ||
            memcmp(again.tpm2.public, t->tpm2.public, t->tpm2.public_size) != 0 ||
            again.tpm2.private_size != t->tpm2.private_size ||
            memcmp(again.tpm2.private, t->tpm2.private, t->tpm2.private_size) != 0 ||
            again.has_hsm != t->has_hsm || again.attest_policy_size != t->attest_policy_size) {
                fprintf(stderr, "a parsed token does not round-trip through token_to_json()\n");
                abort();
        }
        token_done(&again);
        json_object_put(j);
}

static void run_json(const char *s) {
        struct token t = {};

        if (token_from_string(s, &t) < 0)
                return;
        check_token(&t);
        token_done(&t);
}

static void run_binary(const uint8_t *data, size_t size) {
        _cleanup_free_ char *pub = NULL, *priv = NULL, *json = NULL;
        uint8_t mode = data[0];
        size_t pub_size;
        int n;

        if (size < 3)
                return;
        pub_size = (size_t) data[1] | (size_t) data[2] << 8;
        data += 3;
        size -= 3;
        if (pub_size > size)
                pub_size = size;
        pub = base64_encode(data, pub_size);
        priv = base64_encode(data + pub_size, size - pub_size);
        if (!pub || !priv)
                return;
        n = asprintf(&json,
                     "{\"type\":\"cvmseal\",\"keyslots\":[\"1\"],\"version\":1,"
                     "\"kdf\":{\"type\":\"hkdf-sha256\",\"salt\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"},"
                     "\"tpm2\":{\"srk-handle\":2164260865,"
                     "\"srk-name\":\"000b0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\","
                     "\"pcr-bank\":\"sha256\",\"pcrs\":[7,14],\"pin\":%s,"
                     "\"policy\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
                     "\"public\":\"%s\",\"private\":\"%s\"}%s%s}",
                     mode & 4 ? "true" : "false", pub, priv,
                     mode & 1 ? ",\"hsm\":{\"uri\":\"pkcs11:token=cvmseal;object=share;type=secret-key\","
                                "\"mechanism\":\"aes-256-gcm\",\"iv\":\"AAECAwQFBgcICQoL\",\"key-check\":\"0a0b0c\","
                                "\"ciphertext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\","
                                "\"pin\":false}" : "",
                     mode & 2 ? ",\"attest\":{\"policy\":\"eyJ2ZXJzaW9uIjoxLCJyZXF1aXJlIjpbInNucCJdfQ==\"}" : "");
        if (n < 0) {
                json = NULL;
                return;
        }
        run_json(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;

        fuzz_setup_log();
        if (size > 256 * 1024)   /* a LUKS2 header's JSON area is at most 4 MiB; tokens are small */
                return 0;
        if (size > 0 && data[0] < 0x08)
                run_binary(data, size);
        else {
                s = fuzz_strndup(data, size);
                if (s)
                        run_json(s);
        }
        ERR_clear_error();
        return 0;
}
