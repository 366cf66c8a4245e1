/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

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
