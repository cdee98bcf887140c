/* SPDX-License-Identifier: BSD-3-Clause */
/* UNMAP and GET LBA STATUS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000

/* An UNMAP parameter list with `n` descriptors from lbas / counts in
 * e->buf; returns its length. */
static uint16_t unmap_list(struct t_env *e, unsigned n, const uint64_t *lba, const uint32_t *cnt)
{
	uint8_t *p = e->buf;
	unsigned i;

	memset(p, 0, 8 + 16 * n);
	put_be16(p, (uint16_t)(6 + 16 * n));
	put_be16(p + 2, (uint16_t)(16 * n));
	for (i = 0; i < n; i++) {
		put_be64(p + 8 + 16 * i, lba[i]);
		put_be32(p + 8 + 16 * i + 8, cnt[i]);
	}
	return (uint16_t)(8 + 16 * n);
}

static int unmap(struct t_env *e, uint8_t b1, uint16_t len)
{
	uint8_t cdb[10];

	t_cdb10(cdb, 0x42, b1, 0, len);
	return t_run(e, cdb, 10);
}

static bool zero_blocks(struct t_env *e, uint64_t lba, uint32_t n)
{
	const uint8_t *p = e->fs->mem + lba * BS;
	size_t i;

	for (i = 0; i < (size_t)n * BS; i++) {
		if (p[i]) {
			return false;
		}
	}
	return true;
}

