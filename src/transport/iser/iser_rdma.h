/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One iSER connection's rdma-core objects, for either role: protection
 * domain, queue pair and completion channel, the CM id's event channel,
 * the memory contexts the engine registers through, and the reactor
 * handlers that feed completions and CM events to the engine
 * (struct iser_conn). The target's listener (iser_cm.c) and the
 * initiator's connect path (iser_ini.c) fill one each.
 */
#ifndef IDM_ISER_RDMA_H
#define IDM_ISER_RDMA_H

#include "transport/iser/iser_mem.h"
#include "transport/iser/iser_priv.h"

struct iser_rconn {
	struct idm_rdma_dev dev;
	struct idm_rdma_conn rc;
	struct idm_rdma_cm cm;    /* the id's own channel */
	struct rdma_cm_id *id;    /* initiator: owned here until the QP exists */
	struct iser_rdma_mem mem; /* rings and pool: local access */
	struct iser_rdma_mem adv; /* buffers the peer reaches (initiator) */
	struct iser_conn *ic;
	struct idm_reactor *reactor;
	struct idm_event_handler cq_ev, cm_ev;
	bool cq_watched, cm_watched;
};

/* Posting work requests on a struct idm_rdma_conn. */
extern const struct iser_verbs iser_rdma_verbs;

/* PD and QP for `id` (takes the id into rc.rc). 0 / -errno. */
int iser_rconn_make_qp(struct iser_rconn *rc, struct rdma_cm_id *id,
                       const struct idm_rdma_qp_caps *caps);
/* The link over this connection's QP and PD. */
void iser_rconn_link(struct iser_rconn *rc, struct iser_link *link);
/* Watch the CM channel with `fn` on `r`. 0 / -errno. */
int iser_rconn_watch_cm(struct iser_rconn *rc, struct idm_reactor *r,
                        void (*fn)(void *arg, uint32_t events));
/* Watch the completion channel on the CM channel's reactor. 0 / -errno. */
int iser_rconn_watch_cq(struct iser_rconn *rc);
/*
 * A CM event that ends the connection (disconnect, error, reject, device
 * removal): what the peer sent before a disconnect is handled first, then
 * the connection fails with `why`. False for any other event.
 */
bool iser_rconn_lost(struct iser_rconn *rc, const struct idm_rdma_cm_event *ev, const char *why);
/* owner_free: QP, CQ and id first, then the buffers (their MRs), then PD and channel. */
void iser_rconn_free(void *owner, struct iser_conn *ic);

#endif
