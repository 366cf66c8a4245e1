/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main() for builds without libFuzzer (gcc, -Dfuzz=standalone): runs LLVMFuzzerTestOneInput() once
 * over every file named on the command line and every regular file under every directory named
 * there (recursively, in name order), so that CI runs the corpora and the committed crashers as
 * regression tests.  Arguments starting with '-' (libFuzzer's options) are ignored; a path that
 * does not exist is an error (exit 1), unless it is a directory the seeding step may not have made,
 * given with --optional DIR.  Exits 0 when every input ran, 77 when there was none at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned n_inputs;

static int run_file(const char *path) {
        FILE *f = fopen(path, "re");
        uint8_t *buf = NULL, *grown;
        size_t size = 0, cap = 0, k;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                if (size == cap) {
                        cap = cap ? cap * 2 : 4096;
                        grown = realloc(buf, cap);
                        if (!grown) {
                                free(buf);
                                fclose(f);
                                fprintf(stderr, "%s: out of memory\n", path);
                                return -1;
                        }
                        buf = grown;
                }
                k = fread(buf + size, 1, cap - size, f);
                if (k == 0)
                        break;
                size += k;
        }
        if (ferror(f)) {
                fprintf(stderr, "%s: read error\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);

        /* An exact-size copy, so that AddressSanitizer sees a read past the input's end. */
        grown = malloc(size ? size : 1);
        if (!grown) {
                free(buf);
                return -1;
        }
        if (size > 0)
                memcpy(grown, buf, size);
        free(buf);
        fprintf(stderr, "Running: %s (%zu bytes)\n", path, size);
        (void) LLVMFuzzerTestOneInput(grown, size);
        free(grown);
        n_inputs++;
        return 0;
}

static int compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path, bool optional);

static int run_dir(const char *path) {
        struct dirent **entries = NULL;
        int n, r = 0;

        n = scandir(path, &entries, NULL, compare);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        for (int i = 0; i < n; i++) {
                const char *name = entries[i]->d_name;
                char *child;

                if (name[0] == '.' || strcmp(name, "README.md") == 0) {   /* hidden files, notes */
                        free(entries[i]);
                        continue;
                }
                if (asprintf(&child, "%s/%s", path, name) < 0)
                        r = -1;
                else {
                        if (run_path(child, false) < 0)
                                r = -1;
                        free(child);
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}

static int run_path(const char *path, bool optional) {
        struct stat st;

        if (stat(path, &st) < 0) {
                if (optional && errno == ENOENT)
                        return 0;
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        if (S_ISDIR(st.st_mode))
                return run_dir(path);
        if (S_ISREG(st.st_mode))
                return run_file(path);
        return 0;
}

int main(int argc, char *argv[]) {
        bool optional = false;
        int r = 0;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--optional") == 0) {
                        optional = true;
                        continue;
                }
                if (argv[i][0] == '-')
                        continue;
                if (run_path(argv[i], optional) < 0)
                        r = 1;
                optional = false;
        }
        fprintf(stderr, "Ran %u input(s)\n", n_inputs);
        if (r != 0)
                return r;
        if (n_inputs == 0) {
                printf("SKIP: no inputs\n");
                return 77;
        }
        return 0;
}
