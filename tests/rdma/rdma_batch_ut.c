/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Doorbell batching in src/rdma/rdma_qp.c, without a device: the QP's
 * context carries a fake post_send (ibv_post_send calls through it), so
 * the test sees exactly what one doorbell would hand the device. Built
 * from rdma_qp.c directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/rdma/rdma_qp.c"

static struct {
	unsigned calls;      /* doorbells */
	unsigned chained[8]; /* requests per doorbell */
	int fail_at;         /* refuse from this request of the next call on; -1: none */
	uint64_t first_addr[8];
} dev;

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	unsigned n = 0;

	(void)qp;
	if (dev.calls < 8) {
		dev.first_addr[dev.calls] = wr->sg_list[0].addr;
	}
	for (struct ibv_send_wr *w = wr; w; w = w->next, n++) {
		if (dev.fail_at >= 0 && (int)n == dev.fail_at) {
			*bad = w;
			dev.fail_at = -1;
			dev.calls++;
			return ENOMEM;
		}
	}
	if (dev.calls < 8) {
		dev.chained[dev.calls] = n;
	}
	dev.calls++;
	return 0;
}

static struct ibv_context fake_ctx;
static struct ibv_qp fake_qp;
static struct idm_rdma_conn conn;
static int failed;

static void count_failure(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	(void)wr;
	(void)byte_len;
	if (status != 0) {
		failed++;
	}
}

static int setup(void **state)
{
	(void)state;
	memset(&dev, 0, sizeof(dev));
	dev.fail_at = -1;
	failed = 0;
	fake_ctx.ops.post_send = fake_post_send;
	fake_qp.context = &fake_ctx;
	memset(&conn, 0, sizeof(conn));
	conn.qp = &fake_qp;
	conn.batch = calloc(1, sizeof(*conn.batch));
	return conn.batch ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(conn.batch);
	return 0;
}

static struct idm_rdma_wr wrs[40];
static uint8_t bufs[40][16];

/* Post request i: an RDMA Write for even i, a Send for odd i. */
static void post(unsigned i)
{
	struct idm_rdma_sge sge = {.addr = bufs[i], .len = sizeof(bufs[i]), .lkey = 1};

	wrs[i].done = count_failure;
	if (i % 2 == 0) {
		assert_int_equal(idm_rdma_post_write(&conn, &wrs[i], &sge, 0x1000, 7, false), 0);
	} else {
		assert_int_equal(idm_rdma_post_send(&conn, &wrs[i], &sge, 1, true), 0);
	}
}

/* Outside a batch every request rings the doorbell; inside, one ring. */
static void one_doorbell_per_batch(void **state)
{
	(void)state;
	post(0);
	post(1);
	assert_int_equal(dev.calls, 2);
	idm_rdma_batch_begin(&conn);
	post(2);
	post(3);
	post(4);
	assert_int_equal(dev.calls, 2); /* held */
	idm_rdma_batch_end(&conn);
	assert_int_equal(dev.calls, 3);
	assert_int_equal(dev.chained[2], 3);
	/* the SGEs were copied: the caller's stack copies are gone by now */
	assert_ptr_equal((void *)(uintptr_t)dev.first_addr[2], bufs[2]);
	idm_rdma_batch_end(&conn); /* nothing held: no doorbell */
	assert_int_equal(dev.calls, 3);
	assert_int_equal(failed, 0);
}

/* A full batch goes out and the batch stays open for the rest. */
static void full_batch_flushes(void **state)
{
	(void)state;
	idm_rdma_batch_begin(&conn);
	for (unsigned i = 0; i < IDM_RDMA_BATCH + 3; i++) {
		post(i);
	}
	assert_int_equal(dev.calls, 1);
	assert_int_equal(dev.chained[0], IDM_RDMA_BATCH);
	idm_rdma_batch_end(&conn);
	assert_int_equal(dev.calls, 2);
	assert_int_equal(dev.chained[1], 3);
}

/* Requests the device refuses complete to their owners as failures. */
static void refused_requests_fail_to_their_owners(void **state)
{
	(void)state;
	idm_rdma_batch_begin(&conn);
	for (unsigned i = 0; i < 5; i++) {
		post(i);
	}
	dev.fail_at = 2;
	idm_rdma_batch_end(&conn);
	assert_int_equal(failed, 3); /* requests 2, 3 and 4 */
	assert_false(conn.batch->open);
}

/* ---- drain: what the CQ holds completes, what it posts leaves at once ---- */

static struct ibv_cq fake_cq;
static unsigned queued; /* completions the fake CQ still holds */
static struct idm_rdma_wr rx_wr;

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	int got = 0;

	(void)cq;
	for (; got < n && queued > 0; got++, queued--) {
		memset(&wc[got], 0, sizeof(wc[got]));
		wc[got].wr_id = (uintptr_t)&rx_wr;
		wc[got].status = IBV_WC_SUCCESS;
	}
	return got;
}

/* A received message answered on the spot (an RDMA Write or a Send). */
static void answer_rx(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	static unsigned next;

	(void)wr;
	(void)byte_len;
	assert_int_equal(status, 0);
	post(next++ % 40);
}

static void drain_completes_what_is_queued(void **state)
{
	(void)state;
	fake_ctx.ops.poll_cq = fake_poll_cq;
	fake_cq.context = &fake_ctx;
	conn.cq = &fake_cq;
	rx_wr.done = answer_rx;
	queued = 3;
	assert_int_equal(idm_rdma_drain(&conn), 0);
	assert_int_equal(queued, 0);
	assert_int_equal(dev.calls, 1); /* three answers, one doorbell */
	assert_int_equal(dev.chained[0], 3);
	assert_false(conn.batch->open);
	conn.cq = NULL;
	assert_int_equal(idm_rdma_drain(&conn), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(one_doorbell_per_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(full_batch_flushes, setup, teardown),
	    cmocka_unit_test_setup_teardown(refused_requests_fail_to_their_owners, setup, teardown),
	    cmocka_unit_test_setup_teardown(drain_completes_what_is_queued, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
