/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER initiator transport: reaching a portal over RDMA, the connection
 * manager's steps (resolve address, resolve route, queue pair and posted
 * receives, connect with the iSER private data), login keys, registered
 * task buffers and teardown. Sends and receives are in iser_ini_io.c.
 *
 * The connection's CM id has an event channel of its own, watched by the
 * connection's reactor beside the completion channel, so nothing blocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "transport/iser/iser_ini_priv.h"

#define ISER_INI_RESOLVE_MS 2000 /* address and route resolution */
#define ISER_INI_PROBE_MS 1000   /* conn_is_capable: address resolution only */

void iser_ini_fail(struct iser_ini_conn *ic, const char *why)
{
	if (ic->dead) {
		return;
	}
	IDM_LOG_CONN(ic->c, "iser: %s", why);
	idm_conn_event(ic->c, IDM_CE_TRANSPORT_FAIL);
}

/* ---- can RDMA reach the portal? ---- */

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return true;
}

/* Wait up to ISER_INI_PROBE_MS for the resolution's outcome. */
static bool probe_wait(struct idm_rdma_cm *cm)
{
	struct pollfd pfd = {.fd = idm_rdma_cm_fd(cm), .events = POLLIN};
	struct idm_rdma_cm_event ev;

	if (poll(&pfd, 1, ISER_INI_PROBE_MS + 200) <= 0) {
		return false;
	}
	if (idm_rdma_cm_next(cm, &ev) != 0) {
		return false;
	}
	return ev.type == IDM_RDMA_EV_ADDR_RESOLVED;
}

/*
 * An RDMA device exists and the RDMA CM resolves `peer` to one. A loopback
 * portal does not count: Soft-RoCE cannot carry it, and the CM would bind
 * it to any device it finds.
 */
static bool iser_ini_conn_is_capable(const struct sockaddr *peer, socklen_t len)
{
	char reason[128];
	struct idm_rdma_cm cm;
	struct rdma_cm_id *id = NULL;
	bool ok;

	(void)len;
	if (!idm_rdma_available(reason, sizeof(reason))) {
		idm_log("iser", "%s", reason);
		return false;
	}
	if (addr_is_loopback(peer)) {
		idm_log("iser", "no RDMA route to a loopback address");
		return false;
	}
	if (idm_rdma_cm_open(&cm) != 0) {
		idm_log("iser", "cannot open the RDMA connection manager");
		return false;
	}
	ok = idm_rdma_resolve(&cm, peer, ISER_INI_PROBE_MS, NULL, &id) == 0 && probe_wait(&cm);
	if (!ok) {
		idm_log("iser", "no RDMA route to the portal");
	}
	idm_rdma_id_destroy(id);
	idm_rdma_cm_close(&cm);
	return ok;
}

/* ---- registered task buffers ---- */

struct iser_ini_reg *iser_ini_reg_find(struct iser_ini_conn *ic, const void *addr, size_t len)
{
	const uint8_t *a = addr;

	for (struct iser_ini_reg *r = ic->regs; r; r = r->next) {
		/* one-off registrations end with their command: never shared */
		if (r->owned && a >= r->addr && len <= r->len &&
		    (size_t)(a - r->addr) <= r->len - len) {
			return r;
		}
	}
	return NULL;
}

static struct iser_ini_reg *reg_add(struct iser_ini_conn *ic, void *addr, size_t len)
{
	struct iser_ini_reg *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		return NULL;
	}
	/* the target RDMA-Writes read data here and RDMA-Reads write data */
	if (idm_rdma_reg(ic->dev.pd, addr, len, true, &r->mr) != 0) {
		free(r);
		return NULL;
	}
	r->addr = addr;
	r->len = len;
	r->next = ic->regs;
	ic->regs = r;
	ic->c->stats.registrations++;
	return r;
}

static void reg_remove(struct iser_ini_conn *ic, struct iser_ini_reg *gone)
{
	for (struct iser_ini_reg **pp = &ic->regs; *pp; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			idm_rdma_dereg(gone->mr);
			free(gone);
			return;
		}
	}
}

