/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI Extensions for RDMA (RFC 7145), both roles: state shared by the
 * files of the transport. One connection object, one set of receive and
 * Send rings in registered regions, one Send queue and one completion
 * path serve the target and the initiator; the roles differ only where
 * the protocol makes them:
 *   iser.c       ops vector, connection buffers, login keys, teardown
 *   iser_rx.c    receive completions: Hello (target), control PDUs
 *   iser_tx.c    Sends (the initiator's advertise its STags), and the
 *                target's RDMA Write (read data) / RDMA Read (write data)
 *   iser_flow.c  receives parked while the core stops input
 *   iser_rdma.c  the verbs vector and a connection's objects over src/rdma
 *   iser_cm.c    target: the RDMA CM listener and connection adoption
 *   iser_ini.c   initiator: the CM connect path, its buffer registrations
 *
 * Work requests go through a small vector (struct iser_verbs) so the
 * protocol engine of either role can be driven without a device: src/rdma
 * supplies the real one, the unit tests an in-process loopback.
 */
#ifndef IDM_ISER_PRIV_H
#define IDM_ISER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "idm/core_priv.h"
#include "rdma/idm_rdma.h"
#include "transport/iser/iser_buf.h"
#include "transport/iser/iser_keys.h"
#include "transport/iser/iser_wire.h"

/* iSER header + BHS: where a control PDU's AHS (then data) starts. */
#define ISER_CTRL_HDRS (ISER_HDR_LEN + IDM_BHS_LEN)
/* Largest AHS we take on a SCSI Command (extended CDB + bidi), as TCP. */
#define ISER_MAX_CMD_AHS 264
/* Receives beyond the task table for PDUs that carry no task (NOP, TMF...). */
#define ISER_RX_UNEXPECTED 16
/* Data a Send carries (login/text keys, NOP data, sense): the login default. */
#define ISER_TX_DATA_MAX 8192u
/* Pool buffers for copied RDMA transfers, per connection (at most). */
#define ISER_POOL_BUFS 16
/*
 * Receives and Sends a target posts before login: Login PDUs go one at a
 * time (a Hello, a Reject or a Text exchange of a discovery session
 * besides). The rest, and the copy pool, come once login succeeded.
 */
#define ISER_LOGIN_RX 4u
#define ISER_LOGIN_TX 4u

/* Posting work requests: all signaled. 0 / -errno. */
struct iser_verbs {
	int (*post_recv)(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *sge);
	int (*post_send)(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *sge,
	                 unsigned nsge);
	int (*post_write)(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *local,
	                  uint64_t remote_va, uint32_t rkey);
	int (*post_read)(void *qp, struct idm_rdma_wr *wr, const struct idm_rdma_sge *local,
	                 uint64_t remote_va, uint32_t rkey);
	/* Stop the connection: every posted request completes, flushed. */
	void (*disconnect)(void *qp);
};

/* Everything a connection needs from below; the owner keeps it alive. */
struct iser_link {
	const struct iser_verbs *verbs;
	void *qp;                /* first argument of the verbs */
	struct iser_mem_ops mem; /* memory + registration */
	/* initiator: registers the task buffers it advertises (remote access) */
	struct iser_mem_ops adv_mem;
	uint32_t copy_threshold; /* 0: ISER_COPY_THRESHOLD_DEFAULT */
	uint32_t rdsl;           /* data bytes one receive holds (>= 8192) */
	uint8_t ord;             /* RDMA Reads we may have outstanding */
};

struct iser_conn;

/* Memory for receive and Send buffers, registered once. */
struct iser_region {
	void *mem;
	size_t len;
	void *handle;
	uint32_t lkey;
};

/* A posted receive: iSER header + BHS + AHS + data segment. */
struct iser_rx_desc {
	struct idm_rdma_wr wr;
	struct iser_conn *ic;
	uint8_t *buf;
	uint32_t cap;
	uint32_t lkey; /* of the region it was carved from */
	/* completed while input was stopped (iser_flow.c) */
	struct iser_rx_desc *parked_next;
	uint32_t parked_len;
};

/* A Send buffer (pre-registered): iSER header + BHS + data, or a HelloReply. */
struct iser_tx_desc {
	struct idm_rdma_wr wr;
	struct iser_conn *ic;
	uint8_t *buf;
	uint32_t lkey;
	struct idm_pdu *pdu; /* NULL for a HelloReply */
	struct iser_tx_desc *next;
};

/*
 * Initiator: a registered task buffer. `owned` ones came from buf_alloc
 * and live until buf_free (registered once, used by every I/O); the others
 * were registered for one command whose buffer was not ours and go with
 * its response.
 */
struct iser_ini_reg {
	uint8_t *addr;
	size_t len;
	void *handle;
	uint32_t rkey;
	bool owned;
	uint32_t itt; /* the command of a one-off registration */
	struct iser_ini_reg *next;
};

/* Target: per-task transport state, the initiator's buffers and one RDMA transfer. */
struct iser_task {
	struct idm_rdma_wr wr;
	struct iser_conn *ic;
	struct idm_task *t;
	struct iser_hdr hdr;        /* STags/VAs from the command's iSER header */
	bool busy;                  /* an RDMA Write or Read is in flight */
	bool status_follows;        /* a Write whose SCSI Response was queued */
	uint32_t off, len;          /* the transfer, in t->data */
	struct iser_pool_buf *pbuf; /* copy path */
	void *mr;                   /* register path */
	bool reading;               /* buf_rx_from_ini in progress */
	bool read_done;             /* ... its RDMA Read completed */
	uint32_t rx_wanted;         /* ... and how much it wants */
};

struct iser_conn {
	struct idm_conn *c;
	enum idm_role role;
	struct iser_link link; /* verbs NULL until the QP exists (initiator) */
	bool dead;
	bool connected; /* Sends may be posted (initiator: once established) */
	/* lower-layer owner (CM / verbs objects), freed with the connection */
	void *owner;
	/* initiator: start reaching the peer; it ends in iser_conn_established */
	int (*owner_connect)(void *owner, struct iser_conn *ic);
	/* destroys the QP, then calls iser_conn_free(ic), then frees the rest */
	void (*owner_free)(void *owner, struct iser_conn *ic);
	/* login keys */
	struct iser_key_state keys;
	uint32_t peer_mrdsl; /* MaxRecvDataSegmentLength the initiator declared */
	/* initiator: registered task buffers */
	struct iser_ini_reg *regs;
	/* receive: nrx descriptors, the first rx_ready of them carved and posted */
	struct iser_rx_desc *rx;
	uint32_t nrx, rx_ready;
	uint32_t rx_cap;      /* bytes per receive buffer */
	struct idm_rx intake; /* the PDU being handled */
	/* send */
	struct iser_tx_desc *tx;
	uint32_t ntx, tx_ready;
	uint32_t tx_cap;
	struct iser_tx_desc *tx_free;
	struct idm_pdu_fifo txq; /* waiting for a free Send buffer */
	/* the receive and Send buffers: before login, and those added after it */
	struct iser_region region[2];
	/* target: copy pool for RDMA Write / Read below the threshold */
	struct iser_pool pool;
	bool pool_ok;
	uint32_t inflight; /* work requests not yet completed */
	/* input stopped by the core: completed receives wait here (iser_flow.c) */
	struct iser_rx_desc *rx_parked, *rx_parked_tail;
	bool rx_replaying;
	struct idm_deferred rx_resume;
};

static inline struct iser_conn *iser_conn_of(const struct idm_conn *c)
{
	return c->transport_priv;
}

/* iser.c */
void iser_conn_fail(struct iser_conn *ic, const char *why);
/* Receives and Sends per connection, for sizing the queue pair. */
static inline uint32_t iser_conn_nrx(uint32_t max_tasks)
{
	return max_tasks + ISER_RX_UNEXPECTED;
}

static inline uint32_t iser_conn_ntx(uint32_t max_tasks)
{
	return max_tasks + ISER_RX_UNEXPECTED;
}

/* A connection of `role` without buffers yet (no QP). NULL: no memory. */
struct iser_conn *iser_conn_alloc(enum idm_role role);
/*
 * The QP exists: take `link`, allocate and register the buffers and post
 * every receive (target: before accepting; initiator: before connecting).
 * On error the caller frees the connection (iser_conn_free).
 */
int iser_conn_start(struct iser_conn *ic, const struct iser_link *link, uint32_t max_tasks);
/* Target: alloc + start. On error nothing is left. */
int iser_conn_create(const struct iser_link *link, uint32_t max_tasks, struct iser_conn **out);
/* Join it to its idm connection (on the connection's reactor). */
int iser_conn_bind(struct idm_conn *c, struct iser_conn *ic);
/* Initiator: the RDMA connection is up: CONNECT_DONE, then what queued goes. */
void iser_conn_established(struct iser_conn *ic);
/* Free the buffers once the QP is gone (no completion can reach them). */
void iser_conn_free(struct iser_conn *ic);

/* The task's iSER state: its transport area (task_priv_size). */
static inline struct iser_task *iser_task_of(struct idm_task *t)
{
	return idm_task_transport_area(t);
}

/* iser_rx.c */
int iser_post_recv(struct iser_conn *ic, struct iser_rx_desc *d);
void iser_rx_done(struct idm_rdma_wr *wr, int status, uint32_t byte_len);

/* iser_flow.c */
/* Input is stopped (or parked messages wait): keep this one for later. */
bool iser_rx_park(struct iser_conn *ic, struct iser_rx_desc *d, uint32_t byte_len);
/* The rx_flow op: input on again replays what was parked, deferred. */
void iser_rx_flow(struct idm_conn *c, bool on);

/* iser_tx.c */
void iser_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu);
/* Send what queued while connecting or while every Send buffer was busy. */
void iser_tx_pump(struct iser_conn *ic);
int iser_send_hello_reply(struct iser_conn *ic, const uint8_t *hello, uint32_t len);
void iser_tx_drop_all(struct iser_conn *ic, int status);
int iser_buf_tx_to_ini(struct idm_task *t, uint32_t off, uint32_t len,
                       const struct idm_scsi_status *st);
