/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Receive side of iSCSI over TCP: a resumable state machine.
 *
 *   BHS (48) -> AHS + header digest -> data segment + padding + data digest
 *
 * Each phase keeps a byte count, so a short read resumes where it
 * stopped. This file only frames and places bytes: the core's intake
 * (src/idm/rx.c) checks the header and says where the data segment goes
 * (straight into the task buffer for immediate data and Data-Out, into
 * this connection's rx buffer for other PDUs, or nowhere), then takes the
 * completed PDU.
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
	tc->rx_got = 0;
	tc->rx_trailer_len = 0;
	idm_rx_begin(tc->c, &tc->rx);
}

/* Where discarded data segments are read to: never read back, so one per
 * reactor thread serves all its connections (none holds 1 KiB for it). */
static _Thread_local uint8_t rx_discard[TCP_DISCARD_CHUNK];

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

/*
 * A non-SCSI PDU's data is used while it is dispatched only: its buffer
 * goes back to the reactor's cache, so an idle connection holds none (the
 * next login, text or ping PDU takes one from the cache, not from malloc).
 */
static void rx_buffer_put(struct tcp_conn *tc)
{
	if (tc->rx_buf == NULL) {
		return;
	}
	idm_buf_put(tc->c->reactor, tc->rx_buf, tc->rx_buf_cap);
	tc->rx_buf = NULL;
	tc->rx_buf_cap = 0;
}

/* The data digest covers the data segment and its padding. */
static bool rx_data_digest_ok(struct tcp_conn *tc)
{
	uint32_t pad = idm_pad4(tc->rx.dlen);
	struct iovec iov[2] = {{tc->rx.dst, tc->rx.dlen}, {tc->rx_trailer, pad}};

	return idm_digest_iov(iov, 2) == idm_digest_get(tc->rx_trailer + pad);
}

static void rx_complete(struct tcp_conn *tc)
{
	if (tc->rx.dst && tc->ddigest && tc->rx.dlen > 0 && !rx_data_digest_ok(tc)) {
		idm_rx_digest_error(tc->c, &tc->rx);
		return;
	}
	idm_rx_complete(tc->c, &tc->rx);
}

/* ---- phases ---- */

static void rx_start_data(struct tcp_conn *tc)
{
	uint32_t pad = idm_pad4(tc->rx.dlen);

	tc->rx_trailer_len = pad + (tc->ddigest && tc->rx.dlen > 0 ? IDM_DIGEST_LEN : 0);
	tc->rx_phase = TCP_RX_DATA;
	tc->rx_got = 0;
}

static bool rx_header_digest_ok(struct tcp_conn *tc)
{
	uint32_t ahs = tc->rx.pdu.ahs_len;
	struct iovec iov[2] = {{tc->rx.pdu.bhs, IDM_BHS_LEN}, {tc->rx_ahs, ahs}};

	return idm_digest_iov(iov, 2) == idm_digest_get(tc->rx_ahs + ahs);
}

/* BHS, AHS and header digest are in: the intake routes the data. */
static int rx_header_in(struct tcp_conn *tc)
{
	int rc;

	if (tc->hdigest && !rx_header_digest_ok(tc)) {
		tc->c->stats.digest_errors++;
		IDM_LOG_CONN(tc->c, "header digest error");
		return -EBADMSG;
	}
	tc->rx.pdu.ahs = tc->rx.pdu.ahs_len ? tc->rx_ahs : NULL;
	rc = idm_rx_header(tc->c, &tc->rx);
	if (rc < 0) {
		return rc;
	}
	if (tc->dead) {
		return -ECONNRESET;
	}
	if (rc == IDM_RX_TO_CONN) {
		if (rx_buffer(tc, tc->rx.dlen) != 0) {
			return -ENOMEM;
		}
		tc->rx.dst = tc->rx_buf;
	}
	rx_start_data(tc);
	return 0;
}

static int rx_phase_bhs(struct tcp_conn *tc)
{
	struct iovec iov = {tc->rx.pdu.bhs + tc->rx_got, IDM_BHS_LEN - tc->rx_got};
	int rc = rx_read(tc, &iov, 1, &tc->rx_got);

	if (rc <= 0) {
		return rc;
	}
	tc->rx.pdu.ahs_len = idm_pdu_ahs_length(&tc->rx.pdu);
	tc->rx_got = 0;
	rc = idm_rx_bhs(tc->c, &tc->rx);
	if (rc != 0) {
		return rc;
	}
	if (tc->rx.pdu.ahs_len + (tc->hdigest ? IDM_DIGEST_LEN : 0) > 0) {
		tc->rx_phase = TCP_RX_AHS;
		return 1;
	}
	rc = rx_header_in(tc);
	return rc < 0 ? rc : 1;
}

static int rx_phase_ahs(struct tcp_conn *tc)
{
	uint32_t want = tc->rx.pdu.ahs_len + (tc->hdigest ? IDM_DIGEST_LEN : 0);
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
	uint32_t dlen = tc->rx.dlen;
	int n = 0;

	if (got < dlen) {
		uint32_t left = dlen - got;

		/* an aborted task's bytes still land in its buffer, which it
		 * keeps while rx.task holds it, and are dropped at the end */
		if (tc->rx.dst) {
			iov[n++] = (struct iovec){tc->rx.dst + got, left};
		} else {
			uint32_t chunk = left < TCP_DISCARD_CHUNK ? left : TCP_DISCARD_CHUNK;

			iov[n++] = (struct iovec){rx_discard, chunk};
			if (chunk < left) {
				return n; /* the trailer after the next chunks */
			}
		}
		got = dlen;
	}
	if (tc->rx_trailer_len > got - dlen) {
		uint32_t t_got = got - dlen;

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
		if (tc->rx_got < tc->rx.dlen + tc->rx_trailer_len) {
			return 1; /* more discard chunks */
		}
	}
	rx_complete(tc);
	rx_buffer_put(tc);
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
