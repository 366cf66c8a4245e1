/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The pcr-values document (DESIGN: offline sealing, `reseal`, `policy sign`, `pcr predict`):
 *
 *     {"sha256": {"7": "<64 hex digits>", "14": "<64 hex digits>"}}
 *
 * Read strictly: one top-level member "sha256" (no other bank), whose members are PCR numbers 0-23
 * written in decimal without leading zeros, each a string of exactly 64 hex digits; no duplicate
 * member, nothing after the document.  Every refusal is -EBADMSG (with a debug message).  An empty
 * "sha256" object is well-formed (mask 0): the consumer checks that the PCRs it needs are there.
 */

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cvmseal.h"

struct pcr_values {
        uint32_t mask;                           /* sha256 PCRs present */
        uint8_t sha256[CVMSEAL_PCR_MAX][32];     /* indexed by PCR number */
};

/* Parses the pcr-values JSON text (size bytes; need not be NUL-terminated). */
int pcr_values_parse(const char *text, size_t size, struct pcr_values *ret);
/* Reads and parses a file ("-": standard input).  -ENOENT, -EACCES... as open() and read() give
 * them; -EBADMSG for a malformed document (or one larger than 64 KiB). */
int pcr_values_read_file(const char *path, struct pcr_values *ret);
/* The document for the PCRs in v->mask, in ascending order. */
int pcr_values_to_json(const struct pcr_values *v, json_object **ret);
