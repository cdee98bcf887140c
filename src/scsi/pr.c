/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Persistent reservations (SPC-4 5.12): PERSISTENT RESERVE IN and OUT,
 * the per-nexus unit attentions they raise, and the conflict check every
 * command passes while a reservation exists.
 *
 * The state is per LU and shared by all reactors: every access takes
 * pr->lock. The data path only reads lu->resv_active (atomic) and takes
 * the lock only when some reservation exists. A LU shared by gateways
 * (pr->shared, set before it serves) runs PERSISTENT RESERVE OUT through
 * pr_share.c; everything else here is the same for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "pr_int.h"

enum pr_in_sa {
	PRIN_READ_KEYS = 0,
	PRIN_READ_RESERVATION = 1,
	PRIN_REPORT_CAPABILITIES = 2,
	PRIN_READ_FULL_STATUS = 3,
};

#define PROUT_PARAM_LEN 24
#define PROUT_MOVE_MAX 4096 /* REGISTER AND MOVE: header + one TransportID */
#define PROUT_SPEC_I_PT 0x08
#define PROUT_ALL_TG_PT 0x04
#define PROUT_APTPL 0x01
#define PROUT_MOVE_UNREG 0x02
#define PR_SCOPE_LU 0x00
#define PRIN_BUF_MAX (8 + PR_MAX_REGS * (24 + SCSI_PORT_NAME_MAX + 8))

/* REPORT CAPABILITIES bits (SPC-4 6.14.4). */
#define CAP_PTPL_C 0x01
#define CAP_TMV 0x80
#define CAP_ALLOW_CMDS_1 0x10 /* ALLOW COMMANDS = 001b */
#define CAP_PTPL_A 0x01
#define CAP_MASK_HI 0xea /* WE_AR, EA_RO, WE_RO, EA, WE */
#define CAP_MASK_LO 0x01 /* EA_AR */

/* ---- nexus names ---- */

void scsi_nexus_init(struct scsi_nexus *n, const char *initiator_name, const uint8_t isid[6],
                     const char *target_name, uint16_t tpgt, uint32_t id)
{
	snprintf(n->initiator_port, sizeof(n->initiator_port),
	         "%.223s,i,0x%02x%02x%02x%02x%02x%02x", initiator_name, isid[0], isid[1], isid[2],
	         isid[3], isid[4], isid[5]);
	snprintf(n->target_port, sizeof(n->target_port), "%.223s,t,0x%04x", target_name, tpgt);
	n->rel_port_id = tpgt;
	n->tpgt = tpgt;
	n->id = id;
}

bool scsi_nexus_same(const struct scsi_nexus *a, const struct scsi_nexus *b)
{
	return strcmp(a->initiator_port, b->initiator_port) == 0 &&
	       strcmp(a->target_port, b->target_port) == 0;
}

void pr_port_of(struct pr_port *p, const struct scsi_nexus *n)
{
	snprintf(p->iport, sizeof(p->iport), "%s", n->initiator_port);
	snprintf(p->tport, sizeof(p->tport), "%s", n->target_port);
}

bool pr_port_is(const struct pr_port *p, const struct scsi_nexus *n)
{
	return strcmp(p->iport, n->initiator_port) == 0 && strcmp(p->tport, n->target_port) == 0;
}

static bool port_same(const struct pr_port *a, const struct pr_port *b)
{
	return strcmp(a->iport, b->iport) == 0 && strcmp(a->tport, b->tport) == 0;
}

/* ---- state ---- */

int scsi_pr_create(struct scsi_lu *lu)
{
	struct scsi_pr *pr = calloc(1, sizeof(*pr));
	int rc;

	if (!pr) {
		return -ENOMEM;
	}
	rc = pthread_mutex_init(&pr->lock, NULL);
	if (rc) {
		free(pr);
		return -rc;
	}
	pr->holder = -1;
	lu->pr = pr;
	return 0;
}

void scsi_pr_free(struct scsi_lu *lu)
{
	if (lu->pr) {
		pthread_mutex_destroy(&lu->pr->lock);
		free(lu->pr);
		lu->pr = NULL;
	}
}

static unsigned pending_uas(const struct scsi_pr *pr)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PR_MAX_UAS; i++) {
		n += pr->uas[i].used;
	}
	return n;
}

