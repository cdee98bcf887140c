/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The intake: one receive path for every transport and both roles. A
 * transport frames bytes and places them; this file decides the rest.
 *
 *   idm_rx_bhs       the BHS is in: lengths before anything else is read
 *   idm_rx_header    BHS + AHS are in: opcode legality in the connection
 *                    state, the task (allocation, duplicate ITT, TTT
 *                    lookup), the data destination (task buffer at an
 *                    offset, the transport's buffer, or discard), and the
 *                    immediate / unsolicited / solicited data limits
 *   idm_rx_complete  the data segment is placed: accounting, dispatch
 *
 * A task found here is held until the PDU ends, so its buffer (which the
 * client returns only with the task's last reference) stays valid while
 * the transport writes into it, even if the task is aborted meanwhile;
 * an aborted task's data is then dropped, not dispatched.
 */
#include <errno.h>
#include <string.h>

#include "idm/core_priv.h"

void idm_rx_begin(struct idm_conn *c, struct idm_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->pdu.conn = c;
	rx->kind = IDM_RXK_PDU;
	rx->dest = IDM_RX_TO_DISCARD;
}

/* A Reject is a target's answer; an initiator just closes. */
static void rx_reject(struct idm_conn *c, const uint8_t *bhs, uint8_t reason)
{
	if (c->role == IDM_ROLE_TARGET) {
		idm_pdu_reject(c, bhs, reason);
	}
}

int idm_rx_bhs(struct idm_conn *c, struct idm_rx *rx)
{
	const uint8_t *bhs = rx->pdu.bhs;
	uint8_t op = bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;
	uint32_t max_ahs = op == ISCSI_OP_SCSI_CMD ? IDM_MAX_CMD_AHS : 0;

	rx->dlen = get_be24(bhs + BHS_DATA_SEG_LEN);
	if (rx->dlen > idm_conn_max_rx_dsl(c)) {
		IDM_LOG_CONN(c, "%s: data segment %u over %u", idm_opcode_name(op), rx->dlen,
		             idm_conn_max_rx_dsl(c));
		rx_reject(c, bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return -EMSGSIZE;
	}
	if (rx->pdu.ahs_len > max_ahs) {
		IDM_LOG_CONN(c, "%s: AHS of %u bytes", idm_opcode_name(op), rx->pdu.ahs_len);
		rx_reject(c, bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return -EPROTO;
	}
	return 0;
}

/* ---- header: one decision per PDU family ---- */

static int rx_discard(struct idm_rx *rx)
{
	rx->kind = IDM_RXK_DISCARD;
	rx->dest = IDM_RX_TO_DISCARD;
	rx->dst = NULL;
	return IDM_RX_TO_DISCARD;
}

static int rx_to_conn(struct idm_rx *rx)
{
	rx->kind = IDM_RXK_PDU;
	rx->dest = rx->dlen > 0 ? IDM_RX_TO_CONN : IDM_RX_TO_DISCARD;
	return (int)rx->dest;
}

static int rx_to_task(struct idm_rx *rx, struct idm_task *t, enum idm_rx_kind kind, uint8_t *dst)
{
	idm_task_hold(t);
	rx->task = t;
	rx->kind = kind;
	rx->dst = dst;
	rx->dest = dst ? IDM_RX_TO_TASK : IDM_RX_TO_DISCARD;
	return (int)rx->dest;
}

/* Target: a SCSI Command gets a task; the client sizes its buffer. */
static int rx_hdr_scsi_cmd(struct idm_conn *c, struct idm_rx *rx)
{
	const uint8_t *bhs = rx->pdu.bhs;
	struct idm_task *t;
	int err;

	t = idm_task_alloc(c, get_be32(bhs + BHS_ITT), &err);
	if (t == NULL) {
		idm_pdu_reject(c, bhs,
		               err == -EEXIST ? ISCSI_REJECT_TASK_IN_PROGRESS
		                              : ISCSI_REJECT_PROTOCOL_ERROR);
		return rx_discard(rx);
	}
	idm_task_from_cmd(t, bhs);
	if (c->client->scsi_cmd_header && c->client->scsi_cmd_header(c, &rx->pdu, t) != 0) {
		idm_task_release(t);
		return -EPROTO;
	}
	if (idm_conn_closing(c)) {
		return -ECONNRESET; /* closed from the callback: the task was aborted */
	}
	/* the client owns the allocation reference from here on; the one
	 * rx_to_task takes keeps the task while its immediate data is read */
	return rx_to_task(rx, t, IDM_RXK_CMD,
	                  rx->dlen > 0 && idm_rx_imm_fits(t, rx->dlen) ? t->data : NULL);
}

/*
 * A Data-Out with the F bit ended one R2T sequence. An aborted write's
 * data is dropped, but its sequences still end: the client that waits for
 * the initiator to answer every R2T (a multi-task abort, RFC 7143 4.2.3.3)
 * hears of the last through rx_done with -ECANCELED.
 */
static void rx_r2t_answered(struct idm_task *t)
{
	idm_task_fn done = t->rx_done;

	if (t->r2t_outstanding == 0) {
		return;
	}
	if (--t->r2t_outstanding == 0 && t->state == IDM_TASK_ABORTING && done) {
		t->rx_done = NULL;
		done(t, -ECANCELED);
	}
}

/* Target: a Data-Out belongs to a live write, within what it may send. */
static int rx_hdr_data_out(struct idm_conn *c, struct idm_rx *rx)
{
	const uint8_t *bhs = rx->pdu.bhs;
	uint32_t ttt = get_be32(bhs + DATA_TTT);
	uint32_t itt = get_be32(bhs + BHS_ITT);
	uint32_t off = get_be32(bhs + DATA_BUFFER_OFFSET);
	bool solicited = ttt != IDM_RESERVED_TAG;
	bool in_order = c->params.data_pdu_in_order || c->transport->caps->rdma;
	struct idm_task *t;

	t = solicited ? idm_task_find_ttt(c, ttt) : idm_task_find_itt(c, itt);
	if (t != NULL && solicited && t->itt == itt && t->state == IDM_TASK_ABORTING) {
		if (bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) {
			rx_r2t_answered(t);
		}
		return rx_discard(rx);
	}
	if (t == NULL || t->itt != itt || t->state != IDM_TASK_ACTIVE || !t->is_write ||
	    t->data == NULL) {
		return rx_discard(rx); /* an aborted or unknown task: dropped quietly */
	}
	if (!idm_rx_data_out_fits(t, off, rx->dlen, get_be32(bhs + DATA_DATASN), solicited,
	                          in_order)) {
		idm_pdu_reject(c, bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return rx_discard(rx);
	}
	return rx_to_task(rx, t, IDM_RXK_DATA_OUT, t->data + off);
}

/*
 * Initiator: a Data-In whose range fits the read command's buffer goes
 * straight into it; the client sees the PDU with IDM_PDU_F_DATA_IN_TASK.
 * Anything else takes the generic path, where the client checks it.
 */
static int rx_hdr_data_in(struct idm_conn *c, struct idm_rx *rx)
{
	const uint8_t *bhs = rx->pdu.bhs;
	struct idm_task *t = idm_task_find_itt(c, get_be32(bhs + BHS_ITT));
	uint32_t off = get_be32(bhs + DATA_BUFFER_OFFSET);

	if (t == NULL || t->state != IDM_TASK_ACTIVE || !t->is_read || t->data == NULL ||
	    off > t->data_cap || rx->dlen > t->data_cap - off || rx->dlen == 0) {
		return rx_to_conn(rx);
	}
	return rx_to_task(rx, t, IDM_RXK_DATA_IN, t->data + off);
}

int idm_rx_header(struct idm_conn *c, struct idm_rx *rx)
{
	const uint8_t *bhs = rx->pdu.bhs;
	uint8_t op = bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;

	switch (idm_rx_opcode_verdict(c->role, c->state, op)) {
	case IDM_RX_CLOSE:
		IDM_LOG_CONN(c, "%s not allowed in state %s", idm_opcode_name(op),
		             idm_conn_state_name(c->state));
		return -EPROTO;
	case IDM_RX_REJECT:
		idm_pdu_reject(c, bhs, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		return rx_discard(rx);
	case IDM_RX_ACCEPT:
		break;
	}
	if (idm_conn_rx_gate(c, bhs) != 0) {
		return -EPROTO;
	}
	if (c->role == IDM_ROLE_TARGET && op == ISCSI_OP_SCSI_CMD) {
		return rx_hdr_scsi_cmd(c, rx);
	}
	if (c->role == IDM_ROLE_TARGET && op == ISCSI_OP_SCSI_DATA_OUT) {
		return rx_hdr_data_out(c, rx);
	}
	if (c->role == IDM_ROLE_INITIATOR && op == ISCSI_OP_SCSI_DATA_IN) {
		return rx_hdr_data_in(c, rx);
	}
	return rx_to_conn(rx);
}

/* ---- completion ---- */

static void rx_done_cmd(struct idm_conn *c, struct idm_rx *rx, struct idm_task *t)
{
	const uint8_t *bhs = rx->pdu.bhs;

	if (rx->dst) {
		t->received = rx->dlen;
	}
	/* F: no unsolicited Data-Out follows; reads have none at all */
	if ((bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) || !t->is_write) {
		t->unsol_done = true;
	}
	rx->pdu.data = rx->dst;
	rx->pdu.data_len = rx->dst ? rx->dlen : 0;
	if (c->client->scsi_cmd && t->state == IDM_TASK_ACTIVE) {
		c->client->scsi_cmd(c, &rx->pdu, t);
	}
}

static void rx_done_data_out(struct idm_conn *c, struct idm_rx *rx, struct idm_task *t)
{
	const uint8_t *bhs = rx->pdu.bhs;
	bool solicited = get_be32(bhs + DATA_TTT) != IDM_RESERVED_TAG;

	t->received += rx->dlen;
	t->data_sn++;
	if (bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) {
		t->data_sn = 0; /* DataSN restarts with each sequence */
		if (!solicited) {
			t->unsol_done = true;
		} else {
			rx_r2t_answered(t);
		}
	}
	if (t->state == IDM_TASK_ACTIVE && c->transport->ops->data_out_placed) {
		c->transport->ops->data_out_placed(t);
	}
}

static void rx_done_pdu(struct idm_conn *c, struct idm_rx *rx)
{
	rx->pdu.data = rx->dst;
	rx->pdu.data_len = rx->dst ? rx->dlen : 0;
	if (c->client->rx_pdu) {
		c->client->rx_pdu(c, &rx->pdu);
	}
}

void idm_rx_complete(struct idm_conn *c, struct idm_rx *rx)
{
	struct idm_task *t = rx->task;

	rx->task = NULL;
	c->stats.pdus_rx++;
	if (rx->kind != IDM_RXK_DISCARD) {
		c->stats.bytes_rx += rx->dlen;
	}
	switch (rx->kind) {
	case IDM_RXK_CMD:
		rx_done_cmd(c, rx, t);
		break;
	case IDM_RXK_DATA_OUT:
		rx_done_data_out(c, rx, t);
		break;
	case IDM_RXK_DATA_IN:
		rx->pdu.flags |= IDM_PDU_F_DATA_IN_TASK;
		rx_done_pdu(c, rx);
		break;
	case IDM_RXK_PDU:
		rx_done_pdu(c, rx);
		break;
	case IDM_RXK_DISCARD:
		break;
	}
	if (t) {
		idm_task_release(t);
	}
}

void idm_rx_digest_error(struct idm_conn *c, struct idm_rx *rx)
{
	struct idm_task *t = rx->task;

	rx->task = NULL;
	c->stats.digest_errors++;
	if (c->role == IDM_ROLE_INITIATOR) {
		/* an initiator cannot Reject; without SNACK the data is lost */
		IDM_LOG_CONN(c, "data digest error, closing");
		idm_conn_event(c, IDM_CE_PROTOCOL_ERROR);
	} else {
		/* RFC 7143 section 7.8: Reject and drop the PDU */
		idm_pdu_reject(c, rx->pdu.bhs, ISCSI_REJECT_DATA_DIGEST);
		if (t && rx->kind == IDM_RXK_CMD && t->state == IDM_TASK_ACTIVE) {
			/* the command is void: the client undoes scsi_cmd_header */
			t->state = IDM_TASK_ABORTING;
			if (c->client->task_abort) {
				c->client->task_abort(t);
			}
		}
	}
	if (t) {
		idm_task_release(t);
	}
}

void idm_rx_abandon(struct idm_rx *rx)
{
	struct idm_task *t = rx->task;

	rx->task = NULL;
	rx->dst = NULL;
	if (t) {
		idm_task_release(t);
	}
}
