/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The intake (src/idm/rx.c, rx_rules.c) over a fake transport: every
 * opcode in every connection state for both roles (against a table
 * written from RFC 7143 sections 6.1, 8.1 and 11), duplicate ITT, unknown
 * and stale TTTs, immediate and unsolicited data against the limits the
 * client set, solicited data against the R2Ts, the discard destination,
 * an abort while a task's data is being placed, and the per-task
 * transport area.
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

#define TP_AREA 24
#define BUF_LEN 65536

/* What the client and the transport saw. */
static struct {
	int cmds, pdus, placed, freed, aborted;
	uint32_t cmd_data_len;
	uint32_t unsol_limit;
	uint8_t buf[BUF_LEN];
} rec;

static int c_cmd_header(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	t->data = rec.buf;
	t->data_cap = BUF_LEN;
	t->unsol_limit = rec.unsol_limit;
	return 0;
}

static void c_cmd(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	rec.cmds++;
	rec.cmd_data_len = pdu->data_len;
}

static void c_rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	rec.pdus++;
}

static void c_task_abort(struct idm_task *t)
{
	rec.aborted++;
	idm_task_release(t);
}

static void c_task_free(struct idm_task *t)
{
	rec.freed++;
}

static const struct idm_client_ops client = {
    .scsi_cmd_header = c_cmd_header,
    .scsi_cmd = c_cmd,
    .rx_pdu = c_rx_pdu,
    .conn_free = fake_conn_free,
    .task_abort = c_task_abort,
    .task_free = c_task_free,
};

static void tp_data_out_placed(struct idm_task *t)
{
	rec.placed++;
}

static const struct idm_transport_ops tp_ops = {
    .tx_pdu = fake_tx_pdu,
    .data_out_placed = tp_data_out_placed,
    .enable_datamover = fake_enable_datamover,
    .conn_disconnect = fake_disconnect,
    .conn_destroy = fake_destroy,
};

static const struct idm_transport tp = {"fake-rx", &tp_ops, &fake_caps, TP_AREA};

/* ---- the opcode table ---- */

enum { A = IDM_RX_ACCEPT, R = IDM_RX_REJECT, X = IDM_RX_CLOSE };

/* The opcodes each side sends (RFC 7143 section 11.1). */
static bool sent_by_initiator(uint8_t op)
{
	return op <= 0x06 || op == 0x10;
}

static bool sent_by_target(uint8_t op)
{
	return (op >= 0x20 && op <= 0x26) || op == 0x31 || op == 0x32 || op == 0x3f;
}

/* Expected verdict, written out case by case. */
static int expected_verdict(enum idm_role role, enum idm_conn_state st, uint8_t op)
{
	bool from_peer = role == IDM_ROLE_TARGET ? sent_by_initiator(op) : sent_by_target(op);
	bool login = op == 0x03 || op == 0x23;

	switch (st) {
	case IDM_CONN_XPT_UP:
	case IDM_CONN_IN_LOGIN:
		return from_peer && login ? A : X;
	case IDM_CONN_LOGGED_IN:
	case IDM_CONN_IN_LOGOUT:
	case IDM_CONN_LOGOUT_REQ:
		if (login) {
			return X;
		}
		if (from_peer) {
			return A;
		}
		return role == IDM_ROLE_TARGET ? R : X;
	default:
		return X;
	}
}

static void every_opcode_in_every_state(void **state)
{
	enum idm_role roles[] = {IDM_ROLE_TARGET, IDM_ROLE_INITIATOR};
	int accepted = 0;

	(void)state;
	for (unsigned r = 0; r < 2; r++) {
		for (int st = 0; st < IDM_CONN_NSTATES; st++) {
			for (int op = 0; op < 0x40; op++) {
				int want = expected_verdict(roles[r], (enum idm_conn_state)st,
				                            (uint8_t)op);
				int got = idm_rx_opcode_verdict(roles[r], (enum idm_conn_state)st,
				                                (uint8_t)op);

				if (got != want) {
					fail_msg("role %d state %s op %#x: %d, want %d", roles[r],
					         idm_conn_state_name((enum idm_conn_state)st), op,
					         got, want);
				}
				accepted += got == A;
			}
		}
	}
	/* per role: Login in the 2 login states, every other opcode of the
	 * peer in the 3 full feature states (7 initiator, 9 target ones) */
	assert_int_equal(accepted, 2 * 1 + 3 * 7 + 2 * 1 + 3 * 9);
}

