/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asymmetric logical unit access (SPC-4 5.16): the target port groups of
 * a LU exported by several gateways, their access states, the commands
 * each state lets through, and SET TARGET PORT GROUPS.
 *
 * The groups change rarely (a cluster lock changes hands) and every
 * command of every reactor reads its group's state, so they live in the
 * LU under a seqlock rather than a mutex: a reader loads the sequence,
 * reads, and retries if the sequence moved. It writes no shared memory,
 * so reactors do not bounce a cache line per I/O, and a LU without
 * groups costs a command one relaxed load. Writers (any thread)
 * serialize by moving the sequence from even to odd with a compare-and-
 * swap and back to even when done; their section copies at most
 * SCSI_ALUA_GROUPS_MAX entries and calls nothing. Every field under the
 * seqlock is accessed with relaxed atomics, fenced as C11 seqlocks must
 * be, so readers racing a writer read old or new values, never torn ones.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Opcodes that only matter here: some access states let them through,
 * though the LU implements none of them. */
#define OP_RECEIVE_DIAGNOSTIC 0x1c
#define OP_SEND_DIAGNOSTIC 0x1d
#define OP_WRITE_BUFFER 0x3b
#define OP_READ_BUFFER 0x3c
#define OP_LOG_SELECT 0x4c
#define OP_LOG_SENSE 0x4d
#define SA_REPORT_TMFS 0x0d
#define BUFFER_MODE_ECHO 0x0a      /* READ/WRITE BUFFER byte 1 bits 4:0 */
#define BUFFER_MODE_ECHO_DESC 0x0b /* READ BUFFER: echo buffer descriptor */
#define SA_MASK 0x1f

/* REPORT TARGET PORT GROUPS status codes. */
#define RTPG_STATUS_NONE 0x00
#define RTPG_STATUS_BY_STPG 0x01
#define RTPG_STATUS_IMPLICIT 0x02

/* SET TARGET PORT GROUPS parameter list: a 4-byte reserved header and
 * 4-byte descriptors (state in byte 0 bits 3:0, group in bytes 2-3). */
#define STPG_HDR 4
#define STPG_DESC 4
#define STPG_STATE_MASK 0x0f
/* One descriptor per group is all a valid list needs; a longer one is
 * refused before its data is received. */
#define STPG_MAX_LEN (STPG_HDR + STPG_DESC * SCSI_ALUA_GROUPS_MAX)

static uint32_t write_begin(struct scsi_lu *lu)
{
	uint32_t s = __atomic_load_n(&lu->alua_seq, __ATOMIC_RELAXED);

	for (;;) {
		if (!(s & 1) && __atomic_compare_exchange_n(&lu->alua_seq, &s, s + 1, false,
		                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			break;
		}
		if (s & 1) {
			sched_yield(); /* another writer: its section is short */
			s = __atomic_load_n(&lu->alua_seq, __ATOMIC_RELAXED);
		}
	}
	/* Readers that see a store below also see the odd sequence. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return s + 1;
}

static void write_end(struct scsi_lu *lu, uint32_t odd)
{
	__atomic_store_n(&lu->alua_seq, odd + 1, __ATOMIC_RELEASE);
}

static uint32_t read_begin(struct scsi_lu *lu)
{
	uint32_t s;

	while ((s = __atomic_load_n(&lu->alua_seq, __ATOMIC_ACQUIRE)) & 1) {
		sched_yield();
	}
	return s;
}

/* True when a writer ran since read_begin returned `s`: read again. */
static bool read_again(struct scsi_lu *lu, uint32_t s)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&lu->alua_seq, __ATOMIC_RELAXED) != s;
}

static unsigned clamp_groups(unsigned n)
{
	return n < SCSI_ALUA_GROUPS_MAX ? n : SCSI_ALUA_GROUPS_MAX;
}

uint8_t scsi_alua_state_of(struct scsi_lu *lu, const struct scsi_nexus *n)
{
	uint8_t state;
	unsigned i, count;
	uint32_t s;

	if (!n || LOAD(lu->alua.n) == 0) {
		return SCSI_ALUA_ACTIVE_OPTIMIZED;
	}
	do {
		s = read_begin(lu);
		state = SCSI_ALUA_ACTIVE_OPTIMIZED;
		count = clamp_groups(LOAD(lu->alua.n));
		for (i = 0; i < count; i++) {
			if (LOAD(lu->alua.group[i].id) == n->tpgt) {
				state = LOAD(lu->alua.group[i].state);
				break;
			}
		}
	} while (read_again(lu, s));
	return state;
}

