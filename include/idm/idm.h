/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iSCSI datamover core: connections, tasks, PDUs, and the two vectors
 * that join the layers (after the illumos IDM):
 *
 *   client (target, initiator)
 *        |  struct idm_client_ops: PDUs and events going up
 *   datamover core (this header, src/idm)
 *        |  struct idm_transport_ops: PDUs and data going down
 *   transport (TCP, iSER)
 *
 * Every connection lives on one reactor thread; every function here is
 * called on that thread unless it says otherwise.
 */
#ifndef IDM_IDM_H
#define IDM_IDM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "idm/keys.h"
#include "idm/pdu.h"
#include "idm/reactor.h"

struct idm_conn;
struct idm_task;
struct idm_svc;
struct idm_transport;

/* Connection states, RFC 7143 section 8.1 (target) with IDM's names. */
#define IDM_CONN_STATES(X)                                              \
	X(FREE)        /* S1 FREE: allocated, nothing yet */            \
	X(XPT_WAIT)    /* S2 XPT_WAIT: initiator connecting */          \
	X(XPT_UP)      /* S3 XPT_UP: transport up, awaiting login */    \
	X(IN_LOGIN)    /* S4 IN_LOGIN: login PDUs exchanged */          \
	X(LOGGED_IN)   /* S5 LOGGED_IN: full feature phase */           \
	X(IN_LOGOUT)   /* S6 IN_LOGOUT: logout request received */      \
	X(LOGOUT_REQ)  /* S7 LOGOUT_REQUESTED: async logout sent */     \
	X(CLEANUP)     /* S8 CLEANUP: transport gone, tasks draining */ \
	X(ERROR)       /* protocol error: closing */                    \
	X(COMPLETE)    /* all done: about to be freed */

#define IDM_X_ENUM(name) IDM_CONN_##name,
enum idm_conn_state { IDM_CONN_STATES(IDM_X_ENUM) IDM_CONN_NSTATES };
#undef IDM_X_ENUM

const char *idm_conn_state_name(enum idm_conn_state s);

/* Events driving the connection state machine. */
#define IDM_CONN_EVENTS(X)                                                      \
	X(CONNECT_REQ)     /* initiator: start connecting */                    \
	X(CONNECT_DONE)    /* initiator: transport connected */                 \
	X(ACCEPTED)        /* target: transport accepted a connection */        \
	X(LOGIN_RX)        /* a Login PDU arrived (target) or was sent */       \
	X(LOGIN_OK)        /* final login response with T=1, NSG=FFP */         \
	X(LOGIN_FAIL)      /* login refused or failed */                        \
	X(LOGOUT_RX)       /* Logout Request received (target) / sent */        \
	X(LOGOUT_DONE)     /* Logout Response sent / received */                \
	X(ASYNC_LOGOUT)    /* target asked the initiator to log out */          \
	X(PROTOCOL_ERROR)  /* malformed PDU, digest error, ... */               \
	X(TRANSPORT_FAIL)  /* peer closed, socket or completion error */        \
	X(DISCONNECT)      /* local request to close (shutdown, reinstatement) */\
	X(TASKS_DRAINED)   /* the last task of a closing connection ended */

#define IDM_X_ENUM(name) IDM_CE_##name,
enum idm_conn_event { IDM_CONN_EVENTS(IDM_X_ENUM) IDM_CE_NEVENTS };
#undef IDM_X_ENUM

const char *idm_conn_event_name(enum idm_conn_event e);

enum idm_task_state {
	IDM_TASK_IDLE,
	IDM_TASK_ACTIVE,
	IDM_TASK_ABORTING, /* a TMF or connection loss: finish without sending */
	IDM_TASK_ABORTED,
	IDM_TASK_COMPLETE,
};

/* SCSI status to send for a task (SCSI Response or collapsed Data-In). */
struct idm_scsi_status {
	uint8_t response;  /* ISCSI_RESPONSE_* */
	uint8_t status;    /* SAM status */
	uint8_t flags;     /* SCSI_RSP_FLAG_OVERFLOW / _UNDERFLOW */
	uint32_t residual;
	const uint8_t *sense; /* without the 2-byte SenseLength prefix */
	uint16_t sense_len;
};

typedef void (*idm_task_fn)(struct idm_task *t, int status);

