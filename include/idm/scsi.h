/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCSI block device emulation (SPC-4 / SBC-3) over a backing store.
 *
 * A target owns a LUN set; each SCSI command it receives goes through
 *   1. scsi_cmd_setup(): decode the CDB, resolve the LU, check fields and
 *      LBA ranges, and say which way data moves and how much (xfer_len);
 *   2. buffer: the target gives cmd->data (xfer_len bytes), possibly from
 *      scsi_cmd_direct_buffer() which points into the store's memory for
 *      a zero-copy READ/WRITE on the mem store;
 *   3. scsi_cmd_exec(): runs the command (asynchronously for file I/O) and
 *      calls cmd->done with status, sense and data_len filled in.
 * Nothing here knows about iSCSI.
 */
#ifndef IDM_SCSI_H
#define IDM_SCSI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/backing.h"

#define SCSI_SENSE_MAX 252
#define SCSI_CDB_MAX 260 /* 16-byte BHS CDB + extended CDB AHS */
#define SCSI_MAX_LUNS 256

/* SAM status codes. */
enum scsi_status {
	SCSI_STATUS_GOOD = 0x00,
	SCSI_STATUS_CHECK_CONDITION = 0x02,
	SCSI_STATUS_CONDITION_MET = 0x04,
	SCSI_STATUS_BUSY = 0x08,
	SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	SCSI_STATUS_TASK_SET_FULL = 0x28,
	SCSI_STATUS_ACA_ACTIVE = 0x30,
	SCSI_STATUS_TASK_ABORTED = 0x40,
};

/* Sense keys. */
enum scsi_sense_key {
	SCSI_SENSE_NO_SENSE = 0x0,
	SCSI_SENSE_RECOVERED_ERROR = 0x1,
	SCSI_SENSE_NOT_READY = 0x2,
	SCSI_SENSE_MEDIUM_ERROR = 0x3,
	SCSI_SENSE_HARDWARE_ERROR = 0x4,
	SCSI_SENSE_ILLEGAL_REQUEST = 0x5,
	SCSI_SENSE_UNIT_ATTENTION = 0x6,
	SCSI_SENSE_DATA_PROTECT = 0x7,
	SCSI_SENSE_ABORTED_COMMAND = 0xb,
	SCSI_SENSE_MISCOMPARE = 0xe,
};

/* Additional sense code and qualifier, as (ASC << 8 | ASCQ). */
enum scsi_asc {
	SCSI_ASC_NONE = 0x0000,
	SCSI_ASC_WRITE_ERROR = 0x0c00,
	SCSI_ASC_READ_ERROR = 0x1100,
	SCSI_ASC_MISCOMPARE_DURING_VERIFY = 0x1d00,
	SCSI_ASC_INVALID_OPCODE = 0x2000,
	SCSI_ASC_LBA_OUT_OF_RANGE = 0x2100,
	SCSI_ASC_INVALID_FIELD_IN_CDB = 0x2400,
	SCSI_ASC_LU_NOT_SUPPORTED = 0x2500,
	SCSI_ASC_WRITE_PROTECTED = 0x2700,
	SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST = 0x2600,
	SCSI_ASC_PARAM_LIST_LENGTH_ERROR = 0x1a00,
	SCSI_ASC_POWER_ON_RESET = 0x2900,
	SCSI_ASC_BUS_DEVICE_RESET = 0x2903,
	SCSI_ASC_CAPACITY_CHANGED = 0x2a09,
	SCSI_ASC_MODE_PARAMS_CHANGED = 0x2a01,
	SCSI_ASC_REPORTED_LUNS_CHANGED = 0x3f0e,
	SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED = 0x3900,
	SCSI_ASC_MEDIUM_NOT_PRESENT = 0x3a00,
	SCSI_ASC_INTERNAL_TARGET_FAILURE = 0x4400,
	SCSI_ASC_COMMANDS_CLEARED_BY_OTHER_NEXUS = 0x2f00,
	SCSI_ASC_RESERVATIONS_PREEMPTED = 0x2a03,
	SCSI_ASC_RESERVATIONS_RELEASED = 0x2a04,
	SCSI_ASC_REGISTRATIONS_PREEMPTED = 0x2a05,
	SCSI_ASC_INVALID_RELEASE_OF_PR = 0x2604,
	SCSI_ASC_INSUFFICIENT_REG_RESOURCES = 0x5504,
	SCSI_ASC_ASYMMETRIC_ACCESS_STATE_CHANGED = 0x2a06,
};

/* SCSI port names: an iSCSI name (<= 223 bytes) plus ",i,0x" and the
 * ISID in hex, or ",t,0x" and the TPGT in hex. */
#define SCSI_PORT_NAME_MAX 256

