/* SPDX-License-Identifier: BSD-3-Clause */
/* PRE-FETCH, READ DEFECT DATA, PREVENT ALLOW MEDIUM REMOVAL, MODE SELECT
 * and WRITE AND VERIFY. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000

static void test_prefetch(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x34, 0, 0, 256);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	t_cdb10(cdb, 0x34, 0x02, BLOCKS - 1, 1); /* IMMED */
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	t_cdb10(cdb, 0x34, 0, BLOCKS, 0); /* 0 blocks at the end */
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	t_cdb16(cdb, 0x90, 0, BLOCKS - 10, 10);
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->reads, 0);
}

static void test_prefetch_errors(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x34, 0, BLOCKS - 1, 2);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	t_cdb16(cdb, 0x90, 0, UINT64_MAX, 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	e->lu->stopped = true;
	t_cdb16(cdb, 0x90, 0, 0, 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_NOT_READY, 0x0402);
	e->lu->stopped = false;
}

static void test_read_defect10(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10] = {0x37, 0, 0x18 | 0x05};

	put_be16(cdb + 7, 32);
	memset(e->buf, 0xee, 32);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_READ);
	assert_int_equal(e->cmd.data_len, 4);
	assert_int_equal(e->buf[0], 0);
	assert_int_equal(e->buf[1], 0x1d); /* PLISTV, GLISTV, format 101b */
	assert_int_equal(get_be16(e->buf + 2), 0);
	put_be16(cdb + 7, 2);
	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_int_equal(e->cmd.data_len, 2);
}

static void test_read_defect12(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[12] = {0xb7, 0x10 | 0x04};

	put_be32(cdb + 6, 64);
	memset(e->buf, 0xee, 64);
	assert_int_equal(t_run(e, cdb, 12), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 8);
	assert_int_equal(e->buf[1], 0x14);
	assert_int_equal(get_be32(e->buf + 4), 0);
}

static void test_prevent_allow(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[6] = {0x1e};
	int prevent;

	for (prevent = 0; prevent < 4; prevent++) {
		cdb[4] = (uint8_t)prevent;
		assert_int_equal(t_run(e, cdb, 6), 0);
		t_expect_good(e);
	}
}

/* A MODE SELECT(6) list in e->buf: header, then the current page `code`
 * as MODE SENSE returns it. Returns its length; the page is at 4. */
static uint8_t select_list(struct t_env *e, uint8_t code)
{
	uint8_t cdb[6] = {0x1a, 0x08, code, 0, 255};
	uint8_t len;

	assert_int_equal(t_run(e, cdb, 6), 0);
	len = (uint8_t)(e->buf[0] + 1);
	memset(e->buf, 0, 4);
	return len;
}

static int mode_select6(struct t_env *e, uint8_t b1, uint8_t len)
{
	uint8_t cdb[6] = {0x15, b1, 0, 0, len};

	return t_run(e, cdb, 6);
}

static void test_mode_select_wce(void **state)
{
	struct t_env *e = *state;
	uint8_t len = select_list(e, 0x08);

	assert_true(e->lu->write_cache);
	assert_int_equal(e->buf[4], 0x08);
	e->buf[6] &= (uint8_t)~0x04;
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_false(e->lu->write_cache);
	len = select_list(e, 0x08);
	assert_int_equal(e->buf[6] & 0x04, 0); /* MODE SENSE shows it */
	e->buf[6] |= 0x04;
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_good(e);
	assert_true(e->lu->write_cache);
	/* Unchanged control and exceptions pages are accepted too. */
	len = select_list(e, 0x0a);
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_good(e);
	len = select_list(e, 0x3f);
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_good(e);
}

static void test_mode_select_bad_cdb(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(mode_select6(e, 0x11, 24), 1); /* SP */
	t_expect_field(e, 1, 0);
	assert_int_equal(mode_select6(e, 0x00, 24), 1); /* PF=0 */
	t_expect_field(e, 1, 4);
	assert_int_equal(mode_select6(e, 0x00, 0), 0); /* nothing sent */
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
}

static void test_mode_select_bad_list(void **state)
{
	struct t_env *e = *state;
	uint8_t len;

	assert_int_equal(mode_select6(e, 0x10, 3), 0); /* shorter than the header */
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	len = select_list(e, 0x08);
	e->buf[4 + 3] ^= 0x01; /* a caching page byte that is not changeable */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_param(e, 4 + 3);
	len = select_list(e, 0x08);
	e->buf[6] ^= 0x01; /* RCD, next to WCE */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_param(e, 6);
	len = select_list(e, 0x08);
	e->buf[5] = 0x10; /* wrong page length */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_param(e, 5);
	len = select_list(e, 0x08);
	e->buf[4] = 0x19; /* a page we do not have */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_param(e, 4);
	len = select_list(e, 0x08);
	e->buf[4] |= 0x40; /* SPF: no subpages */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_param(e, 4);
	len = select_list(e, 0x08);
	assert_int_equal(mode_select6(e, 0x10, (uint8_t)(len - 1)), 0); /* cut page */
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	len = select_list(e, 0x08);
	e->buf[3] = 200; /* block descriptors longer than the list */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	assert_true(e->lu->write_cache);
}

