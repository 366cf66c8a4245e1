/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Authenticode digest of a PE/COFF image (Microsoft PE Format, "Calculating the PE Image Hash"),
 * as UEFI firmware measures an EFI application into PCR 4 (EV_EFI_BOOT_SERVICES_APPLICATION) and as
 * sbverify, pesign and osslsigncode compute it:
 *
 *   1. the headers up to the optional header's CheckSum, then from after CheckSum to the Certificate
 *      Table data directory entry, then from after that entry to SizeOfHeaders (without the entry
 *      when NumberOfRvaAndSizes < 5: from after CheckSum to SizeOfHeaders);
 *   2. every section with SizeOfRawData > 0, in ascending order of PointerToRawData;
 *   3. the data after the last section, less the Certificate Table's size (the attribute
 *      certificates, at the end of the file).  A file shorter than its headers and sections is
 *      refused, and so is data after the sections that is shorter than the Certificate Table; a
 *      file that ends exactly after its sections hashes nothing more, as EDK2 does.
 *
 * Every offset and size is checked against the file: a malformed image is -EBADMSG.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* The digest (EVP_MD_get_size(md) bytes) into ret (at least EVP_MAX_MD_SIZE bytes). */
int authenticode_digest(const uint8_t *image, size_t size, const EVP_MD *md, uint8_t *ret, unsigned *ret_size);
