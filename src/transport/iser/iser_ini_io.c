/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER initiator: Sends and receives. Every PDU leaves as a Send from a
 * pre-registered buffer behind a 28-byte iSER header; a SCSI Command's
 * header advertises the task buffer (read STag/VA, write STag/VA), so the
 * target moves the data by RDMA Write (reads) or RDMA Read (writes) and
 * no data PDU crosses. Everything the target sends (Login/Text/Logout/SCSI
 * Responses, NOP-In, R2T, Reject, Async) arrives as a Send in a posted
 * receive and goes to the initiator core like a TCP PDU would.
 */
#include <errno.h>
#include <string.h>

#include "transport/iser/iser_ini_priv.h"

/* ---- receives ---- */

int iser_ini_post_recv(struct iser_ini_conn *ic, struct iser_ini_rx *d)
{
	struct idm_rdma_sge sge = {.addr = d->buf, .len = ic->rx_cap, .lkey = ic->lkey};

	d->wr.op = IDM_RDMA_RECV;
	return idm_rdma_post_recv(&ic->rc, &d->wr, &sge);
}

/* A control-type message: a target PDU behind the iSER header, through
 * the core's intake as every transport's. */
static int rx_control(struct iser_ini_conn *ic, uint8_t *msg, uint32_t len)
{
	struct idm_conn *c = ic->c;
	struct idm_rx *rx = &ic->intake;
	struct iser_hdr h;
	int rc;

	idm_rx_begin(c, rx);
	rc = iser_ctrl_pdu_parse(msg, len, ISER_INI_MAX_AHS, ISER_INI_RDSL, &h, &rx->pdu);
	if (rc != 0) {
		IDM_LOG_CONN(c, "iser: %s: a %u-byte message too short for its BHS lengths",
		             rc == -EBADMSG ? "control message"
		                            : idm_opcode_name(idm_pdu_opcode(&rx->pdu)),
		             len);
		return -EPROTO;
	}
	rc = idm_rx_bhs(c, rx);
	rc = rc == 0 ? idm_rx_header(c, rx) : rc;
	if (rc < 0) {
		return rc;
	}
	if (idm_pdu_opcode(&rx->pdu) == ISCSI_OP_SCSI_RSP) {
		/* the target is done with the buffer: a one-off registration goes */
		iser_ini_reg_end(ic, idm_pdu_itt(&rx->pdu));
	}
	if (rc == IDM_RX_TO_TASK) {
		memcpy(rx->dst, rx->pdu.data, rx->dlen); /* a Data-In: not sent over iSER */
		c->stats.bytes_copied += rx->dlen;
	} else if (rc == IDM_RX_TO_CONN) {
		rx->dst = rx->pdu.data;
	}
	idm_rx_complete(c, rx);
	return 0;
}

static int rx_message(struct iser_ini_conn *ic, uint8_t *msg, uint32_t len)
{
	switch (iser_msg_opcode(msg, len)) {
	case ISER_OP_CONTROL:
		return rx_control(ic, msg, len);
	case ISER_OP_HELLO_REPLY:
		return 0; /* we send no Hello; a stray reply changes nothing */
	default:
		IDM_LOG_CONN(ic->c, "iser: unexpected message (%u bytes)", len);
		return -EPROTO;
	}
}

/* A receive completed: handle the message, then post the buffer again. */
void iser_ini_rx_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	struct iser_ini_rx *d = (struct iser_ini_rx *)wr;
	struct iser_ini_conn *ic = d->ic;
	struct idm_conn *c = ic->c;
	int rc;

	if (status != 0) {
		iser_ini_fail(ic, status == -ECANCELED ? "receive flushed"
		                                       : "receive completed in error");
		return;
	}
	idm_conn_hold(c);
	rc = byte_len <= ic->rx_cap ? rx_message(ic, d->buf, byte_len) : -EMSGSIZE;
	if (rc != 0 && !ic->dead) {
		IDM_LOG_CONN(c, "iser: bad message from the target (%d), closing", rc);
		idm_conn_event(c, IDM_CE_PROTOCOL_ERROR);
	}
	if (!ic->dead && iser_ini_post_recv(ic, d) != 0) {
		iser_ini_fail(ic, "cannot repost a receive");
	}
	idm_conn_release(c);
}

/* ---- Sends ---- */

static void tx_put(struct iser_ini_conn *ic, struct iser_ini_tx *d)
{
	d->pdu = NULL;
	d->next = ic->tx_free;
	ic->tx_free = d;
}

static struct iser_ini_tx *tx_get(struct iser_ini_conn *ic)
{
	struct iser_ini_tx *d = ic->tx_free;

	if (d) {
		ic->tx_free = d->next;
		d->next = NULL;
	}
	return d;
}