void pr_publish(struct scsi_lu *lu)
{
	struct scsi_pr *pr = lu->pr;
	uint32_t active = pr->type != PR_TYPE_NONE || pr->r2_held;

	__atomic_store_n(&lu->resv_active, active, __ATOMIC_RELEASE);
	__atomic_store_n(&lu->pr_ua_pending, pending_uas(pr), __ATOMIC_RELEASE);
}

int pr_find_reg(const struct scsi_pr *pr, const struct scsi_nexus *n)
{
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used && pr_port_is(&pr->regs[i].port, n)) {
			return i;
		}
	}
	return -1;
}

static bool type_all_registrants(uint8_t type)
{
	return type == PR_TYPE_WE_AR || type == PR_TYPE_EA_AR;
}

static bool type_registrants(uint8_t type)
{
	return type == PR_TYPE_WE_RO || type == PR_TYPE_EA_RO || type_all_registrants(type);
}

static bool type_valid(uint8_t type)
{
	return type == PR_TYPE_WE || type == PR_TYPE_EA || type == PR_TYPE_WE_RO ||
	       type == PR_TYPE_EA_RO || type == PR_TYPE_WE_AR || type == PR_TYPE_EA_AR;
}

/* Is registration `i` a holder of the current reservation? */
static bool reg_holds(const struct scsi_pr *pr, int i)
{
	if (pr->type == PR_TYPE_NONE || i < 0) {
		return false;
	}
	return type_all_registrants(pr->type) || pr->holder == i;
}

static unsigned reg_count(const struct scsi_pr *pr)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PR_MAX_REGS; i++) {
		n += pr->regs[i].used;
	}
	return n;
}

static void reservation_clear(struct scsi_pr *pr)
{
	pr->type = PR_TYPE_NONE;
	pr->holder = -1;
}

void pr_ua_queue(struct scsi_pr *pr, const struct pr_port *p, uint16_t asc)
{
	int free_slot = -1;

	for (int i = 0; i < PR_MAX_UAS; i++) {
		if (pr->uas[i].used && port_same(&pr->uas[i].port, p)) {
			pr->uas[i].asc = asc;
			return;
		}
		if (!pr->uas[i].used && free_slot < 0) {
			free_slot = i;
		}
	}
	/* A full table drops the attention: the reservation state stays
	 * correct, and the initiator still sees it with READ KEYS. */
	if (free_slot >= 0) {
		pr->uas[free_slot].used = true;
		pr->uas[free_slot].asc = asc;
		pr->uas[free_slot].port = *p;
	}
}

/* A unit attention for every registrant except registration `except`. */
static void ua_registrants(struct scsi_pr *pr, int except, uint16_t asc)
{
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used && i != except) {
			pr_ua_queue(pr, &pr->regs[i].port, asc);
		}
	}
}

uint16_t scsi_pr_take_ua(struct scsi_lu *lu, const struct scsi_nexus *n)
{
	struct scsi_pr *pr = lu->pr;
	uint16_t asc = 0;

	pthread_mutex_lock(&pr->lock);
	for (int i = 0; i < PR_MAX_UAS; i++) {
		if (pr->uas[i].used && pr_port_is(&pr->uas[i].port, n)) {
			asc = pr->uas[i].asc;
			pr->uas[i].used = false;
			break;
		}
	}
	pr_publish(lu);
	pthread_mutex_unlock(&pr->lock);
	return asc;
}

void scsi_cmd_conflict(struct scsi_cmd *cmd)
{
	cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
	cmd->sense_len = 0;
}

/* ---- conflicts (SPC-4 5.12.1, table 68; SBC-3 table 13) ---- */

enum resv_class {
	RESV_ALLOWED, /* never conflicts */
	RESV_READ,    /* conflicts under the Exclusive Access types */
	RESV_WRITE,   /* conflicts under every type */
	RESV_PR,      /* PERSISTENT RESERVE IN/OUT: pr.c decides */
	RESV_SPC2,    /* RESERVE/RELEASE: reserve.c decides */
};

