/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER transport, both roles: the ops vector, a connection's buffers
 * (receive and Send rings carved from registered regions, a target's in
 * two steps around login; the target's copy pool for small RDMA
 * transfers), login keys, the switch to the full feature phase, and
 * teardown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/iser/iser_ini.h"
#include "transport/iser/iser_priv.h"

/* ---- connections ---- */

void iser_conn_fail(struct iser_conn *ic, const char *why)
{
	if (ic->dead) {
		return;
	}
	IDM_LOG_CONN(ic->c, "iser: %s", why);
	idm_conn_event(ic->c, IDM_CE_TRANSPORT_FAIL);
}

static uint32_t round64(uint32_t v)
{
	return (v + 63u) & ~63u;
}

/* Allocate and register `len` bytes for ring buffers. */
static int region_make(struct iser_conn *ic, struct iser_region *r, size_t len)
{
	const struct iser_mem_ops *m = &ic->link.mem;
	uint32_t rkey;
	int rc;

	r->mem = m->alloc(m->ctx, len);
	if (r->mem == NULL) {
		return -ENOMEM;
	}
	r->len = len;
	rc = m->reg(m->ctx, r->mem, len, &r->handle, &r->lkey, &rkey);
	if (rc != 0) {
		m->free(m->ctx, r->mem, len);
		r->mem = NULL;
	}
	return rc;
}

static void region_drop(struct iser_conn *ic, struct iser_region *r)
{
	const struct iser_mem_ops *m = &ic->link.mem;

	if (r->mem) {
		m->dereg(m->ctx, r->handle);
		m->free(m->ctx, r->mem, r->len);
		r->mem = NULL;
	}
}

/*
 * Carve receives up to `nrx` and Sends up to `ntx` from a new region and
 * post the new receives. On error the carved ones stay (and go with the
 * connection); the connection fails.
 */
static int conn_grow(struct iser_conn *ic, struct iser_region *r, uint32_t nrx, uint32_t ntx)
{
	size_t len =
	    (size_t)(nrx - ic->rx_ready) * ic->rx_cap + (size_t)(ntx - ic->tx_ready) * ic->tx_cap;
	uint8_t *p;
	int rc = region_make(ic, r, len);

	if (rc != 0) {
		return rc;
	}
	p = r->mem;
	for (; ic->tx_ready < ntx; ic->tx_ready++, p += ic->tx_cap) {
		struct iser_tx_desc *d = &ic->tx[ic->tx_ready];

		*d =
		    (struct iser_tx_desc){.ic = ic, .buf = p, .lkey = r->lkey, .next = ic->tx_free};
		ic->tx_free = d;
	}
	for (; ic->rx_ready < nrx; ic->rx_ready++, p += ic->rx_cap) {
		struct iser_rx_desc *d = &ic->rx[ic->rx_ready];

		*d = (struct iser_rx_desc){.ic = ic, .buf = p, .cap = ic->rx_cap, .lkey = r->lkey};
		d->wr.done = iser_rx_done;
		rc = iser_post_recv(ic, d);
		if (rc != 0) {
			ic->rx_ready++;
			return rc;
		}
	}
	return 0;
}

