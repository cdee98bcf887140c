/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transmit side of iSER (both roles) and the target's data movement.
 *
 * Every PDU leaves as a Send from a pre-registered Send buffer (iSER
 * header, BHS, AHS, data); pdu->done runs on the Send's completion. PDUs
 * wait in a queue while every Send buffer is in flight, and, on an
 * initiator, until the connection is established. A target's iSER
 * header carries no STag; an initiator's SCSI Command advertises its
 * task buffer there (iser_ini_tx_hdr), so no data PDU crosses.
 *
 * SCSI read data goes by RDMA Write to the initiator's read STag/VA, and
 * the SCSI Response follows as a Send: a reliable connection delivers a
 * Send after the Writes posted before it. Write data not carried by
 * immediate or unsolicited data comes by RDMA Read from the write
 * STag/VA; the response waits for the Read's completion, since a later
 * Send is not ordered after a Read. A transfer below the copy threshold
 * goes through a buffer of the pre-registered pool; a larger one
 * registers the task's memory for the duration of the transfer.
 */
#include <errno.h>
#include <string.h>

#include "transport/iser/iser_priv.h"

/* ---- Sends ---- */

static void tx_put_desc(struct iser_conn *ic, struct iser_tx_desc *d)
{
	d->pdu = NULL;
	d->next = ic->tx_free;
	ic->tx_free = d;
}

static struct iser_tx_desc *tx_get_desc(struct iser_conn *ic)
{
	struct iser_tx_desc *d = ic->tx_free;

	if (d) {
		ic->tx_free = d->next;
		d->next = NULL;
	}
	return d;
}

/* A Send completed (or was flushed): free its buffer, finish its PDU. */
static void tx_send_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	struct iser_tx_desc *d = (struct iser_tx_desc *)wr;
	struct iser_conn *ic = d->ic;
	struct idm_conn *c = ic->c;
	struct idm_pdu *pdu = d->pdu;

	(void)byte_len;
	tx_put_desc(ic, d);
	if (status != 0 && !ic->dead) {
		iser_conn_fail(ic, status == -EACCES ? "remote access error on a Send"
		                                     : "Send completed in error");
	}
	if (pdu) {
		pdu->done(pdu, status);
	}
	iser_tx_pump(ic);
	idm_conn_release(c); /* held while the Send was posted */
}

/* Post `len` bytes of d->buf as a Send. 0 / -errno. */
static int tx_post(struct iser_conn *ic, struct iser_tx_desc *d, uint32_t len)
{
	struct idm_rdma_sge sge = {.addr = d->buf, .len = len, .lkey = d->lkey};
	int rc;

	d->wr.op = IDM_RDMA_SEND;
	d->wr.done = tx_send_done;
	idm_conn_hold(ic->c);
	rc = ic->link.verbs->post_send(ic->link.qp, &d->wr, &sge, 1);
	if (rc != 0) {
		idm_conn_release(ic->c);
		return rc;
	}
	ic->c->stats.work_requests++;
	return 0;
}

/* Lay the PDU out behind its iSER header; the message length, or -errno. */
static int tx_fill(struct iser_conn *ic, struct iser_tx_desc *d, const struct idm_pdu *pdu)
{
	struct iser_hdr h = {0};
	uint8_t *p = d->buf;

	if (ic->role == IDM_ROLE_INITIATOR) {
		int rc = iser_ini_tx_hdr(ic, pdu, &h);

		if (rc != 0) {
			return rc;
		}
	}
	iser_hdr_encode(p, &h);
	memcpy(p + ISER_HDR_LEN, pdu->bhs, IDM_BHS_LEN);
	p += ISER_CTRL_HDRS;
	if (pdu->ahs_len) {
		memcpy(p, pdu->ahs, pdu->ahs_len);
		p += pdu->ahs_len;
	}
	if (pdu->data_len) {
		/* keys, NOP data, sense: control data, not the data path */
		memcpy(p, pdu->data, pdu->data_len);
		p += pdu->data_len;
	}
	return (int)(p - d->buf);
}

static void tx_start(struct iser_conn *ic, struct iser_tx_desc *d, struct idm_pdu *pdu)
{
	int len;
	int rc;

	d->pdu = pdu;
	len = tx_fill(ic, d, pdu);
	rc = len < 0 ? len : tx_post(ic, d, (uint32_t)len);
	if (rc != 0) {
		tx_put_desc(ic, d);
		pdu->done(pdu, rc);
		iser_conn_fail(ic, "cannot post a Send");
	}
}

/* Send queued PDUs while Send buffers are free. */
void iser_tx_pump(struct iser_conn *ic)
{
	while (ic->connected && ic->txq.head && ic->tx_free && !ic->dead) {
		tx_start(ic, tx_get_desc(ic), idm_pdu_fifo_pop(&ic->txq));
	}
}