static enum resv_class resv_class_of(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case SCSI_OP_INQUIRY:
	case SCSI_OP_REPORT_LUNS:
	case SCSI_OP_REQUEST_SENSE:
	case SCSI_OP_MAINTENANCE_IN:
	case SCSI_OP_TEST_UNIT_READY:
	case SCSI_OP_READ_CAPACITY10:
		return RESV_ALLOWED;
	case SCSI_OP_SERVICE_ACTION_IN16:
		return (cdb[1] & 0x1f) == SCSI_SA_READ_CAPACITY16 ? RESV_ALLOWED : RESV_READ;
	case SCSI_OP_PR_IN:
	case SCSI_OP_PR_OUT:
		return RESV_PR;
	case SCSI_OP_RESERVE6:
	case SCSI_OP_RELEASE6:
	case SCSI_OP_RESERVE10:
	case SCSI_OP_RELEASE10:
		return RESV_SPC2;
	case SCSI_OP_READ6:
	case SCSI_OP_READ10:
	case SCSI_OP_READ12:
	case SCSI_OP_READ16:
	case SCSI_OP_VERIFY10:
	case SCSI_OP_VERIFY12:
	case SCSI_OP_VERIFY16:
	case SCSI_OP_PREFETCH10:
	case SCSI_OP_PREFETCH16:
	case SCSI_OP_MODE_SENSE6:
	case SCSI_OP_MODE_SENSE10:
	case SCSI_OP_READ_DEFECT10:
	case SCSI_OP_READ_DEFECT12:
	case SCSI_OP_RECEIVE_COPY_RESULTS:
		return RESV_READ;
	default:
		return RESV_WRITE;
	}
}

/* Under pr->lock: does the persistent reservation stop this command? */
static bool pr_conflicts(const struct scsi_pr *pr, const struct scsi_nexus *n, enum resv_class cls)
{
	int reg;

	if (pr->type == PR_TYPE_NONE || cls == RESV_ALLOWED || cls == RESV_PR || cls == RESV_SPC2) {
		return false;
	}
	reg = n ? pr_find_reg(pr, n) : -1;
	if (reg_holds(pr, reg) || (reg >= 0 && type_registrants(pr->type))) {
		return false;
	}
	if (cls == RESV_READ) {
		return pr->type == PR_TYPE_EA || pr->type == PR_TYPE_EA_RO ||
		       pr->type == PR_TYPE_EA_AR;
	}
	return true;
}

/* Under pr->lock: does another nexus hold an SPC-2 reservation? */
static bool spc2_held_by_other(const struct scsi_pr *pr, const struct scsi_nexus *n)
{
	return pr->r2_held && !(n && pr_port_is(&pr->r2_port, n));
}

/* Under pr->lock: does an SPC-2 reservation of another nexus stop it? */
static bool spc2_conflicts(const struct scsi_pr *pr, const struct scsi_nexus *n, const uint8_t *cdb)
{
	if (!spc2_held_by_other(pr, n)) {
		return false;
	}
	switch (cdb[0]) {
	case SCSI_OP_INQUIRY:
	case SCSI_OP_REPORT_LUNS:
	case SCSI_OP_REQUEST_SENSE:
	case SCSI_OP_MAINTENANCE_IN:
	case SCSI_OP_RELEASE6:
	case SCSI_OP_RELEASE10:
		return false;
	default:
		return true;
	}
}

int scsi_resv_check(struct scsi_cmd *cmd)
{
	struct scsi_pr *pr = cmd->lu->pr;
	enum resv_class cls = resv_class_of(cmd->cdb);
	bool conflict;

	pthread_mutex_lock(&pr->lock);
	conflict = spc2_conflicts(pr, cmd->nexus, cmd->cdb) || pr_conflicts(pr, cmd->nexus, cls);
	pthread_mutex_unlock(&pr->lock);
	if (conflict) {
		scsi_cmd_conflict(cmd);
		return 1;
	}
	return 0;
}

bool scsi_resv_conflict(struct scsi_lu *lu, const struct scsi_nexus *n, bool write)
{
	struct scsi_pr *pr = lu->pr;
	bool conflict;

	if (!__atomic_load_n(&lu->resv_active, __ATOMIC_ACQUIRE)) {
		return false;
	}
	pthread_mutex_lock(&pr->lock);
	conflict = spc2_held_by_other(pr, n) || pr_conflicts(pr, n, write ? RESV_WRITE : RESV_READ);
	pthread_mutex_unlock(&pr->lock);
	return conflict;
}

/* ---- PERSISTENT RESERVE IN ---- */

int scsi_pr_in_setup(struct scsi_cmd *cmd)
{
	if ((cmd->cdb[1] & 0x1f) > PRIN_READ_FULL_STATUS) {
		return scsi_cmd_bad_field(cmd, 1, 4);
	}
	return scsi_cmd_data_in(cmd, get_be16(cmd->cdb + 7), PRIN_BUF_MAX);
}

