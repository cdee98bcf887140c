/* SPDX-License-Identifier: BSD-3-Clause */
/* READ, WRITE, VERIFY and SYNCHRONIZE CACHE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000

static const uint8_t *medium(struct t_env *e, uint64_t lba)
{
	return e->fs->mem + lba * BS;
}

static void test_read10(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];

	t_cdb10(cdb, 0x28, 0, 10, 4);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_READ);
	assert_int_equal(e->cmd.xfer_len, 4 * BS);
	assert_int_equal(e->cmd.lba, 10);
	assert_int_equal(e->cmd.nblocks, 4);
	assert_int_equal(e->cmd.data_len, 4 * BS);
	assert_memory_equal(e->buf, medium(e, 10), 4 * BS);
	assert_int_equal(e->fs->reads, 1);
}

static void test_write10(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];

	memset(e->buf, 0x5a, 2 * BS);
	t_cdb10(cdb, 0x2a, 0, 7, 2);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(e->cmd.data_len, 0);
	assert_memory_equal(e->buf, medium(e, 7), 2 * BS);
	assert_int_equal(e->fs->writes, 1);
	assert_int_equal(e->fs->fua_writes, 0);
}

static void test_read6_write6(void **state)
{
	struct t_env *e = *state;
	const uint8_t rd[6] = {0x08, 0, 0, 5, 3, 0};
	const uint8_t wr[6] = {0x0a, 0, 0, 9, 1, 0};

	assert_int_equal(t_run(e, rd, 6), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.lba, 5);
	assert_memory_equal(e->buf, medium(e, 5), 3 * BS);
	memset(e->buf, 0x11, BS);
	assert_int_equal(t_run(e, wr, 6), 0);
	t_expect_good(e);
	assert_memory_equal(e->buf, medium(e, 9), BS);
}

static void test_read6_zero_means_256(void **state)
{
	struct t_env *e = *state;
	const uint8_t rd[6] = {0x08, 0, 0, 0, 0, 0};
	const uint8_t edge[6] = {0x08, 0, 0x02, 0xf9, 0, 0}; /* 761 + 256 > 1000 */

	assert_int_equal(t_run(e, rd, 6), 0);
	assert_int_equal(e->cmd.nblocks, 256);
	assert_int_equal(e->cmd.xfer_len, 256 * BS);
	assert_memory_equal(e->buf, medium(e, 0), 256 * BS);
	assert_int_equal(t_run(e, edge, 6), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
}

static void test_read12_read16_write16(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb12(cdb, 0xa8, 0, 100, 2);
	assert_int_equal(t_run(e, cdb, 12), 0);
	assert_memory_equal(e->buf, medium(e, 100), 2 * BS);
	t_cdb16(cdb, 0x88, 0, 200, 3);
	assert_int_equal(t_run(e, cdb, 16), 0);
	assert_memory_equal(e->buf, medium(e, 200), 3 * BS);
	memset(e->buf, 0x77, BS);
	t_cdb16(cdb, 0x8a, 0, 300, 1);
	assert_int_equal(t_run(e, cdb, 16), 0);
	assert_memory_equal(e->buf, medium(e, 300), BS);
	t_cdb12(cdb, 0xaa, 0, 301, 1);
	assert_int_equal(t_run(e, cdb, 12), 0);
	assert_memory_equal(e->buf, medium(e, 301), BS);
}

