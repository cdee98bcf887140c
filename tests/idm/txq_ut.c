/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transmit queue bounds (src/idm/txq.c): the accounting, when input stops
 * and resumes, the stall timer's decision; then the same on a connection
 * over the fake transport, with a real reactor for the stall timer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "idm/core_priv.h"

static struct idm_txq txq_with(uint32_t max_bytes, uint32_t max_pdus, uint32_t stall_s,
                               bool input_flow)
{
	struct idm_txq q = {0};

	idm_txq_init(&q, input_flow);
	q.lim = (struct idm_tx_limits){max_bytes, max_pdus, stall_s};
	return q;
}

/* ---- decisions ---- */

static void test_defaults(void **state)
{
	struct idm_txq q = {0};

	idm_txq_init(&q, true);
	assert_int_equal(q.lim.max_bytes, IDM_TX_MAX_BYTES_DEFAULT);
	assert_int_equal(q.lim.max_pdus, IDM_TX_MAX_PDUS_DEFAULT);
	assert_int_equal(q.lim.stall_timeout_s, IDM_TX_STALL_TIMEOUT_DEFAULT_S);
	/* a 1 MiB read stream at QD 32 (8 KiB Data-In) stays under both */
	assert_true(32u * (1u << 20) + 32u * 128u * IDM_BHS_LEN < IDM_TX_MAX_BYTES_DEFAULT);
	assert_true(32u * 128u + 32u < IDM_TX_MAX_PDUS_DEFAULT);
}

/* Input stops at the PDU bound and resumes at half of it, once each way. */
static void test_pdu_bound(void **state)
{
	struct idm_txq q = txq_with(0, 8, 30, true);

	for (int i = 0; i < 7; i++) {
		assert_int_equal(idm_txq_push(&q, 100), IDM_TXQ_NONE);
	}
	assert_false(q.rx_paused);
	assert_int_equal(idm_txq_push(&q, 100), IDM_TXQ_PAUSE);
	assert_true(q.rx_paused);
	assert_int_equal(idm_txq_push(&q, 100), IDM_TXQ_NONE); /* already stopped */
	assert_int_equal(q.pdus, 9);
	assert_int_equal(q.bytes, 900);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(idm_txq_pop(&q, 100, true), IDM_TXQ_NONE); /* 8..5 left */
	}
	assert_true(q.rx_paused);
	assert_int_equal(idm_txq_pop(&q, 100, true), IDM_TXQ_RESUME); /* 4 = half */
	assert_false(q.rx_paused);
	assert_int_equal(idm_txq_pop(&q, 100, true), IDM_TXQ_NONE);
	assert_int_equal(q.pauses, 1);
	assert_int_equal(q.peak_pdus, 9);
	assert_int_equal(q.sent, 6);
}

/* The byte bound alone, and both bounds must be at half to resume. */
static void test_byte_bound(void **state)
{
	struct idm_txq q = txq_with(10000, 100, 30, true);

	assert_int_equal(idm_txq_push(&q, 6000), IDM_TXQ_NONE);
	assert_int_equal(idm_txq_push(&q, 4000), IDM_TXQ_PAUSE);
	assert_int_equal(idm_txq_pop(&q, 4000, true), IDM_TXQ_NONE); /* 6000 > 5000 */
	assert_int_equal(idm_txq_pop(&q, 1000, true), IDM_TXQ_RESUME);
	assert_int_equal(q.peak_bytes, 10000);

	q = txq_with(10000, 4, 30, true);
	for (int i = 0; i < 3; i++) {
		idm_txq_push(&q, 10);
	}
	assert_int_equal(idm_txq_push(&q, 9000), IDM_TXQ_PAUSE); /* PDUs and bytes */
	assert_int_equal(idm_txq_pop(&q, 10, true), IDM_TXQ_NONE);
	assert_int_equal(idm_txq_pop(&q, 10, true), IDM_TXQ_NONE); /* 2 PDUs, 9010 bytes */
	assert_int_equal(idm_txq_pop(&q, 9000, true), IDM_TXQ_RESUME);
}

