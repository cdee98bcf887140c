/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connection unit tests: every event in every state of the state machine
 * (table-driven), the teardown order, StatSN rules of idm_pdu_tx, Reject,
 * the PDU pool and the login timer. A fake transport records calls.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "idm/core_priv.h"

enum { S_ILLEGAL = 100 }; /* expected: through ERROR into CLEANUP */

#define F IDM_CONN_FREE
#define W IDM_CONN_XPT_WAIT
#define U IDM_CONN_XPT_UP
#define L IDM_CONN_IN_LOGIN
#define I IDM_CONN_LOGGED_IN
#define O IDM_CONN_IN_LOGOUT
#define R IDM_CONN_LOGOUT_REQ
#define C IDM_CONN_CLEANUP
#define X IDM_CONN_COMPLETE
#define E S_ILLEGAL

/*
 * Expected state after each event, written from RFC 7143 section 8.1
 * independently of the code. Columns follow enum idm_conn_event:
 * CONNECT_REQ CONNECT_DONE ACCEPTED LOGIN_RX LOGIN_OK LOGIN_FAIL LOGOUT_RX
 * LOGOUT_DONE ASYNC_LOGOUT PROTOCOL_ERROR TRANSPORT_FAIL DISCONNECT TASKS_DRAINED
 */
static const int expected[IDM_CONN_NSTATES][IDM_CE_NEVENTS] = {
    [IDM_CONN_FREE] = {W, E, U, E, E, E, E, E, E, E, C, C, E},
    [IDM_CONN_XPT_WAIT] = {E, U, E, E, E, E, E, E, E, E, C, C, E},
    [IDM_CONN_XPT_UP] = {E, E, E, L, E, E, E, E, E, E, C, C, E},
    [IDM_CONN_IN_LOGIN] = {E, E, E, L, I, C, E, E, E, E, C, C, E},
    [IDM_CONN_LOGGED_IN] = {E, E, E, E, I, E, O, E, R, E, C, C, E},
    [IDM_CONN_IN_LOGOUT] = {E, E, E, E, E, E, O, C, E, E, C, C, E},
    [IDM_CONN_LOGOUT_REQ] = {E, E, E, E, E, E, O, E, R, E, C, C, E},
    [IDM_CONN_CLEANUP] = {C, C, C, C, C, C, C, C, C, C, C, C, X},
    [IDM_CONN_ERROR] = {0},
    [IDM_CONN_COMPLETE] = {X, X, X, X, X, X, X, X, X, X, X, X, X},
};

/* Events that lead from FREE to each state. */
static const struct {
	int n;
	enum idm_conn_event ev[4];
} path[IDM_CONN_NSTATES] = {
    [IDM_CONN_FREE] = {0, {0}},
    [IDM_CONN_XPT_WAIT] = {1, {IDM_CE_CONNECT_REQ}},
    [IDM_CONN_XPT_UP] = {1, {IDM_CE_ACCEPTED}},
    [IDM_CONN_IN_LOGIN] = {2, {IDM_CE_ACCEPTED, IDM_CE_LOGIN_RX}},
    [IDM_CONN_LOGGED_IN] = {3, {IDM_CE_ACCEPTED, IDM_CE_LOGIN_RX, IDM_CE_LOGIN_OK}},
    [IDM_CONN_IN_LOGOUT] = {4,
                            {IDM_CE_ACCEPTED, IDM_CE_LOGIN_RX, IDM_CE_LOGIN_OK, IDM_CE_LOGOUT_RX}},
    [IDM_CONN_LOGOUT_REQ] = {4,
                             {IDM_CE_ACCEPTED, IDM_CE_LOGIN_RX, IDM_CE_LOGIN_OK,
                              IDM_CE_ASYNC_LOGOUT}},
    [IDM_CONN_CLEANUP] = {1, {IDM_CE_DISCONNECT}},
    [IDM_CONN_COMPLETE] = {2, {IDM_CE_DISCONNECT, IDM_CE_TASKS_DRAINED}},
};

static struct idm_conn *new_conn(void)
{
	struct idm_conn *c =
	    idm_conn_create(reactor, IDM_ROLE_TARGET, &fake_transport, &fake_client, 32, 8);

	assert_non_null(c);
	return c;
}

static bool history_has_error(const struct idm_conn *c)
{
	uint32_t n = c->history_pos < IDM_CONN_HISTORY ? c->history_pos : IDM_CONN_HISTORY;

	for (uint32_t i = 0; i < n; i++) {
		if (c->history[i].to == IDM_CONN_ERROR) {
			return true;
		}
	}
	return false;
}

