/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one table of library errors: for each negative errno that the operations return, the exit
 * code of the command-line contract (DESIGN, "Command-line contract") and the operator's words.
 * The command line (tools/) and the token plugin (src/token/) both print these words, so that a
 * refusal reads the same at a shell and in cryptsetup's log (ops/error-message.c adds the device,
 * the token and the TCTI).
 */
#include <errno.h>
#include <string.h>

#include "cvmseal.h"
#include "macro.h"

static const struct error_entry {
        int errnum;
        int exit_code;
        const char *text;
} errors[] = {
        { EPERM, CVMSEAL_EXIT_POLICY,
          "the TPM policy is not satisfied: the boot state (the PCRs) differs from the enrolled one, or the lock "
          "PCR has been extended" },
        { EREMCHG, CVMSEAL_EXIT_POLICY, "this is not the TPM the token was sealed to (its SRK differs)" },
        { ENOMSG, CVMSEAL_EXIT_POLICY, "no signed policy matches the boot state" },
        { EBADE, CVMSEAL_EXIT_ATTESTATION, "attestation failed" },
        { ENOKEY, CVMSEAL_EXIT_HSM,
          "the HSM key is unavailable: no PKCS#11 module, token or key matches the URI, or the OpenSSL provider "
          "cannot be loaded or open the key (-v says which)" },
        { EKEYREVOKED, CVMSEAL_EXIT_HSM,
          "the HSM refused: wrong or missing HSM PIN, or not the key the token was bound to (-v says which)" },
        { EKEYEXPIRED, CVMSEAL_EXIT_HSM,
          "the HSM key is not fit for a binding: it must be a sensitive, non-extractable AES-256 or RSA key, or "
          "through an OpenSSL provider an RSA key (2048 bits or more) that decrypts RSA-OAEP-SHA256 or an EC "
          "P-256/P-384 key that does ECDH (--hsm-allow-extractable accepts an extractable one)" },
        { ENOTUNIQ, CVMSEAL_EXIT_HSM, "the HSM URI matches more than one key: name one (object=, id=, type=)" },
        { ENODEV, CVMSEAL_EXIT_NO_TPM, "no TPM is available" },
        { ETIMEDOUT, CVMSEAL_EXIT_NO_TPM, "the TPM kept asking to retry; try again later" },
        { ENOBUFS, CVMSEAL_EXIT_NO_TPM,
          "the TPM is out of memory for objects or sessions (too many left loaded: is a resource manager in "
          "front of it?)" },
        { ENOANO, CVMSEAL_EXIT_PIN, "the token needs a PIN: give --pin-file FILE" },
        { EACCES, CVMSEAL_EXIT_PIN, "wrong PIN" },
        { EMEDIUMTYPE, CVMSEAL_EXIT_NO_TOKEN, "not a LUKS2 device" },
        { ENOMEDIUM, CVMSEAL_EXIT_NO_TOKEN, "no cvmseal token" },
        { ENOLCK, CVMSEAL_EXIT_LOCKOUT,
          "the TPM is in dictionary-attack lockout: wait for the lockout to end, or reset it with the lockout "
          "authorization" },
        { EBADMSG, CVMSEAL_EXIT_MALFORMED, "the cvmseal token is malformed or damaged (-v says where)" },
        { EPROTO, CVMSEAL_EXIT_MALFORMED, "the attestation evidence this machine gives is malformed (-v says where)" },
        { EKEYREJECTED, CVMSEAL_EXIT_OTHER, "the unlock key opens no keyslot" },
        { ENOSPC, CVMSEAL_EXIT_OTHER, "no room left: no free keyslot or token, or the LUKS2 metadata area is full" },
        { EBUSY, CVMSEAL_EXIT_OTHER, "it holds the last way into the volume" },
        { EINPROGRESS, CVMSEAL_EXIT_OTHER,
          "being re-encrypted to a new volume key: tokens and keyslots cannot change until that is done" },
        { ENOENT, CVMSEAL_EXIT_OTHER, "no such file or device" },
        { EEXIST, CVMSEAL_EXIT_OTHER, "a key of that name exists already" },
};

static const struct error_entry *error_find(int r) {
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].errnum == -r)
                        return &errors[i];
        return NULL;
}

_public_ int cvmseal_exit_code(int r) {
        const struct error_entry *e;

        if (r >= 0)
                return CVMSEAL_EXIT_OK;
        e = error_find(r);
        return e ? e->exit_code : CVMSEAL_EXIT_OTHER;
}

_public_ const char *cvmseal_strerror(int r) {
        const struct error_entry *e = error_find(r);

        return e ? e->text : strerror(r < 0 ? -r : r);
}