/* An initiator counts but never stops its input; 0 means no bound. */
static void test_no_flow_and_unbounded(void **state)
{
	struct idm_txq q = txq_with(100, 2, 30, false);

	for (int i = 0; i < 10; i++) {
		assert_int_equal(idm_txq_push(&q, 1000), IDM_TXQ_NONE);
	}
	assert_false(q.rx_paused);
	assert_int_equal(q.peak_pdus, 10);

	q = txq_with(0, 0, 30, true);
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(idm_txq_push(&q, 1u << 20), IDM_TXQ_NONE);
	}
	assert_int_equal(q.bytes, 100000ull << 20);
}

/* A drop or a bad count never takes the queue below zero. */
static void test_pop_underflow(void **state)
{
	struct idm_txq q = txq_with(1000, 10, 30, true);

	idm_txq_push(&q, 10);
	idm_txq_pop(&q, 50, false);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.pdus, 0);
	idm_txq_pop(&q, 50, false);
	assert_int_equal(q.pdus, 0);
	assert_int_equal(q.sent, 0); /* drops are no progress */
}

/* What a PDU costs: wire size with padding, or the owned buffer behind it. */
static void test_pdu_cost(void **state)
{
	struct idm_pdu pdu = {.ahs_len = 8, .data_len = 5};

	assert_int_equal(idm_txq_pdu_cost(&pdu, 0), IDM_BHS_LEN + 8 + 8);
	pdu.flags = IDM_PDU_F_OWNS_DATA;
	pdu.data_len = 4097;
	assert_int_equal(idm_txq_pdu_cost(&pdu, 8192), IDM_BHS_LEN + 8 + 8192);
	/* a task's buffer is counted as what goes on the wire */
	pdu.flags = IDM_PDU_F_DATA_IN_TASK;
	assert_int_equal(idm_txq_pdu_cost(&pdu, 8192), IDM_BHS_LEN + 8 + 4100);
}

/* The stall timer: idle when empty, stalled after the timeout without progress. */
static void test_stall_ticks(void **state)
{
	struct idm_txq q = txq_with(1000, 10, 3, true);

	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_IDLE);
	idm_txq_push(&q, 10);
	idm_txq_push(&q, 10);
	idm_txq_stall_start(&q);
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_WAITING);
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_WAITING);
	idm_txq_pop(&q, 10, true); /* the peer read one: the clock starts over */
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_WAITING);
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_WAITING);
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_WAITING);
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_STALLED); /* 3 s still */
	idm_txq_pop(&q, 10, false);
	assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_IDLE);

	q = txq_with(1000, 10, 0, true); /* 0: never drop */
	idm_txq_push(&q, 10);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(idm_txq_stall_tick(&q), IDM_TXQ_WAITING);
	}
}

/* ---- on a connection ---- */

static struct idm_transport_ops flow_ops;
static struct idm_transport flow_transport;
static int rx_off_calls, rx_on_calls;

static void flow_rx_flow(struct idm_conn *c, bool on)
{
	assert_int_equal(idm_conn_rx_allowed(c), on); /* the core decided first */
	if (on) {
		rx_on_calls++;
	} else {
		rx_off_calls++;
	}
}

static struct idm_conn *flow_conn(enum idm_role role, const struct idm_tx_limits *lim)
{
	struct idm_conn *c;

	fake_reset();
	rx_off_calls = rx_on_calls = 0;
	flow_ops = fake_ops;
	flow_ops.rx_flow = flow_rx_flow;
	flow_transport = (struct idm_transport){.name = "flow", .ops = &flow_ops, .caps = &fake_caps};
	c = idm_conn_create(reactor, role, &flow_transport, &fake_client, 32, 8);
	assert_non_null(c);
	idm_conn_set_tx_limits(c, lim);
	idm_conn_event(c, role == IDM_ROLE_TARGET ? IDM_CE_ACCEPTED : IDM_CE_CONNECT_REQ);
	return c;
}

static void send_nops(struct idm_conn *c, int n)
{
	for (int i = 0; i < n; i++) {
		struct idm_pdu *pdu = idm_pdu_alloc(c, 0);

		assert_non_null(pdu);
		idm_bhs_init(pdu->bhs, ISCSI_OP_NOP_IN, false);
		idm_pdu_tx(c, pdu);
	}
}