/*
 * A SCSI command (or TMF) in flight. Tasks come from a per-connection
 * table that grows in chunks as the queue deepens and stays grown, so a
 * steady stream of commands costs no malloc. The client gets
 * `client_area_size` bytes of its own at client_area.
 */
struct idm_task {
	uint32_t magic;
	struct idm_conn *conn;
	enum idm_task_state state;
	uint32_t refcnt;
	uint32_t itt;
	uint32_t ttt;              /* target transfer tag: slot | generation */
	uint32_t cmdsn;
	uint8_t lun_field[8];
	/* data: one contiguous buffer, for whichever direction moves data */
	uint8_t *data;
	uint32_t data_cap;
	uint32_t edtl;             /* Expected Data Transfer Length */
	uint32_t xfer_len;         /* bytes this command will actually move */
	bool is_write;
	bool is_read;
	/* target write bookkeeping, kept by the intake (src/idm/rx.c) */
	uint32_t received;         /* contiguous bytes placed from offset 0 */
	uint32_t unsol_limit;      /* bytes the initiator may send unsolicited */
	/* what R2Ts solicited (idm_task_r2t), which Data-Out is checked against */
	uint32_t r2t_next;        /* end of the solicited range */
	uint32_t r2t_outstanding; /* R2T sequences not yet ended by an F bit */
	uint32_t r2tsn;
	uint32_t data_sn;          /* next DataSN (Data-In) / expected (Data-Out) */
	bool unsol_done;           /* the F bit ended unsolicited data */
	/* completions */
	idm_task_fn rx_done;       /* buf_rx_from_ini finished */
	idm_task_fn tx_done;       /* data + status have left (task may end) */
	struct idm_task *hash_next;
	struct idm_task *free_next;
	void *client_priv;
	/* client_area_size bytes for the client, then the transport's
	 * task_priv_size bytes (idm_task_transport_area) */
	_Alignas(16) uint8_t client_area[];
};

/*
 * Bounds on one connection's unsent PDUs (src/idm/txq.c). A target stops
 * reading a connection whose transmit queue reaches either bound and reads
 * again once it is down to half of both; a connection with data waiting
 * that sends nothing for stall_timeout_s is dropped. 0 means no bound.
 */
struct idm_tx_limits {
	uint32_t max_bytes;
	uint32_t max_pdus;
	uint32_t stall_timeout_s;
};

/* Defaults: above what 32 commands of 1 MiB queue as Data-In (32 MiB, 4096
 * PDUs at an 8 KiB MaxRecvDataSegmentLength), so such a read stream never
 * stops input, and below 64 MiB of memory for a peer that never reads. */
#define IDM_TX_MAX_BYTES_DEFAULT (48u << 20)
#define IDM_TX_MAX_PDUS_DEFAULT 8192u
#define IDM_TX_STALL_TIMEOUT_DEFAULT_S 30u

/* A connection's transmit accounting, kept by the core (txq.c). */
struct idm_txq {
	struct idm_tx_limits lim;
	bool input_flow; /* stop input over the bound (targets only) */
	bool rx_paused;  /* input stopped: see idm_conn_rx_allowed() */
	uint64_t bytes;  /* handed to the transport, not yet sent or dropped */
	uint32_t pdus;
	uint64_t sent;        /* PDUs that left: the peer's reading progress */
	uint64_t stall_mark;  /* `sent` at the previous stall tick */
	uint32_t stall_ticks; /* ticks in a row with data waiting and no progress */
	struct idm_timer stall_timer;
	/* what the connection close line reports */
	uint64_t peak_bytes;
	uint32_t peak_pdus;
	uint32_t pauses;
};

/* Rate limit of one connection's log lines (log_conn.c). */
struct idm_log_limit {
	uint64_t window_start_ms;
	uint32_t lines;      /* printed in the current window */
	uint32_t suppressed; /* not printed since the last summary line */
};

/* Counters that prove the data path (per connection). */
struct idm_conn_stats {
	uint64_t pdus_rx;
	uint64_t pdus_tx;
	uint64_t bytes_rx;         /* data segment bytes */
	uint64_t bytes_tx;
	uint64_t scsi_cmds;        /* SCSI commands taken in (target) */
	uint64_t bytes_copied;     /* data bytes copied on the data path */
	uint64_t registrations;    /* memory registrations (iSER) */
	uint64_t work_requests;    /* send-queue work requests (iSER) */
	uint64_t digest_errors;
	uint64_t rejects_tx;
	uint64_t tx_syscalls;
};

