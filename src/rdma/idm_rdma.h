/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small interface over rdma-core: librdmacm for connections (listen,
 * connect, accept with private data) and libibverbs for the rest (a
 * protection domain per device, RC queue pairs, memory registration,
 * Send / RDMA Write / RDMA Read work requests, completions). The CM
 * event channel and the completion channel are file descriptors, so a
 * reactor's epoll drives everything; nothing here blocks.
 *
 * Nothing here knows about iSCSI. Functions return 0 or -errno.
 */
#ifndef IDM_RDMA_H
#define IDM_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ibv_comp_channel;
struct ibv_context;
struct ibv_cq;
struct ibv_mr;
struct ibv_pd;
struct ibv_qp;
struct ibv_wc;
struct rdma_cm_id;
struct rdma_event_channel;

/*
 * Can this host do RDMA at all? false, with a one-line reason for the log
 * ("iSER disabled: no RDMA device"), when the RDMA CM cannot be opened or
 * no verbs device exists. Cheap; call once at start-up.
 */
bool idm_rdma_available(char *reason, size_t cap);

/* ---- devices ----------------------------------------------------------- */

/* One device as this process uses it: its verbs context and one PD. */
struct idm_rdma_dev {
	struct ibv_context *verbs; /* owned by librdmacm, not closed here */
	struct ibv_pd *pd;
};

/* Allocate the protection domain for `verbs` (a cm id's ->verbs). */
int idm_rdma_dev_open(struct idm_rdma_dev *dev, struct ibv_context *verbs);
void idm_rdma_dev_close(struct idm_rdma_dev *dev);

/* Register memory: local write always, remote read/write when `remote`. */
int idm_rdma_reg(struct ibv_pd *pd, void *addr, size_t len, bool remote, struct ibv_mr **out);
void idm_rdma_dereg(struct ibv_mr *mr);
uint32_t idm_rdma_lkey(const struct ibv_mr *mr);
uint32_t idm_rdma_rkey(const struct ibv_mr *mr);

/* ---- connection manager ------------------------------------------------ */

#define IDM_RDMA_PRIV_MAX 56 /* private data an RC connect request can carry */

/* The CM event channel: one per reactor, its fd in the reactor's epoll. */
struct idm_rdma_cm {
	struct rdma_event_channel *ch;
};

int idm_rdma_cm_open(struct idm_rdma_cm *cm);
void idm_rdma_cm_close(struct idm_rdma_cm *cm);
int idm_rdma_cm_fd(const struct idm_rdma_cm *cm);

enum idm_rdma_ev {
	IDM_RDMA_EV_ADDR_RESOLVED,
	IDM_RDMA_EV_ROUTE_RESOLVED,
	IDM_RDMA_EV_CONNECT_REQUEST, /* ev.id is the new connection's id */
	IDM_RDMA_EV_ESTABLISHED,
	IDM_RDMA_EV_REJECTED,
	IDM_RDMA_EV_DISCONNECTED,
	IDM_RDMA_EV_ERROR, /* address/route/connect/unreachable error */
	IDM_RDMA_EV_DEVICE_REMOVAL,
	IDM_RDMA_EV_OTHER, /* nothing to do (timewait exit, ...) */
};

/* A CM event, copied out so the library's event is acknowledged at once. */
struct idm_rdma_cm_event {
	enum idm_rdma_ev type;
	struct rdma_cm_id *id;
	struct rdma_cm_id *listen_id;
	void *context; /* the id's context (the owner given at creation) */
	int status;
	/* connect request: the local view (the CM swaps the peer's values) */
	uint8_t initiator_depth;     /* RDMA Reads the peer answers: our ORD */
	uint8_t responder_resources; /* RDMA Reads the peer issues: our IRD */
	uint8_t priv_len;
	uint8_t priv[IDM_RDMA_PRIV_MAX];
};

/* The next event, or -EAGAIN when none is pending (the fd is non-blocking). */
int idm_rdma_cm_next(struct idm_rdma_cm *cm, struct idm_rdma_cm_event *ev);

/* Listen on `addr` (RDMA_PS_TCP); connect requests arrive as CM events. */
int idm_rdma_listen(struct idm_rdma_cm *cm, const struct sockaddr *addr, int backlog, void *context,
                    struct rdma_cm_id **out);
/* Active side, step 1: a new id resolving `dst` (ADDR_RESOLVED follows). */
int idm_rdma_resolve(struct idm_rdma_cm *cm, const struct sockaddr *dst, int timeout_ms,
                     void *context, struct rdma_cm_id **out);
/* Active side, step 2, on ADDR_RESOLVED (ROUTE_RESOLVED follows). */
int idm_rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms);
void idm_rdma_id_destroy(struct rdma_cm_id *id);
/* Move `id`'s future events to `cm` (a connection handed to another thread). */
int idm_rdma_migrate(struct rdma_cm_id *id, struct idm_rdma_cm *cm);
/* The peer's and our address of a connected id (NULL if unknown). */
const struct sockaddr *idm_rdma_peer_addr(struct rdma_cm_id *id);
const struct sockaddr *idm_rdma_local_addr(struct rdma_cm_id *id);
/* The verbs context of a connection request's id (for idm_rdma_dev_open). */
struct ibv_context *idm_rdma_id_verbs(const struct rdma_cm_id *id);

