/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The target's side of a connection: the client ops the core calls, the
 * per-connection state's life (accept to free) and the dispatch of
 * non-SCSI PDUs to their families (login, text, NOP, TMF, logout).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "target/target_int.h"

/* Count the connection in, unless that passes a limit: then it stays out
 * of the list and the limit's name is returned. */
static const char *conn_admit(struct idm_server *srv, struct tgt_conn *tc)
{
	struct tgt_conn_counts n;
	const char *hit;

	pthread_mutex_lock(&srv->lock);
	/* Below every limit in total, no part can be at its own: no walk. */
	n = (struct tgt_conn_counts){srv->nconns, srv->nconns, srv->nconns, srv->nconns};
	hit = tgt_conn_limit_hit(&srv->tun, &n);
	if (hit) {
		tgt_conn_count(srv->conns, tc->portal, &tc->ic->peer_addr, &n);
		hit = tgt_conn_limit_hit(&srv->tun, &n);
	}
	if (!hit) {
		tc->next = srv->conns;
		srv->conns = tc;
		srv->nconns++;
		if (srv->nconns > srv->nconns_peak) {
			srv->nconns_peak = srv->nconns;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return hit;
}

/*
 * After many connections have all gone, give their memory back: freed
 * per-connection tables and sessions sit in the reactor threads' malloc
 * arenas, and without a trim idmd would keep the high-water mark of a
 * burst of 1,000 sessions for good. Only when the last of at least
 * TRIM_AFTER_CONNS goes, so a login/logout loop does not trim each time.
 */
#define TRIM_AFTER_CONNS 64

static bool conn_trim_due(struct idm_server *srv)
{
	if (srv->nconns > 0 || srv->nconns_peak < TRIM_AFTER_CONNS) {
		return false;
	}
	srv->nconns_peak = 0;
	return true;
}

/* Forget the connection; a session whose connection this was ends too
 * (ErrorRecoveryLevel 0, one connection per session). */
static void conn_untrack(struct idm_server *srv, struct tgt_conn *tc)
{
	struct tgt_session *s = tc->sess;
	bool trim;

	pthread_mutex_lock(&srv->lock);
	for (struct tgt_conn **pp = &srv->conns; *pp; pp = &(*pp)->next) {
		if (*pp == tc) {
			*pp = tc->next;
			srv->nconns--;
			break;
		}
	}
	if (s) {
		s->conn = NULL;
		if (s->in_table) {
			tgt_sessions_unlink(&srv->sessions, s);
			srv->nsessions--;
		}
	}
	trim = conn_trim_due(srv);
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	if (s) {
		tgt_session_put(s);
	}
	if (trim) {
		malloc_trim(0);
	}
}

static bool tgt_server_stopping(struct idm_server *srv)
{
	bool stopping;

	pthread_mutex_lock(&srv->lock);
	stopping = srv->stopping;
	pthread_mutex_unlock(&srv->lock);
	return stopping;
}

void tgt_accepted(struct idm_svc *svc, struct idm_conn *c)
{
	struct tgt_portal *portal = idm_svc_client_arg(svc);
	struct tgt_conn *tc = calloc(1, sizeof(*tc));
	const char *limit;

	if (!tc) {
		IDM_LOG_CONN(c, "no memory for a new connection");
		idm_conn_close(c);
		return;
	}
	tc->magic = TGT_CONN_MAGIC;
	tc->ic = c;
	tc->srv = portal->srv;
	tc->portal = portal;
	c->client_priv = tc;
	limit = conn_admit(tc->srv, tc);
	if (limit) {
		tgt_limit_log(tc->srv, limit, "%s: connection refused: %s reached", c->peer_name,
		              limit);
		idm_conn_close(c);
		return;
	}
	idm_conn_set_tx_limits(c, &(struct idm_tx_limits){
	                              .max_bytes = tc->srv->tun.tx_queue_max_bytes,
	                              .max_pdus = tc->srv->tun.tx_queue_max_pdus,
	                              .stall_timeout_s = tc->srv->tun.tx_stall_timeout_s,
	                          });
	if (tgt_server_stopping(tc->srv)) {
		idm_conn_close(c); /* accepted while idm_server_stop runs */
		return;
	}
	/* The core's login timer: until the first Login PDU a connection
	 * gets prelogin_timeout_s (an idle socket holds a descriptor and a
	 * max_prelogin_connections slot), then login_timeout_s (login.c). */
	idm_conn_set_login_timeout(
	    c, idm_min_u32(tc->srv->tun.prelogin_timeout_s, tc->srv->tun.login_timeout_s));
}

/*
 * The connection's data-path counters, once, as it goes: what moved, what
 * was copied, and over RDMA the registrations and send-queue work requests
 * per command (the proof that reads and writes take no copy and one RDMA
 * operation plus one Send each).
 */
static void log_conn_stats(const struct idm_conn *c)
{
	const struct idm_conn_stats *st = &c->stats;

	if (st->scsi_cmds == 0) {
		return; /* a discovery or failed login: nothing on the data path */
	}
	if (!c->transport->caps->rdma) {
		IDM_LOG_CONN(c, "closed: %llu commands, %llu PDUs in, copied %llu bytes",
		             (unsigned long long)st->scsi_cmds, (unsigned long long)st->pdus_rx,
		             (unsigned long long)st->bytes_copied);
		return;
	}
	IDM_LOG_CONN(c,
	             "closed: %llu commands, copied %llu bytes, %llu registrations, "
	             "%llu work requests (%.2f per command)",
	             (unsigned long long)st->scsi_cmds, (unsigned long long)st->bytes_copied,
	             (unsigned long long)st->registrations, (unsigned long long)st->work_requests,
	             (double)st->work_requests / (double)st->scsi_cmds);
}

static void conn_free(struct idm_conn *c)
{
	struct tgt_conn *tc = tgt_conn_of(c);

	if (!tc) {
		return;
	}
	log_conn_stats(c);
	tgt_nop_stop(tc);
	tgt_dataout_stop(tc);
	tgt_login_free(tc);
	tgt_text_free(tc);
	c->exp_cmd_sn = NULL;
	c->max_cmd_sn = NULL;
	conn_untrack(tc->srv, tc);
	c->client_priv = NULL;
	tc->magic = 0;
	free(tc);
}

static void state_change(struct idm_conn *c, enum idm_conn_state from, enum idm_conn_state to)
{
	struct tgt_conn *tc = tgt_conn_of(c);

	if (!tc) {
		return;
	}
	if (to == IDM_CONN_LOGGED_IN) {
		tgt_nop_start(tc);
	} else if (from == IDM_CONN_LOGGED_IN) {
		tgt_nop_stop(tc);
	}
}

int tgt_conn_cmdsn(struct tgt_conn *tc, const struct idm_pdu *pdu)
{
	uint32_t cmd_sn = get_be32(pdu->bhs + BHS_CMDSN);
	bool immediate = idm_pdu_immediate(pdu);

	if (!tc->sess || tgt_window_accept(&tc->sess->win, cmd_sn, immediate) < 0) {
		return -ERANGE;
	}
	if (!immediate) {
		/* Non-SCSI requests hold no command slot: the window moves on. */
		tgt_window_credit(&tc->sess->win);
	}
	return 0;
}

static void close_after_tx(struct idm_pdu *pdu, int status)
{
	idm_conn_close(pdu->conn);
}

void tgt_tx_then_close(struct idm_conn *c, struct idm_pdu *pdu)
{
	pdu->done = close_after_tx;
	idm_pdu_tx(c, pdu);
}

/* Opcodes allowed before the full feature phase: only Login. */
static bool allowed_in_login(uint8_t op)
{
	return op == ISCSI_OP_LOGIN_REQ;
}

static void ffp_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	switch (idm_pdu_opcode(pdu)) {
	case ISCSI_OP_NOP_OUT:
		tgt_nop_rx(tc, pdu);
		break;
	case ISCSI_OP_TEXT_REQ:
		tgt_text_rx(tc, pdu);
		break;
	case ISCSI_OP_TMF_REQ:
		tgt_tmf_rx(tc, pdu);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		tgt_logout_rx(tc, pdu);
		break;
	case ISCSI_OP_LOGIN_REQ:
		/* a Login in the full feature phase is a protocol error */
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_PROTOCOL_ERROR);
		break;
	case ISCSI_OP_SNACK_REQ:
		/* ErrorRecoveryLevel 0: SNACK is not supported */
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		break;
	default:
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		break;
	}
}

static void rx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct tgt_conn *tc = tgt_conn_of(c);
	uint8_t op = idm_pdu_opcode(pdu);

	if (!tc) {
		return;
	}
	tc->last_rx_ms = idm_now_ms();
	if (!tc->sess) {
		if (allowed_in_login(op)) {
			tgt_login_rx(tc, pdu);
		} else {
			/* RFC 7143 section 6: nothing but Login before login
			 * completes; drop the connection. */
			IDM_LOG_CONN(c, "%s before login: closing", idm_opcode_name(op));
			idm_conn_close(c);
		}
		return;
	}
	ffp_rx(tc, pdu);
}

const struct idm_client_ops tgt_client_ops = {
	.scsi_cmd_header = tgt_scsi_cmd_header,
	.scsi_cmd = tgt_scsi_cmd,
	.rx_pdu = rx_pdu,
	.state_change = state_change,
	.conn_free = conn_free,
	.task_abort = tgt_task_abort,
	.task_free = tgt_task_free,
};