static uint32_t prin_read_keys(const struct scsi_pr *pr, uint8_t *buf)
{
	uint32_t n = 8;

	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used) {
			put_be64(buf + n, pr->regs[i].key);
			n += 8;
		}
	}
	put_be32(buf, pr->generation);
	put_be32(buf + 4, n - 8);
	return n;
}

static uint32_t prin_read_reservation(const struct scsi_pr *pr, uint8_t *buf)
{
	put_be32(buf, pr->generation);
	if (pr->type == PR_TYPE_NONE) {
		put_be32(buf + 4, 0);
		return 8;
	}
	memset(buf + 4, 0, 20);
	put_be32(buf + 4, 16);
	/* All-registrants reservations report key 0 (SPC-4 6.14.3). */
	if (!type_all_registrants(pr->type) && pr->holder >= 0) {
		put_be64(buf + 8, pr->regs[pr->holder].key);
	}
	buf[21] = (uint8_t)(PR_SCOPE_LU | pr->type);
	return 24;
}

static uint32_t prin_report_caps(const struct scsi_pr *pr, uint8_t *buf)
{
	memset(buf, 0, 8);
	put_be16(buf, 8);
	buf[2] = pr->can_persist ? CAP_PTPL_C : 0;
	buf[3] = CAP_TMV | CAP_ALLOW_CMDS_1 | (pr->aptpl ? CAP_PTPL_A : 0);
	buf[4] = CAP_MASK_HI;
	buf[5] = CAP_MASK_LO;
	return 8;
}

/* iSCSI TransportID, format 01b (SPC-4 7.6.4.6): the initiator port
 * name, NUL terminated, padded to a multiple of 4 (at least 20). */
static uint32_t put_transport_id(uint8_t *p, const char *iport)
{
	uint32_t len = (uint32_t)strlen(iport) + 1;
	uint32_t padded = (len + 3) & ~3u;

	if (padded < 16) {
		padded = 16;
	}
	memset(p, 0, 4 + padded);
	p[0] = 0x40 | 0x05; /* format 01b, protocol iSCSI */
	put_be16(p + 2, (uint16_t)padded);
	memcpy(p + 4, iport, len);
	return 4 + padded;
}

static uint32_t prin_full_status(const struct scsi_pr *pr, uint8_t *buf)
{
	uint32_t n = 8;

	for (int i = 0; i < PR_MAX_REGS; i++) {
		const struct pr_reg *r = &pr->regs[i];
		uint32_t tid;

		if (!r->used) {
			continue;
		}
		memset(buf + n, 0, 24);
		put_be64(buf + n, r->key);
		if (reg_holds(pr, i)) {
			buf[n + 12] = 0x01; /* R_HOLDER */
			buf[n + 13] = (uint8_t)(PR_SCOPE_LU | pr->type);
		}
		put_be16(buf + n + 18, r->rel_port);
		tid = put_transport_id(buf + n + 24, r->port.iport);
		put_be32(buf + n + 20, tid);
		n += 24 + tid;
	}
	put_be32(buf, pr->generation);
	put_be32(buf + 4, n - 8);
	return n;
}

void scsi_pr_in_exec(struct scsi_cmd *cmd)
{
	struct scsi_pr *pr = cmd->lu->pr;
	uint8_t *buf = malloc(PRIN_BUF_MAX);
	uint32_t n = 0;

	if (!buf) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_cmd_complete(cmd);
		return;
	}
	pthread_mutex_lock(&pr->lock);
	if (pr->shared && pr_share_check(pr, cmd)) {
		pthread_mutex_unlock(&pr->lock);
		free(buf);
		scsi_cmd_complete(cmd);
		return;
	}
	switch (cmd->cdb[1] & 0x1f) {
	case PRIN_READ_KEYS:
		n = prin_read_keys(pr, buf);
		break;
	case PRIN_READ_RESERVATION:
		n = prin_read_reservation(pr, buf);
		break;
	case PRIN_REPORT_CAPABILITIES:
		n = prin_report_caps(pr, buf);
		break;
	default:
		n = prin_full_status(pr, buf);
		break;
	}
	pthread_mutex_unlock(&pr->lock);
	scsi_cmd_put_data(cmd, buf, n);
	free(buf);
	scsi_cmd_complete(cmd);
}

/* ---- PERSISTENT RESERVE OUT ---- */

/* What one PERSISTENT RESERVE OUT asks, decoded. */
struct prout {
	uint8_t sa;
	uint8_t scope;
	uint8_t type;
	uint64_t key;
	uint64_t sa_key;
	uint8_t flags; /* byte 20 (17 for REGISTER AND MOVE) */
	const uint8_t *param;
	uint32_t param_len;
};

