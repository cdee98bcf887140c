/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER initiator: what only the initiator does on top of the shared
 * engine (iser.c, iser_rx.c, iser_tx.c): reaching a portal over RDMA (the
 * connection manager's steps: resolve address, resolve route, queue pair
 * and posted receives, connect with the iSER private data), registering
 * the task buffers it advertises, and the iSER header of its SCSI
 * Commands. Registration goes through the link's memory operations, so
 * the engine runs over the unit tests' fake verbs as the target's does.
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

#include "transport/iser/iser_ini.h"
#include "transport/iser/iser_rdma.h"

#define ISER_INI_RESOLVE_MS 2000 /* address and route resolution */
#define ISER_INI_PROBE_MS 1000   /* conn_is_capable: address resolution only */

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
bool iser_ini_conn_is_capable(const struct sockaddr *peer, socklen_t len)
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

/* The registration covering [addr, addr+len), or NULL. */
static struct iser_ini_reg *reg_find(struct iser_conn *ic, const void *addr, size_t len)
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

static struct iser_ini_reg *reg_add(struct iser_conn *ic, void *addr, size_t len)
{
	const struct iser_mem_ops *m = &ic->link.adv_mem;
	struct iser_ini_reg *r = calloc(1, sizeof(*r));
	uint32_t lkey;

