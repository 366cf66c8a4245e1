/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "macro.h"

static cvmseal_log_fn log_fn;
static void *log_userdata;

_public_ void cvmseal_set_log(cvmseal_log_fn fn, void *userdata) {
        log_fn = fn;
        log_userdata = userdata;
}

void cvmseal_log_internal(int level, int error, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int n;

        if (!log_fn)
                return;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (error < 0 && (size_t) n < sizeof(buf))
                snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(-error));

        log_fn(level, buf, log_userdata);
}
