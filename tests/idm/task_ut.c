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

/* An ITT far from its neighbours, so the hash really spreads them. */
static uint32_t spread_itt(uint32_t i)
{
	return i * 2654435761u + 1;
}

/* Allocate one more task (the table holds `in_use`): the table grows only
 * when every slot is taken, by at most a chunk, and never past `max`. */
static struct idm_task *alloc_check_growth(struct idm_conn *c, uint32_t itt, uint32_t in_use,
                                           uint32_t max)
{
	uint32_t before = c->task_slots;
	struct idm_task *t;
	int err;

	t = idm_task_alloc(c, itt, &err);
	assert_non_null(t);
	assert_int_equal(err, 0);
	if (before > in_use) {
		assert_int_equal(c->task_slots, before); /* a free slot was there */
	} else {
		assert_true(c->task_slots > before);
		assert_true(c->task_slots - before <= IDM_TASK_CHUNK);
		assert_true(c->task_slots - before >= IDM_TASK_CHUNK_FIRST || c->task_slots == max);
	}
	assert_true(c->task_slots <= max);
	return t;
}

static void test_empty_until_first_task(void **state)
{
	struct idm_conn *c = new_conn(144);
	struct idm_task *t;
	int err;

	/* a new connection holds no task memory at all */
	assert_int_equal(c->task_slots, 0);
	assert_null(c->task_by_slot);
	assert_null(c->task_hash);
	assert_null(idm_task_find_itt(c, 1));
	assert_null(idm_task_find_ttt(c, 0));
	idm_task_foreach(c, count_task, &(int){0});
	t = idm_task_alloc(c, 1, &err);
	assert_non_null(t);
	assert_int_equal(c->task_slots, IDM_TASK_CHUNK_FIRST); /* not the queue depth */
	assert_ptr_equal(idm_task_find_itt(c, 1), t);
	idm_task_release(t);
	idm_conn_close(c);
}

/* Grow chunk by chunk to a bound that is not a multiple of the chunk:
 * every task stays findable by ITT (the hash is rebuilt as it grows) and
 * by TTT, the areas of the last, partial chunk are all there, and the
 * table stops at max_tasks. */
static void test_grow_lookup_bound(void **state)
{
	enum { MAX = 3 * IDM_TASK_CHUNK + 5 };
	struct idm_conn *c = new_conn(MAX);
	struct idm_task *t[MAX];
	int err;

	for (uint32_t i = 0; i < MAX; i++) {
		t[i] = alloc_check_growth(c, spread_itt(i), i, MAX);
		assert_true(((uintptr_t)t[i] % 64) == 0);
		assert_true(((uintptr_t)t[i]->client_area % 16) == 0);
		memset(t[i]->client_area, 0xa5, 100);
		memset(idm_task_transport_area(t[i]), 0x5a, fake_transport.task_priv_size);
	}
	assert_int_equal(c->active_tasks, MAX);
	for (uint32_t i = 0; i < MAX; i++) {
		assert_ptr_equal(idm_task_find_itt(c, spread_itt(i)), t[i]);
		assert_ptr_equal(idm_task_find_ttt(c, t[i]->ttt), t[i]);
		assert_int_equal(t[i]->ttt & 0xffff, i); /* slots handed out in order */
	}
	assert_null(idm_task_find_itt(c, spread_itt(MAX)));
	assert_null(idm_task_find_ttt(c, MAX)); /* a slot past the table */
	/* full: no growth past the bound; a duplicate ITT is still a duplicate */
	assert_null(idm_task_alloc(c, spread_itt(MAX), &err));
	assert_int_equal(err, -EBUSY);
	assert_null(idm_task_alloc(c, spread_itt(7), &err));
	assert_int_equal(err, -EEXIST);
	assert_int_equal(c->task_slots, MAX);
	for (uint32_t i = 0; i < MAX; i++) {
		idm_task_release(t[i]);
	}
	assert_int_equal(c->active_tasks, 0);
	idm_conn_close(c);
}

/* Freed slots are reused before the table grows, a freed task is found
 * neither by ITT nor by its old TTT, and a duplicate ITT is refused
 * without growing the table. */
static void test_free_reuse_no_growth(void **state)
{
	struct idm_conn *c = new_conn(128);
	struct idm_task *t[IDM_TASK_CHUNK + 1], *again;
	uint32_t old_ttt;
	int err;

	for (uint32_t i = 0; i < IDM_TASK_CHUNK; i++) {
		t[i] = alloc_check_growth(c, spread_itt(i), i, 128);
	}
	assert_int_equal(c->task_slots, IDM_TASK_CHUNK); /* 4 + 4 + 8 */
	/* the free list is empty: a duplicate must not cost a chunk */
	assert_null(idm_task_alloc(c, spread_itt(3), &err));
	assert_int_equal(err, -EEXIST);
	assert_int_equal(c->task_slots, IDM_TASK_CHUNK);
	old_ttt = t[5]->ttt;
	idm_task_release(t[5]);
	assert_null(idm_task_find_itt(c, spread_itt(5)));
	assert_null(idm_task_find_ttt(c, old_ttt));
	again = idm_task_alloc(c, 0x77, &err);
	assert_ptr_equal(again, t[5]); /* the freed slot, not a new chunk */
	assert_int_equal(c->task_slots, IDM_TASK_CHUNK);
	assert_int_not_equal(again->ttt, old_ttt);
	assert_null(idm_task_find_ttt(c, old_ttt));
	/* the next one grows the table; the first chunk's tasks stay put */
	t[IDM_TASK_CHUNK] = alloc_check_growth(c, 0x78, IDM_TASK_CHUNK, 128);
	assert_int_equal(c->task_slots, 2 * IDM_TASK_CHUNK);
	assert_ptr_equal(idm_task_find_itt(c, 0x77), again);
	assert_ptr_equal(idm_task_find_itt(c, spread_itt(0)), t[0]);
	/* all released: the table stays grown, nothing new on reuse */
	idm_task_release(t[IDM_TASK_CHUNK]);
	idm_task_release(again);
	for (uint32_t i = 0; i < IDM_TASK_CHUNK; i++) {
		if (i != 5) {
			idm_task_release(t[i]);
		}
	}
	for (uint32_t i = 0; i < 2 * IDM_TASK_CHUNK; i++) {
		t[i % (IDM_TASK_CHUNK + 1)] = idm_task_alloc(c, 1000 + i, &err);
		assert_non_null(t[i % (IDM_TASK_CHUNK + 1)]);
		idm_task_release(t[i % (IDM_TASK_CHUNK + 1)]);
	}
	assert_int_equal(c->task_slots, 2 * IDM_TASK_CHUNK);
	idm_conn_close(c);
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
	    cmocka_unit_test(test_alloc_find),        cmocka_unit_test(test_full_and_generation),
	    cmocka_unit_test(test_foreach),           cmocka_unit_test(test_empty_until_first_task),
	    cmocka_unit_test(test_grow_lookup_bound), cmocka_unit_test(test_free_reuse_no_growth),
	    cmocka_unit_test(test_send_status),
	};
	return cmocka_run_group_tests(tests, fake_reactor_setup, fake_reactor_teardown);
}