/* Debug ring: the connection's last state transitions. */
#define IDM_CONN_HISTORY 16
/* A connection's task table grows by a chunk as large as the table so far,
 * at least IDM_TASK_CHUNK_FIRST and at most IDM_TASK_CHUNK slots. */
#define IDM_TASK_CHUNK_FIRST 4
#define IDM_TASK_CHUNK 16
struct idm_conn_history {
	uint8_t from, event, to;
};

/* Calls from the core up to the client (target or initiator). */
struct idm_client_ops {
	/*
	 * Target: the header of a SCSI Command arrived; its data segment
	 * (immediate data) is about to be read. Set up the task: t->data,
	 * t->data_cap, t->xfer_len, t->is_read/is_write, t->unsol_limit.
	 * Leaving t->data NULL makes the transport discard any data.
	 * Returns 0, or a negative errno to drop the connection.
	 */
	int (*scsi_cmd_header)(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t);
	/* A whole SCSI Command PDU is in (immediate data placed in t->data). */
	void (*scsi_cmd)(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t);
	/* Any other PDU for the client (login, text, NOP, TMF, logout, SCSI
	 * response, Data-In, R2T, reject, async). The PDU is valid only
	 * during the call. */
	void (*rx_pdu)(struct idm_conn *c, struct idm_pdu *pdu);
	/* The connection changed state (LOGGED_IN, CLEANUP, ...). */
	void (*state_change)(struct idm_conn *c, enum idm_conn_state from,
			     enum idm_conn_state to);
	/* The connection is about to be freed: drop every reference to it. */
	void (*conn_free)(struct idm_conn *c);
	/* Target: a task is being torn down with the connection (abort it:
	 * its store I/O may still be in flight). The client then drops its
	 * reference when it can. A pending receive ends here: rx_done is not
	 * called for an aborted task. Data-In already queued is dropped
	 * after this, so a pending tx_done still runs, with a negative
	 * status. Keep t->data valid until the task's last reference goes. */
	void (*task_abort)(struct idm_task *t);
	/* The task's last reference is gone: no transport receive, RDMA
	 * transfer, store I/O or client still uses t->data. Return the
	 * buffer here, never earlier (an aborted task's bytes may still be
	 * on the wire and are read into it, then dropped). */
	void (*task_free)(struct idm_task *t);
};

/* What a transport can do, consulted by the core and the clients. */
struct idm_transport_caps {
	bool data_in_status;     /* can put status in the last Data-In */
	bool digests;            /* CRC32C digests supported */
	bool rdma;               /* data moves by RDMA (no Data-In / R2T) */
	uint32_t max_rx_data;    /* data one received message can hold (pre-posted
				  * receive buffers); 0 = only the negotiated limits */
};

/*
 * Options of a service that its transport reads when it has a use for
 * them (0: the transport's default). The target passes its tunables
 * here and never calls into a transport.
 */
struct idm_svc_opts {
	/* RDMA transfers below this many bytes go through pre-registered
	 * buffers (a copy); larger ones register the task's buffer (iSER).
	 * The pool's buffers are this size, up to 128 KiB (above it larger
	 * transfers still register); 1 copies nothing and makes no pool. */
	uint32_t rdma_copy_threshold;
};

/* Parameters of a listening service (a portal). */
struct idm_svc_req {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct idm_reactor **reactors; /* connections spread round-robin */
	unsigned nreactors;
	const struct idm_client_ops *client;
	void *client_arg;               /* becomes idm_svc_client_arg() */
	uint32_t client_task_size;      /* per-task client area */
	uint32_t max_tasks;             /* per connection (queue depth + slack) */
	/* called on the new connection's reactor once it exists */
	void (*accepted)(struct idm_svc *svc, struct idm_conn *c);
	struct idm_svc_opts opts;
	/* idm_portal_open: kinds of transport left out (0: none) */
	uint8_t portal_skip;
};

enum { IDM_PORTAL_SKIP_TCP = 1u << 0, IDM_PORTAL_SKIP_RDMA = 1u << 1 };

