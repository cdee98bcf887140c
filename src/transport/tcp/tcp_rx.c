/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Receive side of iSCSI over TCP: a resumable state machine.
 *
 *   BHS (48) -> AHS + header digest -> data segment + padding + data digest
 *
 * Each phase keeps a byte count, so a short read resumes where it
 * stopped. Once the header is in, a handler per opcode validates it and
 * chooses where the data segment goes: straight into the task buffer for
 * immediate data and Data-Out (no bounce copy), into a connection buffer
 * for other PDUs, or nowhere (discarded) for PDUs that were rejected.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "transport/tcp/tcp_priv.h"

#define RX_BUDGET 64 /* PDUs per readiness event, so one peer cannot hog a reactor */

void tcp_rx_reset(struct tcp_conn *tc)
{
	tc->rx_phase = TCP_RX_BHS;
	tc->rx_kind = TCP_RX_PDU;
	tc->rx_got = 0;
	tc->rx_dst = NULL;
	tc->rx_dlen = 0;
	tc->rx_trailer_len = 0;
	memset(&tc->rx_pdu, 0, sizeof(tc->rx_pdu));
	tc->rx_pdu.conn = tc->c;
}

/* Read into `iov`; 1 when all of it arrived, 0 on EAGAIN or partial, <0 closed. */
static int rx_read(struct tcp_conn *tc, struct iovec *iov, int iovcnt, uint32_t *got)
{
	ssize_t n;
	size_t want = 0;

	for (int i = 0; i < iovcnt; i++) {
		want += iov[i].iov_len;
	}
	do {
		n = readv(tc->fd, iov, iovcnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 0;
		}
		return -errno;
	}
	if (n == 0) {
		return -ECONNRESET;
	}
	*got += (uint32_t)n;
	return (size_t)n == want ? 1 : 0;
}

/* ---- header handlers ---- */

static void rx_discard(struct tcp_conn *tc)
{
	tc->rx_kind = TCP_RX_DISCARD;
	tc->rx_dst = NULL;
}

/* Room for a non-SCSI PDU's data segment in the connection's rx buffer. */
static int rx_buffer(struct tcp_conn *tc, uint32_t len)
{
	struct idm_conn *c = tc->c;
	size_t cap = 0;
	uint8_t *buf;

	if (len <= tc->rx_buf_cap) {
		return 0;
	}
	buf = idm_buf_get(c->reactor, len, &cap);
	if (buf == NULL) {
		return -ENOMEM;
	}
	if (tc->rx_buf) {
		idm_buf_put(c->reactor, tc->rx_buf, tc->rx_buf_cap);
	}
	tc->rx_buf = buf;
	tc->rx_buf_cap = cap;
	return 0;
}

static int rx_hdr_generic(struct tcp_conn *tc)
{
	if (tc->rx_dlen > 0 && rx_buffer(tc, tc->rx_dlen) != 0) {
		return -ENOMEM;
	}
	tc->rx_kind = TCP_RX_PDU;
	tc->rx_dst = tc->rx_dlen > 0 ? tc->rx_buf : NULL;
	return 0;
}

/*
 * Immediate data goes into t->data only when the client allowed it: a
 * write, a buffer, and no more than the unsolicited limit (which may
 * exceed xfer_len when the initiator's EDTL does; the client sizes the
 * buffer for it).
 */
static bool rx_imm_fits(const struct idm_task *t, uint32_t len)
{
	return t->is_write && t->data != NULL && len <= t->data_cap && len <= t->unsol_limit;
}

static int rx_hdr_scsi_cmd(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	const uint8_t *bhs = tc->rx_pdu.bhs;
	struct idm_task *t;
	int err;

	t = idm_task_alloc(c, get_be32(bhs + BHS_ITT), &err);
	if (t == NULL) {
		idm_pdu_reject(c, bhs,
		               err == -EEXIST ? ISCSI_REJECT_TASK_IN_PROGRESS
		                              : ISCSI_REJECT_PROTOCOL_ERROR);
		rx_discard(tc);
		return 0;
	}
	idm_task_from_cmd(t, bhs);
	if (c->client->scsi_cmd_header && c->client->scsi_cmd_header(c, &tc->rx_pdu, t) != 0) {
		idm_task_release(t);
		return -EPROTO;
	}
	if (tc->dead) {
		return -ECONNRESET; /* closed from the callback: the task was aborted */
	}
	/* the client owns the allocation reference from here on; this one
	 * keeps the task while its immediate data is read */
	idm_task_hold(t);
	tc->rx_task = t;
	tc->rx_kind = TCP_RX_CMD;
	tc->rx_dst = NULL;
	if (tc->rx_dlen > 0 && rx_imm_fits(t, tc->rx_dlen)) {
		tc->rx_dst = t->data;
	}
	return 0;
}

