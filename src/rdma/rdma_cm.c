/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RDMA connection manager (librdmacm): one non-blocking event
 * channel per reactor, listening and active ids, accept/connect with
 * private data and RDMA Read credits.
 */
#include "rdma/idm_rdma.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <rdma/rdma_cma.h>

/* librdmacm calls return -1 with errno set; turn that into -errno. */
static int cm_err(void)
{
	return errno ? -errno : -EIO;
}

int idm_rdma_cm_open(struct idm_rdma_cm *cm)
{
	int flags;

	if (!cm) {
		return -EINVAL;
	}
	cm->ch = rdma_create_event_channel();
	if (!cm->ch) {
		return cm_err();
	}
	flags = fcntl(cm->ch->fd, F_GETFL);
	if (flags < 0 || fcntl(cm->ch->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int rc = -errno;

		rdma_destroy_event_channel(cm->ch);
		cm->ch = NULL;
		return rc;
	}
	return 0;
}

void idm_rdma_cm_close(struct idm_rdma_cm *cm)
{
	if (cm && cm->ch) {
		rdma_destroy_event_channel(cm->ch);
		cm->ch = NULL;
	}
}

int idm_rdma_cm_fd(const struct idm_rdma_cm *cm)
{
	return cm && cm->ch ? cm->ch->fd : -EINVAL;
}

/* Our name for a librdmacm event type. */
static enum idm_rdma_ev map_event(enum rdma_cm_event_type t)
{
	switch (t) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		return IDM_RDMA_EV_ADDR_RESOLVED;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		return IDM_RDMA_EV_ROUTE_RESOLVED;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		return IDM_RDMA_EV_CONNECT_REQUEST;
	case RDMA_CM_EVENT_ESTABLISHED:
		return IDM_RDMA_EV_ESTABLISHED;
	case RDMA_CM_EVENT_REJECTED:
		return IDM_RDMA_EV_REJECTED;
	case RDMA_CM_EVENT_DISCONNECTED:
		return IDM_RDMA_EV_DISCONNECTED;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		return IDM_RDMA_EV_ERROR;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return IDM_RDMA_EV_DEVICE_REMOVAL;
	default:
		return IDM_RDMA_EV_OTHER;
	}
}

/* Copy what the caller needs out of a library event. */
static void copy_event(struct idm_rdma_cm_event *ev, const struct rdma_cm_event *e)
{
	const struct rdma_conn_param *cp = &e->param.conn;
	size_t n = cp->private_data ? cp->private_data_len : 0;

	memset(ev, 0, sizeof(*ev));
	ev->type = map_event(e->event);
	ev->id = e->id;
	ev->listen_id = e->listen_id;
	ev->context = e->id ? e->id->context : NULL;
	ev->status = e->status;
	ev->initiator_depth = cp->initiator_depth;
	ev->responder_resources = cp->responder_resources;
	if (n > IDM_RDMA_PRIV_MAX) {
		n = IDM_RDMA_PRIV_MAX;
	}
	if (n) {
		memcpy(ev->priv, cp->private_data, n);
	}
	ev->priv_len = (uint8_t)n;
}

int idm_rdma_cm_next(struct idm_rdma_cm *cm, struct idm_rdma_cm_event *ev)
{
	struct rdma_cm_event *e;

	if (!cm || !cm->ch || !ev) {
		return -EINVAL;
	}
	if (rdma_get_cm_event(cm->ch, &e) != 0) {
		return cm_err(); /* -EAGAIN when nothing is pending */
	}
	copy_event(ev, e);
	rdma_ack_cm_event(e);
	return 0;
}

int idm_rdma_listen(struct idm_rdma_cm *cm, const struct sockaddr *addr, int backlog, void *context,
                    struct rdma_cm_id **out)
{
	struct rdma_cm_id *id;
	int rc;

	if (!cm || !cm->ch || !addr || !out || backlog < 0) {
		return -EINVAL;
	}
	if (rdma_create_id(cm->ch, &id, context, RDMA_PS_TCP) != 0) {
		return cm_err();
	}
	if (rdma_bind_addr(id, (struct sockaddr *)addr) != 0 || rdma_listen(id, backlog) != 0) {
		rc = cm_err();
		rdma_destroy_id(id);
		return rc;
	}
	*out = id;
	return 0;
}