/*
 * The transport ops vector (one instance per transport). An op a
 * transport has nothing to do for is NULL.
 */
struct idm_transport_ops {
	/* Queue a PDU for transmission. The transport fills digests and
	 * calls pdu->done once the PDU left or was dropped. */
	void (*tx_pdu)(struct idm_conn *c, struct idm_pdu *pdu);
	/* Target: move [off, off+len) of t->data to the initiator (Data-In
	 * or RDMA Write); with `st`, send the status after it (in the last
	 * Data-In when allowed). t->tx_done runs when all has left. len > 0:
	 * the core handles a transfer of nothing. */
	int (*buf_tx_to_ini)(struct idm_task *t, uint32_t off, uint32_t len,
			     const struct idm_scsi_status *st);
	/* Target: fetch [0, len) of t->data from the initiator (R2T +
	 * Data-Out, or RDMA Read), counting what unsolicited data already
	 * placed. t->rx_done runs when it is all in. Called only while
	 * bytes are missing (the core ends the rest). On an error return
	 * neither tx_done nor rx_done runs for the call. */
	int (*buf_rx_from_ini)(struct idm_task *t, uint32_t len);
	/* Target: the intake placed a Data-Out of an active task: end a
	 * pending buf_rx_from_ini (rx_done) or ask for more. */
	void (*data_out_placed)(struct idm_task *t);
	/* Login keys: the transport sees them first (iSER keys, digests). */
	enum idm_hook_result (*negotiate_key)(struct idm_conn *c, const char *key,
					      const char *value, char *answer, size_t cap);
	/* Login done: apply the negotiated parameters (buffer sizes, digests)
	 * and switch to the full feature phase data mover. */
	int (*enable_datamover)(struct idm_conn *c);
	/* Input off (false) or on again (true): the core stops a target
	 * connection's input while its transmit queue is over the bound. Until
	 * called with true the transport reads no new PDU (idm_conn_rx_allowed()
	 * says the same at any time). Called from inside the transport's own
	 * receive handling or a PDU's completion: defer work, do not recurse.
	 * NULL: the transport only checks idm_conn_rx_allowed(). */
	void (*rx_flow)(struct idm_conn *c, bool on);
	/* Initiator: can this transport reach `peer` (RDMA route exists)? */
	bool (*conn_is_capable)(const struct sockaddr *peer, socklen_t len);
	/* Initiator: make the login proposal `p` (session_type already set)
	 * fit this transport: iSER proposes RDMAExtensions and its receive
	 * data segment lengths, and no digests or unsolicited data. */
	void (*ini_propose)(const struct idm_conn *c, struct idm_params *p);
	/* Memory the transport may need to register (iSER); NULL for TCP. */
	void *(*buf_alloc)(struct idm_conn *c, size_t len);
	void (*buf_free)(struct idm_conn *c, void *buf, size_t len);
	/* Listening services. */
	int (*svc_create)(struct idm_svc *svc);
	int (*svc_online)(struct idm_svc *svc);
	void (*svc_offline)(struct idm_svc *svc);
	void (*svc_destroy)(struct idm_svc *svc);
	/* Connections. */
	int (*ini_conn_create)(struct idm_conn *c, const struct sockaddr *peer, socklen_t len);
	/* Started by the core on CONNECT_REQ; the transport then feeds
	 * CONNECT_DONE or TRANSPORT_FAIL. */
	int (*conn_connect)(struct idm_conn *c);
	void (*conn_disconnect)(struct idm_conn *c); /* stop I/O, fail pending */
	void (*conn_destroy)(struct idm_conn *c);    /* free transport state */
};

struct idm_transport {
	const char *name;                 /* "tcp", "iser" */
	const struct idm_transport_ops *ops;
	const struct idm_transport_caps *caps;
	/* bytes of private state per task (idm_task_transport_area), zeroed
	 * when the task is allocated */
	uint32_t task_priv_size;
};

/* The TCP transport (src/transport/tcp). */
extern const struct idm_transport idm_tcp_transport;
/* The iSER transport (src/transport/iser; built where rdma-core is found). */
extern const struct idm_transport idm_iser_transport;

