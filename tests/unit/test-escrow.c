/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The recovery escrow (src/lib/luks/escrow.c, docs/token-format.md "The recovery escrow"): only an RSA
 * key of 2048 to 4096 bits, as a whole DER SubjectPublicKeyInfo or a PEM public key, is taken; the
 * token written on a real LUKS2 image file has exactly the documented members, names its keyslot,
 * carries the SHA-256 of the key, and its ciphertext decrypts with the owner's private key under
 * RSA-OAEP with SHA-256 and MGF1-SHA-256 (and under no other digest) to the recovery key; a failure
 * writes nothing.  The keys below are test keys made with openssl for this file. */
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
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "encoding.h"
#include "escrow.h"
#include "luks.h"
#include "macro.h"
#include "secret.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

/* The recovery key's text, as enroll --recovery-key shows it. */
#define RECOVERY_KEY "0f1e2d3c-4b5a6978-8796a5b4-c3d2e1f0-00112233-44556677-8899aabb-ccddeeff"

static const char RSA2048_PRIVATE[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCm1wwdxyHTdrv4\n"
        "Z7U6bvMPqOGrnbUBZIlon2hWrOyo0VR6xhi4g0b2ftTsieWHCgAC5J/xsetcPnZs\n"
        "nf+iG4UrKGoBztODZRL+vnRvnONc6m2BaIML8tvEsn2IqV7H4dOdD91Ivz52avn7\n"
        "Dsgka4Tn6OJKR31EKzVjssO0/TdXgyw15aXZC8s/wyEs3Pc0J8BkHm1ERyXu5SqM\n"
        "oIyhVhEJsLy72pUxEJ01iLfQdjxNz1g+Gu18cPoC5TB6HHEpa4Ao1elK4M/ZF/Fq\n"
        "vnepfgmnM9rI3CqLyGVxFhk4GxI69MaoUeqDItspfVCBZ6y3821miYpsmt003lFK\n"
        "+nx0dj1xAgMBAAECggEAB10dVhMggxOyg6DQLcLscJft5xZZJbVyREq7unwy1deC\n"
        "1Cz6I3z6HNcQ0RIlCZjIiaFLVxMGrzFOAe1FB7qjy8K04e+Lll2g00j7iqPeoI6q\n"
        "jYFb9RDEKUbpyl04gtxDoseYeUoTBo3ZCrX44b4PafGHuQ+Q/YuKrEhmdA6P6sBA\n"
        "jsuLHHTRvJqjbGUunGRkUonuRkvl/XtVpC9UQghjrTbR5rDKATPykCOFlVAfCpgK\n"
        "KX3ki88yA/CrnuJ0M47DCjsyAcDhH8F84ABFjq4y33OblWS6s62NLaP3axFj+UQF\n"
        "qNfz9wN8m6RiQr0HlmmBJ9Uz0wcS7pq/7ib+6UW2IQKBgQDV6FQAAdymJ9b2hkhs\n"
        "KnDlqUGLw/Zy8TEyuHoYsKy/dvjv3G+qX/a8CSJILp+05AfFPLP3/veSvXC7ytAn\n"
        "bPuQN9waqlwQcmzjwUDK/iTYbzgg5GikNgTnKwduqkyNwLLPdndCDNmHAnaKjqLL\n"
        "hhxzpBiwvUnT+y74r/+ho3k6IwKBgQDHq60Xh0j+78j3JuFziLCfDCLnJTFeg2bS\n"
        "JNRIh3aLPGwE7O91NdI9DoeCkt6J52IB7ZKgEtbATjgcUp3XhCPmCtKxdrEzDjzm\n"
        "fO+UFR4wHJsqrrcU6h9CAv9ZnyHYZVIklUoZiIqM+OrXHqDEXfGdf1L9+c6JR3GT\n"
        "Fsa4mvjRWwKBgAKkznT5kOqUz3lYi4iata6A+whpMaCWDo+b7BZmCJyNMeJ1DQRE\n"
        "D16flkbiHKM1tkrfxzGnexPbN4t6pDv4gttzdUr3FBA3+dSOzOg1X+s05LKzX/+3\n"
        "kzPwOjVJ8YxG927M/ghY9E9Q3noz7Rsq2ysqugtlK4ZtMlVsh3JN/O+VAoGAKKCm\n"
        "9K2jTbROqPNxVkfO4F3g0DWCKSAFkObLhwKBPW2K8Smgw7Gy2JeXPRtTSq4ZBBlq\n"
        "B0YuCi0gP6sT0OFjSJCVNGTZQ3E3NRLg0LnHTbTUYcfxGsFUoOLpQDwf798V6rmx\n"
        "vSZKQsr3RdRGlA4ldo2Mvn7Q5p/x3SL6Rl/KFxcCgYEApMGtjsILnenh27ea7cSq\n"
        "kDdZaKSsGuflB+VUzajrEhkz6489pMpYafO6uwllJZzSD//k0T6NbfY+Ud304sws\n"
        "lxNCnYQxc/Jkv5TXcUQX+hPfFzNmvzSW7k3taPeORrNnPMM7bhLqiIJfMJWrGrJE\n"
        "kGTPLXjiQPqTqZ7V6Xig0iM=\n"
        "-----END PRIVATE KEY-----\n";

static const char RSA2048_PUBLIC[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAptcMHcch03a7+Ge1Om7z\n"
        "D6jhq521AWSJaJ9oVqzsqNFUesYYuING9n7U7InlhwoAAuSf8bHrXD52bJ3/ohuF\n"
        "KyhqAc7Tg2US/r50b5zjXOptgWiDC/LbxLJ9iKlex+HTnQ/dSL8+dmr5+w7IJGuE\n"
        "5+jiSkd9RCs1Y7LDtP03V4MsNeWl2QvLP8MhLNz3NCfAZB5tREcl7uUqjKCMoVYR\n"
        "CbC8u9qVMRCdNYi30HY8Tc9YPhrtfHD6AuUwehxxKWuAKNXpSuDP2Rfxar53qX4J\n"
        "pzPayNwqi8hlcRYZOBsSOvTGqFHqgyLbKX1QgWest/NtZomKbJrdNN5RSvp8dHY9\n"
        "cQIDAQAB\n"
        "-----END PUBLIC KEY-----\n";

static const char RSA2048_PKCS1[] =
        "-----BEGIN RSA PUBLIC KEY-----\n"
        "MIIBCgKCAQEAptcMHcch03a7+Ge1Om7zD6jhq521AWSJaJ9oVqzsqNFUesYYuING\n"
        "9n7U7InlhwoAAuSf8bHrXD52bJ3/ohuFKyhqAc7Tg2US/r50b5zjXOptgWiDC/Lb\n"
        "xLJ9iKlex+HTnQ/dSL8+dmr5+w7IJGuE5+jiSkd9RCs1Y7LDtP03V4MsNeWl2QvL\n"
        "P8MhLNz3NCfAZB5tREcl7uUqjKCMoVYRCbC8u9qVMRCdNYi30HY8Tc9YPhrtfHD6\n"
        "AuUwehxxKWuAKNXpSuDP2Rfxar53qX4JpzPayNwqi8hlcRYZOBsSOvTGqFHqgyLb\n"
        "KX1QgWest/NtZomKbJrdNN5RSvp8dHY9cQIDAQAB\n"
        "-----END RSA PUBLIC KEY-----\n";

static const char RSA2040_PUBLIC[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBITANBgkqhkiG9w0BAQEFAAOCAQ4AMIIBCQKCAQAAzVMRvjtcybb4/Yh/EyyB\n"
        "QoOrAIs60FzyXkw3WEVrsXBdUm7lMyMk5Jh/NCWzKgblHCnNW03a723Kfjdrgxjw\n"
        "UBbRsA5QZhcZagJqNPYEeLpPB8rtBG4zcqwx852j0qF3awzv6Dl44ZYzYvi+Dat8\n"
        "bUTdnJNrJsewpLf0Wa50eXKbZXFqo00sVkDFOrXlZy4KjaElQFySKSFZt2AJouOO\n"
        "U/YrzSiq14dwcZZPEqR2arnue3R+Bpywelrv7Sr2V6H6ZLDcSogeQxMdqnF4TK39\n"
        "djWmrd81AUgnTHYn64W0t2N0kA0jg6tl8slUi38ieoNMEquxaYzNZF7I0796mT1d\n"
        "AgMBAAE=\n"
        "-----END PUBLIC KEY-----\n";

static const char RSA4096_PUBLIC[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAuJNtyhcpbmcEu4QNLbUR\n"
        "ciUnfYsDIaWZ2Fkqr5LrrfkRh2hjBjoWvler5xgE/1SujhrtqS0fmMRUe9BjqQuP\n"
        "IhwCSc4XkQSeMo3cv0rUQqcnL2oeJis0EEEv9TkGLuzvfQwGIcQzHq2TRULUQLHp\n"
        "vCSRPPDAwOmwxPu4elw7Mvr6Yb4Pis3amKgyQACNe//Z5xWgxur+oG8L9uxqynNV\n"
        "wPMToeI83NFSIBAxfAvRmIpRQcpkyjYSo0b9GnbaVAwLtz+FXbuLTZHOvmHp8wBK\n"
        "64iBanA4VSHLkHO3WC/wGc5ngetk3iFJDzFH5P1ygybGislplAWyVHXKEhOM0fgK\n"
        "TytWB30VfBWJYBfK1ucY4i8Y+1xdFadrD4iIaN8cW8Lw51PuIawidq5LVV1VRgtB\n"
        "b5u10N2ASVnZmdfaQHxPGUdZbfpY4IhaTwV1LVjOHNrE/p871hsRqQUf/lM/l+MX\n"
        "IGpTVXdrUN+qoEkq/hn2iVw+TsQotLK69Edzq8N/vSeqQcbNDcaSCuozTiRy/4Js\n"
        "s6KsZtV3qoMuI7E6LB3gMpp7wZogx8CAQKb+dFyjhKTakQSpViFa+YEHEi9Iwdah\n"
        "IecSJjSU7wCxIXE22Jptc67QhuNGaQPdYX4YsFrJ5Llq9/tiDSRn2CHtHWqNR9aY\n"
        "P6bng21WlDBUnDx5/k6ZFMkCAwEAAQ==\n"
        "-----END PUBLIC KEY-----\n";

static const char RSA4104_PUBLIC[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIICIzANBgkqhkiG9w0BAQEFAAOCAhAAMIICCwKCAgIAqipu3dMmf5ScET5CE80S\n"
        "Gzf8R5xLkqSGrI+XKjKTY6BRJGnL7t8ufdCAQu7JvFZJ60aDVcawaNrGC41hC/38\n"
        "gyJebaX6ugL1NEnf96i3tMXmPlmzmoI0ObzLoh6MJeS5Kuxjvm+J1zR+cIvSj1q2\n"
        "ozBVJKlL1j85PoOC2kSwXW4tHLieQW9QmKJeovfHxxdScaJv9Cha067HWWif0MCT\n"
        "bUDh4VpAjVrNEou6h2UnN7zPpsGwIFgqG9XwKlAjj16CrQglWxTovmQaZcltJcGJ\n"
        "NdgpynK7iJ4WxTrgVETyIv94nQDoPFBXb8R+VY1WOSJHVbjAdaEOCKmJMoSDQCxk\n"
        "/liFcaeoqOyoJY8FkMKJuvHCbvbqBd82Dkv3tjimP56TMA0RrERm1eh+qQgZxbqx\n"
        "GYp5VJOeHft4vnoruVumYoxAkT/mOIkoAW8XUGczrp2pgOPeqE3aEkWu9+xAOvEM\n"
        "SnZnkzvbFe32twG6jzZo/EQqDy45k1bwCF2oE+gnaWpeLlHIvgZvP0kp9Eh2phLW\n"
        "uoTgjUmfDnkhEk3ApvK6mPdDkWw9GM/C5M3TKJeAqo2vk3y8UHPPdBzjivle8Tkq\n"
        "Nh2QJIcaQGhRlPVOsbQ1NNd8pJgQsA4djCi5gWbWm17LLhoEEQ7Wtt4oUE+1k5T/\n"
        "+qYHYFSL6eEmLT2zY3N7SABtAgMBAAE=\n"
        "-----END PUBLIC KEY-----\n";

static const char EC_P256_PUBLIC[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEENDPcT2olcClqwZbzLeo2MgmDTKk\n"
        "XhgTtnx2sHHWBbma1/x1K0enGFoGPcaFMun5taRnS/hWpYGjVWLh9losyw==\n"
        "-----END PUBLIC KEY-----\n";

static const char RSA_PSS_PUBLIC[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIDALBgkqhkiG9w0BAQoDggEPADCCAQoCggEBAI6HwfGxAAfryD8SpxkHeR+7\n"
        "5KPFE7uafROQm2QCq8BcbeDXFLGN98fPCGX+f58XfdDBxfEE3K+QGXCS64FuSK/x\n"
        "qwGkP6+jKxnPxcSTVPafGugb2XCAawywZtkbRV35atyohwlVznpMO6xmGfvuZbk9\n"
        "S/yL4foBo5NOlzyUZ2VQyjPmA6geryXMCLkQCx/AI8i/pkRfqqhO/OfmlroH0kcX\n"
        "cI8pjv/+z3aFP1L0nlIbSeRYmeOMbVaG/56PAfA46j2eFgVmmsBJeMfw24dflCKO\n"
        "itdyrfiVHybjbxwWaaBjO/QEDae3YP2dfGYgWFFmSjEVAXMLmBnPI9Q4Monlb6UC\n"
        "AwEAAQ==\n"
        "-----END PUBLIC KEY-----\n";

static char dir[64], image[96];

static int setup(void **state) {
        struct crypt_pbkdf_type fast = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
                                         .flags = CRYPT_PBKDF_NO_BENCHMARK };
        struct crypt_device *cd = NULL;
        int fd;

        snprintf(dir, sizeof(dir), "/tmp/cvmseal-test-escrow.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(image, sizeof(image), "%s/img", dir);
        fd = open(image, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 16 << 20), 0);
        close(fd);
        assert_int_equal(crypt_init(&cd, image), 0);
        assert_int_equal(crypt_set_pbkdf_type(cd, &fast), 0);
        assert_int_equal(crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, NULL), 0);
        assert_int_equal(crypt_keyslot_add_by_volume_key(cd, 0, NULL, 64, "original", 8), 0);
        crypt_free(cd);
        return 0;
}

static int teardown(void **state) {
        unlink(image);
        rmdir(dir);
        return 0;
}

/* The DER inside a PEM block: its base64 body, decoded independently of OpenSSL's PEM reader. */
static uint8_t *pem_der(const char *pem, size_t *ret_size) {
        _cleanup_free_ char *body = calloc(strlen(pem) + 1, 1);
        const char *p = strchr(pem, '\n') + 1, *end = strstr(pem, "-----END");
        uint8_t *der = NULL;
        size_t n = 0;

        assert_non_null(body);
        for (; p < end; p++)
                if (*p != '\n')
                        body[n++] = *p;
        assert_int_equal(base64_decode(body, &der, ret_size), 0);
        return der;
}

static int token_count(struct crypt_device *cd) {
        int n = 0;

        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                n += crypt_token_status(cd, id, NULL) != CRYPT_TOKEN_INACTIVE;
        return n;
}

/* RSA-OAEP decryption with the owner's private key and the given OAEP and MGF1 digests; -1 on failure. */
static int owner_decrypt(const char *md, const uint8_t *ct, size_t ct_size, uint8_t *out, size_t *out_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        BIO *b = BIO_new_mem_buf(RSA2048_PRIVATE, -1);

        assert_non_null(b);
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        assert_non_null(k);
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        assert_non_null(ctx);
        assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, md, NULL), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, md, NULL), 1);
        return EVP_PKEY_decrypt(ctx, out, out_size, ct, ct_size) == 1 ? 0 : -1;
}

static void test_key_check(void **state) {
        static const char *const good[] = { RSA2048_PUBLIC, RSA4096_PUBLIC };
        static const char *const bad[] = { RSA2040_PUBLIC, RSA4104_PUBLIC, EC_P256_PUBLIC, RSA_PSS_PUBLIC };
        _cleanup_free_ uint8_t *big = NULL;
        uint8_t *der;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                der = pem_der(good[i], &n);
                assert_int_equal(escrow_key_check(der, n), 0);
                /* A DER with a byte more, or a byte less, is not the key. */
                assert_int_equal(escrow_key_check(der, n - 1), -EINVAL);
                der = realloc(der, n + 1);
                assert_non_null(der);
                der[n] = 0;
                assert_int_equal(escrow_key_check(der, n + 1), -EINVAL);
                free(der);
        }
        /* Under 2048 bits, over 4096 bits, not RSA, RSA-PSS: refused. */
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                der = pem_der(bad[i], &n);
                if (escrow_key_check(der, n) != -EINVAL)
                        fail_msg("key %zu was accepted", i);
                free(der);
        }
        /* PKCS#1 RSAPublicKey is not a SubjectPublicKeyInfo. */
        der = pem_der(RSA2048_PKCS1, &n);
        assert_int_equal(escrow_key_check(der, n), -EINVAL);
        free(der);

        assert_int_equal(escrow_key_check(NULL, 10), -EINVAL);
        der = pem_der(RSA2048_PUBLIC, &n);
        assert_int_equal(escrow_key_check(der, 0), -EINVAL);
        /* Longer than any key of 4096 bits: refused before it is parsed. */
        big = calloc(ESCROW_KEY_MAX + 1, 1);
        assert_non_null(big);
        memcpy(big, der, n);
        assert_int_equal(escrow_key_check(big, ESCROW_KEY_MAX + 1), -EINVAL);
        free(der);
}

