/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the iSCSI target (src/target).
 *
 * Ownership:
 *   struct idm_server   one per idmd: targets, reactors, portals, and the
 *                       session table (its mutex is taken on the login and
 *                       teardown paths only, never on the data path);
 *   struct tgt_target   one per configured target: its LUN set;
 *   struct tgt_session  one per iSCSI session: ISID/TSIH, initiator, the
 *                       CmdSN window, unit attention bookkeeping, and its
 *                       one connection (MaxConnections is 1);
 *   struct tgt_conn     one per TCP connection, in idm_conn->client_priv;
 *   struct tgt_task     the client area of each idm_task (a SCSI command
 *                       or a TMF).
 * Lock order: srv->lock is a leaf; nothing calls into the core while
 * holding it.
 */
#ifndef IDM_TARGET_INT_H
#define IDM_TARGET_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/idm.h"
#include "idm/keys.h"
#include "idm/scsi.h"
#include "idm/target.h"
#include "target/stats.h"

#define TGT_SERVER_MAGIC 0x54535256u  /* "TSRV" */
#define TGT_SESSION_MAGIC 0x54534553u /* "TSES" */
#define TGT_CONN_MAGIC 0x54434f4eu    /* "TCON" */

#define TGT_TEXT_MAX (64 * 1024)      /* reassembled login/text data bound */
#define TGT_TASK_SLACK 16             /* immediate commands, TMFs, NOPs */
#define TGT_DISCARD_MAX (16u << 20)   /* write data we accept only to drop */
#define TGT_LOGIN_DSL 8192            /* MaxRecvDSL in force during login */

/* ---- CmdSN window (RFC 7143 section 4.2.2.1), pure ---- */

struct tgt_window {
	uint32_t exp_cmd_sn;
	uint32_t max_cmd_sn;
};

/* Open the window at the leading login's CmdSN with `depth` commands. */
void tgt_window_init(struct tgt_window *w, uint32_t cmd_sn, uint32_t depth);
/* True when `cmd_sn` lies in [ExpCmdSN, MaxCmdSN]. */
bool tgt_window_in(const struct tgt_window *w, uint32_t cmd_sn);
/*
 * Decide on a non-immediate PDU's CmdSN: 0 when accepted (ExpCmdSN moves
 * past it), -ERANGE when outside the window (the PDU is dropped). An
 * immediate PDU is always accepted and moves nothing.
 */
int tgt_window_accept(struct tgt_window *w, uint32_t cmd_sn, bool immediate);
/* A non-immediate command finished: its slot opens MaxCmdSN by one. */
void tgt_window_credit(struct tgt_window *w);

/* ---- sessions ---- */

struct tgt_target {
	struct idm_server *srv;
	char iqn[IDM_NAME_MAX];
	char alias[256];
	struct scsi_lu_set luns;
	/* access control (login.c), copied from struct idm_target_conf */
	char acl[IDM_MAX_ACL][IDM_NAME_MAX]; /* none: any initiator */
	unsigned nacl;
	struct idm_acl_chap acl_chap[IDM_MAX_ACL]; /* per initiator, over `chap` */
	struct idm_lun_map acl_map[IDM_MAX_ACL];   /* per initiator: what it sees */
	struct idm_chap_account chap;        /* used when has_chap */
	bool has_chap;
	uint8_t offered_on;                  /* IDM_OFFER_* bits; 0 = every transport */
	/* per LU, one slot per reactor (srv->nslots), each written only by
	 * its reactor (iostat.c) */
	struct tgt_io_stats *lun_stats[SCSI_MAX_LUNS];
	/* deleted live (live.c): no login finds it; read with acquire */
	bool deleted;
	/* per LU in a gateway group (gateway.c), else NULL */
	struct tgt_gw_lun *gw[SCSI_MAX_LUNS];
};

struct tgt_conn;

struct tgt_session {
	uint32_t magic;
	uint32_t refcnt;                 /* under srv->lock */
	struct idm_server *srv;
	struct tgt_target *target;       /* NULL for discovery */
	enum idm_session_type type;
	uint8_t isid[6];
	uint16_t tsih;
	char initiator_name[IDM_NAME_MAX];
	bool in_table;                   /* visible to logins */
	/* owned by the connection's reactor */
	struct tgt_window win;
	uint32_t ua_seen[SCSI_MAX_LUNS];
	struct scsi_lun_map map;         /* the LUNs it sees (its ACL entry's) */
	struct scsi_nexus nexus;         /* filled by the first SCSI command */
	struct idm_params params;
	/* the one connection; changed under srv->lock */
	struct tgt_conn *conn;
	struct idm_reactor *reactor;
	struct tgt_session *next;
};

