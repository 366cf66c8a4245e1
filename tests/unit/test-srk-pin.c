/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pinned SRK (src/lib/tpm/srk-pin.c): trust on first use, never replaced, a token that names
 * another SRK refused (-EREMCHG, exit 3), a damaged pin an error of this machine (-EIO), and a key
 * that is no storage key never pinned.  The SRKs are public areas of cvmseal's template with made-up
 * points: nothing here needs a TPM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <tss2/tss2_mu.h>

#include "config.h"
#include "macro.h"
#include "srk-pin.h"
#include "tpm2-duplicate.h"

static char dir[64];

static int setup(void **state) {
        snprintf(dir, sizeof(dir), "/tmp/cvmseal-test-srk-pin.XXXXXX");
        assert_non_null(mkdtemp(dir));
        assert_int_equal(setenv("CVMSEAL_CONFDIR", dir, 1), 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        unsetenv("CVMSEAL_CONFDIR");
        return 0;
}

/* A marshalled TPM2B_PUBLIC of the TCG ECC P-256 storage key template, its point filled with seed. */
static size_t srk(uint8_t seed, TPMA_OBJECT extra, uint8_t buf[sizeof(TPM2B_PUBLIC)]) {
        TPM2B_PUBLIC pub = {
                .publicArea = {
                        .type = TPM2_ALG_ECC,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | extra,
                        .parameters.eccDetail = {
                                .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                                .scheme = { .scheme = TPM2_ALG_NULL },
                                .curveID = TPM2_ECC_NIST_P256,
                                .kdf = { .scheme = TPM2_ALG_NULL },
                        },
                        .unique.ecc = { .x = { .size = 32 }, .y = { .size = 32 } },
                },
        };
        size_t off = 0;

        memset(pub.publicArea.unique.ecc.x.buffer, seed, 32);
        memset(pub.publicArea.unique.ecc.y.buffer, seed ^ 0x5a, 32);
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(TPM2B_PUBLIC), &off), TSS2_RC_SUCCESS);
        return off;
}

static void name_of(const uint8_t *buf, size_t size, TPM2B_NAME *ret) {
        TPM2B_PUBLIC pub;

        assert_int_equal(tpm2_srk_public_parse(buf, size, &pub, ret), 0);
        assert_int_equal(ret->size, 34);
}

static void test_first_use(void **state) {
        uint8_t a[sizeof(TPM2B_PUBLIC)], b[sizeof(TPM2B_PUBLIC)];
        size_t na = srk(1, 0, a), nb = srk(2, 0, b);
        TPM2B_NAME name_a, name_b, loaded;
        bool pinned = true;

        name_of(a, na, &name_a);
        name_of(b, nb, &name_b);

        /* Nothing pinned: every name passes, and says so. */
        assert_int_equal(srk_pin_load(&loaded), -ENOENT);
        assert_int_equal(srk_pin_check(name_b.name, name_b.size, &pinned), 0);
        assert_false(pinned);

        /* The first save pins; a second of the same SRK changes nothing. */
        assert_int_equal(srk_pin_save(a, na), 1);
        assert_int_equal(srk_pin_save(a, na), 0);
        assert_int_equal(srk_pin_load(&loaded), 0);
        assert_memory_equal(loaded.name, name_a.name, 34);
        assert_int_equal(srk_pin_check(name_a.name, name_a.size, &pinned), 0);
        assert_true(pinned);

        /* Another SRK (another TPM, or a forged channel) is refused and never replaces the pin. */
        assert_int_equal(srk_pin_check(name_b.name, name_b.size, &pinned), -EREMCHG);
        assert_int_equal(srk_pin_save(b, nb), -EREMCHG);
        assert_int_equal(srk_pin_load(&loaded), 0);
        assert_memory_equal(loaded.name, name_a.name, 34);
        /* A name of another length is no match either. */
        assert_int_equal(srk_pin_check(name_a.name, 33, &pinned), -EREMCHG);
}

static void test_not_a_storage_key(void **state) {
        uint8_t a[sizeof(TPM2B_PUBLIC)];
        size_t n = srk(3, TPMA_OBJECT_SIGN_ENCRYPT, a);
        TPM2B_NAME loaded;

        assert_true(srk_pin_save(a, n) < 0);
        assert_true(srk_pin_save(a, n - 1) < 0);   /* truncated */
        assert_int_equal(srk_pin_load(&loaded), -ENOENT);
}

static void test_damaged_pin(void **state) {
        uint8_t a[sizeof(TPM2B_PUBLIC)];
        size_t n = srk(4, 0, a);
        TPM2B_NAME name;
        bool pinned;
        char path[128];
        FILE *f;

        name_of(a, n, &name);
        snprintf(path, sizeof(path), "%s/%s", dir, CONFIG_SRK_PIN);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(a, 1, n / 2, f), n / 2);
        assert_int_equal(fclose(f), 0);

        /* A pin file that does not parse: this machine's error (exit 1), not "nothing pinned". */
        assert_int_equal(srk_pin_load(&name), -EIO);
        assert_int_equal(srk_pin_check(name.name, name.size, &pinned), -EIO);
        assert_int_equal(srk_pin_save(a, n), -EIO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_first_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_storage_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged_pin, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
