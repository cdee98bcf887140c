/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Task table unit tests: allocation, lookup by ITT and TTT, duplicate
 * ITT, a full table, TTT generations on reuse, foreach, and the SCSI
 * Response built by idm_task_send_status.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "idm/core_priv.h"

static struct idm_conn *new_conn(uint32_t max_tasks)
{
	struct idm_conn *c = idm_conn_create(reactor, IDM_ROLE_TARGET, &fake_transport,
	                                     &fake_client, 100, max_tasks);

	assert_non_null(c);
	return c;
}

static void test_alloc_find(void **state)
{
	struct idm_conn *c = new_conn(4);
	struct idm_task *t, *u;
	int err;

	t = idm_task_alloc(c, 0x1234, &err);
	assert_non_null(t);
	assert_int_equal(err, 0);
	assert_int_equal(t->state, IDM_TASK_ACTIVE);
	assert_int_equal(t->refcnt, 1);
	assert_int_equal(c->active_tasks, 1);
	assert_true(((uintptr_t)t->client_area % 16) == 0);
	memset(t->client_area, 0xee, 100); /* the client area is really there */
	assert_ptr_equal(idm_task_find_itt(c, 0x1234), t);
	assert_null(idm_task_find_itt(c, 0x1235));
	assert_ptr_equal(idm_task_find_ttt(c, t->ttt), t);
	assert_null(idm_task_find_ttt(c, t->ttt ^ 0x10000));
	assert_null(idm_task_find_ttt(c, 0xffffffff));
	assert_null(idm_task_find_ttt(c, 77));
	/* duplicate ITT */
	u = idm_task_alloc(c, 0x1234, &err);
	assert_null(u);
	assert_int_equal(err, -EEXIST);
	/* the reserved tag is never a task */
	assert_null(idm_task_alloc(c, 0xffffffff, &err));
	assert_int_equal(err, -EINVAL);
	idm_task_hold(t);
	idm_task_release(t);
	assert_ptr_equal(idm_task_find_itt(c, 0x1234), t);
	idm_task_release(t);
	assert_null(idm_task_find_itt(c, 0x1234));
	assert_int_equal(c->active_tasks, 0);
	idm_conn_close(c);
}

static void test_full_and_generation(void **state)
{
	struct idm_conn *c = new_conn(3);
	struct idm_task *t[3], *again;
	uint32_t old_ttt;
	int err;

	for (int i = 0; i < 3; i++) {
		t[i] = idm_task_alloc(c, (uint32_t)(100 + i), &err);
		assert_non_null(t[i]);
		assert_int_not_equal(t[i]->ttt, 0xffffffff);
	}
	assert_int_not_equal(t[0]->ttt, t[1]->ttt);
	assert_null(idm_task_alloc(c, 200, &err));
	assert_int_equal(err, -EBUSY);
	old_ttt = t[1]->ttt;
	idm_task_release(t[1]);
	assert_null(idm_task_find_ttt(c, old_ttt));
	again = idm_task_alloc(c, 300, &err);
	assert_ptr_equal(again, t[1]); /* the same slot... */
	assert_int_equal(again->ttt & 0xffff, old_ttt & 0xffff);
	assert_int_not_equal(again->ttt, old_ttt); /* ...a new generation */
	assert_null(idm_task_find_ttt(c, old_ttt));
	assert_ptr_equal(idm_task_find_ttt(c, again->ttt), again);
	/* many reuses never produce the reserved tag */
	for (int i = 0; i < 70000; i++) {
		idm_task_release(again);
		again = idm_task_alloc(c, 300, &err);
		assert_non_null(again);
		assert_int_not_equal(again->ttt, 0xffffffff);
	}
	for (int i = 0; i < 3; i++) {
		idm_task_release(i == 1 ? again : t[i]);
	}
	idm_conn_close(c);
}

static void count_task(struct idm_task *t, void *arg)
{
	(*(int *)arg)++;
	if (t->itt == 2) {
		idm_task_release(t); /* releasing inside the walk is allowed */
	}
}