static void test_key_from_pem(void **state) {
        static const char *const bad[] = {
                RSA2040_PUBLIC, RSA4104_PUBLIC, EC_P256_PUBLIC, RSA_PSS_PUBLIC,
                RSA2048_PRIVATE,               /* the owner's private key must never go into an image */
                "", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "MIIBIjANBgkqhkiG9w0B",
        };
        uint8_t *der = (uint8_t *) "untouched", *want;
        size_t n = 12345, want_size;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (escrow_key_from_pem(bad[i], &der, &n) != -EINVAL)
                        fail_msg("PEM %zu was accepted", i);
                assert_string_equal((const char *) der, "untouched");
                assert_int_equal(n, 12345);
        }

        want = pem_der(RSA4096_PUBLIC, &want_size);
        assert_int_equal(escrow_key_from_pem(RSA4096_PUBLIC, &der, &n), 0);
        assert_int_equal(n, want_size);
        assert_memory_equal(der, want, n);
        free(der);
        free(want);

        /* OpenSSL reads a PKCS#1 "RSA PUBLIC KEY" too: it comes out as the same SubjectPublicKeyInfo. */
        want = pem_der(RSA2048_PUBLIC, &want_size);
        assert_int_equal(escrow_key_from_pem(RSA2048_PKCS1, &der, &n), 0);
        assert_int_equal(n, want_size);
        assert_memory_equal(der, want, n);
        free(der);
        free(want);
}

