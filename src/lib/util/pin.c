/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one PIN reader: a file ("-": standard input) or the terminal, without echo, into a secret,
 * with the library's limits (CVMSEAL_PIN_MAX for a TPM PIN, CVMSEAL_HSM_PIN_MAX for an HSM PIN,
 * which is sealed in the TPM beside the share).  No prompt without a terminal: a pipeline never
 * waits for a PIN that nobody types.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cvmseal.h"
#include "secret.h"

static int pin_prompt(const char *prompt, size_t max, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *s = NULL;
        struct termios old, quiet;
        int fd, r;

        fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -ENOANO;
        if (!isatty(STDIN_FILENO) || tcgetattr(fd, &old) < 0) {
                close(fd);
                return -ENOANO;
        }
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        quiet.c_lflag |= ICANON;
        (void) !write(fd, prompt, strlen(prompt));
        (void) tcsetattr(fd, TCSAFLUSH, &quiet);

        r = cvmseal_secret_read_line(fd, max, &s);
        (void) tcsetattr(fd, TCSAFLUSH, &old);
        (void) !write(fd, "\n", 1);
        close(fd);
        if (r < 0)
                return r == -ENODATA ? -ENOANO : r;
        *ret = TAKE_PTR(s);
        return 0;
}

_public_ int cvmseal_pin_read(const char *path, const char *prompt, bool confirm, size_t max, cvmseal_secret **ret) {
        _cleanup_secret_ cvmseal_secret *a = NULL, *b = NULL;
        int r;

        if (!ret || max == 0 || (!path && !prompt))
                return -EINVAL;
        if (path)
                return cvmseal_secret_read_file(path, max, true, ret);

        r = pin_prompt(prompt, max, &a);
        if (r < 0)
                return r;
        if (confirm) {
                r = pin_prompt("PIN (again): ", max, &b);
                if (r < 0)
                        return r;
                if (cvmseal_secret_size(a) != cvmseal_secret_size(b) ||
                    !secret_equal(cvmseal_secret_data(a), cvmseal_secret_data(b), cvmseal_secret_size(a)))
                        return -EKEYREJECTED;
        }
        *ret = TAKE_PTR(a);
        return 0;
}