/* ---- the intake over a connection ---- */

static struct idm_conn *conn_in(enum idm_conn_state want)
{
	struct idm_conn *c = idm_conn_create(reactor, IDM_ROLE_TARGET, &tp, &client, 64, 8);

	assert_non_null(c);
	idm_conn_event(c, IDM_CE_ACCEPTED);
	if (want != IDM_CONN_XPT_UP) {
		idm_conn_event(c, IDM_CE_LOGIN_RX);
		idm_conn_event(c, IDM_CE_LOGIN_OK);
	}
	assert_int_equal(c->state, want);
	c->params.max_recv_dsl = 8192;
	c->params.data_pdu_in_order = true;
	return c;
}

static void conn_done(struct idm_conn *c)
{
	idm_conn_close(c);
}

static void bhs_set(struct idm_rx *rx, uint8_t op, uint8_t flags, uint32_t itt, uint32_t dlen)
{
	rx->pdu.bhs[BHS_OPCODE] = op;
	rx->pdu.bhs[BHS_FLAGS] = flags;
	put_be24(rx->pdu.bhs + BHS_DATA_SEG_LEN, dlen);
	put_be32(rx->pdu.bhs + BHS_ITT, itt);
	rx->pdu.ahs_len = idm_pdu_ahs_length(&rx->pdu);
}

/* Run one PDU's header through the intake: its destination or -errno. */
static int intake_header(struct idm_conn *c, struct idm_rx *rx)
{
	int rc = idm_rx_bhs(c, rx);

	return rc == 0 ? idm_rx_header(c, rx) : rc;
}

static int cmd_in(struct idm_conn *c, struct idm_rx *rx, uint32_t itt, uint8_t flags, uint32_t edtl,
                  uint32_t dlen)
{
	idm_rx_begin(c, rx);
	bhs_set(rx, ISCSI_OP_SCSI_CMD, flags, itt, dlen);
	put_be32(rx->pdu.bhs + SCSI_CMD_EDTL, edtl);
	return intake_header(c, rx);
}

static int data_out_in(struct idm_conn *c, struct idm_rx *rx, uint32_t itt, uint32_t ttt,
                       uint32_t off, uint32_t dlen, uint32_t data_sn, bool final)
{
	idm_rx_begin(c, rx);
	bhs_set(rx, ISCSI_OP_SCSI_DATA_OUT, final ? ISCSI_FLAG_FINAL : 0, itt, dlen);
	put_be32(rx->pdu.bhs + DATA_TTT, ttt);
	put_be32(rx->pdu.bhs + DATA_BUFFER_OFFSET, off);
	put_be32(rx->pdu.bhs + DATA_DATASN, data_sn);
	return intake_header(c, rx);
}

static uint8_t last_reject(void)
{
	assert_true(fw.nsent > 0);
	assert_int_equal(fw.sent[fw.nsent - 1]->bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK,
	                 ISCSI_OP_REJECT);
	return fw.sent[fw.nsent - 1]->bhs[REJECT_REASON];
}

static int setup(void **state)
{
	(void)state;
	fake_reset();
	memset(&rec, 0, sizeof(rec));
	rec.unsol_limit = 8192;
	return 0;
}