/* What to do with a leading login, from the ISID/TSIH rules. */
enum tgt_sess_action {
	TGT_SESS_NEW,        /* TSIH 0, no session with this ISID: create */
	TGT_SESS_REINSTATE,  /* TSIH 0, same ISID + initiator + target */
	TGT_SESS_REFUSE,     /* status says why */
};

struct tgt_sess_key {
	const uint8_t *isid;
	const char *initiator_name;
	const struct tgt_target *target; /* NULL: discovery */
	uint16_t tsih;
};

/*
 * Pure decision for a login's first PDU. `same_isid` is the session with
 * the same ISID, initiator and target (or NULL), `by_tsih` the session
 * named by a non-zero TSIH (or NULL). On REFUSE *status gets the login
 * status (SESSION_DOES_NOT_EXIST, TOO_MANY_CONNECTIONS).
 */
enum tgt_sess_action tgt_session_decide(const struct tgt_sess_key *key,
					const struct tgt_session *same_isid,
					const struct tgt_session *by_tsih, uint16_t *status);

/* Session table (srv->lock held by the caller). */
struct tgt_session *tgt_sessions_find_isid(struct tgt_session *head,
					   const struct tgt_sess_key *key);
struct tgt_session *tgt_sessions_find_tsih(struct tgt_session *head, uint16_t tsih);
/* A TSIH no live session uses (never 0), advancing *next; 0 when all
 * 65535 are taken. */
uint16_t tgt_tsih_alloc(struct tgt_session *head, uint16_t *next);
/* The same over any table: at most `tries` values from *next, skipping 0
 * and those taken() says are in use; 0 when none is free (pure). */
uint16_t tgt_tsih_pick(uint16_t *next, unsigned tries, bool (*taken)(void *arg, uint16_t tsih),
                       void *arg);
void tgt_sessions_unlink(struct tgt_session **head, struct tgt_session *s);

/* ---- admission limits (limits.c) ---- */

struct tgt_portal;

struct tgt_conn_counts {
	unsigned total, portal, address, prelogin;
};

struct tgt_sess_counts {
	unsigned target, initiator, discovery;
};

/* Refusal lines: one a second per limit, the rest counted (srv->lock). */
#define TGT_LIMIT_LOG_KEYS 12
struct tgt_limit_log {
	const char *key; /* the limit's name (a static string) */
	uint64_t last_ms;
	uint32_t suppressed;
};

/* The name of the limit one more connection / session would pass, or
 * NULL (pure; counts are of those already there). */
const char *tgt_conn_limit_hit(const struct idm_target_tunables *tun,
                               const struct tgt_conn_counts *n);
const char *tgt_sess_limit_hit(const struct idm_target_tunables *tun, enum idm_session_type type,
                               const struct tgt_sess_counts *n);
/* Same IP address (port ignored). */
bool tgt_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* Counts over srv->conns / srv->sessions (srv->lock held); `except` is a
 * session not to count (one being reinstated) or NULL. */
struct tgt_conn;
void tgt_conn_count(const struct tgt_conn *head, const struct tgt_portal *portal,
                    const struct sockaddr_storage *peer, struct tgt_conn_counts *n);
void tgt_sess_count(const struct tgt_session *head, const struct tgt_target *target,
                    const char *initiator, const struct tgt_session *except,
                    struct tgt_sess_counts *n);
/* Log a refusal for the limit `key` (a static string), rate limited
 * server-wide per limit (takes srv->lock). */