struct iser_ini_reg *iser_ini_reg_once(struct iser_ini_conn *ic, void *addr, size_t len,
                                       uint32_t itt)
{
	struct iser_ini_reg *r = reg_add(ic, addr, len);

	if (r) {
		r->itt = itt;
	}
	return r;
}

void iser_ini_reg_end(struct iser_ini_conn *ic, uint32_t itt)
{
	struct iser_ini_reg **pp = &ic->regs;

	/* all of them: one left by a command a TMF ended shares the ITT */
	while (*pp) {
		struct iser_ini_reg *r = *pp;

		if (!r->owned && r->itt == itt) {
			*pp = r->next;
			idm_rdma_dereg(r->mr);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

/* Memory for task buffers, registered once for the connection's life. */
static void *iser_ini_buf_alloc(struct idm_conn *c, size_t len)
{
	struct iser_ini_conn *ic = iser_ini_of(c);
	size_t cap = (len + 4095) & ~(size_t)4095;
	struct iser_ini_reg *r;
	void *mem;

	if (ic == NULL || ic->dev.pd == NULL || ic->dead || len == 0) {
		return NULL;
	}
	mem = aligned_alloc(4096, cap);
	if (mem == NULL) {
		return NULL;
	}
	r = reg_add(ic, mem, cap);
	if (r == NULL) {
		free(mem);
		return NULL;
	}
	r->owned = true;
	return mem;
}

static void iser_ini_buf_free(struct idm_conn *c, void *buf, size_t len)
{
	struct iser_ini_conn *ic = c ? iser_ini_of(c) : NULL;
	struct iser_ini_reg *r = ic ? iser_ini_reg_find(ic, buf, len) : NULL;

	if (r && r->addr == buf) {
		reg_remove(ic, r);
	}
	free(buf);
}

/* ---- buffers for Sends and receives ---- */

static uint32_t round64(uint32_t v)
{
	return (v + 63u) & ~63u;
}

static int conn_buffers(struct iser_ini_conn *ic, uint32_t max_tasks)
{
	uint8_t *p;
	int rc;

	ic->nrx = max_tasks + ISER_INI_RX_EXTRA;
	ic->ntx = max_tasks + ISER_INI_RX_EXTRA;
	ic->rx_cap = round64(ISER_INI_HDRS + ISER_INI_MAX_AHS + ISER_INI_RDSL);
	ic->tx_cap = round64(ISER_INI_HDRS + ISER_INI_RDSL);
	ic->rx = calloc(ic->nrx, sizeof(*ic->rx));
	ic->tx = calloc(ic->ntx, sizeof(*ic->tx));
	ic->region_len = (size_t)ic->nrx * ic->rx_cap + (size_t)ic->ntx * ic->tx_cap;
	ic->region = aligned_alloc(4096, (ic->region_len + 4095) & ~(size_t)4095);
	if (ic->rx == NULL || ic->tx == NULL || ic->region == NULL) {
		return -ENOMEM;
	}
	rc = idm_rdma_reg(ic->dev.pd, ic->region, ic->region_len, false, &ic->region_mr);
	if (rc != 0) {
		return rc;
	}
	ic->lkey = idm_rdma_lkey(ic->region_mr);
	p = ic->region;
	for (uint32_t i = 0; i < ic->nrx; i++, p += ic->rx_cap) {
		ic->rx[i] = (struct iser_ini_rx){.ic = ic, .buf = p};
		ic->rx[i].wr.done = iser_ini_rx_done;
	}
	for (uint32_t i = 0; i < ic->ntx; i++, p += ic->tx_cap) {
		ic->tx[i] = (struct iser_ini_tx){.ic = ic, .buf = p, .next = ic->tx_free};
		ic->tx_free = &ic->tx[i];
	}
	return 0;
}

/* ---- connection manager steps ---- */

static void cq_event(void *arg, uint32_t events)
{
	struct iser_ini_conn *ic = arg;
	struct idm_conn *c = ic->c;

	(void)events;
	idm_conn_hold(c);
	if (idm_rdma_cq_event(&ic->rc) != 0) {
		iser_ini_fail(ic, "completion queue error");
	}
	idm_conn_release(c);
}

/* Route known: PD, CQ, QP, buffers, receives posted, then connect. */
static int conn_route_resolved(struct iser_ini_conn *ic)
{
	struct idm_conn *c = ic->c;
	struct idm_rdma_qp_caps caps = {
	    .send_wr = c->max_tasks + ISER_INI_RX_EXTRA,
	    .recv_wr = c->max_tasks + ISER_INI_RX_EXTRA,
	    .send_sge = 1,
	};
	uint8_t priv[ISER_CM_PRIV_LEN];
	/*
	 * We answer the target's RDMA Reads (responder resources). The
	 * passive side sees the two depths swapped in its connect request
	 * event, and a target that sizes its Reads from the field we think of
	 * as our initiator depth would get 0 and never read: offer the same
	 * number in both (we issue no Reads ourselves, so this costs nothing).
	 */
	struct idm_rdma_conn_param p = {.priv = priv,
	                                .priv_len = sizeof(priv),
	                                .responder_resources = ISER_INI_IRD,
	                                .initiator_depth = ISER_INI_IRD,
	                                .rnr_retry = 7};
	int rc = idm_rdma_dev_open(&ic->dev, idm_rdma_id_verbs(ic->id));

	if (rc == 0) {
		rc = idm_rdma_conn_create(&ic->rc, ic->id, ic->dev.pd, &caps);
	}
	if (rc != 0) {
		return rc;
	}
	ic->id = NULL; /* rc.id now */
	rc = conn_buffers(ic, c->max_tasks);
	for (uint32_t i = 0; rc == 0 && i < ic->nrx; i++) {
		rc = iser_ini_post_recv(ic, &ic->rx[i]);
	}
	if (rc != 0) {
		return rc;
	}
	ic->cq_ev =
	    (struct idm_event_handler){.fd = idm_rdma_cq_fd(&ic->rc), .fn = cq_event, .arg = ic};
	rc = idm_reactor_add(c->reactor, &ic->cq_ev, EPOLLIN);
	if (rc != 0) {
		return rc;
	}
	ic->cq_watched = true;
	iser_ini_cm_priv(priv);
	return idm_rdma_connect(&ic->rc, &p);
}

/* "host:port" of `sa` for the log (named from the start, connected or not). */
static void name_peer(struct idm_conn *c, const struct sockaddr *sa, socklen_t len)
{
	char host[64] = "?", port[16] = "?";

	getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
	            NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(c->peer_name, sizeof(c->peer_name),
	         sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static void note_local_addr(struct idm_conn *c, struct rdma_cm_id *id)
{
	const struct sockaddr *local = idm_rdma_local_addr(id);

	if (local) {
		memcpy(&c->local_addr, local,
		       local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                    : sizeof(struct sockaddr_in));
	}
}

static void conn_established(struct iser_ini_conn *ic)
{
	ic->connected = true;
	note_local_addr(ic->c, ic->rc.id);
	idm_conn_event(ic->c, IDM_CE_CONNECT_DONE);
	if (!ic->dead) {
		iser_ini_tx_pump(ic);
	}
}

static void cm_handle(struct iser_ini_conn *ic, const struct idm_rdma_cm_event *ev)
{
	int rc;

	switch (ev->type) {
	case IDM_RDMA_EV_ADDR_RESOLVED:
		rc = idm_rdma_resolve_route(ic->id, ISER_INI_RESOLVE_MS);
		if (rc != 0) {
			iser_ini_fail(ic, "cannot resolve the RDMA route");
		}
		break;
	case IDM_RDMA_EV_ROUTE_RESOLVED:
		rc = conn_route_resolved(ic);
		if (rc != 0) {
			IDM_LOG_CONN(ic->c, "iser: connect: %s", strerror(-rc));
			iser_ini_fail(ic, "cannot start the RDMA connection");
		}
		break;
	case IDM_RDMA_EV_ESTABLISHED:
		conn_established(ic);
		break;
	case IDM_RDMA_EV_REJECTED:
		iser_ini_fail(ic, "the target rejected the RDMA connection");
		break;
	case IDM_RDMA_EV_ERROR:
		iser_ini_fail(ic,
		              ic->connected
		                  ? "RDMA connection error"
		                  : "no RDMA path to the portal (address, route or connect error)");
		break;
	case IDM_RDMA_EV_DISCONNECTED:
		/* what the target sent before it disconnected goes first */
		(void)idm_rdma_drain(&ic->rc);
		iser_ini_fail(ic, "RDMA connection lost");
		break;
	case IDM_RDMA_EV_DEVICE_REMOVAL:
		iser_ini_fail(ic, "RDMA connection lost");
		break;
	default:
		break;
	}
}

static void cm_event(void *arg, uint32_t events)
{
	struct iser_ini_conn *ic = arg;
	struct idm_conn *c = ic->c;
	struct idm_rdma_cm_event ev;

	(void)events;
	idm_conn_hold(c);
	while (!ic->dead && idm_rdma_cm_next(&ic->cm, &ev) == 0) {
		cm_handle(ic, &ev);
	}
	idm_conn_release(c);
}

/* ---- ops: connection life ---- */

/* State and an event channel of our own; conn_connect starts resolving. */
static int iser_ini_conn_create(struct idm_conn *c, const struct sockaddr *peer, socklen_t len)
{
	struct iser_ini_conn *ic;
	int rc;

	if (len > sizeof(c->peer_addr)) {
		return -EINVAL;
	}
	ic = calloc(1, sizeof(*ic));
	if (ic == NULL) {
		return -ENOMEM;
	}
	rc = idm_rdma_cm_open(&ic->cm);
	if (rc != 0) {
		free(ic);
		return rc;
	}
	ic->c = c;
	ic->peer_len = len;
	memcpy(&c->peer_addr, peer, len);
	name_peer(c, peer, len);
	iser_key_state_init(&ic->keys, IDM_ROLE_INITIATOR, true, ISER_INI_RDSL);
	c->transport_priv = ic;
	return 0;
}

static int iser_ini_conn_connect(struct idm_conn *c)
{
	struct iser_ini_conn *ic = iser_ini_of(c);
	int rc;

	if (ic == NULL) {
		return -ENOTCONN;
	}
	ic->cm_ev =
	    (struct idm_event_handler){.fd = idm_rdma_cm_fd(&ic->cm), .fn = cm_event, .arg = ic};
	rc = idm_reactor_add(c->reactor, &ic->cm_ev, EPOLLIN);
	if (rc != 0) {
		return rc;
	}
	ic->cm_watched = true;
	return idm_rdma_resolve(&ic->cm, (struct sockaddr *)&c->peer_addr, ISER_INI_RESOLVE_MS, ic,
	                        &ic->id);
}

/* Stop I/O: the QP goes to error and flushes; queued PDUs are dropped. */
static void iser_ini_conn_disconnect(struct idm_conn *c)
{
	struct iser_ini_conn *ic = iser_ini_of(c);

	if (ic == NULL || ic->dead) {
		return;
	}
	ic->dead = true;
	iser_ini_tx_drop_all(ic, -ECONNRESET);
	if (ic->rc.id) {
		idm_rdma_disconnect(&ic->rc);
	}
}

static void unwatch(struct iser_ini_conn *ic)
{
	struct idm_reactor *r = ic->c->reactor;

	if (ic->cq_watched) {
		idm_reactor_del(r, &ic->cq_ev);
		ic->cq_watched = false;
	}
	if (ic->cm_watched) {
		idm_reactor_del(r, &ic->cm_ev);
		ic->cm_watched = false;
	}
}

/* QP and id first, then every registration, then the PD and the channel. */
static void iser_ini_conn_destroy(struct idm_conn *c)
{
	struct iser_ini_conn *ic = iser_ini_of(c);

	if (ic == NULL) {
		return;
	}
	iser_ini_conn_disconnect(c);
	unwatch(ic);
	idm_rdma_conn_destroy(&ic->rc);
	idm_rdma_id_destroy(ic->id);
	while (ic->regs) {
		reg_remove(ic, ic->regs); /* owned memory stays the caller's (buf_free) */
	}
	if (ic->region_mr) {
		idm_rdma_dereg(ic->region_mr);
	}
	idm_rdma_dev_close(&ic->dev);
	idm_rdma_cm_close(&ic->cm);
	free(ic->region);
	free(ic->rx);
	free(ic->tx);
	free(ic);
	c->transport_priv = NULL;
}

/* ---- ops: login ---- */

static enum idm_hook_result iser_ini_negotiate(struct idm_conn *c, const char *key,
                                               const char *value, char *answer, size_t cap)
{
	struct iser_ini_conn *ic = iser_ini_of(c);

	if (ic == NULL) {
		return IDM_HOOK_FAIL;
	}
	if (iser_ini_answer_ignorable(key, value)) {
		return IDM_HOOK_NOTED; /* the RFC 7145 default stands */
	}
	return iser_negotiate_key(&ic->keys, key, value, answer, cap);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Login done: what a Send may carry each way, no digests, RDMA data. */
static int iser_ini_enable_datamover(struct idm_conn *c)
{
	struct iser_ini_conn *ic = iser_ini_of(c);

	if (ic == NULL || ic->dead) {
		return -ENOTCONN;
	}
	if (!ic->keys.rdma_ext && c->params.session_type != IDM_SESSION_DISCOVERY) {
		IDM_LOG_CONN(c, "iser: the target did not accept RDMAExtensions=Yes");
		return -EPROTO;
	}
	c->params.rdma_extensions = ic->keys.rdma_ext;
	c->params.target_rdsl = ic->keys.target_rdsl;
	c->params.initiator_rdsl = ic->keys.initiator_rdsl;
	c->params.max_outstanding_unexpected_pdus = ic->keys.max_unexpected;
	c->params.header_digest = false;
	c->params.data_digest = false;
	c->params.max_recv_dsl = ISER_INI_RDSL;
	c->params.max_xmit_dsl = min_u32(ic->keys.target_rdsl, ISER_INI_RDSL);
	c->ffp = true;
	return 0;
}

/* The login proposal: iSER's keys for a normal session; a discovery
 * session does not negotiate RDMAExtensions, but its Sends stay small. */
static void iser_ini_propose(const struct idm_conn *c, struct idm_params *p)
{
	(void)c;
	if (p->session_type == IDM_SESSION_NORMAL) {
		iser_ini_params(p, ISER_INI_RDSL);
		return;
	}
	p->max_recv_dsl = ISER_INI_RDSL;
	p->header_digest = false;
	p->data_digest = false;
}

static const struct idm_transport_ops iser_ini_ops = {
    .tx_pdu = iser_ini_tx_pdu,
    .negotiate_key = iser_ini_negotiate,
    .enable_datamover = iser_ini_enable_datamover,
    .conn_is_capable = iser_ini_conn_is_capable,
    .ini_propose = iser_ini_propose,
    .buf_alloc = iser_ini_buf_alloc,
    .buf_free = iser_ini_buf_free,
    .ini_conn_create = iser_ini_conn_create,
    .conn_connect = iser_ini_conn_connect,
    .conn_disconnect = iser_ini_conn_disconnect,
    .conn_destroy = iser_ini_conn_destroy,
};

static const struct idm_transport_caps iser_ini_caps = {
    .data_in_status = false,
    .digests = false,
    .rdma = true,
    .max_rx_data = ISER_INI_RDSL,
};

const struct idm_transport idm_iser_ini_transport = {
    .name = "iser",
    .ops = &iser_ini_ops,
    .caps = &iser_ini_caps,
};