int scsi_pr_out_setup(struct scsi_cmd *cmd)
{
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint32_t len = get_be32(cmd->cdb + 5);
	uint32_t max = sa == PROUT_REGISTER_MOVE ? PROUT_MOVE_MAX : PROUT_PARAM_LEN;

	if (sa > PROUT_REGISTER_MOVE) {
		return scsi_cmd_bad_field(cmd, 1, 4);
	}
	if (len < PROUT_PARAM_LEN || len > max) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                     SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	cmd->dir = SCSI_DIR_WRITE;
	cmd->xfer_len = len;
	return 0;
}

static int reg_alloc(struct scsi_pr *pr)
{
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (!pr->regs[i].used) {
			return i;
		}
	}
	return -1;
}

/* Drop registration `i`; its reservation goes with it (SPC-4 5.12.11). */
static void reg_remove(struct scsi_pr *pr, int i, bool ua_on_release)
{
	uint8_t type = pr->type;

	pr->regs[i].used = false;
	if (type == PR_TYPE_NONE) {
		return;
	}
	if (type_all_registrants(type)) {
		if (reg_count(pr) == 0) {
			reservation_clear(pr);
		}
		return;
	}
	if (pr->holder == i) {
		reservation_clear(pr);
		if (ua_on_release && type_registrants(type)) {
			ua_registrants(pr, i, SCSI_ASC_RESERVATIONS_RELEASED);
		}
	}
}

static enum prout_result do_register(struct scsi_pr *pr, const struct scsi_nexus *n,
                                     const struct prout *o, bool ignore_key)
{
	int reg = pr_find_reg(pr, n);

	if (o->flags & (PROUT_SPEC_I_PT | PROUT_ALL_TG_PT)) {
		return PROUT_BAD_PARAM; /* SIP_C = ATP_C = 0 */
	}
	if ((o->flags & PROUT_APTPL) && !pr->can_persist) {
		return PROUT_BAD_PARAM;
	}
	if (reg < 0) {
		if (!ignore_key && o->key != 0) {
			return PROUT_CONFLICT;
		}
		if (o->sa_key == 0) {
			return PROUT_GOOD;
		}
		reg = reg_alloc(pr);
		if (reg < 0) {
			return PROUT_NO_RESOURCES;
		}
		pr->regs[reg].used = true;
		pr->regs[reg].key = o->sa_key;
		pr->regs[reg].rel_port = n->rel_port_id;
		pr_port_of(&pr->regs[reg].port, n);
	} else if (!ignore_key && o->key != pr->regs[reg].key) {
		return PROUT_CONFLICT;
	} else if (o->sa_key == 0) {
		reg_remove(pr, reg, true);
	} else {
		pr->regs[reg].key = o->sa_key;
	}
	pr->aptpl = o->flags & PROUT_APTPL;
	pr->generation++;
	return PROUT_GOOD;
}

/* The issuing nexus must be registered under o->key. */
static int registered_as(const struct scsi_pr *pr, const struct scsi_nexus *n,
                         const struct prout *o)
{
	int reg = pr_find_reg(pr, n);

	return reg >= 0 && pr->regs[reg].key == o->key ? reg : -1;
}

static enum prout_result do_reserve(struct scsi_pr *pr, const struct scsi_nexus *n,
                                    const struct prout *o)
{
	int reg = registered_as(pr, n, o);

	if (reg < 0) {
		return PROUT_CONFLICT;
	}
	if (o->scope != PR_SCOPE_LU || !type_valid(o->type)) {
		return PROUT_BAD_CDB_TYPE;
	}
	if (pr->type != PR_TYPE_NONE) {
		return reg_holds(pr, reg) && pr->type == o->type ? PROUT_GOOD : PROUT_CONFLICT;
	}
	pr->type = o->type;
	pr->holder = type_all_registrants(o->type) ? -1 : reg;
	return PROUT_GOOD;
}

static enum prout_result do_release(struct scsi_pr *pr, const struct scsi_nexus *n,
                                    const struct prout *o)
{
	int reg = registered_as(pr, n, o);
	uint8_t type = pr->type;

	if (reg < 0) {
		return PROUT_CONFLICT;
	}
	if (type == PR_TYPE_NONE || !reg_holds(pr, reg)) {
		return PROUT_GOOD;
	}
	if (o->scope != PR_SCOPE_LU || o->type != type) {
		return PROUT_BAD_RELEASE;
	}
	reservation_clear(pr);
	if (type != PR_TYPE_WE && type != PR_TYPE_EA) {
		ua_registrants(pr, reg, SCSI_ASC_RESERVATIONS_RELEASED);
	}
	return PROUT_GOOD;
}