void tgt_limit_log(struct idm_server *srv, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the server ---- */

struct tgt_portal {
	struct idm_server *srv;
	struct idm_portal_conf conf;
	struct idm_portal idm; /* a service per transport (TCP, iSER) */
	bool removed;          /* removed live: an empty slot (live.c) */
};

/* server.c: listen on p->conf's address with its transports (0, or -errno
 * with one line; what opened stays for tgt_portal_close), and stop
 * listening (its connections go on). */
int tgt_portal_open(struct idm_server *srv, struct tgt_portal *p, char *err, size_t errlen);
void tgt_portal_close(struct tgt_portal *p);

struct idm_server {
	uint32_t magic;
	struct idm_target_tunables tun;
	struct tgt_target *targets;
	unsigned ntargets;
	struct idm_reactor **reactors;
	unsigned nreactors;
	bool reactors_running;
	struct tgt_portal portals[IDM_MAX_PORTALS];
	unsigned nportals;            /* slots used so far; `removed` ones are empty */
	/* login / teardown state, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct tgt_session *sessions;
	unsigned nsessions;           /* in `sessions` */
	uint16_t next_tsih;
	struct tgt_limit_log limit_log[TGT_LIMIT_LOG_KEYS];
	struct tgt_conn *conns;
	unsigned nconns;
	unsigned nconns_peak;         /* since the heap was last trimmed (conn.c) */
	bool stopping;
	/* authentication of discovery sessions, CHAP algorithms (login.c) */
	struct idm_discovery_conf disc;
	uint8_t chap_algs[IDM_CHAP_ALGS_MAX];
	unsigned nchap_algs;
	/* statistics slots per LU (one per reactor); when it started */
	unsigned nslots;
	uint64_t started_ms;
	/* the running configuration, kept by the control thread (live.c,
	 * config save); targets[] has IDM_MAX_TARGETS slots, ntargets of
	 * them used (stored with release) */
	struct idm_target_conf_all *conf;
};

struct tgt_target *tgt_target_find(struct idm_server *srv, const char *iqn);
/* server.c: open a target's LUs into slot t / one LU; close LU l. */
int tgt_target_open(struct tgt_target *t, struct idm_server *srv, const struct idm_target_conf *tc,
		    char *err, size_t errlen);
int tgt_lun_open(struct tgt_target *t, const struct idm_lun_conf *lc, const char *state_dir,
		 char *err, size_t errlen);
void tgt_lun_close(struct tgt_target *t, unsigned l);
/* Free LU l, unpublished already and idle (live.c). */
void tgt_lun_free(struct tgt_target *t, unsigned l, struct scsi_lu *lu);
/* Take / drop a reference on a session (takes srv->lock). */
void tgt_session_get(struct tgt_session *s);
void tgt_session_put(struct tgt_session *s);

/* ---- connections ---- */

struct tgt_login; /* login.c */
struct tgt_text;  /* text.c */

struct tgt_conn {
	uint32_t magic;
	struct idm_conn *ic;
	struct idm_server *srv;
	struct tgt_portal *portal;
	struct tgt_session *sess;        /* set when the login completes */
	struct tgt_login *login;         /* during login only */
	struct tgt_text *text;           /* a text exchange in progress */
	/* keepalive (nop.c) */
	struct idm_timer nop_timer;
	uint64_t last_rx_ms;
	uint64_t nop_sent_ms;
	uint32_t nop_ttt;
	bool nop_outstanding;
	bool close_sent;                 /* idm_server_stop asked to close */
	bool logout_asked;               /* idm_server_stop asked for a logout */
	bool logged_out;
	bool logged_in;                  /* login complete (limits.c counts) */
	struct idm_timer dataout_timer;  /* a WRITE waits for data (dataout.c) */
	struct tgt_io_stats io;          /* its reactor's only (iostat.c) */
	struct tgt_conn *next;           /* srv->conns, under srv->lock */
};

static inline struct tgt_conn *tgt_conn_of(struct idm_conn *c)
{
	struct tgt_conn *tc = c->client_priv;

	return (tc && tc->magic == TGT_CONN_MAGIC) ? tc : NULL;
}

/* The client ops the target registers with every portal (conn.c). */
extern const struct idm_client_ops tgt_client_ops;
void tgt_accepted(struct idm_svc *svc, struct idm_conn *c);

/* Per PDU family. */
void tgt_login_rx(struct tgt_conn *tc, struct idm_pdu *pdu);
void tgt_login_free(struct tgt_conn *tc);
void tgt_text_rx(struct tgt_conn *tc, struct idm_pdu *pdu);
void tgt_text_free(struct tgt_conn *tc);
void tgt_nop_rx(struct tgt_conn *tc, struct idm_pdu *pdu);
void tgt_nop_start(struct tgt_conn *tc);
void tgt_nop_stop(struct tgt_conn *tc);
struct tgt_task;
/* dataout.c: watch a task now waiting for write data; stop watching. */
void tgt_dataout_watch(struct tgt_conn *tc, struct tgt_task *tt);
void tgt_dataout_stop(struct tgt_conn *tc);

/* async.c */
int tgt_async_logout_request(struct tgt_conn *tc, uint16_t within_s);
void tgt_tmf_rx(struct tgt_conn *tc, struct idm_pdu *pdu);
/* scsi_lu_set.abort_nexus: PREEMPT AND ABORT's aborts (ctx: the target). */
void tgt_abort_nexus(void *ctx, struct scsi_cmd *by, struct scsi_lu *lu,
		     const char *initiator_port);
void tgt_logout_rx(struct tgt_conn *tc, struct idm_pdu *pdu);
int tgt_scsi_cmd_header(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t);
void tgt_scsi_cmd(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t);
void tgt_task_abort(struct idm_task *t);
void tgt_task_free(struct idm_task *t);

/* Accept a non-SCSI request's CmdSN on a logged-in connection (0; a
 * non-immediate one advances and re-opens the window at once), or -ERANGE:
 * outside the window, drop it silently. */
int tgt_conn_cmdsn(struct tgt_conn *tc, const struct idm_pdu *pdu);
/* Close a connection once `pdu` (already filled) has been sent. */
void tgt_tx_then_close(struct idm_conn *c, struct idm_pdu *pdu);

/* ---- SCSI tasks ---- */

enum tgt_task_phase {
	TGT_PH_SETUP,    /* header seen, not started */
	TGT_PH_RX,       /* fetching write data from the initiator */
	TGT_PH_EXEC,     /* the SCSI layer / store has it */
	TGT_PH_TX,       /* data and status on their way out */
	TGT_PH_DONE,     /* released */
};

/*
 * Someone waiting until aborted tasks can no longer touch the medium: a
 * TMF (its response waits), or another reactor's share of a TMF's aborts
 * (it reports home). `pending` counts aborted tasks whose store I/O is
 * still in flight, plus any shares not yet reported; settled() runs when
 * it drops to 0, on the reactor of the task that made it drop.
 */
struct tgt_abort_wait {
	uint32_t pending;
	void (*settled)(struct tgt_abort_wait *w);
};

struct tgt_task {
	struct scsi_cmd cmd;              /* scsi_cmd.priv -> this */
	struct idm_task *t;
	enum tgt_task_phase phase;
	struct tgt_abort_wait *waiter;    /* aborted: who waits for our I/O */
	struct tgt_abort_wait wait;       /* TMF: what its response waits for */
	uint8_t *buf;                     /* from idm_buf_get, or NULL */
	size_t buf_cap;
	uint32_t cdb_xfer;                /* bytes the CDB asked to move */
	uint32_t rx_len;                  /* write bytes to fetch */
	uint32_t exec_nblocks;            /* blocks to run (trimmed writes) */
	uint32_t read_edtl;               /* EDTL if R was set, else 0 */
	uint32_t write_edtl;              /* EDTL if W was set, else 0 */
	bool is_tmf;
	bool counted;                     /* non-immediate: credits MaxCmdSN */
	bool dropped;                     /* outside the CmdSN window */
	bool setup_failed;                /* status/sense already set */
	bool discard;                     /* write data we take and drop */
	bool skip_exec;                   /* EDTL leaves nothing to write */
	bool aborted;                     /* TMF or connection loss */
	bool done_held;                   /* store done, status waits for `wait` */
	uint16_t lu_index;                /* the LU its LUN names (through the
					   * session's map); SCSI_MAX_LUNS: none */
	uint8_t reject_reason;            /* non-zero: answer with a Reject */
	uint64_t start_us;                /* when its header came (latency) */
	uint64_t rx_progress_ms;          /* last time `received` moved (dataout.c) */
	uint32_t rx_seen;                 /* `received` then */
	uint8_t bhs[IDM_BHS_LEN];         /* the request's header */
	struct idm_scsi_status st;
	uint8_t cdb[SCSI_CDB_MAX];
};

static inline struct tgt_task *tgt_task_of(struct idm_task *t)
{
	return (struct tgt_task *)(void *)t->client_area;
}

/* scsi.c: end a task (MaxCmdSN credit, the target's reference dropped;
 * the buffer goes with the last reference: tgt_task_free); idempotent.
 * Abort one for a TMF (`w` waits while its store I/O runs; with
 * `answer_r2ts`, also until the initiator has answered its R2Ts). */
void tgt_task_finish(struct tgt_task *tt);
void tgt_task_abort_for(struct tgt_task *tt, struct tgt_abort_wait *w, bool answer_r2ts);
/* scsi.c: `wait`'s settled() for a SCSI command whose status waits for
 * the tasks it aborted (PREEMPT AND ABORT). */
void tgt_cmd_wait_settled(struct tgt_abort_wait *w);
/* tmf.c: every task a TMF aborted has settled. */
void tgt_tmf_settled(struct tgt_task *tmf);

/* iostat.c: count an answered command on its connection and LU (on the
 * connection's reactor, no lock). */
void tgt_iostat_account(struct tgt_task *tt, uint32_t bytes);
uint64_t tgt_now_us(void);

/* ---- pure helpers ---- */

/* Residual of a transfer (RFC 7143 section 11.4.5): `expected` is the
 * EDTL for the direction, `moved` what the command moved or wanted to. */
void tgt_residual(uint32_t expected, uint32_t moved, uint8_t *flags, uint32_t *residual);

/* How a command's data moves, given the iSCSI flags and the CDB. */
struct tgt_xfer_in {
	uint32_t edtl;
	bool r, w;                 /* iSCSI READ / WRITE flags */
	enum scsi_dir dir;         /* from scsi_cmd_setup */
	uint32_t xfer_len;         /* bytes the CDB moves */
	uint32_t block_size;       /* of the LU (0: not a block command) */
	uint32_t nblocks;          /* blocks the CDB moves (0: not a block cmd) */
	uint32_t unsol_limit;      /* unsolicited bytes the session allows */
};

struct tgt_xfer {
	uint32_t buf_len;          /* buffer to provide */
	uint32_t rx_len;           /* bytes to fetch from the initiator */
	uint32_t unsol_limit;
	uint32_t nblocks;          /* blocks to execute (writes may be trimmed) */
	bool discard;              /* write data for a non-write CDB */
	bool skip_exec;            /* trimmed to nothing */
	bool direct_ok;            /* store memory may be the buffer */
};

void tgt_xfer_plan(const struct tgt_xfer_in *in, struct tgt_xfer *out);

/* Validate a Login Request's stages and version against the current
 * stage; 0 or a login status (class << 8 | detail). */
uint16_t tgt_login_check(const uint8_t *bhs, int cur_stage, bool first);
/* May `initiator` log in to `t`? True when t's ACL is empty or lists it. */
/* Whether `t` is offered over the transport `tp` (its "transports"). */
bool tgt_offered_over(const struct tgt_target *t, const struct idm_transport *tp);
bool tgt_acl_admits(const struct tgt_target *t, const char *initiator);
/* The CHAP account `initiator` must prove at t: its ACL entry's own, else
 * the target's; NULL when none (pure, login_check.c). */
const struct idm_chap_account *tgt_acl_account(const struct tgt_target *t, const char *initiator);
/* The view of t's LUNs `initiator` gets: its ACL entry's LUN map, else
 * every LUN (pure, login_check.c). */
void tgt_acl_lun_view(const struct tgt_target *t, const char *initiator, struct scsi_lun_map *out);
/* Whether t's ACL has an entry for `initiator`. */
bool tgt_acl_lists(const struct tgt_target *t, const char *initiator);

/* Decision on a TMF (pure). */
struct tgt_tmf_in {
	uint8_t function;
	bool lun_exists;
	bool task_found;
	bool refcmdsn_in_window;   /* RefCmdSN in [ExpCmdSN, TMF CmdSN) */
	bool discovery;
};
uint8_t tgt_tmf_decide(const struct tgt_tmf_in *in);

/* "a.b.c.d:port" or "[v6]:port" of a socket address; 0 or -EINVAL. */
int tgt_format_addr(const struct sockaddr_storage *ss, char *out, size_t cap);

/* SendTargets answer (RFC 7143 appendix C). `own` restricts a normal
 * session to its target; `value` is "All", an iSCSI name or "". Writes
 * "TargetName=..\0TargetAddress=..\0" into out; returns bytes or -ENOSPC. */
int tgt_sendtargets_build(const struct tgt_target *targets, unsigned ntargets,
			  const struct tgt_target *own, const char *value, const char *addr,
			  uint16_t tpgt, char *out, size_t cap);
/* The same, listing only targets whose ACL admits `initiator` (NULL: all). */
int tgt_sendtargets_build_for(const struct tgt_target *targets, unsigned ntargets,
			      const struct tgt_target *own, const char *initiator,
			      const struct idm_transport *tp, const char *value, const char *addr,
			      uint16_t tpgt, char *out, size_t cap);

#endif
