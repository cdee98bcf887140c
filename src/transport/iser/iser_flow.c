/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER input flow control: while the core stops a connection's input
 * (its transmit queue is over the bound, src/idm/txq.c), a completed
 * receive is parked unhandled and not posted again. The initiator then
 * runs out of posted receives and its Sends wait (RNR) instead of
 * piling up answers here. When the core resumes input, the parked
 * messages are handled in arrival order from a deferred call (never
 * inside the Send completion that resumed it) and their buffers posted
 * again.
 */
#include "transport/iser/iser_priv.h"

bool iser_rx_park(struct iser_conn *ic, struct iser_rx_desc *d, uint32_t byte_len)
{
	/* behind parked messages even once resumed, so the order holds */
	if (idm_conn_rx_allowed(ic->c) && (ic->rx_parked == NULL || ic->rx_replaying)) {
		return false;
	}
	d->parked_len = byte_len;
	d->parked_next = NULL;
	*(ic->rx_parked ? &ic->rx_parked_tail->parked_next : &ic->rx_parked) = d;
	ic->rx_parked_tail = d;
	return true;
}

/* Handle parked messages until none is left or input stops again. */
static void iser_rx_replay(struct idm_deferred *df)
{
	struct iser_conn *ic =
	    (struct iser_conn *)((char *)df - offsetof(struct iser_conn, rx_resume));
	struct idm_conn *c = ic->c;

	ic->rx_replaying = true;
	while (ic->rx_parked && !ic->dead && idm_conn_rx_allowed(c)) {
		struct iser_rx_desc *d = ic->rx_parked;

		ic->rx_parked = d->parked_next;
		iser_rx_done(&d->wr, 0, d->parked_len);
	}
	ic->rx_replaying = false;
	idm_conn_release(c); /* taken when the replay was deferred */
}

void iser_rx_flow(struct idm_conn *c, bool on)
{
	struct iser_conn *ic = iser_conn_of(c);

	if (ic == NULL || !on || ic->rx_parked == NULL || ic->rx_resume.queued) {
		return; /* stopping needs nothing: the next completion parks */
	}
	ic->rx_resume.fn = iser_rx_replay;
	idm_conn_hold(c);
	idm_reactor_defer(c->reactor, &ic->rx_resume);
}
