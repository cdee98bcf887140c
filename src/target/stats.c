/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counters and log2 latency histograms (see stats.h). Pure; unit tested
 * in tests/target/stats_ut.c.
 */
#include "target/stats.h"

unsigned tgt_hist_bucket(uint64_t us)
{
	unsigned b;

	if (us <= 1) {
		return 0;
	}
	b = 64u - (unsigned)__builtin_clzll(us - 1); /* ceil(log2(us)) */
	return b < TGT_HIST_BUCKETS ? b : TGT_HIST_BUCKETS - 1;
}

uint64_t tgt_hist_bucket_le_us(unsigned b)
{
	return b < TGT_HIST_BUCKETS - 1 ? (uint64_t)1 << b : UINT64_MAX;
}

void tgt_hist_add(struct tgt_hist *h, uint64_t us)
{
	h->bucket[tgt_hist_bucket(us)]++;
	h->count++;
	h->sum_us += us;
}

void tgt_hist_merge(struct tgt_hist *into, const struct tgt_hist *from)
{
	for (unsigned b = 0; b < TGT_HIST_BUCKETS; b++) {
		into->bucket[b] += from->bucket[b];
	}
	into->count += from->count;
	into->sum_us += from->sum_us;
}

uint64_t tgt_hist_quantile_us(const struct tgt_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0 || q <= 0) {
		return 0;
	}
	/* The rank-th smallest sample, rank = ceil(q * count), at least 1. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count) {
		rank++;
	}
	if (rank == 0) {
		rank = 1;
	}
	if (rank > h->count) {
		rank = h->count;
	}
	for (unsigned b = 0; b < TGT_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank) {
			return tgt_hist_bucket_le_us(b);
		}
	}
	return UINT64_MAX;
}

void tgt_io_stats_add(struct tgt_io_stats *s, enum tgt_op op, uint64_t bytes, bool error,
                      uint64_t us)
{
	s->cmds[op]++;
	if (error) {
		s->errors++;
	}
	if (op == TGT_OP_READ || op == TGT_OP_WRITE) {
		s->bytes[op] += bytes;
		tgt_hist_add(&s->lat[op], us);
	}
}

void tgt_io_stats_merge(struct tgt_io_stats *into, const struct tgt_io_stats *from)
{
	for (unsigned i = 0; i < TGT_OP_COUNT; i++) {
		into->cmds[i] += from->cmds[i];
	}
	for (unsigned i = 0; i < 2; i++) {
		into->bytes[i] += from->bytes[i];
		tgt_hist_merge(&into->lat[i], &from->lat[i]);
	}
	into->errors += from->errors;
}

const char *tgt_op_name(enum tgt_op op)
{
	static const char *const names[TGT_OP_COUNT] = {"read", "write", "other"};

	return op < TGT_OP_COUNT ? names[op] : "?";
}

enum tgt_op tgt_op_of_opcode(uint8_t opcode)
{
	switch (opcode) {
	case 0x08: /* READ(6) */
	case 0x28: /* READ(10) */
	case 0xa8: /* READ(12) */
	case 0x88: /* READ(16) */
		return TGT_OP_READ;
	case 0x0a: /* WRITE(6) */
	case 0x2a: /* WRITE(10) */
	case 0xaa: /* WRITE(12) */
	case 0x8a: /* WRITE(16) */
	case 0x2e: /* WRITE AND VERIFY(10) */
	case 0xae: /* WRITE AND VERIFY(12) */
	case 0x8e: /* WRITE AND VERIFY(16) */
		return TGT_OP_WRITE;
	default:
		return TGT_OP_OTHER;
	}
}
