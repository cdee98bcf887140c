/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER target over rdma-core: the listener and the adoption of a connection.
 *
 * The listener's CM event channel is watched by reactor 0. A connect
 * request is checked (the 4-byte iSER CM private data), gets its own
 * protection domain, QP and buffers with every receive posted, and is
 * accepted there; then the connection goes to a reactor through
 * idm_svc_dispatch. On that reactor its CM id moves to a channel of its
 * own (so disconnects are seen by the thread that owns the connection)
 * and the completion channel joins the reactor's epoll. An event for the
 * id that lands on the listener's channel before the move is dropped:
 * a disconnect then still shows as flushed receives.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "transport/iser/iser_rdma.h"

#define ISER_LISTEN_BACKLOG 128
#define ISER_MAX_RD_ATOM 16 /* RDMA Reads in flight per connection, at most */

static void rconn_cm_event(void *arg, uint32_t events)
{
	struct iser_rconn *rc = arg;
	struct iser_conn *ic = rc->ic;
	struct idm_rdma_cm_event ev;

	(void)events;
	idm_conn_hold(ic->c);
	while (idm_rdma_cm_next(&rc->cm, &ev) == 0) {
		(void)iser_rconn_lost(rc, &ev, "RDMA connection lost");
	}
	idm_conn_release(ic->c);
}

