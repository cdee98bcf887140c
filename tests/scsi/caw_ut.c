/* SPDX-License-Identifier: BSD-3-Clause */
/* COMPARE AND WRITE and ORWRITE(16). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000
#define CAW 0x89
#define ORWRITE 0x8b
#define FUA 0x08

static uint8_t *medium(struct t_env *e, uint64_t lba)
{
	return e->fs->mem + lba * BS;
}

static void caw_cdb(uint8_t *cdb, uint8_t b1, uint64_t lba, uint8_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = CAW;
	cdb[1] = b1;
	put_be64(cdb + 2, lba);
	cdb[13] = n;
}

static int caw(struct t_env *e, uint8_t b1, uint64_t lba, uint8_t n)
{
	uint8_t cdb[16];

	caw_cdb(cdb, b1, lba, n);
	return t_run(e, cdb, 16);
}

/* e->buf: the current medium to compare with, then `fill` to write. */
static void caw_data(struct t_env *e, uint64_t lba, uint8_t n, uint8_t fill)
{
	memcpy(e->buf, medium(e, lba), (size_t)n * BS);
	memset(e->buf + (size_t)n * BS, fill, (size_t)n * BS);
}

static bool filled(struct t_env *e, uint64_t lba, uint32_t n, uint8_t fill)
{
	const uint8_t *p = medium(e, lba);
	size_t i;

	for (i = 0; i < (size_t)n * BS; i++) {
		if (p[i] != fill) {
			return false;
		}
	}
	return true;
}