static void complete_first(int n)
{
	for (int i = 0; i < n; i++) {
		fw.sent[i]->done(fw.sent[i], 0);
	}
	memmove(fw.sent, fw.sent + n, (size_t)(fw.nsent - n) * sizeof(fw.sent[0]));
	fw.nsent -= n;
}

/* A target's input stops when the transport holds max_pdus, resumes at half. */
static void test_conn_pause_resume(void **state)
{
	struct idm_tx_limits lim = {.max_bytes = 1u << 20, .max_pdus = 6, .stall_timeout_s = 30};
	struct idm_conn *c = flow_conn(IDM_ROLE_TARGET, &lim);

	send_nops(c, 5);
	assert_true(idm_conn_rx_allowed(c));
	send_nops(c, 3);
	assert_false(idm_conn_rx_allowed(c));
	assert_int_equal(rx_off_calls, 1);
	assert_int_equal(c->txq.pdus, 8);
	assert_int_equal(c->txq.bytes, 8 * IDM_BHS_LEN);
	complete_first(4);
	assert_false(idm_conn_rx_allowed(c));
	complete_first(1); /* 3 left = half of 6 */
	assert_true(idm_conn_rx_allowed(c));
	assert_int_equal(rx_on_calls, 1);
	assert_true(c->txq.stall_timer.armed);
	send_nops(c, 3); /* stopped again, then closed: the fake fails the queue */
	assert_int_equal(rx_off_calls, 2);
	idm_conn_hold(c);
	idm_conn_close(c);
	assert_int_equal(c->txq.pdus, 0);
	assert_false(c->txq.stall_timer.armed);
	assert_int_equal(rx_on_calls, 1); /* a closing connection is not resumed */
	idm_conn_release(c);
}

/* The same traffic on an initiator connection never stops its input. */
static void test_conn_initiator_never_pauses(void **state)
{
	struct idm_tx_limits lim = {.max_bytes = 1u << 20, .max_pdus = 2, .stall_timeout_s = 30};
	struct idm_conn *c = flow_conn(IDM_ROLE_INITIATOR, &lim);

	send_nops(c, 10);
	assert_true(idm_conn_rx_allowed(c));
	assert_int_equal(rx_off_calls, 0);
	idm_conn_close(c);
}

/* A peer that reads nothing for stall_timeout_s is dropped; one that reads is not. */
static void test_conn_stall_drops(void **state)
{
	struct idm_tx_limits lim = {.max_bytes = 1u << 20, .max_pdus = 64, .stall_timeout_s = 1};
	struct idm_conn *c = flow_conn(IDM_ROLE_TARGET, &lim);
	uint64_t start = idm_now_ms(), dropped_at = 0;

	idm_conn_hold(c);
	send_nops(c, 2);
	/* the peer reads one PDU early on: the second must wait a full timeout */
	idm_reactor_poll(reactor, 300);
	complete_first(1);
	uint64_t progress = idm_now_ms();

	while (idm_now_ms() - start < 5000 && dropped_at == 0) {
		idm_reactor_poll(reactor, 50);
		if (c->state == IDM_CONN_CLEANUP || c->state == IDM_CONN_COMPLETE) {
			dropped_at = idm_now_ms();
		}
	}
	assert_true(dropped_at != 0);
	assert_true(dropped_at - progress >= 1000);
	assert_true(dropped_at - progress < 2600);
	assert_int_equal(c->txq.pdus, 0); /* the dropped PDU was failed */
	idm_conn_release(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_pdu_bound),
	    cmocka_unit_test(test_byte_bound),
	    cmocka_unit_test(test_no_flow_and_unbounded),
	    cmocka_unit_test(test_pop_underflow),
	    cmocka_unit_test(test_pdu_cost),
	    cmocka_unit_test(test_stall_ticks),
	    cmocka_unit_test(test_conn_pause_resume),
	    cmocka_unit_test(test_conn_initiator_never_pauses),
	    cmocka_unit_test(test_conn_stall_drops),
	};

	return cmocka_run_group_tests(tests, fake_reactor_setup, fake_reactor_teardown);
}
