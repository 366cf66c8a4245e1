/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* OpenSSL providers (hsm-provider.c).  A provider name is a bare name (letters, digits, '_', '-',
 * '.'; 1 to 64 characters, not starting with '.' or '-'): never a path. */
bool hsm_provider_name_valid(const char *name);
/* Whether local configuration allows the provider (docs/hsm.md, "Configuration"): 0, -EPERM when it
 * does not, -EINVAL for a name that is no bare name.  ret_properties (optional) gets the property
 * query configured for it (NULL: none). */
int hsm_provider_allowed(const char *name, char **ret_properties);