/* The states a command passes in, as a mask of these bits. */
#define IN_STANDBY 0x1
#define IN_UNAVAILABLE 0x2
#define IN_TRANSITIONING 0x4
#define IN_ALL (IN_STANDBY | IN_UNAVAILABLE | IN_TRANSITIONING)

/*
 * What the inaccessible states let through (SPC-4 5.16.2.4.4 standby,
 * .5 unavailable, .6 transitioning). READ CAPACITY and TEST UNIT READY
 * are not among them. REPORT SUPPORTED OPERATION CODES and TASK
 * MANAGEMENT FUNCTIONS only describe the device server: every state.
 */
static const struct alua_pass {
	uint8_t op;
	int8_t sa; /* service action or mode (byte 1 bits 4:0); -1: any */
	uint8_t states;
} alua_pass[] = {
    {SCSI_OP_INQUIRY, -1, IN_ALL},
    {SCSI_OP_REPORT_LUNS, -1, IN_ALL},
    {SCSI_OP_REQUEST_SENSE, -1, IN_ALL},
    {SCSI_OP_MAINTENANCE_IN, SCSI_SA_REPORT_TPGS, IN_ALL},
    {SCSI_OP_MAINTENANCE_IN, SCSI_SA_REPORT_OPCODES, IN_ALL},
    {SCSI_OP_MAINTENANCE_IN, SA_REPORT_TMFS, IN_ALL},
    {OP_READ_BUFFER, BUFFER_MODE_ECHO, IN_ALL},
    {OP_READ_BUFFER, BUFFER_MODE_ECHO_DESC, IN_ALL},
    {OP_WRITE_BUFFER, BUFFER_MODE_ECHO, IN_ALL},
    {SCSI_OP_MAINTENANCE_OUT, SCSI_SA_SET_TPGS, IN_STANDBY | IN_UNAVAILABLE},
    {OP_LOG_SELECT, -1, IN_STANDBY},
    {OP_LOG_SENSE, -1, IN_STANDBY},
    {SCSI_OP_MODE_SELECT6, -1, IN_STANDBY},
    {SCSI_OP_MODE_SELECT10, -1, IN_STANDBY},
    {SCSI_OP_MODE_SENSE6, -1, IN_STANDBY},
    {SCSI_OP_MODE_SENSE10, -1, IN_STANDBY},
    {OP_RECEIVE_DIAGNOSTIC, -1, IN_STANDBY},
    {OP_SEND_DIAGNOSTIC, -1, IN_STANDBY},
    {SCSI_OP_PR_IN, -1, IN_STANDBY},
    {SCSI_OP_PR_OUT, -1, IN_STANDBY},
};

uint16_t scsi_alua_refusal(uint8_t state, const uint8_t *cdb)
{
	uint8_t in;
	uint16_t asc;
	size_t i;

	switch (state) {
	case SCSI_ALUA_ACTIVE_OPTIMIZED:
	case SCSI_ALUA_ACTIVE_NON_OPTIMIZED:
		return 0;
	case SCSI_ALUA_STANDBY:
		in = IN_STANDBY;
		asc = SCSI_ASC_LU_NOT_ACCESSIBLE_STANDBY;
		break;
	case SCSI_ALUA_UNAVAILABLE:
		in = IN_UNAVAILABLE;
		asc = SCSI_ASC_LU_NOT_ACCESSIBLE_UNAVAILABLE;
		break;
	default: /* transitioning; a state we do not know is no better */
		in = IN_TRANSITIONING;
		asc = SCSI_ASC_LU_NOT_ACCESSIBLE_TRANSITION;
		break;
	}
	for (i = 0; i < sizeof(alua_pass) / sizeof(alua_pass[0]); i++) {
		const struct alua_pass *p = &alua_pass[i];

		if (p->op == cdb[0] && (p->sa < 0 || p->sa == (cdb[1] & SA_MASK)) &&
		    (p->states & in)) {
			return 0;
		}
	}
	return asc;
}

