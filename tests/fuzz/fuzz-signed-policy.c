/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The signed-policy document (`policy sign`, read at unlock from /etc/cvmseal/signed-policies, which
 * anyone who can write the disk controls): signed_policy_parse(), and for a document that parses,
 * signed_policy_verify() with the key it names when that is one of two fixed test keys (RSA-2048 and
 * ECC P-256, the unit test's), otherwise with both (other key: refused).  The committed corpus holds
 * documents those keys signed, so mutations reach the signature checks.  A document that verifies
 * must keep verifying after a round trip of its PCR values through the pcr-values writer.
 */
#include "fuzz.h"
#include "macro.h"
#include "signed-policy.h"

static const char rsa_pub[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkqsDFEn0k2qYXR1/RVpX\n"
        "6YhYpicOxIuULFwy3fLu8VFzESlYqTqy555N6wNla3NGVNoCXT/AUhw1ANOvtLr3\n"
        "bleMdqZE1RjWdHipA5KxglgMiTOMycJtQDRxfIUkANK93oAeYf6iMWe7wYtmUoRH\n"
        "VlK8E5wyqEH9k6594flPCsY2HTYRzTXrQAHNyKxrzbZskR39WxWgQAEfeb+r8wnp\n"
        "8NsSfnUyt6a0U+e6WY9dT+gynpniRZp3JFb681+EmZGG+tozmFYqx3MIfdSZmdq6\n"
        "Y2/UGEl8ncpT9IMvSJDiLP6DZrCMO6Q5Hp1Qu1fEpHZ1fUKyGHHwnV2HYTC7oR+b\n"
        "pQIDAQAB\n"
        "-----END PUBLIC KEY-----\n";

static const char ec_pub[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEptS1ddhcjnRCOXi9Hvx7lt7dGNja\n"
        "Y+08vP0Ka6tsiJjREE/jeJLtny6y2g5YBvmUSnZTwS7QkE0Gkw1eFWVIQA==\n"
        "-----END PUBLIC KEY-----\n";

static TPM2B_PUBLIC keys[2];
static TPM2B_NAME names[2];
static bool ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct signed_policy p;
        bool named = false;

        fuzz_setup_log();
        if (!ready) {
                if (signed_policy_key_from_pem(rsa_pub, strlen(rsa_pub), &keys[0]) < 0 ||
                    signed_policy_key_from_pem(ec_pub, strlen(ec_pub), &keys[1]) < 0 ||
                    signed_policy_key_name(&keys[0], &names[0]) < 0 || signed_policy_key_name(&keys[1], &names[1]) < 0)
                        abort();
                ready = true;
        }
        if (size > 256 * 1024)
                return 0;
        if (signed_policy_parse((const char *) data, size, &p) < 0) {
                ERR_clear_error();
                return 0;
        }

        for (unsigned k = 0; k < 2; k++) {
                bool mine = p.key_name.size == names[k].size && memcmp(p.key_name.name, names[k].name, 34) == 0;
                int r = signed_policy_verify(&p, &keys[k], p.pcrs.mask);

                named |= mine;
                if (!mine)
                        FUZZ_ASSERT(r < 0); /* another key's name never verifies */
                if (r == 0) {
                        /* What verified, verifies again from its re-written PCR values. */
                        _cleanup_(json_object_putp) json_object *j = NULL;
                        struct signed_policy q = p;
                        const char *s;

                        FUZZ_ASSERT(pcr_values_to_json(&p.pcrs, &j) == 0);
                        s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
                        FUZZ_ASSERT(s && pcr_values_parse(s, strlen(s), &q.pcrs) == 0);
                        q.path = NULL;
                        FUZZ_ASSERT(signed_policy_verify(&q, &keys[k], p.pcrs.mask) == 0);
                }
        }
        (void) named;
        signed_policy_done(&p);
        ERR_clear_error();
        return 0;
}
