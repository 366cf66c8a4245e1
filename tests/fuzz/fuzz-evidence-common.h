/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Synthetic evidence pieces the harnesses build for themselves (not real: nothing here verifies). */

#include "fuzz.h"

#define FUZZ_TDX_HEADER_SIZE 48U
#define FUZZ_TDX_BODY_SIZE 584U
#define FUZZ_TDX_QE_REPORT_SIZE 384U

/* A minimal TDX v4 quote that tdx_quote_parse() accepts: zero header fields other than the three it
 * checks, a zero TD report body, zero signatures, no QE authentication data, and PCK certification
 * data of type 3 (the PCK leaf's identity, not a chain: tdx_verify() then says "no chain" and goes
 * on to the policy).  Returns its size (at most FUZZ_TDX_MIN_QUOTE_SIZE). */
#define FUZZ_TDX_MIN_QUOTE_SIZE (FUZZ_TDX_HEADER_SIZE + FUZZ_TDX_BODY_SIZE + 4U + 134U + FUZZ_TDX_QE_REPORT_SIZE + 64U + 2U + 6U)

static inline size_t fuzz_tdx_min_quote(uint8_t q[FUZZ_TDX_MIN_QUOTE_SIZE]) {
        size_t off = 0;
        uint32_t qe_cert_size = FUZZ_TDX_QE_REPORT_SIZE + 64 + 2 + 6;

        memset(q, 0, FUZZ_TDX_MIN_QUOTE_SIZE);
        fuzz_put_le16(q, 4);            /* version */
        fuzz_put_le16(q + 2, 2);        /* ECDSA P-256 */
        fuzz_put_le32(q + 4, 0x81);     /* TDX */
        off = FUZZ_TDX_HEADER_SIZE + FUZZ_TDX_BODY_SIZE;
        fuzz_put_le32(q + off, 64 + 64 + 2 + 4 + qe_cert_size);
        off += 4 + 128;
        fuzz_put_le16(q + off, 6);      /* QE report certification data */
        fuzz_put_le32(q + off + 2, qe_cert_size);
        off += 6 + FUZZ_TDX_QE_REPORT_SIZE + 64;
        fuzz_put_le16(q + off, 0);      /* no QE authentication data */
        fuzz_put_le16(q + off + 2, 3);  /* PCK leaf identity */
        fuzz_put_le32(q + off + 4, 0);
        off += 8;
        return off;
}