int scsi_alua_check(struct scsi_cmd *cmd)
{
	uint16_t asc;

	/* The common case first: a LU without groups, one relaxed load. */
	if (!cmd->lu || !cmd->nexus || LOAD(cmd->lu->alua.n) == 0) {
		return 0;
	}
	asc = scsi_alua_refusal(scsi_alua_state_of(cmd->lu, cmd->nexus), cmd->cdb);
	return asc ? scsi_cmd_fail(cmd, SCSI_SENSE_NOT_READY, asc) : 0;
}

void scsi_alua_snapshot(struct scsi_lu *lu, struct scsi_alua *a,
                        uint8_t status[SCSI_ALUA_GROUPS_MAX])
{
	unsigned i, n;
	uint32_t s;

	do {
		s = read_begin(lu);
		n = clamp_groups(LOAD(lu->alua.n));
		for (i = 0; i < n; i++) {
			a->group[i].id = LOAD(lu->alua.group[i].id);
			a->group[i].state = LOAD(lu->alua.group[i].state);
			status[i] = LOAD(lu->alua_status[i]);
		}
		a->n = n;
	} while (read_again(lu, s));
}

/* Index of group `id` in `a`, or -1. */
static int find_group(const struct scsi_alua *a, uint16_t id)
{
	unsigned i;

	for (i = 0; i < clamp_groups(a->n); i++) {
		if (a->group[i].id == id) {
			return (int)i;
		}
	}
	return -1;
}

/* Under the write side: store group `i` as `g` with its status code;
 * true when its state differs from the copy `old` had. */
static bool store_group(struct scsi_lu *lu, unsigned i, const struct scsi_alua_group *g,
                        const struct scsi_alua *old, const uint8_t *old_status)
{
	int j = find_group(old, g->id);
	bool differs = j < 0 || old->group[j].state != g->state;
	uint8_t status;

	if (old->n == 0) {
		status = RTPG_STATUS_NONE; /* the first configuration */
	} else if (differs) {
		status = lu->alua_explicit ? RTPG_STATUS_BY_STPG : RTPG_STATUS_IMPLICIT;
	} else {
		status = old_status[j];
	}
	STORE(lu->alua.group[i].id, g->id);
	STORE(lu->alua.group[i].state, g->state);
	STORE(lu->alua_status[i], status);
	return differs;
}

void scsi_lu_set_alua(struct scsi_lu *lu, const struct scsi_alua *a)
{
	unsigned n = a ? clamp_groups(a->n) : 0, i;
	uint8_t old_status[SCSI_ALUA_GROUPS_MAX];
	struct scsi_alua old;
	bool changed;
	uint32_t s;

	s = write_begin(lu);
	/* Only writers change these, and we are the one: plain reads. */
	old = lu->alua;
	memcpy(old_status, lu->alua_status, sizeof(old_status));
	changed = n != old.n;
	for (i = 0; i < n; i++) {
		changed |= store_group(lu, i, &a->group[i], &old, old_status);
	}
	STORE(lu->alua.n, n);
	if (changed) {
		STORE(lu->alua_explicit, false);
	}
	write_end(lu, s);
	/* Every I_T nexus learns of the new states (SPC-4 5.16). */
	if (changed) {
		scsi_lu_raise_ua(lu, SCSI_ASC_ASYMMETRIC_ACCESS_STATE_CHANGED);
	}
}

void scsi_lu_set_alua_request(struct scsi_lu *lu,
                              int (*request)(void *arg, struct scsi_lu *lu, uint16_t group),
                              void *arg)
{
	uint32_t s = write_begin(lu);

	STORE(lu->alua_request, request);
	STORE(lu->alua_request_arg, arg);
	write_end(lu, s);
}

bool scsi_alua_explicit(struct scsi_lu *lu)
{
	return lu && LOAD(lu->alua_request) != NULL;
}

static void set_explicit(struct scsi_lu *lu, bool on)
{
	uint32_t s = write_begin(lu);

	STORE(lu->alua_explicit, on);
	write_end(lu, s);
}

/* ---- SET TARGET PORT GROUPS ---- */

