/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connections: creation, the connection state machine (RFC 7143 section
 * 8.1), reference counting and teardown, the PDU pool and PDU transmit
 * with StatSN / ExpCmdSN / MaxCmdSN filled in.
 *
 * Teardown order, once a connection enters CLEANUP:
 *   client->task_abort for each active task, transport conn_disconnect,
 *   wait until every task reference is gone (TASKS_DRAINED), COMPLETE:
 *   client->conn_free, then on the last connection reference the
 *   transport's conn_destroy and the free.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/core_priv.h"

#define PDU_MAGIC 0x49504455u      /* "IPDU" */
#define PDU_FREE_MAGIC 0x46524545u /* "FREE": on the free list */
#define PDU_INLINE 512             /* data bytes stored in the PDU itself */
#define PDU_POOL_MAX 256           /* PDUs kept per connection */
#define EVENT_QUEUE 16
#define LOGIN_TIMEOUT_DEFAULT_S 15

/* A pooled PDU: the public part plus the core's bookkeeping. */
struct pdu_impl {
	struct idm_pdu pdu;
	uint32_t magic;
	idm_pdu_done_fn user_done; /* the owner's `done`, run after the send */
	size_t buf_cap;            /* capacity of a data buffer from the cache */
	uint32_t tx_cost;          /* bytes counted in the connection's txq */
	uint8_t inline_data[PDU_INLINE];
};

struct conn_impl {
	struct idm_conn pub;
	struct pdu_impl *pdu_free;
	uint32_t pdu_free_count;
	struct idm_timer login_timer;
	uint32_t login_timeout_s;
	/* events raised while an event is being handled wait here */
	uint8_t evq[EVENT_QUEUE];
	uint32_t evq_head, evq_count;
	bool in_event;
};

static struct conn_impl *conn_impl(struct idm_conn *c)
{
	return (struct conn_impl *)c;
}

static void conn_check(const struct idm_conn *c)
{
	if (c == NULL || c->magic != IDM_CONN_MAGIC) {
		idm_log("conn", "bad connection %p (magic %#x)", (const void *)c, c ? c->magic : 0);
		abort();
	}
}

/* ---- names ---- */

#define IDM_X_NAME(name) #name,
static const char *const state_names[] = {IDM_CONN_STATES(IDM_X_NAME)};
static const char *const event_names[] = {IDM_CONN_EVENTS(IDM_X_NAME)};
#undef IDM_X_NAME

const char *idm_conn_state_name(enum idm_conn_state s)
{
	return (unsigned)s < IDM_CONN_NSTATES ? state_names[s] : "?";
}

const char *idm_conn_event_name(enum idm_conn_event e)
{
	return (unsigned)e < IDM_CE_NEVENTS ? event_names[e] : "?";
}

/* ---- creation ---- */

struct idm_conn *idm_conn_create(struct idm_reactor *r, enum idm_role role,
                                 const struct idm_transport *tp,
                                 const struct idm_client_ops *client, uint32_t client_task_size,
                                 uint32_t max_tasks)
{
	struct conn_impl *ci;
	struct idm_conn *c;

	if (tp == NULL || tp->ops == NULL || max_tasks == 0 || max_tasks > IDM_MAX_TASKS_PER_CONN) {
		return NULL;
	}
	ci = calloc(1, sizeof(*ci));
	if (ci == NULL) {
		return NULL;
	}
	c = &ci->pub;
	c->magic = IDM_CONN_MAGIC;
	c->role = role;
	c->state = IDM_CONN_FREE;
	c->transport = tp;
	c->reactor = r;
	c->client = client;
	c->refcnt = 1; /* the state machine's, dropped on COMPLETE */
	idm_params_init(&c->params);
	snprintf(c->peer_name, sizeof(c->peer_name), "conn-%p", (void *)c);
	ci->login_timeout_s = LOGIN_TIMEOUT_DEFAULT_S;
	idm_conn_txq_init(c);
	if (idm_task_table_init(c, max_tasks, client_task_size) != 0) {
		free(ci);
		return NULL;
	}
	return c;
}

