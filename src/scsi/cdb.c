/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CDB decoding: the opcode table, the checks every command shares (LU
 * present, unit attention, started unit, control byte) and the dispatch
 * to each command's setup and exec.
 *
 * Completion: scsi_cmd_exec() always ends in exactly one call of
 * cmd->done. Commands that need no store I/O (INQUIRY, MODE SENSE, zero
 * copy READ/WRITE on a mapped store, ...) and stores that complete
 * synchronously call it before scsi_cmd_exec() returns, so the caller
 * must not touch cmd after exec unless its done callback allows it.
 * Setup never calls done: when it returns 1, status and sense are set.
 */
#include <string.h>

#include "idm/wire.h"
#include "pr_int.h"

#define CONTROL_NACA 0x04
#define CONTROL_LINK 0x01

/* CDB length by group code (opcode bits 7:5), SPC-4 4.2.5.1. Group 3
 * is reserved / variable length and groups 6-7 are vendor specific. */
unsigned scsi_cdb_length(uint8_t opcode)
{
	static const uint8_t len_by_group[8] = {6, 10, 10, 0, 16, 12, 0, 0};

	return len_by_group[opcode >> 5];
}

static struct scsi_lu *lookup_lu(const struct scsi_cmd *cmd)
{
	unsigned l = scsi_lun_map_lu(cmd->map, cmd->lun);

	if (!cmd->luns || l >= SCSI_MAX_LUNS) {
		return NULL;
	}
	return cmd->luns->lu[l];
}

/* A REPORTED LUNS DATA HAS CHANGED for LU index `l` this nexus has not
 * been told yet: taken now. */
static bool take_map_changed(struct scsi_cmd *cmd, unsigned l)
{
	struct scsi_lun_map *m = cmd->map;
	uint32_t bit = 1u << (l % 32);

	if (!m || l >= SCSI_MAX_LUNS || !(m->changed[l / 32] & bit)) {
		return false;
	}
	m->changed[l / 32] &= ~bit;
	return true;
}

/* The unit attention of `lu` (LU index `lun`) the nexus of `cmd` has not
 * seen yet, or 0; marks it seen. */
static uint16_t take_ua_of(struct scsi_cmd *cmd, struct scsi_lu *lu, uint64_t lun)
{
	uint32_t gen;

	if (!lu || !cmd->ua_seen || lun >= SCSI_MAX_LUNS) {
		return 0;
	}
	/* Acquire pairs with the release in scsi_lu_raise_ua(): a reactor
	 * that sees the new generation also sees its ASC. */
	gen = __atomic_load_n(&lu->ua_generation, __ATOMIC_ACQUIRE);
	if (cmd->ua_seen[lun] == gen) {
		/* Then the ones only this nexus gets: its LUN map changed,
		 * reservations. */
		if (take_map_changed(cmd, (unsigned)lun)) {
			return SCSI_ASC_REPORTED_LUNS_CHANGED;
		}
		if (cmd->nexus && __atomic_load_n(&lu->pr_ua_pending, __ATOMIC_ACQUIRE)) {
			return scsi_pr_take_ua(lu, cmd->nexus);
		}
		return 0;
	}
	cmd->ua_seen[lun] = gen;
	return lu->ua_asc;
}

uint16_t scsi_cmd_take_ua(struct scsi_cmd *cmd)
{
	/* ua_seen is indexed by the LU, not by the nexus's number for it. */
	return cmd->lu ? take_ua_of(cmd, cmd->lu, cmd->lu->lun) : 0;
}

int scsi_cmd_check_lu(struct scsi_cmd *cmd, struct scsi_lu *lu, bool write, bool take_ua)
{
	uint16_t ua = take_ua ? take_ua_of(cmd, lu, lu->lun) : 0;

	if (ua) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_UNIT_ATTENTION, ua);
		return 1;
	}
	if (scsi_resv_conflict(lu, cmd->nexus, write)) {
		scsi_cmd_conflict(cmd);
		return 1;
	}
	if (__atomic_load_n(&lu->stopped, __ATOMIC_RELAXED)) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_NOT_READY, SCSI_ASC_LU_NOT_READY_INIT_REQUIRED);
		return 1;
	}
	if (write && __atomic_load_n(&lu->read_only, __ATOMIC_RELAXED)) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
		return 1;
	}
	return 0;
}

bool scsi_lu_offline(struct scsi_cmd *cmd)
{
	if (!__atomic_load_n(&cmd->lu->store->offline, __ATOMIC_RELAXED)) {
		return false;
	}
	scsi_cmd_set_sense(cmd, SCSI_SENSE_NOT_READY, SCSI_ASC_LU_NOT_READY);
	return true;
}

static void reset_results(struct scsi_cmd *cmd)
{
	cmd->lu = lookup_lu(cmd);
	cmd->dir = SCSI_DIR_NONE;
	cmd->xfer_len = 0;
	cmd->lba = 0;
	cmd->nblocks = 0;
	cmd->fua = false;
	cmd->data_len = 0;
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->stage = 0;
	cmd->abort_requested = false;
}

