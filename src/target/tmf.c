/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Task management (RFC 7143 sections 11.5-11.6, SAM-5): ABORT TASK,
 * ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET WARM RESET.
 * tmf_decide.c picks the response; this file aborts the tasks and sends
 * the response once no aborted task can touch the medium any more: every
 * aborted task whose store I/O was in flight has settled, here and in the
 * other sessions a reset reaches (on their reactors, which report back).
 * Aborted tasks send nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "target/gateway.h"
#include "target/target_int.h"

struct tmf_scope {
	struct tgt_task *tmf;         /* the TMF (never aborted itself), or NULL */
	struct tgt_abort_wait *wait;  /* who waits for aborted I/O, or NULL */
	bool answer_r2ts;             /* wait for the R2Ts' answers too */
	bool all_luns;
	uint64_t lun; /* the LU index (not the session's number for it) */
};

static void tmf_send(struct idm_conn *c, const uint8_t *req_bhs, uint8_t response)
{
	struct idm_pdu *pdu = idm_pdu_alloc(c, 0);

	if (!pdu) {
		idm_conn_close(c);
		return;
	}
	idm_bhs_init(pdu->bhs, ISCSI_OP_TMF_RSP, false);
	pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	pdu->bhs[TMF_RSP_RESPONSE] = response;
	put_be32(pdu->bhs + BHS_ITT, get_be32(req_bhs + BHS_ITT));
	pdu->data_len = 0;
	idm_pdu_tx(c, pdu);
}

void tgt_tmf_settled(struct tgt_task *tmf)
{
	if (!tmf->aborted) {
		tmf_send(tmf->t->conn, tmf->bhs, tmf->st.response);
	}
	tgt_task_finish(tmf);
}

static void tmf_wait_settled(struct tgt_abort_wait *w)
{
	tgt_tmf_settled((struct tgt_task *)((char *)w - offsetof(struct tgt_task, wait)));
}

/* ---- aborting ---- */

static void abort_if_in_scope(struct idm_task *t, void *arg)
{
	struct tmf_scope *sc = arg;
	struct tgt_task *tt = tgt_task_of(t);

	if (tt->is_tmf || tt == sc->tmf || tt->phase == TGT_PH_DONE) {
		return;
	}
	if (!sc->all_luns && tt->lu_index != sc->lun) {
		return;
	}
	tgt_task_abort_for(tt, sc->wait, sc->answer_r2ts);
}

/* Another session's tasks on the LU (or target) go too: on its reactor.
 * A TMF's response waits until that reactor reports its share settled. */
struct remote_abort {
	struct tgt_session *s;
	bool all_luns;
	uint64_t lun;
	struct tgt_task *tmf;         /* the waiting TMF or command, or NULL */
	struct idm_reactor *home;     /* its reactor */
	struct tgt_abort_wait wait;   /* this share's aborted I/O */
	struct remote_abort *next;
};

/* On the TMF's reactor: one share of its aborts has settled. */
static void remote_abort_home(void *arg)
{
	struct remote_abort *ra = arg;
	struct tgt_task *tmf = ra->tmf;

	free(ra);
	if (--tmf->wait.pending == 0) {
		tmf->wait.settled(&tmf->wait);
	}
}

/* On the aborted session's reactor: its aborted tasks have settled. */
static void remote_abort_settled(struct tgt_abort_wait *w)
{
	struct remote_abort *ra = (struct remote_abort *)((char *)w -
							  offsetof(struct remote_abort, wait));

	if (!ra->tmf) {
		free(ra);
		return;
	}
	if (idm_reactor_send(ra->home, remote_abort_home, ra) < 0) {
		/* the TMF's reactor is stopping: its response goes nowhere */
		free(ra);
	}
}

static void remote_abort_run(void *arg)
{
	struct remote_abort *ra = arg;
	struct tgt_session *s = ra->s;
	struct idm_conn *ic = NULL;
	struct tmf_scope sc = {.wait = &ra->wait, .all_luns = ra->all_luns, .lun = ra->lun};

	pthread_mutex_lock(&s->srv->lock);
	if (s->conn) {
		ic = s->conn->ic;
	}
	pthread_mutex_unlock(&s->srv->lock);
	ra->wait = (struct tgt_abort_wait){.pending = 1, .settled = remote_abort_settled};
	if (ic) {
		idm_task_foreach(ic, abort_if_in_scope, &sc);
	}
	tgt_session_put(s);
	if (--ra->wait.pending == 0) {
		remote_abort_settled(&ra->wait);
	}
}

/* The sessions a remote abort reaches: those of `target`, but `skip`; with
 * `iport`, only that I_T nexus's. */
struct abort_pick {
	const struct tgt_target *target;
	const struct tgt_session *skip;
	const char *iport;
};

