/* SPDX-License-Identifier: BSD-3-Clause */
/* CDB decoding, sense format, LU identity, missing LUs, unit attentions. */
#include <errno.h>
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

static void test_cdb_length_table(void **state)
{
	assert_int_equal(scsi_cdb_length(0x00), 6);
	assert_int_equal(scsi_cdb_length(0x1f), 6);
	assert_int_equal(scsi_cdb_length(0x28), 10);
	assert_int_equal(scsi_cdb_length(0x5a), 10);
	assert_int_equal(scsi_cdb_length(0x7f), 0);
	assert_int_equal(scsi_cdb_length(0x60), 0);
	assert_int_equal(scsi_cdb_length(0x88), 16);
	assert_int_equal(scsi_cdb_length(0x9e), 16);
	assert_int_equal(scsi_cdb_length(0xa0), 12);
	assert_int_equal(scsi_cdb_length(0xbf), 12);
	assert_int_equal(scsi_cdb_length(0xc0), 0);
	assert_int_equal(scsi_cdb_length(0xff), 0);
}

static void test_sense_fixed_format(void **state)
{
	uint8_t s[SCSI_SENSE_MAX];
	uint8_t len = 0;

	memset(s, 0xaa, sizeof(s));
	scsi_sense_fixed(s, &len, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_READ_ERROR);
	assert_int_equal(len, 18);
	assert_int_equal(s[0], 0x70);
	assert_int_equal(s[1], 0);
	assert_int_equal(s[2], SCSI_SENSE_MEDIUM_ERROR);
	assert_int_equal(get_be32(s + 3), 0);
	assert_int_equal(s[7], 10);
	assert_int_equal(s[12], 0x11);
	assert_int_equal(s[13], 0x00);
	assert_int_equal(s[15], 0);
}

