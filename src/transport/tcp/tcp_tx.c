/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transmit side of iSCSI over TCP, and the target's data movement.
 *
 * PDUs queue on the connection; one deferred flush per reactor iteration
 * writes all of them with as few sendmsg() calls as fit (iovecs point at
 * the BHS, digests, padding and data in place: nothing is copied). When
 * the socket is full the rest waits for EPOLLOUT. pdu->done runs once
 * the whole PDU has been written.
 *
 * Data-In splits a task buffer into PDUs of at most MaxRecvDataSegmentLength
 * (the initiator's), F at the end of every MaxBurstLength sequence, and
 * may carry the status in the last one. Writes are fetched with R2Ts of
 * at most MaxBurstLength, MaxOutstandingR2T at a time.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "transport/tcp/tcp_priv.h"

#define TX_IOV_MAX 256
#define TX_SEGS_PER_PDU 6

static const uint8_t tx_zero_pad[4];

/* ---- queue ---- */

/* Digests are computed here, at queue time, from the data in place. */
static void tx_digests(struct tcp_conn *tc, struct idm_pdu *pdu)
{
	pdu->flags &= ~(uint32_t)(TCP_PDU_HDIGEST | TCP_PDU_DDIGEST);
	if (tc->hdigest) {
		struct iovec h[2] = {{pdu->bhs, IDM_BHS_LEN}, {pdu->ahs, pdu->ahs_len}};

		idm_digest_put(pdu->hdigest, idm_digest_iov(h, 2));
		pdu->flags |= TCP_PDU_HDIGEST;
	}
	if (tc->ddigest && pdu->data_len > 0) {
		struct iovec d[2] = {{pdu->data, pdu->data_len},
		                     {(void *)tx_zero_pad, idm_pad4(pdu->data_len)}};

		idm_digest_put(pdu->ddigest, idm_digest_iov(d, 2));
		pdu->flags |= TCP_PDU_DDIGEST;
	}
}

static void tx_schedule(struct tcp_conn *tc)
{
	if (!tc->flush.queued) {
		idm_conn_hold(tc->c); /* dropped by the deferred flush */
		idm_reactor_defer(tc->c->reactor, &tc->flush);
	}
}

void tcp_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct tcp_conn *tc = tcp_conn_of(c);

	if (tc == NULL || tc->dead) {
		pdu->done(pdu, -ENOTCONN);
		return;
	}
	tx_digests(tc, pdu);
	idm_pdu_fifo_push(&tc->txq, pdu);
	tx_schedule(tc);
}

static struct idm_pdu *tx_pop(struct tcp_conn *tc)
{
	tc->tx_head_sent = 0;
	return idm_pdu_fifo_pop(&tc->txq);
}

void tcp_tx_drop_all(struct tcp_conn *tc, int status)
{
	while (tc->txq.head) {
		struct idm_pdu *pdu = tx_pop(tc);

		pdu->done(pdu, status);
	}
}

/* ---- flush ---- */

/* The wire segments of a PDU: BHS, AHS, header digest, data, pad, digest. */
static int tx_segments(const struct idm_pdu *pdu, struct iovec *seg)
{
	int n = 0;

	seg[n++] = (struct iovec){(void *)pdu->bhs, IDM_BHS_LEN};
	if (pdu->ahs_len) {
		seg[n++] = (struct iovec){pdu->ahs, pdu->ahs_len};
	}
	if (pdu->flags & TCP_PDU_HDIGEST) {
		seg[n++] = (struct iovec){(void *)pdu->hdigest, IDM_DIGEST_LEN};
	}
	if (pdu->data_len) {
		seg[n++] = (struct iovec){pdu->data, pdu->data_len};
		if (idm_pad4(pdu->data_len)) {
			seg[n++] = (struct iovec){(void *)tx_zero_pad, idm_pad4(pdu->data_len)};
		}
		if (pdu->flags & TCP_PDU_DDIGEST) {
			seg[n++] = (struct iovec){(void *)pdu->ddigest, IDM_DIGEST_LEN};
		}
	}
	return n;
}