static void rconn_name_peer(struct idm_conn *c, struct rdma_cm_id *id)
{
	const struct sockaddr *peer = idm_rdma_peer_addr(id);
	const struct sockaddr *local = idm_rdma_local_addr(id);
	char host[64] = "?", port[16] = "?";
	socklen_t len;

	if (peer == NULL || local == NULL) {
		snprintf(c->peer_name, sizeof(c->peer_name), "iser");
		return;
	}
	len =
	    peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memcpy(&c->peer_addr, peer, len);
	memcpy(&c->local_addr, local, len);
	getnameinfo(peer, len, host, sizeof(host), port, sizeof(port),
	            NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(c->peer_name, sizeof(c->peer_name),
	         peer->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* On the connection's reactor: own CM channel, completion fd in epoll. */
static int rconn_adopt(struct idm_conn *c, void *transport_conn)
{
	struct iser_rconn *rc = transport_conn;
	int rc_err = iser_conn_bind(c, rc->ic);

	if (rc_err != 0) {
		return rc_err;
	}
	rc->ic->owner = rc;
	rc->ic->owner_free = iser_rconn_free;
	rconn_name_peer(c, rc->rc.id);
	if ((rc_err = idm_rdma_cm_open(&rc->cm)) != 0 ||
	    (rc_err = idm_rdma_migrate(rc->rc.id, &rc->cm)) != 0) {
		return rc_err; /* the connection closes and frees us */
	}
	if ((rc_err = iser_rconn_watch_cm(rc, c->reactor, rconn_cm_event)) != 0) {
		return rc_err;
	}
	return iser_rconn_watch_cq(rc);
}

/* The hand-off failed before the connection took us over. */
static void rconn_drop(void *transport_conn)
{
	struct iser_rconn *rc = transport_conn;

	if (rc->ic && rc->ic->c) {
		return; /* bound: the connection's teardown frees everything */
	}
	iser_rconn_free(rc, rc->ic);
}

/* ---- the listener ---- */

struct iser_listener {
	struct idm_event_handler ev;
	struct idm_svc *svc;
	struct idm_rdma_cm cm;
	struct rdma_cm_id *id;
};

static int req_check_priv(const struct idm_rdma_cm_event *ev)
{
	struct iser_cm_priv p;

	if (ev->priv_len < ISER_CM_PRIV_LEN) {
		return -EPROTO;
	}
	return iser_cm_priv_decode(ev->priv, ev->priv_len, &p);
}

/* QP sized for the task table (Sends + one RDMA transfer per task). */
static int req_make_qp(struct iser_rconn *rc, struct rdma_cm_id *id, uint32_t max_tasks)
{
	struct idm_rdma_qp_caps caps = {
	    .send_wr = iser_conn_ntx(max_tasks) + max_tasks,
	    .recv_wr = iser_conn_nrx(max_tasks),
	    .send_sge = 1,
	};

	return iser_rconn_make_qp(rc, id, &caps);
}

static uint8_t min_u8(uint8_t a, uint8_t b)
{
	return a < b ? a : b;
}

/*
 * A connect request's depths are already seen from our side: the CM
 * swaps the peer's values, so initiator_depth is how many RDMA Reads the
 * peer will answer (its responder resources: our ORD) and
 * responder_resources how many it may issue to us (our IRD). libiscsi
 * offers initiator_depth 0: taking the wrong one gave an ORD of 0 and
 * every RDMA Read stalled.
 */
void iser_cm_read_depths(const struct idm_rdma_cm_event *ev, uint8_t *ord, uint8_t *ird)
{
	*ord = min_u8(ev->initiator_depth, ISER_MAX_RD_ATOM);
	*ird = min_u8(ev->responder_resources, ISER_MAX_RD_ATOM);
}

/* Buffers, receives posted, then the accept with our private data. */
static int req_accept(struct iser_listener *l, struct iser_rconn *rc,
                      const struct idm_rdma_cm_event *ev)
{
	uint8_t priv[ISER_CM_PRIV_LEN];
	struct iser_cm_priv mine = {.zbva_unsupported = true, .send_inv_unsupported = true};
	struct iser_link link = {
	    .copy_threshold = l->svc->req.opts.rdma_copy_threshold, /* 0: the default */
	};
	struct idm_rdma_conn_param p = {.priv = priv, .priv_len = sizeof(priv), .rnr_retry = 7};
	int err;

	iser_rconn_link(rc, &link);
	/* we issue RDMA Reads: no more than the initiator will answer */
	iser_cm_read_depths(ev, &link.ord, &p.responder_resources);
	err = iser_conn_create(&link, l->svc->req.max_tasks, &rc->ic);
	if (err != 0) {
		return err;
	}
	iser_cm_priv_encode(priv, &mine);
	p.initiator_depth = link.ord;
	return idm_rdma_accept(&rc->rc, &p);
}

static void listener_connect_request(struct iser_listener *l, const struct idm_rdma_cm_event *ev)
{
	struct iser_rconn *rc;
	int err = req_check_priv(ev);

	if (err != 0) {
		idm_log("iser", "%s: connect request without iSER private data: rejected",
		        l->svc->name);
		idm_rdma_reject(ev->id, NULL, 0);
		idm_rdma_id_destroy(ev->id);
		return;
	}
	rc = calloc(1, sizeof(*rc));
	err = rc ? req_make_qp(rc, ev->id, l->svc->req.max_tasks) : -ENOMEM;
	if (err == 0) {
		err = req_accept(l, rc, ev);
	}
	if (err != 0) {
		idm_log("iser", "%s: cannot accept a connection: %s", l->svc->name, strerror(-err));
		if (rc == NULL || rc->rc.id == NULL) {
			idm_rdma_reject(ev->id, NULL, 0);
			idm_rdma_id_destroy(ev->id);
		}
		if (rc) {
			iser_rconn_free(rc, rc->ic);
		}
		return;
	}
	idm_svc_dispatch(l->svc, rc, rconn_adopt, rconn_drop);
}

static void listener_event(void *arg, uint32_t events)
{
	struct iser_listener *l = arg;
	struct idm_rdma_cm_event ev;

	(void)events;
	while (idm_rdma_cm_next(&l->cm, &ev) == 0) {
		if (ev.type == IDM_RDMA_EV_CONNECT_REQUEST) {
			listener_connect_request(l, &ev);
		}
		/* other events belong to ids not yet moved to their reactor */
	}
}

int iser_svc_create(struct idm_svc *svc)
{
	char reason[128];
	struct iser_listener *l;
	int err;

	if (!idm_rdma_available(reason, sizeof(reason))) {
		snprintf(svc->error, sizeof(svc->error), "%s", reason); /* the core logs it */
		return -ENODEV;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	err = idm_rdma_cm_open(&l->cm);
	if (err == 0) {
		err = idm_rdma_listen(&l->cm, (struct sockaddr *)&svc->req.addr,
		                      ISER_LISTEN_BACKLOG, l, &l->id);
		if (err != 0) {
			idm_rdma_cm_close(&l->cm);
		}
	}
	if (err != 0) {
		free(l);
		return err;
	}
	l->svc = svc;
	l->ev = (struct idm_event_handler){
	    .fd = idm_rdma_cm_fd(&l->cm), .fn = listener_event, .arg = l};
	svc->transport_priv = l;
	return 0;
}

int iser_svc_online(struct idm_svc *svc)
{
	struct iser_listener *l = svc->transport_priv;

	return idm_reactor_add(svc->req.reactors[0], &l->ev, EPOLLIN);
}

void iser_svc_offline(struct idm_svc *svc)
{
	struct iser_listener *l = svc->transport_priv;

	idm_reactor_del(svc->req.reactors[0], &l->ev);
}

void iser_svc_destroy(struct idm_svc *svc)
{
	struct iser_listener *l = svc->transport_priv;

	if (l) {
		idm_rdma_id_destroy(l->id);
		idm_rdma_cm_close(&l->cm);
		free(l);
		svc->transport_priv = NULL;
	}
}
