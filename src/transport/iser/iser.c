/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER transport, both roles: the ops vector, a connection's buffers (one
 * registered region for every receive and Send buffer; the target's copy
 * pool for small RDMA transfers), login keys, the switch to the full
 * feature phase, and teardown.
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

/* One region for all receive and Send buffers, registered once. */
static int conn_region(struct iser_conn *ic)
{
	const struct iser_mem_ops *m = &ic->link.mem;
	uint32_t rkey;
	int rc;

	ic->region_len = (size_t)ic->nrx * ic->rx_cap + (size_t)ic->ntx * ic->tx_cap;
	ic->region = m->alloc(m->ctx, ic->region_len);
	if (ic->region == NULL) {
		return -ENOMEM;
	}
	rc =
	    m->reg(m->ctx, ic->region, ic->region_len, &ic->region_handle, &ic->region_lkey, &rkey);
	if (rc != 0) {
		m->free(m->ctx, ic->region, ic->region_len);
		ic->region = NULL;
	}
	return rc;
}

static void conn_carve(struct iser_conn *ic)
{
	uint8_t *p = ic->region;

	for (uint32_t i = 0; i < ic->nrx; i++, p += ic->rx_cap) {
		ic->rx[i] = (struct iser_rx_desc){.ic = ic, .buf = p, .cap = ic->rx_cap};
		ic->rx[i].wr.done = iser_rx_done;
	}
	for (uint32_t i = 0; i < ic->ntx; i++, p += ic->tx_cap) {
		ic->tx[i] = (struct iser_tx_desc){.ic = ic, .buf = p, .next = ic->tx_free};
		ic->tx_free = &ic->tx[i];
	}
}

static void conn_free_mem(struct iser_conn *ic)
{
	const struct iser_mem_ops *m = &ic->link.mem;

	iser_ini_reg_drop_all(ic);
	if (ic->pool_ok) {
		iser_pool_destroy(&ic->pool);
	}
	if (ic->region) {
		m->dereg(m->ctx, ic->region_handle);
		m->free(m->ctx, ic->region, ic->region_len);
	}
	free(ic->rx);
	free(ic->tx);
	free(ic);
}

static int conn_alloc(struct iser_conn *ic, uint32_t max_tasks)
{
	ic->nrx = iser_conn_nrx(max_tasks);
	ic->ntx = iser_conn_ntx(max_tasks);
	ic->rx_cap = round64(ISER_CTRL_HDRS + ISER_MAX_CMD_AHS + ic->link.rdsl);
	ic->tx_cap = round64(ISER_CTRL_HDRS + ISER_TX_DATA_MAX);
	ic->rx = calloc(ic->nrx, sizeof(*ic->rx));
	ic->tx = calloc(ic->ntx, sizeof(*ic->tx));
	if (ic->rx == NULL || ic->tx == NULL) {
		return -ENOMEM;
	}
	return conn_region(ic);
}

static int conn_post_all(struct iser_conn *ic)
{
	for (uint32_t i = 0; i < ic->nrx; i++) {
		int rc = iser_post_recv(ic, &ic->rx[i]);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
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
	int rc;

	ic->link = *link;
	if (ic->link.rdsl < ISER_RDSL_DEFAULT) {
		ic->link.rdsl = ISER_RDSL_DEFAULT;
	}
	if (ic->link.copy_threshold == 0) {
		ic->link.copy_threshold = ISER_COPY_THRESHOLD_DEFAULT;
	}
	iser_key_state_init(&ic->keys, ic->role, true, ic->link.rdsl);
	rc = conn_alloc(ic, max_tasks);
	if (rc != 0) {
		return rc;
	}
	conn_carve(ic);
	if (ic->role == IDM_ROLE_TARGET) {
		/* the initiator issues no RDMA transfer: it needs no pool */
		rc = iser_pool_create(&ic->pool, &ic->link.mem, ISER_POOL_BUFS,
		                      ISER_COPY_THRESHOLD_DEFAULT);
		ic->pool_ok = rc == 0;
	}
	return rc == 0 ? conn_post_all(ic) : rc;
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

static uint32_t iser_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
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
	c->params.rdma_extensions = ic->keys.rdma_ext;
	c->params.target_rdsl = ic->keys.target_rdsl;
	c->params.initiator_rdsl = ic->keys.initiator_rdsl;
	c->params.max_outstanding_unexpected_pdus = ic->keys.max_unexpected;
	c->params.header_digest = false;
	c->params.data_digest = false;
	/* what fits a receive here, and what a Send may carry to the peer */
	c->params.max_recv_dsl = ic->link.rdsl;
	c->params.max_xmit_dsl = iser_min(xmit_dsl, ISER_TX_DATA_MAX);
	if (ic->peer_mrdsl) {
		c->params.max_xmit_dsl = iser_min(c->params.max_xmit_dsl, ic->peer_mrdsl);
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
