/* SPDX-License-Identifier: BSD-3-Clause */
/* WRITE SAME(10) and WRITE SAME(16). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 10000
#define WS10 0x41
#define WS16 0x93
#define UNMAP 0x08
#define NDOB 0x01
#define MAX_WS ((16u << 20) / BS) /* MAXIMUM WRITE SAME LENGTH */

static int env_map(void **state)
{
	*state = t_env_new(BS, BLOCKS, true);
	return 0;
}

static int env_nomap(void **state)
{
	*state = t_env_new(BS, BLOCKS, false);
	return 0;
}

static int env_teardown(void **state)
{
	t_env_free(*state);
	return 0;
}

static const uint8_t *medium(struct t_env *e, uint64_t lba)
{
	return e->fs->mem + lba * BS;
}

/* Every block of [lba, +n) holds `block`; the blocks either side don't. */
static void expect_blocks(struct t_env *e, uint64_t lba, uint32_t n, const uint8_t *block)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		assert_memory_equal(medium(e, lba + i), block, BS);
	}
	if (lba > 0) {
		assert_memory_not_equal(medium(e, lba - 1), block, BS);
	}
	if (lba + n < BLOCKS) {
		assert_memory_not_equal(medium(e, lba + n), block, BS);
	}
}

static void pattern(uint8_t *buf, uint8_t seed)
{
	unsigned i;

	for (i = 0; i < BS; i++) {
		buf[i] = (uint8_t)(seed + i * 3);
	}
}

static int ws(struct t_env *e, uint8_t op, uint8_t b1, uint64_t lba, uint32_t n)
{
	uint8_t cdb[16];

	if (op == WS10) {
		t_cdb10(cdb, op, b1, (uint32_t)lba, (uint16_t)n);
		return t_run(e, cdb, 10);
	}
	t_cdb16(cdb, op, b1, lba, n);
	return t_run(e, cdb, 16);
}

/* Mapped store: the block is copied in place, no store request. */
static void test_ws10_pattern_mapped(void **state)
{
	struct t_env *e = *state;
	uint8_t block[BS];

	pattern(block, 1);
	memcpy(e->buf, block, BS);
	assert_int_equal(ws(e, WS10, 0, 10, 5), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(e->cmd.xfer_len, BS);
	expect_blocks(e, 10, 5, block);
	assert_int_equal(e->fs->writes, 0);
}

/* Store without memory: chunks of 1 MiB of replicated blocks. */
static void test_ws16_pattern_chunks(void **state)
{
	struct t_env *e = *state;
	uint8_t block[BS];

	pattern(block, 2);
	memcpy(e->buf, block, BS);
	assert_int_equal(ws(e, WS16, 0, 100, 3000), 0);
	t_expect_good(e);
	expect_blocks(e, 100, 3000, block);
	assert_int_equal(e->fs->writes, 2); /* 2048 + 952 blocks */
	assert_int_equal(e->fs->zeroes + e->fs->unmaps, 0);
}

/* The same, with each request completing later (io_uring). */
static void test_ws16_pattern_async(void **state)
{
	struct t_env *e = *state;
	uint8_t block[BS];

	pattern(block, 3);
	memcpy(e->buf, block, BS);
	e->fs->deferred = true;
	assert_int_equal(ws(e, WS16, 0, 0, 5000), 0);
	assert_int_equal(e->done_calls, 0);
	fake_complete(e->fs);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 0);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 1);
	t_expect_good(e);
	expect_blocks(e, 0, 5000, block);
	assert_int_equal(e->fs->writes, 3);
}

/* A store that writes the same block itself (rbd): one request with
 * the command's own block, deferred, and no pattern buffer. */