static size_t tx_pdu_bytes(const struct idm_pdu *pdu)
{
	struct iovec seg[TX_SEGS_PER_PDU];
	int n = tx_segments(pdu, seg);
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		total += seg[i].iov_len;
	}
	return total;
}

/* Gather the queue into iov, skipping what the head PDU already sent. */
static int tx_gather(struct tcp_conn *tc, struct iovec *iov)
{
	size_t skip = tc->tx_head_sent;
	int n = 0;

	for (struct idm_pdu *p = tc->txq.head; p && n + TX_SEGS_PER_PDU <= TX_IOV_MAX;
	     p = p->next) {
		struct iovec seg[TX_SEGS_PER_PDU];
		int k = tx_segments(p, seg);

		for (int i = 0; i < k; i++) {
			if (skip >= seg[i].iov_len) {
				skip -= seg[i].iov_len;
				continue;
			}
			iov[n].iov_base = (uint8_t *)seg[i].iov_base + skip;
			iov[n].iov_len = seg[i].iov_len - skip;
			skip = 0;
			n++;
		}
	}
	return n;
}

/* `sent` bytes left: complete every PDU that is now fully written. */
static void tx_complete(struct tcp_conn *tc, size_t sent)
{
	while (tc->txq.head && !tc->dead) {
		size_t left = tx_pdu_bytes(tc->txq.head) - tc->tx_head_sent;

		if (sent < left) {
			tc->tx_head_sent += (uint32_t)sent;
			return;
		}
		sent -= left;
		struct idm_pdu *pdu = tx_pop(tc);

		pdu->done(pdu, 0); /* may queue more, or close the connection */
	}
}