/* What accept/connect send: private data and RDMA Read credits. */
struct idm_rdma_conn_param {
	const void *priv;
	uint8_t priv_len;            /* at most IDM_RDMA_PRIV_MAX */
	uint8_t responder_resources; /* RDMA Reads we accept (IRD) */
	uint8_t initiator_depth;     /* RDMA Reads we issue (ORD) */
	uint8_t rnr_retry;           /* 0..7, 7 = retry forever */
};

int idm_rdma_reject(struct rdma_cm_id *id, const void *priv, uint8_t priv_len);

/* ---- queue pairs and work requests ------------------------------------- */

struct idm_rdma_qp_caps {
	uint32_t send_wr;  /* send queue depth (Sends + RDMA Writes + Reads) */
	uint32_t recv_wr;  /* receive queue depth */
	uint32_t send_sge; /* at most IDM_RDMA_MAX_SGE */
	uint32_t cq_size;  /* 0: send_wr + recv_wr */
};

#define IDM_RDMA_MAX_SGE 4
/* Send-queue requests held back during a completion pass (rdma_qp.c). */
struct idm_rdma_batch;

/* One RC connection: its id, completion channel, CQ and QP. */
struct idm_rdma_conn {
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	unsigned unacked_events; /* CQ events to acknowledge in a batch */
	struct idm_rdma_batch *batch;
};

/*
 * Create the CQ (with its completion channel) and the RC QP on `id`,
 * whose device's PD is `pd`. Post receives before accept/connect.
 */
int idm_rdma_conn_create(struct idm_rdma_conn *c, struct rdma_cm_id *id, struct ibv_pd *pd,
                         const struct idm_rdma_qp_caps *caps);
/* Destroy QP, CQ, channel and the id (after the disconnect completed). */
void idm_rdma_conn_destroy(struct idm_rdma_conn *c);
int idm_rdma_accept(struct idm_rdma_conn *c, const struct idm_rdma_conn_param *p);
int idm_rdma_connect(struct idm_rdma_conn *c, const struct idm_rdma_conn_param *p);
int idm_rdma_disconnect(struct idm_rdma_conn *c);

enum idm_rdma_op { IDM_RDMA_RECV, IDM_RDMA_SEND, IDM_RDMA_WRITE, IDM_RDMA_READ };

/*
 * A work request the caller embeds in its own object. The post functions
 * record `op`; the completion reports that stored type, because an error
 * completion's own opcode field is not valid.
 */
struct idm_rdma_wr {
	enum idm_rdma_op op;
	/* status 0, -ECANCELED (flushed), -EACCES (remote access), -EIO. */
	void (*done)(struct idm_rdma_wr *wr, int status, uint32_t byte_len);
};

struct idm_rdma_sge {
	void *addr;
	uint32_t len;
	uint32_t lkey;
};

int idm_rdma_post_recv(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                       const struct idm_rdma_sge *sge);
int idm_rdma_post_send(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                       const struct idm_rdma_sge *sge, unsigned nsge, bool signaled);
int idm_rdma_post_write(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                        const struct idm_rdma_sge *local, uint64_t remote_va, uint32_t rkey,
                        bool signaled);
int idm_rdma_post_read(struct idm_rdma_conn *c, struct idm_rdma_wr *wr,
                       const struct idm_rdma_sge *local, uint64_t remote_va, uint32_t rkey);

/* The completion channel's fd (non-blocking), for the reactor's epoll. */
int idm_rdma_cq_fd(const struct idm_rdma_conn *c);
/* On EPOLLIN: take the event, re-arm, and complete everything queued;
 * what the completions post leaves in one batch at the end. */
int idm_rdma_cq_event(struct idm_rdma_conn *c);
/* Hold send-queue requests back / post what is held (one doorbell). A
 * request the device refuses completes to its owner as an error. */
void idm_rdma_batch_begin(struct idm_rdma_conn *c);
void idm_rdma_batch_end(struct idm_rdma_conn *c);
/* Complete what the CQ already holds, without waiting for its event: on a
 * DISCONNECTED event first, so the peer's last messages (a Login or Logout
 * Response sent just before it disconnected) are not lost to the race of the
 * two event channels. */
int idm_rdma_drain(struct idm_rdma_conn *c);
/* Complete up to `budget` work requests; returns how many. */
int idm_rdma_poll(struct idm_rdma_conn *c, int budget);
/* Hand one work completion to its request's done callback. */
void idm_rdma_complete(const struct ibv_wc *wc);

const char *idm_rdma_op_name(enum idm_rdma_op op);

#endif