static enum prout_result do_clear(struct scsi_pr *pr, const struct scsi_nexus *n,
                                  const struct prout *o)
{
	int reg = registered_as(pr, n, o);

	if (reg < 0) {
		return PROUT_CONFLICT;
	}
	ua_registrants(pr, reg, SCSI_ASC_RESERVATIONS_PREEMPTED);
	memset(pr->regs, 0, sizeof(pr->regs));
	reservation_clear(pr);
	pr->generation++;
	return PROUT_GOOD;
}

/* Remove every registration with `key` but the issuer's (`keep`),
 * telling each it was preempted; returns how many went. */
static unsigned remove_key(struct scsi_pr *pr, uint64_t key, int keep, bool all)
{
	unsigned removed = 0;

	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (!pr->regs[i].used || i == keep || (!all && pr->regs[i].key != key)) {
			continue;
		}
		pr_ua_queue(pr, &pr->regs[i].port, SCSI_ASC_REGISTRATIONS_PREEMPTED);
		pr->regs[i].used = false;
		removed++;
	}
	return removed;
}

/* The preempting nexus takes the reservation (new type maybe). */
static void take_reservation(struct scsi_pr *pr, int reg, const struct prout *o)
{
	bool changed = pr->type != o->type;

	pr->type = o->type;
	pr->holder = type_all_registrants(o->type) ? -1 : reg;
	if (changed) {
		ua_registrants(pr, reg, SCSI_ASC_RESERVATIONS_RELEASED);
	}
}

static enum prout_result do_preempt(struct scsi_pr *pr, const struct scsi_nexus *n,
                                    const struct prout *o)
{
	int reg = registered_as(pr, n, o);
	bool ar = type_all_registrants(pr->type);

	if (reg < 0) {
		return PROUT_CONFLICT;
	}
	if (pr->type != PR_TYPE_NONE && (o->scope != PR_SCOPE_LU || !type_valid(o->type))) {
		return PROUT_BAD_CDB_TYPE;
	}
	if (pr->type != PR_TYPE_NONE && ar && o->sa_key == 0) {
		/* All registrants: key 0 preempts everyone else. */
		remove_key(pr, 0, reg, true);
		take_reservation(pr, reg, o);
	} else if (pr->type != PR_TYPE_NONE && !ar && pr->holder >= 0 &&
	           pr->regs[pr->holder].key == o->sa_key) {
		/* Preempt the holder: its key's registrations go. */
		remove_key(pr, o->sa_key, reg, false);
		take_reservation(pr, reg, o);
	} else {
		/* Only remove registrations; the reservation stays. */
		if (o->sa_key == 0) {
			return PROUT_BAD_PARAM;
		}
		if (remove_key(pr, o->sa_key, reg, false) == 0) {
			return PROUT_CONFLICT;
		}
		if (pr->holder >= 0 && !pr->regs[pr->holder].used) {
			reservation_clear(pr);
		}
	}
	pr->generation++;
	return PROUT_GOOD;
}

/* The smallest iSCSI TransportID: a 4-byte header and a name padded to
 * at least 20 bytes (SPC-4 7.6.4.6). */
#define TID_ISCSI_MIN 24
#define MOVE_TID_LEN_FIELD 20

/*
 * REGISTER AND MOVE: the lengths of its parameter list, checked before
 * anything in it is used (each from the network; none may wrap).
 * PROUT_GOOD, PROUT_BAD_LIST_LEN when the TransportID runs past the
 * list (SPC-4 6.16.4), PROUT_BAD_TID_LEN when it cannot hold one.
 */
static enum prout_result move_check_lengths(const struct prout *o)
{
	uint32_t tid_len = get_be32(o->param + MOVE_TID_LEN_FIELD);

	if (tid_len > o->param_len - PROUT_PARAM_LEN) {
		return PROUT_BAD_LIST_LEN;
	}
	if (tid_len < TID_ISCSI_MIN) {
		return PROUT_BAD_TID_LEN;
	}
	return PROUT_GOOD;
}

/* REGISTER AND MOVE's TransportID: the iSCSI initiator port name
 * ("name,i,0x<ISID>", format 01b) into `iport`; false when invalid.
 * move_check_lengths() has accepted the list. */
