/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <syslog.h>

#include "cvmseal.h"

/* The library logs at debug level only: it explains what it did and why a step failed, and leaves
 * the message that the user sees to the caller (the command line, the token plugin). */
void cvmseal_log_internal(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) cvmseal_log_internal(LOG_DEBUG, 0, __VA_ARGS__)
/* Logs at debug level, with strerror(-r) appended, and returns r (negative errno). */
#define log_debug_errno(r, ...)                                         \
        ({                                                              \
                int _r_ = (r);                                          \
                cvmseal_log_internal(LOG_DEBUG, _r_, __VA_ARGS__);     \
                _r_;                                                    \
        })

/* Logs at debug level and returns r, for errors whose errno text would mislead (-EKEYEXPIRED reads
 * "Key has expired"). */
#define log_debug_ret(r, ...)                                           \
        ({                                                              \
                cvmseal_log_internal(LOG_DEBUG, 0, __VA_ARGS__);        \
                (r);                                                    \
        })