static void conn_free_mem(struct iser_conn *ic)
{
	iser_ini_reg_drop_all(ic);
	if (ic->pool_ok) {
		iser_pool_destroy(&ic->pool);
	}
	region_drop(ic, &ic->region[0]);
	region_drop(ic, &ic->region[1]);
	free(ic->rx);
	free(ic->tx);
	free(ic);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * Descriptors for the whole task table; buffers for what comes before
 * login: on a target only a few (a connect request that never logs in
 * costs little), on an initiator all at once (the target may send
 * NOP-Ins and Async Messages as soon as login ends).
 */
static int conn_alloc(struct iser_conn *ic, uint32_t max_tasks)
{
	bool target = ic->role == IDM_ROLE_TARGET;

	ic->nrx = iser_conn_nrx(max_tasks);
	ic->ntx = iser_conn_ntx(max_tasks);
	ic->rx_cap = round64(ISER_CTRL_HDRS + ISER_MAX_CMD_AHS + ic->link.rdsl);
	ic->tx_cap = round64(ISER_CTRL_HDRS + ISER_TX_DATA_MAX);
	ic->rx = calloc(ic->nrx, sizeof(*ic->rx));
	ic->tx = calloc(ic->ntx, sizeof(*ic->tx));
	if (ic->rx == NULL || ic->tx == NULL) {
		return -ENOMEM;
	}
	return conn_grow(ic, &ic->region[0], target ? min_u32(ISER_LOGIN_RX, ic->nrx) : ic->nrx,
	                 target ? min_u32(ISER_LOGIN_TX, ic->ntx) : ic->ntx);
}

/*
 * Target, login done: the rest of the receives and Sends, and the copy
 * pool, sized by what the session needs: a discovery session carries no
 * SCSI command (the login rings serve its Text exchange), a copy
 * threshold that copies nothing needs no pool, and the pool holds no
 * more buffers than commands may be outstanding.
 */
static int conn_ffp_buffers(struct iser_conn *ic)
{
	struct idm_conn *c = ic->c;
	uint32_t pool_buf = min_u32(ic->link.copy_threshold, ISER_COPY_THRESHOLD_DEFAULT);
	int rc;

	if (ic->role != IDM_ROLE_TARGET || c->params.session_type == IDM_SESSION_DISCOVERY) {
		return 0;
	}
	rc = ic->rx_ready < ic->nrx || ic->tx_ready < ic->ntx
	         ? conn_grow(ic, &ic->region[1], ic->nrx, ic->ntx)
	         : 0;
	if (rc == 0 && pool_buf > 1 && !ic->pool_ok) {
		pool_buf = (pool_buf + 4095u) & ~4095u;
		rc = iser_pool_create(&ic->pool, &ic->link.mem,
		                      min_u32(ISER_POOL_BUFS, c->max_tasks), pool_buf);
		ic->pool_ok = rc == 0;
	}
	return rc;
}

struct iser_conn *iser_conn_alloc(enum idm_role role)
{
	struct iser_conn *ic = calloc(1, sizeof(*ic));

	if (ic == NULL) {
		return NULL;
	}
	ic->role = role;
	/* a target's Sends go once accepted; an initiator's once established */
	ic->connected = role == IDM_ROLE_TARGET;
	iser_key_state_init(&ic->keys, role, true, ISER_RDSL_DEFAULT);
	return ic;
}

int iser_conn_start(struct iser_conn *ic, const struct iser_link *link, uint32_t max_tasks)
{
	ic->link = *link;
	if (ic->link.rdsl < ISER_RDSL_DEFAULT) {
		ic->link.rdsl = ISER_RDSL_DEFAULT;
	}
	if (ic->link.copy_threshold == 0) {
		ic->link.copy_threshold = ISER_COPY_THRESHOLD_DEFAULT;
	}
	iser_key_state_init(&ic->keys, ic->role, true, ic->link.rdsl);
	/* the initiator issues no RDMA transfer: only a target gets a pool */
	return conn_alloc(ic, max_tasks);
}

int iser_conn_create(const struct iser_link *link, uint32_t max_tasks, struct iser_conn **out)
{
	struct iser_conn *ic = iser_conn_alloc(IDM_ROLE_TARGET);
	int rc;

	if (ic == NULL) {
		return -ENOMEM;
	}
	rc = iser_conn_start(ic, link, max_tasks);
	if (rc != 0) {
		iser_conn_free(ic);
		return rc;
	}
	*out = ic;
	return 0;
}

/* Free the buffers of a connection whose QP is gone (or never ran). */
void iser_conn_free(struct iser_conn *ic)
{
	conn_free_mem(ic);
}

int iser_conn_bind(struct idm_conn *c, struct iser_conn *ic)
{
	if (ic->rx != NULL && iser_conn_nrx(c->max_tasks) > ic->nrx) {
		return -EINVAL; /* more commands than receives to take them */
	}
	ic->c = c;
	c->transport_priv = ic;
	return 0;
}

void iser_conn_established(struct iser_conn *ic)
{
	ic->connected = true;
	idm_conn_event(ic->c, IDM_CE_CONNECT_DONE);
	if (!ic->dead) {
		iser_tx_pump(ic);
	}
}

/* Initiator: the owner starts reaching the peer (CONNECT_REQ). */
static int iser_conn_connect(struct idm_conn *c)
{
	struct iser_conn *ic = iser_conn_of(c);

	if (ic == NULL || ic->owner_connect == NULL) {
		return -ENOTCONN;
	}
	return ic->owner_connect(ic->owner, ic);
}

/* Stop I/O: the lower layer flushes what is posted; queued PDUs are dropped. */
static void iser_conn_disconnect(struct idm_conn *c)
{
	struct iser_conn *ic = iser_conn_of(c);

	if (ic == NULL || ic->dead) {
		return;
	}
	ic->dead = true;
	iser_tx_drop_all(ic, -ECONNRESET);
	if (ic->link.verbs) { /* an initiator may have no QP yet */
		ic->link.verbs->disconnect(ic->link.qp);
	}
}

static void iser_conn_destroy(struct idm_conn *c)
{
	struct iser_conn *ic = iser_conn_of(c);

	if (ic == NULL) {
		return;
	}
	iser_conn_disconnect(c);
	c->transport_priv = NULL;
	if (ic->owner_free) {
		ic->owner_free(ic->owner, ic); /* the QP first, the buffers, then the PD */
	} else {
		iser_conn_free(ic);
	}
}

static enum idm_hook_result iser_negotiate(struct idm_conn *c, const char *key, const char *value,
                                           char *answer, size_t cap)
{
	struct iser_conn *ic = iser_conn_of(c);

	if (ic == NULL) {
		return IDM_HOOK_FAIL;
	}
	if (ic->role == IDM_ROLE_INITIATOR && iser_ini_answer_ignorable(key, value)) {
		return IDM_HOOK_NOTED; /* the RFC 7145 default stands */
	}
	if (ic->role == IDM_ROLE_TARGET && strcmp(key, "MaxRecvDataSegmentLength") == 0) {
		uint64_t v;

		/* the iSER rules ignore it, but an initiator's receive buffers may
		 * follow it: it bounds what we Send (see enable_datamover) */
		if (idm_key_parse_number(value, &v) == 0 && v >= 512 && v <= ISER_RDSL_MAX) {
			ic->peer_mrdsl = (uint32_t)v;
		}
	}
	return iser_negotiate_key(&ic->keys, key, value, answer, cap);
}

/*
 * Login done. The receive buffers were posted at the size this side
 * declares (link.rdsl), so they already fit the negotiated receive
 * length and need no repost; a declaration above them (which the key
 * rules never accept) fails the connection.
 */
static int iser_enable_datamover(struct idm_conn *c)
{
	struct iser_conn *ic = iser_conn_of(c);
	uint32_t recv_dsl, xmit_dsl;

	if (ic == NULL || ic->dead) {
		return -ENOTCONN;
	}
	if (ic->role == IDM_ROLE_INITIATOR && !ic->keys.rdma_ext &&
	    c->params.session_type != IDM_SESSION_DISCOVERY) {
		IDM_LOG_CONN(c, "iser: the target did not accept RDMAExtensions=Yes");
		return -EPROTO;
	}
	recv_dsl = ic->role == IDM_ROLE_TARGET ? ic->keys.target_rdsl : ic->keys.initiator_rdsl;
	xmit_dsl = ic->role == IDM_ROLE_TARGET ? ic->keys.initiator_rdsl : ic->keys.target_rdsl;
	if (recv_dsl > ic->link.rdsl) {
		IDM_LOG_CONN(c, "iser: receive data segment length %u over %u", recv_dsl,
		             ic->link.rdsl);
		return -EMSGSIZE;
	}
	if (conn_ffp_buffers(ic) != 0) {
		IDM_LOG_CONN(c, "iser: no memory for the full feature phase buffers");
		return -ENOMEM;
	}
	c->params.rdma_extensions = ic->keys.rdma_ext;
	c->params.target_rdsl = ic->keys.target_rdsl;
	c->params.initiator_rdsl = ic->keys.initiator_rdsl;
	c->params.max_outstanding_unexpected_pdus = ic->keys.max_unexpected;
	c->params.header_digest = false;
	c->params.data_digest = false;
	/* what fits a receive here, and what a Send may carry to the peer */
	c->params.max_recv_dsl = ic->link.rdsl;
	c->params.max_xmit_dsl = min_u32(xmit_dsl, ISER_TX_DATA_MAX);
	if (ic->peer_mrdsl) {
		c->params.max_xmit_dsl = min_u32(c->params.max_xmit_dsl, ic->peer_mrdsl);
	}
	c->ffp = true;
	return 0;
}

/* One vector for both roles: target-only and initiator-only ops sit side by side. */
static const struct idm_transport_ops iser_ops = {
    .tx_pdu = iser_tx_pdu,
    .buf_tx_to_ini = iser_buf_tx_to_ini,
    .buf_rx_from_ini = iser_buf_rx_from_ini,
    .data_out_placed = iser_data_out_placed,
    .negotiate_key = iser_negotiate,
    .enable_datamover = iser_enable_datamover,
    .rx_flow = iser_rx_flow,
    .svc_create = iser_svc_create,
    .svc_online = iser_svc_online,
    .svc_offline = iser_svc_offline,
    .svc_destroy = iser_svc_destroy,
    .conn_is_capable = iser_ini_conn_is_capable,
    .ini_propose = iser_ini_propose,
    .buf_alloc = iser_ini_buf_alloc,
    .buf_free = iser_ini_buf_free,
    .ini_conn_create = iser_ini_conn_create,
    .conn_connect = iser_conn_connect,
    .conn_disconnect = iser_conn_disconnect,
    .conn_destroy = iser_conn_destroy,
};

static const struct idm_transport_caps iser_caps = {
    .data_in_status = false,
    .digests = false,
    .rdma = true,
    .max_rx_data = ISER_RDSL_DEFAULT, /* the receive buffers posted before login */
};

const struct idm_transport idm_iser_transport = {
    .name = "iser",
    .ops = &iser_ops,
    .caps = &iser_caps,
    .task_priv_size = sizeof(struct iser_task),
};
