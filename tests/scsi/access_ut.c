/* SPDX-License-Identifier: BSD-3-Clause */
/* Access to LUs: write protection (read_only) and an I_T nexus's LUN map. */
#include <errno.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

/* Every command that changes the medium, as one CDB each. */
static void writing_cdbs(uint8_t cdbs[][16], unsigned *lens, unsigned *n)
{
	unsigned i = 0;

	memset(cdbs, 0, 11 * 16);
	cdbs[i][0] = 0x0a, cdbs[i][4] = 1, lens[i++] = 6;   /* WRITE(6) */
	t_cdb10(cdbs[i], 0x2a, 0, 0, 1), lens[i++] = 10;    /* WRITE(10) */
	t_cdb12(cdbs[i], 0xaa, 0, 0, 1), lens[i++] = 12;    /* WRITE(12) */
	t_cdb16(cdbs[i], 0x8a, 0, 0, 1), lens[i++] = 16;    /* WRITE(16) */
	t_cdb10(cdbs[i], 0x2e, 0, 0, 1), lens[i++] = 10;    /* WRITE AND VERIFY(10) */
	t_cdb16(cdbs[i], 0x8e, 0, 0, 1), lens[i++] = 16;    /* WRITE AND VERIFY(16) */
	t_cdb10(cdbs[i], 0x41, 0, 0, 1), lens[i++] = 10;    /* WRITE SAME(10) */
	t_cdb16(cdbs[i], 0x93, 0x08, 0, 1), lens[i++] = 16; /* WRITE SAME(16), UNMAP */
	cdbs[i][0] = 0x42, cdbs[i][8] = 24, lens[i++] = 10; /* UNMAP */
	t_cdb16(cdbs[i], 0x89, 0, 0, 0), cdbs[i][13] = 1, lens[i++] = 16; /* COMPARE AND WRITE */
	t_cdb16(cdbs[i], 0x8b, 0, 0, 1), lens[i++] = 16;                  /* ORWRITE(16) */
	*n = i;
}

static void test_read_only_refuses_writes(void **state)
{
	struct t_env *e = *state;
	uint8_t cdbs[11][16];
	unsigned lens[11], n;

	writing_cdbs(cdbs, lens, &n);
	e->lu->read_only = true;
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(t_run(e, cdbs[i], lens[i]), 1);
		t_expect_sense(e, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	}
	assert_int_equal(e->fs->writes + e->fs->zeroes + e->fs->unmaps, 0);
}