static void check_one(enum idm_conn_state s, enum idm_conn_event ev)
{
	struct idm_conn *c;
	struct idm_task *t;
	int want = expected[s][ev];
	int err;

	fake_reset();
	fw.keep_tasks_on_abort = true;
	c = new_conn();
	idm_conn_hold(c);               /* keep it inspectable after COMPLETE */
	t = idm_task_alloc(c, 1, &err); /* keeps CLEANUP from finishing */
	assert_non_null(t);
	for (int i = 0; i < path[s].n; i++) {
		idm_conn_event(c, path[s].ev[i]);
	}
	assert_int_equal(c->state, s);
	c->history_pos = 0;
	idm_conn_event(c, ev);
	if (want == S_ILLEGAL) {
		assert_int_equal(c->state, IDM_CONN_CLEANUP);
		assert_true(history_has_error(c));
	} else {
		assert_int_equal(c->state, want);
	}
	idm_task_release(t);
	idm_conn_close(c);
	assert_true(c->state == IDM_CONN_COMPLETE);
	idm_conn_release(c);
}

static void test_state_table(void **state)
{
	for (int s = 0; s < IDM_CONN_NSTATES; s++) {
		if (s == IDM_CONN_ERROR) {
			continue; /* transient: it always moves on to CLEANUP */
		}
		for (int e = 0; e < IDM_CE_NEVENTS; e++) {
			check_one((enum idm_conn_state)s, (enum idm_conn_event)e);
		}
	}
}

static void test_names(void **state)
{
	assert_string_equal(idm_conn_state_name(IDM_CONN_LOGGED_IN), "LOGGED_IN");
	assert_string_equal(idm_conn_event_name(IDM_CE_TASKS_DRAINED), "TASKS_DRAINED");
	assert_string_equal(idm_conn_state_name((enum idm_conn_state)99), "?");
}

static void test_teardown_order(void **state)
{
	struct idm_conn *c;
	struct idm_task *t1, *t2;
	int err;

	fake_reset();
	fw.keep_tasks_on_abort = true;
	c = new_conn();
	idm_conn_event(c, IDM_CE_ACCEPTED);
	idm_conn_event(c, IDM_CE_LOGIN_RX);
	idm_conn_event(c, IDM_CE_LOGIN_OK);
	assert_int_equal(fw.enable_dm, 1);
	t1 = idm_task_alloc(c, 10, &err);
	t2 = idm_task_alloc(c, 11, &err);
	idm_conn_hold(c);
	idm_conn_event(c, IDM_CE_TRANSPORT_FAIL);
	assert_int_equal(c->state, IDM_CONN_CLEANUP);
	assert_int_equal(fw.ncalls, 3);
	assert_string_equal(fw.calls[0], "abort");
	assert_string_equal(fw.calls[1], "abort");
	assert_string_equal(fw.calls[2], "disconnect");
	assert_int_equal(t1->state, IDM_TASK_ABORTING);
	idm_task_release(t1);
	assert_int_equal(c->state, IDM_CONN_CLEANUP);
	idm_task_release(t2);
	assert_int_equal(c->state, IDM_CONN_COMPLETE);
	assert_string_equal(fw.calls[3], "conn_free");
	assert_int_equal(fw.ncalls, 4);
	idm_conn_release(c);
	assert_string_equal(fw.calls[4], "destroy");
}

static struct idm_pdu *target_pdu(struct idm_conn *c, uint8_t op, uint8_t flags, uint32_t itt)
{
	struct idm_pdu *p = idm_pdu_alloc(c, 0);

	assert_non_null(p);
	idm_bhs_init(p->bhs, op, false);
	p->bhs[BHS_FLAGS] = flags;
	put_be32(p->bhs + BHS_ITT, itt);
	return p;
}

static uint32_t sent_statsn(int i)
{
	return get_be32(fw.sent[i]->bhs + BHS_CMDSN);
}