static bool abort_picks(const struct abort_pick *pick, const struct tgt_session *s)
{
	if (s == pick->skip || s->target != pick->target || !s->reactor) {
		return false;
	}
	/* the nexus is set once, by the session's first command, before any
	 * registration of it can exist for PREEMPT AND ABORT to remove */
	return !pick->iport || strcmp(s->nexus.initiator_port, pick->iport) == 0;
}

/* Abort the picked sessions' tasks on their reactors; `tmf` (if any)
 * waits for each share to settle. */
static void abort_sessions(struct idm_server *srv, const struct abort_pick *pick, bool all_luns,
			   uint64_t lun, struct tgt_task *tmf)
{
	struct remote_abort *todo = NULL;

	/* Collect under the lock, send after it: the message may run at once. */
	pthread_mutex_lock(&srv->lock);
	for (struct tgt_session *s = srv->sessions; s; s = s->next) {
		struct remote_abort *ra;

		if (!abort_picks(pick, s)) {
			continue;
		}
		ra = malloc(sizeof(*ra));
		if (!ra) {
			continue;
		}
		*ra = (struct remote_abort){.s = s,
					    .all_luns = all_luns,
					    .lun = lun,
					    .tmf = tmf,
					    .home = tmf ? tmf->t->conn->reactor : NULL,
					    .next = todo};
		s->refcnt++;
		todo = ra;
	}
	pthread_mutex_unlock(&srv->lock);
	while (todo) {
		struct remote_abort *ra = todo;

		todo = ra->next;
		if (tmf) {
			tmf->wait.pending++; /* before the send: the share may settle at once */
		}
		if (idm_reactor_send(ra->s->reactor, remote_abort_run, ra) < 0) {
			tgt_session_put(ra->s);
			free(ra);
			if (tmf) {
				tmf->wait.pending--;
			}
		}
	}
}

static void abort_other_sessions(struct tgt_session *self, bool all_luns, uint64_t lun,
				 struct tgt_task *tmf)
{
	struct abort_pick pick = {.target = self->target, .skip = self};

	abort_sessions(self->srv, &pick, all_luns, lun, tmf);
}

/* PREEMPT AND ABORT (SPC-4 5.13.11.2.2): a preempted I_T nexus's tasks on
 * the LU are aborted, without a response, on its own reactor; the PERSISTENT
 * RESERVE OUT's status waits until they can no longer touch the medium. */
void tgt_abort_nexus(void *ctx, struct scsi_cmd *by, struct scsi_lu *lu,
		     const char *initiator_port)
{
	struct tgt_target *t = ctx;
	struct abort_pick pick = {.target = t, .iport = initiator_port};
	struct tgt_task *waiter = by ? by->priv : NULL;

	if (waiter) {
		waiter->wait.settled = tgt_cmd_wait_settled;
	}
	abort_sessions(t->srv, &pick, false, lu->lun, waiter);
}

/* LOGICAL UNIT RESET / TARGET WARM RESET: every nexus loses its tasks
 * and sees a unit attention. */
/* On the TMF's reactor: the other gateways know of the reset. */
static void reset_told(void *arg)
{
	struct tgt_task *tmf = arg;

	if (--tmf->wait.pending == 0) {
		tmf->wait.settled(&tmf->wait);
	}
}

static void reset_lus(struct tgt_conn *tc, struct tmf_scope *sc)
{
	struct tgt_target *t = tc->sess->target;
	struct scsi_lu_set *set = &t->luns;

	idm_task_foreach(tc->ic, abort_if_in_scope, sc);
	abort_other_sessions(tc->sess, sc->all_luns, sc->lun, sc->tmf);
	for (unsigned i = 0; i < SCSI_MAX_LUNS; i++) {
		if (set->lu[i] && (sc->all_luns || i == sc->lun)) {
			scsi_lu_raise_ua(set->lu[i], SCSI_ASC_BUS_DEVICE_RESET);
			/* A LU of a gateway group: its other gateways' nexuses
			 * get the attention too, before our response goes. */
			if (sc->tmf && tc->sess->reactor) {
				sc->tmf->wait.pending++;
				if (!tgt_gateway_lu_reset(t, i, tc->sess->reactor, reset_told,
				                          sc->tmf)) {
					sc->tmf->wait.pending--;
				}
			}
		}
	}
}

static bool abort_task_found(struct tgt_conn *tc, struct tgt_task *tmf, uint32_t ref_itt)
{
	struct idm_task *rt = idm_task_find_itt(tc->ic, ref_itt);
	struct tgt_task *rtt = rt ? tgt_task_of(rt) : NULL;

	if (!rtt || rtt == tmf || rtt->is_tmf || rtt->aborted) {
		return false;
	}
	/* A task whose response is already on its way has completed: too
	 * late to abort (the initiator sees its status). */
	return rtt->phase != TGT_PH_TX && rtt->phase != TGT_PH_DONE;
}