/* Checks shared by every opcode, in the order SAM-5 gives them. */
static int check_common(struct scsi_cmd *cmd, const struct scsi_op *op)
{
	unsigned len = scsi_cdb_length(cmd->cdb[0]);
	uint8_t control = cmd->cdb[len - 1];
	uint16_t ua;

	if (!cmd->lu && !(op->flags & SCSI_OPF_ANY_LUN)) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	}
	if (!(op->flags & SCSI_OPF_NO_UA)) {
		ua = scsi_cmd_take_ua(cmd);
		if (ua) {
			return scsi_cmd_fail(cmd, SCSI_SENSE_UNIT_ATTENTION, ua);
		}
	}
	/* NACA=1 needs ACA support, which we do not claim (NormACA=0). */
	if (control & CONTROL_NACA) {
		return scsi_cmd_bad_field(cmd, (uint16_t)(len - 1), 2);
	}
	if (control & CONTROL_LINK) {
		return scsi_cmd_bad_field(cmd, (uint16_t)(len - 1), 0);
	}
	/* SPC-4 5.16.2.4: what the access state of the port lets through
	 * (lock-free, and one load for a LU without groups). */
	if (scsi_alua_check(cmd)) {
		return 1;
	}
	/* Lock-free unless some reservation exists. */
	if (cmd->lu && __atomic_load_n(&cmd->lu->resv_active, __ATOMIC_ACQUIRE) &&
	    scsi_resv_check(cmd)) {
		return 1;
	}
	if ((op->flags & SCSI_OPF_MEDIUM) && __atomic_load_n(&cmd->lu->stopped, __ATOMIC_RELAXED)) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_NOT_READY,
		                     SCSI_ASC_LU_NOT_READY_INIT_REQUIRED);
	}
	if ((op->flags & SCSI_OPF_MEDIUM) && scsi_lu_offline(cmd)) {
		return 1;
	}
	/* SBC-3 4.11: a write-protected medium refuses every change to it. */
	if ((op->flags & SCSI_OPF_WRITES) &&
	    __atomic_load_n(&cmd->lu->read_only, __ATOMIC_RELAXED)) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	}
	return 0;
}

/* An unsupported opcode reports a pending unit attention first. */
static int fail_opcode(struct scsi_cmd *cmd)
{
	uint16_t ua = scsi_cmd_take_ua(cmd);

	if (ua) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_UNIT_ATTENTION, ua);
	}
	if (!cmd->lu) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	}
	return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
}

int scsi_cmd_setup(struct scsi_cmd *cmd)
{
	const struct scsi_op *op;
	unsigned len;

	reset_results(cmd);
	if (!cmd->cdb || cmd->cdb_len == 0) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	}
	len = scsi_cdb_length(cmd->cdb[0]);
	op = len ? scsi_op_lookup(cmd->cdb) : NULL;
	if (!op || !scsi_op_offered(cmd, op)) {
		return fail_opcode(cmd);
	}
	if (cmd->cdb_len < len) {
		return scsi_cmd_bad_field(cmd, 0, -1);
	}
	if (check_common(cmd, op)) {
		return 1;
	}
	/* An opcode we know with a service action we do not. */
	if (!op->setup) {
		return scsi_cmd_bad_field(cmd, 1, 4);
	}
	return op->setup(cmd);
}

/* The command setup accepted, or NULL. */
static const struct scsi_op *cmd_op(const struct scsi_cmd *cmd)
{
	const struct scsi_op *op;

	if (!cmd->cdb || cmd->cdb_len == 0 || scsi_cdb_length(cmd->cdb[0]) == 0) {
		return NULL;
	}
	op = scsi_op_lookup(cmd->cdb);
	return op && op->setup ? op : NULL;
}

void scsi_cmd_exec(struct scsi_cmd *cmd)
{
	const struct scsi_op *op = cmd_op(cmd);

	/* A command whose setup failed has nothing left to run. */
	if (!op || cmd->status != SCSI_STATUS_GOOD) {
		scsi_cmd_complete(cmd);
		return;
	}
	/* Setup was skipped or the LU went away: fail, don't crash. */
	if (!cmd->lu && !(op->flags & SCSI_OPF_ANY_LUN)) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
		scsi_cmd_complete(cmd);
		return;
	}
	op->exec(cmd);
}

uint8_t *scsi_cmd_direct_buffer(struct scsi_cmd *cmd)
{
	const struct scsi_op *op = cmd_op(cmd);
	struct scsi_lu *lu = cmd->lu;

	if (!op || !(op->flags & SCSI_OPF_DIRECT) || !lu || cmd->xfer_len == 0 ||
	    cmd->status != SCSI_STATUS_GOOD) {
		return NULL;
	}
	return idm_backing_map(lu->store, cmd->lba * lu->block_size, cmd->xfer_len);
}

void scsi_cmd_complete(struct scsi_cmd *cmd)
{
	if (cmd->done) {
		cmd->done(cmd);
	}
}

int scsi_cmd_data_in(struct scsi_cmd *cmd, uint32_t alloc, uint32_t max)
{
	cmd->dir = SCSI_DIR_READ;
	cmd->xfer_len = alloc < max ? alloc : max;
	return 0;
}

void scsi_cmd_put_data(struct scsi_cmd *cmd, const uint8_t *buf, uint32_t len)
{
	uint32_t n = len;

	if (n > cmd->xfer_len) {
		n = cmd->xfer_len;
	}
	if (!cmd->data || n > cmd->data_cap) {
		n = cmd->data ? cmd->data_cap : 0;
	}
	if (n) {
		memcpy(cmd->data, buf, n);
	}
	cmd->data_len = n;
}

void scsi_put_ascii(uint8_t *dst, const char *src, size_t width)
{
	size_t n = strnlen(src, width);

	memcpy(dst, src, n);
	memset(dst + n, ' ', width - n);
}
