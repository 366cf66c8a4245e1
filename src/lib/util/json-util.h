/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Strict reading and plain writing of JSON documents from outside (tokens, evidence, policies), as
 * cryptsetup's luks2_json_metadata.c does it: a member's presence and type are checked before use,
 * nothing unknown is accepted, and every refusal is -EBADMSG with a debug message that names the
 * member ("<doc>: member '<prefix><key>' <why>").
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "log.h"

struct json_doc {
        const char *name;    /* "cvmseal token", "evidence"... */
        const char *prefix;  /* for nested objects: "hsm.", "tpm-quote."; "" at the top */
};

/* Logs "<doc>: member '<prefix><key>' <why>" and returns -EBADMSG.  Inline, so that the compiler
 * sees the negative return in `return json_bad(...)` and knows an output left unwritten on that path
 * is never read (gcc's -Wmaybe-uninitialized at -O3 otherwise). */
static inline int json_bad(const struct json_doc *d, const char *key, const char *why) {
        return log_debug_errno(-EBADMSG, "%s: member '%s%s' %s", d->name, d->prefix, key, why);
}

/* The member if it is present and of the type; NULL (after a debug message) otherwise. */
json_object *json_member(const struct json_doc *d, json_object *o, const char *key, json_type type);

/* -EBADMSG when o has a member outside known (NULL-terminated). */
int json_only_members(const struct json_doc *d, json_object *o, const char *const *known);

enum json_blob_flags {
        JSON_BLOB_HEX = 1 << 0,       /* hex (else canonical base64) */
        JSON_BLOB_OPTIONAL = 1 << 1,  /* absent: 0 and nothing returned */
};

/* A string member decoded from hex or base64, min to max bytes long. */
int json_get_blob(const struct json_doc *d, json_object *o, const char *key, unsigned flags, size_t min, size_t max,
                  uint8_t **ret, size_t *ret_size);

/* A LUKS2 token's "type" member is type, and its "version" an integer from min to max. */
int json_get_type_version(const struct json_doc *d, json_object *o, const char *type, int min, int max,
                          int *ret_version);

/* A LUKS2 token's "keyslots": one keyslot number, as libcryptsetup writes it (a canonical decimal
 * string, 0-31); with optional, also none (*ret_keyslot -1). */
int json_get_keyslot(const struct json_doc *d, json_object *o, bool optional, int *ret_keyslot);

/* Adds a member, taking the value over (and freeing it on failure); -ENOMEM when v is NULL. */
int json_add(json_object *o, const char *key, json_object *v);
/* Adds a hex or base64 string member. */
int json_add_blob(json_object *o, const char *key, bool hex, const void *p, size_t n);
