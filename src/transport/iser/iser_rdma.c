/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iSER engine over rdma-core, for both roles: the verbs vector on a
 * struct idm_rdma_conn, and one connection's objects, their reactor
 * handlers and their teardown in the order the device needs.
 */
#include "transport/iser/iser_rdma.h"

#include <stdlib.h>
#include <sys/epoll.h>

/* ---- the verbs vector over src/rdma ---- */

static int rv_post_recv(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *sge)
{
	return idm_rdma_post_recv(qp, wr, sge);
}

static int rv_post_send(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *sge,
                        unsigned nsge)
{
	return idm_rdma_post_send(qp, wr, sge, nsge, true);
}

static int rv_post_write(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *local,
                         uint64_t va, uint32_t rkey)
{
	return idm_rdma_post_write(qp, wr, local, va, rkey, true);
}

static int rv_post_read(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *local,
                        uint64_t va, uint32_t rkey)
{
	return idm_rdma_post_read(qp, wr, local, va, rkey);
}

static void rv_disconnect(void *qp)
{
	struct idm_rdma_conn *rc = qp;

	if (rc->id) {
		idm_rdma_disconnect(rc); /* the QP goes to error: everything flushes */
	}
}

const struct iser_verbs iser_rdma_verbs = {
    .post_recv = rv_post_recv,
    .post_send = rv_post_send,
    .post_write = rv_post_write,
    .post_read = rv_post_read,
    .disconnect = rv_disconnect,
};

/* ---- one connection's objects ---- */

int iser_rconn_make_qp(struct iser_rconn *rc, struct rdma_cm_id *id,
                       const struct idm_rdma_qp_caps *caps)
{
	int err = idm_rdma_dev_open(&rc->dev, idm_rdma_id_verbs(id));

	if (err != 0) {
		return err;
	}
	return idm_rdma_conn_create(&rc->rc, id, rc->dev.pd, caps);
}

void iser_rconn_link(struct iser_rconn *rc, struct iser_link *link)
{
	link->verbs = &iser_rdma_verbs;
	link->qp = &rc->rc;
	rc->mem = (struct iser_rdma_mem){.pd = rc->dev.pd, .remote = false};
	rc->adv = (struct iser_rdma_mem){.pd = rc->dev.pd, .remote = true};
	iser_mem_ops_rdma(&link->mem, &rc->mem);
	iser_mem_ops_rdma(&link->adv_mem, &rc->adv);
}

static void rconn_cq_event(void *arg, uint32_t events)
{
	struct iser_rconn *rc = arg;
	struct iser_conn *ic = rc->ic;
	struct idm_conn *c = ic->c;

	(void)events;
	idm_conn_hold(c);
	if (idm_rdma_cq_event(&rc->rc) != 0) {
		iser_conn_fail(ic, "completion queue error");
	}
	idm_conn_release(c);
}

int iser_rconn_watch_cm(struct iser_rconn *rc, struct idm_reactor *r,
                        void (*fn)(void *arg, uint32_t events))
{
	int err;

	rc->reactor = r;
	rc->cm_ev = (struct idm_event_handler){.fd = idm_rdma_cm_fd(&rc->cm), .fn = fn, .arg = rc};
	err = idm_reactor_add(r, &rc->cm_ev, EPOLLIN);
	rc->cm_watched = err == 0;
	return err;
}

int iser_rconn_watch_cq(struct iser_rconn *rc)
{
	int err;

	rc->cq_ev = (struct idm_event_handler){
	    .fd = idm_rdma_cq_fd(&rc->rc), .fn = rconn_cq_event, .arg = rc};
	err = idm_reactor_add(rc->reactor, &rc->cq_ev, EPOLLIN);
	rc->cq_watched = err == 0;
	return err;
}

bool iser_rconn_lost(struct iser_rconn *rc, const struct idm_rdma_cm_event *ev, const char *why)
{
	struct iser_conn *ic = rc->ic;

	switch (ev->type) {
	case IDM_RDMA_EV_DISCONNECTED:
		if (!ic->dead) {
			/* what the peer sent before it disconnected goes first */
			(void)idm_rdma_drain(&rc->rc);
		}
		break;
	case IDM_RDMA_EV_ERROR:
	case IDM_RDMA_EV_REJECTED:
	case IDM_RDMA_EV_DEVICE_REMOVAL:
		break;
	default:
		return false;
	}
	iser_conn_fail(ic, why);
	return true;
}

static void rconn_unwatch(struct iser_rconn *rc)
{
	if (rc->cq_watched) {
		idm_reactor_del(rc->reactor, &rc->cq_ev);
		rc->cq_watched = false;
	}
	if (rc->cm_watched) {
		idm_reactor_del(rc->reactor, &rc->cm_ev);
		rc->cm_watched = false;
	}
}

void iser_rconn_free(void *owner, struct iser_conn *ic)
{
	struct iser_rconn *rc = owner;

	rconn_unwatch(rc);
	idm_rdma_conn_destroy(&rc->rc);
	idm_rdma_id_destroy(rc->id);
	if (ic) {
		iser_conn_free(ic);
	}
	idm_rdma_dev_close(&rc->dev);
	if (rc->cm.ch) {
		idm_rdma_cm_close(&rc->cm);
	}
	free(rc);
}
