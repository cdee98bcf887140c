/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A LUN's configured identity: vendor and product (standard INQUIRY),
 * serial number (VPD 0x80, and the T10 designator of VPD 0x83) and NAA
 * designator (VPD 0x83). Pure checks shared by the config file and the
 * control socket, so both refuse the same values with the same words.
 *
 * SPC-4 4.4.1: these are ASCII fields, graphic characters 20h-7Eh only,
 * left-aligned and padded with spaces (the LU pads them), so a leading or
 * trailing space could not come back as written. The serial also names
 * the disk for the initiator (Linux /dev/disk/by-id): no space at all.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "idm/auth.h"
#include "idm/backing.h"
#include "idm/scsi.h"
#include "idm/target.h"

/* 1 to `max` graphic ASCII characters; spaces only inside when allowed. */
static bool ascii_id_ok(const char *v, size_t max, bool inner_spaces)
{
	size_t n = strlen(v);

	if (n == 0 || n > max || v[0] == ' ' || v[n - 1] == ' ') {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c > 0x7e || (c == ' ' && !inner_spaces)) {
			return false;
		}
	}
	return true;
}

/* 32 hex digits, NAA field 6 (IEEE Registered Extended, SPC-4 7.8.6.6.5):
 * the only 16-byte NAA format. */
static bool naa_parse(const char *v, uint8_t naa[16])
{
	char hex[2 + 32 + 1];
	size_t len = 0;

	if (strlen(v) != 32 || v[0] != '6') {
		return false;
	}
	snprintf(hex, sizeof(hex), "0x%s", v);
	return idm_chap_decode(hex, naa, 16, &len) == 0 && len == 16;
}

int idm_lun_ident_set(struct idm_lun_conf *l, const char *key, const char *value, char *why,
                      size_t whylen)
{
	if (strcmp(key, "vendor") == 0 || strcmp(key, "product") == 0) {
		bool vendor = key[0] == 'v';
		size_t max = vendor ? sizeof(l->vendor) - 1 : sizeof(l->product) - 1;

		if (!ascii_id_ok(value, max, true)) {
			snprintf(why, whylen,
			         "%s must be 1 to %zu printable ASCII characters, no leading or "
			         "trailing space",
			         key, max);
			return -EINVAL;
		}
		snprintf(vendor ? l->vendor : l->product, max + 1, "%s", value);
		return 0;
	}
	if (strcmp(key, "serial") == 0) {
		if (!ascii_id_ok(value, sizeof(l->serial) - 1, false)) {
			snprintf(
			    why, whylen,
			    "serial must be 1 to %zu printable ASCII characters without spaces",
			    sizeof(l->serial) - 1);
			return -EINVAL;
		}
		snprintf(l->serial, sizeof(l->serial), "%s", value);
		return 0;
	}
	if (strcmp(key, "naa") == 0) {
		if (!naa_parse(value, l->naa)) {
			snprintf(why, whylen,
			         "naa must be 32 hex digits starting with 6 (NAA IEEE Registered "
			         "Extended)");
			return -EINVAL;
		}
		l->has_naa = true;
		return 0;
	}
	return -ENOENT;
}

int idm_lun_ident_effective(const struct idm_lun_conf *l, const char *target_iqn, char serial[33],
                            uint8_t naa[16])
{
	int rc = scsi_lu_ident_derive(target_iqn, l->lun, serial, naa);

	if (rc < 0) {
		return rc;
	}
	if (l->serial[0]) {
		snprintf(serial, 33, "%s", l->serial);
	}
	if (l->has_naa) {
		memcpy(naa, l->naa, 16);
	}
	return 0;
}

int idm_lun_conf_apply(struct scsi_lu *lu, const struct idm_lun_conf *l, const char serial[33],
                       const uint8_t naa[16])
{
	int rc = 0;

	if (l->write_cache_set && l->write_cache && lu->store->write_through) {
		rc = 1; /* the store's truth wins */
	} else if (l->write_cache_set) {
		/* WCE=0 over a caching store: every write goes with FUA (rw.c). */
		lu->write_cache = l->write_cache;
	}
	/* Padded with spaces, as SPC-4 wants its ASCII fields. */
	if (l->vendor[0]) {
		snprintf(lu->vendor, sizeof(lu->vendor), "%-8.8s", l->vendor);
	}
	if (l->product[0]) {
		snprintf(lu->product, sizeof(lu->product), "%-16.16s", l->product);
	}
	snprintf(lu->serial, sizeof(lu->serial), "%s", serial);
	memcpy(lu->naa, naa, sizeof(lu->naa));
	return rc;
}

void idm_naa_hex(const uint8_t naa[16], char out[33])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[naa[i] >> 4];
		out[2 * i + 1] = hex[naa[i] & 0x0f];
	}
	out[32] = '\0';
}
