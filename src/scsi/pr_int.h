/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to src/scsi: the reservation state of one LU (persistent
 * reservations, SPC-4 5.12, and SPC-2 RESERVE/RELEASE), shared by all
 * reactors under `lock`. pr.c owns the persistent part, reserve.c the
 * SPC-2 part, pr_state.c its text form (the APTPL file and the record
 * gateways share), pr_share.c the state kept in the cluster.
 */
#ifndef IDM_SCSI_PR_INT_H
#define IDM_SCSI_PR_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "scsi_int.h"

#define PR_MAX_REGS 32   /* registrations per LU */
#define PR_MAX_UAS 64    /* per-nexus unit attentions waiting per LU */
#define PR_LOCAL_PORTS 8 /* target ports of this gateway a shared LU knows */
/* The largest text of the state: a line per registration and per unit
 * attention, each at most PR_STATE_LINE_MAX (pr_state.c), and a few. */
#define PR_STATE_LINE_MAX (32 + 2 * 3 * SCSI_PORT_NAME_MAX)
#define PR_RECORD_MAX ((PR_MAX_REGS + PR_MAX_UAS + 8) * PR_STATE_LINE_MAX)

/* Persistent reservation types (SPC-4 6.15.2, table 170). */
enum pr_type {
	PR_TYPE_NONE = 0,
	PR_TYPE_WE = 1,    /* Write Exclusive */
	PR_TYPE_EA = 3,    /* Exclusive Access */
	PR_TYPE_WE_RO = 5, /* Write Exclusive, Registrants Only */
	PR_TYPE_EA_RO = 6, /* Exclusive Access, Registrants Only */
	PR_TYPE_WE_AR = 7, /* Write Exclusive, All Registrants */
	PR_TYPE_EA_AR = 8, /* Exclusive Access, All Registrants */
};

/* One I_T nexus by name, as stored in the tables. */
struct pr_port {
	char iport[SCSI_PORT_NAME_MAX];
	char tport[SCSI_PORT_NAME_MAX];
};

struct pr_reg {
	bool used;
	uint64_t key;
	uint16_t rel_port;
	struct pr_port port;
};

struct pr_ua {
	bool used;
	uint16_t asc;
	uint64_t serial; /* shared record: the change that raised it */
	bool abort;      /* ... a PREEMPT AND ABORT: abort the nexus's tasks */
	struct pr_port port;
};

#define XCOPY_HELD_MAX 16 /* EXTENDED COPY results held per LU */
#define XCOPY_SENSE_LEN 18

/* What EXTENDED COPY supports (xcopy.c), as RECEIVE COPY OPERATING
 * PARAMETERS reports it (copy_results.c). */
#define XCOPY_TGT_IDENT 0xe4 /* identification descriptor target descriptor */
#define XCOPY_SEG_B2B 0x02   /* block to block segment descriptor */
#define XCOPY_MAX_TGT 2      /* a source and a destination */
#define XCOPY_MAX_SEG 64
#define XCOPY_MAX_DESC_LIST 4096
#define XCOPY_MAX_SEG_BLOCKS 0xffffu /* the descriptor's 16-bit count */
#define XCOPY_USAGE_HOLD_MAX 1       /* LIST ID USAGE 00b, 01b: hold results */

/* The results of one EXTENDED COPY, held for RECEIVE COPY RESULTS. */
struct xcopy_held {
	bool used;
	uint8_t list_id;
	uint8_t status;     /* copy manager status: 1 good, 2 error */
	uint8_t cmd_status; /* SCSI status of the EXTENDED COPY */
	uint8_t units;      /* transfer count units: 0 bytes, 1 KiB */
	uint16_t segments;  /* segments processed */
	uint32_t count;     /* transfer count */
	uint8_t sense_len;
	uint8_t sense[XCOPY_SENSE_LEN];
	char iport[SCSI_PORT_NAME_MAX];
};

/*
 * The state of a LU that all reactors share and change only on slow
 * paths (reservations, EXTENDED COPY results), under `lock`.
 */
