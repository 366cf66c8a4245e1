/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

json_object *json_member(const struct json_doc *d, json_object *o, const char *key, json_type type) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                json_bad(d, key, "is missing");
                return NULL;
        }
        if (!json_object_is_type(v, type)) {
                json_bad(d, key, "has the wrong type");
                return NULL;
        }
        return v;
}

int json_only_members(const struct json_doc *d, json_object *o, const char *const *known) {
        json_object_object_foreach(o, key, val) {
                bool ok = false;

                (void) val;
                for (const char *const *k = known; *k; k++)
                        ok = ok || streq_ptr(key, *k);
                if (!ok)
                        return log_debug_errno(-EBADMSG, "%s: unknown member '%s%s'", d->name, d->prefix, key);
        }
        return 0;
}

int json_get_blob(const struct json_doc *d, json_object *o, const char *key, unsigned flags, size_t min, size_t max,
                  uint8_t **ret, size_t *ret_size) {
        bool hex = flags & JSON_BLOB_HEX;
        json_object *v;
        uint8_t *buf;
        size_t n;
        int r;

        if ((flags & JSON_BLOB_OPTIONAL) && !json_object_object_get_ex(o, key, NULL))
                return 0;
        v = json_member(d, o, key, json_type_string);
        if (!v)
                return -EBADMSG;
        r = hex ? hex_decode(json_object_get_string(v), &buf, &n) : base64_decode(json_object_get_string(v), &buf, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return json_bad(d, key, hex ? "is not hex" : "is not base64");
        if (n < min || n > max) {
                free(buf);
                return json_bad(d, key, "has the wrong length");
        }
        *ret = buf;
        *ret_size = n;
        return 0;
}

int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_add_blob(json_object *o, const char *key, bool hex, const void *p, size_t n) {
        _cleanup_free_ char *s = hex ? hex_encode(p, n) : base64_encode(p, n);

        return s ? json_add(o, key, json_object_new_string(s)) : -ENOMEM;
}

int json_get_type_version(const struct json_doc *d, json_object *o, const char *type, int min, int max,
                          int *ret_version) {
        json_object *v;
        int64_t i;

        v = json_member(d, o, "type", json_type_string);
        if (!v)
                return -EBADMSG;
        if (strcmp(json_object_get_string(v), type) != 0)
                return log_debug_errno(-EBADMSG, "%s: member 'type' is not \"%s\"", d->name, type);
        v = json_member(d, o, "version", json_type_int);
        if (!v)
                return -EBADMSG;
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < min || i > max)
                return log_debug_errno(-EBADMSG, "%s: version %" PRId64 " is not supported (this reads %d to %d)", d->name,
                                       i, min, max);
        *ret_version = (int) i;
        return 0;
}

int json_get_keyslot(const struct json_doc *d, json_object *o, bool optional, int *ret_keyslot) {
        json_object *ks, *v;
        char canonical[4], *end;
        const char *s;
        size_t n;
        long slot;

        ks = json_member(d, o, "keyslots", json_type_array);
        if (!ks)
                return -EBADMSG;
        n = json_object_array_length(ks);
        if (n > 1 || (n == 0 && !optional))
                return json_bad(d, "keyslots", optional ? "names more than one keyslot" : "does not name exactly one keyslot");
        if (n == 0) {
                *ret_keyslot = -1;
                return 0;
        }
        v = json_object_array_get_idx(ks, 0);
        if (!json_object_is_type(v, json_type_string))
                return json_bad(d, "keyslots", "has an entry that is not a string");
        s = json_object_get_string(v);
        errno = 0;
        slot = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || slot < 0 || slot > 31)
                return json_bad(d, "keyslots", "has an entry that is not a keyslot number");
        snprintf(canonical, sizeof(canonical), "%ld", slot);
        if (strcmp(canonical, s) != 0)
                return json_bad(d, "keyslots", "has an entry that is not a keyslot number");
        *ret_keyslot = (int) slot;
        return 0;
}