static void test_ws16_native(void **state)
{
	struct t_env *e = *state;
	uint8_t block[BS];

	pattern(block, 4);
	memcpy(e->buf, block, BS);
	e->fs->b.native_ops = 1u << IDM_BACKING_WRITE_SAME;
	e->fs->deferred = true;
	assert_int_equal(ws(e, WS16, 0, 7, 3000), 0);
	assert_int_equal(e->done_calls, 0);
	assert_ptr_equal(e->fs->pending->buf, e->buf);
	assert_int_equal(e->fs->pending->len, 3000 * BS);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 1);
	t_expect_good(e);
	expect_blocks(e, 7, 3000, block);
	assert_int_equal(e->fs->write_sames, 1);
	assert_int_equal(e->fs->writes, 0);
}

/* Zeros and UNMAP still go to WRITE ZEROES / UNMAP on such a store. */
static void test_ws16_native_unmap(void **state)
{
	struct t_env *e = *state;

	memset(e->buf, 0, BS);
	e->fs->b.native_ops = 1u << IDM_BACKING_WRITE_SAME;
	assert_int_equal(ws(e, WS16, UNMAP, 0, 100), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->unmaps, 1);
	assert_int_equal(e->fs->write_sames, 0);
}

static void test_ws_zeros_write_zeroes(void **state)
{
	struct t_env *e = *state;
	uint8_t zero[BS];

	memset(zero, 0, BS);
	memset(e->buf, 0, BS);
	assert_int_equal(ws(e, WS10, 0, 7, 9), 0);
	t_expect_good(e);
	expect_blocks(e, 7, 9, zero);
	assert_int_equal(e->fs->zeroes, 1);
	assert_int_equal(e->fs->writes + e->fs->unmaps, 0);
}

/* UNMAP set: deallocate, whatever the data (LBPRZ: reads zeros). */
static void test_ws_unmap(void **state)
{
	struct t_env *e = *state;
	uint8_t zero[BS];

	memset(zero, 0, BS);
	memset(e->buf, 0xff, BS);
	assert_int_equal(ws(e, WS16, UNMAP, 20, 30), 0);
	t_expect_good(e);
	expect_blocks(e, 20, 30, zero);
	assert_int_equal(e->fs->unmaps, 1);
	assert_int_equal(ws(e, WS10, UNMAP, 60, 3), 0);
	t_expect_good(e);
	expect_blocks(e, 60, 3, zero);
	assert_int_equal(e->fs->unmaps, 2);
}