int iser_buf_rx_from_ini(struct idm_task *t, uint32_t len);
/* Unsolicited data arrived, or a Read completed: maybe finish the receive. */
void iser_rx_progress(struct iser_task *it);
/* ops->data_out_placed: the intake placed unsolicited data. */
void iser_data_out_placed(struct idm_task *t);
void iser_task_xfer_release(struct iser_task *it);

/* iser_ini.c: the initiator's part */
/* The iSER header of a PDU the initiator sends: a SCSI Command advertises its buffer. */
int iser_ini_tx_hdr(struct iser_conn *ic, const struct idm_pdu *pdu, struct iser_hdr *h);
/* The command `itt` ended: drop its one-off registration, if any. */
void iser_ini_reg_end(struct iser_conn *ic, uint32_t itt);
/* Drop every registration (the connection goes; owned memory stays the caller's). */
void iser_ini_reg_drop_all(struct iser_conn *ic);
bool iser_ini_conn_is_capable(const struct sockaddr *peer, socklen_t len);
int iser_ini_conn_create(struct idm_conn *c, const struct sockaddr *peer, socklen_t len);
void *iser_ini_buf_alloc(struct idm_conn *c, size_t len);
void iser_ini_buf_free(struct idm_conn *c, void *buf, size_t len);
void iser_ini_propose(const struct idm_conn *c, struct idm_params *p);

/* iser_cm.c: the target's listener */
int iser_svc_create(struct idm_svc *svc);
int iser_svc_online(struct idm_svc *svc);
void iser_svc_offline(struct idm_svc *svc);
void iser_svc_destroy(struct idm_svc *svc);
/* From a connect request: the RDMA Reads we may issue (ORD), may accept (IRD). */
void iser_cm_read_depths(const struct idm_rdma_cm_event *ev, uint8_t *ord, uint8_t *ird);

#endif
