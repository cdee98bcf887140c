/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private interface between the datamover core (src/idm) and the
 * transports (src/transport/...). Not for clients.
 */
#ifndef IDM_CORE_PRIV_H
#define IDM_CORE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "idm/idm.h"

/* Magic words of long-lived objects (checked on every entry point). */
#define IDM_CONN_MAGIC 0x49434f4eu /* "ICON" */
#define IDM_CONN_DEAD 0x44454144u  /* freed connection */
#define IDM_TASK_MAGIC 0x4954534bu /* "ITSK" */
#define IDM_SVC_MAGIC 0x49535643u  /* "ISVC" */

/* MaxRecvDataSegmentLength in force until the login completes (RFC 7143
 * section 13.12: the default applies during login). */
#define IDM_LOGIN_MAX_DSL 8192u

/* The largest connection a task table can index: TTT = slot | gen << 16. */
#define IDM_MAX_TASKS_PER_CONN 0xfff0u

/*
 * Digests travel little-endian: RFC 7143 appendix B.4 gives the CRC of
 * 32 zero bytes, 0x8a9136aa, as the byte sequence aa 36 91 8a.
 */
static inline void idm_digest_put(uint8_t *p, uint32_t crc)
{
	p[0] = (uint8_t)crc;
	p[1] = (uint8_t)(crc >> 8);
	p[2] = (uint8_t)(crc >> 16);
	p[3] = (uint8_t)(crc >> 24);
}