static void before_login_closes_without_reject(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_XPT_UP);
	struct idm_rx rx;

	idm_rx_begin(c, &rx);
	bhs_set(&rx, 0x1f, 0, 1, 0); /* reserved */
	assert_int_equal(intake_header(c, &rx), -EPROTO);
	idm_rx_begin(c, &rx);
	bhs_set(&rx, ISCSI_OP_NOP_OUT, ISCSI_FLAG_FINAL, 1, 0);
	assert_int_equal(intake_header(c, &rx), -EPROTO);
	assert_int_equal(fw.nsent, 0); /* nothing to queue for a stranger */
	/* a Login Request is taken, and moves the state machine */
	idm_rx_begin(c, &rx);
	bhs_set(&rx, ISCSI_OP_LOGIN_REQ, 0, 1, 100);
	assert_int_equal(intake_header(c, &rx), IDM_RX_TO_CONN);
	assert_int_equal(c->state, IDM_CONN_IN_LOGIN);
	rx.dst = rec.buf;
	idm_rx_complete(c, &rx);
	assert_int_equal(rec.pdus, 1);
	/* the login default MaxRecvDataSegmentLength bounds the data */
	idm_rx_begin(c, &rx);
	bhs_set(&rx, ISCSI_OP_LOGIN_REQ, 0, 1, IDM_LOGIN_MAX_DSL + 1);
	assert_int_equal(intake_header(c, &rx), -EMSGSIZE);
	conn_done(c);
}

static void ffp_unknown_opcode_rejected(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx;

	idm_rx_begin(c, &rx);
	bhs_set(&rx, 0x1f, 0, 1, 300);
	assert_int_equal(intake_header(c, &rx), IDM_RX_TO_DISCARD);
	assert_int_equal(last_reject(), ISCSI_REJECT_CMD_NOT_SUPPORTED);
	idm_rx_complete(c, &rx);
	assert_int_equal(rec.pdus, 0);
	/* an AHS on anything but a SCSI Command: the boundaries are gone */
	idm_rx_begin(c, &rx);
	bhs_set(&rx, ISCSI_OP_NOP_OUT, ISCSI_FLAG_FINAL, 2, 0);
	rx.pdu.bhs[BHS_TOTAL_AHS_LEN] = 1;
	rx.pdu.ahs_len = 4;
	assert_int_equal(intake_header(c, &rx), -EPROTO);
	conn_done(c);
}

static void immediate_data_and_duplicate_itt(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx, dup;
	struct idm_task *t;
	uint8_t *area;

	assert_int_equal(cmd_in(c, &rx, 5, SCSI_CMD_FLAG_WRITE, 16384, 4096), IDM_RX_TO_TASK);
	t = rx.task;
	assert_ptr_equal(rx.dst, rec.buf);
	assert_int_equal(t->refcnt, 2); /* the client's and the intake's */
	/* the transport area is behind the client area, zeroed */
	area = idm_task_transport_area(t);
	assert_true(area >= t->client_area + 64);
	for (int i = 0; i < TP_AREA; i++) {
		assert_int_equal(area[i], 0);
	}
	/* the same ITT while the first is live: Task in progress */
	assert_int_equal(cmd_in(c, &dup, 5, SCSI_CMD_FLAG_WRITE, 512, 0), IDM_RX_TO_DISCARD);
	assert_int_equal(last_reject(), ISCSI_REJECT_TASK_IN_PROGRESS);
	assert_null(dup.task);
	idm_rx_complete(c, &rx);
	assert_int_equal(rec.cmds, 1);
	assert_int_equal(rec.cmd_data_len, 4096);
	assert_int_equal(t->received, 4096);
	assert_false(t->unsol_done); /* no F bit: unsolicited Data-Out may follow */
	assert_int_equal(t->refcnt, 1);
	idm_task_release(t);
	assert_int_equal(rec.freed, 1);
	/* more immediate data than the unsolicited limit: discarded */
	rec.unsol_limit = 4096;
	assert_int_equal(cmd_in(c, &rx, 6, SCSI_CMD_FLAG_WRITE | ISCSI_FLAG_FINAL, 16384, 8192),
	                 IDM_RX_TO_DISCARD);
	assert_null(rx.dst);
	t = rx.task;
	idm_rx_complete(c, &rx);
	assert_int_equal(rec.cmd_data_len, 0);
	assert_int_equal(t->received, 0);
	assert_true(t->unsol_done);
	idm_task_release(t);
	/* a read's data segment never lands in its buffer */
	assert_int_equal(cmd_in(c, &rx, 7, SCSI_CMD_FLAG_READ, 512, 512), IDM_RX_TO_DISCARD);
	t = rx.task;
	idm_rx_complete(c, &rx);
	idm_task_release(t);
	conn_done(c);
}

