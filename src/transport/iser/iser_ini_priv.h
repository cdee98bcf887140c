/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER initiator: one connection's state, shared by iser_ini.c (connection
 * manager, queue pair, buffers, registrations) and iser_ini_io.c (Sends,
 * receives).
 */
#ifndef IDM_ISER_INI_PRIV_H
#define IDM_ISER_INI_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "idm/core_priv.h"
#include "rdma/idm_rdma.h"
#include "transport/iser/iser_ini.h"
#include "transport/iser/iser_keys.h"

/* iSER header + BHS: where a PDU's AHS (then data) starts in a message. */
#define ISER_INI_HDRS (ISER_HDR_LEN + IDM_BHS_LEN)
/* AHS a target PDU may carry (none are defined for responses; be lenient). */
#define ISER_INI_MAX_AHS 256u

struct iser_ini_conn;

/* A posted receive buffer. */
struct iser_ini_rx {
	struct idm_rdma_wr wr;
	struct iser_ini_conn *ic;
	uint8_t *buf;
};

/* A Send buffer: iSER header + BHS + AHS + data. */
struct iser_ini_tx {
	struct idm_rdma_wr wr;
	struct iser_ini_conn *ic;
	uint8_t *buf;
	struct idm_pdu *pdu;
	struct iser_ini_tx *next;
};

/*
 * A registered task buffer. `owned` ones came from buf_alloc and live until
 * buf_free (registered once, used by every I/O); the others were registered
 * for one command whose buffer was not ours and go with its response.
 */
struct iser_ini_reg {
	uint8_t *addr;
	size_t len;
	struct ibv_mr *mr;
	bool owned;
	uint32_t itt; /* the command of a one-off registration */
	struct iser_ini_reg *next;
};

struct iser_ini_conn {
	struct idm_conn *c;
	bool dead;
	bool connected;
	/* connection manager: an event channel of our own, on the reactor */
	struct idm_rdma_cm cm;
	struct rdma_cm_id *id; /* owned here until the QP exists (then rc.id) */
	struct idm_event_handler cm_ev, cq_ev;
	bool cm_watched, cq_watched;
	socklen_t peer_len;
	/* verbs objects */
	struct idm_rdma_dev dev;
	struct idm_rdma_conn rc;
	/* login keys */
	struct iser_key_state keys;
	/* one registered region for every receive and Send buffer */
	uint8_t *region;
	size_t region_len;
	struct ibv_mr *region_mr;
	uint32_t lkey;
	struct iser_ini_rx *rx;
	uint32_t nrx, rx_cap;
	struct iser_ini_tx *tx;
	uint32_t ntx, tx_cap;
	struct iser_ini_tx *tx_free;
	struct idm_pdu_fifo txq;             /* waiting for a Send buffer */
	struct idm_rx intake;                /* the PDU being handled */
	/* task buffers */
	struct iser_ini_reg *regs;
};

static inline struct iser_ini_conn *iser_ini_of(const struct idm_conn *c)
{
	return c->transport_priv;
}

/* iser_ini.c */
void iser_ini_fail(struct iser_ini_conn *ic, const char *why);
/* The registration covering [addr, addr+len), or NULL. */
struct iser_ini_reg *iser_ini_reg_find(struct iser_ini_conn *ic, const void *addr, size_t len);
/* Register a command's buffer for that command only. */
struct iser_ini_reg *iser_ini_reg_once(struct iser_ini_conn *ic, void *addr, size_t len,
                                       uint32_t itt);
/* The command `itt` ended: drop its one-off registration, if any. */
void iser_ini_reg_end(struct iser_ini_conn *ic, uint32_t itt);

/* iser_ini_io.c */
int iser_ini_post_recv(struct iser_ini_conn *ic, struct iser_ini_rx *d);
void iser_ini_rx_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len);
void iser_ini_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu);
/* Send what queued while connecting or while every Send buffer was busy. */
void iser_ini_tx_pump(struct iser_ini_conn *ic);
void iser_ini_tx_drop_all(struct iser_ini_conn *ic, int status);

#endif
