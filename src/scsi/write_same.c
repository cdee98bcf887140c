/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * WRITE SAME(10) and WRITE SAME(16) (SBC-3 5.42, 5.43): one block of
 * data-out written to every block of a range, without a system call per
 * block:
 *   - UNMAP set: the range is deallocated (reads zeros, LBPRZ);
 *   - all-zero data (or NDOB): WRITE ZEROES on the store;
 *   - a store with memory: the block is copied in place;
 *   - otherwise a bounded buffer is filled with copies of the block and
 *     written chunk by chunk.
 * Also the request loop shared with UNMAP (scsi_range_run).
 */
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define WS_NDOB 0x01   /* WRITE SAME(16): no data-out, write zeros */
#define WS_LBDATA 0x02 /* obsolete (SBC-2) */
#define WS_PBDATA 0x04 /* obsolete (SBC-2) */
#define WS_UNMAP 0x08
#define WS_ANCHOR 0x10
#define WS_PROTECT_SHIFT 5

/* How the range is written, kept in cmd->stage between setup and exec. */
enum ws_mode {
	WS_MODE_DATA = 0,
	WS_MODE_UNMAP = 1,
	WS_MODE_ZEROES = 2,
};

/* Largest buffer of replicated blocks for one WRITE request. */
#define WS_CHUNK_BYTES (1u << 20)
/* Largest WRITE ZEROES / UNMAP request (io.len is 32 bits). */
#define RANGE_CHUNK_BYTES (1u << 30)

static bool is_ws16(const struct scsi_cmd *cmd)
{
	return cmd->cdb[0] == SCSI_OP_WRITE_SAME16;
}

/* Byte 1 checks: no protection, no anchored blocks, no LBDATA/PBDATA. */
static int ws_check_flags(struct scsi_cmd *cmd)
{
	uint8_t b1 = cmd->cdb[1];

	if (b1 >> WS_PROTECT_SHIFT) {
		return scsi_cmd_bad_field(cmd, 1, 7);
	}
	/* ANC_SUP=0 in the provisioning VPD page. */
	if (b1 & WS_ANCHOR) {
		return scsi_cmd_bad_field(cmd, 1, 4);
	}
	if (b1 & WS_PBDATA) {
		return scsi_cmd_bad_field(cmd, 1, 2);
	}
	if (b1 & WS_LBDATA) {
		return scsi_cmd_bad_field(cmd, 1, 1);
	}
	if ((b1 & WS_NDOB) && !is_ws16(cmd)) {
		return scsi_cmd_bad_field(cmd, 1, 0);
	}
	return 0;
}

