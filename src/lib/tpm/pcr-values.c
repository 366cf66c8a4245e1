/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "encoding.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "pcr-values.h"

#define PCR_VALUES_MAX_SIZE (64U * 1024U)

static const struct json_doc doc_top = { "pcr-values", "" };
static const struct json_doc doc_sha256 = { "pcr-values", "sha256." };

DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free);

/* json-c keeps the last of duplicate members silently.  Counts the member names in the text (a
 * string followed by ':' outside any string): a document without duplicates has as many as the
 * parsed objects have members. */
static size_t count_member_names(const char *p, size_t size) {
        size_t n = 0;
        bool in_string = false, after_string = false;

        for (size_t i = 0; i < size; i++) {
                char c = p[i];

                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"') {
                                in_string = false;
                                after_string = true;
                        }
                        continue;
                }
                if (c == '"') {
                        in_string = true;
                        continue;
                }
                if (strchr(" \t\r\n", c))
                        continue;
                if (c == ':' && after_string)
                        n++;
                after_string = false;
        }
        return n;
}

static int parse_pcr_number(const char *s, unsigned *ret) {
        unsigned v = 0;

        if (!s[0] || (s[0] == '0' && s[1]) || strlen(s) > 2)
                return -EINVAL;
        for (const char *c = s; *c; c++) {
                if (*c < '0' || *c > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*c - '0');
        }
        if (v >= CVMSEAL_PCR_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

int pcr_values_parse(const char *text, size_t size, struct pcr_values *ret) {
        static const char *const known[] = { "sha256", NULL };
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        struct pcr_values v = {};
        json_object *sha256;
        size_t end;
        int r;

        if (!text || size == 0 || size > PCR_VALUES_MAX_SIZE)
                return log_debug_errno(-EBADMSG, "pcr-values: empty or larger than %u bytes", PCR_VALUES_MAX_SIZE);
        if (memchr(text, 0, size))
                return log_debug_errno(-EBADMSG, "pcr-values: the document contains a NUL byte");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        j = json_tokener_parse_ex(tok, text, (int) size);
        if (!j || json_tokener_get_error(tok) != json_tokener_success)
                return log_debug_errno(-EBADMSG, "pcr-values: not JSON (%s)",
                                       json_tokener_error_desc(json_tokener_get_error(tok)));
        end = json_tokener_get_parse_end(tok);
        for (size_t i = end; i < size; i++)
                if (!strchr(" \t\r\n", text[i]))
                        return log_debug_errno(-EBADMSG, "pcr-values: bytes after the JSON document");
        if (!json_object_is_type(j, json_type_object))
                return log_debug_errno(-EBADMSG, "pcr-values: not a JSON object");

        r = json_only_members(&doc_top, j, known);
        if (r < 0)
                return r;
        sha256 = json_member(&doc_top, j, "sha256", json_type_object);
        if (!sha256)
                return -EBADMSG;

        json_object_object_foreach(sha256, key, val) {
                _cleanup_free_ uint8_t *d = NULL;
                size_t n;
                unsigned pcr;

                if (parse_pcr_number(key, &pcr) < 0)
                        return log_debug_errno(-EBADMSG, "pcr-values: member 'sha256.%s' is not a PCR number 0-23",
                                               key);
                if (!json_object_is_type(val, json_type_string))
                        return json_bad(&doc_sha256, key, "is not a string");
                r = hex_decode(json_object_get_string(val), &d, &n);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || n != 32)
                        return json_bad(&doc_sha256, key, "is not 64 hex digits");
                v.mask |= UINT32_C(1) << pcr;
                memcpy(v.sha256[pcr], d, 32);
        }

        /* All values are strings now: every member name of the text is the top level's or sha256's. */
        if (count_member_names(text, size) != 1 + (size_t) json_object_object_length(sha256))
                return log_debug_errno(-EBADMSG, "pcr-values: duplicate member");

        *ret = v;
        return 0;
}

int pcr_values_read_file(const char *path, struct pcr_values *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        int fd, r = 0;

        if (!path)
                return -EINVAL;
        if (streq_ptr(path, "-"))
                fd = STDIN_FILENO;
        else {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return log_debug_errno(negative_errno(), "pcr-values: cannot open %s", path);
        }

        buf = malloc(PCR_VALUES_MAX_SIZE + 1);
        if (!buf)
                r = -ENOMEM;
        while (r == 0) {
                ssize_t k = read(fd, buf + size, PCR_VALUES_MAX_SIZE + 1 - size);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_debug_errno(negative_errno(), "pcr-values: cannot read %s", path);
                        break;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > PCR_VALUES_MAX_SIZE)
                        r = log_debug_errno(-EBADMSG, "pcr-values: %s is larger than %u bytes", path,
                                            PCR_VALUES_MAX_SIZE);
        }
        if (fd != STDIN_FILENO)
                (void) close(fd);
        if (r < 0)
                return r;
        return pcr_values_parse(buf, size, ret);
}

int pcr_values_to_json(const struct pcr_values *v, json_object **ret) {
        _cleanup_(json_object_putp) json_object *j = NULL, *s = NULL;
        int r;

        j = json_object_new_object();
        s = json_object_new_object();
        if (!j || !s)
                return -ENOMEM;
        for (unsigned i = 0; i < CVMSEAL_PCR_MAX; i++) {
                char key[4];

                if (!(v->mask & (UINT32_C(1) << i)))
                        continue;
                (void) snprintf(key, sizeof(key), "%u", i);
                r = json_add_blob(s, key, true, v->sha256[i], 32);
                if (r < 0)
                        return r;
        }
        r = json_add(j, "sha256", TAKE_PTR(s));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

_public_ int cvmseal_pcr_mask_parse(const char *s, uint32_t *ret_mask) {
        uint32_t mask = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                char *end;
                long v;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                errno = 0;
                v = strtol(p, &end, 10);
                if (errno != 0 || v < 0 || v >= CVMSEAL_PCR_MAX || end - p > 2)
                        return -EINVAL;
                mask |= UINT32_C(1) << v;
                if (*end == 0)
                        break;
                if (*end != ',' && *end != '+')
                        return -EINVAL;
                p = end + 1;
        }
        *ret_mask = mask;
        return 0;
}