static void pdu_pool_drain(struct conn_impl *ci)
{
	while (ci->pdu_free) {
		struct pdu_impl *p = ci->pdu_free;

		ci->pdu_free = (struct pdu_impl *)p->pdu.next;
		free(p);
	}
	ci->pdu_free_count = 0;
}

/* The last reference is gone: the transport state and the memory go. */
static void conn_destroy(struct idm_conn *c)
{
	struct conn_impl *ci = conn_impl(c);

	if (c->transport->ops->conn_destroy) {
		c->transport->ops->conn_destroy(c);
	}
	idm_conn_txq_stop(c);
	idm_log_conn_flush(c);
	idm_task_table_free(c);
	pdu_pool_drain(ci);
	c->magic = IDM_CONN_DEAD;
	free(ci);
}

void idm_conn_hold(struct idm_conn *c)
{
	conn_check(c);
	c->refcnt++;
}

void idm_conn_release(struct idm_conn *c)
{
	conn_check(c);
	if (c->refcnt == 0) {
		IDM_LOG_CONN(c, "reference count underflow");
		abort();
	}
	if (--c->refcnt == 0) {
		conn_destroy(c);
	}
}

/* ---- login timer ---- */

static void login_timer_fired(struct idm_timer *tm)
{
	struct conn_impl *ci =
	    (struct conn_impl *)((char *)tm - offsetof(struct conn_impl, login_timer));
	struct idm_conn *c = &ci->pub;

	idm_log_conn_close(c, "no login within %u s: closing", ci->login_timeout_s);
	idm_conn_event(c, IDM_CE_DISCONNECT);
}

static void login_timer_start(struct conn_impl *ci)
{
	if (ci->login_timeout_s > 0 && ci->pub.reactor) {
		ci->login_timer.fn = login_timer_fired;
		idm_timer_arm(ci->pub.reactor, &ci->login_timer,
		              (uint64_t)ci->login_timeout_s * 1000);
	}
}

static void login_timer_stop(struct conn_impl *ci)
{
	if (ci->login_timer.armed && ci->pub.reactor) {
		idm_timer_cancel(ci->pub.reactor, &ci->login_timer);
	}
}

void idm_conn_set_login_timeout(struct idm_conn *c, uint32_t seconds)
{
	struct conn_impl *ci = conn_impl(c);

	conn_check(c);
	ci->login_timeout_s = seconds;
	if (ci->login_timer.armed) {
		login_timer_stop(ci);
		login_timer_start(ci);
	}
}

/* ---- state machine: one function per state ---- */