/* One connection. */
struct idm_conn {
	uint32_t magic;
	enum idm_role role;
	enum idm_conn_state state;
	const struct idm_transport *transport;
	void *transport_priv;
	struct idm_reactor *reactor;
	struct idm_svc *svc;              /* target: the portal it came in on */
	const struct idm_client_ops *client;
	void *client_priv;
	uint32_t refcnt;
	uint16_t cid;
	struct sockaddr_storage local_addr;
	struct sockaddr_storage peer_addr;
	char peer_name[64];               /* "127.0.0.1:51234" for logs */
	/* negotiated parameters (valid once logged in; updated during login) */
	struct idm_params params;
	bool ffp;                         /* full feature phase data mover on */
	/* sequence numbers: StatSN is per connection; the CmdSN window is the
	 * session's, shared through this pointer (filled in at tx time) */
	uint32_t stat_sn;
	uint32_t exp_stat_sn;             /* initiator side */
	const uint32_t *exp_cmd_sn;
	const uint32_t *max_cmd_sn;
	/* tasks: allocated on demand, a chunk of slots at a time (task.c) */
	struct idm_task **task_hash;      /* by ITT; NULL until the first task */
	uint32_t task_hash_mask;
	struct idm_task *task_free;
	struct idm_task **task_by_slot;   /* [task_slots], by TTT slot */
	uint32_t task_slots;              /* slots allocated so far */
	uint32_t task_size;
	uint32_t task_tp_off; /* transport area, from the task */
	uint32_t max_tasks;               /* bound on task_slots */
	uint32_t active_tasks;
	/* transmit queue bounds and input flow control (txq.c) */
	struct idm_txq txq;
	struct idm_log_limit log_limit;
	/* debugging */
	struct idm_conn_history history[IDM_CONN_HISTORY];
	uint32_t history_pos;
	struct idm_conn_stats stats;
};

/* One listening service (portal) of one transport. */
struct idm_svc {
	uint32_t magic;
	const struct idm_transport *transport;
	void *transport_priv;
	struct idm_svc_req req;
	unsigned next_reactor;
	char name[80];                    /* "127.0.0.1:3260" */
	/* why svc_create failed, when the transport knows more than an errno
	 * ("iSER disabled: no RDMA device"); may stay empty */
	char error[128];
};

/* ---- services (target) ---- */

/* Create and bring online a listener of transport `tp` on req->addr (a
 * target opens a whole portal with idm_portal_open below). Returns 0 or
 * -errno with a reason in `err`. */
int idm_svc_create(const struct idm_transport *tp, const struct idm_svc_req *req,
		   struct idm_svc **out, char *err, size_t errlen);
void idm_svc_destroy(struct idm_svc *svc);
static inline void *idm_svc_client_arg(const struct idm_svc *svc)
{
	return svc->req.client_arg;
}

/*
 * Transport side of accept: called by a transport on the listener's
 * thread with its new connection state; the core picks a reactor,
 * creates the idm_conn there, calls tp->... and svc->req.accepted.
 * `adopt` is called on the chosen reactor to bind transport state.
 */
int idm_svc_dispatch(struct idm_svc *svc, void *transport_conn,
		     int (*adopt)(struct idm_conn *c, void *transport_conn),
		     void (*drop)(void *transport_conn));

/*
 * A portal: one address and port served by every transport that can
 * serve it: TCP always, iSER where an RDMA device serves the address
 * (the first time a transport cannot, one line says why: "iSER disabled:
 * no RDMA device"). Embedded in the caller's portal; zeroed = closed.
 */
#define IDM_PORTAL_MAX_SVC 4
struct idm_portal {
	struct idm_svc *svc[IDM_PORTAL_MAX_SVC]; /* most preferred first */
	unsigned nsvc;
};

/* Open `p` for `req` (every transport gets the same request, options
 * included; req->portal_skip leaves kinds out). 0, or -errno with the
 * reason in `err` when the portal cannot serve TCP (or, with TCP left
 * out, RDMA); nothing stays open then. Any thread. */
int idm_portal_open(struct idm_portal *p, const struct idm_svc_req *req, char *err,
                    size_t errlen);
/* Close every service of `p` (a closed or zeroed portal is fine). */
void idm_portal_close(struct idm_portal *p);
/* Does `p` serve transport `name` ("tcp", "iser")? */
bool idm_portal_serves(const struct idm_portal *p, const char *name);