struct scsi_pr {
	pthread_mutex_t lock;
	uint32_t generation; /* PRgeneration */
	struct pr_reg regs[PR_MAX_REGS];
	uint8_t type;           /* enum pr_type; NONE: not reserved */
	int holder;             /* index into regs; -1 for all-registrants */
	bool aptpl;             /* persist through power loss */
	bool can_persist;       /* the state file can be written */
	bool r2_held;           /* an SPC-2 reservation exists */
	struct pr_port r2_port; /* ... held by this nexus */
	struct pr_ua uas[PR_MAX_UAS];
	char path[PATH_MAX]; /* APTPL state file, "" when none */
	struct xcopy_held held[XCOPY_HELD_MAX];
	unsigned held_next; /* slot to reuse when all are used */
	/* Shared by the gateways of a clustered store (pr_share.c): the
	 * record "pr" is the truth, the fields above are its copy. */
	bool shared;
	bool broken;     /* the last record read did not parse */
	uint64_t serial; /* changes of the record installed so far */
	unsigned n_local;
	char local_tport[PR_LOCAL_PORTS][SCSI_PORT_NAME_MAX];
	uint64_t own_serial; /* the change this gateway is writing, or 0 */
	/* The target's PREEMPT AND ABORT hook (struct scsi_lu_set), as the
	 * PR commands through this gateway carry it. */
	void (*abort_nexus)(void *ctx, struct scsi_cmd *by, struct scsi_lu *lu,
	                    const char *initiator_port);
	void *abort_ctx;
};

/* Allocate / free the state of a LU (lu.c). */
int scsi_pr_create(struct scsi_lu *lu);
void scsi_pr_free(struct scsi_lu *lu);

/* Under pr->lock: refresh the lock-free flags of the LU. */
void pr_publish(struct scsi_lu *lu);
/* Under pr->lock: is the nexus registered (index) / the holder? */
int pr_find_reg(const struct scsi_pr *pr, const struct scsi_nexus *n);
/* Under pr->lock: queue a unit attention for one nexus (replacing an
 * older one; a full table drops it). */
void pr_ua_queue(struct scsi_pr *pr, const struct pr_port *p, uint16_t asc);
/* The nexus of a command as a table key. */
void pr_port_of(struct pr_port *p, const struct scsi_nexus *n);
bool pr_port_is(const struct pr_port *p, const struct scsi_nexus *n);

/* APTPL file (pr_state.c), under pr->lock: 0 or -errno. A load that
 * fails says why (file and line) in `why`, which may be NULL. */
int pr_state_save(struct scsi_pr *pr);
int pr_state_load(struct scsi_pr *pr, char *why, size_t whylen);
void pr_state_remove(struct scsi_pr *pr);

/* The text form of the state (pr_state.c) in memory; `shared` adds the
 * lines only the cluster record has (APTPL, the SPC-2 holder, serial,
 * recent unit attentions). Format: 0 and *len, or -ENOSPC. Parse
 * `len` bytes from anywhere (hostile): all or nothing into the
 * reservation fields of `out`, or -EINVAL with "name:line: what" in
 * `why` (may be NULL). */
int pr_state_format(const struct scsi_pr *pr, bool shared, char *buf, size_t cap, size_t *len);
int pr_state_parse(const char *buf, size_t len, const char *name, bool shared, struct scsi_pr *out,
                   char *why, size_t whylen);

/* PERSISTENT RESERVE OUT service actions (SPC-4 6.15.2). */
enum pr_out_sa {
	PROUT_REGISTER = 0,
	PROUT_RESERVE = 1,
	PROUT_RELEASE = 2,
	PROUT_CLEAR = 3,
	PROUT_PREEMPT = 4,
	PROUT_PREEMPT_ABORT = 5,
	PROUT_REGISTER_IGNORE = 6,
	PROUT_REGISTER_MOVE = 7,
};

/* What a PERSISTENT RESERVE OUT service action came to. */
enum prout_result {
	PROUT_GOOD,
	PROUT_CONFLICT,
	PROUT_BAD_CDB_TYPE, /* invalid TYPE / SCOPE in the CDB */
	PROUT_BAD_PARAM,    /* invalid field in the parameter list */
	PROUT_BAD_RELEASE,  /* INVALID RELEASE OF PERSISTENT RESERVATION */
	PROUT_NO_RESOURCES, /* INSUFFICIENT REGISTRATION RESOURCES */
	PROUT_BAD_LIST_LEN, /* PARAMETER LIST LENGTH ERROR */
	PROUT_BAD_TID_LEN,  /* TRANSPORTID PARAMETER DATA LENGTH invalid */
	PROUT_BUSY,         /* shared: other gateways kept winning the record */
	PROUT_FAILED,       /* shared: the record cannot be read or written */
};

/* Preempted nexuses whose tasks PREEMPT AND ABORT aborts. */
struct pr_preempted {
	unsigned count;
	char iport[PR_MAX_REGS][SCSI_PORT_NAME_MAX];
};