static void unsolicited_data_out_limits(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx;
	struct idm_task *t;
	int nsent;

	rec.unsol_limit = 8192; /* FirstBurstLength */
	assert_int_equal(cmd_in(c, &rx, 9, SCSI_CMD_FLAG_WRITE, 16384, 4096), IDM_RX_TO_TASK);
	t = rx.task;
	idm_rx_complete(c, &rx);
	/* out of order: rejected (DataPDUInOrder=Yes) */
	assert_int_equal(data_out_in(c, &rx, 9, IDM_RESERVED_TAG, 0, 4096, 0, false),
	                 IDM_RX_TO_DISCARD);
	assert_int_equal(last_reject(), ISCSI_REJECT_PROTOCOL_ERROR);
	/* a wrong DataSN: rejected */
	assert_int_equal(data_out_in(c, &rx, 9, IDM_RESERVED_TAG, 4096, 4096, 3, false),
	                 IDM_RX_TO_DISCARD);
	/* past the first burst: rejected */
	nsent = fw.nsent;
	assert_int_equal(data_out_in(c, &rx, 9, IDM_RESERVED_TAG, 4096, 8192, 0, true),
	                 IDM_RX_TO_DISCARD);
	assert_int_equal(fw.nsent, nsent + 1);
	/* up to the first burst, F: taken, then no more unsolicited */
	assert_int_equal(data_out_in(c, &rx, 9, IDM_RESERVED_TAG, 4096, 4096, 0, true),
	                 IDM_RX_TO_TASK);
	assert_ptr_equal(rx.dst, rec.buf + 4096);
	idm_rx_complete(c, &rx);
	assert_int_equal(t->received, 8192);
	assert_true(t->unsol_done);
	assert_int_equal(rec.placed, 1);
	assert_int_equal(data_out_in(c, &rx, 9, IDM_RESERVED_TAG, 8192, 512, 0, true),
	                 IDM_RX_TO_DISCARD);
	assert_int_equal(last_reject(), ISCSI_REJECT_PROTOCOL_ERROR);
	idm_task_release(t);
	conn_done(c);
}