static void test_token_add(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *rk = cvmseal_secret_new_from(RECOVERY_KEY, strlen(RECOVERY_KEY));
        _cleanup_(json_object_putp) json_object *j = NULL;
        _cleanup_free_ uint8_t *der = NULL, *ct = NULL;
        _cleanup_free_ char *first_ct = NULL, *fp = NULL;
        static const char *const members[] = { "type", "keyslots", "version", "key-sha256", "ciphertext" };
        const struct crypt_pbkdf_type fast = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
                                               .flags = CRYPT_PBKDF_NO_BENCHMARK };
        uint8_t digest[32], plain[512];
        size_t der_size, ct_size, plain_size = sizeof(plain);
        unsigned dn = 0;
        const char *json = NULL;
        json_object *v;
        int id;

        assert_non_null(rk);
        der = pem_der(RSA2048_PUBLIC, &der_size);
        assert_int_equal(luks_open(image, &cd), 0);
        /* The recovery keyslot: keyslot 1, for the recovery key's text. */
        assert_int_equal(crypt_set_pbkdf_type(cd, &fast), 0);
        assert_int_equal(crypt_keyslot_add_by_passphrase(cd, 1, "original", 8, RECOVERY_KEY, strlen(RECOVERY_KEY)), 1);
        assert_int_equal(crypt_token_json_set(cd, 0, "{\"type\":\"cvmseal-test\",\"keyslots\":[]}"), 0);

        id = escrow_token_add(cd, 1, der, der_size, rk);
        assert_int_equal(id, 1);                    /* the first free token */
        assert_int_equal(crypt_token_is_assigned(cd, id, 1), 0);
        assert_int_equal(crypt_token_is_assigned(cd, id, 0), -ENOENT);
        assert_int_equal(crypt_token_json_get(cd, id, &json), id);
        j = json_tokener_parse(json);
        assert_non_null(j);

        /* Exactly the documented members. */
        assert_int_equal(json_object_object_length(j), ELEMENTSOF(members));
        for (size_t i = 0; i < ELEMENTSOF(members); i++)
                assert_true(json_object_object_get_ex(j, members[i], NULL));
        assert_true(json_object_object_get_ex(j, "type", &v));
        assert_string_equal(json_object_get_string(v), ESCROW_TOKEN_TYPE);
        assert_true(json_object_object_get_ex(j, "keyslots", &v));
        assert_int_equal(json_object_array_length(v), 1);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "1");
        assert_true(json_object_object_get_ex(j, "version", &v));
        assert_true(json_object_is_type(v, json_type_int));
        assert_int_equal(json_object_get_int(v), 1);

        assert_int_equal(EVP_Digest(der, der_size, digest, &dn, EVP_sha256(), NULL), 1);
        fp = hex_encode(digest, sizeof(digest));
        assert_non_null(fp);
        assert_true(json_object_object_get_ex(j, "key-sha256", &v));
        assert_string_equal(json_object_get_string(v), fp);

        /* The owner decrypts the recovery key's text; under SHA-1 OAEP it does not decrypt. */
        assert_true(json_object_object_get_ex(j, "ciphertext", &v));
        first_ct = strdup(json_object_get_string(v));
        assert_non_null(first_ct);
        assert_int_equal(base64_decode(first_ct, &ct, &ct_size), 0);
        assert_int_equal(ct_size, 256);
        assert_null(strstr(json, RECOVERY_KEY));
        assert_int_equal(owner_decrypt("SHA256", ct, ct_size, plain, &plain_size), 0);
        assert_int_equal(plain_size, strlen(RECOVERY_KEY));
        assert_memory_equal(plain, RECOVERY_KEY, plain_size);
        plain_size = sizeof(plain);
        assert_int_equal(owner_decrypt("SHA1", ct, ct_size, plain, &plain_size), -1);

        /* A second escrow: the next token, another ciphertext (OAEP is randomised). */
        id = escrow_token_add(cd, 1, der, der_size, rk);
        assert_int_equal(id, 2);
        assert_int_equal(crypt_token_json_get(cd, id, &json), id);
        assert_null(strstr(json, first_ct));
}