static void tx_send_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	struct iser_ini_tx *d = (struct iser_ini_tx *)wr;
	struct iser_ini_conn *ic = d->ic;
	struct idm_conn *c = ic->c;
	struct idm_pdu *pdu = d->pdu;

	(void)byte_len;
	tx_put(ic, d);
	if (status != 0 && !ic->dead) {
		iser_ini_fail(ic, "Send completed in error");
	}
	if (pdu) {
		pdu->done(pdu, status);
	}
	iser_ini_tx_pump(ic);
	idm_conn_release(c); /* held while the Send was posted */
}

/*
 * The iSER header of a PDU: a SCSI Command advertises its task buffer,
 * registered once (buf_alloc) or, for memory that is not ours, for this
 * command only. Every other PDU carries no STag.
 */
static int tx_hdr(struct iser_ini_conn *ic, const struct idm_pdu *pdu, struct iser_hdr *h)
{
	struct idm_task *t;
	struct iser_ini_reg *r;

	memset(h, 0, sizeof(*h));
	if (idm_pdu_opcode(pdu) != ISCSI_OP_SCSI_CMD) {
		return 0;
	}
	t = idm_task_find_itt(ic->c, idm_pdu_itt(pdu));
	if (t == NULL || t->data == NULL || t->data_cap == 0 || (!t->is_read && !t->is_write)) {
		return 0;
	}
	r = iser_ini_reg_find(ic, t->data, t->data_cap);
	if (r == NULL) {
		r = iser_ini_reg_once(ic, t->data, t->data_cap, t->itt);
	}
	if (r == NULL) {
		return -ENOMEM;
	}
	iser_ini_cmd_hdr(h, t->is_read, t->is_write, idm_rdma_rkey(r->mr),
	                 (uint64_t)(uintptr_t)t->data);
	return 0;
}

/* Lay the PDU out behind its iSER header; the message length, or -errno. */
static int tx_fill(struct iser_ini_conn *ic, struct iser_ini_tx *d, const struct idm_pdu *pdu)
{
	struct iser_hdr h;
	uint8_t *p = d->buf;
	int rc = tx_hdr(ic, pdu, &h);

	if (rc != 0) {
		return rc;
	}
	iser_hdr_encode(p, &h);
	memcpy(p + ISER_HDR_LEN, pdu->bhs, IDM_BHS_LEN);
	p += ISER_INI_HDRS;
	if (pdu->ahs_len) {
		memcpy(p, pdu->ahs, pdu->ahs_len);
		p += pdu->ahs_len;
	}
	if (pdu->data_len) {
		/* login/text keys, NOP data: control data, not the data path */
		memcpy(p, pdu->data, pdu->data_len);
		p += pdu->data_len;
	}
	return (int)(p - d->buf);
}

static int tx_post(struct iser_ini_conn *ic, struct iser_ini_tx *d, uint32_t len)
{
	struct idm_rdma_sge sge = {.addr = d->buf, .len = len, .lkey = ic->lkey};
	int rc;

	d->wr.op = IDM_RDMA_SEND;
	d->wr.done = tx_send_done;
	idm_conn_hold(ic->c);
	rc = idm_rdma_post_send(&ic->rc, &d->wr, &sge, 1, true);
	if (rc != 0) {
		idm_conn_release(ic->c);
		return rc;
	}
	ic->c->stats.work_requests++; /* pdus_tx and bytes_tx: the core counts them */
	return 0;
}

static void tx_start(struct iser_ini_conn *ic, struct iser_ini_tx *d, struct idm_pdu *pdu)
{
	int len;
	int rc;

	d->pdu = pdu;
	len = tx_fill(ic, d, pdu);
	rc = len < 0 ? len : tx_post(ic, d, (uint32_t)len);
	if (rc != 0) {
		tx_put(ic, d);
		pdu->done(pdu, rc);
		iser_ini_fail(ic, "cannot post a Send");
	}
}

void iser_ini_tx_pump(struct iser_ini_conn *ic)
{
	while (ic->connected && ic->txq.head && ic->tx_free && !ic->dead) {
		tx_start(ic, tx_get(ic), idm_pdu_fifo_pop(&ic->txq));
	}
}

void iser_ini_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct iser_ini_conn *ic = iser_ini_of(c);

	if (ic == NULL || ic->dead) {
		pdu->done(pdu, -ENOTCONN);
		return;
	}
	if (pdu->ahs_len > ISER_INI_RDSL || pdu->data_len > ISER_INI_RDSL - pdu->ahs_len) {
		IDM_LOG_CONN(c, "iser: %s with %u data bytes does not fit a Send",
		             idm_opcode_name(idm_pdu_opcode(pdu)), pdu->data_len);
		pdu->done(pdu, -EMSGSIZE);
		return;
	}
	idm_pdu_fifo_push(&ic->txq, pdu);
	iser_ini_tx_pump(ic);
}

void iser_ini_tx_drop_all(struct iser_ini_conn *ic, int status)
{
	struct idm_pdu *pdu;

	while ((pdu = idm_pdu_fifo_pop(&ic->txq)) != NULL) {
		pdu->done(pdu, status);
	}
}