static void test_unmap_descriptors(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[] = {10, 500, 700, BLOCKS - 1};
	uint32_t cnt[] = {5, 0, 100, 1};

	assert_int_equal(unmap(e, 0, unmap_list(e, 4, lba, cnt)), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(e->cmd.xfer_len, 8 + 4 * 16);
	assert_int_equal(e->fs->unmaps, 3); /* the empty descriptor moves nothing */
	assert_true(zero_blocks(e, 10, 5));
	assert_true(zero_blocks(e, 700, 100));
	assert_true(zero_blocks(e, BLOCKS - 1, 1));
	assert_false(zero_blocks(e, 9, 1));
	assert_false(zero_blocks(e, 15, 1));
	assert_false(zero_blocks(e, 500, 1));
}

static void test_unmap_empty(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[] = {BLOCKS};
	uint32_t cnt[] = {0};

	assert_int_equal(unmap(e, 0, 0), 0); /* no parameter list */
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	assert_int_equal(unmap(e, 0, unmap_list(e, 0, lba, cnt)), 0); /* header only */
	t_expect_good(e);
	assert_int_equal(unmap(e, 0, unmap_list(e, 1, lba, cnt)), 0); /* 0 blocks at the end */
	t_expect_good(e);
	assert_int_equal(e->fs->unmaps, 0);
}

static void test_unmap_bad_cdb(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(unmap(e, 0x01, 24), 1); /* ANCHOR */
	t_expect_field(e, 1, 0);
	assert_int_equal(unmap(e, 0, 7), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	assert_int_equal(unmap(e, 0, 1), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
}

/* Every descriptor is checked before any block is unmapped. */
static void test_unmap_out_of_range(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[] = {0, BLOCKS - 1};
	uint32_t cnt[] = {4, 2};

	assert_int_equal(unmap(e, 0, unmap_list(e, 2, lba, cnt)), 0);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(e->fs->unmaps, 0);
	assert_false(zero_blocks(e, 0, 1));
	lba[1] = UINT64_MAX;
	cnt[1] = 1;
	assert_int_equal(unmap(e, 0, unmap_list(e, 2, lba, cnt)), 0);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
}

static void test_unmap_too_many_descriptors(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[257];
	uint32_t cnt[257];
	unsigned i;

	for (i = 0; i < 257; i++) {
		lba[i] = i;
		cnt[i] = 1;
	}
	assert_int_equal(unmap(e, 0, unmap_list(e, 257, lba, cnt)), 0);
	t_expect_param(e, 2);
	assert_int_equal(e->fs->unmaps, 0);
	assert_int_equal(unmap(e, 0, unmap_list(e, 256, lba, cnt)), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->unmaps, 256);
}

/* A header announcing more than was sent: only whole descriptors that
 * arrived count. */
static void test_unmap_truncated_list(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[] = {1, 2};
	uint32_t cnt[] = {1, 1};

	unmap_list(e, 2, lba, cnt);
	assert_int_equal(unmap(e, 0, 8 + 16 + 10), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->unmaps, 1);
	assert_true(zero_blocks(e, 1, 1));
	assert_false(zero_blocks(e, 2, 1));
}

/* Over 4 Gi blocks in total, and requests split at 1 GiB. */
static void test_unmap_huge(void **state)
{
	struct t_env *e = t_env_new(4096, 1ull << 33, false);
	uint64_t lba[] = {0, 1ull << 31};
	uint32_t cnt[] = {0x80000000u, 0x80000000u};

	assert_int_equal(unmap(e, 0, unmap_list(e, 2, lba, cnt)), 0);
	t_expect_param(e, 8 + 16 + 8);
	cnt[1] = 0x7fffffffu;
	assert_int_equal(unmap(e, 0, unmap_list(e, 2, lba, cnt)), 0);
	t_expect_good(e);
	/* 2^31 blocks of 4 KiB = 8 TiB, in 1 GiB requests, twice. */
	assert_int_equal(e->fs->unmaps, 8192 + 8192);
	t_env_free(e);
}

static void test_unmap_async_and_error(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[] = {1, 3};
	uint32_t cnt[] = {1, 1};

	e->fs->deferred = true;
	assert_int_equal(unmap(e, 0, unmap_list(e, 2, lba, cnt)), 0);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 0);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 1);
	t_expect_good(e);
	e->fs->deferred = false;
	e->fs->fail = -EIO;
	assert_int_equal(unmap(e, 0, unmap_list(e, 2, lba, cnt)), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	assert_int_equal(e->fs->unmaps, 3); /* stopped at the failed one */
	e->fs->fail = 0;
}

static void test_unmap_short_buffer(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[10], small[8];

	t_cdb10(cdb, 0x42, 0, 0, 24);
	assert_int_equal(t_run_data(e, cdb, 10, small, sizeof(small)), 0);
	t_expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
}

static int lba_status(struct t_env *e, uint64_t lba, uint32_t alloc)
{
	uint8_t cdb[16];

	t_cdb16(cdb, 0x9e, 0x12, lba, alloc);
	return t_run(e, cdb, 16);
}

static void expect_desc(struct t_env *e, unsigned i, uint64_t lba, uint32_t n, uint8_t status)
{
	const uint8_t *d = e->buf + 8 + 16 * i;

	assert_int_equal(get_be64(d), lba);
	assert_int_equal(get_be32(d + 8), n);
	assert_int_equal(d[12] & 0x0f, status);
}

static void test_get_lba_status(void **state)
{
	struct t_env *e = *state;
	uint64_t lba[] = {10};
	uint32_t cnt[] = {10};

	assert_int_equal(lba_status(e, 5, 24), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_READ);
	assert_int_equal(e->cmd.data_len, 24);
	assert_int_equal(get_be32(e->buf), 20);
	expect_desc(e, 0, 5, BLOCKS - 5, 0);
	/* Unmap [10, 20): three runs. */
	assert_int_equal(unmap(e, 0, unmap_list(e, 1, lba, cnt)), 0);
	assert_int_equal(lba_status(e, 0, 8 + 16 * 8), 0);
	t_expect_good(e);
	assert_int_equal(get_be32(e->buf), 4 + 3 * 16);
	assert_int_equal(e->cmd.data_len, 8 + 3 * 16);
	expect_desc(e, 0, 0, 10, 0);
	expect_desc(e, 1, 10, 10, 1);
	expect_desc(e, 2, 20, BLOCKS - 20, 0);
	/* Only room for two. */
	assert_int_equal(lba_status(e, 12, 8 + 16 * 2), 0);
	assert_int_equal(get_be32(e->buf), 4 + 2 * 16);
	expect_desc(e, 0, 12, 8, 1);
	expect_desc(e, 1, 20, BLOCKS - 20, 0);
	/* Less than the header: truncated. */
	assert_int_equal(lba_status(e, 0, 4), 0);
	assert_int_equal(e->cmd.data_len, 4);
	assert_int_equal(lba_status(e, BLOCKS - 1, 24), 0);
	expect_desc(e, 0, BLOCKS - 1, 1, 0);
}

static void test_get_lba_status_range(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(lba_status(e, BLOCKS, 24), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(lba_status(e, 0x8000000000000000ull, 24), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(lba_status(e, UINT64_MAX, 24), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
}

/* A run longer than the 32-bit count field is split. */
static void test_get_lba_status_long_run(void **state)
{
	struct t_env *e = t_env_new(512, 1ull << 33, false);

	assert_int_equal(lba_status(e, 0, 8 + 32), 0);
	t_expect_good(e);
	expect_desc(e, 0, 0, 0xffffffffu, 0);
	expect_desc(e, 1, 0xffffffffu, 0xffffffffu, 0);
	t_env_free(e);
}

#define T(f, setup) cmocka_unit_test_setup_teardown(f, setup, t_env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_unmap_descriptors, t_env_setup_map),
	    T(test_unmap_empty, t_env_setup_map),
	    T(test_unmap_bad_cdb, t_env_setup_map),
	    T(test_unmap_out_of_range, t_env_setup_nomap),
	    T(test_unmap_too_many_descriptors, t_env_setup_map),
	    T(test_unmap_truncated_list, t_env_setup_map),
	    cmocka_unit_test(test_unmap_huge),
	    T(test_unmap_async_and_error, t_env_setup_nomap),
	    T(test_unmap_short_buffer, t_env_setup_map),
	    T(test_get_lba_status, t_env_setup_map),
	    T(test_get_lba_status_range, t_env_setup_map),
	    cmocka_unit_test(test_get_lba_status_long_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
