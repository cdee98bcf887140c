/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Listening services (portals). The listener lives on reactor 0; each
 * accepted connection goes to the next reactor round-robin and is
 * created there, so the connection is owned by one thread from birth.
 *
 * A service may be created and destroyed from any thread: what touches
 * reactor 0's epoll set is sent to reactor 0. In-flight hand-offs hold a
 * reference, so the service outlives them.
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/core_priv.h"

struct svc_impl {
	struct idm_svc pub;
	atomic_uint refs;
};

/* One accepted connection on its way to its reactor. */
struct svc_handoff {
	struct idm_svc *svc;
	void *transport_conn;
	int (*adopt)(struct idm_conn *c, void *transport_conn);
	void (*drop)(void *transport_conn);
};

static void svc_hold(struct idm_svc *svc)
{
	atomic_fetch_add(&((struct svc_impl *)svc)->refs, 1);
}

static void svc_release(struct idm_svc *svc)
{
	if (atomic_fetch_sub(&((struct svc_impl *)svc)->refs, 1) == 1) {
		svc->magic = 0;
		free(svc);
	}
}

static void svc_format_name(struct idm_svc *svc)
{
	char host[64] = "?", port[16] = "?";
	const struct sockaddr *sa = (const struct sockaddr *)&svc->req.addr;

	getnameinfo(sa, svc->req.addrlen, host, sizeof(host), port, sizeof(port),
	            NI_NUMERICHOST | NI_NUMERICSERV);
	if (sa->sa_family == AF_INET6) {
		snprintf(svc->name, sizeof(svc->name), "[%s]:%s", host, port);
	} else {
		snprintf(svc->name, sizeof(svc->name), "%s:%s", host, port);
	}
}

static void svc_online_on_reactor(void *arg)
{
	struct idm_svc *svc = arg;

	if (svc->transport->ops->svc_online && svc->transport->ops->svc_online(svc) != 0) {
		idm_log("svc", "%s: cannot watch the listener", svc->name);
	}
	svc_release(svc);
}

static bool on_reactor0(const struct idm_svc *svc)
{
	return idm_reactor_self() == svc->req.reactors[0];
}

int idm_svc_create(const struct idm_transport *tp, const struct idm_svc_req *req,
                   struct idm_svc **out, char *err, size_t errlen)
{
	struct svc_impl *si;
	struct idm_svc *svc;
	int rc;

	if (tp == NULL || req == NULL || req->nreactors == 0 || req->reactors == NULL ||
	    req->client == NULL || req->max_tasks == 0) {
		snprintf(err, errlen, "invalid service request");
		return -EINVAL;
	}
	si = calloc(1, sizeof(*si));
	if (si == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&si->refs, 1);
	svc = &si->pub;
	svc->magic = IDM_SVC_MAGIC;
	svc->transport = tp;
	svc->req = *req;
	svc_format_name(svc);
	rc = tp->ops->svc_create ? tp->ops->svc_create(svc) : -ENOTSUP;
	if (rc != 0) {
		snprintf(err, errlen, "%s portal %s: %s", tp->name, svc->name, strerror(-rc));
		free(si);
		return rc;
	}
	svc_hold(svc);
	if (on_reactor0(svc)) {
		svc_online_on_reactor(svc);
	} else if ((rc = idm_reactor_send(req->reactors[0], svc_online_on_reactor, svc)) != 0) {
		svc_release(svc);
		if (tp->ops->svc_destroy) {
			tp->ops->svc_destroy(svc);
		}
		snprintf(err, errlen, "%s portal %s: reactor unavailable", tp->name, svc->name);
		free(si);
		return rc;
	}
	*out = svc;
	return 0;
}

static void svc_destroy_on_reactor(void *arg)
{
	struct idm_svc *svc = arg;

	if (svc->transport->ops->svc_offline) {
		svc->transport->ops->svc_offline(svc);
	}
	if (svc->transport->ops->svc_destroy) {
		svc->transport->ops->svc_destroy(svc);
	}
	svc_release(svc);
}

void idm_svc_destroy(struct idm_svc *svc)
{
	if (svc == NULL) {
		return;
	}
	if (on_reactor0(svc) ||
	    idm_reactor_send(svc->req.reactors[0], svc_destroy_on_reactor, svc) != 0) {
		svc_destroy_on_reactor(svc);
	}
}

/* On the chosen reactor: create the connection and let the transport bind it. */
static void svc_handoff_run(void *arg)
{
	struct svc_handoff *h = arg;
	struct idm_svc *svc = h->svc;
	const struct idm_svc_req *req = &svc->req;
	struct idm_conn *c;

	c = idm_conn_create(idm_reactor_self(), IDM_ROLE_TARGET, svc->transport, req->client,
	                    req->client_task_size, req->max_tasks);
	if (c == NULL) {
		h->drop(h->transport_conn);
		goto out;
	}
	c->svc = svc;
	if (h->adopt(c, h->transport_conn) != 0) {
		h->drop(h->transport_conn);
		idm_conn_close(c);
		goto out;
	}
	idm_conn_hold(c);
	if (req->accepted) {
		req->accepted(svc, c);
	}
	if (c->state == IDM_CONN_FREE) {
		idm_conn_event(c, IDM_CE_ACCEPTED);
	}
	idm_conn_release(c);
out:
	svc_release(svc);
	free(h);
}

int idm_svc_dispatch(struct idm_svc *svc, void *transport_conn,
                     int (*adopt)(struct idm_conn *c, void *transport_conn),
                     void (*drop)(void *transport_conn))
{
	struct idm_reactor *r = svc->req.reactors[svc->next_reactor % svc->req.nreactors];
	struct svc_handoff *h = malloc(sizeof(*h));
	int rc;

	svc->next_reactor++;
	if (h == NULL) {
		drop(transport_conn);
		return -ENOMEM;
	}
	*h = (struct svc_handoff){svc, transport_conn, adopt, drop};
	svc_hold(svc);
	if (r == idm_reactor_self()) {
		svc_handoff_run(h);
		return 0;
	}
	rc = idm_reactor_send(r, svc_handoff_run, h);
	if (rc != 0) {
		drop(transport_conn);
		svc_release(svc);
		free(h);
	}
	return rc;
}
