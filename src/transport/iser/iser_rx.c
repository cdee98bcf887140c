/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Receive side of iSER, both roles: every RCaP message lands whole in a
 * posted receive buffer (iSER header, then BHS, AHS and data segment). A
 * control-type PDU goes through the core's intake (src/idm/rx.c) as TCP's
 * do. The roles differ in little: a target answers a Hello with a
 * HelloReply and records a SCSI Command's STags in the task's transport
 * area (immediate data and unsolicited Data-Out are copied from the
 * receive buffer into the task buffer); an initiator ends a command's
 * one-off registration with its SCSI Response. The buffer is posted
 * again once the message is handled.
 */
#include <errno.h>
#include <string.h>

#include "transport/iser/iser_priv.h"

int iser_post_recv(struct iser_conn *ic, struct iser_rx_desc *d)
{
	struct idm_rdma_sge sge = {.addr = d->buf, .len = d->cap, .lkey = d->lkey};

	d->wr.op = IDM_RDMA_RECV;
	return ic->link.verbs->post_recv(ic->link.qp, &d->wr, &sge);
}

/* Bind the per-task transport state: the STags the command advertised. */
static void rx_cmd_bind(struct iser_conn *ic, struct idm_task *t, const struct iser_hdr *h)
{
	struct iser_task *it = iser_task_of(t);

	memset(it, 0, sizeof(*it));
	it->ic = ic;
	it->t = t;
	it->hdr = *h;
}

/*
 * A control-type message: an iSCSI PDU behind the iSER header. The core's
 * intake decides; a Send cannot land elsewhere than its receive buffer,
 * so data for a task buffer (immediate data, unsolicited Data-Out) is
 * copied there.
 */
static int rx_control(struct iser_conn *ic, uint8_t *msg, uint32_t len)
{
	struct idm_conn *c = ic->c;
	struct idm_rx *rx = &ic->intake;
	struct iser_hdr h;
	int rc;

	idm_rx_begin(c, rx);
	rc = iser_ctrl_pdu_parse(msg, len, IDM_MAX_CMD_AHS, ic->link.rdsl, &h, &rx->pdu);
	if (rc == -EBADMSG) {
		IDM_LOG_CONN(c, "iser: short control message (%u bytes)", len);
		return -EPROTO;
	}
	if (rc != 0) {
		IDM_LOG_CONN(c, "iser: %s: AHS %u data %u in a %u-byte message",
		             idm_opcode_name(idm_pdu_opcode(&rx->pdu)), rx->pdu.ahs_len,
		             get_be24(rx->pdu.bhs + BHS_DATA_SEG_LEN), len);
		if (ic->role == IDM_ROLE_TARGET) { /* only a target sends Reject */
			idm_pdu_reject(c, rx->pdu.bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		}
		return -EPROTO;
	}
	rc = idm_rx_bhs(c, rx);
	rc = rc == 0 ? idm_rx_header(c, rx) : rc;
	if (rc < 0) {
		return rc;
	}
	if (ic->dead) {
		idm_rx_abandon(rx);
		return -ECONNRESET;
	}
	if (rx->kind == IDM_RXK_CMD) {
		rx_cmd_bind(ic, rx->task, &h);
	} else if (ic->role == IDM_ROLE_INITIATOR &&
	           idm_pdu_opcode(&rx->pdu) == ISCSI_OP_SCSI_RSP) {
		/* the target is done with the buffer: a one-off registration goes */
		iser_ini_reg_end(ic, idm_pdu_itt(&rx->pdu));
	}
	if (rc == IDM_RX_TO_TASK) {
		memcpy(rx->dst, rx->pdu.data, rx->dlen);
		c->stats.bytes_copied += rx->dlen;
	} else if (rc == IDM_RX_TO_CONN) {
		rx->dst = rx->pdu.data;
	}
	idm_rx_complete(c, rx);
	return 0;
}

static int rx_message(struct iser_conn *ic, uint8_t *msg, uint32_t len)
{
	switch (iser_msg_opcode(msg, len)) {
	case ISER_OP_CONTROL:
		return rx_control(ic, msg, len);
	case ISER_OP_HELLO:
		/* to a target, before any login only: the first message or none */
		if (ic->role != IDM_ROLE_TARGET || ic->c->state > IDM_CONN_XPT_UP) {
			return -EPROTO;
		}
		return iser_send_hello_reply(ic, msg, len);
	case ISER_OP_HELLO_REPLY:
		/* an initiator that sends no Hello: a stray reply changes nothing */
		return ic->role == IDM_ROLE_INITIATOR ? 0 : -EPROTO;
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