static void test_statsn_rules(void **state)
{
	uint32_t exp = 77, max = 99;
	struct idm_conn *c;

	fake_reset();
	c = new_conn();
	c->stat_sn = 1000;
	c->exp_cmd_sn = &exp;
	c->max_cmd_sn = &max;
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_SCSI_RSP, 0x80, 1));           /* 1000, +1 */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_R2T, 0x80, 2));                /* 1001, no */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_SCSI_DATA_IN, 0x00, 3));       /* none, no */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_SCSI_DATA_IN, 0x81, 3));       /* 1001, +1 */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_NOP_IN, 0x80, 0xffffffff));    /* 1002, no */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_NOP_IN, 0x80, 5));             /* 1002, +1 */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_TMF_RSP, 0x80, 6));            /* 1003, +1 */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_TEXT_RSP, 0x80, 7));           /* 1004, +1 */
	idm_pdu_tx(c, target_pdu(c, ISCSI_OP_ASYNC_MSG, 0x80, 0xffffffff)); /* 1005, +1 */
	assert_int_equal(fw.nsent, 9);
	assert_int_equal(sent_statsn(0), 1000);
	assert_int_equal(sent_statsn(1), 1001);
	assert_int_equal(sent_statsn(2), 0);
	assert_int_equal(sent_statsn(3), 1001);
	assert_int_equal(sent_statsn(4), 1002);
	assert_int_equal(sent_statsn(5), 1002);
	assert_int_equal(sent_statsn(6), 1003);
	assert_int_equal(sent_statsn(7), 1004);
	assert_int_equal(sent_statsn(8), 1005);
	assert_int_equal(c->stat_sn, 1006);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(get_be32(fw.sent[i]->bhs + BHS_EXPSTATSN), 77);
		assert_int_equal(get_be32(fw.sent[i]->bhs + BHS_MAXCMDSN), 99);
	}
	idm_pdu_reject(c, fw.sent[0]->bhs, ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(fw.nsent, 10);
	assert_int_equal(idm_pdu_opcode(fw.sent[9]), ISCSI_OP_REJECT);
	assert_int_equal(fw.sent[9]->bhs[REJECT_REASON], ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(idm_pdu_dlength(fw.sent[9]), 48);
	assert_int_equal(idm_pdu_itt(fw.sent[9]), 0xffffffff);
	assert_memory_equal(fw.sent[9]->data, fw.sent[0]->bhs, 48);
	assert_int_equal(sent_statsn(9), 1006);
	assert_int_equal(c->stats.rejects_tx, 1);
	fake_complete_all(0);
	idm_conn_close(c);
}

static int done_calls;

static void keep_done(struct idm_pdu *pdu, int status)
{
	done_calls++;
	pdu->flags |= IDM_PDU_F_KEEP;
}

static void plain_done(struct idm_pdu *pdu, int status)
{
	done_calls++;
}

static void test_pdu_pool(void **state)
{
	struct idm_conn *c;
	struct idm_pdu *p, *big;

	fake_reset();
	c = new_conn();
	uint32_t base = c->refcnt;

	p = idm_pdu_alloc(c, 100);
	assert_non_null(p);
	assert_int_equal(p->data_len, 100);
	assert_true(p->data_cap >= 100);
	assert_int_equal(c->refcnt, base + 1);
	big = idm_pdu_alloc(c, 100000);
	assert_non_null(big);
	assert_true(big->data_cap >= 100000);
	assert_true(big->flags & IDM_PDU_F_OWNS_DATA);
	memset(big->data, 0x5a, 100000);
	idm_pdu_free(big);
	idm_pdu_free(p);
	assert_int_equal(c->refcnt, base);
	/* recycled from the free list */
	struct idm_pdu *q = idm_pdu_alloc(c, 10);
	assert_ptr_equal(q, p);
	/* done without KEEP: the core frees; with KEEP: the owner does */
	done_calls = 0;
	idm_bhs_init(q->bhs, ISCSI_OP_NOP_IN, false);
	put_be32(q->bhs + BHS_ITT, IDM_RESERVED_TAG);
	q->done = plain_done;
	idm_pdu_tx(c, q);
	fake_complete_all(0);
	assert_int_equal(done_calls, 1);
	assert_int_equal(c->refcnt, base);
	q = target_pdu(c, ISCSI_OP_NOP_IN, 0x80, IDM_RESERVED_TAG);
	q->done = keep_done;
	idm_pdu_tx(c, q);
	fake_complete_all(0);
	assert_int_equal(done_calls, 2);
	assert_int_equal(c->refcnt, base + 1);
	idm_pdu_free(q);
	assert_int_equal(c->refcnt, base);
	idm_conn_close(c);
}

static void test_login_and_logout_events(void **state)
{
	struct idm_conn *c;
	struct idm_pdu *p;

	fake_reset();
	c = new_conn();
	idm_conn_event(c, IDM_CE_ACCEPTED);
	assert_int_equal(idm_conn_rx_gate(c, (uint8_t[48]){ISCSI_OP_NOP_OUT}), -EPROTO);
	assert_int_equal(idm_conn_rx_gate(c, (uint8_t[48]){ISCSI_OP_LOGIN_REQ}), 0);
	assert_int_equal(c->state, IDM_CONN_IN_LOGIN);
	/* a non-final login response changes nothing */
	p = target_pdu(c, ISCSI_OP_LOGIN_RSP, LOGIN_FLAG_TRANSIT | 1, 1);
	idm_pdu_tx(c, p);
	assert_int_equal(c->state, IDM_CONN_IN_LOGIN);
	/* final, successful: logged in, datamover enabled */
	p = target_pdu(c, ISCSI_OP_LOGIN_RSP, LOGIN_FLAG_TRANSIT | (1 << 2) | 3, 1);
	idm_pdu_tx(c, p);
	assert_int_equal(c->state, IDM_CONN_LOGGED_IN);
	assert_int_equal(fw.enable_dm, 1);
	assert_true(c->ffp);
	fake_complete_all(0);
	assert_int_equal(idm_conn_rx_gate(c, (uint8_t[48]){ISCSI_OP_LOGIN_REQ}), -EPROTO);
	assert_int_equal(idm_conn_rx_gate(c, (uint8_t[48]){ISCSI_OP_LOGOUT_REQ}), 0);
	assert_int_equal(c->state, IDM_CONN_IN_LOGOUT);
	idm_conn_hold(c);
	p = target_pdu(c, ISCSI_OP_LOGOUT_RSP, 0x80, 1);
	idm_pdu_tx(c, p);
	assert_int_equal(c->state, IDM_CONN_IN_LOGOUT); /* not yet sent */
	fake_complete_all(0);
	assert_int_equal(c->state, IDM_CONN_COMPLETE);
	idm_conn_release(c);
}

static void test_login_reject_closes(void **state)
{
	struct idm_conn *c;
	struct idm_pdu *p;

	fake_reset();
	c = new_conn();
	idm_conn_event(c, IDM_CE_ACCEPTED);
	idm_conn_event(c, IDM_CE_LOGIN_RX);
	idm_conn_hold(c);
	p = target_pdu(c, ISCSI_OP_LOGIN_RSP, 0, 1);
	p->bhs[LOGIN_STATUS_CLASS] = 2;
	p->bhs[LOGIN_STATUS_DETAIL] = 1;
	idm_pdu_tx(c, p);
	assert_int_equal(c->state, IDM_CONN_IN_LOGIN);
	fake_complete_all(0);
	assert_int_equal(c->state, IDM_CONN_COMPLETE);
	idm_conn_release(c);
}

static void test_login_timer(void **state)
{
	struct idm_conn *c;
	uint64_t start = idm_now_ms();

	fake_reset();
	c = new_conn();
	idm_conn_hold(c);
	idm_conn_set_login_timeout(c, 1);
	idm_conn_event(c, IDM_CE_ACCEPTED);
	while (c->state != IDM_CONN_COMPLETE && idm_now_ms() - start < 3000) {
		idm_reactor_poll(reactor, 100);
	}
	assert_int_equal(c->state, IDM_CONN_COMPLETE);
	assert_true(idm_now_ms() - start >= 900);
	idm_conn_release(c);
	/* a login that finishes in time cancels the timer */
	c = new_conn();
	idm_conn_hold(c);
	idm_conn_set_login_timeout(c, 1);
	idm_conn_event(c, IDM_CE_ACCEPTED);
	idm_conn_event(c, IDM_CE_LOGIN_RX);
	idm_conn_event(c, IDM_CE_LOGIN_OK);
	start = idm_now_ms();
	while (idm_now_ms() - start < 1300) {
		idm_reactor_poll(reactor, 100);
	}
	assert_int_equal(c->state, IDM_CONN_LOGGED_IN);
	idm_conn_close(c);
	idm_conn_release(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_state_table),
	    cmocka_unit_test(test_teardown_order),
	    cmocka_unit_test(test_statsn_rules),
	    cmocka_unit_test(test_pdu_pool),
	    cmocka_unit_test(test_login_and_logout_events),
	    cmocka_unit_test(test_login_reject_closes),
	    cmocka_unit_test(test_login_timer),
	};
	return cmocka_run_group_tests(tests, fake_reactor_setup, fake_reactor_teardown);
}