int scsi_write_same_setup(struct scsi_cmd *cmd)
{
	struct scsi_lba_range r;
	uint64_t cap = cmd->lu->num_blocks;
	bool ndob = cmd->cdb[1] & WS_NDOB;

	if (ws_check_flags(cmd)) {
		return 1;
	}
	scsi_decode_range(cmd->cdb, &r);
	if (r.lba > cap) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	}
	/* NUMBER OF LOGICAL BLOCKS 0: to the end of the medium (WSNZ=0). */
	if (r.nblocks == 0 && cap - r.lba <= scsi_max_write_same(cmd->lu)) {
		r.nblocks = (uint32_t)(cap - r.lba);
	} else if (r.nblocks == 0 || r.nblocks > scsi_max_write_same(cmd->lu)) {
		return scsi_cmd_bad_field(cmd, r.len_field, -1);
	}
	if (scsi_check_range(cmd, &r)) {
		return 1;
	}
	cmd->lba = r.lba;
	cmd->nblocks = r.nblocks;
	cmd->xfer_len = ndob ? 0 : cmd->lu->block_size;
	cmd->dir = ndob ? SCSI_DIR_NONE : SCSI_DIR_WRITE;
	/* The data-out buffer is exactly one block: a different expected
	 * length is a broken command, not a residual to report. */
	if (cmd->edtl && cmd->edtl != cmd->xfer_len) {
		return scsi_cmd_bad_field(cmd, r.len_field, -1);
	}
	if (cmd->cdb[1] & WS_UNMAP) {
		cmd->stage = WS_MODE_UNMAP;
	} else {
		cmd->stage = ndob ? WS_MODE_ZEROES : WS_MODE_DATA;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, uint32_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Copy the block to every block of the range in the store's memory. */
static void ws_fill_mapped(struct scsi_cmd *cmd, uint8_t *medium)
{
	uint32_t bs = cmd->lu->block_size;
	uint32_t i;

	for (i = 0; i < cmd->nblocks; i++) {
		memcpy(medium + (size_t)i * bs, cmd->data, bs);
	}
}

/* A buffer of as many copies of the block as one request writes. */
static uint8_t *ws_pattern(struct scsi_cmd *cmd, uint32_t *blocks)
{
	uint32_t bs = cmd->lu->block_size;
	uint32_t n = WS_CHUNK_BYTES / bs;
	uint8_t *buf;
	uint32_t i;

	if (n > cmd->nblocks) {
		n = cmd->nblocks;
	}
	buf = malloc((size_t)n * bs);
	if (!buf) {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		memcpy(buf + (size_t)i * bs, cmd->data, bs);
	}
	*blocks = n;
	return buf;
}

/* Set up cmd->io for scsi_range_run(): `op` over the whole range. */
static void range_prepare(struct scsi_cmd *cmd, enum idm_backing_op op, uint8_t *buf,
                          uint32_t step_blocks)
{
	cmd->io.op = op;
	cmd->io.buf = buf;
	cmd->io.fua = false;
	cmd->step_blocks = step_blocks;
}

void scsi_write_same_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	uint32_t bs = lu->block_size;
	uint32_t blocks;
	uint8_t *medium, *buf;

	if (cmd->nblocks == 0 || scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (scsi_rmw_defer(cmd, scsi_write_same_exec)) {
		return;
	}
	if (cmd->stage == WS_MODE_DATA && all_zero(cmd->data, bs)) {
		cmd->stage = WS_MODE_ZEROES;
	}
	if (cmd->stage != WS_MODE_DATA) {
		range_prepare(
		    cmd, cmd->stage == WS_MODE_UNMAP ? IDM_BACKING_UNMAP : IDM_BACKING_WRITE_ZEROES,
		    NULL, RANGE_CHUNK_BYTES / bs);
		scsi_range_run(cmd);
		return;
	}
	medium = idm_backing_map(lu->store, cmd->lba * bs, cmd->nblocks * bs);
	if (medium) {
		ws_fill_mapped(cmd, medium);
		scsi_cmd_complete(cmd);
		return;
	}
	/* The store replicates the block itself (rbd): one request. */
	if (idm_backing_has_op(lu->store, IDM_BACKING_WRITE_SAME)) {
		range_prepare(cmd, IDM_BACKING_WRITE_SAME, cmd->data, RANGE_CHUNK_BYTES / bs);
		scsi_range_run(cmd);
		return;
	}
	buf = ws_pattern(cmd, &blocks);
	if (!buf) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_cmd_complete(cmd);
		return;
	}
	range_prepare(cmd, IDM_BACKING_WRITE, buf, blocks);
	scsi_range_run(cmd);
}

/* The range is done (or failed): the next one, or the end. */
static bool range_advance(struct scsi_cmd *cmd)
{
	if (cmd->status != SCSI_STATUS_GOOD) {
		return false;
	}
	while (cmd->nblocks == 0) {
		if (cmd->cdb[0] != SCSI_OP_UNMAP || !scsi_unmap_next(cmd)) {
			return false;
		}
	}
	return true;
}

static void range_finish(struct scsi_cmd *cmd)
{
	/* A pattern buffer of ours, not the command's own data. */
	if (cmd->io.buf != cmd->data) {
		free(cmd->io.buf);
	}
	cmd->io.buf = NULL;
	scsi_cmd_complete(cmd);
}

static void range_io_done(struct idm_backing_io *io, int status)
{
	struct scsi_cmd *cmd = io->arg;
	uint32_t done = io->len / cmd->lu->block_size;

	if (status < 0) {
		scsi_cmd_set_store_error(cmd, status, SCSI_ASC_WRITE_ERROR);
	}
	cmd->lba += done;
	cmd->nblocks -= done;
	/* Completed inside idm_backing_submit(): the loop below goes on. */
	if (cmd->step_busy) {
		cmd->step_again = true;
		return;
	}
	scsi_range_run(cmd);
}

/* One request for the next chunk of the current range. */
static void range_submit(struct scsi_cmd *cmd)
{
	struct idm_backing_io *io = &cmd->io;
	uint32_t n = cmd->nblocks < cmd->step_blocks ? cmd->nblocks : cmd->step_blocks;

	io->offset = cmd->lba * cmd->lu->block_size;
	io->len = n * cmd->lu->block_size;
	io->done = range_io_done;
	io->arg = cmd;
	idm_backing_submit(cmd->lu->store, io, cmd->reactor);
}

/* A loop rather than recursion: synchronous stores complete each
 * request inside submit, and a large UNMAP has many requests. */
void scsi_range_run(struct scsi_cmd *cmd)
{
	cmd->step_busy = true;
	do {
		cmd->step_again = false;
		if (!range_advance(cmd)) {
			cmd->step_busy = false;
			range_finish(cmd);
			return;
		}
		range_submit(cmd);
	} while (cmd->step_again);
	cmd->step_busy = false;
}