int idm_rdma_resolve(struct idm_rdma_cm *cm, const struct sockaddr *dst, int timeout_ms,
                     void *context, struct rdma_cm_id **out)
{
	struct rdma_cm_id *id;
	int rc;

	if (!cm || !cm->ch || !dst || !out || timeout_ms <= 0) {
		return -EINVAL;
	}
	if (rdma_create_id(cm->ch, &id, context, RDMA_PS_TCP) != 0) {
		return cm_err();
	}
	if (rdma_resolve_addr(id, NULL, (struct sockaddr *)dst, timeout_ms) != 0) {
		rc = cm_err();
		rdma_destroy_id(id);
		return rc;
	}
	*out = id;
	return 0;
}

int idm_rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	if (!id || timeout_ms <= 0) {
		return -EINVAL;
	}
	return rdma_resolve_route(id, timeout_ms) == 0 ? 0 : cm_err();
}

void idm_rdma_id_destroy(struct rdma_cm_id *id)
{
	if (id) {
		rdma_destroy_id(id);
	}
}

int idm_rdma_migrate(struct rdma_cm_id *id, struct idm_rdma_cm *cm)
{
	if (!id || !cm || !cm->ch) {
		return -EINVAL;
	}
	return rdma_migrate_id(id, cm->ch) == 0 ? 0 : cm_err();
}

const struct sockaddr *idm_rdma_peer_addr(struct rdma_cm_id *id)
{
	return id ? rdma_get_peer_addr(id) : NULL;
}

const struct sockaddr *idm_rdma_local_addr(struct rdma_cm_id *id)
{
	return id ? rdma_get_local_addr(id) : NULL;
}

struct ibv_context *idm_rdma_id_verbs(const struct rdma_cm_id *id)
{
	return id ? id->verbs : NULL;
}

int idm_rdma_reject(struct rdma_cm_id *id, const void *priv, uint8_t priv_len)
{
	if (!id || (priv_len && !priv) || priv_len > IDM_RDMA_PRIV_MAX) {
		return -EINVAL;
	}
	return rdma_reject(id, priv, priv_len) == 0 ? 0 : cm_err();
}

/* Fill the library's connection parameters; -EINVAL for bad input. */
static int conn_param(struct rdma_conn_param *cp, const struct idm_rdma_conn_param *p)
{
	if (!p || (p->priv_len && !p->priv) || p->priv_len > IDM_RDMA_PRIV_MAX ||
	    p->rnr_retry > 7) {
		return -EINVAL;
	}
	memset(cp, 0, sizeof(*cp));
	cp->private_data = p->priv;
	cp->private_data_len = p->priv_len;
	cp->responder_resources = p->responder_resources;
	cp->initiator_depth = p->initiator_depth;
	cp->retry_count = 7; /* transport retries: the RC maximum */
	cp->rnr_retry_count = p->rnr_retry;
	return 0;
}

int idm_rdma_accept(struct idm_rdma_conn *c, const struct idm_rdma_conn_param *p)
{
	struct rdma_conn_param cp;
	int rc;

	if (!c || !c->id || !c->qp) {
		return -EINVAL;
	}
	rc = conn_param(&cp, p);
	if (rc != 0) {
		return rc;
	}
	return rdma_accept(c->id, &cp) == 0 ? 0 : cm_err();
}

int idm_rdma_connect(struct idm_rdma_conn *c, const struct idm_rdma_conn_param *p)
{
	struct rdma_conn_param cp;
	int rc;

	if (!c || !c->id || !c->qp) {
		return -EINVAL;
	}
	rc = conn_param(&cp, p);
	if (rc != 0) {
		return rc;
	}
	return rdma_connect(c->id, &cp) == 0 ? 0 : cm_err();
}

int idm_rdma_disconnect(struct idm_rdma_conn *c)
{
	if (!c || !c->id) {
		return -EINVAL;
	}
	return rdma_disconnect(c->id) == 0 ? 0 : cm_err();
}
