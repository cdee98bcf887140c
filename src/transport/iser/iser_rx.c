/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Receive side of iSER: every RCaP message lands whole in a posted
 * receive buffer (iSER header, then BHS, AHS and data segment). A Hello
 * is answered with a HelloReply; a control-type PDU goes to the client
 * the way TCP delivers it. SCSI Commands record the initiator's STags
 * for the task; immediate data and unsolicited Data-Out are copied from
 * the receive buffer into the task buffer (a Send cannot land elsewhere).
 * The buffer is posted again once the message is handled.
 */
#include <errno.h>
#include <string.h>

#include "transport/iser/iser_priv.h"

int iser_post_recv(struct iser_conn *ic, struct iser_rx_desc *d)
{
	struct idm_rdma_sge sge = {.addr = d->buf, .len = d->cap, .lkey = ic->region_lkey};

	d->wr.op = IDM_RDMA_RECV;
	return ic->link.verbs->post_recv(ic->link.qp, &d->wr, &sge);
}

/* Is `op` something an initiator may send us (RFC 7143 section 11)? */
static bool rx_opcode_legal(uint8_t op)
{
	return idm_opcode_is_initiator(op);
}

/* Bind the per-task transport state: the STags the command advertised. */
static void rx_cmd_bind(struct iser_conn *ic, struct idm_task *t, const struct iser_hdr *h)
{
	struct iser_task *it = iser_task_of(t);

	memset(it, 0, sizeof(*it));
	it->ic = ic;
	it->t = t;
	it->hdr = *h;
	t->transport_priv = it;
}

/* Immediate data is placed only where the client allowed it (as TCP). */
static bool rx_imm_fits(const struct idm_task *t, uint32_t len)
{
	return t->is_write && t->data != NULL && len <= t->data_cap && len <= t->unsol_limit;
}

