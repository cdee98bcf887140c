/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the target's statistics (src/target/stats.c): log2
 * latency buckets from 1 us, quantiles, merging, and which opcodes count
 * as reads and writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "target/stats.h"

static void buckets_are_log2_from_one_us(void **state)
{
	assert_int_equal(tgt_hist_bucket(0), 0);
	assert_int_equal(tgt_hist_bucket(1), 0);
	assert_int_equal(tgt_hist_bucket(2), 1);
	assert_int_equal(tgt_hist_bucket(3), 2);
	assert_int_equal(tgt_hist_bucket(4), 2);
	assert_int_equal(tgt_hist_bucket(5), 3);
	assert_int_equal(tgt_hist_bucket(1024), 10);
	assert_int_equal(tgt_hist_bucket(1025), 11);
	/* everything past the last bound lands in the last bucket */
	assert_int_equal(tgt_hist_bucket(UINT64_MAX), TGT_HIST_BUCKETS - 1);
	assert_int_equal(tgt_hist_bucket((uint64_t)1 << 40), TGT_HIST_BUCKETS - 1);
	for (unsigned b = 0; b + 1 < TGT_HIST_BUCKETS; b++) {
		/* the bound itself is in the bucket, one more is not */
		assert_int_equal(tgt_hist_bucket(tgt_hist_bucket_le_us(b)), b);
		assert_int_equal(tgt_hist_bucket(tgt_hist_bucket_le_us(b) + 1), b + 1);
	}
	assert_true(tgt_hist_bucket_le_us(TGT_HIST_BUCKETS - 1) == UINT64_MAX);
}

static void quantiles_name_the_bucket_bound(void **state)
{
	struct tgt_hist h = {0};

	assert_int_equal(tgt_hist_quantile_us(&h, 0.5), 0);
	/* 990 samples of 10 us (bucket <= 16), 9 of 100 us (<= 128), 1 of 5000 us */
	for (int i = 0; i < 990; i++) {
		tgt_hist_add(&h, 10);
	}
	for (int i = 0; i < 9; i++) {
		tgt_hist_add(&h, 100);
	}
	tgt_hist_add(&h, 5000);
	assert_int_equal(h.count, 1000);
	assert_int_equal(h.sum_us, 990 * 10 + 900 + 5000);
	assert_int_equal(tgt_hist_quantile_us(&h, 0.5), 16);
	assert_int_equal(tgt_hist_quantile_us(&h, 0.99), 16);   /* rank 990 */
	assert_int_equal(tgt_hist_quantile_us(&h, 0.991), 128); /* rank 991 */
	assert_int_equal(tgt_hist_quantile_us(&h, 0.999), 128); /* rank 999 */
	assert_int_equal(tgt_hist_quantile_us(&h, 1.0), 8192);  /* the 5000 us one */
}

static void merge_adds_everything(void **state)
{
	struct tgt_io_stats a = {0}, b = {0};

	tgt_io_stats_add(&a, TGT_OP_READ, 4096, false, 3);
	tgt_io_stats_add(&a, TGT_OP_OTHER, 0, true, 1);
	tgt_io_stats_add(&b, TGT_OP_WRITE, 8192, false, 700);
	tgt_io_stats_add(&b, TGT_OP_READ, 512, true, 2);
	tgt_io_stats_merge(&a, &b);
	assert_int_equal(a.cmds[TGT_OP_READ], 2);
	assert_int_equal(a.cmds[TGT_OP_WRITE], 1);
	assert_int_equal(a.cmds[TGT_OP_OTHER], 1);
	assert_int_equal(a.bytes[TGT_OP_READ], 4608);
	assert_int_equal(a.bytes[TGT_OP_WRITE], 8192);
	assert_int_equal(a.errors, 2);
	assert_int_equal(a.lat[TGT_OP_READ].count, 2);
	assert_int_equal(a.lat[TGT_OP_READ].bucket[2], 1);   /* 3 us: <= 4 */
	assert_int_equal(a.lat[TGT_OP_READ].bucket[1], 1);   /* 2 us: <= 2 */
	assert_int_equal(a.lat[TGT_OP_WRITE].bucket[10], 1); /* 700 us: <= 1024 */
}

static void opcodes_sort_into_read_write_other(void **state)
{
	static const uint8_t reads[] = {0x08, 0x28, 0xa8, 0x88};
	static const uint8_t writes[] = {0x0a, 0x2a, 0xaa, 0x8a, 0x2e, 0xae, 0x8e};
	static const uint8_t others[] = {0x00, 0x12, 0x25, 0x9e, 0xa0, 0x35, 0x89, 0x93};

	for (size_t i = 0; i < sizeof(reads); i++) {
		assert_int_equal(tgt_op_of_opcode(reads[i]), TGT_OP_READ);
	}
	for (size_t i = 0; i < sizeof(writes); i++) {
		assert_int_equal(tgt_op_of_opcode(writes[i]), TGT_OP_WRITE);
	}
	for (size_t i = 0; i < sizeof(others); i++) {
		assert_int_equal(tgt_op_of_opcode(others[i]), TGT_OP_OTHER);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(buckets_are_log2_from_one_us),
	    cmocka_unit_test(quantiles_name_the_bucket_bound),
	    cmocka_unit_test(merge_adds_everything),
	    cmocka_unit_test(opcodes_sort_into_read_write_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