static enum idm_conn_state state_free(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_ACCEPTED:
		return IDM_CONN_XPT_UP; /* T3: transport connection accepted */
	case IDM_CE_CONNECT_REQ:
		return IDM_CONN_XPT_WAIT; /* initiator T1: connecting */
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* never came up: just tear down */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_xpt_wait(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_CONNECT_DONE:
		return IDM_CONN_XPT_UP; /* initiator T4 (first half): connected */
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* initiator T2: connect failed */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_xpt_up(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_LOGIN_RX:
		return IDM_CONN_IN_LOGIN; /* T4: initial Login Request */
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* T6: disconnect or login timeout */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_in_login(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_LOGIN_RX:
		return IDM_CONN_IN_LOGIN; /* more login PDUs */
	case IDM_CE_LOGIN_OK:
		return IDM_CONN_LOGGED_IN; /* T5: final Login Response sent */
	case IDM_CE_LOGIN_FAIL:
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* T7: login failed, timeout, reset */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_logged_in(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_LOGIN_OK:
		return IDM_CONN_LOGGED_IN; /* repeated notice: nothing to do */
	case IDM_CE_LOGOUT_RX:
		return IDM_CONN_IN_LOGOUT; /* T9: Logout Request received */
	case IDM_CE_ASYNC_LOGOUT:
		return IDM_CONN_LOGOUT_REQ; /* T11: asked the initiator to log out */
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* T8 / T15: reset, close, reinstatement */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_in_logout(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_LOGOUT_RX:
		return IDM_CONN_IN_LOGOUT; /* repeated notice */
	case IDM_CE_LOGOUT_DONE:
		return IDM_CONN_CLEANUP; /* T13: Logout Response sent */
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* T16: connection lost during logout */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_logout_req(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_ASYNC_LOGOUT:
		return IDM_CONN_LOGOUT_REQ; /* repeated request */
	case IDM_CE_LOGOUT_RX:
		return IDM_CONN_IN_LOGOUT; /* T10: the initiator complied */
	case IDM_CE_TRANSPORT_FAIL:
	case IDM_CE_DISCONNECT:
		return IDM_CONN_CLEANUP; /* T15: reset or timeout */
	default:
		return IDM_CONN_ERROR;
	}
}

static enum idm_conn_state state_error(struct idm_conn *c, enum idm_conn_event ev)
{
	return IDM_CONN_CLEANUP; /* whatever comes, the connection is closing */
}

static enum idm_conn_state state_cleanup(struct idm_conn *c, enum idm_conn_event ev)
{
	switch (ev) {
	case IDM_CE_TASKS_DRAINED:
		return IDM_CONN_COMPLETE; /* T17: cleanup done */
	default:
		return IDM_CONN_CLEANUP; /* already going away: ignore */
	}
}

static enum idm_conn_state state_complete(struct idm_conn *c, enum idm_conn_event ev)
{
	return IDM_CONN_COMPLETE;
}

typedef enum idm_conn_state (*state_fn)(struct idm_conn *c, enum idm_conn_event ev);

static const state_fn state_handlers[IDM_CONN_NSTATES] = {
    [IDM_CONN_FREE] = state_free,
    [IDM_CONN_XPT_WAIT] = state_xpt_wait,
    [IDM_CONN_XPT_UP] = state_xpt_up,
    [IDM_CONN_IN_LOGIN] = state_in_login,
    [IDM_CONN_LOGGED_IN] = state_logged_in,
    [IDM_CONN_IN_LOGOUT] = state_in_logout,
    [IDM_CONN_LOGOUT_REQ] = state_logout_req,
    [IDM_CONN_CLEANUP] = state_cleanup,
    [IDM_CONN_ERROR] = state_error,
    [IDM_CONN_COMPLETE] = state_complete,
};

static void conn_queue_event(struct conn_impl *ci, enum idm_conn_event ev)
{
	if (ci->evq_count == EVENT_QUEUE) {
		IDM_LOG_CONN(&ci->pub, "event queue full, dropping %s", idm_conn_event_name(ev));
		return;
	}
	ci->evq[(ci->evq_head + ci->evq_count) % EVENT_QUEUE] = (uint8_t)ev;
	ci->evq_count++;
}

/* Work done on entering CLEANUP: see the order at the top of the file. */
static void enter_cleanup(struct conn_impl *ci)
{
	struct idm_conn *c = &ci->pub;

	login_timer_stop(ci);
	idm_conn_txq_stop(c);
	idm_task_abort_all(c);
	if (c->transport->ops->conn_disconnect) {
		c->transport->ops->conn_disconnect(c);
	}
	if (c->active_tasks == 0) {
		conn_queue_event(ci, IDM_CE_TASKS_DRAINED);
	}
}

static void enter_complete(struct conn_impl *ci)
{
	struct idm_conn *c = &ci->pub;

	if (c->client && c->client->conn_free) {
		c->client->conn_free(c);
	}
	idm_conn_release(c); /* the state machine's reference */
}

static void enter_logged_in(struct conn_impl *ci)
{
	struct idm_conn *c = &ci->pub;

	login_timer_stop(ci);
	if (!c->ffp && c->transport->ops->enable_datamover) {
		if (c->transport->ops->enable_datamover(c) != 0) {
			conn_queue_event(ci, IDM_CE_TRANSPORT_FAIL);
		}
	}
}

/* Actions tied to entering a state (not to the event that led there). */
static void conn_enter(struct conn_impl *ci, enum idm_conn_state from, enum idm_conn_state to)
{
	struct idm_conn *c = &ci->pub;

	if (c->client && c->client->state_change) {
		c->client->state_change(c, from, to);
	}
	switch (to) {
	case IDM_CONN_XPT_WAIT:
		if (c->transport->ops->conn_connect && c->transport->ops->conn_connect(c) != 0) {
			conn_queue_event(ci, IDM_CE_TRANSPORT_FAIL);
		}
		break;
	case IDM_CONN_XPT_UP:
		if (c->role == IDM_ROLE_TARGET) {
			login_timer_start(ci);
		}
		break;
	case IDM_CONN_LOGGED_IN:
		enter_logged_in(ci);
		break;
	case IDM_CONN_ERROR:
		idm_log_conn_close(c, "protocol error, closing");
		conn_queue_event(ci, IDM_CE_DISCONNECT);
		break;
	case IDM_CONN_CLEANUP:
		enter_cleanup(ci);
		break;
	case IDM_CONN_COMPLETE:
		enter_complete(ci);
		break;
	default:
		break;
	}
}

static void conn_record(struct idm_conn *c, enum idm_conn_state from, enum idm_conn_event ev,
                        enum idm_conn_state to)
{
	struct idm_conn_history *h = &c->history[c->history_pos % IDM_CONN_HISTORY];

	h->from = (uint8_t)from;
	h->event = (uint8_t)ev;
	h->to = (uint8_t)to;
	c->history_pos++;
}

static void conn_step(struct conn_impl *ci, enum idm_conn_event ev)
{
	struct idm_conn *c = &ci->pub;
	enum idm_conn_state from = c->state;
	enum idm_conn_state to = state_handlers[from](c, ev);

	conn_record(c, from, ev, to);
	if (to == from) {
		return;
	}
	if (to == IDM_CONN_ERROR || from == IDM_CONN_ERROR) {
		IDM_LOG_CONN(c, "%s --%s--> %s", idm_conn_state_name(from), idm_conn_event_name(ev),
		             idm_conn_state_name(to));
	}
	c->state = to;
	conn_enter(ci, from, to);
}

void idm_conn_event(struct idm_conn *c, enum idm_conn_event ev)
{
	struct conn_impl *ci = conn_impl(c);

	conn_check(c);
	if ((unsigned)ev >= IDM_CE_NEVENTS) {
		return;
	}
	conn_queue_event(ci, ev);
	if (ci->in_event) {
		return; /* the outer call runs it, in order */
	}
	ci->in_event = true;
	idm_conn_hold(c);
	while (ci->evq_count > 0) {
		enum idm_conn_event next = ci->evq[ci->evq_head];

		ci->evq_head = (ci->evq_head + 1) % EVENT_QUEUE;
		ci->evq_count--;
		conn_step(ci, next);
	}
	ci->in_event = false;
	idm_conn_release(c);
}

/* ---- receive gate ---- */

int idm_conn_rx_gate(struct idm_conn *c, const uint8_t *bhs)
{
	uint8_t op = bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;
	bool login = op == ISCSI_OP_LOGIN_REQ || op == ISCSI_OP_LOGIN_RSP;

	switch (c->state) {
	case IDM_CONN_XPT_UP:
	case IDM_CONN_IN_LOGIN:
		/* RFC 7143 section 6.1: only Login PDUs until the login ends */
		if (!login) {
			return -EPROTO;
		}
		if (c->role == IDM_ROLE_TARGET) {
			idm_conn_event(c, IDM_CE_LOGIN_RX);
		}
		return 0;
	case IDM_CONN_LOGGED_IN:
	case IDM_CONN_IN_LOGOUT:
	case IDM_CONN_LOGOUT_REQ:
		if (login) {
			return -EPROTO;
		}
		if (op == ISCSI_OP_LOGOUT_REQ && c->role == IDM_ROLE_TARGET) {
			idm_conn_event(c, IDM_CE_LOGOUT_RX);
		}
		return 0;
	default:
		return -EPROTO;
	}
}

/* ---- PDUs ---- */

static struct pdu_impl *pdu_impl(struct idm_pdu *pdu)
{
	struct pdu_impl *p = (struct pdu_impl *)pdu;

	if (p->magic != PDU_MAGIC) {
		idm_log("pdu", "bad PDU %p (magic %#x)", (void *)pdu, p->magic);
		abort();
	}
	return p;
}

static struct pdu_impl *pdu_pool_get(struct conn_impl *ci)
{
	struct pdu_impl *p = ci->pdu_free;

	if (p) {
		ci->pdu_free = (struct pdu_impl *)p->pdu.next;
		ci->pdu_free_count--;
		return p;
	}
	return malloc(sizeof(*p));
}

static void pdu_pool_put(struct conn_impl *ci, struct pdu_impl *p)
{
	p->magic = PDU_FREE_MAGIC;
	if (ci->pdu_free_count >= PDU_POOL_MAX) {
		free(p);
		return;
	}
	p->pdu.next = (struct idm_pdu *)ci->pdu_free;
	ci->pdu_free = p;
	ci->pdu_free_count++;
}

struct idm_pdu *idm_pdu_alloc(struct idm_conn *c, uint32_t data_len)
{
	struct conn_impl *ci = conn_impl(c);
	struct pdu_impl *p;

	conn_check(c);
	p = pdu_pool_get(ci);
	if (p == NULL) {
		return NULL;
	}
	memset(&p->pdu, 0, sizeof(p->pdu));
	p->magic = PDU_MAGIC;
	p->user_done = NULL;
	p->buf_cap = 0;
	if (data_len <= PDU_INLINE) {
		p->pdu.data = p->inline_data;
		p->pdu.data_cap = PDU_INLINE;
	} else {
		size_t cap = 0;

		p->pdu.data = idm_buf_get(c->reactor, data_len, &cap);
		if (p->pdu.data == NULL) {
			pdu_pool_put(ci, p);
			return NULL;
		}
		p->buf_cap = cap;
		p->pdu.data_cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
		p->pdu.flags = IDM_PDU_F_OWNS_DATA;
	}
	p->pdu.data_len = data_len;
	p->pdu.conn = c;
	idm_conn_hold(c); /* a PDU keeps its connection alive */
	return &p->pdu;
}

void idm_pdu_free(struct idm_pdu *pdu)
{
	struct pdu_impl *p;
	struct idm_conn *c;

	if (pdu == NULL) {
		return;
	}
	p = pdu_impl(pdu);
	c = pdu->conn;
	if (pdu->flags & IDM_PDU_F_OWNS_DATA) {
		idm_buf_put(c->reactor, pdu->data, p->buf_cap);
	}
	pdu_pool_put(conn_impl(c), p);
	idm_conn_release(c);
}

/* Target: StatSN (where the PDU carries one), ExpCmdSN and MaxCmdSN. */
static void pdu_fill_target_sn(struct idm_conn *c, uint8_t *bhs)
{
	uint8_t op = bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;
	bool data_in_no_status =
	    op == ISCSI_OP_SCSI_DATA_IN && !(bhs[BHS_FLAGS] & DATA_FLAG_STATUS);

	if (!data_in_no_status) {
		put_be32(bhs + BHS_CMDSN, c->stat_sn);
	}
	if (idm_bhs_advances_statsn(bhs)) {
		c->stat_sn++;
	}
	if (c->exp_cmd_sn && c->max_cmd_sn) {
		put_be32(bhs + BHS_EXPSTATSN, *c->exp_cmd_sn);
		put_be32(bhs + BHS_MAXCMDSN, *c->max_cmd_sn);
	}
}

/* A final, successful Login Response: the connection is logged in. */
static bool pdu_is_login_ok(const uint8_t *bhs)
{
	return (bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_RSP &&
	       (bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT) &&
	       (bhs[BHS_FLAGS] & LOGIN_NSG_MASK) == ISCSI_FULL_FEATURE_PHASE &&
	       bhs[LOGIN_STATUS_CLASS] == 0;
}

/* Events implied by a target PDU that has left: logout done, login failed. */
static void pdu_sent_events(struct idm_conn *c, uint8_t op, uint8_t status_class, int status)
{
	if (c->role != IDM_ROLE_TARGET || status != 0) {
		return;
	}
	if (op == ISCSI_OP_LOGOUT_RSP) {
		idm_conn_event(c, IDM_CE_LOGOUT_DONE);
	} else if (op == ISCSI_OP_LOGIN_RSP && status_class != 0) {
		idm_conn_event(c, IDM_CE_LOGIN_FAIL);
	}
}

/* The transport is done with a PDU: the owner's `done`, then the free. */
static void pdu_sent(struct idm_pdu *pdu, int status)
{
	struct pdu_impl *p = pdu_impl(pdu);
	struct idm_conn *c = pdu->conn;
	uint8_t op = idm_pdu_opcode(pdu);
	uint8_t status_class = pdu->bhs[LOGIN_STATUS_CLASS];

	idm_conn_hold(c);
	idm_conn_txq_done(c, p->tx_cost, status);
	pdu->done = p->user_done;
	if (pdu->done) {
		pdu->done(pdu, status);
	}
	if (!(pdu->flags & IDM_PDU_F_KEEP)) {
		idm_pdu_free(pdu);
	}
	pdu_sent_events(c, op, status_class, status);
	idm_conn_release(c);
}

void idm_pdu_tx(struct idm_conn *c, struct idm_pdu *pdu)
{
	struct pdu_impl *p = pdu_impl(pdu);
	bool login_ok;

	conn_check(c);
	pdu->conn = c;
	idm_bhs_set_dlength(pdu->bhs, pdu->data_len);
	pdu->bhs[BHS_TOTAL_AHS_LEN] = (uint8_t)(pdu->ahs_len / 4);
	if (c->role == IDM_ROLE_TARGET) {
		pdu_fill_target_sn(c, pdu->bhs);
	} else {
		put_be32(pdu->bhs + BHS_EXPSTATSN, c->exp_stat_sn);
	}
	login_ok = c->role == IDM_ROLE_TARGET && pdu_is_login_ok(pdu->bhs);
	p->user_done = pdu->done;
	pdu->done = pdu_sent;
	pdu->flags &= ~IDM_PDU_F_KEEP;
	c->stats.pdus_tx++;
	c->stats.bytes_tx += pdu->data_len;
	idm_conn_hold(c);
	p->tx_cost = idm_txq_pdu_cost(pdu, p->buf_cap);
	idm_conn_txq_queued(c, p->tx_cost);
	c->transport->ops->tx_pdu(c, pdu);
	if (login_ok) {
		idm_conn_event(c, IDM_CE_LOGIN_OK);
	}
	idm_conn_release(c);
}

void idm_pdu_reject(struct idm_conn *c, const uint8_t *bad_bhs, uint8_t reason)
{
	struct idm_pdu *pdu = idm_pdu_alloc(c, IDM_BHS_LEN);

	if (pdu == NULL) {
		return;
	}
	IDM_LOG_CONN(c, "reject %s (reason %#x)", idm_opcode_name(bad_bhs[BHS_OPCODE]), reason);
	idm_bhs_init(pdu->bhs, ISCSI_OP_REJECT, false);
	pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	pdu->bhs[REJECT_REASON] = reason;
	put_be32(pdu->bhs + BHS_ITT, IDM_RESERVED_TAG);
	memcpy(pdu->data, bad_bhs, IDM_BHS_LEN);
	c->stats.rejects_tx++;
	idm_pdu_tx(c, pdu);
}