static void solicited_data_out_and_ttts(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx;
	struct idm_task *t;
	uint8_t r2t[IDM_BHS_LEN];
	uint32_t ttt;
	int nsent;

	rec.unsol_limit = 0;
	assert_int_equal(cmd_in(c, &rx, 11, SCSI_CMD_FLAG_WRITE | ISCSI_FLAG_FINAL, 8192, 0),
	                 IDM_RX_TO_DISCARD);
	t = rx.task;
	idm_rx_complete(c, &rx);
	ttt = t->ttt;
	/* solicited before any R2T: rejected */
	assert_int_equal(data_out_in(c, &rx, 11, ttt, 0, 4096, 0, true), IDM_RX_TO_DISCARD);
	assert_int_equal(last_reject(), ISCSI_REJECT_PROTOCOL_ERROR);
	idm_task_r2t(t, 0, 4096, r2t);
	assert_int_equal(r2t[BHS_OPCODE], ISCSI_OP_R2T);
	assert_int_equal(get_be32(r2t + R2T_TTT), ttt);
	assert_int_equal(get_be32(r2t + R2T_DESIRED_LEN), 4096);
	/* an unknown TTT, or one of another ITT: dropped quietly */
	nsent = fw.nsent;
	assert_int_equal(data_out_in(c, &rx, 11, ttt ^ 0x10000, 0, 4096, 0, true),
	                 IDM_RX_TO_DISCARD);
	assert_int_equal(data_out_in(c, &rx, 12, ttt, 0, 4096, 0, true), IDM_RX_TO_DISCARD);
	assert_int_equal(fw.nsent, nsent);
	/* beyond the R2T: rejected */
	assert_int_equal(data_out_in(c, &rx, 11, ttt, 0, 8192, 0, true), IDM_RX_TO_DISCARD);
	assert_int_equal(fw.nsent, nsent + 1);
	/* within it */
	assert_int_equal(data_out_in(c, &rx, 11, ttt, 0, 4096, 0, true), IDM_RX_TO_TASK);
	idm_rx_complete(c, &rx);
	assert_int_equal(t->r2t_outstanding, 0);
	assert_int_equal(t->received, 4096);
	idm_task_release(t);
	/* the slot's next task has a new TTT: the old one is stale */
	assert_int_equal(cmd_in(c, &rx, 13, SCSI_CMD_FLAG_WRITE | ISCSI_FLAG_FINAL, 8192, 0),
	                 IDM_RX_TO_DISCARD);
	t = rx.task;
	idm_rx_complete(c, &rx);
	idm_task_r2t(t, 0, 4096, r2t);
	assert_int_equal(data_out_in(c, &rx, 13, ttt, 0, 4096, 0, true), IDM_RX_TO_DISCARD);
	idm_task_release(t);
	conn_done(c);
}

/* What a multi-task abort's waiter heard: the status rx_done got. */
static int r2ts_answered_status;
static int r2ts_answered_calls;

static void r2ts_answered(struct idm_task *t, int status)
{
	r2ts_answered_calls++;
	r2ts_answered_status = status;
}

/* An aborted write whose R2Ts are outstanding: its Data-Out is dropped,
 * but the last F bit tells the waiter (-ECANCELED), once; a teardown ends
 * the wait of another (-ECONNRESET). RFC 7143 4.2.3.3. */
static void aborted_write_r2t_answers(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx;
	struct idm_task *t, *t2;
	uint8_t r2t[IDM_BHS_LEN];
	uint32_t ttt;

	rec.unsol_limit = 0;
	r2ts_answered_calls = 0;
	assert_int_equal(cmd_in(c, &rx, 31, SCSI_CMD_FLAG_WRITE | ISCSI_FLAG_FINAL, 16384, 0),
	                 IDM_RX_TO_DISCARD);
	t = rx.task;
	idm_rx_complete(c, &rx);
	ttt = t->ttt;
	idm_task_r2t(t, 0, 8192, r2t);
	idm_task_r2t(t, 8192, 8192, r2t);
	assert_int_equal(t->r2t_outstanding, 2);
	/* the client aborts it and waits for the answers */
	t->state = IDM_TASK_ABORTING;
	t->rx_done = r2ts_answered;
	/* data without the F bit: dropped, the sequence goes on */
	assert_int_equal(data_out_in(c, &rx, 31, ttt, 0, 4096, 0, false), IDM_RX_TO_DISCARD);
	idm_rx_complete(c, &rx);
	assert_int_equal(t->r2t_outstanding, 2);
	/* the first sequence ends: not yet */
	assert_int_equal(data_out_in(c, &rx, 31, ttt, 4096, 4096, 1, true), IDM_RX_TO_DISCARD);
	idm_rx_complete(c, &rx);
	assert_int_equal(t->r2t_outstanding, 1);
	assert_int_equal(r2ts_answered_calls, 0);
	/* a Data-Out of another ITT with this TTT counts for nothing */
	assert_int_equal(data_out_in(c, &rx, 32, ttt, 8192, 8192, 0, true), IDM_RX_TO_DISCARD);
	idm_rx_complete(c, &rx);
	assert_int_equal(t->r2t_outstanding, 1);
	/* the second ends: the waiter hears, once, and nothing was placed */
	assert_int_equal(data_out_in(c, &rx, 31, ttt, 8192, 8192, 0, true), IDM_RX_TO_DISCARD);
	idm_rx_complete(c, &rx);
	assert_int_equal(r2ts_answered_calls, 1);
	assert_int_equal(r2ts_answered_status, -ECANCELED);
	assert_int_equal(rec.placed, 0);
	assert_int_equal(data_out_in(c, &rx, 31, ttt, 8192, 8192, 0, true), IDM_RX_TO_DISCARD);
	idm_rx_complete(c, &rx);
	assert_int_equal(r2ts_answered_calls, 1);
	idm_task_release(t);
	/* another waits when the connection goes: it hears -ECONNRESET */
	assert_int_equal(cmd_in(c, &rx, 33, SCSI_CMD_FLAG_WRITE | ISCSI_FLAG_FINAL, 8192, 0),
	                 IDM_RX_TO_DISCARD);
	t2 = rx.task;
	idm_rx_complete(c, &rx);
	idm_task_r2t(t2, 0, 8192, r2t);
	t2->state = IDM_TASK_ABORTING;
	t2->rx_done = r2ts_answered;
	conn_done(c);
	assert_int_equal(r2ts_answered_calls, 2);
	assert_int_equal(r2ts_answered_status, -ECONNRESET);
	idm_task_release(t2);
}

