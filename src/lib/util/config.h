/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Local configuration (docs/configuration.md): what the machine itself says, never the disk.  The
 * initramfs carries this directory (its generator copies it in, so it is part of the measured
 * initrd); nothing read from a LUKS2 header, a marker or the TPM channel may choose code to load
 * (a PKCS#11 module, an OpenSSL provider, a TCTI) or a key to trust.  That is decided here.
 *
 *   $CVMSEAL_CONFDIR (default /etc/cvmseal)
 *     cvmseal.conf        "key = value" lines, '#' comments (keys below)
 *     tpm2-srk.pub        the pinned SRK: its marshalled TPM2B_PUBLIC (as `cvmseal srk export`
 *                         writes it); the only key a session's salt is encrypted to when present
 *     roots/NAME.pem      extra trusted roots for the attestation gate (test platforms)
 *     signed-policies/    signed PCR policies (docs/image-pipeline.md)
 *     certs/              the certificate cache of attestation (VCEK, ASK, ARK...)
 */

#define CONFIG_DIR_DEFAULT "/etc/cvmseal"
#define CONFIG_FILE "cvmseal.conf"
#define CONFIG_SRK_PIN "tpm2-srk.pub"
#define CONFIG_VALUE_MAX 4096U

/* $CVMSEAL_CONFDIR, else /etc/cvmseal. */
const char *config_dir(void);

/* dir/name in a new string (NULL: out of memory). */
char *config_path(const char *name);

/* Calls fn for every "key = value" line of cvmseal.conf whose key is key, in file order, with the
 * value trimmed of blanks; stops at the first negative return and returns it.  A missing file is
 * no line.  -EBADMSG when a line is not "key = value" (or over CONFIG_VALUE_MAX). */
int config_foreach(const char *key, int (*fn)(const char *value, void *userdata), void *userdata);

/* The last value of key (a new string in *ret), 0 when found, -ENOENT when absent. */
int config_get(const char *key, char **ret);

/* Reads a whole local file (at most max bytes) of the configuration directory: -ENOENT when absent. */
int config_read_file(const char *name, size_t max, void **ret, size_t *ret_size);