void iser_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct iser_conn *ic = iser_conn_of(c);

	if (ic == NULL || ic->dead) {
		pdu->done(pdu, -ENOTCONN);
		return;
	}
	if (pdu->ahs_len > ISER_TX_DATA_MAX || pdu->data_len > ISER_TX_DATA_MAX - pdu->ahs_len) {
		IDM_LOG_CONN(c, "iser: %s with %u data bytes does not fit a Send buffer",
		             idm_opcode_name(idm_pdu_opcode(pdu)), pdu->data_len);
		pdu->done(pdu, -EMSGSIZE);
		return;
	}
	pdu->next = NULL;
	if (ic->connected && ic->txq.head == NULL && ic->tx_free) {
		tx_start(ic, tx_get_desc(ic), pdu);
		return;
	}
	idm_pdu_fifo_push(&ic->txq, pdu);
}

void iser_tx_drop_all(struct iser_conn *ic, int status)
{
	struct idm_pdu *pdu;

	while ((pdu = idm_pdu_fifo_pop(&ic->txq)) != NULL) {
		pdu->done(pdu, status);
	}
}

/* A Hello: answer with our version and the RDMA Reads we will issue. */
int iser_send_hello_reply(struct iser_conn *ic, const uint8_t *hello, uint32_t len)
{
	struct iser_hello h;
	struct iser_hello_reply r = {.max_ver = ISER_VERSION, .cur_ver = ISER_VERSION};
	struct iser_tx_desc *d;
	int rc = iser_hello_decode(hello, len, &h);

	if (rc != 0) {
		return rc;
	}
	r.reject = h.min_ver > ISER_VERSION || h.max_ver < ISER_VERSION;
	r.ord = ic->link.ord;
	d = tx_get_desc(ic);
	if (d == NULL) {
		return -ENOBUFS;
	}
	rc = iser_hello_reply_encode(d->buf, &r);
	if (rc == 0) {
		rc = tx_post(ic, d, ISER_HELLO_LEN);
	}
	if (rc != 0) {
		tx_put_desc(ic, d);
	}
	return rc;
}

/* ---- RDMA transfers ---- */

void iser_task_xfer_release(struct iser_task *it)
{
	struct iser_conn *ic = it->ic;

	if (it->pbuf) {
		iser_pool_put(&ic->pool, it->pbuf);
		it->pbuf = NULL;
	}
	if (it->mr) {
		ic->link.mem.dereg(ic->link.mem.ctx, it->mr);
		it->mr = NULL;
	}
	it->busy = false;
}

/*
 * Local memory for t->data[off, off+len): a pool buffer below the copy
 * threshold (filled now when the data goes out), else the task's memory
 * registered for this transfer.
 */
static int xfer_prepare(struct iser_task *it, uint32_t off, uint32_t len, bool outbound,
                        struct idm_rdma_sge *sge)
{
	struct iser_conn *ic = it->ic;
	struct idm_conn *c = ic->c;
	uint8_t *mem = it->t->data + off;
	uint32_t rkey;
	int rc;

	it->off = off;
	it->len = len;
	if (iser_buf_path(len, ic->link.copy_threshold, ic->pool.buf_size) == ISER_BUF_COPY &&
	    (it->pbuf = iser_pool_get(&ic->pool)) != NULL) {
		if (outbound) {
			memcpy(it->pbuf->addr, mem, len);
			c->stats.bytes_copied += len;
		}
		*sge = (struct idm_rdma_sge){
		    .addr = it->pbuf->addr, .len = len, .lkey = it->pbuf->lkey};
		return 0;
	}
	rc = ic->link.mem.reg(ic->link.mem.ctx, mem, len, &it->mr, &sge->lkey, &rkey);
	if (rc != 0) {
		it->mr = NULL;
		return rc;
	}
	c->stats.registrations++;
	sge->addr = mem;
	sge->len = len;
	return 0;
}

/* A Write without a status after it ends the transmit; else the Send does. */
static void task_write_done(struct iser_task *it, int status)
{
	struct idm_task *t = it->t;

	if (!it->status_follows && t->tx_done) {
		t->tx_done(t, status);
	}
}

static void task_read_done(struct iser_task *it, int status)
{
	struct idm_task *t = it->t;

	if (status != 0) {
		it->reading = false; /* the connection goes: task_abort ends the task */
		return;
	}
	if (t->state != IDM_TASK_ACTIVE) {
		/* aborted meanwhile: the data is dropped (the registered path
		 * wrote into t->data, which the task keeps until its last
		 * reference, this transfer's, goes) */
		it->reading = false;
		return;
	}
	if (it->pbuf) {
		memcpy(t->data + it->off, it->pbuf->addr, it->len);
		it->ic->c->stats.bytes_copied += it->len;
	}
	it->read_done = true;
}

/* An RDMA Write or Read of a task completed: told apart by the stored type. */
static void task_wr_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len)
{
	struct iser_task *it = (struct iser_task *)wr;
	struct iser_conn *ic = it->ic;
	struct idm_task *t = it->t;

	(void)byte_len;
	if (status != 0 && !ic->dead) {
		iser_conn_fail(ic, status == -EACCES ? "remote access error"
		                                     : "RDMA transfer completed in error");
	}
	if (wr->op == IDM_RDMA_READ) {
		task_read_done(it, status);
	}
	iser_task_xfer_release(it);
	if (wr->op == IDM_RDMA_WRITE) {
		task_write_done(it, status);
	} else if (t->state == IDM_TASK_ACTIVE) {
		iser_rx_progress(it);
	}
	idm_task_release(t);
}

