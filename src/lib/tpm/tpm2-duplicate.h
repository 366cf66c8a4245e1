/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Offline sealing: the sealed object is made in software and wrapped for a target TPM's SRK as a
 * TPM2_Import blob (TPM 2.0 Part 1, "Duplication": no inner wrapper, an outer wrapper keyed by a seed
 * that only the SRK can recover), as tpm2_duplicate and systemd-cryptenroll --tpm2-device-key do.
 * Nothing here touches a TPM.
 */

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "cvmseal.h"
#include "tpm2.h"

/* KDFa (Part 1, 11.4.10.2): SP 800-108 counter mode with HMAC(hash) over
 * [i]32 || label || 0x00 || contextU || contextV || [8 * out_size]32.  OpenSSL's KBKDF. */
int tpm2_kdfa(TPMI_ALG_HASH hash, const void *key, size_t key_size, const char *label, const void *context_u,
              size_t context_u_size, const void *context_v, size_t context_v_size, void *out, size_t out_size);

/* KDFe (Part 1, 11.4.10.3): SP 800-56C one-step with hash over
 * [i]32 || Z || label || 0x00 || partyUInfo || partyVInfo.  OpenSSL's SSKDF. */
int tpm2_kdfe(TPMI_ALG_HASH hash, const void *z, size_t z_size, const char *label, const void *party_u,
              size_t party_u_size, const void *party_v, size_t party_v_size, void *out, size_t out_size);

/* An object's name: nameAlg (big-endian) || H_nameAlg(marshalled TPMT_PUBLIC). */
int tpm2_public_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *ret);

/* A target SRK from its marshalled TPM2B_PUBLIC (what `cvmseal srk export` and `tpm2_readpublic -o`
 * write): it must unmarshal exactly and be a storage key that can import (restricted decrypt RSA
 * 2048-4096 or ECC P-256/P-384/P-521, AES-CFB, nameAlg sha256 or sha384).  -EBADMSG when it is no
 * TPM2B_PUBLIC, -EOPNOTSUPP when it is another kind of key.  ret_name (optional) gets its name. */
int tpm2_srk_public_parse(const uint8_t *buf, size_t size, TPM2B_PUBLIC *ret_public, TPM2B_NAME *ret_name);

/* The outer wrapper of (object, sensitive) for parent: a fresh seed, encrypted to parent (RSA-OAEP
 * or ECDH + KDFe, label "DUPLICATE"), then symKey = KDFa(seed, "STORAGE", name) and
 * HMACkey = KDFa(seed, "INTEGRITY"); duplicate = HMAC size || HMAC(encSensitive || name) ||
 * AES-CFB(symKey, IV 0, TPM2B_SENSITIVE). */
int tpm2_duplicate_wrap(const TPM2B_PUBLIC *parent, const TPM2B_PUBLIC *object, const TPMT_SENSITIVE *sensitive,
                        TPM2B_PRIVATE *ret_duplicate, TPM2B_ENCRYPTED_SECRET *ret_seed);

/* Seals data to policy (a digest computed by tpm2_policy_digest()) with authValue auth (NULL: empty)
 * for the TPM whose SRK is srk: a keyedhash object like tpm2_seal_policy()'s, except that fixedTPM and fixedParent are clear (an
 * imported object cannot have them), wrapped by tpm2_duplicate_wrap().  ret->private is the
 * duplicate and ret->seed the encrypted seed: tpm2_unseal() imports it before Load. */
int tpm2_seal_offline(const TPM2B_PUBLIC *srk, const TPM2B_DIGEST *policy, const TPM2B_AUTH *auth, bool noda,
                      const cvmseal_secret *data, struct tpm2_sealed *ret);

/* The encrypted seed as the token keeps it: a marshalled TPM2B_ENCRYPTED_SECRET.  Unmarshalling is
 * exact (no trailing bytes, not empty), else -EBADMSG. */
int tpm2_import_seed_marshal(const TPM2B_ENCRYPTED_SECRET *seed, uint8_t **ret, size_t *ret_size);
int tpm2_import_seed_unmarshal(const uint8_t *buf, size_t size, TPM2B_ENCRYPTED_SECRET *ret);
