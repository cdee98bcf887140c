/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The clients' door to the transport ops: the target and the initiator
 * reach a transport only through these (and the task data calls in
 * task.c, the services in svc.c), never through its ops vector or its
 * private headers. Here the core also keeps the list of transports and
 * picks an initiator connection's transport, falling back from iSER to
 * TCP as the illumos IDM does (conn_is_capable, then connection setup).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "idm/core_priv.h"

static enum idm_hook_result key_hook(void *arg, const char *key, const char *value, char *answer,
                                     size_t cap)
{
	struct idm_conn *c = arg;

	return c->transport->ops->negotiate_key(c, key, value, answer, cap);
}

bool idm_conn_key_hook(struct idm_conn *c, struct idm_nego_hook *hook)
{
	if (c->transport->ops->negotiate_key == NULL) {
		return false;
	}
	*hook = (struct idm_nego_hook){.key = key_hook, .arg = c};
	return true;
}

void idm_conn_ini_propose(const struct idm_conn *c, struct idm_params *p)
{
	if (c->transport->ops->ini_propose) {
		c->transport->ops->ini_propose(c, p);
	}
}

/* ---- the transports, and an initiator's choice among them ---- */

static const struct idm_xport_slot xport_slots[] = {
#ifdef IDM_HAVE_RDMA
    {"iSER", true, &idm_iser_transport, NULL},
#else
    {"iSER", true, NULL, "the iSER transport is not available in this build (no rdma-core)"},
#endif
    {"TCP", false, &idm_tcp_transport, NULL},
};

const struct idm_xport_list idm_xports = {xport_slots,
                                          sizeof(xport_slots) / sizeof(xport_slots[0])};

static bool slot_wanted(const struct idm_xport_slot *sl, const struct idm_ini_xport *x)
{
	switch (x->choice) {
	case IDM_TRANSPORT_TCP:
		return !sl->rdma;
	case IDM_TRANSPORT_ISER:
		return sl->rdma;
	default:
		return !(sl->rdma && x->rdma_failed); /* failed a moment ago */
	}
}

static bool reaches(const struct idm_transport *tp, const struct sockaddr *peer, socklen_t len)
{
	return tp->ops->conn_is_capable == NULL || tp->ops->conn_is_capable(peer, len);
}

/* A connection over `tp` with its transport state, not yet connecting. */
static int ini_conn_new(const struct idm_transport *tp, const struct idm_ini_conn_req *req,
                        struct idm_conn **out)
{
	struct idm_conn *c;
	int rc;

	if (tp->ops->ini_conn_create == NULL) {
		return -ENOTSUP;
	}
	c = idm_conn_create(req->reactor, IDM_ROLE_INITIATOR, tp, req->client,
	                    req->client_task_size, req->max_tasks);
	if (c == NULL) {
		return -ENOMEM;
	}
	rc = tp->ops->ini_conn_create(c, req->peer, req->peer_len);
	if (rc != 0) {
		idm_conn_release(c); /* never connected: no event, no client call */
		return rc;
	}
	c->client_priv = req->client_priv;
	*out = c;
	return 0;
}

/*
 * Try slot `sl`: 0 and the connection started, 1 to go on to the next
 * slot (auto only; logged), or -errno with the reason in `err`.
 */
static int ini_try_slot(const struct idm_xport_slot *sl, struct idm_ini_xport *x,
                        const struct idm_ini_conn_req *req, struct idm_conn **out, char *err,
                        size_t errlen)
{
	bool autopick = x->choice == IDM_TRANSPORT_AUTO;
	const struct idm_transport *tp = sl->tp;
	int rc;

	if (tp == NULL) {
		if (!autopick) {
			snprintf(err, errlen, "%s", sl->why_missing);
			return -EPROTONOSUPPORT;
		}
		idm_log("transport", "transport auto: %s, falling back", sl->why_missing);
		return 1;
	}
	if (!reaches(tp, req->peer, req->peer_len)) {
		if (!autopick) {
			snprintf(err, errlen,
			         "transport %s cannot reach the portal (no RDMA device or no RDMA "
			         "route to it)",
			         tp->name);
			return -ENETUNREACH;
		}
		idm_log("transport", "transport auto: %s cannot reach the portal, falling back",
		        tp->name);
		return 1;
	}
	rc = ini_conn_new(tp, req, out);
	if (rc != 0 && autopick && sl->rdma) {
		idm_log("transport",
		        "transport auto: %s connection setup failed (%s), falling back", tp->name,
		        strerror(-rc));
		return 1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot create a %s connection: %s", tp->name, strerror(-rc));
		return rc;
	}
	x->tp = tp;
	if (autopick) {
		idm_log("transport", "transport auto: using %s", tp->name);
	}
	idm_conn_event(*out, IDM_CE_CONNECT_REQ); /* may end in CLEANUP at once */
	return 0;
}

int idm_ini_conn_create_from(const struct idm_xport_list *list, struct idm_ini_xport *x,
                             const struct idm_ini_conn_req *req, struct idm_conn **out, char *err,
                             size_t errlen)
{
	if (req->reactor == NULL || req->peer == NULL || req->client == NULL) {
		snprintf(err, errlen, "invalid connection request");
		return -EINVAL;
	}
	x->tp = NULL;
	for (unsigned i = 0; i < list->n; i++) {
		int rc;

		if (!slot_wanted(&list->slot[i], x)) {
			continue;
		}
		rc = ini_try_slot(&list->slot[i], x, req, out, err, errlen);
		if (rc <= 0) {
			return rc;
		}
	}
	snprintf(err, errlen, "no usable transport");
	return -EPROTONOSUPPORT;
}

int idm_ini_conn_create(struct idm_ini_xport *x, const struct idm_ini_conn_req *req,
                        struct idm_conn **out, char *err, size_t errlen)
{
	return idm_ini_conn_create_from(&idm_xports, x, req, out, err, errlen);
}

bool idm_ini_conn_fall_back(struct idm_ini_xport *x, bool reached_login, const char *why)
{
	if (x->choice != IDM_TRANSPORT_AUTO || x->rdma_failed || x->tp == NULL ||
	    !x->tp->caps->rdma || reached_login) {
		return false;
	}
	idm_log("transport", "transport auto: %s connection failed (%s), falling back", x->tp->name,
	        why && why[0] ? why : "no reason given");
	x->rdma_failed = true;
	return true;
}

void *idm_conn_buf_alloc(struct idm_conn *c, size_t len)
{
	return c->transport->ops->buf_alloc ? c->transport->ops->buf_alloc(c, len) : NULL;
}

bool idm_conn_buf_free(struct idm_conn *c, void *buf, size_t len)
{
	if (c->transport->ops->buf_free == NULL) {
		return false;
	}
	c->transport->ops->buf_free(c, buf, len);
	return true;
}