/* Post an RDMA Write or Read between t->data[off, off+len) and the peer's `va`. */
static int xfer_post(struct iser_task *it, enum idm_rdma_op op, uint32_t off, uint32_t len,
                     uint64_t va, uint32_t stag)
{
	struct iser_conn *ic = it->ic;
	struct idm_rdma_sge sge;
	int rc = xfer_prepare(it, off, len, op == IDM_RDMA_WRITE, &sge);

	if (rc != 0) {
		return rc;
	}
	it->wr.done = task_wr_done;
	it->wr.op = op;
	rc = op == IDM_RDMA_WRITE ? ic->link.verbs->post_write(ic->link.qp, &it->wr, &sge, va, stag)
	                          : ic->link.verbs->post_read(ic->link.qp, &it->wr, &sge, va, stag);
	if (rc != 0) {
		iser_task_xfer_release(it);
		return rc;
	}
	ic->c->stats.work_requests++;
	it->busy = true;
	idm_task_hold(it->t); /* until the completion */
	return 0;
}

/* The task's iSER state, if it belongs to a live iSER connection. */
static struct iser_task *task_state(struct idm_task *t)
{
	struct iser_task *it = iser_task_of(t);
	struct iser_conn *ic = iser_conn_of(t->conn);

	if (ic == NULL || it->ic != ic || it->t != t) {
		return NULL;
	}
	return ic->dead ? NULL : it;
}

int iser_buf_tx_to_ini(struct idm_task *t, uint32_t off, uint32_t len,
                       const struct idm_scsi_status *st)
{
	struct iser_task *it = task_state(t);
	int rc;

	if (it == NULL) {
		return -ENOTCONN;
	}
	if (!(it->hdr.flags & ISER_RSV)) {
		IDM_LOG_CONN(t->conn, "iser: read data for ITT %#x without a read STag", t->itt);
		return -EINVAL;
	}
	if (it->busy) {
		return -EBUSY;
	}
	it->status_follows = st != NULL;
	/* the Read Base Offset addresses the start of the read data */
	rc = xfer_post(it, IDM_RDMA_WRITE, off, len, it->hdr.read_va + off, it->hdr.read_stag);
	if (rc == 0 && st) {
		rc = idm_task_send_status(t, st); /* ordered after the Write */
	}
	return rc;
}

int iser_buf_rx_from_ini(struct idm_task *t, uint32_t len)
{
	struct iser_task *it = task_state(t);

	if (it == NULL) {
		return -ENOTCONN;
	}
	if (it->busy || it->reading) {
		return -EBUSY;
	}
	/* without WSV the rest must still arrive unsolicited (see rx_progress) */
	it->rx_wanted = len;
	it->read_done = false;
	it->reading = true;
	iser_rx_progress(it);
	return 0;
}

static void rx_finish(struct iser_task *it)
{
	struct idm_task *t = it->t;

	it->reading = false;
	t->received = it->rx_wanted;
	if (t->rx_done) {
		t->rx_done(t, 0);
	}
}

/* The rest of the write data cannot be fetched: end the connection, not hang. */
static void rx_refuse(struct iser_task *it, const char *why)
{
	struct idm_task *t = it->t;

	IDM_LOG_CONN(t->conn, "iser: ITT %#x: %u of %u bytes and %s", t->itt, t->received,
	             it->rx_wanted, why);
	it->reading = false;
	idm_conn_event(t->conn, IDM_CE_PROTOCOL_ERROR);
}

/*
 * Drive a pending receive. The Read waits until the unsolicited data has
 * all arrived: the initiator's Write Base Offset addresses the first byte
 * after it (RFC 7145 section 9.2; Linux ib_iser advertises its buffer
 * plus the unsolicited length), and where that is is only known once the
 * F bit ended the unsolicited data. One Read then fetches the rest.
 */
void iser_data_out_placed(struct idm_task *t)
{
	struct iser_task *it = iser_task_of(t);

	if (it->ic != NULL) {
		iser_rx_progress(it);
	}
}

void iser_rx_progress(struct iser_task *it)
{
	struct idm_task *t = it->t;

	if (!it->reading || it->busy) {
		return;
	}
	if (it->read_done || t->received >= it->rx_wanted) {
		rx_finish(it);
		return;
	}
	if (!t->unsol_done) {
		return;
	}
	if (!(it->hdr.flags & ISER_WSV)) {
		/* the initiator's data ended short and it offered no buffer to read */
		rx_refuse(it, "no write STag");
		return;
	}
	if (it->ic->link.ord == 0) {
		/* it accepts no RDMA Read (responder resources 0): one would never run */
		rx_refuse(it, "the initiator answers no RDMA Read");
		return;
	}
	if (xfer_post(it, IDM_RDMA_READ, t->received, it->rx_wanted - t->received, it->hdr.write_va,
	              it->hdr.write_stag) != 0) {
		iser_conn_fail(it->ic, "cannot post an RDMA Read");
	}
}