	if (r == NULL) {
		return NULL;
	}
	/* the target RDMA-Writes read data here and RDMA-Reads write data */
	if (m->reg(m->ctx, addr, len, &r->handle, &lkey, &r->rkey) != 0) {
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

static void reg_put(struct iser_conn *ic, struct iser_ini_reg *r)
{
	ic->link.adv_mem.dereg(ic->link.adv_mem.ctx, r->handle);
	free(r);
}

static void reg_remove(struct iser_conn *ic, struct iser_ini_reg *gone)
{
	for (struct iser_ini_reg **pp = &ic->regs; *pp; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			reg_put(ic, gone);
			return;
		}
	}
}

void iser_ini_reg_end(struct iser_conn *ic, uint32_t itt)
{
	struct iser_ini_reg **pp = &ic->regs;

	/* all of them: one left by a command a TMF ended shares the ITT */
	while (*pp) {
		struct iser_ini_reg *r = *pp;

		if (!r->owned && r->itt == itt) {
			*pp = r->next;
			reg_put(ic, r);
		} else {
			pp = &r->next;
		}
	}
}

void iser_ini_reg_drop_all(struct iser_conn *ic)
{
	while (ic->regs) {
		reg_remove(ic, ic->regs); /* owned memory stays the caller's (buf_free) */
	}
}

/* Memory for task buffers, registered once for the connection's life. */
void *iser_ini_buf_alloc(struct idm_conn *c, size_t len)
{
	struct iser_conn *ic = iser_conn_of(c);
	size_t cap = (len + 4095) & ~(size_t)4095;
	struct iser_ini_reg *r;
	void *mem;

	if (ic == NULL || ic->role != IDM_ROLE_INITIATOR || ic->link.adv_mem.reg == NULL ||
	    ic->dead || len == 0) {
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

void iser_ini_buf_free(struct idm_conn *c, void *buf, size_t len)
{
	struct iser_conn *ic = c ? iser_conn_of(c) : NULL;
	struct iser_ini_reg *r = ic ? reg_find(ic, buf, len) : NULL;

	if (r && r->addr == buf) {
		reg_remove(ic, r);
	}
	free(buf);
}

/*
 * The iSER header of a PDU: a SCSI Command advertises its task buffer,
 * registered once (buf_alloc) or, for memory that is not ours, for this
 * command only. Every other PDU carries no STag.
 */
int iser_ini_tx_hdr(struct iser_conn *ic, const struct idm_pdu *pdu, struct iser_hdr *h)
{
	struct idm_task *t;
	struct iser_ini_reg *r;

	memset(h, 0, sizeof(*h));
	if (idm_pdu_opcode(pdu) != ISCSI_OP_SCSI_CMD) {
		return 0;
	}
	t = idm_task_find_itt(ic->c, idm_pdu_itt(pdu));
	if (t == NULL || t->data == NULL || t->data_cap == 0 || (!t->is_read && !t->is_write)) {
		return 0;
	}
	r = reg_find(ic, t->data, t->data_cap);
	if (r == NULL) {
		r = reg_add(ic, t->data, t->data_cap);
		if (r != NULL) {
			r->itt = t->itt;
		}
	}
	if (r == NULL) {
		return -ENOMEM;
	}
	iser_ini_cmd_hdr(h, t->is_read, t->is_write, r->rkey, (uint64_t)(uintptr_t)t->data);
	return 0;
}

/* ---- connection manager steps ---- */

/* Route known: PD, CQ, QP, buffers, receives posted, then connect. */
static int conn_route_resolved(struct iser_rconn *rc)
{
	struct iser_conn *ic = rc->ic;
	struct idm_conn *c = ic->c;
	struct idm_rdma_qp_caps caps = {
	    .send_wr = iser_conn_ntx(c->max_tasks),
	    .recv_wr = iser_conn_nrx(c->max_tasks),
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
	struct iser_link link = {.rdsl = ISER_INI_RDSL};
	int err = iser_rconn_make_qp(rc, rc->id, &caps);

	if (err != 0) {
		return err;
	}
	rc->id = NULL; /* rc.id now */
	iser_rconn_link(rc, &link);
	err = iser_conn_start(ic, &link, c->max_tasks);
	if (err == 0) {
		err = iser_rconn_watch_cq(rc);
	}
	if (err != 0) {
		return err;
	}
	iser_ini_cm_priv(priv);
	return idm_rdma_connect(&rc->rc, &p);
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

static void cm_handle(struct iser_rconn *rc, const struct idm_rdma_cm_event *ev)
{
	struct iser_conn *ic = rc->ic;
	int err;

	switch (ev->type) {
	case IDM_RDMA_EV_ADDR_RESOLVED:
		if (idm_rdma_resolve_route(rc->id, ISER_INI_RESOLVE_MS) != 0) {
			iser_conn_fail(ic, "cannot resolve the RDMA route");
		}
		break;
	case IDM_RDMA_EV_ROUTE_RESOLVED:
		err = conn_route_resolved(rc);
		if (err != 0) {
			IDM_LOG_CONN(ic->c, "iser: connect: %s", strerror(-err));
			iser_conn_fail(ic, "cannot start the RDMA connection");
		}
		break;
	case IDM_RDMA_EV_ESTABLISHED:
		note_local_addr(ic->c, rc->rc.id);
		iser_conn_established(ic);
		break;
	case IDM_RDMA_EV_REJECTED:
		iser_conn_fail(ic, "the target rejected the RDMA connection");
		break;
	case IDM_RDMA_EV_ERROR:
		iser_conn_fail(ic, ic->connected ? "RDMA connection error"
		                                 : "no RDMA path to the portal (address, route or "
		                                   "connect error)");
		break;
	default:
		(void)iser_rconn_lost(rc, ev, "RDMA connection lost");
		break;
	}
}

static void cm_event(void *arg, uint32_t events)
{
	struct iser_rconn *rc = arg;
	struct idm_conn *c = rc->ic->c;
	struct idm_rdma_cm_event ev;

	(void)events;
	idm_conn_hold(c);
	while (!rc->ic->dead && idm_rdma_cm_next(&rc->cm, &ev) == 0) {
		cm_handle(rc, &ev);
	}
	idm_conn_release(c);
}

/* owner_connect: watch our CM channel and start resolving the portal. */
static int rconn_connect(void *owner, struct iser_conn *ic)
{
	struct iser_rconn *rc = owner;
	struct idm_conn *c = ic->c;
	int err = iser_rconn_watch_cm(rc, c->reactor, cm_event);

	if (err != 0) {
		return err;
	}
	return idm_rdma_resolve(&rc->cm, (struct sockaddr *)&c->peer_addr, ISER_INI_RESOLVE_MS, rc,
	                        &rc->id);
}

/* ini_conn_create: the engine's state and an event channel of our own. */
int iser_ini_conn_create(struct idm_conn *c, const struct sockaddr *peer, socklen_t len)
{
	struct iser_rconn *rc;
	struct iser_conn *ic;
	int err;

	if (len > sizeof(c->peer_addr)) {
		return -EINVAL;
	}
	rc = calloc(1, sizeof(*rc));
	ic = iser_conn_alloc(IDM_ROLE_INITIATOR);
	err = rc && ic ? idm_rdma_cm_open(&rc->cm) : -ENOMEM;
	if (err != 0) {
		free(rc);
		if (ic) {
			iser_conn_free(ic);
		}
		return err;
	}
	rc->ic = ic;
	ic->owner = rc;
	ic->owner_connect = rconn_connect;
	ic->owner_free = iser_rconn_free;
	memcpy(&c->peer_addr, peer, len);
	name_peer(c, peer, len);
	return iser_conn_bind(c, ic);
}

/* ini_propose: iSER's keys for a normal session; a discovery session does
 * not negotiate RDMAExtensions, but its Sends stay small. */
void iser_ini_propose(const struct idm_conn *c, struct idm_params *p)
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