static inline uint32_t idm_digest_get(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* The MaxRecvDataSegmentLength we enforce on received PDUs right now. */
static inline uint32_t idm_conn_max_rx_dsl(const struct idm_conn *c)
{
	if (!c->ffp || c->params.max_recv_dsl == 0) {
		return IDM_LOGIN_MAX_DSL;
	}
	return c->params.max_recv_dsl;
}

/* A connection is going away: no new work may start on it. */
static inline bool idm_conn_closing(const struct idm_conn *c)
{
	return c->state == IDM_CONN_CLEANUP || c->state == IDM_CONN_ERROR ||
	       c->state == IDM_CONN_COMPLETE;
}

/*
 * May this PDU header be handled in the connection's current state?
 * Feeds LOGIN_RX / LOGOUT_RX to the state machine as a side effect.
 * Returns 0, or -EPROTO when the connection must be closed. (The intake,
 * rx.c, calls it; transports call idm_rx_header.)
 */
int idm_conn_rx_gate(struct idm_conn *c, const uint8_t *bhs);

/* ---- the intake (rx.c): one receive path for every transport ---- */

/* Largest AHS a SCSI Command may carry: an extended CDB AHS (up to
 * 260 - 16 CDB bytes + 4 header, rounded) and a bidirectional one (8). */
#define IDM_MAX_CMD_AHS 264

/* What a received opcode earns in a connection state (pure, rx_rules.c). */
enum idm_rx_verdict {
	IDM_RX_ACCEPT, /* handle it */
	IDM_RX_REJECT, /* full feature phase: Reject it, read on */
	IDM_RX_CLOSE,  /* close the connection (before login, or never legal) */
};
enum idm_rx_verdict idm_rx_opcode_verdict(enum idm_role role, enum idm_conn_state state,
                                          uint8_t op);
/* May immediate data of `len` bytes go into t->data? */
bool idm_rx_imm_fits(const struct idm_task *t, uint32_t len);
/* Is a Data-Out of [off, off+len) with `data_sn` acceptable for t? */
bool idm_rx_data_out_fits(const struct idm_task *t, uint32_t off, uint32_t len, uint32_t data_sn,
                          bool solicited, bool in_order);

/* Where the data segment of a PDU goes: idm_rx_header's answer. */
enum idm_rx_dest {
	IDM_RX_TO_CONN,    /* a buffer of the transport's (TCP: its rx buffer;
	                    * iSER: the receive itself); it sets rx->dst */
	IDM_RX_TO_TASK,    /* the task buffer: rx->dst is set */
	IDM_RX_TO_DISCARD, /* read and drop (rejected, aborted or unknown task) */
};

/* What the PDU is, for idm_rx_complete (the core's business). */
enum idm_rx_kind {
	IDM_RXK_PDU,      /* client->rx_pdu */
	IDM_RXK_CMD,      /* immediate data into the task, client->scsi_cmd */
	IDM_RXK_DATA_OUT, /* into the task buffer at the buffer offset */
	IDM_RXK_DATA_IN,  /* initiator: into the read buffer at its offset */
	IDM_RXK_DISCARD,
};

/* One PDU on its way in, from idm_rx_begin to idm_rx_complete. */
struct idm_rx {
	struct idm_pdu pdu; /* the transport fills bhs, ahs, ahs_len */
	uint32_t dlen;      /* DataSegmentLength */
	enum idm_rx_kind kind;
	enum idm_rx_dest dest;
	struct idm_task *task; /* held from idm_rx_header to the end */
	uint8_t *dst;          /* where the data segment goes (NULL: discard) */
};

/* A new PDU: forget the last one (its task must be released already). */
void idm_rx_begin(struct idm_conn *c, struct idm_rx *rx);
/*
 * The BHS is in (ahs_len filled from it): check the lengths that decide
 * how many bytes follow, before reading them. 0, or -errno: close (a
 * Reject is queued; the PDU boundaries can no longer be trusted).
 */
int idm_rx_bhs(struct idm_conn *c, struct idm_rx *rx);
/*
 * BHS and AHS are in (header digest checked): decide, once for every
 * transport, whether the opcode is legal in this state, which task the
 * PDU belongs to and where its data goes. Returns the destination
 * (enum idm_rx_dest, >= 0) or -errno: close the connection.
 */
int idm_rx_header(struct idm_conn *c, struct idm_rx *rx);
/* The data segment is at rx->dst (or was discarded): account, dispatch. */
void idm_rx_complete(struct idm_conn *c, struct idm_rx *rx);
/* The data digest failed: Reject (target) or close (initiator); the
 * command, if this was one, is void. */
void idm_rx_digest_error(struct idm_conn *c, struct idm_rx *rx);
/* The connection goes mid-PDU: let go of the task. */
void idm_rx_abandon(struct idm_rx *rx);

/* The transport's private bytes of a task (its task_priv_size). */
static inline void *idm_task_transport_area(struct idm_task *t)
{
	return (uint8_t *)t + t->conn->task_tp_off;
}

/* Solicit [off, off+len) of t's write data: fill the R2T header `bhs`
 * (LUN, ITT, TTT, R2TSN, offset, length) and record the solicitation the
 * intake checks Data-Out against (task.c). */
void idm_task_r2t(struct idm_task *t, uint32_t off, uint32_t len, uint8_t *bhs);

/* Task table (task.c), used by conn.c. Each task has `client_size` bytes
 * for the client and the transport's task_priv_size for the transport. */
int idm_task_table_init(struct idm_conn *c, uint32_t max_tasks, uint32_t client_size);
void idm_task_table_free(struct idm_conn *c);
/* Mark every active task aborting and tell the client (connection loss). */
void idm_task_abort_all(struct idm_conn *c);
/* Transport, target side: fill a new task from its SCSI Command BHS (CmdSN,
 * LUN, EDTL, direction) before the client sees the command. */
void idm_task_from_cmd(struct idm_task *t, const uint8_t *bhs);

/* Transmit queue bounds (txq.c). The decisions, pure: */
enum idm_txq_action { IDM_TXQ_NONE, IDM_TXQ_PAUSE, IDM_TXQ_RESUME };
enum idm_txq_stall {
	IDM_TXQ_IDLE,    /* nothing queued: stop ticking */
	IDM_TXQ_WAITING, /* tick again */
	IDM_TXQ_STALLED, /* no progress for stall_timeout_s: drop the peer */
};
void idm_txq_init(struct idm_txq *q, bool input_flow);
uint32_t idm_txq_pdu_cost(const struct idm_pdu *pdu, size_t owned_cap);
enum idm_txq_action idm_txq_push(struct idm_txq *q, uint32_t cost);
enum idm_txq_action idm_txq_pop(struct idm_txq *q, uint32_t cost, bool sent);
void idm_txq_stall_start(struct idm_txq *q);
/* One tick of the stall timer (once a second while PDUs wait). */
enum idm_txq_stall idm_txq_stall_tick(struct idm_txq *q);
/* ... applied to a connection by conn.c: */
void idm_conn_txq_init(struct idm_conn *c);
void idm_conn_txq_queued(struct idm_conn *c, uint32_t cost);
void idm_conn_txq_done(struct idm_conn *c, uint32_t cost, int status);
/* Closing: no more stall ticks; report the pauses once. */
void idm_conn_txq_stop(struct idm_conn *c);

/* Transport: may the connection's input be read now? False while its
 * transmit queue is over the bound (the rx_flow op announces changes). */
static inline bool idm_conn_rx_allowed(const struct idm_conn *c)
{
	return !c->txq.rx_paused;
}

/* Log rate limit (log_conn.c). Whether to print a line now; *summary gets the
 * count of lines suppressed before it, to report first (0: none). */
bool idm_log_limit_admit(struct idm_log_limit *l, uint64_t now_ms, uint32_t *summary);
/* The connection goes: the summary of what its limit suppressed, if any. */
void idm_log_conn_flush(const struct idm_conn *c);

/*
 * The transports the core offers its clients, most preferred first: what
 * an initiator with IDM_TRANSPORT_AUTO tries in order and what a portal
 * opens. A slot whose transport is not in this build has tp NULL and
 * says why. The unit tests pass lists of fake transports to the *_from
 * variants.
 */
struct idm_xport_slot {
	const char *label;              /* "iSER", "TCP": for the log */
	bool rdma;                      /* what IDM_TRANSPORT_ISER asks for */
	const struct idm_transport *tp; /* NULL: not in this build */
	const char *why_missing;
};

struct idm_xport_list {
	const struct idm_xport_slot *slot;
	unsigned n;
};

extern const struct idm_xport_list idm_xports;

int idm_ini_conn_create_from(const struct idm_xport_list *list, struct idm_ini_xport *x,
                             const struct idm_ini_conn_req *req, struct idm_conn **out,
                             char *err, size_t errlen);
/* The slots without rdma must open; the others are opened where they can. */
int idm_portal_open_from(const struct idm_xport_list *list, struct idm_portal *p,
                         const struct idm_svc_req *req, char *err, size_t errlen);

#endif