/* Unsolicited Data-Out: within the first burst the target allows. */
static bool rx_unsol_ok(const struct idm_task *t, uint32_t off, uint32_t len)
{
	uint32_t limit = t->unsol_limit;

	return !t->unsol_done && off <= limit && len <= limit - off;
}

/* Solicited Data-Out: within what the outstanding R2Ts asked for. */
static bool rx_solicited_ok(const struct idm_task *t, uint32_t off, uint32_t len)
{
	return t->r2t_outstanding > 0 && off <= t->r2t_next && len <= t->r2t_next - off;
}

static bool rx_data_out_ok(struct tcp_conn *tc, const struct idm_task *t, const uint8_t *bhs)
{
	uint32_t off = get_be32(bhs + DATA_BUFFER_OFFSET);
	uint32_t len = tc->rx_dlen;
	bool unsolicited = get_be32(bhs + DATA_TTT) == IDM_RESERVED_TAG;

	if (off > t->data_cap || len > t->data_cap - off) {
		return false;
	}
	if (unsolicited ? !rx_unsol_ok(t, off, len) : !rx_solicited_ok(t, off, len)) {
		return false;
	}
	if (tc->c->params.data_pdu_in_order && off != t->received) {
		return false;
	}
	return get_be32(bhs + DATA_DATASN) == t->data_sn;
}