static bool move_target_port(const struct prout *o, char *iport, size_t cap)
{
	uint32_t tid_len = get_be32(o->param + MOVE_TID_LEN_FIELD);
	const uint8_t *tid = o->param + PROUT_PARAM_LEN;
	uint32_t name_len;

	if (tid[0] != 0x45) {
		return false;
	}
	name_len = get_be16(tid + 2);
	if (name_len > tid_len - 4 || name_len == 0 || name_len > cap) {
		return false;
	}
	if (strnlen((const char *)tid + 4, name_len) >= name_len) {
		return false; /* not NUL terminated inside */
	}
	snprintf(iport, cap, "%s", (const char *)tid + 4);
	/* Lower case hex ISID as our own names use. */
	for (char *p = strstr(iport, ",i,0x"); p && *p; p++) {
		if (*p >= 'A' && *p <= 'F') {
			*p = (char)(*p - 'A' + 'a');
		}
	}
	return strstr(iport, ",i,0x") != NULL;
}

static enum prout_result do_register_move(struct scsi_pr *pr, const struct scsi_nexus *n,
                                          const struct prout *o)
{
	int reg = registered_as(pr, n, o);
	struct pr_port dest;
	int dreg;

	if (reg < 0 || !reg_holds(pr, reg) || type_all_registrants(pr->type)) {
		return PROUT_CONFLICT;
	}
	if (o->scope != PR_SCOPE_LU || !type_valid(o->type)) {
		return PROUT_BAD_CDB_TYPE;
	}
	if (o->sa_key == 0 || get_be16(o->param + 18) != n->rel_port_id ||
	    !move_target_port(o, dest.iport, sizeof(dest.iport))) {
		return PROUT_BAD_PARAM;
	}
	if ((o->flags & PROUT_APTPL) && !pr->can_persist) {
		return PROUT_BAD_PARAM;
	}
	snprintf(dest.tport, sizeof(dest.tport), "%s", n->target_port);
	if (port_same(&dest, &pr->regs[reg].port)) {
		return PROUT_BAD_PARAM;
	}
	dreg = -1;
	for (int i = 0; i < PR_MAX_REGS; i++) {
		if (pr->regs[i].used && port_same(&pr->regs[i].port, &dest)) {
			dreg = i;
		}
	}
	if (dreg < 0) {
		dreg = reg_alloc(pr);
		if (dreg < 0) {
			return PROUT_NO_RESOURCES;
		}
		pr->regs[dreg].used = true;
		pr->regs[dreg].rel_port = n->rel_port_id;
		pr->regs[dreg].port = dest;
	}
	pr->regs[dreg].key = o->sa_key;
	pr->type = o->type;
	pr->holder = dreg;
	if (o->flags & PROUT_MOVE_UNREG) {
		pr->regs[reg].used = false;
	}
	pr->aptpl = o->flags & PROUT_APTPL;
	pr->generation++;
	return PROUT_GOOD;
}

/* Under pr->lock: run one service action. */
static enum prout_result prout_run(struct scsi_pr *pr, const struct scsi_nexus *n,
                                   const struct prout *o)
{
	switch (o->sa) {
	case PROUT_REGISTER:
		return do_register(pr, n, o, false);
	case PROUT_REGISTER_IGNORE:
		return do_register(pr, n, o, true);
	case PROUT_RESERVE:
		return do_reserve(pr, n, o);
	case PROUT_RELEASE:
		return do_release(pr, n, o);
	case PROUT_CLEAR:
		return do_clear(pr, n, o);
	case PROUT_PREEMPT:
	case PROUT_PREEMPT_ABORT:
		return do_preempt(pr, n, o);
	default:
		return do_register_move(pr, n, o);
	}
}

static void prout_decode(const struct scsi_cmd *cmd, struct prout *o)
{
	const uint8_t *p = cmd->data;

	o->sa = cmd->cdb[1] & 0x1f;
	o->scope = cmd->cdb[2] >> 4;
	o->type = cmd->cdb[2] & 0x0f;
	o->key = get_be64(p);
	o->sa_key = get_be64(p + 8);
	o->flags = o->sa == PROUT_REGISTER_MOVE ? p[17] : p[20];
	o->param = p;
	o->param_len = cmd->xfer_len;
}

