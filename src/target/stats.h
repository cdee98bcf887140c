/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O statistics of the target: command, byte and error counters and
 * latency histograms (log2 buckets from 1 us). Pure: no clock, no lock.
 * The data path adds to counters only its own reactor owns (one slot per
 * reactor and LU, one per connection); readers merge copies taken on
 * those reactors (admin.c), so nothing here is shared between threads.
 */
#ifndef IDM_TARGET_STATS_H
#define IDM_TARGET_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* Bucket b holds latencies in (2^(b-1), 2^b] us, bucket 0 those <= 1 us;
 * the last bucket also takes everything above (about 18 minutes). */
#define TGT_HIST_BUCKETS 31

struct tgt_hist {
	uint64_t bucket[TGT_HIST_BUCKETS];
	uint64_t count;
	uint64_t sum_us;
};

/* The bucket a latency of `us` microseconds falls in. */
unsigned tgt_hist_bucket(uint64_t us);
/* The upper bound of bucket b in us (2^b); the last is unbounded. */
uint64_t tgt_hist_bucket_le_us(unsigned b);
void tgt_hist_add(struct tgt_hist *h, uint64_t us);
void tgt_hist_merge(struct tgt_hist *into, const struct tgt_hist *from);
/* The upper bound (us) of the bucket holding quantile q (0 < q <= 1):
 * the smallest bound that at least q of the samples do not exceed.
 * 0 when the histogram is empty. */
uint64_t tgt_hist_quantile_us(const struct tgt_hist *h, double q);

enum tgt_op { TGT_OP_READ, TGT_OP_WRITE, TGT_OP_OTHER, TGT_OP_COUNT };

/* What a LU, a connection or a target did. */
struct tgt_io_stats {
	uint64_t cmds[TGT_OP_COUNT];
	uint64_t bytes[2];      /* [TGT_OP_READ], [TGT_OP_WRITE] */
	uint64_t errors;        /* answered with a status other than GOOD */
	struct tgt_hist lat[2]; /* [TGT_OP_READ], [TGT_OP_WRITE] */
};

void tgt_io_stats_add(struct tgt_io_stats *s, enum tgt_op op, uint64_t bytes, bool error,
                      uint64_t us);
void tgt_io_stats_merge(struct tgt_io_stats *into, const struct tgt_io_stats *from);
const char *tgt_op_name(enum tgt_op op);
/* READ(6/10/12/16) is a read, WRITE and WRITE AND VERIFY a write, the
 * rest "other". */
enum tgt_op tgt_op_of_opcode(uint8_t opcode);

#endif
