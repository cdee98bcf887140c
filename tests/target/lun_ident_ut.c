/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A LUN's configured cache and identity (src/target/lun_ident.c) as the
 * initiator sees them: standard INQUIRY vendor and product, VPD 0x80
 * serial, VPD 0x83 NAA and T10 designators, WCE in the caching mode page;
 * over the SCSI layer's fake store (tests/scsi/scsi_test.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../scsi/scsi_test.h"
#include "idm/target.h"
#include "idm/wire.h"

static const char iqn[] = "iqn.2026-11.org.idm:disk1"; /* t_env's target */

static int inquiry(struct t_env *e, int evpd, uint8_t page)
{
	uint8_t cdb[6] = {0x12, (uint8_t)evpd, page, 0x01, 0x00, 0};

	return t_run(e, cdb, 6);
}

/* WCE of the caching mode page (MODE SENSE(6), DBD, current values). */
static bool wce(struct t_env *e)
{
	uint8_t cdb[6] = {0x1a, 0x08, 0x08, 0, 255, 0};

	assert_int_equal(t_run(e, cdb, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->buf[3], 0); /* no block descriptor */
	assert_int_equal(e->buf[4] & 0x3f, 0x08);
	return e->buf[4 + 2] & 0x04;
}

static void apply(struct t_env *e, const struct idm_lun_conf *l, int expect)
{
	char serial[33];
	uint8_t naa[16];

	assert_int_equal(idm_lun_ident_effective(l, iqn, serial, naa), 0);
	assert_int_equal(idm_lun_conf_apply(e->lu, l, serial, naa), expect);
}

static void configured_identity_is_what_inquiry_says(void **state)
{
	struct t_env *e = t_env_new(512, 4096, true);
	struct idm_lun_conf l = {.lun = 0};
	char why[160];
	const uint8_t *d = e->buf;

	(void)state;
	assert_int_equal(idm_lun_ident_set(&l, "vendor", "ACME", why, sizeof(why)), 0);
	assert_int_equal(idm_lun_ident_set(&l, "product", "Fast Disk", why, sizeof(why)), 0);
	assert_int_equal(idm_lun_ident_set(&l, "serial", "SN-42", why, sizeof(why)), 0);
	assert_int_equal(
	    idm_lun_ident_set(&l, "naa", "6001405aa8e1c7f3c6a3b2b1e0d9c8b7", why, sizeof(why)), 0);
	assert_int_equal(idm_lun_ident_set(&l, "spec", "x", why, sizeof(why)), -ENOENT);
	apply(e, &l, 0);

	assert_int_equal(inquiry(e, 0, 0), 0);
	t_expect_good(e);
	assert_memory_equal(d + 8, "ACME    ", 8);
	assert_memory_equal(d + 16, "Fast Disk       ", 16);

	assert_int_equal(inquiry(e, 1, 0x80), 0);
	t_expect_good(e);
	assert_int_equal(get_be16(d + 2), 5);
	assert_memory_equal(d + 4, "SN-42", 5);

	assert_int_equal(inquiry(e, 1, 0x83), 0);
	t_expect_good(e);
	assert_int_equal(d[4 + 1] & 0x0f, 3); /* NAA designator first */
	assert_int_equal(d[4 + 3], 16);
	assert_memory_equal(d + 8,
	                    "\x60\x01\x40\x5a\xa8\xe1\xc7\xf3\xc6\xa3\xb2\xb1\xe0\xd9\xc8\xb7", 16);
	assert_int_equal(d[24 + 1] & 0x0f, 1); /* T10 vendor id: vendor + serial */
	assert_int_equal(d[24 + 3], 8 + 5);
	assert_memory_equal(d + 28, "ACME    SN-42", 13);
	t_env_free(e);
}

static void unset_identity_is_the_derived_one(void **state)
{
	struct t_env *e = t_env_new(512, 4096, true);
	char serial[33];
	uint8_t naa[16];
	struct idm_lun_conf l = {.lun = 0};

	(void)state;
	memcpy(serial, e->lu->serial, sizeof(serial));
	memcpy(naa, e->lu->naa, sizeof(naa));
	apply(e, &l, 0);
	assert_string_equal(e->lu->serial, serial);
	assert_memory_equal(e->lu->naa, naa, 16);
	assert_memory_equal(e->lu->vendor, "IDM     ", 8);
	assert_true(wce(e)); /* the fake store caches */
	t_env_free(e);
}

static void write_cache_setting(void **state)
{
	struct t_env *e = t_env_new(512, 4096, true);
	struct idm_lun_conf off = {.write_cache_set = true, .write_cache = false};
	struct idm_lun_conf on = {.write_cache_set = true, .write_cache = true};
	uint8_t sel[4 + 20] = {0, 0, 0, 0, 0x08, 0x12, 0x04};
	uint8_t cdb[6] = {0x15, 0x10, 0, 0, sizeof(sel), 0};

	(void)state;
	apply(e, &off, 0);
	assert_false(wce(e));
	/* MODE SELECT still turns it on (SPC-4: current values only) */
	assert_int_equal(t_run_data(e, cdb, 6, sel, sizeof(sel)), 0);
	t_expect_good(e);
	assert_true(wce(e));
	t_env_free(e);

	/* a write-through store keeps its truth: WCE=0, and says so */
	e = t_env_new(512, 4096, true);
	e->lu->store->write_through = true;
	e->lu->write_cache = false; /* as scsi_lu_create sets it there */
	apply(e, &on, 1);
	assert_false(wce(e));
	apply(e, &off, 0);
	assert_false(wce(e));
	t_env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(configured_identity_is_what_inquiry_says),
	    cmocka_unit_test(unset_identity_is_the_derived_one),
	    cmocka_unit_test(write_cache_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
