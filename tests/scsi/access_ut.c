/* SPDX-License-Identifier: BSD-3-Clause */
/* Access to LUs: write protection (read_only) and an I_T nexus's LUN map. */
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
