/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transmit queue bounds and input flow control, one rule for every
 * transport.
 *
 * The core counts each PDU it hands to a transport (idm_pdu_tx) until the
 * transport reports it sent or dropped (pdu->done): bytes and PDUs. A peer
 * that sends requests and never reads the answers would otherwise grow the
 * queue without end, so:
 *   - a target connection whose queue reaches max_bytes or max_pdus stops
 *     taking input (the transport's rx_flow op; idm_conn_rx_allowed()) and
 *     takes it again once the queue is down to half of both bounds. What
 *     is already being processed (store I/O, timers) may still queue a
 *     little more: the bound stops new work, it does not drop answers.
 *   - a connection with data waiting that sends nothing for
 *     stall_timeout_s is dropped: the peer does not read.
 * An initiator only counts and drops: its queue holds what its own
 * application submitted (bounded by its queue depth) and its answers to
 * the target's pings (bounded by the stall timeout), and if both ends of
 * a connection stopped reading while each waited for the other to read,
 * neither would ever drain.
 *
 * The idm_txq_* functions are the decisions, pure and unit-tested; the
 * idm_conn_txq_* functions apply them to a connection.
 */
#include <stddef.h>

#include "idm/core_priv.h"

#define STALL_TICK_MS 1000u

/* ---- decisions ---- */

void idm_txq_init(struct idm_txq *q, bool input_flow)
{
	q->lim = (struct idm_tx_limits){
	    .max_bytes = IDM_TX_MAX_BYTES_DEFAULT,
	    .max_pdus = IDM_TX_MAX_PDUS_DEFAULT,
	    .stall_timeout_s = IDM_TX_STALL_TIMEOUT_DEFAULT_S,
	};
	q->input_flow = input_flow;
}

/* Bytes a queued PDU holds: its wire size, or the buffer behind its data
 * when the PDU owns one (a power-of-two size class may be twice the data). */
uint32_t idm_txq_pdu_cost(const struct idm_pdu *pdu, size_t owned_cap)
{
	uint64_t data = (uint64_t)pdu->data_len + idm_pad4(pdu->data_len);
	uint64_t n;

	if ((pdu->flags & IDM_PDU_F_OWNS_DATA) && owned_cap > data) {
		data = owned_cap;
	}
	n = IDM_BHS_LEN + (uint64_t)pdu->ahs_len + data;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static bool txq_over(const struct idm_txq *q)
{
	return (q->lim.max_bytes && q->bytes >= q->lim.max_bytes) ||
	       (q->lim.max_pdus && q->pdus >= q->lim.max_pdus);
}

static bool txq_below_low_water(const struct idm_txq *q)
{
	return (q->lim.max_bytes == 0 || q->bytes <= q->lim.max_bytes / 2) &&
	       (q->lim.max_pdus == 0 || q->pdus <= q->lim.max_pdus / 2);
}

enum idm_txq_action idm_txq_push(struct idm_txq *q, uint32_t cost)
{
	enum idm_txq_action a = IDM_TXQ_NONE;

	q->bytes += cost;
	q->pdus++;
	if (q->bytes > q->peak_bytes) {
		q->peak_bytes = q->bytes;
	}
	if (q->pdus > q->peak_pdus) {
		q->peak_pdus = q->pdus;
	}
	if (q->input_flow && !q->rx_paused && txq_over(q)) {
		q->rx_paused = true;
		q->pauses++;
		a = IDM_TXQ_PAUSE;
	}
	return a;
}

enum idm_txq_action idm_txq_pop(struct idm_txq *q, uint32_t cost, bool sent)
{
	/* never below zero, whatever a buggy caller does */
	q->bytes = q->bytes > cost ? q->bytes - cost : 0;
	q->pdus = q->pdus ? q->pdus - 1 : 0;
	if (sent) {
		q->sent++;
	}
	if (q->rx_paused && txq_below_low_water(q)) {
		q->rx_paused = false;
		return IDM_TXQ_RESUME;
	}
	return IDM_TXQ_NONE;
}

void idm_txq_stall_start(struct idm_txq *q)
{
	q->stall_mark = q->sent;
	q->stall_ticks = 0;
}

enum idm_txq_stall idm_txq_stall_tick(struct idm_txq *q)
{
	if (q->pdus == 0) {
		idm_txq_stall_start(q);
		return IDM_TXQ_IDLE;
	}
	if (q->sent != q->stall_mark) {
		idm_txq_stall_start(q);
		return IDM_TXQ_WAITING;
	}
	q->stall_ticks++;
	if (q->lim.stall_timeout_s &&
	    (uint64_t)q->stall_ticks * STALL_TICK_MS >= q->lim.stall_timeout_s * 1000ull) {
		return IDM_TXQ_STALLED;
	}
	return IDM_TXQ_WAITING;
}

/* ---- a connection ---- */

static void txq_rx_flow(struct idm_conn *c, bool on)
{
	if (c->transport->ops->rx_flow) {
		c->transport->ops->rx_flow(c, on);
	}
}

static void txq_stall_fired(struct idm_timer *tm)
{
	struct idm_conn *c = (struct idm_conn *)((char *)tm - offsetof(struct idm_conn, txq) -
	                                         offsetof(struct idm_txq, stall_timer));
	struct idm_txq *q = &c->txq;

	switch (idm_txq_stall_tick(q)) {
	case IDM_TXQ_IDLE:
		return; /* nothing waits: armed again by the next PDU */
	case IDM_TXQ_WAITING:
		idm_timer_arm(c->reactor, tm, STALL_TICK_MS);
		return;
	case IDM_TXQ_STALLED:
		idm_log_conn_close(c,
		                   "peer read nothing for %u s, %u PDUs (%llu bytes) waiting: "
		                   "closing",
		                   q->lim.stall_timeout_s, q->pdus, (unsigned long long)q->bytes);
		idm_conn_event(c, IDM_CE_DISCONNECT);
		return;
	}
}

void idm_conn_txq_init(struct idm_conn *c)
{
	idm_txq_init(&c->txq, c->role == IDM_ROLE_TARGET);
	c->txq.stall_timer.fn = txq_stall_fired;
}

void idm_conn_set_tx_limits(struct idm_conn *c, const struct idm_tx_limits *lim)
{
	c->txq.lim = *lim;
}

void idm_conn_txq_queued(struct idm_conn *c, uint32_t cost)
{
	struct idm_txq *q = &c->txq;

	if (idm_txq_push(q, cost) == IDM_TXQ_PAUSE) {
		txq_rx_flow(c, false);
	}
	if (!q->stall_timer.armed && q->lim.stall_timeout_s && c->reactor && !idm_conn_closing(c)) {
		idm_txq_stall_start(q);
		idm_timer_arm(c->reactor, &q->stall_timer, STALL_TICK_MS);
	}
}

void idm_conn_txq_done(struct idm_conn *c, uint32_t cost, int status)
{
	if (idm_txq_pop(&c->txq, cost, status == 0) == IDM_TXQ_RESUME && !idm_conn_closing(c)) {
		txq_rx_flow(c, true);
	}
}

void idm_conn_txq_stop(struct idm_conn *c)
{
	struct idm_txq *q = &c->txq;

	if (q->stall_timer.armed && c->reactor) {
		idm_timer_cancel(c->reactor, &q->stall_timer);
	}
	if (q->pauses) {
		IDM_LOG_CONN(c,
		             "input stopped %u times: transmit queue peaked at %u PDUs, %llu bytes",
		             q->pauses, q->peak_pdus, (unsigned long long)q->peak_bytes);
		q->pauses = 0; /* reported */
	}
}
