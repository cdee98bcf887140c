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
#include <pthread.h>
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

/*
 * Create the service and bring it online on reactor 0. On failure the
 * reason in `why`: the transport's own phrase (svc->error), or `prefix`
 * and the errno's.
 */
static int svc_open(const struct idm_transport *tp, const struct idm_svc_req *req,
                    struct idm_svc **out, const char *prefix, char *why, size_t whylen)
{
	struct svc_impl *si;
	struct idm_svc *svc;
	int rc;

	if (tp == NULL || req == NULL || req->nreactors == 0 || req->reactors == NULL ||
	    req->client == NULL || req->max_tasks == 0) {
		snprintf(why, whylen, "invalid service request");
		return -EINVAL;
	}
	si = calloc(1, sizeof(*si));
	if (si == NULL) {
		snprintf(why, whylen, "out of memory");
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
		if (svc->error[0]) {
			snprintf(why, whylen, "%s", svc->error);
		} else {
			snprintf(why, whylen, "%s%s", prefix, strerror(-rc));
		}
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
		snprintf(why, whylen, "reactor unavailable");
		free(si);
		return rc;
	}
	*out = svc;
	return 0;
}

int idm_svc_create(const struct idm_transport *tp, const struct idm_svc_req *req,
                   struct idm_svc **out, char *err, size_t errlen)
{
	char why[160];
	int rc = svc_open(tp, req, out, "", why, sizeof(why));

	if (rc != 0) {
		snprintf(err, errlen, "%s portal: %s", tp ? tp->name : "?", why);
	}
	return rc;
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

/* ---- portals: every transport on one address and port ---- */

/*
 * Say why a transport cannot serve portals, once per reason: with no
 * RDMA device every portal would say the same.
 */
static void portal_say_unserved(const char *portal, const char *why)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char said[200];

	pthread_mutex_lock(&lock);
	if (strcmp(said, why) != 0) {
		snprintf(said, sizeof(said), "%s", why);
		idm_log("svc", "portal %s: TCP only (%s)", portal, why);
	}
	pthread_mutex_unlock(&lock);
}

/* Open the slot's service; the reason of a failure in `why`. */
static int portal_open_slot(const struct idm_xport_slot *sl, const struct idm_svc_req *req,
                            struct idm_svc **out, char *why, size_t whylen)
{
	char prefix[32];

	snprintf(prefix, sizeof(prefix), sl->rdma ? "%s disabled: " : "%s: ", sl->label);
	if (sl->tp == NULL) {
		snprintf(why, whylen, "%s%s", prefix, sl->why_missing);
		return -EPROTONOSUPPORT;
	}
	return svc_open(sl->tp, req, out, prefix, why, whylen);
}

/* "iSER and TCP": the transports serving `p`, in the list's order. */
static void portal_log_served(const struct idm_xport_list *list, const struct idm_portal *p)
{
	char labels[64] = "";
	size_t used = 0;

	for (unsigned k = 0; k < list->n && used < sizeof(labels); k++) {
		for (unsigned i = 0; i < p->nsvc; i++) {
			if (list->slot[k].tp != NULL && list->slot[k].tp == p->svc[i]->transport) {
				used +=
				    (size_t)snprintf(labels + used, sizeof(labels) - used, "%s%s",
				                     used ? " and " : "", list->slot[k].label);
				break;
			}
		}
	}
	idm_log("svc", "portal %s: %s", p->svc[0]->name, labels);
}

/* Pass 1 opens what must open (TCP), pass 2 what may (iSER). */
int idm_portal_open_from(const struct idm_xport_list *list, struct idm_portal *p,
                         const struct idm_svc_req *req, char *err, size_t errlen)
{
	char why[200];
	bool all = true;

	memset(p, 0, sizeof(*p));
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < list->n && p->nsvc < IDM_PORTAL_MAX_SVC; i++) {
			const struct idm_xport_slot *sl = &list->slot[i];
			int rc;

			if (sl->rdma != (pass == 1) ||
			    (req->portal_skip & (sl->rdma ? IDM_PORTAL_SKIP_RDMA : IDM_PORTAL_SKIP_TCP))) {
				continue;
			}
			rc = portal_open_slot(sl, req, &p->svc[p->nsvc], why, sizeof(why));
			if (rc == 0) {
				p->nsvc++;
			} else if (pass == 0 || (req->portal_skip & IDM_PORTAL_SKIP_TCP)) {
				/* the portal's required kind: TCP, or RDMA alone */
				snprintf(err, errlen, "%s", why);
				idm_portal_close(p);
				return rc;
			} else {
				all = false;
				portal_say_unserved(p->nsvc ? p->svc[0]->name : "?", why);
			}
		}
	}
	if (p->nsvc == 0) {
		snprintf(err, errlen, "no transport to serve the portal");
		return -EPROTONOSUPPORT;
	}
	if (all && p->nsvc > 1) {
		portal_log_served(list, p);
	}
	return 0;
}

int idm_portal_open(struct idm_portal *p, const struct idm_svc_req *req, char *err, size_t errlen)
{
	return idm_portal_open_from(&idm_xports, p, req, err, errlen);
}

void idm_portal_close(struct idm_portal *p)
{
	for (unsigned i = p->nsvc; i-- > 0;) {
		idm_svc_destroy(p->svc[i]);
		p->svc[i] = NULL;
	}
	p->nsvc = 0;
}

bool idm_portal_serves(const struct idm_portal *p, const char *name)
{
	for (unsigned i = 0; i < p->nsvc; i++) {
		if (strcmp(p->svc[i]->transport->name, name) == 0) {
			return true;
		}
	}
	return false;
}