static void test_zero_length_moves_nothing(void **state)
{
	struct t_env *e = *state;
	const uint8_t ops[] = {0x28, 0x2a};
	uint8_t cdb[16];
	size_t i;

	for (i = 0; i < sizeof(ops); i++) {
		t_cdb10(cdb, ops[i], 0, 0, 0);
		assert_int_equal(t_run(e, cdb, 10), 0);
		t_expect_good(e);
		assert_int_equal(e->cmd.xfer_len, 0);
		assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
		assert_int_equal(e->cmd.data_len, 0);
	}
	t_cdb16(cdb, 0x88, 0, BLOCKS, 0);
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_good(e);
	t_cdb12(cdb, 0xaa, 0, BLOCKS + 1, 0);
	assert_int_equal(t_run(e, cdb, 12), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(e->fs->reads + e->fs->writes, 0);
}

static void test_lba_range_edge(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x28, 0, BLOCKS - 1, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	t_cdb10(cdb, 0x28, 0, BLOCKS, 1);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	t_cdb10(cdb, 0x2a, 0, BLOCKS - 2, 3);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	t_cdb10(cdb, 0x28, 0, 0x80000000u, 1);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	t_cdb10(cdb, 0x28, 0, 0xffffffffu, 1);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	/* An LBA near 2^64 must not wrap around. */
	t_cdb16(cdb, 0x88, 0, UINT64_MAX, 2);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	t_cdb16(cdb, 0x8a, 0, 1, UINT32_MAX);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(e->fs->reads, 1);
}

static void test_protect_field_rejected(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x28, 0x20, 0, 1);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_field(e, 1, 7);
	t_cdb16(cdb, 0x8a, 0xe0, 0, 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_field(e, 1, 7);
	t_cdb12(cdb, 0xaf, 0x40, 0, 1);
	assert_int_equal(t_run(e, cdb, 12), 1);
	t_expect_field(e, 1, 7);
}

static void test_too_long_transfer(void **state)
{
	struct t_env *e = t_env_new(BS, 1u << 16, false);
	uint8_t cdb[16];

	t_cdb16(cdb, 0x88, 0, 0, (16u << 20) / BS + 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_field(e, 10, -1);
	t_cdb12(cdb, 0xa8, 0, 0, (16u << 20) / BS + 1);
	assert_int_equal(t_run(e, cdb, 12), 1);
	t_expect_field(e, 6, -1);
	t_env_free(e);
}

static void test_fua_reaches_store(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x2a, 0x08, 1, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_true(e->cmd.fua);
	assert_int_equal(e->fs->fua_writes, 1);
	t_cdb16(cdb, 0x8a, 0x18, 1, 1); /* DPO too */
	assert_int_equal(t_run(e, cdb, 16), 0);
	assert_int_equal(e->fs->fua_writes, 2);
	t_cdb10(cdb, 0x28, 0x08, 1, 1); /* FUA read: no write, no error */
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->reads, 1);
}

static void test_direct_buffer_zero_copy(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];
	uint8_t *direct;

	t_cdb10(cdb, 0x28, 0, 20, 2);
	e->cmd.cdb = cdb;
	assert_int_equal(t_run(e, cdb, 10), 0); /* a normal read, for reference */
	t_cdb10(cdb, 0x2a, 0x08, 20, 2);
	memset(&e->cmd, 0, sizeof(e->cmd));
	e->cmd.luns = &e->set;
	e->cmd.cdb = cdb;
	e->cmd.cdb_len = 10;
	assert_int_equal(scsi_cmd_setup(&e->cmd), 0);
	direct = scsi_cmd_direct_buffer(&e->cmd);
	assert_ptr_equal(direct, e->fs->mem + 20 * BS);
	memset(direct, 0x42, 2 * BS); /* the transport receives into it */
	e->cmd.data = direct;
	e->cmd.data_cap = e->cmd.xfer_len;
	scsi_cmd_exec(&e->cmd);
	assert_int_equal(e->cmd.status, SCSI_STATUS_GOOD);
	assert_int_equal(e->fs->writes, 0);
	assert_int_equal(e->fs->reads, 1);

	t_cdb10(cdb, 0x28, 0, 20, 2);
	assert_int_equal(scsi_cmd_setup(&e->cmd), 0);
	direct = scsi_cmd_direct_buffer(&e->cmd);
	e->cmd.data = direct;
	e->cmd.data_cap = e->cmd.xfer_len;
	scsi_cmd_exec(&e->cmd);
	assert_int_equal(e->cmd.data_len, 2 * BS);
	assert_int_equal(direct[0], 0x42);
	assert_int_equal(e->fs->reads, 1);
}

static void test_direct_buffer_not_offered(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x2f, 0x02, 0, 1); /* VERIFY must not compare in place */
	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_null(scsi_cmd_direct_buffer(&e->cmd));
	t_cdb10(cdb, 0x28, 0, 0, 0);
	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_null(scsi_cmd_direct_buffer(&e->cmd));
	t_cdb10(cdb, 0x28, 0, BLOCKS, 1);
	assert_int_equal(t_run(e, cdb, 10), 1);
	assert_null(scsi_cmd_direct_buffer(&e->cmd));
}

static void test_direct_buffer_without_map(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];

	t_cdb10(cdb, 0x28, 0, 0, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_null(scsi_cmd_direct_buffer(&e->cmd));
	assert_int_equal(e->fs->reads, 1);
	assert_memory_equal(e->buf, medium(e, 0), BS);
}

static void test_store_errors(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];

	e->fs->fail = -EIO;
	t_cdb10(cdb, 0x28, 0, 0, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_READ_ERROR);
	assert_int_equal(e->cmd.data_len, 0);
	t_cdb10(cdb, 0x2a, 0, 0, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	t_cdb10(cdb, 0x35, 0, 0, 0);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
}

static void test_async_completion(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];

	e->fs->deferred = true;
	t_cdb10(cdb, 0x28, 0, 3, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_int_equal(e->done_calls, 0);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 1);
	t_expect_good(e);
	assert_memory_equal(e->buf, medium(e, 3), BS);
}