static void test_read_only_reads_work(void **state)
{
	struct t_env *e = *state;
	uint8_t read10[10], verify10[10], sync10[10];
	const uint8_t tur[6] = {0};

	t_cdb10(read10, 0x28, 0, 0, 8);
	t_cdb10(verify10, 0x2f, 0, 0, 8);
	t_cdb10(sync10, 0x35, 0, 0, 0);
	e->lu->read_only = true;
	assert_int_equal(t_run(e, read10, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 8 * T_ENV_BS);
	assert_int_equal(t_run(e, verify10, 10), 0);
	t_expect_good(e);
	assert_int_equal(t_run(e, sync10, 10), 0);
	t_expect_good(e);
	assert_int_equal(t_run(e, tur, 6), 0);
	t_expect_good(e);
}

/* WP (bit 7 of the device-specific parameter) follows read_only. */
static void test_mode_sense_wp(void **state)
{
	struct t_env *e = *state;
	const uint8_t ms6[6] = {0x1a, 0x08, 0x3f, 0, 255, 0};
	const uint8_t ms10[10] = {0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0, 255, 0};

	assert_int_equal(t_run(e, ms6, 6), 0);
	assert_int_equal(e->buf[2] & 0x80, 0);
	e->lu->read_only = true;
	assert_int_equal(t_run(e, ms6, 6), 0);
	assert_int_equal(e->buf[2] & 0x80, 0x80);
	assert_int_equal(e->buf[2] & 0x10, 0x10); /* DPOFUA stays */
	assert_int_equal(t_run(e, ms10, 10), 0);
	assert_int_equal(e->buf[3] & 0x80, 0x80);
}

static void test_read_write_again(void **state)
{
	struct t_env *e = *state;
	uint8_t write10[10];

	t_cdb10(write10, 0x2a, 0, 0, 1);
	e->lu->read_only = true;
	assert_int_equal(t_run(e, write10, 10), 1);
	e->lu->read_only = false;
	assert_int_equal(t_run(e, write10, 10), 0);
	t_expect_good(e);
}

/* LU 0 (1000 blocks) of the fixture, LU 2 of 64 blocks beside it. */
static void add_lu2(struct t_env *e)
{
	struct fake_store *fs = fake_store_new(T_ENV_BS, 64 * T_ENV_BS, false);

	assert_int_equal(scsi_lu_create(2, &fs->b, "iqn.2026-11.org.idm:disk1", &e->set.lu[2]), 0);
	e->set.count = 2;
}

/* The nexus sees LU 2 as its LUN 0 and LU 0 as its LUN 5. */
static void map_2_and_0(struct scsi_lun_map *m)
{
	scsi_lun_map_init_none(m);
	assert_int_equal(scsi_lun_map_set(m, 0, 2), 0);
	assert_int_equal(scsi_lun_map_set(m, 5, 0), 0);
}

static void test_map_resolves_and_reports(void **state)
{
	struct t_env *e = *state;
	const uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	const uint8_t rc10[10] = {0x25};
	const uint8_t tur[6] = {0};
	const uint8_t inq[6] = {0x12, 0, 0, 0, 96, 0};
	struct scsi_lun_map m;

	add_lu2(e);
	map_2_and_0(&m);
	e->map = &m;
	assert_int_equal(t_run_lun(e, 0, rl, 12), 0);
	assert_int_equal(get_be32(e->buf), 16);
	assert_int_equal(get_be16(e->buf + 8), 0);
	assert_int_equal(get_be16(e->buf + 16), 5);
	/* its LUN 0 is LU 2 (64 blocks), its LUN 5 is LU 0 (1000) */
	assert_int_equal(t_run_lun(e, 0, rc10, 10), 0);
	assert_int_equal(get_be32(e->buf), 63);
	assert_int_equal(t_run_lun(e, 5, rc10, 10), 0);
	assert_int_equal(get_be32(e->buf), T_ENV_BLOCKS - 1);
	/* LU 0 under its own number and LU 2 under 2 are not there */
	assert_int_equal(t_run_lun(e, 2, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	assert_int_equal(t_run_lun(e, 1, inq, 6), 0);
	assert_int_equal(e->buf[0], 0x7f);
	assert_int_equal(scsi_lun_map_lu(&m, 300), SCSI_MAX_LUNS);
	/* without a map: every LU under its own number */
	e->map = NULL;
	assert_int_equal(t_run_lun(e, 2, rc10, 10), 0);
	assert_int_equal(get_be32(e->buf), 63);
}

/* A unit attention belongs to the LU, whatever number the nexus uses. */
static void test_map_ua_follows_the_lu(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0};
	struct scsi_lun_map m;

	add_lu2(e);
	map_2_and_0(&m);
	e->map = &m;
	e->ua_seen[2] = e->set.lu[2]->ua_generation;
	scsi_lu_raise_ua(e->set.lu[2], SCSI_ASC_CAPACITY_CHANGED);
	assert_int_equal(t_run_lun(e, 5, tur, 6), 0);
	assert_int_equal(t_run_lun(e, 0, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_CAPACITY_CHANGED);
	assert_int_equal(t_run_lun(e, 0, tur, 6), 0);
}

/* A changed map: REPORTED LUNS DATA HAS CHANGED once per LU it shows. */
static void test_map_change_raises_ua(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0};
	struct scsi_lun_map m, next;

	add_lu2(e);
	scsi_lun_map_init_all(&m);
	e->map = &m;
	map_2_and_0(&next);
	assert_false(scsi_lun_map_replace(&m, &m));
	assert_true(scsi_lun_map_replace(&m, &next));
	for (unsigned lun = 0; lun <= 5; lun += 5) {
		assert_int_equal(t_run_lun(e, lun, tur, 6), 1);
		t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_REPORTED_LUNS_CHANGED);
		assert_int_equal(t_run_lun(e, lun, tur, 6), 0);
	}
	/* the same map again changes nothing */
	assert_false(scsi_lun_map_replace(&m, &next));
	assert_int_equal(t_run_lun(e, 0, tur, 6), 0);
	assert_int_equal(scsi_lun_map_set(&m, 300, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_only_refuses_writes, t_env_setup_map,
	                                    t_env_teardown),
	    cmocka_unit_test_setup_teardown(test_read_only_reads_work, t_env_setup_nomap,
	                                    t_env_teardown),
	    cmocka_unit_test_setup_teardown(test_mode_sense_wp, t_env_setup_map, t_env_teardown),
	    cmocka_unit_test_setup_teardown(test_read_write_again, t_env_setup_nomap,
	                                    t_env_teardown),
	    cmocka_unit_test_setup_teardown(test_map_resolves_and_reports, t_env_setup_nomap,
	                                    t_env_teardown),
	    cmocka_unit_test_setup_teardown(test_map_ua_follows_the_lu, t_env_setup_nomap,
	                                    t_env_teardown),
	    cmocka_unit_test_setup_teardown(test_map_change_raises_ua, t_env_setup_nomap,
	                                    t_env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