/* A task aborted while its Data-Out is placed: the buffer stays the
 * task's until the intake lets go, and nothing is dispatched. */
static void abort_while_placing(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx;
	struct idm_task *t;

	assert_int_equal(cmd_in(c, &rx, 21, SCSI_CMD_FLAG_WRITE, 8192, 0), IDM_RX_TO_DISCARD);
	t = rx.task;
	idm_rx_complete(c, &rx);
	assert_int_equal(data_out_in(c, &rx, 21, IDM_RESERVED_TAG, 0, 4096, 0, false),
	                 IDM_RX_TO_TASK);
	t->state = IDM_TASK_ABORTING;
	idm_task_release(t); /* the client is done with it */
	assert_int_equal(rec.freed, 0);
	idm_rx_complete(c, &rx);
	assert_int_equal(rec.placed, 0);
	assert_int_equal(rec.freed, 1);
	/* and a later Data-Out for it finds no task */
	assert_int_equal(data_out_in(c, &rx, 21, IDM_RESERVED_TAG, 4096, 4096, 1, false),
	                 IDM_RX_TO_DISCARD);
	conn_done(c);
}

/* A data digest error on a command voids it; the client hears task_abort. */
static void digest_error_voids_the_command(void **state)
{
	struct idm_conn *c = conn_in(IDM_CONN_LOGGED_IN);
	struct idm_rx rx;

	assert_int_equal(cmd_in(c, &rx, 31, SCSI_CMD_FLAG_WRITE, 8192, 4096), IDM_RX_TO_TASK);
	idm_rx_digest_error(c, &rx);
	assert_int_equal(last_reject(), ISCSI_REJECT_DATA_DIGEST);
	assert_int_equal(rec.aborted, 1);
	assert_int_equal(rec.cmds, 0);
	assert_int_equal(rec.freed, 1);
	assert_int_equal(c->active_tasks, 0);
	conn_done(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_opcode_in_every_state),
	    cmocka_unit_test_setup(before_login_closes_without_reject, setup),
	    cmocka_unit_test_setup(ffp_unknown_opcode_rejected, setup),
	    cmocka_unit_test_setup(immediate_data_and_duplicate_itt, setup),
	    cmocka_unit_test_setup(unsolicited_data_out_limits, setup),
	    cmocka_unit_test_setup(solicited_data_out_and_ttts, setup),
	    cmocka_unit_test_setup(abort_while_placing, setup),
	    cmocka_unit_test_setup(aborted_write_r2t_answers, setup),
	    cmocka_unit_test_setup(digest_error_voids_the_command, setup),
	};
	return cmocka_run_group_tests(tests, fake_reactor_setup, fake_reactor_teardown);
}