static void test_sense_field_pointer(void **state)
{
	struct scsi_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	scsi_cmd_set_sense_field(&cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB,
	                         true, 0x0102, 5);
	assert_int_equal(cmd.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd.sense[15], 0x80 | 0x40 | 0x08 | 5);
	assert_int_equal(get_be16(cmd.sense + 16), 0x0102);

	scsi_cmd_set_sense_field(&cmd, SCSI_SENSE_ILLEGAL_REQUEST,
	                         SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST, false, 7, -1);
	assert_int_equal(cmd.sense[15], 0x80);
	assert_int_equal(get_be16(cmd.sense + 16), 7);
	assert_int_equal(get_be16(cmd.sense + 12), SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
}

static void test_unsupported_opcode(void **state)
{
	struct t_env *e = *state;
	const uint8_t format_unit[6] = {0x04};
	const uint8_t vendor[6] = {0xc5};
	const uint8_t group3[10] = {0x7f};

	assert_int_equal(t_run(e, format_unit, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	assert_int_equal(t_run(e, vendor, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	assert_int_equal(t_run(e, group3, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	assert_int_equal(e->done_calls, 0);
}

static void test_no_cdb(void **state)
{
	struct scsi_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	assert_int_equal(scsi_cmd_setup(&cmd), 1);
	assert_int_equal(cmd.status, SCSI_STATUS_CHECK_CONDITION);
}

static void test_short_cdb(void **state)
{
	struct t_env *e = *state;
	const uint8_t cdb[6] = {0x00};
	struct scsi_cmd *cmd = &e->cmd;

	memset(cmd, 0, sizeof(*cmd));
	cmd->luns = &e->set;
	cmd->cdb = cdb;
	cmd->cdb_len = 5;
	assert_int_equal(scsi_cmd_setup(cmd), 1);
	e->setup_rc = 1;
	t_expect_field(e, 0, -1);
}

static void test_naca_rejected(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0x00, 0, 0, 0, 0, 0x04};
	const uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x04};

	assert_int_equal(t_run(e, tur, 6), 1);
	t_expect_field(e, 5, 2);
	assert_int_equal(t_run(e, read10, 10), 1);
	t_expect_field(e, 9, 2);
}

static void test_no_lu_inquiry(void **state)
{
	struct t_env *e = *state;
	const uint8_t inq[6] = {0x12, 0, 0, 0, 96, 0};

	assert_int_equal(t_run_lun(e, 5, inq, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 96);
	assert_int_equal(e->buf[0], 0x7f);
}

static void test_no_lu_other_commands(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0x00};
	const uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	const uint8_t bad[6] = {0x04};
	const uint8_t vpd[6] = {0x12, 1, 0x80, 0, 64, 0};

	assert_int_equal(t_run_lun(e, 1, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	assert_int_equal(t_run_lun(e, 255, read10, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	assert_int_equal(t_run_lun(e, 1000, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	assert_int_equal(t_run_lun(e, 2, bad, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	assert_int_equal(t_run_lun(e, 2, vpd, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
}

static void test_no_lu_report_luns_and_request_sense(void **state)
{
	struct t_env *e = *state;
	const uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	const uint8_t rs[6] = {0x03, 0, 0, 0, 252, 0};

	assert_int_equal(t_run_lun(e, 9, rl, 12), 0);
	t_expect_good(e);
	assert_int_equal(get_be32(e->buf), 8);
	assert_int_equal(t_run_lun(e, 9, rs, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 18);
	assert_int_equal(e->buf[2], SCSI_SENSE_ILLEGAL_REQUEST);
	assert_int_equal(get_be16(e->buf + 12), SCSI_ASC_LU_NOT_SUPPORTED);
}

static void test_no_lun_set(void **state)
{
	struct t_env *e = *state;
	const uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	const uint8_t tur[6] = {0x00};
	struct scsi_cmd *cmd = &e->cmd;

	memset(cmd, 0, sizeof(*cmd));
	cmd->cdb = tur;
	cmd->cdb_len = 6;
	assert_int_equal(scsi_cmd_setup(cmd), 1);
	memset(cmd, 0, sizeof(*cmd));
	cmd->cdb = rl;
	cmd->cdb_len = 12;
	assert_int_equal(scsi_cmd_setup(cmd), 0);
	cmd->data = e->buf;
	cmd->data_cap = e->buf_cap;
	scsi_cmd_exec(cmd);
	assert_int_equal(cmd->data_len, 8);
	assert_int_equal(get_be32(e->buf), 0);
}

static void test_exec_without_setup(void **state)
{
	struct t_env *e = *state;
	const uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	struct scsi_cmd *cmd = &e->cmd;

	memset(cmd, 0, sizeof(*cmd));
	cmd->cdb = read10;
	cmd->cdb_len = 10;
	scsi_cmd_exec(cmd);
	assert_int_equal(cmd->status, SCSI_STATUS_CHECK_CONDITION);
	assert_null(scsi_cmd_direct_buffer(cmd));
}

static void test_ua_reported_once_per_nexus(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0x00};
	uint32_t other[SCSI_MAX_LUNS];

	memcpy(other, e->ua_seen, sizeof(other));
	scsi_lu_raise_ua(e->lu, SCSI_ASC_BUS_DEVICE_RESET);
	assert_int_equal(t_run(e, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_BUS_DEVICE_RESET);
	assert_int_equal(t_run(e, tur, 6), 0);
	t_expect_good(e);

	/* Another I_T nexus still has it pending. */
	memcpy(e->ua_seen, other, sizeof(other));
	assert_int_equal(t_run(e, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_BUS_DEVICE_RESET);
	assert_int_equal(t_run(e, tur, 6), 0);
}

static void test_ua_not_cleared_by_inquiry_or_report_luns(void **state)
{
	struct t_env *e = *state;
	const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
	const uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	const uint8_t read10[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};

	scsi_lu_raise_ua(e->lu, SCSI_ASC_CAPACITY_CHANGED);
	assert_int_equal(t_run(e, inq, 6), 0);
	t_expect_good(e);
	assert_int_equal(t_run(e, rl, 12), 0);
	t_expect_good(e);
	assert_int_equal(t_run(e, read10, 10), 1);
	t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_CAPACITY_CHANGED);
	assert_int_equal(e->fs->reads, 0);
	assert_int_equal(t_run(e, read10, 10), 0);
	t_expect_good(e);
}

static void test_ua_returned_by_request_sense(void **state)
{
	struct t_env *e = *state;
	const uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};
	const uint8_t tur[6] = {0x00};

	scsi_lu_raise_ua(e->lu, SCSI_ASC_POWER_ON_RESET);
	assert_int_equal(t_run(e, rs, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->buf[2], SCSI_SENSE_UNIT_ATTENTION);
	assert_int_equal(get_be16(e->buf + 12), SCSI_ASC_POWER_ON_RESET);
	assert_int_equal(t_run(e, tur, 6), 0);
	t_expect_good(e);
	assert_int_equal(t_run(e, rs, 6), 0);
	assert_int_equal(e->buf[2], SCSI_SENSE_NO_SENSE);
}

static void test_ua_asc_zero_still_reported(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0x00};

	scsi_lu_raise_ua(e->lu, 0);
	assert_int_equal(t_run(e, tur, 6), 1);
	t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_POWER_ON_RESET);
}

static void test_ua_before_invalid_opcode(void **state)
{
	struct t_env *e = *state;
	const uint8_t bad[6] = {0x04};

	scsi_lu_raise_ua(e->lu, SCSI_ASC_REPORTED_LUNS_CHANGED);
	assert_int_equal(t_run(e, bad, 6), 1);
	t_expect_sense(e, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_REPORTED_LUNS_CHANGED);
	assert_int_equal(t_run(e, bad, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
}

static void test_ua_without_nexus_state(void **state)
{
	struct t_env *e = *state;
	const uint8_t tur[6] = {0x00};
	struct scsi_cmd *cmd = &e->cmd;

	scsi_lu_raise_ua(e->lu, SCSI_ASC_POWER_ON_RESET);
	memset(cmd, 0, sizeof(*cmd));
	cmd->luns = &e->set;
	cmd->cdb = tur;
	cmd->cdb_len = 6;
	assert_int_equal(scsi_cmd_setup(cmd), 0);
}

/* Random CDBs, biased towards implemented opcodes, must never crash and
 * must always finish with exactly one done call or a setup failure. */
static void test_random_cdbs(void **state)
{
	static const uint8_t ops[] = {0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x1e, 0x25,
	                              0x28, 0x2a, 0x2e, 0x2f, 0x34, 0x35, 0x37, 0x41, 0x42, 0x55,
	                              0x5a, 0x88, 0x89, 0x8a, 0x8b, 0x8e, 0x8f, 0x90, 0x91, 0x93,
	                              0x9e, 0xa0, 0xa3, 0xa8, 0xaa, 0xae, 0xaf, 0xb7};
	struct t_env *e = *state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t cdb[16];
	unsigned i, j;

	for (i = 0; i < 100000; i++) {
		for (j = 0; j < sizeof(cdb); j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cdb[j] = (uint8_t)x;
		}
		if (i % 4) {
			cdb[0] = ops[x % sizeof(ops)];
		}
		if (i % 3 == 0) {
			/* small LBAs and lengths, no protection: reach the store */
			cdb[1] &= 0x1f;
			memset(cdb + 2, 0, 11);
			cdb[4] = (uint8_t)(x & 0x07); /* READ(6) length, or LBA */
			cdb[8] = cdb[13] = (uint8_t)(x & 0x0f);
		}
		if (i % 8) {
			/* mostly no NACA / LINK, so the handlers run */
			cdb[scsi_cdb_length(cdb[0]) ? scsi_cdb_length(cdb[0]) - 1 : 0] &= 0xfa;
		}
		t_run_lun(e, (x >> 20) % 3, cdb, sizeof(cdb));
		e->lu->stopped = false;
	}
	assert_true(e->fs->reads > 200);
	assert_true(e->fs->writes > 200);
	assert_true(e->fs->flushes > 100);
}

static void test_lu_identity_deterministic(void **state)
{
	struct fake_store *a = fake_store_new(512, 1 << 20, true);
	struct fake_store *b = fake_store_new(512, 1 << 20, false);
	struct fake_store *c = fake_store_new(4096, 1 << 20, false);
	struct scsi_lu *la, *lb, *lc;

	assert_int_equal(scsi_lu_create(3, &a->b, "iqn.2026-11.org.idm:x", &la), 0);
	assert_int_equal(scsi_lu_create(3, &b->b, "iqn.2026-11.org.idm:x", &lb), 0);
	assert_int_equal(scsi_lu_create(4, &c->b, "iqn.2026-11.org.idm:x", &lc), 0);
	assert_memory_equal(la->naa, lb->naa, 16);
	assert_string_equal(la->serial, lb->serial);
	assert_memory_not_equal(la->naa, lc->naa, 16);
	assert_string_not_equal(la->serial, lc->serial);
	assert_int_equal(la->naa[0] >> 4, 6);
	assert_int_equal(strlen(la->serial), 32);
	assert_string_equal(la->vendor, "IDM     ");
	assert_string_equal(la->product, "idm disk        ");
	assert_string_equal(la->revision, "0001");
	assert_int_equal(la->num_blocks, 2048);
	assert_int_equal(lc->num_blocks, 256);
	assert_int_equal(lc->block_size, 4096);
	assert_true(la->write_cache);
	scsi_lu_free(la);
	scsi_lu_free(lb);
	scsi_lu_free(lc);
	scsi_lu_free(NULL);
}

static void test_lu_create_rejects_bad_input(void **state)
{
	struct fake_store *fs = fake_store_new(512, 4096, true);
	struct scsi_lu *lu = NULL;
	char name[300];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(scsi_lu_create(0, NULL, "t", &lu), -EINVAL);
	assert_int_equal(scsi_lu_create(SCSI_MAX_LUNS, &fs->b, "t", &lu), -EINVAL);
	assert_int_equal(scsi_lu_create(0, &fs->b, name, &lu), -ENAMETOOLONG);
	fs->b.block_size = 520;
	assert_int_equal(scsi_lu_create(0, &fs->b, "t", &lu), -EINVAL);
	fs->b.block_size = 512;
	fs->b.size = 100;
	assert_int_equal(scsi_lu_create(0, &fs->b, "t", &lu), -EINVAL);
	assert_null(lu);
	fs->b.size = 4096;
	assert_int_equal(scsi_lu_create(0, &fs->b, NULL, &lu), 0);
	scsi_lu_free(lu);
}

static void test_lu_free_closes_store(void **state)
{
	struct fake_store *fs = fake_store_new(512, 4096, true);
	struct scsi_lu *lu;
	bool closed = false;

	fs->closed = &closed;
	assert_int_equal(scsi_lu_create(0, &fs->b, "t", &lu), 0);
	scsi_lu_free(lu);
	assert_true(closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cdb_length_table),
	    cmocka_unit_test(test_sense_fixed_format),
	    cmocka_unit_test(test_sense_field_pointer),
	    cmocka_unit_test(test_no_cdb),
	    cmocka_unit_test(test_lu_identity_deterministic),
	    cmocka_unit_test(test_lu_create_rejects_bad_input),
	    cmocka_unit_test(test_lu_free_closes_store),
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
	    T(test_unsupported_opcode),
	    T(test_short_cdb),
	    T(test_naca_rejected),
	    T(test_no_lu_inquiry),
	    T(test_no_lu_other_commands),
	    T(test_no_lu_report_luns_and_request_sense),
	    T(test_no_lun_set),
	    T(test_exec_without_setup),
	    T(test_ua_reported_once_per_nexus),
	    T(test_ua_not_cleared_by_inquiry_or_report_luns),
	    T(test_ua_returned_by_request_sense),
	    T(test_ua_asc_zero_still_reported),
	    T(test_ua_before_invalid_opcode),
	    T(test_ua_without_nexus_state),
	    T(test_random_cdbs),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
