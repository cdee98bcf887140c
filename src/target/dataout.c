/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Data-Out watchdog: a WRITE holds a buffer (up to MaxBurstLength
 * and beyond, to 16 MiB) while its data arrives. An initiator that stops
 * sending it, yet answers NOP-Ins, would hold that memory forever; after
 * dataout_timeout_s without a byte more for some WRITE the connection is
 * dropped, which aborts its tasks and frees their buffers (ErrorRecovery-
 * Level 0 has no finer recovery: RFC 7143 section 7.1.4.1).
 *
 * One timer per connection, armed only while a task waits for data; each
 * tick looks at how far every such task's data has come (the intake's
 * `received`, read on this reactor).
 */
#include "target/target_int.h"

#define DATAOUT_TICK_MIN_MS 100u

static struct tgt_conn *conn_of_dataout_timer(struct idm_timer *t)
{
	return (struct tgt_conn *)((char *)t - offsetof(struct tgt_conn, dataout_timer));
}

struct dataout_scan {
	uint64_t now_ms;
	uint64_t limit_ms;
	uint64_t next_ms; /* earliest deadline of a task still waiting */
	struct tgt_task *stalled;
	bool waiting;
};

static void dataout_check(struct idm_task *t, void *arg)
{
	struct dataout_scan *sc = arg;
	struct tgt_task *tt = tgt_task_of(t);
	uint64_t idle;

	/* an aborted write counts only while ABORT TASK SET waits for the
	 * answers to its R2Ts (scsi.c): from the abort, without progress */
	if (tt->is_tmf || tt->phase != TGT_PH_RX || (tt->aborted && !tt->waiter)) {
		return;
	}
	if (!tt->aborted && t->received != tt->rx_seen) {
		tt->rx_seen = t->received;
		tt->rx_progress_ms = sc->now_ms;
	}
	idle = sc->now_ms - tt->rx_progress_ms;
	if (idle >= sc->limit_ms) {
		if (!sc->stalled) {
			sc->stalled = tt;
		}
		return;
	}
	sc->waiting = true;
	if (sc->limit_ms - idle < sc->next_ms) {
		sc->next_ms = sc->limit_ms - idle;
	}
}

static void dataout_tick(struct idm_timer *timer)
{
	struct tgt_conn *tc = conn_of_dataout_timer(timer);
	struct dataout_scan sc = {
	    .now_ms = idm_now_ms(),
	    .limit_ms = tc->srv->tun.dataout_timeout_s * 1000ull,
	    .next_ms = UINT64_MAX,
	};

	idm_task_foreach(tc->ic, dataout_check, &sc);
	if (sc.stalled) {
		IDM_LOG_CONN(tc->ic,
		             "WRITE itt 0x%08x: no Data-Out for %u s (%u of %u bytes): closing",
		             sc.stalled->t->itt, tc->srv->tun.dataout_timeout_s,
		             sc.stalled->t->received, sc.stalled->rx_len);
		idm_conn_close(tc->ic);
		return;
	}
	if (sc.waiting) {
		idm_timer_arm(tc->ic->reactor, timer,
		              sc.next_ms < DATAOUT_TICK_MIN_MS ? DATAOUT_TICK_MIN_MS : sc.next_ms);
	}
}

void tgt_dataout_watch(struct tgt_conn *tc, struct tgt_task *tt)
{
	tt->rx_seen = tt->t->received;
	tt->rx_progress_ms = idm_now_ms();
	if (tc->dataout_timer.armed) {
		return; /* its next tick sees this task too */
	}
	tc->dataout_timer.fn = dataout_tick;
	idm_timer_arm(tc->ic->reactor, &tc->dataout_timer,
	              tc->srv->tun.dataout_timeout_s * 1000ull);
}

void tgt_dataout_stop(struct tgt_conn *tc)
{
	if (tc->dataout_timer.fn) {
		idm_timer_cancel(tc->ic->reactor, &tc->dataout_timer);
	}
}