static void test_short_buffer(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];
	uint8_t small[BS];

	t_cdb10(cdb, 0x28, 0, 0, 2);
	assert_int_equal(t_run_data(e, cdb, 10, small, sizeof(small)), 0);
	t_expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(t_run_data(e, cdb, 10, NULL, 0), 0);
	t_expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(e->fs->reads, 0);
}

static void test_verify_range_only(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x2f, 0, 0, BLOCKS);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	assert_int_equal(e->cmd.xfer_len, 0);
	t_cdb16(cdb, 0x8f, 0x10, BLOCKS - 1, 2); /* DPO */
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	t_cdb12(cdb, 0xaf, 0, BLOCKS, 0);
	assert_int_equal(t_run(e, cdb, 12), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->reads, 0);
}

static void verify_bytchk1(struct t_env *e)
{
	uint8_t cdb[10];

	memcpy(e->buf, medium(e, 40), 3 * BS);
	t_cdb10(cdb, 0x2f, 0x02, 40, 3);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(e->cmd.xfer_len, 3 * BS);

	e->buf[2 * BS + 17] ^= 1;
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_sense(e, SCSI_SENSE_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(e->cmd.sense[0] & 0x80, 0x80);
	assert_int_equal(get_be32(e->cmd.sense + 3), 2 * BS + 17);
}

static void test_verify_bytchk1_mapped(void **state)
{
	verify_bytchk1(*state);
}

static void test_verify_bytchk1_unmapped(void **state)
{
	struct t_env *e = *state;

	verify_bytchk1(e);
	assert_int_equal(e->fs->reads, 2);
}

static void test_verify_bytchk_one_block(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	memset(e->fs->mem + 50 * BS, 0xab, 4 * BS);
	memset(e->buf, 0xab, BS);
	t_cdb16(cdb, 0x8f, 0x06, 50, 4);
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.xfer_len, BS);
	e->fs->mem[52 * BS + 3] = 0;
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_sense(e, SCSI_SENSE_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
}

static void test_verify_bytchk_reserved(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10];

	t_cdb10(cdb, 0x2f, 0x04, 0, 1);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_expect_field(e, 1, 2);
}

static void test_sync_cache_flushes(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16];

	t_cdb10(cdb, 0x35, 0, 0, 0);
	assert_int_equal(t_run(e, cdb, 10), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	assert_int_equal(e->fs->flushes, 1);
	t_cdb16(cdb, 0x91, 0x02, 10, 20); /* IMMED */
	assert_int_equal(t_run(e, cdb, 16), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->flushes, 2);
	t_cdb16(cdb, 0x91, 0, BLOCKS - 1, 2);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(e->fs->flushes, 2);
}

static void test_4k_blocks(void **state)
{
	struct t_env *e = t_env_new(4096, 64, true);
	uint8_t cdb[10];

	t_cdb10(cdb, 0x28, 0, 63, 1);
	assert_int_equal(t_run(e, cdb, 10), 0);
	assert_int_equal(e->cmd.xfer_len, 4096);
	assert_memory_equal(e->buf, e->fs->mem + 63 * 4096, 4096);
	t_cdb10(cdb, 0x28, 0, 63, 2);
	assert_int_equal(t_run(e, cdb, 10), 1);
	t_env_free(e);
}

int main(void)
{
#define M(f) cmocka_unit_test_setup_teardown(f, t_env_setup_map, t_env_teardown)
#define N(f) cmocka_unit_test_setup_teardown(f, t_env_setup_nomap, t_env_teardown)
	const struct CMUnitTest tests[] = {
	    N(test_read10),
	    N(test_write10),
	    N(test_read6_write6),
	    N(test_read6_zero_means_256),
	    N(test_read12_read16_write16),
	    M(test_read10),
	    M(test_read12_read16_write16),
	    N(test_zero_length_moves_nothing),
	    N(test_lba_range_edge),
	    N(test_protect_field_rejected),
	    cmocka_unit_test(test_too_long_transfer),
	    N(test_fua_reaches_store),
	    M(test_direct_buffer_zero_copy),
	    M(test_direct_buffer_not_offered),
	    N(test_direct_buffer_without_map),
	    N(test_store_errors),
	    N(test_async_completion),
	    N(test_short_buffer),
	    N(test_verify_range_only),
	    M(test_verify_bytchk1_mapped),
	    N(test_verify_bytchk1_unmapped),
	    M(test_verify_bytchk_one_block),
	    N(test_verify_bytchk_one_block),
	    N(test_verify_bytchk_reserved),
	    N(test_sync_cache_flushes),
	    M(test_sync_cache_flushes),
	    cmocka_unit_test(test_4k_blocks),
	};
#undef M
#undef N

	return cmocka_run_group_tests(tests, NULL, NULL);
}