static void test_foreach(void **state)
{
	struct idm_conn *c = new_conn(8);
	int n = 0, err;

	for (uint32_t i = 1; i <= 5; i++) {
		assert_non_null(idm_task_alloc(c, i, &err));
	}
	idm_task_foreach(c, count_task, &n);
	assert_int_equal(n, 5);
	assert_int_equal(c->active_tasks, 4);
	assert_null(idm_task_find_itt(c, 2));
	fw.keep_tasks_on_abort = false;
	idm_conn_close(c); /* aborts (and so releases) the other four */
}

static int tx_done_calls, tx_done_status;

static void on_tx_done(struct idm_task *t, int status)
{
	tx_done_calls++;
	tx_done_status = status;
}

static int rx_done_calls;

static void rx_done_cb(struct idm_task *t, int status)
{
	rx_done_calls++;
}

static void test_send_status(void **state)
{
	static const uint8_t sense[18] = {0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24};
	static uint8_t buf[512];
	struct idm_scsi_status st = {
	    .response = ISCSI_RESPONSE_COMPLETED,
	    .status = 2,
	    .flags = SCSI_RSP_FLAG_UNDERFLOW,
	    .residual = 512,
	    .sense = sense,
	    .sense_len = sizeof(sense),
	};
	struct idm_conn *c = new_conn(4);
	struct idm_task *t;
	struct idm_pdu *p;
	int err;

	fake_reset();
	c->stat_sn = 5;
	t = idm_task_alloc(c, 0xabc, &err);
	t->is_read = true;
	t->data_sn = 3; /* three Data-In went out */
	t->tx_done = on_tx_done;
	assert_int_equal(idm_task_send_status(t, &st), 0);
	assert_int_equal(fw.nsent, 1);
	p = fw.sent[0];
	assert_int_equal(idm_pdu_opcode(p), ISCSI_OP_SCSI_RSP);
	assert_int_equal(p->bhs[BHS_FLAGS], 0x80 | SCSI_RSP_FLAG_UNDERFLOW);
	assert_int_equal(p->bhs[SCSI_RSP_RESPONSE], 0);
	assert_int_equal(p->bhs[SCSI_RSP_STATUS], 2);
	assert_int_equal(idm_pdu_itt(p), 0xabc);
	assert_int_equal(get_be32(p->bhs + SCSI_RSP_STATSN), 5);
	assert_int_equal(get_be32(p->bhs + SCSI_RSP_EXPDATASN), 3);
	assert_int_equal(get_be32(p->bhs + SCSI_RSP_RESIDUAL), 512);
	assert_int_equal(idm_pdu_dlength(p), 20);
	assert_int_equal(get_be16(p->data), 18);
	assert_memory_equal(p->data + 2, sense, 18);
	assert_int_equal(t->refcnt, 2); /* held until sent */
	assert_int_equal(tx_done_calls, 0);
	fake_complete_all(0);
	assert_int_equal(tx_done_calls, 1);
	assert_int_equal(tx_done_status, 0);
	assert_int_equal(t->refcnt, 1);
	/* an aborting task sends nothing */
	t->state = IDM_TASK_ABORTING;
	assert_int_equal(idm_task_send_status(t, &st), -ECANCELED);
	assert_int_equal(idm_task_send_data(t, 0, 0, NULL), -ECANCELED);
	idm_task_release(t);
	/* nothing to fetch: done at once, without the transport */
	t = idm_task_alloc(c, 1, &err);
	t->rx_done = rx_done_cb;
	assert_int_equal(idm_task_recv_data(t, 0), 0);
	assert_int_equal(rx_done_calls, 1);
	/* bytes to fetch: the fake transport has no data movement ops */
	t->data = buf;
	t->data_cap = sizeof(buf);
	assert_int_equal(idm_task_recv_data(t, sizeof(buf)), -ENOTSUP);
	assert_int_equal(idm_task_send_data(t, 0, sizeof(buf), NULL), -ENOTSUP);
	idm_task_release(t);
	idm_conn_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc_find),
	    cmocka_unit_test(test_full_and_generation),
	    cmocka_unit_test(test_foreach),
	    cmocka_unit_test(test_send_status),
	};
	return cmocka_run_group_tests(tests, fake_reactor_setup, fake_reactor_teardown);
}