/*
 * One I_T nexus as SPC-4 sees it: the initiator port and the target
 * port. Persistent reservations and SPC-2 reservations belong to it.
 * The target fills one per session (scsi_nexus_init) and points every
 * command of that session at it.
 */
struct scsi_nexus {
	char initiator_port[SCSI_PORT_NAME_MAX]; /* "iqn...,i,0x<ISID 12 hex>" */
	char target_port[SCSI_PORT_NAME_MAX];    /* "iqn...,t,0x<TPGT 4 hex>" */
	uint16_t rel_port_id;                    /* relative target port id */
	uint16_t tpgt;                           /* target port group */
	uint32_t id;                             /* small id, unique while live */
};

/* Fill `n` from the iSCSI names, the ISID and the portal group tag. */
void scsi_nexus_init(struct scsi_nexus *n, const char *initiator_name, const uint8_t isid[6],
		     const char *target_name, uint16_t tpgt, uint32_t id);
/* Same initiator and target port. */
bool scsi_nexus_same(const struct scsi_nexus *a, const struct scsi_nexus *b);

enum scsi_dir {
	SCSI_DIR_NONE,
	SCSI_DIR_READ,  /* data to the initiator (Data-In) */
	SCSI_DIR_WRITE, /* data from the initiator (Data-Out) */
};

/*
 * Asymmetric logical unit access (SPC-4 5.16): the target port groups
 * of a LU exported by several gateways, one group and one relative
 * target port per gateway (a command's group is its nexus's tpgt, its
 * port the nexus's rel_port_id). A LU without groups (n == 0) answers
 * as one group, the command's own, active/optimized.
 */
enum scsi_alua_state {
	SCSI_ALUA_ACTIVE_OPTIMIZED = 0x0,
	SCSI_ALUA_ACTIVE_NON_OPTIMIZED = 0x1,
	SCSI_ALUA_STANDBY = 0x2,
	SCSI_ALUA_UNAVAILABLE = 0x3,
	SCSI_ALUA_TRANSITIONING = 0xf,
};
#define SCSI_ALUA_GROUPS_MAX 16
struct scsi_alua_group {
	uint16_t id;   /* target port group, and its one relative target port */
	uint8_t state; /* enum scsi_alua_state */
};
struct scsi_alua {
	unsigned n;
	struct scsi_alua_group group[SCSI_ALUA_GROUPS_MAX];
};

/* One logical unit. */
struct scsi_lu {
	uint64_t lun;
	struct idm_backing *store;
	uint32_t block_size;
	uint64_t num_blocks;
	bool write_cache;        /* WCE in the caching mode page */
	bool stopped;            /* START STOP UNIT with START=0 */
	bool read_only;          /* write-protected (WP in MODE SENSE): every
				  * command that changes the medium gets DATA
				  * PROTECT; read atomically, changed live */
	char vendor[9];          /* "IDM     " */
	char product[17];
	char revision[5];
	char serial[33];         /* VPD 0x80 */
	uint8_t naa[16];         /* NAA 6 identifier for VPD 0x83 */
	uint32_t ua_generation;  /* bumped when a unit attention is raised */
	uint16_t ua_asc;         /* that unit attention's ASC/ASCQ */
	char target_name[224];   /* iSCSI name (<= 223 bytes): VPD 0x83 */
	/* Serializes the read-modify-write commands (COMPARE AND WRITE,
	 * ORWRITE) across reactors; READ/WRITE never take it, they only
	 * wait for it while `rmw_active` is non-zero (see rw.c). */
	pthread_mutex_t rmw_lock;
	unsigned rmw_active;
	/* ALUA (alua.c): the target port groups, a seqlock. Writers
	 * (scsi_lu_set_alua, scsi_lu_set_alua_request) make alua_seq odd
	 * while they change the fields below and even after; a command
	 * reads its group's state and retries if alua_seq moved meanwhile,
	 * so the data path takes no lock and writes no shared line. */
	uint32_t alua_seq;
	struct scsi_alua alua;
	uint8_t alua_status[SCSI_ALUA_GROUPS_MAX]; /* RTPG status code per group */
	bool alua_explicit; /* a SET TARGET PORT GROUPS was accepted and its
			     * change is still to come */
	int (*alua_request)(void *arg, struct scsi_lu *lu, uint16_t group);
	void *alua_request_arg;
	/* Reservations (pr.c, reserve.c), under the lock inside `pr`.
	 * READ/WRITE read `resv_active` (atomic) and take no lock while it
	 * is zero: no persistent nor SPC-2 reservation exists. */
	struct scsi_pr *pr;
	uint32_t resv_active;
	uint32_t pr_ua_pending;  /* per-nexus unit attentions queued in pr */
};

/* The LUNs a target exports, by LUN number. */
struct scsi_cmd;