/* One sendmsg of as much of the queue as fits. 1: all written, 0: socket full. */
static int tx_write_once(struct tcp_conn *tc)
{
	struct iovec iov[TX_IOV_MAX];
	struct msghdr msg = {.msg_iov = iov};
	size_t want = 0;
	ssize_t n;

	msg.msg_iovlen = (size_t)tx_gather(tc, iov);
	for (size_t i = 0; i < msg.msg_iovlen; i++) {
		want += iov[i].iov_len;
	}
	do {
		n = sendmsg(tc->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	tc->c->stats.tx_syscalls++;
	if (n < 0) {
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	}
	tx_complete(tc, (size_t)n);
	return (size_t)n == want ? 1 : 0;
}

void tcp_flush(struct tcp_conn *tc)
{
	int rc = 1;

	if (tc->connecting) {
		return; /* the connect's completion flushes */
	}

	while (rc == 1 && tc->txq.head && !tc->dead) {
		rc = tx_write_once(tc);
	}
	if (tc->dead) {
		return;
	}
	if (rc < 0) {
		tcp_conn_fail(tc, "send failed");
		return;
	}
	tcp_want_out(tc, tc->txq.head != NULL);
}

void tcp_flush_deferred(struct idm_deferred *d)
{
	struct tcp_conn *tc = (struct tcp_conn *)((char *)d - offsetof(struct tcp_conn, flush));
	struct idm_conn *c = tc->c;

	if (!tc->dead) {
		tcp_flush(tc);
	}
	idm_conn_release(c);
}

/* ---- Data-In ---- */

static uint32_t param_or(uint32_t v, uint32_t dflt)
{
	return v ? v : dflt;
}

/* The last Data-In left: the task's transmit is over (no separate status). */
static void datain_last_sent(struct idm_pdu *pdu, int status)
{
	struct idm_task *t = pdu->private;

	if (t->tx_done) {
		t->tx_done(t, status);
	}
	idm_task_release(t);
}

/* The last Data-In left, and a SCSI Response follows with tx_done. */
static void datain_last_before_status(struct idm_pdu *pdu, int status)
{
	idm_task_release(pdu->private);
}

static void datain_fill(struct idm_task *t, struct idm_pdu *pdu, uint32_t off, uint32_t len,
                        uint8_t flags)
{
	idm_bhs_init(pdu->bhs, ISCSI_OP_SCSI_DATA_IN, false);
	pdu->bhs[BHS_FLAGS] = flags;
	put_be32(pdu->bhs + BHS_ITT, t->itt);
	put_be32(pdu->bhs + DATA_TTT, IDM_RESERVED_TAG);
	put_be32(pdu->bhs + DATA_DATASN, t->data_sn++);
	put_be32(pdu->bhs + DATA_BUFFER_OFFSET, off);
	pdu->data = t->data + off; /* zero copy: the PDU points into the task */
	pdu->data_len = len;
	pdu->flags |= IDM_PDU_F_DATA_IN_TASK;
	pdu->private = t;
}

/* Status in the last Data-In (phase collapse, RFC 7143 section 11.7.4). */
static void datain_put_status(struct idm_pdu *pdu, const struct idm_scsi_status *st)
{
	pdu->bhs[BHS_FLAGS] |= (uint8_t)(ISCSI_FLAG_FINAL | DATA_FLAG_STATUS |
	                                 (st->flags & (DATA_FLAG_OVERFLOW | DATA_FLAG_UNDERFLOW)));
	pdu->bhs[DATA_STATUS] = st->status;
	if (st->flags & (DATA_FLAG_OVERFLOW | DATA_FLAG_UNDERFLOW)) {
		put_be32(pdu->bhs + DATA_RESIDUAL, st->residual);
	}
}

static bool datain_can_collapse(const struct idm_conn *c, const struct idm_scsi_status *st)
{
	return st && c->transport->caps->data_in_status &&
	       st->response == ISCSI_RESPONSE_COMPLETED &&
	       (st->sense == NULL || st->sense_len == 0);
}

/* All PDUs first, so running out of memory leaves nothing half sent. */
static int datain_alloc(struct idm_conn *c, struct idm_pdu **list, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		list[i] = idm_pdu_alloc(c, 0);
		if (list[i] == NULL) {
			while (i-- > 0) {
				idm_pdu_free(list[i]);
			}
			return -ENOMEM;
		}
	}
	return 0;
}

/* One buf_tx_to_ini call being cut into Data-In PDUs. */
struct datain_run {
	struct idm_task *t;
	const struct idm_scsi_status *st;
	bool collapse;          /* status goes in the last Data-In */
	uint32_t mdsl;          /* the initiator's MaxRecvDataSegmentLength */
	uint32_t burst;         /* MaxBurstLength: F ends each such sequence */
	uint32_t pos, seq, end; /* next offset, start of its sequence, end */
};

/* How many Data-In PDUs the rest of the run takes. */
static uint32_t datain_count(const struct datain_run *r)
{
	uint32_t len = r->end - r->pos;
	uint32_t full = len / r->burst, rest = len % r->burst;
	uint32_t per_burst = (r->burst + r->mdsl - 1) / r->mdsl;

	return full * per_burst + (rest + r->mdsl - 1) / r->mdsl;
}

/* Fill and queue the next Data-In of the run. */
static void datain_queue_one(struct datain_run *r, struct idm_pdu *pdu)
{
	uint32_t n = r->end - r->pos, seq_left = r->seq + r->burst - r->pos;
	uint8_t flags = 0;

	n = n < r->mdsl ? n : r->mdsl;
	n = n < seq_left ? n : seq_left;
	if (n == seq_left || r->pos + n == r->end) {
		flags = ISCSI_FLAG_FINAL; /* end of a sequence */
		r->seq = r->pos + n;
	}
	datain_fill(r->t, pdu, r->pos, n, flags);
	r->pos += n;
	if (r->pos == r->end) {
		if (r->collapse) {
			datain_put_status(pdu, r->st);
		}
		pdu->done = r->st && !r->collapse ? datain_last_before_status : datain_last_sent;
	}
	idm_pdu_tx(r->t->conn, pdu);
}

#define DATAIN_BATCH 64

static int datain_send(struct datain_run *r)
{
	struct idm_conn *c = r->t->conn;
	struct idm_pdu *batch[DATAIN_BATCH];
	uint32_t start = r->pos;

	idm_task_hold(r->t); /* until the last Data-In is done */
	while (r->pos < r->end) {
		uint32_t k = datain_count(r);

		k = k < DATAIN_BATCH ? k : DATAIN_BATCH;
		if (datain_alloc(c, batch, k) != 0) {
			idm_task_release(r->t);
			if (r->pos != start) {
				idm_conn_close(c); /* half a transfer went out */
			}
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < k; i++) {
			datain_queue_one(r, batch[i]);
		}
	}
	return 0;
}

int tcp_buf_tx_to_ini(struct idm_task *t, uint32_t off, uint32_t len,
                      const struct idm_scsi_status *st)
{
	const struct idm_params *p = &t->conn->params;
	struct datain_run run = {
	    .t = t,
	    .st = st,
	    .collapse = datain_can_collapse(t->conn, st),
	    .mdsl = param_or(p->max_xmit_dsl, 8192),
	    .burst = param_or(p->max_burst_length, 262144),
	    .pos = off,
	    .seq = off,
	    .end = off + len,
	};
	int rc;

	if (run.burst < run.mdsl) {
		run.mdsl = run.burst;
	}
	rc = datain_send(&run);
	if (rc == 0 && st && !run.collapse) {
		rc = idm_task_send_status(t, st);
	}
	return rc;
}

/* ---- R2T and Data-Out progress ---- */

static int r2t_send(struct idm_task *t, uint32_t off, uint32_t len)
{
	struct idm_pdu *pdu = idm_pdu_alloc(t->conn, 0);

	if (pdu == NULL) {
		return -ENOMEM;
	}
	idm_task_r2t(t, off, len, pdu->bhs);
	idm_pdu_tx(t->conn, pdu);
	return 0;
}

/* Ask for more data: R2Ts up to MaxOutstandingR2T, each <= MaxBurstLength. */
static void r2t_pump(struct idm_task *t, struct tcp_task *tt)
{
	const struct idm_params *p = &t->conn->params;
	uint32_t burst = param_or(p->max_burst_length, 262144);
	uint32_t max_out = param_or(p->max_outstanding_r2t, 1);

	if (tt->r2t_next < t->received) {
		tt->r2t_next = t->received; /* R2Ts start where unsolicited data ended */
	}
	while (t->r2t_outstanding < max_out && tt->r2t_next < tt->rx_wanted) {
		uint32_t n = tt->rx_wanted - tt->r2t_next;

		n = n < burst ? n : burst;
		if (r2t_send(t, tt->r2t_next, n) != 0) {
			idm_conn_close(t->conn);
			return;
		}
		tt->r2t_next += n;
	}
}

void tcp_rx_progress(struct idm_task *t)
{
	struct tcp_task *tt = idm_task_transport_area(t);

	if (tt->rx_wanted == 0) {
		return; /* nobody waits for this task's data (yet) */
	}
	if (t->received >= tt->rx_wanted) {
		idm_task_fn done = t->rx_done;

		tt->rx_wanted = 0;
		if (done) {
			done(t, 0);
		}
		return;
	}
	if (t->unsol_done) {
		r2t_pump(t, tt);
	}
}

int tcp_buf_rx_from_ini(struct idm_task *t, uint32_t len)
{
	((struct tcp_task *)idm_task_transport_area(t))->rx_wanted = len;
	tcp_rx_progress(t);
	return 0;
}
