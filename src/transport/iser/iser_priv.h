/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI Extensions for RDMA (RFC 7145), target side: state shared by the
 * files of the transport.
 *   iser.c       ops vector, connection setup/teardown, login keys
 *   iser_cm.c    the RDMA CM listener (services) and connection adoption
 *   iser_rx.c    receive completions: Hello, control PDUs, SCSI commands
 *   iser_tx.c    Sends, RDMA Write (SCSI read data), RDMA Read (write data)
 *   iser_flow.c  receives parked while the core stops input
 *
 * Work requests go through a small vector (struct iser_verbs) so the
 * protocol engine can be driven without a device: src/rdma supplies the
 * real one, the unit tests an in-process loopback.
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
/* Data a target Send carries (login/text responses, sense): the login default. */
#define ISER_TX_DATA_MAX 8192u
/* Pool buffers for copied RDMA transfers, per connection. */
#define ISER_POOL_BUFS 16

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
	void *qp;                      /* first argument of the verbs */
	struct iser_mem_ops mem;       /* memory + registration */
	uint32_t copy_threshold;       /* 0: ISER_COPY_THRESHOLD_DEFAULT */
	uint32_t rdsl;                 /* data bytes one receive holds (>= 8192) */
	uint8_t ord;                   /* RDMA Reads we may have outstanding */
};

struct iser_conn;

/* A posted receive: iSER header + BHS + AHS + data segment. */
struct iser_rx_desc {
	struct idm_rdma_wr wr;
	struct iser_conn *ic;
	uint8_t *buf;
	uint32_t cap;
	/* completed while input was stopped (iser_flow.c) */
	struct iser_rx_desc *parked_next;
	uint32_t parked_len;
};

/* A Send buffer (pre-registered): iSER header + BHS + data, or a HelloReply. */
struct iser_tx_desc {
	struct idm_rdma_wr wr;
	struct iser_conn *ic;
	uint8_t *buf;
	struct idm_pdu *pdu; /* NULL for a HelloReply */
	struct iser_tx_desc *next;
};

/* Per-task transport state: the initiator's buffers and one RDMA transfer. */
struct iser_task {
	struct idm_rdma_wr wr;
	struct iser_conn *ic;
	struct idm_task *t;
	struct iser_hdr hdr;         /* STags/VAs from the command's iSER header */
	bool busy;                   /* an RDMA Write or Read is in flight */
	bool status_follows;         /* a Write whose SCSI Response was queued */
	uint32_t off, len;           /* the transfer, in t->data */
	struct iser_pool_buf *pbuf;  /* copy path */
	void *mr;                    /* register path */
	bool reading;                /* buf_rx_from_ini in progress */
	bool read_done;              /* ... its RDMA Read completed */
	uint32_t rx_wanted;          /* ... and how much it wants */
};

struct iser_conn {
	struct idm_conn *c;
	struct iser_link link;
	bool dead;
	/* lower-layer owner (CM / verbs objects), freed with the connection */
	void *owner;
	/* destroys the QP, then calls iser_conn_free(ic), then frees the rest */
	void (*owner_free)(void *owner, struct iser_conn *ic);
	/* login keys */
	struct iser_key_state keys;
	uint32_t peer_mrdsl;         /* MaxRecvDataSegmentLength the initiator declared */
	/* receive */
	struct iser_rx_desc *rx;
	uint32_t nrx;
	uint32_t rx_cap;             /* bytes per receive buffer */
	struct idm_rx intake;        /* the PDU being handled */
	/* send */
	struct iser_tx_desc *tx;
	uint32_t ntx;
	uint32_t tx_cap;
	struct iser_tx_desc *tx_free;
	struct idm_pdu_fifo txq;             /* waiting for a free Send buffer */
	/* one region for receive and send buffers, registered once */
	void *region;
	size_t region_len;
	void *region_handle;
	uint32_t region_lkey;
	/* copy pool for RDMA Write / Read below the threshold */
	struct iser_pool pool;
	bool pool_ok;
	uint32_t inflight;           /* work requests not yet completed */
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

/*
 * A new iSER connection over `link`: allocate and register the buffers
 * and post every receive (before accepting). On error nothing is left.
 */
int iser_conn_create(const struct iser_link *link, uint32_t max_tasks, struct iser_conn **out);
/* Join it to its idm connection (on the connection's reactor). */
int iser_conn_bind(struct idm_conn *c, struct iser_conn *ic);
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

/* iser_cm.c */
int iser_svc_create(struct idm_svc *svc);
int iser_svc_online(struct idm_svc *svc);
void iser_svc_offline(struct idm_svc *svc);
void iser_svc_destroy(struct idm_svc *svc);
/* From a connect request: the RDMA Reads we may issue (ORD), may accept (IRD). */
void iser_cm_read_depths(const struct idm_rdma_cm_event *ev, uint8_t *ord, uint8_t *ird);

#endif