static void test_caw_match_mapped(void **state)
{
	struct t_env *e = *state;

	caw_data(e, 5, 2, 0x42);
	assert_int_equal(caw(e, 0, 5, 2), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(e->cmd.xfer_len, 4 * BS);
	assert_true(filled(e, 5, 2, 0x42));
	assert_false(filled(e, 7, 1, 0x42));
	assert_int_equal(e->fs->reads + e->fs->writes, 0);
	assert_int_equal(e->lu->rmw_active, 0);
}

static void test_caw_match_store(void **state)
{
	struct t_env *e = *state;

	caw_data(e, BLOCKS - 3, 3, 0x43);
	assert_int_equal(caw(e, FUA | 0x10, BLOCKS - 3, 3), 0); /* FUA and DPO */
	t_expect_good(e);
	assert_true(filled(e, BLOCKS - 3, 3, 0x43));
	assert_int_equal(e->fs->reads, 1);
	assert_int_equal(e->fs->writes, 1);
	assert_int_equal(e->fs->flushes, 1);
}

/* A miscompare writes nothing and points at the first different byte. */
static void test_caw_miscompare(void **state)
{
	struct t_env *e = *state;
	const uint8_t *s = e->cmd.sense;
	uint8_t before[2 * BS];

	memcpy(before, medium(e, 5), sizeof(before));
	caw_data(e, 5, 2, 0x44);
	e->buf[BS + 27] ^= 0x01;
	assert_int_equal(caw(e, 0, 5, 2), 0);
	t_expect_sense(e, SCSI_SENSE_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_true(s[0] & 0x80); /* INFORMATION valid */
	assert_int_equal(get_be32(s + 3), BS + 27);
	assert_memory_equal(medium(e, 5), before, sizeof(before));
	assert_int_equal(e->fs->writes, 0);
	assert_int_equal(e->lu->rmw_active, 0);
}

static void test_caw_miscompare_first_byte(void **state)
{
	struct t_env *e = *state;

	caw_data(e, 0, 1, 0x45);
	e->buf[0] ^= 0xff;
	assert_int_equal(caw(e, 0, 0, 1), 0);
	t_expect_sense(e, SCSI_SENSE_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(get_be32(e->cmd.sense + 3), 0);
}

/* A store with its own COMPARE AND WRITE (rbd): one request carrying
 * both halves, no read, no lock; FUA adds a flush. */
static void test_caw_native_match(void **state)
{
	struct t_env *e = *state;

	e->fs->b.native_ops = 1u << IDM_BACKING_COMPARE_AND_WRITE;
	e->fs->deferred = true;
	caw_data(e, 9, 2, 0x46);
	assert_int_equal(caw(e, FUA, 9, 2), 0);
	assert_int_equal(e->lu->rmw_active, 0);
	assert_ptr_equal(e->fs->pending->buf, e->buf);
	assert_int_equal(e->fs->pending->len, 2 * BS);
	fake_complete(e->fs); /* the compare and write */
	assert_int_equal(e->done_calls, 0);
	fake_complete(e->fs); /* the flush */
	assert_int_equal(e->done_calls, 1);
	t_expect_good(e);
	assert_true(filled(e, 9, 2, 0x46));
	assert_int_equal(e->fs->caws, 1);
	assert_int_equal(e->fs->flushes, 1);
	assert_int_equal(e->fs->reads + e->fs->writes, 0);
}

/* The store's miscompare offset goes into INFORMATION. */
static void test_caw_native_miscompare(void **state)
{
	struct t_env *e = *state;

	e->fs->b.native_ops = 1u << IDM_BACKING_COMPARE_AND_WRITE;
	caw_data(e, 9, 2, 0x47);
	e->buf[BS + 3] ^= 0x10;
	assert_int_equal(caw(e, 0, 9, 2), 0);
	t_expect_sense(e, SCSI_SENSE_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(get_be32(e->cmd.sense + 3), BS + 3);
	assert_false(filled(e, 9, 1, 0x47));
	assert_int_equal(e->fs->flushes, 0);
}

/* A range the store refuses (across an rbd object) is emulated. */
static void test_caw_native_refused(void **state)
{
	struct t_env *e = *state;

	e->fs->b.native_ops = 1u << IDM_BACKING_COMPARE_AND_WRITE;
	e->fs->caw_refuse = true;
	caw_data(e, 20, 1, 0x48);
	assert_int_equal(caw(e, 0, 20, 1), 0);
	t_expect_good(e);
	assert_true(filled(e, 20, 1, 0x48));
	assert_int_equal(e->fs->caws, 1);
	assert_int_equal(e->fs->reads, 1);
	assert_int_equal(e->fs->writes, 1);
}

/* A store that lost its cluster: NOT READY, not a medium error. */
static void test_caw_native_not_ready(void **state)
{
	struct t_env *e = *state;

	e->fs->b.native_ops = 1u << IDM_BACKING_COMPARE_AND_WRITE;
	e->fs->fail = -ESHUTDOWN;
	caw_data(e, 20, 1, 0x49);
	assert_int_equal(caw(e, 0, 20, 1), 0);
	t_expect_sense(e, SCSI_SENSE_NOT_READY, 0x0400);
}

static void test_caw_zero_blocks(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(caw(e, 0, BLOCKS, 0), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_NONE);
	assert_int_equal(e->cmd.xfer_len, 0);
	assert_int_equal(e->fs->reads + e->fs->writes, 0);
}

static void test_caw_bad_cdb(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(caw(e, 0x20, 0, 1), 1); /* WRPROTECT */
	t_expect_field(e, 1, 7);
	assert_int_equal(caw(e, 0, BLOCKS - 1, 2), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(caw(e, 0, UINT64_MAX, 1), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	/* The data-out must be exactly 2 * N blocks. */
	e->edtl = 4 * BS;
	assert_int_equal(caw(e, 0, 0, 1), 1);
	t_expect_field(e, 13, -1);
	assert_int_equal(caw(e, 0, 0, 3), 1);
	t_expect_field(e, 13, -1);
	e->edtl = 2 * BS;
	assert_int_equal(caw(e, 0, 0, 1), 0);
	e->edtl = 0;
}

static void test_caw_store_errors(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16], small[BS];

	caw_data(e, 0, 1, 0x46);
	e->fs->fail = -EIO;
	assert_int_equal(caw(e, 0, 0, 1), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_READ_ERROR);
	e->fs->fail = 0;
	e->fs->fail_write = -EIO;
	assert_int_equal(caw(e, 0, 0, 1), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	e->fs->fail_write = 0;
	caw_cdb(cdb, 0, 0, 1);
	assert_int_equal(t_run_data(e, cdb, 16, small, sizeof(small)), 0);
	t_expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(e->lu->rmw_active, 0);
}

/*
 * Atomicity across threads (reactors): each thread adds 1 to a counter
 * in block 0 with COMPARE AND WRITE, retrying on a miscompare. Without
 * the lock, increments would be lost.
 */
#define THREADS 4
#define INCREMENTS 2000

struct counter_thread {
	struct t_env *e;
	unsigned retries;
};

static void counter_done(struct scsi_cmd *cmd)
{
}

/* The counter as it is now (a racy but atomic 4-byte load). */
static uint32_t read_counter(struct t_env *e)
{
	uint32_t raw = __atomic_load_n((uint32_t *)(void *)e->fs->mem, __ATOMIC_RELAXED);
	uint8_t be[4];

	memcpy(be, &raw, sizeof(be));
	return get_be32(be);
}

static void *counter_main(void *arg)
{
	struct counter_thread *t = arg;
	uint8_t cdb[16], data[2 * BS];
	uint32_t ua_seen[SCSI_MAX_LUNS];
	struct scsi_cmd cmd;
	unsigned done = 0;
	uint32_t v = 0;

	memcpy(ua_seen, t->e->ua_seen, sizeof(ua_seen));
	caw_cdb(cdb, 0, 0, 1);
	while (done < INCREMENTS) {
		memset(&cmd, 0, sizeof(cmd));
		memset(data, 0, sizeof(data));
		put_be32(data, v);
		put_be32(data + BS, v + 1);
		cmd.luns = &t->e->set;
		cmd.cdb = cdb;
		cmd.cdb_len = 16;
		cmd.ua_seen = ua_seen;
		cmd.done = counter_done;
		assert_int_equal(scsi_cmd_setup(&cmd), 0);
		cmd.data = data;
		cmd.data_cap = sizeof(data);
		scsi_cmd_exec(&cmd);
		if (cmd.status == SCSI_STATUS_GOOD) {
			v++;
			done++;
			continue;
		}
		/* Lost the race: read the counter and try again. */
		assert_int_equal(cmd.sense[2] & 0x0f, SCSI_SENSE_MISCOMPARE);
		t->retries++;
		v = read_counter(t->e);
	}
	return NULL;
}

static void test_caw_atomic_across_threads(void **state)
{
	struct t_env *e = *state;
	struct counter_thread t[THREADS];
	pthread_t tid[THREADS];
	int i;

	memset(e->fs->mem, 0, BS);
	for (i = 0; i < THREADS; i++) {
		t[i].e = e;
		t[i].retries = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, counter_main, &t[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(tid[i], NULL);
	}
	assert_int_equal(get_be32(e->fs->mem), THREADS * INCREMENTS);
	assert_int_equal(e->lu->rmw_active, 0);
}

/* A WRITE that starts while a read-modify-write holds the LU waits for
 * it; one that starts with none in progress does not touch the lock. */
struct holder {
	struct scsi_lu *lu;
	bool locked, released;
};

static void *hold_lock(void *arg)
{
	struct holder *h = arg;

	__atomic_add_fetch(&h->lu->rmw_active, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&h->lu->rmw_lock);
	__atomic_store_n(&h->locked, true, __ATOMIC_SEQ_CST);
	usleep(50 * 1000);
	__atomic_store_n(&h->released, true, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&h->lu->rmw_lock);
	__atomic_sub_fetch(&h->lu->rmw_active, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_writes_wait_for_rmw(void **state)
{
	struct t_env *e = *state;
	static const uint8_t writes[][16] = {
	    {0x2a, 0, 0, 0, 0, 1, 0, 0, 1},  /* WRITE(10) */
	    {0x41, 0, 0, 0, 0, 1, 0, 0, 1},  /* WRITE SAME(10) */
	    {0x42, 0, 0, 0, 0, 0, 0, 0, 24}, /* UNMAP */
	};
	struct holder h = {.lu = e->lu};
	pthread_t tid;
	size_t i;

	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		memset(e->buf, 0, 24);
		h.locked = h.released = false;
		assert_int_equal(pthread_create(&tid, NULL, hold_lock, &h), 0);
		while (!__atomic_load_n(&h.locked, __ATOMIC_SEQ_CST)) {
			usleep(1000);
		}
		assert_int_equal(t_run(e, writes[i], 10), 0);
		t_expect_good(e);
		assert_true(__atomic_load_n(&h.released, __ATOMIC_SEQ_CST));
		pthread_join(tid, NULL);
	}
	assert_int_equal(e->lu->rmw_active, 0);
}

static int orwrite(struct t_env *e, uint8_t b1, uint64_t lba, uint32_t n)
{
	uint8_t cdb[16];

	t_cdb16(cdb, ORWRITE, b1, lba, n);
	return t_run(e, cdb, 16);
}

static void check_orwrite(struct t_env *e, uint64_t lba, uint32_t n)
{
	uint8_t *want = malloc((size_t)n * BS);
	size_t i;

	assert_non_null(want);
	for (i = 0; i < (size_t)n * BS; i++) {
		e->buf[i] = (uint8_t)(i * 13);
		want[i] = medium(e, lba)[i] | e->buf[i];
	}
	assert_int_equal(orwrite(e, FUA, lba, n), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.xfer_len, n * BS);
	assert_memory_equal(medium(e, lba), want, (size_t)n * BS);
	free(want);
}

static void test_orwrite_mapped(void **state)
{
	struct t_env *e = *state;

	check_orwrite(e, 3, 4);
	assert_int_equal(e->fs->reads + e->fs->writes, 0);
}

static void test_orwrite_store(void **state)
{
	struct t_env *e = *state;

	check_orwrite(e, BLOCKS - 8, 8);
	assert_int_equal(e->fs->reads, 1);
	assert_int_equal(e->fs->writes, 1);
	assert_int_equal(e->fs->flushes, 1); /* FUA */
}

static void test_orwrite_errors(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(orwrite(e, 0, BLOCKS, 0), 0); /* nothing to do */
	t_expect_good(e);
	assert_int_equal(e->fs->reads, 0);
	assert_int_equal(orwrite(e, 0x40, 0, 1), 1); /* ORPROTECT */
	t_expect_field(e, 1, 7);
	assert_int_equal(orwrite(e, 0, BLOCKS - 1, 2), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(orwrite(e, 0, 0, 0x10000000), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	e->fs->fail = -EIO;
	assert_int_equal(orwrite(e, 0, 0, 1), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_READ_ERROR);
	e->fs->fail = 0;
	e->fs->fail_write = -EIO;
	assert_int_equal(orwrite(e, 0, 0, 1), 0);
	t_expect_sense(e, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	e->fs->fail_write = 0;
}

static void test_orwrite_too_long(void **state)
{
	struct t_env *e = t_env_new(BS, 1u << 20, false);

	assert_int_equal(orwrite(e, 0, 0, (16u << 20) / BS + 1), 1);
	t_expect_field(e, 10, -1);
	t_env_free(e);
}

/* What the offloading store's thread was given, run by the test. */
static struct {
	struct idm_backing_io *io;
	void (*work)(struct idm_backing_io *io);
	unsigned n;
} offl;

static void rec_offload(struct idm_backing *b, struct idm_backing_io *io,
                        void (*work)(struct idm_backing_io *io), struct idm_reactor *r)
{
	offl.io = io;
	offl.work = work;
	offl.n++;
}

/* A WRITE that meets a read-modify-write holding the lock on an
 * offloading store's thread (rbd) queues behind it there: the reactor
 * never waits on the lock, and the write runs once it is free. */
static void test_write_queues_behind_rmw_on_offloading_store(void **state)
{
	struct t_env *e = t_env_new(BS, 100, false);
	struct idm_backing_ops ops = *e->fs->b.ops;
	uint8_t cdb[16];

	ops.offload = rec_offload;
	e->fs->b.ops = &ops;
	offl.n = 0;
	e->fs->deferred = true;
	/* a COMPARE AND WRITE is between its read and its write */
	pthread_mutex_lock(&e->lu->rmw_lock);
	__atomic_store_n(&e->lu->rmw_active, 1, __ATOMIC_RELEASE);
	memset(e->buf, 0xab, BS);
	t_cdb10(cdb, 0x2a, 0, 5, 1);
	assert_int_equal(t_run(e, cdb, 10), 0); /* returned: nobody waited */
	assert_int_equal(offl.n, 1);
	assert_int_equal(e->fs->writes, 0);
	/* the read-modify-write ends; the store's thread takes the next job */
	__atomic_store_n(&e->lu->rmw_active, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->lu->rmw_lock);
	offl.work(offl.io);
	offl.io->done(offl.io, 0); /* back on the reactor: the write goes */
	assert_int_equal(e->fs->writes, 1);
	fake_complete(e->fs);
	assert_int_equal(e->done_calls, 1);
	t_expect_good(e);
	assert_int_equal(memcmp(e->fs->mem + 5 * BS, e->buf, BS), 0);
	t_env_free(e);
}

#define T(f, setup) cmocka_unit_test_setup_teardown(f, setup, t_env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_caw_match_mapped, t_env_setup_map),       T(test_caw_match_store, t_env_setup_nomap),
	    T(test_caw_miscompare, t_env_setup_nomap),       T(test_caw_miscompare_first_byte, t_env_setup_map),
	    T(test_caw_zero_blocks, t_env_setup_map),        T(test_caw_bad_cdb, t_env_setup_map),
	    T(test_caw_store_errors, t_env_setup_nomap),     T(test_caw_atomic_across_threads, t_env_setup_nomap),
	    T(test_writes_wait_for_rmw, t_env_setup_nomap),  T(test_orwrite_mapped, t_env_setup_map),
	    T(test_orwrite_store, t_env_setup_nomap),        T(test_orwrite_errors, t_env_setup_nomap),
	    cmocka_unit_test(test_orwrite_too_long),
	    cmocka_unit_test(test_write_queues_behind_rmw_on_offloading_store),
	    T(test_caw_native_match, t_env_setup_nomap),     T(test_caw_native_miscompare, t_env_setup_nomap),
	    T(test_caw_native_refused, t_env_setup_nomap),   T(test_caw_native_not_ready, t_env_setup_nomap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