static int rx_hdr_data_out(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	const uint8_t *bhs = tc->rx_pdu.bhs;
	uint32_t ttt = get_be32(bhs + DATA_TTT);
	uint32_t itt = get_be32(bhs + BHS_ITT);
	struct idm_task *t;

	t = ttt == IDM_RESERVED_TAG ? idm_task_find_itt(c, itt) : idm_task_find_ttt(c, ttt);
	if (t == NULL || t->itt != itt || t->state != IDM_TASK_ACTIVE || !t->is_write ||
	    t->data == NULL) {
		/* an aborted or unknown task: its data is dropped quietly */
		rx_discard(tc);
		return 0;
	}
	if (!rx_data_out_ok(tc, t, bhs)) {
		idm_pdu_reject(c, bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		rx_discard(tc);
		return 0;
	}
	idm_task_hold(t);
	tc->rx_task = t;
	tc->rx_kind = TCP_RX_DATA_OUT;
	tc->rx_dst = t->data + get_be32(bhs + DATA_BUFFER_OFFSET);
	return 0;
}

/*
 * Initiator: a Data-In whose range fits the read command's buffer is read
 * straight into it (no bounce copy); the client sees the PDU with
 * IDM_PDU_F_DATA_IN_TASK. Anything else takes the generic path, where
 * the client checks and rejects it.
 */
static int rx_hdr_data_in(struct tcp_conn *tc)
{
	const uint8_t *bhs = tc->rx_pdu.bhs;
	struct idm_task *t = idm_task_find_itt(tc->c, get_be32(bhs + BHS_ITT));
	uint32_t off = get_be32(bhs + DATA_BUFFER_OFFSET);

	if (t == NULL || t->state != IDM_TASK_ACTIVE || !t->is_read || t->data == NULL ||
	    off > t->data_cap || tc->rx_dlen > t->data_cap - off || tc->rx_dlen == 0) {
		return rx_hdr_generic(tc);
	}
	idm_task_hold(t);
	tc->rx_task = t;
	tc->rx_kind = TCP_RX_DATA_IN;
	tc->rx_dst = t->data + off;
	return 0;
}

/* Is `op` something the peer may send us (RFC 7143 section 11)? */
static bool rx_opcode_legal(const struct idm_conn *c, uint8_t op)
{
	return c->role == IDM_ROLE_TARGET ? idm_opcode_is_initiator(op) : idm_opcode_is_target(op);
}

/*
 * Right after the BHS, before anything else is read: lengths that would
 * make us wait for (or swallow) bytes that are not there. Only a SCSI
 * Command may carry an AHS (extended CDB, bidirectional read length).
 * A bad length is answered with a Reject and the connection is closed,
 * since the PDU boundaries can no longer be trusted.
 */
static int rx_bhs_sane(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	const uint8_t *bhs = tc->rx_pdu.bhs;
	uint8_t op = bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;
	uint32_t max_ahs = op == ISCSI_OP_SCSI_CMD ? TCP_MAX_CMD_AHS : 0;

	tc->rx_dlen = get_be24(bhs + BHS_DATA_SEG_LEN);
	if (tc->rx_dlen > idm_conn_max_rx_dsl(c)) {
		IDM_LOG_CONN(c, "%s: data segment %u over %u", idm_opcode_name(op), tc->rx_dlen,
		             idm_conn_max_rx_dsl(c));
		idm_pdu_reject(c, bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return -EMSGSIZE;
	}
	if (tc->rx_pdu.ahs_len > max_ahs) {
		IDM_LOG_CONN(c, "%s: AHS of %u bytes", idm_opcode_name(op), tc->rx_pdu.ahs_len);
		idm_pdu_reject(c, bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		return -EPROTO;
	}
	return 0;
}

/*
 * The header is in and its lengths are sane: check the opcode against
 * the role and the connection state, then let the opcode's handler pick
 * the data destination. Returns 0, or <0 to close the connection.
 */
static int rx_header(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	const uint8_t *bhs = tc->rx_pdu.bhs;
	uint8_t op = bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;

	if (!rx_opcode_legal(c, op)) {
		idm_pdu_reject(c, bhs, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		rx_discard(tc);
		return 0;
	}
	if (idm_conn_rx_gate(c, bhs) != 0) {
		IDM_LOG_CONN(c, "%s not allowed in state %s", idm_opcode_name(op),
		             idm_conn_state_name(c->state));
		return -EPROTO;
	}
	if (c->role == IDM_ROLE_TARGET && op == ISCSI_OP_SCSI_CMD) {
		return rx_hdr_scsi_cmd(tc);
	}
	if (c->role == IDM_ROLE_TARGET && op == ISCSI_OP_SCSI_DATA_OUT) {
		return rx_hdr_data_out(tc);
	}
	if (c->role == IDM_ROLE_INITIATOR && op == ISCSI_OP_SCSI_DATA_IN) {
		return rx_hdr_data_in(tc);
	}
	return rx_hdr_generic(tc);
}

/* ---- completion handlers ---- */

static void rx_done_cmd(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	struct idm_task *t = tc->rx_task;
	const uint8_t *bhs = tc->rx_pdu.bhs;

	tc->rx_task = NULL;
	if (tc->rx_dst) {
		t->received = tc->rx_dlen;
	}
	/* F: no unsolicited Data-Out follows; reads have none at all */
	if ((bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) || !t->is_write) {
		t->unsol_done = true;
	}
	tc->rx_pdu.data = tc->rx_dst;
	tc->rx_pdu.data_len = tc->rx_dst ? tc->rx_dlen : 0;
	if (c->client->scsi_cmd && t->state == IDM_TASK_ACTIVE) {
		c->client->scsi_cmd(c, &tc->rx_pdu, t);
	}
	idm_task_release(t);
}

static void rx_done_data_out(struct tcp_conn *tc)
{
	struct idm_task *t = tc->rx_task;
	const uint8_t *bhs = tc->rx_pdu.bhs;
	bool unsolicited = get_be32(bhs + DATA_TTT) == IDM_RESERVED_TAG;

	tc->rx_task = NULL;
	t->received += tc->rx_dlen;
	t->data_sn++;
	if (bhs[BHS_FLAGS] & ISCSI_FLAG_FINAL) {
		t->data_sn = 0; /* DataSN restarts with each sequence */
		if (unsolicited) {
			t->unsol_done = true;
		} else if (t->r2t_outstanding > 0) {
			t->r2t_outstanding--;
		}
	}
	if (t->state == IDM_TASK_ACTIVE) {
		tcp_rx_progress(t);
	}
	idm_task_release(t);
}

static void rx_done_pdu(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;

	tc->rx_pdu.data = tc->rx_dst;
	tc->rx_pdu.data_len = tc->rx_dlen;
	if (c->client->rx_pdu) {
		c->client->rx_pdu(c, &tc->rx_pdu);
	}
}

static void rx_done_data_in(struct tcp_conn *tc)
{
	struct idm_task *t = tc->rx_task;

	tc->rx_task = NULL;
	tc->rx_pdu.flags |= IDM_PDU_F_DATA_IN_TASK;
	rx_done_pdu(tc);
	idm_task_release(t);
}

/* The data digest covers the data segment and its padding. */
static bool rx_data_digest_ok(struct tcp_conn *tc)
{
	uint32_t pad = idm_pad4(tc->rx_dlen);
	struct iovec iov[2] = {{tc->rx_dst, tc->rx_dlen}, {tc->rx_trailer, pad}};

	return idm_digest_iov(iov, 2) == idm_digest_get(tc->rx_trailer + pad);
}

/* A data digest error: Reject and drop the PDU (RFC 7143 section 7.8). */
static void rx_drop_bad_data(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	struct idm_task *t = tc->rx_task;

	c->stats.digest_errors++;
	tc->rx_task = NULL;
	if (c->role == IDM_ROLE_INITIATOR) {
		/* an initiator cannot Reject; without SNACK the data is lost */
		if (t) {
			idm_task_release(t);
		}
		IDM_LOG_CONN(c, "data digest error, closing");
		idm_conn_event(c, IDM_CE_PROTOCOL_ERROR);
		return;
	}
	idm_pdu_reject(c, tc->rx_pdu.bhs, ISCSI_REJECT_DATA_DIGEST);
	if (t == NULL) {
		return;
	}
	if (tc->rx_kind == TCP_RX_CMD && t->state == IDM_TASK_ACTIVE) {
		/* the command is void: the client undoes scsi_cmd_header */
		t->state = IDM_TASK_ABORTING;
		if (c->client->task_abort) {
			c->client->task_abort(t);
		}
	}
	idm_task_release(t);
}

static void rx_complete(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;

	c->stats.pdus_rx++;
	if (tc->rx_dst && tc->ddigest && tc->rx_dlen > 0 && !rx_data_digest_ok(tc)) {
		rx_drop_bad_data(tc);
		return;
	}
	if (tc->rx_kind != TCP_RX_DISCARD) {
		c->stats.bytes_rx += tc->rx_dlen;
	}
	switch (tc->rx_kind) {
	case TCP_RX_CMD:
		rx_done_cmd(tc);
		break;
	case TCP_RX_DATA_OUT:
		rx_done_data_out(tc);
		break;
	case TCP_RX_PDU:
		rx_done_pdu(tc);
		break;
	case TCP_RX_DATA_IN:
		rx_done_data_in(tc);
		break;
	case TCP_RX_DISCARD:
		break;
	}
}

/* ---- phases ---- */

static void rx_start_data(struct tcp_conn *tc)
{
	uint32_t pad = idm_pad4(tc->rx_dlen);

	tc->rx_trailer_len = pad + (tc->ddigest && tc->rx_dlen > 0 ? IDM_DIGEST_LEN : 0);
	tc->rx_phase = TCP_RX_DATA;
	tc->rx_got = 0;
}

static bool rx_header_digest_ok(struct tcp_conn *tc)
{
	uint32_t ahs = tc->rx_pdu.ahs_len;
	struct iovec iov[2] = {{tc->rx_pdu.bhs, IDM_BHS_LEN}, {tc->rx_ahs, ahs}};

	return idm_digest_iov(iov, 2) == idm_digest_get(tc->rx_ahs + ahs);
}

/* BHS, AHS and header digest are in: check, then route the data. */
static int rx_header_in(struct tcp_conn *tc)
{
	int rc;

	if (tc->hdigest && !rx_header_digest_ok(tc)) {
		tc->c->stats.digest_errors++;
		IDM_LOG_CONN(tc->c, "header digest error");
		return -EBADMSG;
	}
	tc->rx_pdu.ahs = tc->rx_pdu.ahs_len ? tc->rx_ahs : NULL;
	rc = rx_header(tc);
	if (rc != 0) {
		return rc;
	}
	rx_start_data(tc);
	return 0;
}

static int rx_phase_bhs(struct tcp_conn *tc)
{
	struct iovec iov = {tc->rx_pdu.bhs + tc->rx_got, IDM_BHS_LEN - tc->rx_got};
	int rc = rx_read(tc, &iov, 1, &tc->rx_got);

	if (rc <= 0) {
		return rc;
	}
	tc->rx_pdu.ahs_len = idm_pdu_ahs_length(&tc->rx_pdu);
	tc->rx_got = 0;
	rc = rx_bhs_sane(tc);
	if (rc != 0) {
		return rc;
	}
	if (tc->rx_pdu.ahs_len + (tc->hdigest ? IDM_DIGEST_LEN : 0) > 0) {
		tc->rx_phase = TCP_RX_AHS;
		return 1;
	}
	rc = rx_header_in(tc);
	return rc < 0 ? rc : 1;
}

static int rx_phase_ahs(struct tcp_conn *tc)
{
	uint32_t want = tc->rx_pdu.ahs_len + (tc->hdigest ? IDM_DIGEST_LEN : 0);
	struct iovec iov = {tc->rx_ahs + tc->rx_got, want - tc->rx_got};
	int rc = rx_read(tc, &iov, 1, &tc->rx_got);

	if (rc <= 0) {
		return rc;
	}
	rc = rx_header_in(tc);
	return rc < 0 ? rc : 1;
}

/* iovecs for what is left of data + trailer (discarded data in chunks). */
static int rx_data_iov(struct tcp_conn *tc, struct iovec *iov)
{
	uint32_t got = tc->rx_got;
	int n = 0;

	if (got < tc->rx_dlen) {
		uint32_t left = tc->rx_dlen - got;

		if (tc->rx_dst) {
			iov[n++] = (struct iovec){tc->rx_dst + got, left};
		} else {
			uint32_t chunk = left < TCP_DISCARD_CHUNK ? left : TCP_DISCARD_CHUNK;

			iov[n++] = (struct iovec){tc->discard, chunk};
			if (chunk < left) {
				return n; /* the trailer after the next chunks */
			}
		}
		got = tc->rx_dlen;
	}
	if (tc->rx_trailer_len > got - tc->rx_dlen) {
		uint32_t t_got = got - tc->rx_dlen;

		iov[n++] = (struct iovec){tc->rx_trailer + t_got, tc->rx_trailer_len - t_got};
	}
	return n;
}

static int rx_phase_data(struct tcp_conn *tc)
{
	struct iovec iov[2];
	int n = rx_data_iov(tc, iov);
	int rc = 1;

	if (n > 0) {
		rc = rx_read(tc, iov, n, &tc->rx_got);
		if (rc <= 0) {
			return rc;
		}
		if (tc->rx_got < tc->rx_dlen + tc->rx_trailer_len) {
			return 1; /* more discard chunks */
		}
	}
	rx_complete(tc);
	tcp_rx_reset(tc);
	return 2; /* one PDU done */
}

static int rx_step(struct tcp_conn *tc)
{
	switch (tc->rx_phase) {
	case TCP_RX_BHS:
		return rx_phase_bhs(tc);
	case TCP_RX_AHS:
		return rx_phase_ahs(tc);
	case TCP_RX_DATA:
		return rx_phase_data(tc);
	}
	return -EINVAL;
}

/* The socket is readable: parse as many PDUs as the budget allows. */
void tcp_rx_ready(struct tcp_conn *tc)
{
	struct idm_conn *c = tc->c;
	int pdus = 0;

	idm_conn_hold(c);
	while (!tc->dead && pdus < RX_BUDGET && idm_conn_rx_allowed(c)) {
		int rc = rx_step(tc);

		if (rc == 0) {
			break;
		}
		if (rc < 0) {
			if (rc == -ECONNRESET) {
				tcp_conn_fail(tc, "connection closed by peer");
			} else if (!tc->dead) {
				IDM_LOG_CONN(c, "receive failed (%d), closing", rc);
				idm_conn_event(c, IDM_CE_PROTOCOL_ERROR);
			}
			break;
		}
		pdus += rc == 2;
	}
	idm_conn_release(c);
}