static void tmf_act(struct tgt_conn *tc, struct tgt_task *tmf, uint8_t fn, uint64_t lun)
{
	/*
	 * ABORT TASK SET and CLEAR TASK SET wait for this session's answers
	 * to its R2Ts (RFC 7143 4.2.3.3); other sessions' initiators were not
	 * told, so their writes just get no more R2Ts. The resets do not wait:
	 * Linux with FastAbort (its default) stops answering R2Ts once it sent
	 * a LOGICAL UNIT RESET, and would wait out its TMF timeout instead.
	 */
	struct tmf_scope sc = {.tmf = tmf, .wait = &tmf->wait, .lun = lun,
			       .answer_r2ts = fn == ISCSI_TMF_ABORT_TASK_SET ||
					      fn == ISCSI_TMF_CLEAR_TASK_SET};
	uint32_t ref_itt = get_be32(tmf->bhs + TMF_REFERENCED_TASK_TAG);

	switch (fn) {
	case ISCSI_TMF_ABORT_TASK:
		if (abort_task_found(tc, tmf, ref_itt)) {
			tgt_task_abort_for(tgt_task_of(idm_task_find_itt(tc->ic, ref_itt)),
					   &tmf->wait, false);
		}
		break;
	case ISCSI_TMF_ABORT_TASK_SET:
		/* One connection per session: this nexus' tasks are here. */
		idm_task_foreach(tc->ic, abort_if_in_scope, &sc);
		break;
	case ISCSI_TMF_CLEAR_TASK_SET:
		/* The task set is shared: every nexus loses its tasks there. */
		idm_task_foreach(tc->ic, abort_if_in_scope, &sc);
		abort_other_sessions(tc->sess, false, lun, tmf);
		break;
	case ISCSI_TMF_LOGICAL_UNIT_RESET:
		reset_lus(tc, &sc);
		break;
	case ISCSI_TMF_TARGET_WARM_RESET:
		sc.all_luns = true;
		reset_lus(tc, &sc);
		break;
	default:
		break;
	}
}

/* ---- the request ---- */

/* The LU index the session's LUN names (its map), or SCSI_MAX_LUNS. */
static unsigned tmf_lu(const struct tgt_session *s, uint64_t lun)
{
	return scsi_lun_map_lu(&s->map, lun);
}

static bool lun_exists(const struct tgt_session *s, uint64_t lun)
{
	unsigned l = tmf_lu(s, lun);

	return s->target && l < SCSI_MAX_LUNS && s->target->luns.lu[l];
}

static struct tgt_tmf_in tmf_facts(struct tgt_conn *tc, const struct idm_pdu *pdu,
				   struct tgt_task *tmf)
{
	struct tgt_session *s = tc->sess;
	uint64_t lun = idm_lun_decode(pdu->bhs + BHS_LUN);
	uint32_t ref_cmd_sn = get_be32(pdu->bhs + TMF_REFCMDSN);
	uint32_t cmd_sn = get_be32(pdu->bhs + TMF_CMDSN);
	uint32_t ref_itt = get_be32(pdu->bhs + TMF_REFERENCED_TASK_TAG);

	return (struct tgt_tmf_in){
		.function = pdu->bhs[BHS_FLAGS] & TMF_FUNCTION_MASK,
		.lun_exists = lun_exists(s, lun),
		.task_found = abort_task_found(tc, tmf, ref_itt),
		.refcmdsn_in_window = !sna_lt(ref_cmd_sn, s->win.exp_cmd_sn) &&
				      sna_lt(ref_cmd_sn, cmd_sn),
		.discovery = s->type == IDM_SESSION_DISCOVERY,
	};
}

void tgt_tmf_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	struct tgt_tmf_in in;
	struct tgt_task *tmf;
	struct idm_task *t;
	int err = 0;

	if (tgt_conn_cmdsn(tc, pdu) < 0) {
		return; /* outside the CmdSN window: dropped */
	}
	t = idm_task_alloc(tc->ic, idm_pdu_itt(pdu), &err);
	if (!t) {
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_TASK_IN_PROGRESS);
		return;
	}
	tmf = tgt_task_of(t);
	memset(tmf, 0, offsetof(struct tgt_task, bhs));
	tmf->t = t;
	tmf->is_tmf = true;
	tmf->phase = TGT_PH_EXEC;
	t->client_priv = tmf;
	memcpy(tmf->bhs, pdu->bhs, IDM_BHS_LEN);
	/* held at 1 while acting, so no share can settle it before the end */
	tmf->wait = (struct tgt_abort_wait){.pending = 1, .settled = tmf_wait_settled};
	in = tmf_facts(tc, pdu, tmf);
	tmf->st.response = tgt_tmf_decide(&in);
	if (tmf->st.response == ISCSI_TMF_RSP_COMPLETE) {
		tmf_act(tc, tmf, in.function, tmf_lu(tc->sess, idm_lun_decode(pdu->bhs + BHS_LUN)));
	}
	/* Hold the response while aborted tasks still have store I/O. */
	if (--tmf->wait.pending == 0) {
		tgt_tmf_settled(tmf);
	}
}
