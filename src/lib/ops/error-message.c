/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The whole message for a library error, in the words of util/strerror.c's table with what the
 * operation was about: the device, the token, the TCTI, the mapping, and for a dictionary-attack
 * lockout when it ends (one more TPM command, on that path only).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cvmseal.h"
#include "macro.h"
#include "signed-policy.h"

/* The TPM's messages name the TCTI, not the device: the TPM is the same for every device. */
static int tpm_message(int r, const struct cvmseal_error_context *c, char *buf, size_t size) {
        const char *text = cvmseal_strerror(r), *tcti = cvmseal_tcti_resolve(c->tcti);
        unsigned counter, max, interval;

        if (r == -ENODEV)
                return snprintf(buf, size, "%s through '%s'", text, tcti);
        if (r != -ENOLCK) /* "the TPM at '...' kept asking ..." */
                return snprintf(buf, size, "the TPM at '%s'%s", tcti, text + strlen("the TPM"));
        if (cvmseal_tpm_lockout_info(c->tcti, &counter, &max, &interval) < 0)
                return snprintf(buf, size, "%s", text);
        if (counter < max)
                /* Forgiven since, or the lockout was not the counter's (a proxy, a TPM bug). */
                return snprintf(buf, size, "the TPM refused with a dictionary-attack lockout, but its counter is now "
                                "at %u of %u: try again (one failure is forgiven every %u s)", counter, max, interval);
        if (interval == 0)
                return snprintf(buf, size, "the TPM is in dictionary-attack lockout: the counter is at %u of %u and "
                                "does not decay (lockout interval 0); reset it with the lockout authorization",
                                counter, max);
        return snprintf(buf, size, "the TPM is in dictionary-attack lockout: one failure is forgiven every %u s (the "
                        "counter is at %u of %u); try again in about %u s, or reset it with the lockout authorization",
                        interval, counter, max, interval);
}

/* The messages whose shape depends on what the operation was about; -1 for the plain ones. */
static int shaped_message(int r, const struct cvmseal_error_context *c, const char *s, char *buf, size_t size) {
        const char *text = cvmseal_strerror(r);

        switch (-r) {
        case ENOMSG:
                return snprintf(buf, size, "%s: %s: none in %s verifies with the token's key and has the current PCR "
                                "values (sign them with 'cvmseal policy sign'; -v says why each file was skipped)",
                                s, text, signed_policy_dir());
        case EMEDIUMTYPE:
                return snprintf(buf, size, "%s is %s", s, text);
        case EINPROGRESS:
                return snprintf(buf, size, "%s is %s (cvmseal rekey %s finishes it; --status says how far)", s, text, s);
        case ENOMEDIUM:
                if (c->token_id >= 0)
                        return snprintf(buf, size, "%s has %s %d", s, text, c->token_id);
                return snprintf(buf, size, "%s has %s", s, text);
        case EBUSY:
                return snprintf(buf, size, "%s: refusing to remove token %d: %s", s, c->token_id, text);
        case ENOTSUP:
                if (!c->name)
                        return -1;
                return snprintf(buf, size, "cannot activate %s: device-mapper is not available here", c->name);
        case ENOKEY:
                if (!c->hsm_provider)
                        return -1;
                return snprintf(buf, size, "%s: the HSM key is unavailable: the OpenSSL provider cannot be loaded or "
                                "cannot open the key (-v says which)", s);
        default:
                return -1;
        }
}

static bool is_tpm_error(int r) {
        return r == -ENODEV || r == -ETIMEDOUT || r == -ENOBUFS || r == -ENOLCK;
}

_public_ int cvmseal_error_message(int r, const struct cvmseal_error_context *c, char *buf, size_t size) {
        static const struct cvmseal_error_context none = { .token_id = -1 };
        int n = -1;

        if (!c)
                c = &none;
        if (is_tpm_error(r) && c->tpm_detail)
                n = tpm_message(r, c, buf, size);
        else if (c->subject && !is_tpm_error(r)) {
                n = shaped_message(r, c, c->subject, buf, size);
                if (n < 0)
                        n = snprintf(buf, size, "%s: %s", c->subject, cvmseal_strerror(r));
        }
        if (n < 0)
                (void) snprintf(buf, size, "%s", cvmseal_strerror(r));
        return cvmseal_exit_code(r);
}