/* Every refusal writes nothing. */
static void test_token_add_refused(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *rk = cvmseal_secret_new_from(RECOVERY_KEY, strlen(RECOVERY_KEY)),
                                        *longest = cvmseal_secret_new(190), *too_long = cvmseal_secret_new(191);
        _cleanup_free_ uint8_t *der = NULL, *small = NULL, *ec = NULL;
        size_t der_size, small_size, ec_size;

        der = pem_der(RSA2048_PUBLIC, &der_size);
        small = pem_der(RSA2040_PUBLIC, &small_size);
        ec = pem_der(EC_P256_PUBLIC, &ec_size);
        assert_int_equal(luks_open(image, &cd), 0);

        assert_int_equal(escrow_token_add(cd, 0, small, small_size, rk), -EINVAL);
        assert_int_equal(escrow_token_add(cd, 0, ec, ec_size, rk), -EINVAL);
        assert_int_equal(escrow_token_add(cd, 0, NULL, 0, rk), -EINVAL);
        assert_int_equal(escrow_token_add(cd, 0, der, der_size - 1, rk), -EINVAL);
        assert_int_equal(token_count(cd), 0);

        /* RSA-OAEP-SHA256 under a 2048-bit key holds at most 256 - 2 * 32 - 2 = 190 bytes. */
        assert_non_null(longest);
        assert_non_null(too_long);
        assert_int_equal(escrow_token_add(cd, 0, der, der_size, too_long), -EIO);
        assert_int_equal(token_count(cd), 0);
        assert_int_equal(escrow_token_add(cd, 0, der, der_size, longest), 0);
        assert_int_equal(crypt_token_json_set(cd, 0, NULL), 0);

        /* A keyslot that does not exist: libcryptsetup refuses the token (with -EINVAL, which
         * escrow_token_add() reports as -ENOSPC: older libcryptsetup said -EINVAL for a full area). */
        assert_true(escrow_token_add(cd, 5, der, der_size, rk) < 0);
        assert_int_equal(token_count(cd), 0);

        /* No free token. */
        for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++)
                assert_int_equal(crypt_token_json_set(cd, id, "{\"type\":\"cvmseal-test\",\"keyslots\":[]}"), id);
        assert_int_equal(escrow_token_add(cd, 0, der, der_size, rk), -ENOSPC);
}

/* A full metadata area (4096-bit ciphertexts fill it before the tokens run out) is -ENOSPC. */
static void test_metadata_full(void **state) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_secret_ cvmseal_secret *rk = cvmseal_secret_new_from(RECOVERY_KEY, strlen(RECOVERY_KEY));
        _cleanup_free_ uint8_t *der = NULL;
        size_t der_size;
        int r, n = 0;

        der = pem_der(RSA4096_PUBLIC, &der_size);
        assert_int_equal(luks_open(image, &cd), 0);
        while ((r = escrow_token_add(cd, 0, der, der_size, rk)) >= 0)
                n++;
        assert_int_equal(r, -ENOSPC);
        assert_true(n > 0 && n < crypt_token_max(CRYPT_LUKS2));
        assert_int_equal(token_count(cd), n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_check),
                cmocka_unit_test(test_key_from_pem),
                cmocka_unit_test_setup_teardown(test_token_add, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token_add_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_metadata_full, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