void pr_out_status(struct scsi_cmd *cmd, enum prout_result r)
{
	switch (r) {
	case PROUT_GOOD:
		break;
	case PROUT_CONFLICT:
		scsi_cmd_conflict(cmd);
		break;
	case PROUT_BAD_CDB_TYPE:
		scsi_cmd_set_sense_field(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                         SCSI_ASC_INVALID_FIELD_IN_CDB, true, 2, -1);
		break;
	case PROUT_BAD_PARAM:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
		break;
	case PROUT_BAD_RELEASE:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_RELEASE_OF_PR);
		break;
	case PROUT_BAD_LIST_LEN:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		break;
	case PROUT_BAD_TID_LEN:
		scsi_cmd_bad_param(cmd, MOVE_TID_LEN_FIELD, -1);
		break;
	case PROUT_BUSY:
		cmd->status = SCSI_STATUS_BUSY;
		cmd->sense_len = 0;
		break;
	case PROUT_FAILED:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		break;
	default:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                   SCSI_ASC_INSUFFICIENT_REG_RESOURCES);
		break;
	}
}

static void prout_finish(struct scsi_cmd *cmd, enum prout_result r)
{
	pr_out_status(cmd, r);
	scsi_cmd_complete(cmd);
}

/* Save or drop the APTPL file after a change; under pr->lock. */
static void prout_persist(struct scsi_pr *pr)
{
	if (!pr->path[0]) {
		return;
	}
	if (pr->aptpl) {
		(void)pr_state_save(pr); /* can_persist was checked; a failing
		                          * disk leaves the last good file */
	} else {
		pr_state_remove(pr);
	}
}

static void snapshot_regs(const struct scsi_pr *pr, bool used[PR_MAX_REGS])
{
	for (int i = 0; i < PR_MAX_REGS; i++) {
		used[i] = pr->regs[i].used;
	}
}

enum prout_result pr_out_apply(struct scsi_pr *pr, const struct scsi_cmd *cmd,
                               struct pr_preempted *gone)
{
	bool before[PR_MAX_REGS];
	enum prout_result r;
	struct prout o;

	if (pr->r2_held) {
		return PROUT_CONFLICT; /* SPC-4 5.13.3: any SPC-2 reservation */
	}
	prout_decode(cmd, &o);
	snapshot_regs(pr, before);
	r = prout_run(pr, cmd->nexus, &o);
	for (int i = 0; gone && r == PROUT_GOOD && i < PR_MAX_REGS; i++) {
		if (before[i] && !pr->regs[i].used) {
			memcpy(gone->iport[gone->count++], pr->regs[i].port.iport,
			       SCSI_PORT_NAME_MAX);
		}
	}
	return r;
}

struct pr_preempted *pr_out_gone_new(const struct scsi_cmd *cmd)
{
	if ((cmd->cdb[1] & 0x1f) == PROUT_PREEMPT_ABORT && cmd->luns && cmd->luns->abort_nexus) {
		return calloc(1, sizeof(struct pr_preempted));
	}
	return NULL;
}

void pr_out_abort(struct scsi_cmd *cmd, const struct pr_preempted *gone)
{
	for (unsigned i = 0; gone && i < gone->count; i++) {
		/* Not the nexus preempting its own key: this command must end
		 * with its status (its other tasks stay; a known gap). */
		if (strcmp(gone->iport[i], cmd->nexus->initiator_port) != 0) {
			cmd->luns->abort_nexus(cmd->luns->abort_ctx, cmd, cmd->lu, gone->iport[i]);
		}
	}
}

void scsi_pr_out_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	struct scsi_pr *pr = lu->pr;
	struct pr_preempted *gone = NULL;
	enum prout_result r;
	struct prout o;

	if (scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (!cmd->nexus) {
		prout_finish(cmd, PROUT_CONFLICT);
		return;
	}
	prout_decode(cmd, &o);
	if (o.sa == PROUT_REGISTER_MOVE && (r = move_check_lengths(&o)) != PROUT_GOOD) {
		prout_finish(cmd, r);
		return;
	}
	if (pr->shared) {
		pr_share_exec(cmd);
		return;
	}
	gone = pr_out_gone_new(cmd);
	pthread_mutex_lock(&pr->lock);
	r = pr_out_apply(pr, cmd, gone);
	if (r == PROUT_GOOD) {
		prout_persist(pr);
	}
	pr_publish(lu);
	pthread_mutex_unlock(&pr->lock);
	pr_out_abort(cmd, gone);
	free(gone);
	prout_finish(cmd, r);
}
