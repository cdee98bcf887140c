/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thin provisioning (SBC-3 4.7): UNMAP, which deallocates the ranges of
 * its parameter list, and GET LBA STATUS, which reports which blocks are
 * mapped and which are deallocated (holes in a file store).
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define UNMAP_ANCHOR 0x01
#define UNMAP_HDR 8
#define UNMAP_DESC 16
/* Largest WRITE ZEROES / UNMAP request (io.len is 32 bits). */
#define UNMAP_CHUNK_BYTES (1u << 30)

#define LBAS_HDR 8
#define LBAS_DESC 16
#define LBAS_MAX_DESC 64
#define LBAS_BUF_LEN (LBAS_HDR + LBAS_MAX_DESC * LBAS_DESC)
#define LBAS_MAPPED 0x0
#define LBAS_DEALLOCATED 0x1

int scsi_unmap_setup(struct scsi_cmd *cmd)
{
	uint16_t len = get_be16(cmd->cdb + 7);

	/* ANC_SUP=0: no anchored blocks. */
	if (cmd->cdb[1] & UNMAP_ANCHOR) {
		return scsi_cmd_bad_field(cmd, 1, 0);
	}
	/* Too short to hold the header: SBC-3 5.28.1. */
	if (len > 0 && len < UNMAP_HDR) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
		                     SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	cmd->dir = len ? SCSI_DIR_WRITE : SCSI_DIR_NONE;
	cmd->xfer_len = len;
	return 0;
}

/* Block descriptors received: what the header announces, cut to what
 * was sent; a trailing partial descriptor is ignored. */
static uint32_t unmap_count(const struct scsi_cmd *cmd)
{
	uint32_t len = get_be16(cmd->data + 2);

	if (len > cmd->xfer_len - UNMAP_HDR) {
		len = cmd->xfer_len - UNMAP_HDR;
	}
	return len / UNMAP_DESC;
}

/* Check every descriptor before unmapping anything. 0, or 1 with sense. */
static int unmap_check(struct scsi_cmd *cmd, uint32_t count)
{
	uint64_t cap = cmd->lu->num_blocks, total = 0;
	uint32_t i;

	if (count > SCSI_MAX_UNMAP_DESCRIPTORS) {
		scsi_cmd_bad_param(cmd, 2, -1);
		return 1;
	}
	for (i = 0; i < count; i++) {
		const uint8_t *d = cmd->data + UNMAP_HDR + i * UNMAP_DESC;
		uint64_t lba = get_be64(d);
		uint32_t n = get_be32(d + 8);

		if (lba > cap || n > cap - lba) {
			return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
			                     SCSI_ASC_LBA_OUT_OF_RANGE);
		}
		total += n;
		if (total > SCSI_MAX_UNMAP_BLOCKS) {
			scsi_cmd_bad_param(cmd, (uint16_t)(UNMAP_HDR + i * UNMAP_DESC + 8), -1);
			return 1;
		}
	}
	return 0;
}

bool scsi_unmap_next(struct scsi_cmd *cmd)
{
	const uint8_t *d;

	if (cmd->step_index >= unmap_count(cmd)) {
		return false;
	}
	d = cmd->data + UNMAP_HDR + cmd->step_index * UNMAP_DESC;
	cmd->lba = get_be64(d);
	cmd->nblocks = get_be32(d + 8);
	cmd->step_index++;
	return true;
}

void scsi_unmap_exec(struct scsi_cmd *cmd)
{
	if (cmd->xfer_len == 0 || scsi_buffer_short(cmd) || unmap_check(cmd, unmap_count(cmd))) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (scsi_rmw_defer(cmd, scsi_unmap_exec)) {
		return;
	}
	cmd->io.op = IDM_BACKING_UNMAP;
	cmd->io.buf = NULL;
	cmd->io.fua = false;
	cmd->step_blocks = UNMAP_CHUNK_BYTES / cmd->lu->block_size;
	cmd->step_index = 0;
	cmd->lba = 0;
	cmd->nblocks = 0;
	scsi_range_run(cmd);
}

int scsi_get_lba_status_setup(struct scsi_cmd *cmd)
{
	uint64_t lba = get_be64(cmd->cdb + 2);

	if (lba >= cmd->lu->num_blocks) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	}
	cmd->lba = lba;
	return scsi_cmd_data_in(cmd, get_be32(cmd->cdb + 10), LBAS_BUF_LEN);
}

/* One descriptor for the run of blocks starting at `lba` that share a
 * state. A block partly allocated counts as mapped. Returns the count. */
static uint32_t lba_run(struct scsi_lu *lu, uint64_t lba, uint8_t *d)
{
	uint32_t bs = lu->block_size;
	uint64_t left = lu->num_blocks - lba, run = bs, blocks;
	bool mapped = true;

	if (idm_backing_lba_status(lu->store, lba * bs, &mapped, &run) != 0) {
		mapped = true;
		run = bs;
	}
	if (!mapped && run < bs) {
		mapped = true;
		run = bs;
	}
	blocks = mapped ? (run + bs - 1) / bs : run / bs;
	if (blocks > left) {
		blocks = left;
	}
	if (blocks > UINT32_MAX) {
		blocks = UINT32_MAX;
	}
	memset(d, 0, LBAS_DESC);
	put_be64(d, lba);
	put_be32(d + 8, (uint32_t)blocks);
	d[12] = mapped ? LBAS_MAPPED : LBAS_DEALLOCATED;
	return (uint32_t)blocks;
}

/* The parameter data, into cmd->data: on the reactor, or on the
 * store's own thread when asking the store may wait (rbd). */
static void lba_status_fill(struct scsi_cmd *cmd)
{
	uint8_t buf[LBAS_BUF_LEN];
	uint32_t room = cmd->xfer_len < LBAS_HDR ? 0 : (cmd->xfer_len - LBAS_HDR) / LBAS_DESC;
	uint64_t lba = cmd->lba;
	uint32_t n = 0;

	if (room == 0) {
		room = 1; /* the header still tells the length of one */
	}
	memset(buf, 0, LBAS_HDR);
	while (n < room && n < LBAS_MAX_DESC && lba < cmd->lu->num_blocks) {
		lba += lba_run(cmd->lu, lba, buf + LBAS_HDR + n * LBAS_DESC);
		n++;
	}
	put_be32(buf, LBAS_HDR - 4 + n * LBAS_DESC);
	scsi_cmd_put_data(cmd, buf, LBAS_HDR + n * LBAS_DESC);
}

static void lba_status_work(struct idm_backing_io *io)
{
	lba_status_fill(io->arg);
}

static void lba_status_done(struct idm_backing_io *io, int status)
{
	scsi_cmd_complete(io->arg);
}

void scsi_get_lba_status_exec(struct scsi_cmd *cmd)
{
	struct idm_backing *store = cmd->lu->store;

	if (scsi_lu_offline(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (store->ops->offload) {
		cmd->io.arg = cmd;
		cmd->io.done = lba_status_done;
		cmd->io.store = store;
		store->ops->offload(store, &cmd->io, lba_status_work, cmd->reactor);
		return;
	}
	lba_status_fill(cmd);
	scsi_cmd_complete(cmd);
}