/* NDOB: no data-out at all; zeros, or an unmap with UNMAP. */
static void test_ws16_ndob(void **state)
{
	struct t_env *e = *state;
	uint8_t zero[BS];

	memset(zero, 0, BS);
	assert_int_equal(ws(e, WS16, NDOB, 40, 4), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	assert_int_equal(e->cmd.xfer_len, 0);
	expect_blocks(e, 40, 4, zero);
	assert_int_equal(e->fs->zeroes, 1);
	assert_int_equal(ws(e, WS16, NDOB | UNMAP, 50, 4), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->unmaps, 1);
	/* Even with no buffer at all. */
	assert_int_equal(ws(e, WS16, NDOB, 70, 1), 0);
	assert_int_equal(e->cmd.xfer_len, 0);
}

static void test_ws_bad_flags(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(ws(e, WS10, NDOB, 0, 1), 1); /* NDOB only in 16 */
	t_expect_field(e, 1, 0);
	assert_int_equal(ws(e, WS16, 0x20, 0, 1), 1); /* WRPROTECT */
	t_expect_field(e, 1, 7);
	assert_int_equal(ws(e, WS10, 0x10 | UNMAP, 0, 1), 1); /* ANCHOR */
	t_expect_field(e, 1, 4);
	assert_int_equal(ws(e, WS16, 0x04, 0, 1), 1); /* PBDATA */
	t_expect_field(e, 1, 2);
	assert_int_equal(ws(e, WS10, 0x02, 0, 1), 1); /* LBDATA */
	t_expect_field(e, 1, 1);
}

static void test_ws_ranges(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(ws(e, WS10, 0, BLOCKS - 1, 2), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(ws(e, WS16, 0, BLOCKS + 1, 0), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(ws(e, WS16, 0, UINT64_MAX, 1), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(ws(e, WS16, 0, 0, MAX_WS + 1), 1); /* over MAXIMUM WRITE SAME LENGTH */
	t_expect_field(e, 10, -1);
	/* 0 blocks: to the end of the LU. */
	memset(e->buf, 0xab, BS);
	assert_int_equal(ws(e, WS10, 0, BLOCKS - 5, 0), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.nblocks, 5);
	assert_int_equal(medium(e, BLOCKS - 1)[0], 0xab);
	/* At the very end: nothing to write, still GOOD. */
	assert_int_equal(ws(e, WS10, 0, BLOCKS, 0), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.nblocks, 0);
}

/* "To the end" longer than the limit is an error. */
static void test_ws_to_end_too_long(void **state)
{
	struct t_env *e = t_env_new(BS, 2 * MAX_WS, false);

	assert_int_equal(ws(e, WS10, 0, 0, 0), 1);
	t_expect_field(e, 7, -1);
	assert_int_equal(ws(e, WS10, 0, MAX_WS - 1, 0), 1);
	t_expect_field(e, 7, -1);
	memset(e->buf, 0, BS);
	assert_int_equal(ws(e, WS10, 0, MAX_WS, 0), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->zeroes, 1);
	assert_int_equal(e->cmd.lba, 2 * MAX_WS); /* advanced over the range */
	assert_int_equal(e->fs->mem[MAX_WS * BS - 1] != 0, true);
	assert_int_equal(e->fs->mem[2 * MAX_WS * BS - 1], 0);
	t_env_free(e);
}

/* The data-out buffer must be exactly one block. */
static void test_ws_dataout_size(void **state)
{
	struct t_env *e = *state;

	e->edtl = BS / 2;
	assert_int_equal(ws(e, WS10, UNMAP, 0, 1), 1);
	t_expect_field(e, 7, -1);
	e->edtl = 2 * BS;
	assert_int_equal(ws(e, WS16, 0, 0, 1), 1);
	t_expect_field(e, 10, -1);
	e->edtl = BS;
	assert_int_equal(ws(e, WS16, 0, 0, 1), 0);
	t_expect_good(e);
	e->edtl = 0;
}

static void test_ws_store_error(void **state)
{
	struct t_env *e = *state;

	memset(e->buf, 0x5a, BS);
	e->fs->fail = -EIO;
	assert_int_equal(ws(e, WS16, 0, 0, 3000), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	assert_int_equal(e->fs->writes, 1); /* stops at the first error */
	assert_int_equal(ws(e, WS16, UNMAP, 0, 3000), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	e->fs->fail = 0;
}

static void test_ws_short_buffer(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10], small[100];

	t_cdb10(cdb, WS10, 0, 0, 1);
	assert_int_equal(t_run_data(e, cdb, 10, small, sizeof(small)), 0);
	t_expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
}

static void test_ws_stopped(void **state)
{
	struct t_env *e = *state;

	e->lu->stopped = true;
	assert_int_equal(ws(e, WS10, 0, 0, 1), 1);
	t_expect_sense(e, SCSI_SENSE_NOT_READY, 0x0402);
	e->lu->stopped = false;
}

#define T(f, setup) cmocka_unit_test_setup_teardown(f, setup, env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_ws10_pattern_mapped, env_map),
	    T(test_ws16_pattern_chunks, env_nomap),
	    T(test_ws16_pattern_async, env_nomap),
	    T(test_ws16_native, env_nomap),
	    T(test_ws16_native_unmap, env_nomap),
	    T(test_ws_zeros_write_zeroes, env_map),
	    T(test_ws_unmap, env_nomap),
	    T(test_ws16_ndob, env_map),
	    T(test_ws_bad_flags, env_map),
	    T(test_ws_ranges, env_map),
	    cmocka_unit_test(test_ws_to_end_too_long),
	    T(test_ws_dataout_size, env_map),
	    T(test_ws_store_error, env_nomap),
	    T(test_ws_short_buffer, env_nomap),
	    T(test_ws_stopped, env_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
