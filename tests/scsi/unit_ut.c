/* SPDX-License-Identifier: BSD-3-Clause */
/* TEST UNIT READY, START STOP UNIT, READ CAPACITY, REQUEST SENSE, REPORT LUNS. */
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

static int env_setup(void **state)
{
	*state = t_env_new(512, 2048, true);
	return 0;
}

static int env_teardown(void **state)
{
	t_env_free(*state);
	return 0;
}

static const uint8_t tur[6] = {0x00};

static int start_stop(struct t_env *e, uint8_t b1, uint8_t b4)
{
	const uint8_t cdb[6] = {0x1b, b1, 0, 0, b4, 0};

	return t_run(e, cdb, 6);
}

static void test_test_unit_ready(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(t_run(e, tur, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	assert_int_equal(e->cmd.xfer_len, 0);
}

static void test_stop_then_start(void **state)
{
	struct t_env *e = *state;
	const uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	const uint8_t rc10[10] = {0x25};

	assert_int_equal(start_stop(e, 0, 0x00), 0);
	t_expect_good(e);
	assert_true(e->lu->stopped);
	assert_int_equal(e->fs->flushes, 1);
	assert_int_equal(t_run(e, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_NOT_READY, 0x0402);
	assert_int_equal(t_run(e, read10, 10), 1);
	t_expect_sense(e, SCSI_SENSE_NOT_READY, 0x0402);
	assert_int_equal(t_run(e, rc10, 10), 0);
	t_expect_good(e);

	assert_int_equal(start_stop(e, 1, 0x01), 0); /* IMMED, START */
	t_expect_good(e);
	assert_false(e->lu->stopped);
	assert_int_equal(t_run(e, tur, 6), 0);
	t_expect_good(e);
}

static void test_stop_no_flush(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(start_stop(e, 0, 0x04), 0);
	t_expect_good(e);
	assert_true(e->lu->stopped);
	assert_int_equal(e->fs->flushes, 0);
}

static void test_loej_not_removable(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(start_stop(e, 1, 0x02), 1); /* eject */
	t_expect_field(e, 4, 1);
	assert_int_equal(start_stop(e, 1, 0x03), 1); /* load */
	t_expect_field(e, 4, 1);
	assert_false(e->lu->stopped);
}

static void test_power_condition_ignored(void **state)
{
	struct t_env *e = *state;
	uint8_t pc;

	for (pc = 1; pc < 16; pc++) {
		assert_int_equal(start_stop(e, 1, (uint8_t)(pc << 4 | 0x02)), 0);
		t_expect_good(e);
		assert_false(e->lu->stopped);
	}
}

static void test_read_capacity10(void **state)
{
	struct t_env *e = *state;
	const uint8_t cdb[10] = {0x25};

	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_READ);
	assert_int_equal(e->cmd.xfer_len, 8);
	assert_int_equal(e->cmd.data_len, 8);
	assert_int_equal(get_be32(e->buf), 2047);
	assert_int_equal(get_be32(e->buf + 4), 512);
}

static void test_read_capacity10_pmi(void **state)
{
	struct t_env *e = *state;
	const uint8_t lba_no_pmi[10] = {0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0};
	const uint8_t lba_pmi[10] = {0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0};

	assert_int_equal(t_run(e, lba_no_pmi, 10), 1);
	t_expect_field(e, 2, -1);
	assert_int_equal(t_run(e, lba_pmi, 10), 0);
	t_expect_good(e);
	assert_int_equal(get_be32(e->buf), 2047);
}

static void test_read_capacity10_too_big(void **state)
{
	const uint8_t cdb[10] = {0x25};
	struct t_env *e = t_env_new(512, 0x100000000ull, false);
	struct t_env *f = t_env_new(512, 0xffffffffull, false);

	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_int_equal(get_be32(e->buf), 0xffffffffu);
	assert_int_equal(t_run(f, cdb, 10), 0);
	assert_int_equal(get_be32(f->buf), 0xfffffffeu);
	t_env_free(e);
	t_env_free(f);
}

static int rc16(struct t_env *e, uint8_t sa, uint32_t alloc)
{
	uint8_t cdb[16] = {0x9e, sa};

	put_be32(cdb + 10, alloc);
	return t_run(e, cdb, 16);
}

static void test_read_capacity16(void **state)
{
	struct t_env *e = t_env_new(4096, 0x123456789ull, false);
	int i;

	assert_int_equal(rc16(e, 0x10, 32), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 32);
	assert_int_equal(get_be64(e->buf), 0x123456788ull);
	assert_int_equal(get_be32(e->buf + 8), 4096);
	assert_int_equal(e->buf[14], 0xc0); /* LBPME, LBPRZ */
	for (i = 12; i < 32; i++) {
		if (i != 14) {
			assert_int_equal(e->buf[i], 0); /* no PI, lowest aligned LBA 0 */
		}
	}
	t_env_free(e);
}

static void test_read_capacity16_alloc_len(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(rc16(e, 0x10, 12), 0);
	assert_int_equal(e->cmd.data_len, 12);
	assert_int_equal(rc16(e, 0x10, 0), 0);
	assert_int_equal(e->cmd.data_len, 0);
	assert_int_equal(rc16(e, 0x10, 4096), 0);
	assert_int_equal(e->cmd.xfer_len, 32); /* clamped to the response */
	assert_int_equal(e->cmd.data_len, 32);
}

static void test_service_action_unknown(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(rc16(e, 0x11, 32), 1);
	t_expect_field(e, 1, 4);
}

static void test_request_sense_no_sense(void **state)
{
	struct t_env *e = *state;
	const uint8_t cdb[6] = {0x03, 0, 0, 0, 252, 0};

	assert_int_equal(t_run(e, cdb, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 18);
	assert_int_equal(e->buf[0], 0x70);
	assert_int_equal(e->buf[2], SCSI_SENSE_NO_SENSE);
	assert_int_equal(get_be16(e->buf + 12), 0);
}

static void test_request_sense_desc_and_truncation(void **state)
{
	struct t_env *e = *state;
	const uint8_t desc[6] = {0x03, 1, 0, 0, 252, 0};
	const uint8_t shortcdb[6] = {0x03, 0, 0, 0, 8, 0};

	assert_int_equal(t_run(e, desc, 6), 1);
	t_expect_field(e, 1, 0);
	assert_int_equal(t_run(e, shortcdb, 6), 0);
	assert_int_equal(e->cmd.data_len, 8);
}

static void add_lu(struct t_env *e, uint64_t lun)
{
	struct fake_store *fs = fake_store_new(512, 4096, true);

	assert_int_equal(scsi_lu_create(lun, &fs->b, "t", &e->set.lu[lun]), 0);
	e->set.count++;
}

static int report_luns(struct t_env *e, uint8_t select, uint32_t alloc)
{
	uint8_t cdb[12] = {0xa0, 0, select};

	put_be32(cdb + 6, alloc);
	return t_run(e, cdb, 12);
}

static void test_report_luns(void **state)
{
	struct t_env *e = *state;

	add_lu(e, 3);
	add_lu(e, 255);
	assert_int_equal(report_luns(e, 0, 4096), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 8 + 24);
	assert_int_equal(get_be32(e->buf), 24);
	assert_int_equal(get_be32(e->buf + 4), 0);
	assert_int_equal(get_be64(e->buf + 8), 0);
	assert_int_equal(get_be64(e->buf + 16), 0x0003000000000000ull);
	assert_int_equal(get_be64(e->buf + 24), 0x00ff000000000000ull);
	assert_int_equal(report_luns(e, 2, 4096), 0);
	assert_int_equal(e->cmd.data_len, 32);
}

static void test_report_luns_select(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(report_luns(e, 1, 4096), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 8);
	assert_int_equal(get_be32(e->buf), 0);
	assert_int_equal(report_luns(e, 3, 4096), 1);
	t_expect_field(e, 2, -1);
}

static void test_report_luns_truncated(void **state)
{
	struct t_env *e = *state;

	add_lu(e, 1);
	assert_int_equal(report_luns(e, 0, 16), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 16);
	assert_int_equal(get_be32(e->buf), 16);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_test_unit_ready),
	    T(test_stop_then_start),
	    T(test_stop_no_flush),
	    T(test_loej_not_removable),
	    T(test_power_condition_ignored),
	    T(test_read_capacity10),
	    T(test_read_capacity10_pmi),
	    cmocka_unit_test(test_read_capacity10_too_big),
	    cmocka_unit_test(test_read_capacity16),
	    T(test_read_capacity16_alloc_len),
	    T(test_service_action_unknown),
	    T(test_request_sense_no_sense),
	    T(test_request_sense_desc_and_truncation),
	    T(test_report_luns),
	    T(test_report_luns_select),
	    T(test_report_luns_truncated),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