/* ---- initiator connections: the transport, and the fallback to TCP ---- */

enum idm_transport_choice {
	IDM_TRANSPORT_TCP,
	IDM_TRANSPORT_ISER,
	IDM_TRANSPORT_AUTO, /* iSER where it reaches the portal, else TCP */
};

/* An initiator's transport choice, kept across its connection attempts. */
struct idm_ini_xport {
	enum idm_transport_choice choice;
	/* auto: an iSER connection never came up (idm_ini_conn_fall_back):
	 * the next attempts skip RDMA transports; clear it to try again */
	bool rdma_failed;
	const struct idm_transport *tp; /* of the last connection created */
};

struct idm_ini_conn_req {
	struct idm_reactor *reactor; /* the calling thread's */
	const struct sockaddr *peer;
	socklen_t peer_len;
	const struct idm_client_ops *client;
	void *client_priv;
	uint32_t client_task_size;
	uint32_t max_tasks;
};

/*
 * Create an initiator connection to req->peer over the transport `x`
 * chooses and start connecting: TCP or iSER as asked (an error saying
 * why when iSER is not built or has no RDMA path to the peer), or with
 * IDM_TRANSPORT_AUTO the first that reaches the peer (iSER, then TCP),
 * logging each fallback. *out and client_priv are set before the connect
 * starts, because the client's callbacks may run inside this call (a
 * connect that fails at once ends in CLEANUP before it returns).
 * 0, or -errno with the reason in `err` and nothing created.
 */
int idm_ini_conn_create(struct idm_ini_xport *x, const struct idm_ini_conn_req *req,
                        struct idm_conn **out, char *err, size_t errlen);
/*
 * A connection from idm_ini_conn_create failed (`why`, for the log).
 * With auto, when it was over an RDMA transport and never reached the
 * login (`reached_login` false), note that RDMA failed and return true:
 * the next idm_ini_conn_create takes the next transport.
 */
bool idm_ini_conn_fall_back(struct idm_ini_xport *x, bool reached_login, const char *why);
/* Initiator: let the connection's transport adjust the login proposal
 * (the ini_propose op); nothing for TCP. */
void idm_conn_ini_propose(const struct idm_conn *c, struct idm_params *p);

/* ---- connections ---- */

/* Allocate a connection on reactor `r` (the calling thread). */
struct idm_conn *idm_conn_create(struct idm_reactor *r, enum idm_role role,
				 const struct idm_transport *tp,
				 const struct idm_client_ops *client, uint32_t client_task_size,
				 uint32_t max_tasks);
/*
 * Feed an event to the connection state machine. Events raised while one
 * is handled queue behind it. The core raises these itself (a client may
 * raise them too: a repeated notice is harmless):
 *   target LOGIN_RX / LOGOUT_RX when a Login / Logout Request arrives;
 *   LOGIN_OK when a final Login Response (T=1, NSG=FFP, status 0) is
 *   queued; LOGIN_FAIL after a Login Response with a non-zero status
 *   class left, LOGOUT_DONE after a Logout Response left.
 */
void idm_conn_event(struct idm_conn *c, enum idm_conn_event ev);
void idm_conn_hold(struct idm_conn *c);
void idm_conn_release(struct idm_conn *c);
/* Close a connection that has not reached the full feature phase this
 * many seconds after it was accepted (0: never). Default 15. */
void idm_conn_set_login_timeout(struct idm_conn *c, uint32_t seconds);
/* Bound this connection's transmit queue (the defaults above apply until
 * then); set it before the connection carries traffic. */
void idm_conn_set_tx_limits(struct idm_conn *c, const struct idm_tx_limits *lim);
/* Ask to close the connection (async): tasks are aborted, the client's
 * conn_free runs at the end. */
static inline void idm_conn_close(struct idm_conn *c)
{
	idm_conn_event(c, IDM_CE_DISCONNECT);
}

/* ---- the transport, for clients (never its ops directly) ---- */

/* The transport's login key hook (iSER keys, digests): true and `hook`
 * filled when it has one, to add to the negotiation. */