static int rx_scsi_cmd(struct iser_conn *ic, const struct iser_hdr *h)
{
	struct idm_conn *c = ic->c;
	struct idm_pdu *pdu = &ic->rx_pdu;
	struct idm_task *t;
	uint32_t dlen = pdu->data_len;
	int err;

	t = idm_task_alloc(c, get_be32(pdu->bhs + BHS_ITT), &err);
	if (t == NULL) {
		idm_pdu_reject(c, pdu->bhs,
		               err == -EEXIST ? ISCSI_REJECT_TASK_IN_PROGRESS
		                              : ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	idm_task_from_cmd(t, pdu->bhs);
	rx_cmd_bind(ic, t, h);
	if (c->client->scsi_cmd_header && c->client->scsi_cmd_header(c, pdu, t) != 0) {
		idm_task_release(t);
		return -EPROTO;
	}
	if (ic->dead) {
		return -ECONNRESET;
	}
	idm_task_hold(t);
	if (dlen > 0 && rx_imm_fits(t, dlen)) {
		memcpy(t->data, pdu->data, dlen);
		c->stats.bytes_copied += dlen;
		t->received = dlen;
	} else {
		pdu->data_len = 0;
	}
	if ((pdu->bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) || !t->is_write) {
		t->unsol_done = true;
	}
	if (c->client->scsi_cmd && t->state == IDM_TASK_ACTIVE) {
		pdu->data = pdu->data_len ? t->data : NULL;
		c->client->scsi_cmd(c, pdu, t);
	}
	idm_task_release(t);
	return 0;
}

/* Unsolicited Data-Out only: with iSER the target never sends an R2T. */
static bool rx_data_out_ok(const struct idm_task *t, const uint8_t *bhs, uint32_t len)
{
	uint32_t off = get_be32(bhs + DATA_BUFFER_OFFSET);
	uint32_t limit = t->unsol_limit;

	if (get_be32(bhs + DATA_TTT) != IDM_RESERVED_TAG || t->unsol_done) {
		return false;
	}
	if (off > t->data_cap || len > t->data_cap - off || off > limit || len > limit - off) {
		return false;
	}
	return off == t->received && get_be32(bhs + DATA_DATASN) == t->data_sn;
}

static int rx_data_out(struct iser_conn *ic)
{
	struct idm_conn *c = ic->c;
	const struct idm_pdu *pdu = &ic->rx_pdu;
	struct idm_task *t = idm_task_find_itt(c, get_be32(pdu->bhs + BHS_ITT));
	uint32_t len = pdu->data_len;

	if (t == NULL || t->state != IDM_TASK_ACTIVE || !t->is_write || t->data == NULL) {
		return 0; /* an aborted or unknown task: drop quietly */
	}
	if (!rx_data_out_ok(t, pdu->bhs, len)) {
		idm_pdu_reject(c, pdu->bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	memcpy(t->data + t->received, pdu->data, len);
	c->stats.bytes_copied += len;
	t->received += len;
	t->data_sn++;
	if (pdu->bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) {
		t->unsol_done = true;
		t->data_sn = 0;
	}
	if (t->transport_priv) {
		iser_rx_progress(t->transport_priv);
	}
	return 0;
}

/* A control-type message: an iSCSI PDU behind the iSER header. */
static int rx_control(struct iser_conn *ic, uint8_t *msg, uint32_t len)
{
	struct idm_conn *c = ic->c;
	struct idm_pdu *pdu = &ic->rx_pdu;
	struct iser_hdr h;
	uint8_t op;
	int rc;

	pdu->conn = c;
	rc = iser_ctrl_pdu_parse(msg, len, ISER_MAX_CMD_AHS, ic->link.rdsl, &h, pdu);
	if (rc == -EBADMSG) {
		IDM_LOG_CONN(c, "iser: short control message (%u bytes)", len);
		return -EPROTO;
	}
	op = idm_pdu_opcode(pdu);
	if (rc != 0 || (pdu->ahs_len && op != ISCSI_OP_SCSI_CMD)) {
		/* only a SCSI Command carries an AHS */
		IDM_LOG_CONN(c, "iser: %s: AHS %u data %u in a %u-byte message",
		             idm_opcode_name(op), pdu->ahs_len,
		             get_be24(pdu->bhs + BHS_DATA_SEG_LEN), len);
		idm_pdu_reject(c, pdu->bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return -EPROTO;
	}
	c->stats.pdus_rx++;
	c->stats.bytes_rx += pdu->data_len;
	if (!rx_opcode_legal(op)) {
		idm_pdu_reject(c, pdu->bhs, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		return 0;
	}
	if (idm_conn_rx_gate(c, pdu->bhs) != 0) {
		IDM_LOG_CONN(c, "%s not allowed in state %s", idm_opcode_name(op),
		             idm_conn_state_name(c->state));
		return -EPROTO;
	}
	if (op == ISCSI_OP_SCSI_CMD) {
		return rx_scsi_cmd(ic, &h);
	}
	if (op == ISCSI_OP_SCSI_DATA_OUT) {
		return rx_data_out(ic);
	}
	if (c->client->rx_pdu) {
		c->client->rx_pdu(c, pdu);
	}
	return 0;
}

static int rx_message(struct iser_conn *ic, uint8_t *msg, uint32_t len)
{
	switch (iser_msg_opcode(msg, len)) {
	case ISER_OP_CONTROL:
		return rx_control(ic, msg, len);
	case ISER_OP_HELLO:
		/* before any login only: Hello is the first message or none */
		if (ic->c->state > IDM_CONN_XPT_UP) {
			return -EPROTO;
		}
		return iser_send_hello_reply(ic, msg, len);
	default:
		IDM_LOG_CONN(ic->c, "iser: unknown message opcode (%u bytes)", len);
		return -EPROTO;
	}
}

/* A receive completed: handle the message, then post the buffer again. */
void iser_rx_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	struct iser_rx_desc *d = (struct iser_rx_desc *)wr;
	struct iser_conn *ic = d->ic;
	struct idm_conn *c = ic->c;
	int rc;

	if (status != 0) {
		if (status != -ECANCELED) {
			iser_conn_fail(ic, "receive completed in error");
		} else if (!ic->dead) {
			iser_conn_fail(ic, "receive flushed");
		}
		return;
	}
	if (iser_rx_park(ic, d, byte_len)) {
		return; /* input stopped: handled when the core resumes it */
	}
	idm_conn_hold(c);
	rc = byte_len <= d->cap ? rx_message(ic, d->buf, byte_len) : -EMSGSIZE;
	if (rc == -ECONNRESET) {
		iser_conn_fail(ic, "connection closed while receiving");
	} else if (rc != 0 && !ic->dead) {
		IDM_LOG_CONN(c, "iser: receive failed (%d), closing", rc);
		idm_conn_event(c, IDM_CE_PROTOCOL_ERROR);
	}
	if (!ic->dead && iser_post_recv(ic, d) != 0) {
		iser_conn_fail(ic, "cannot repost a receive");
	}
	idm_conn_release(c);
}
