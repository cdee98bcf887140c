/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NOP-Out / NOP-In (RFC 7143 sections 11.18-11.19): answering pings, and
 * the keepalive: when a logged-in connection has been quiet for
 * nop_interval_s the target pings it (NOP-In with a TTT); no answer
 * within nop_timeout_s closes the connection.
 */
#include <string.h>

#include "target/target_int.h"

static struct tgt_conn *conn_of_nop_timer(struct idm_timer *t)
{
	return (struct tgt_conn *)((char *)t - offsetof(struct tgt_conn, nop_timer));
}

static struct idm_pdu *nop_in_alloc(struct tgt_conn *tc, uint32_t len)
{
	struct idm_pdu *pdu = idm_pdu_alloc(tc->ic, len);

	if (pdu) {
		idm_bhs_init(pdu->bhs, ISCSI_OP_NOP_IN, false);
		pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
		pdu->data_len = 0;
	}
	return pdu;
}

/* A ping from the initiator: echo its data back. */
static void nop_answer(struct tgt_conn *tc, const struct idm_pdu *req)
{
	uint32_t len = req->data_len;
	struct idm_pdu *pdu;

	if (len > tc->ic->params.max_xmit_dsl) {
		len = tc->ic->params.max_xmit_dsl;
	}
	pdu = nop_in_alloc(tc, len);
	if (!pdu) {
		idm_conn_close(tc->ic);
		return;
	}
	memcpy(pdu->bhs + BHS_LUN, req->bhs + BHS_LUN, 8);
	put_be32(pdu->bhs + BHS_ITT, idm_pdu_itt(req));
	put_be32(pdu->bhs + NOP_TTT, IDM_RESERVED_TAG);
	if (len) {
		memcpy(pdu->data, req->data, len);
	}
	pdu->data_len = len;
	idm_bhs_set_dlength(pdu->bhs, len);
	idm_pdu_tx(tc->ic, pdu);
}

void tgt_nop_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	uint32_t itt = idm_pdu_itt(pdu);
	uint32_t ttt = get_be32(pdu->bhs + NOP_TTT);

	if (itt == IDM_RESERVED_TAG) {
		/* An answer to our NOP-In (or a bare ExpStatSN update), which
		 * must be immediate and carries no CmdSN. */
		if (ttt != IDM_RESERVED_TAG && tc->nop_outstanding && ttt == tc->nop_ttt) {
			tc->nop_outstanding = false;
		}
		return;
	}
	if (ttt != IDM_RESERVED_TAG) {
		/* A ping must not carry a TTT (RFC 7143 section 11.18.3). */
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_INVALID_PDU_FIELD);
		return;
	}
	if (tgt_conn_cmdsn(tc, pdu) < 0) {
		return; /* outside the CmdSN window: dropped */
	}
	nop_answer(tc, pdu);
}

/* Ping the initiator with a TTT it must echo. */
static void nop_ping(struct tgt_conn *tc)
{
	struct idm_pdu *pdu = nop_in_alloc(tc, 0);

	if (!pdu) {
		return;
	}
	tc->nop_ttt = (tc->nop_ttt + 1) & 0x7fffffffu;
	put_be32(pdu->bhs + BHS_ITT, IDM_RESERVED_TAG);
	put_be32(pdu->bhs + NOP_TTT, tc->nop_ttt);
	tc->nop_outstanding = true;
	tc->nop_sent_ms = idm_now_ms();
	idm_pdu_tx(tc->ic, pdu);
}

static void nop_tick(struct idm_timer *t)
{
	struct tgt_conn *tc = conn_of_nop_timer(t);
	const struct idm_target_tunables *tun = &tc->srv->tun;
	uint64_t now = idm_now_ms();
	uint64_t interval = tun->nop_interval_s * 1000ull;
	uint64_t timeout = tun->nop_timeout_s * 1000ull;

	if (tc->nop_outstanding && tc->last_rx_ms < tc->nop_sent_ms && timeout) {
		if (now - tc->nop_sent_ms >= timeout) {
			IDM_LOG_CONN(tc->ic, "no answer to NOP-In for %u s: closing",
				     tun->nop_timeout_s);
			idm_conn_close(tc->ic);
			return;
		}
		idm_timer_arm(tc->ic->reactor, t, timeout - (now - tc->nop_sent_ms));
		return;
	}
	/* Any PDU from the initiator proves it alive. */
	tc->nop_outstanding = false;
	if (now - tc->last_rx_ms >= interval) {
		nop_ping(tc);
		idm_timer_arm(tc->ic->reactor, t, timeout ? timeout : interval);
		return;
	}
	idm_timer_arm(tc->ic->reactor, t, interval - (now - tc->last_rx_ms));
}

void tgt_nop_start(struct tgt_conn *tc)
{
	if (tc->srv->tun.nop_interval_s == 0 || tc->nop_timer.armed) {
		return;
	}
	tc->nop_timer.fn = nop_tick;
	tc->last_rx_ms = idm_now_ms();
	idm_timer_arm(tc->ic->reactor, &tc->nop_timer, tc->srv->tun.nop_interval_s * 1000ull);
}

void tgt_nop_stop(struct tgt_conn *tc)
{
	if (tc->nop_timer.fn) {
		idm_timer_cancel(tc->ic->reactor, &tc->nop_timer);
	}
}