struct scsi_lu_set {
	struct scsi_lu *lu[SCSI_MAX_LUNS];
	unsigned count;
	/* Optional: PREEMPT AND ABORT (the command `by`) calls it (outside
	 * any lock) for each I_T nexus whose tasks on `lu` must be aborted,
	 * before `by` completes; its owner may hold `by`'s status until the
	 * aborted tasks can no longer touch the medium. */
	void (*abort_nexus)(void *ctx, struct scsi_cmd *by, struct scsi_lu *lu,
	                    const char *initiator_port);
	void *abort_ctx;
};

/* Create / free a LU over an open store (the LU takes ownership of it). */
int scsi_lu_create(uint64_t lun, struct idm_backing *store, const char *target_name,
		   struct scsi_lu **out);
void scsi_lu_free(struct scsi_lu *lu);
/* The serial number (32 lowercase hex digits) and NAA 6 designator
 * scsi_lu_create gives a LU: SHA-256 of "target-name/LUN", the same on
 * every start while the name and LUN stay. 0 or -errno. */
int scsi_lu_ident_derive(const char *target_name, uint64_t lun, char serial[33], uint8_t naa[16]);

/* Raise a unit attention (LOGICAL UNIT RESET, ...) for every I_T nexus.
 * A reset (ASC 0x29) also releases the SPC-2 reservation (SPC-2 5.5.1). */
void scsi_lu_raise_ua(struct scsi_lu *lu, uint16_t asc);
/* Only the unit attention, for an event whose effects are already done:
 * another gateway of the LU was reset and released what the reset ends
 * in the state the gateways share. */
void scsi_lu_raise_ua_only(struct scsi_lu *lu, uint16_t asc);

/*
 * Persistent state of the LU (APTPL reservations) lives in a file under
 * `dir`, named from the target name and LUN. Loads what a previous run
 * saved; 0 or -errno (a missing file is not an error; an unusable dir
 * only means APTPL=1 is refused). A file that cannot be loaded is
 * refused whole, with one line naming the file and the line in `why`
 * (may be NULL).
 */
int scsi_lu_set_state_dir(struct scsi_lu *lu, const char *dir, char *why, size_t whylen);

/*
 * ALUA (see struct scsi_alua). Set the LU's groups and their states
 * (copied; NULL or n == 0: no groups). Any thread. When a group's
 * state changed, every I_T nexus gets ASYMMETRIC ACCESS STATE CHANGED.
 */
void scsi_lu_set_alua(struct scsi_lu *lu, const struct scsi_alua *a);
/* Explicit ALUA: SET TARGET PORT GROUPS asking group `group` to become
 * active/optimized calls request(arg, lu, group) (outside any lock;
 * 0: accepted, the new states follow through scsi_lu_set_alua; else
 * -errno). Without a request hook the command is refused. */
void scsi_lu_set_alua_request(struct scsi_lu *lu,
                              int (*request)(void *arg, struct scsi_lu *lu, uint16_t group),
                              void *arg);

/*
 * Persistent reservations shared by every gateway of the LU's store
 * (store->cluster): from now on the LU's registrations and reservation
 * live in the store's record "pr", read now (blocking: at start, not on
 * a reactor); PERSISTENT RESERVE OUT and RESERVE/RELEASE change it
 * there, and every command checks a copy kept current through
 * record_watch. 0 or -errno with one line in `why`.
 */
int scsi_lu_share_pr(struct scsi_lu *lu, char *why, size_t whylen);

/* The I_T nexus is gone (session closed or reinstated): its SPC-2
 * reservations end. Persistent reservations survive (SPC-4 5.12). */
void scsi_lu_nexus_gone(struct scsi_lu *lu, const struct scsi_nexus *n);
/* The I_T nexus is logging out: on a LU whose reservations the gateways
 * share, its SPC-2 reservation is released in the cluster now, and true
 * says released(arg) runs on this reactor once that is recorded (the
 * Logout Response waits for it, so a reservation attempt right after
 * the logout, through any gateway, finds it gone). False: nothing to
 * wait for (scsi_lu_nexus_gone does the rest). */
bool scsi_lu_nexus_leaving(struct scsi_lu *lu, const struct scsi_nexus *n,
                           void (*released)(void *arg), void *arg);

/*
 * The LUNs one I_T nexus sees (an ACL entry's LUN map): its LUN numbers to
 * indexes in the LU set, or `all` of them under their own numbers. Owned
 * by the nexus (read and changed on its reactor only). `changed` marks,
 * per LU index, a REPORTED LUNS DATA HAS CHANGED this nexus has not been
 * told yet (its map changed).
 */
#define SCSI_LUN_UNMAPPED 0xffffu
struct scsi_lun_map {
	bool all;
	uint16_t lu_of[SCSI_MAX_LUNS];
	uint32_t changed[SCSI_MAX_LUNS / 32];
};