/* Run cmd's PERSISTENT RESERVE OUT (checked by scsi_pr_out_exec) on
 * state `pr` (the LU's under its lock, or a scratch copy); `gone`
 * (may be NULL) gets the initiator ports it preempted. */
enum prout_result pr_out_apply(struct scsi_pr *pr, const struct scsi_cmd *cmd,
                               struct pr_preempted *gone);
/* The status of a PERSISTENT RESERVE OUT from its result; then, on its
 * reactor: abort the tasks of `gone` (PREEMPT AND ABORT) and complete. */
void pr_out_status(struct scsi_cmd *cmd, enum prout_result r);
/* A list for the nexuses cmd preempts when it is a PREEMPT AND ABORT
 * and the target can abort tasks, else NULL (also when out of memory). */
struct pr_preempted *pr_out_gone_new(const struct scsi_cmd *cmd);
void pr_out_abort(struct scsi_cmd *cmd, const struct pr_preempted *gone);
/* SPC-2 RESERVE (or RELEASE) by `n` on state `pr`: 0 GOOD, 1 conflict. */
int pr_spc2_apply(struct scsi_pr *pr, const struct scsi_nexus *n, bool reserve);

/* Shared LU (pr_share.c): PERSISTENT RESERVE OUT, RESERVE and RELEASE
 * run against the record on the store's thread, then complete. */
void pr_share_exec(struct scsi_cmd *cmd);
/* Under pr->lock: refuse a command of a shared LU whose record is
 * broken (1, sense set), else remember its target port as one of this
 * gateway's (0). */
int pr_share_check(struct scsi_pr *pr, struct scsi_cmd *cmd);
/* End the SPC-2 reservation in the record: of nexus `n`, or of anyone
 * (n == NULL: a reset). Asynchronous, on the store's thread. */
void pr_share_release_spc2(struct scsi_lu *lu, const struct scsi_nexus *n);
/* The same; with `released`, true when released(arg) runs on this
 * reactor once the record says so (false: nothing held, nothing to wait). */
bool pr_share_release_spc2_then(struct scsi_lu *lu, const struct scsi_nexus *n,
                                void (*released)(void *arg), void *arg);
/* The unit attentions a gateway queues from a record: those raised by
 * a change after `seen` for a nexus on one of its `n_local` target
 * ports. Pure; returns how many went to `out` (PR_MAX_UAS room). */
unsigned pr_share_uas_due(const struct pr_ua *rec, uint64_t seen,
                          const char (*local)[SCSI_PORT_NAME_MAX], unsigned n_local,
                          struct pr_ua *out);
/* The recent unit attentions of a record after change `serial`: those
 * `fresh` raised (stamped `serial`), then the older of `old` raised by
 * one of the PR_SHARE_UA_CHANGES changes before, while room lasts.
 * Pure; into `out` (PR_MAX_UAS). */
#define PR_SHARE_UA_CHANGES 8
void pr_share_uas_merge(const struct pr_ua *fresh, const struct pr_ua *old, uint64_t serial,
                        struct pr_ua *out);

/* Reservation conflict checks (cdb.c calls these when resv_active):
 * 1 with RESERVATION CONFLICT set, else 0. */
int scsi_resv_check(struct scsi_cmd *cmd);
/* Would a READ (write false) or WRITE from nexus `n` to `lu` meet a
 * reservation conflict? Lock-free while no reservation exists. */
bool scsi_resv_conflict(struct scsi_lu *lu, const struct scsi_nexus *n, bool write);
/* Per-nexus unit attention, or 0 (cdb.c, when pr_ua_pending). */
uint16_t scsi_pr_take_ua(struct scsi_lu *lu, const struct scsi_nexus *n);

/* A copy with list id `list_id` starts on cmd's LU: OPERATION IN
 * PROGRESS (1, sense set) while a copy of the same initiator port with
 * that list id still runs; else 0, and with `hold` its results are held
 * from now on (copy_results.c). */
int xcopy_held_begin(struct scsi_cmd *cmd, uint8_t list_id, bool hold);
/* Publish how far a held copy got, and with `end` how it ended (cmd's
 * status and sense). */
void xcopy_held_update(struct scsi_cmd *cmd, uint8_t list_id, uint16_t segments, uint64_t bytes,
                       bool end);

/* Set RESERVATION CONFLICT status on a command. */
void scsi_cmd_conflict(struct scsi_cmd *cmd);

#endif