static bool stpg_length_ok(uint32_t len)
{
	return len == 0 || (len >= STPG_HDR && (len - STPG_HDR) % STPG_DESC == 0);
}

int scsi_stpg_parse(const uint8_t *p, uint32_t len, const struct scsi_alua *groups, int *group,
                    uint16_t *bad)
{
	uint32_t off;

	*group = -1;
	if (!stpg_length_ok(len) || len > STPG_MAX_LEN) {
		return -EMSGSIZE;
	}
	for (off = STPG_HDR; off < len; off += STPG_DESC) {
		const uint8_t *d = p + off;
		uint16_t id = get_be16(d + 2);

		/* Only a move of the optimized path is ours to make: the
		 * other groups' states follow from it. */
		if ((d[0] & STPG_STATE_MASK) != SCSI_ALUA_ACTIVE_OPTIMIZED) {
			*bad = (uint16_t)off;
			return -EINVAL;
		}
		/* An unknown group, or a second one asked to be optimized. */
		if (find_group(groups, id) < 0 || (*group >= 0 && *group != id)) {
			*bad = (uint16_t)(off + 2);
			return -EINVAL;
		}
		*group = id;
	}
	return 0;
}

int scsi_stpg_setup(struct scsi_cmd *cmd)
{
	uint32_t len = get_be32(cmd->cdb + 6);

	/* Without a hook nothing can move the groups: the command is not
	 * there (REPORT SUPPORTED OPERATION CODES agrees). */
	if (!scsi_alua_explicit(cmd->lu)) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	}
	if (!stpg_length_ok(len)) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                     SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	if (len > STPG_MAX_LEN) {
		return scsi_cmd_bad_field(cmd, 6, -1);
	}
	cmd->dir = len ? SCSI_DIR_WRITE : SCSI_DIR_NONE;
	cmd->xfer_len = len;
	return 0;
}

/* Ask the hook to make `group` active/optimized (`moves`: it is not
 * yet): 0 or -errno. */
static int stpg_request(struct scsi_lu *lu, uint16_t group, bool moves)
{
	int (*request)(void *arg, struct scsi_lu *lu, uint16_t group);
	void *arg;
	uint32_t s;
	int rc;

	do {
		s = read_begin(lu);
		request = LOAD(lu->alua_request);
		arg = LOAD(lu->alua_request_arg);
	} while (read_again(lu, s));
	if (!request) {
		return -EOPNOTSUPP;
	}
	/* The change the hook brings reports "altered by SET TARGET PORT
	 * GROUPS"; set before the call, which may bring it at once. No
	 * change comes for a group already optimized. */
	set_explicit(lu, moves);
	rc = request(arg, lu, group);
	if (rc < 0 && moves) {
		set_explicit(lu, false);
	}
	return rc < 0 ? rc : 0;
}

void scsi_stpg_exec(struct scsi_cmd *cmd)
{
	uint8_t status[SCSI_ALUA_GROUPS_MAX];
	struct scsi_alua groups;
	uint16_t bad = 0;
	int group, rc;

	if (cmd->xfer_len == 0 || scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	scsi_alua_snapshot(cmd->lu, &groups, status);
	if (groups.n == 0) { /* the one group REPORT TARGET PORT GROUPS shows */
		groups.n = 1;
		groups.group[0].id = cmd->nexus ? cmd->nexus->tpgt : 1;
		groups.group[0].state = SCSI_ALUA_ACTIVE_OPTIMIZED;
	}
	rc = scsi_stpg_parse(cmd->data, cmd->xfer_len, &groups, &group, &bad);
	if (rc == -EMSGSIZE) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	} else if (rc) {
		scsi_cmd_bad_param(cmd, bad, -1);
	} else if (group >= 0) {
		int i = find_group(&groups, (uint16_t)group); /* parse found it */
		bool moves = groups.group[i].state != SCSI_ALUA_ACTIVE_OPTIMIZED;

		if (stpg_request(cmd->lu, (uint16_t)group, moves) < 0) {
			/* The transition failed (SPC-4, SET TARGET PORT GROUPS). */
			scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
			                   SCSI_ASC_SET_TPGS_FAILED);
		}
	}
	scsi_cmd_complete(cmd);
}