bool idm_conn_key_hook(struct idm_conn *c, struct idm_nego_hook *hook);
/* Memory the transport registers once (iSER), or NULL: use plain memory.
 * idm_conn_buf_free is false when the transport had none to free. */
void *idm_conn_buf_alloc(struct idm_conn *c, size_t len);
bool idm_conn_buf_free(struct idm_conn *c, void *buf, size_t len);

/* ---- PDUs ---- */

/* A PDU with room for `data_len` bytes of data segment (no malloc for
 * small ones: the connection keeps a free list). */
struct idm_pdu *idm_pdu_alloc(struct idm_conn *c, uint32_t data_len);
void idm_pdu_free(struct idm_pdu *pdu);
/*
 * Send a PDU (from idm_pdu_alloc). The core sets DataSegmentLength and
 * TotalAHSLength from data_len / ahs_len; for target-to-initiator PDUs
 * it fills StatSN, ExpCmdSN and MaxCmdSN (advancing StatSN where the RFC
 * says), then hands the PDU to the transport. pdu->done (if set) runs
 * when sent (status 0) or dropped (<0); the core frees the PDU after it
 * unless `done` set IDM_PDU_F_KEEP. `done` must not free it itself.
 */
void idm_pdu_tx(struct idm_conn *c, struct idm_pdu *pdu);
/* Send a Reject for `bad` (its BHS goes back as the data segment). */
void idm_pdu_reject(struct idm_conn *c, const uint8_t *bad_bhs, uint8_t reason);

/* ---- tasks ---- */

/* A free task for ITT `itt`, or NULL when the table is full or the ITT
 * is already active (-EBUSY / -EEXIST in *err). */
struct idm_task *idm_task_alloc(struct idm_conn *c, uint32_t itt, int *err);
struct idm_task *idm_task_find_itt(struct idm_conn *c, uint32_t itt);
struct idm_task *idm_task_find_ttt(struct idm_conn *c, uint32_t ttt);
void idm_task_hold(struct idm_task *t);
/* Drop a reference; the last one returns the task to the table. */
void idm_task_release(struct idm_task *t);
/* Visit every active task (TMF, connection teardown). */
void idm_task_foreach(struct idm_conn *c, void (*fn)(struct idm_task *t, void *arg), void *arg);

/* Target data movement through the transport (see the ops above). */
int idm_task_send_data(struct idm_task *t, uint32_t off, uint32_t len,
		       const struct idm_scsi_status *st);
int idm_task_send_status(struct idm_task *t, const struct idm_scsi_status *st);
int idm_task_recv_data(struct idm_task *t, uint32_t len);

/* Log helpers: one line to stderr with time and component. */
void idm_log(const char *component, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Levels: idm_log() logs at INFO (WARN when its text starts with
 * "warning"); lines above the current level are dropped. */
enum idm_log_level { IDM_LOG_ERROR, IDM_LOG_WARN, IDM_LOG_INFO, IDM_LOG_DEBUG };
void idm_log_at(enum idm_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void idm_log_set_level(enum idm_log_level level);
enum idm_log_level idm_log_get_level(void);
/* "error", "warn", "info", "debug" <-> the level; parse gives 0 or -EINVAL. */
int idm_log_level_parse(const char *name, enum idm_log_level *out);
const char *idm_log_level_name(enum idm_log_level level);
/* Pick where lines go (a daemon calls it once at start): stderr when it
 * is a terminal, a file or a pipe; stderr with sd-daemon priority
 * prefixes when it is the journal (JOURNAL_STREAM); syslog when stderr is
 * closed or /dev/null. Without a call, stderr. */
void idm_log_open(const char *ident);
/*
 * A line about one connection, prefixed with its peer. Rate-limited per
 * connection: the first IDM_LOG_CONN_BURST lines of every
 * IDM_LOG_CONN_WINDOW_MS, then one "N more messages suppressed" line when
 * the next window opens or the connection goes. Call on the connection's
 * reactor.
 */
#define IDM_LOG_CONN_BURST 10u
#define IDM_LOG_CONN_WINDOW_MS 10000u
void idm_log_conn(const struct idm_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The line saying why a connection closes: never suppressed (once per
 * connection), after the summary of what was. */
void idm_log_conn_close(const struct idm_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define IDM_LOG_CONN(c, ...) idm_log_conn((c), __VA_ARGS__)

#endif