/* Every LU under its own number, nothing pending. */
void scsi_lun_map_init_all(struct scsi_lun_map *m);
/* Nothing visible (add entries with scsi_lun_map_set). */
void scsi_lun_map_init_none(struct scsi_lun_map *m);
/* The nexus's LUN `lun` is LU index `lu`; -EINVAL out of range. */
int scsi_lun_map_set(struct scsi_lun_map *m, unsigned lun, unsigned lu);
/* The LU index LUN `lun` names, or SCSI_MAX_LUNS when none (m NULL:
 * every LU under its own number). */
unsigned scsi_lun_map_lu(const struct scsi_lun_map *m, uint64_t lun);
/* Does the nexus see LU index `lu` under some number? */
bool scsi_lun_map_shows(const struct scsi_lun_map *m, unsigned lu);
/* Replace `m`'s view with `next`'s; when it differs, every LU the new
 * view shows gets REPORTED LUNS DATA HAS CHANGED for this nexus. True
 * when it differed. */
bool scsi_lun_map_replace(struct scsi_lun_map *m, const struct scsi_lun_map *next);

typedef void (*scsi_done_fn)(struct scsi_cmd *cmd);

struct scsi_cmd {
	/* set by the caller before setup */
	struct scsi_lu_set *luns;
	struct scsi_lun_map *map; /* the nexus's view of `luns`; NULL: all */
	uint64_t lun;             /* as the nexus numbers it */
	const uint8_t *cdb;
	uint32_t cdb_len;
	uint32_t edtl;            /* Expected Data Transfer Length */
	uint32_t *ua_seen;        /* the nexus' last seen UA generation per LU
				   * index (array of SCSI_MAX_LUNS), or NULL */
	const struct scsi_nexus *nexus; /* the I_T nexus, or NULL (then no
				   * reservation command can succeed) */
	struct idm_reactor *reactor; /* for asynchronous store I/O */
	scsi_done_fn done;
	void *priv;
	/* filled by setup */
	struct scsi_lu *lu;       /* NULL when the LUN does not exist */
	enum scsi_dir dir;
	uint32_t xfer_len;        /* bytes the CDB asks to move */
	uint64_t lba;
	uint32_t nblocks;
	bool fua;
	/* data buffer, given by the caller before exec */
	uint8_t *data;
	uint32_t data_cap;
	/* results */
	uint32_t data_len;        /* READ: bytes of valid data in `data` */
	uint8_t status;           /* enum scsi_status */
	uint8_t sense_len;
	uint8_t sense[SCSI_SENSE_MAX];
	/* private to src/scsi */
	struct idm_backing_io io;
	int stage;
	/* runs the command again once a read-modify-write is out of the way
	 * (scsi_rmw_defer) */
	void (*rmw_again)(struct scsi_cmd *cmd);
	/* private to src/scsi: commands that run as several store requests
	 * (WRITE SAME, UNMAP) */
	uint32_t step_blocks; /* blocks per request */
	uint32_t step_index;  /* UNMAP: next block descriptor */
	bool step_busy;       /* inside the submit loop */
	bool step_again;      /* a request completed inside that loop */
	bool abort_requested; /* scsi_cmd_abort() was called */
};

/*
 * Decode and check the CDB. Returns 0 when the command should run (the
 * caller then provides a buffer of xfer_len bytes and calls exec), or 1
 * when it already failed: status and sense are set, no data moves, and
 * the caller sends the response.
 */
int scsi_cmd_setup(struct scsi_cmd *cmd);

/* For READ/WRITE on a store with memory: a pointer straight into it
 * covering the whole transfer, else NULL. */
uint8_t *scsi_cmd_direct_buffer(struct scsi_cmd *cmd);

/* Run the command; cmd->done runs when it completes (maybe before
 * return). cmd->data must hold xfer_len bytes (WRITE: the received data). */
void scsi_cmd_exec(struct scsi_cmd *cmd);

/* The caller aborts a command it has passed to exec and will not answer
 * it: one that runs as many store requests (EXTENDED COPY) stops before
 * its next one instead of running to the end. Requests in flight still
 * complete and done still runs exactly once. Call on the command's
 * reactor. */
static inline void scsi_cmd_abort(struct scsi_cmd *cmd)
{
	cmd->abort_requested = true;
}

/* Build fixed-format sense data (0x70) into cmd and set CHECK CONDITION. */
void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint16_t asc);
/* Same, with the INFORMATION field or a sense-key-specific field pointer. */
void scsi_sense_fixed(uint8_t *sense, uint8_t *len, uint8_t key, uint16_t asc);
void scsi_cmd_set_sense_field(struct scsi_cmd *cmd, uint8_t key, uint16_t asc,
			      bool in_cdb, uint16_t field, int bit);

/* Length of a CDB from its opcode group, or 0 when the group is reserved. */
unsigned scsi_cdb_length(uint8_t opcode);

#endif