/* A list with a bad page after a good one changes nothing. */
static void test_mode_select_all_or_nothing(void **state)
{
	struct t_env *e = *state;
	uint8_t len = select_list(e, 0x3f);

	assert_int_equal(e->buf[4], 0x08);
	e->buf[6] &= (uint8_t)~0x04; /* WCE off in the first page */
	e->buf[4 + 20 + 3] ^= 0x10;  /* and a change in the control page */
	assert_int_equal(mode_select6(e, 0x10, len), 0);
	t_expect_param(e, 4 + 20 + 3);
	assert_true(e->lu->write_cache);
}

static void test_mode_select_block_descriptor(void **state)
{
	struct t_env *e = *state;
	uint8_t *p = e->buf;
	uint8_t cdb[10] = {0x55, 0x10};

	/* MODE SELECT(6): one descriptor restating the block size. */
	memset(p, 0, 12);
	p[3] = 8;
	put_be24(p + 4 + 5, BS);
	assert_int_equal(mode_select6(e, 0x10, 12), 0);
	t_expect_good(e);
	put_be24(p + 4 + 5, 4096);
	assert_int_equal(mode_select6(e, 0x10, 12), 0);
	t_expect_param(e, 4 + 5);
	p[3] = 7; /* not a whole descriptor */
	assert_int_equal(mode_select6(e, 0x10, 12), 0);
	t_expect_param(e, 3);
	/* MODE SELECT(10) with a long LBA descriptor. */
	memset(p, 0, 24);
	p[4] = 0x01;
	put_be16(p + 6, 16);
	put_be64(p + 8, BLOCKS);
	put_be32(p + 8 + 12, BS);
	put_be16(cdb + 7, 24);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	put_be32(p + 8 + 12, 1024);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_param(e, 8 + 12);
	put_be16(cdb + 7, 7); /* shorter than the 8-byte header */
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
}

static void test_mode_select_short_buffer(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[6] = {0x15, 0x10, 0, 0, 24};
	uint8_t small[4];

	assert_int_equal(t_run_data(e, cdb, 6, small, sizeof(small)), 0);
	t_expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
}

static void test_write_verify(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	memset(e->buf, 0x71, 4 * BS);
	t_cdb10(cdb, 0x2e, 0x02, 10, 2); /* BYTCHK=1 */
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(e->cmd.xfer_len, 2 * BS);
	assert_memory_equal(e->fs->mem + 10 * BS, e->buf, 2 * BS);
	memset(e->buf, 0x72, 4 * BS);
	t_cdb12(cdb, 0xae, 0x10, 20, 3); /* DPO */
	assert_int_equal(t_run(e, cdb, 12), 0);
	t_expect_good(e);
	assert_memory_equal(e->fs->mem + 20 * BS, e->buf, 3 * BS);
	memset(e->buf, 0x73, 4 * BS);
	t_cdb16(cdb, 0x8e, 0, BLOCKS - 4, 4);
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_good(e);
	assert_memory_equal(e->fs->mem + (BLOCKS - 4) * BS, e->buf, 4 * BS);
	assert_int_equal(e->fs->writes, 3);
	t_cdb16(cdb, 0x8e, 0, 0, 0); /* 0 blocks */
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->writes, 3);
}

static void test_write_verify_errors(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x2e, 0x04, 0, 1); /* BYTCHK=10b */
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_field(e, 1, 2);
	t_cdb10(cdb, 0x2e, 0x06, 0, 1); /* BYTCHK=11b */
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_field(e, 1, 2);
	t_cdb12(cdb, 0xae, 0x20, 0, 1); /* WRPROTECT */
	assert_int_equal(t_run(e, cdb, 12), 1);
	t_expect_field(e, 1, 7);
	t_cdb16(cdb, 0x8e, 0, BLOCKS, 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	e->fs->fail = -EIO;
	t_cdb10(cdb, 0x2e, 0, 0, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	e->fs->fail = 0;
}

/* Zero copy: the target receives WRITE AND VERIFY data in place too. */
static void test_write_verify_direct(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];
	uint8_t *direct;

	t_cdb10(cdb, 0x2e, 0, 5, 2);
	memset(&e->cmd, 0, sizeof(e->cmd));
	e->cmd.luns = &e->set;
	e->cmd.cdb = cdb;
	e->cmd.cdb_len = 10;
	assert_int_equal(scsi_cmd_setup(&e->cmd), 0);
	direct = scsi_cmd_direct_buffer(&e->cmd);
	assert_ptr_equal(direct, e->fs->mem + 5 * BS);
}

#define T(f, setup) cmocka_unit_test_setup_teardown(f, setup, t_env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_prefetch, t_env_setup_nomap),
	    T(test_prefetch_errors, t_env_setup_map),
	    T(test_read_defect10, t_env_setup_map),
	    T(test_read_defect12, t_env_setup_map),
	    T(test_prevent_allow, t_env_setup_map),
	    T(test_mode_select_wce, t_env_setup_map),
	    T(test_mode_select_bad_cdb, t_env_setup_map),
	    T(test_mode_select_bad_list, t_env_setup_map),
	    T(test_mode_select_all_or_nothing, t_env_setup_map),
	    T(test_mode_select_block_descriptor, t_env_setup_map),
	    T(test_mode_select_short_buffer, t_env_setup_map),
	    T(test_write_verify, t_env_setup_nomap),
	    T(test_write_verify_errors, t_env_setup_nomap),
	    T(test_write_verify_direct, t_env_setup_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
