/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Medium access (SBC-3): READ and WRITE 6/10/12/16, VERIFY 10/12/16 and
 * SYNCHRONIZE CACHE 10/16. Data moves through the LU's backing store
 * asynchronously, or not at all when the target placed the transfer
 * straight into the store's memory (scsi_cmd_direct_buffer()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define RW_FUA 0x08
#define RW_PROTECT_SHIFT 5
#define VERIFY_BYTCHK_SHIFT 1
#define READ6_LBA_MASK 0x1fffff

enum bytchk {
	BYTCHK_NONE = 0, /* check the range only */
	BYTCHK_ALL = 1,  /* compare nblocks of data-out with the medium */
	BYTCHK_ONE = 3,  /* compare one block of data-out with each LBA */
};

/* LBA and transfer length, wherever this CDB size keeps them. */
void scsi_decode_range(const uint8_t *cdb, struct scsi_lba_range *r)
{
	switch (scsi_cdb_length(cdb[0])) {
	case 6:
		r->lba = get_be24(cdb + 1) & READ6_LBA_MASK;
		r->nblocks = cdb[4] ? cdb[4] : 256; /* 0 means 256 here */
		r->len_field = 4;
		break;
	case 10:
		r->lba = get_be32(cdb + 2);
		r->nblocks = get_be16(cdb + 7);
		r->len_field = 7;
		break;
	case 12:
		r->lba = get_be32(cdb + 2);
		r->nblocks = get_be32(cdb + 6);
		r->len_field = 6;
		break;
	default: /* 16 */
		r->lba = get_be64(cdb + 2);
		r->nblocks = get_be32(cdb + 10);
		r->len_field = 10;
		break;
	}
}

/* LBA OUT OF RANGE unless [lba, lba+nblocks) lies within the LU; written
 * so that a huge LBA cannot wrap around. */
int scsi_check_range(struct scsi_cmd *cmd, const struct scsi_lba_range *r)
{
	uint64_t cap = cmd->lu->num_blocks;

	if (r->lba > cap || r->nblocks > cap - r->lba) {
		return scsi_cmd_fail(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	}
	return 0;
}

/* Range and size checks, then record the transfer in cmd. */
int scsi_set_transfer(struct scsi_cmd *cmd, const struct scsi_lba_range *r, enum scsi_dir dir)
{
	uint64_t bytes = (uint64_t)r->nblocks * cmd->lu->block_size;

	if (scsi_check_range(cmd, r)) {
		return 1;
	}
	if (bytes > SCSI_MAX_XFER_BYTES) {
		return scsi_cmd_bad_field(cmd, r->len_field, -1);
	}
	cmd->lba = r->lba;
	cmd->nblocks = r->nblocks;
	cmd->xfer_len = (uint32_t)bytes;
	cmd->dir = r->nblocks ? dir : SCSI_DIR_NONE;
	return 0;
}

static bool is_write(const struct scsi_cmd *cmd)
{
	return cmd->cdb[0] & 0x02; /* 0Ah, 2Ah, AAh, 8Ah; reads are 08h, 28h, A8h, 88h */
}

int scsi_rw_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	struct scsi_lba_range r;

	if (scsi_cdb_length(cdb[0]) != 6) {
		/* No protection information on our LUs (PROTECT=0). */
		if (cdb[1] >> RW_PROTECT_SHIFT) {
			return scsi_cmd_bad_field(cmd, 1, 7);
		}
		cmd->fua = cdb[1] & RW_FUA;
	}
	scsi_decode_range(cdb, &r);
	return scsi_set_transfer(cmd, &r, is_write(cmd) ? SCSI_DIR_WRITE : SCSI_DIR_READ);
}

/* The data buffer the caller gave is too small: a target bug. */
bool scsi_buffer_short(struct scsi_cmd *cmd)
{
	if (cmd->xfer_len == 0 || (cmd->data && cmd->data_cap >= cmd->xfer_len)) {
		return false;
	}
	scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	return true;
}

void scsi_cmd_set_store_error(struct scsi_cmd *cmd, int status, uint16_t asc)
{
	switch (status) {
	case -ETIMEDOUT:  /* a cluster store gave up waiting */
	case -ESHUTDOWN:  /* ... or was shut out of it (blocklisted) */
	case -ENOTCONN:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_NOT_READY, SCSI_ASC_LU_NOT_READY);
		break;
	default:
		scsi_cmd_set_sense(cmd, SCSI_SENSE_MEDIUM_ERROR, asc);
		break;
	}
}

static void rw_io_done(struct idm_backing_io *io, int status)
{
	struct scsi_cmd *cmd = io->arg;
	bool write = io->op == IDM_BACKING_WRITE;

	if (status < 0) {
		scsi_cmd_set_store_error(cmd, status,
		                         write ? SCSI_ASC_WRITE_ERROR : SCSI_ASC_READ_ERROR);
	} else if (!write) {
		cmd->data_len = cmd->xfer_len;
	}
	scsi_cmd_complete(cmd);
}

static void submit_io(struct scsi_cmd *cmd, enum idm_backing_op op, uint8_t *buf,
                      void (*done)(struct idm_backing_io *io, int status))
{
	struct idm_backing_io *io = &cmd->io;

	io->op = op;
	io->offset = cmd->lba * cmd->lu->block_size;
	io->len = (uint32_t)((uint64_t)cmd->nblocks * cmd->lu->block_size);
	io->buf = buf;
	/* WCE=0 (MODE SELECT): every write must be durable when it completes. */
	io->fua = op == IDM_BACKING_WRITE &&
	          (cmd->fua || !__atomic_load_n(&cmd->lu->write_cache, __ATOMIC_RELAXED));
	io->done = done;
	io->arg = cmd;
	idm_backing_submit(cmd->lu->store, io, cmd->reactor);
}

/*
 * A write that starts while a COMPARE AND WRITE or ORWRITE holds the
 * LU's lock waits for it to finish, so it cannot land between that
 * command's read and its write. rmw_active is almost always 0: the
 * normal path costs one load and takes no lock.
 */
void scsi_wait_for_rmw(struct scsi_lu *lu)
{
	if (__atomic_load_n(&lu->rmw_active, __ATOMIC_ACQUIRE) == 0) {
		return;
	}
	pthread_mutex_lock(&lu->rmw_lock);
	pthread_mutex_unlock(&lu->rmw_lock);
}

/* On the store's thread, behind the read-modify-write (its queue is in
 * order): the lock is free, or about to be. */
static void rmw_wait_work(struct idm_backing_io *io)
{
	scsi_wait_for_rmw(((struct scsi_cmd *)io->arg)->lu);
}

/* Back on the command's reactor: run it again. */
static void rmw_wait_done(struct idm_backing_io *io, int status)
{
	struct scsi_cmd *cmd = io->arg;

	(void)status;
	cmd->rmw_again(cmd);
}

/*
 * A store that runs COMPARE AND WRITE / ORWRITE on a thread of its own
 * (rbd, ops->offload) may hold the lock there across network round trips:
 * a write queues behind it on that thread instead of blocking its reactor
 * (and every connection on it). Other stores hold the lock only for a few
 * quick synchronous calls: wait for it here.
 */
bool scsi_rmw_defer(struct scsi_cmd *cmd, void (*again)(struct scsi_cmd *cmd))
{
	struct scsi_lu *lu = cmd->lu;
	struct idm_backing *store = lu->store;

	if (__atomic_load_n(&lu->rmw_active, __ATOMIC_ACQUIRE) == 0) {
		return false;
	}
	if (store->ops->offload == NULL) {
		scsi_wait_for_rmw(lu);
		return false;
	}
	cmd->rmw_again = again;
	cmd->io.arg = cmd;
	cmd->io.done = rmw_wait_done;
	store->ops->offload(store, &cmd->io, rmw_wait_work, cmd->reactor);
	return true;
}

void scsi_rw_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	uint8_t *direct;

	if (cmd->nblocks == 0 || scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (is_write(cmd) && scsi_rmw_defer(cmd, scsi_rw_exec)) {
		return;
	}
	/* Zero copy: the data already is the medium (mem store). Its memory
	 * is as durable as it gets, so FUA needs nothing either. */
	direct = idm_backing_map(lu->store, cmd->lba * lu->block_size, cmd->xfer_len);
	if (direct && direct == cmd->data) {
		cmd->data_len = is_write(cmd) ? 0 : cmd->xfer_len;
		scsi_cmd_complete(cmd);
		return;
	}
	submit_io(cmd, is_write(cmd) ? IDM_BACKING_WRITE : IDM_BACKING_READ, cmd->data, rw_io_done);
}

/* WRITE AND VERIFY 10/12/16: a WRITE whose data is then compared with
 * the medium. The medium holds what was just written, so the compare
 * cannot fail and the command runs as a WRITE. */
int scsi_write_verify_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	unsigned bytchk = (cdb[1] >> VERIFY_BYTCHK_SHIFT) & 0x03;
	struct scsi_lba_range r;

	if (cdb[1] >> RW_PROTECT_SHIFT) {
		return scsi_cmd_bad_field(cmd, 1, 7);
	}
	/* 00b and 01b only; 11b (one block for all) is not for this command. */
	if (bytchk > BYTCHK_ALL) {
		return scsi_cmd_bad_field(cmd, 1, 2);
	}
	scsi_decode_range(cdb, &r);
	return scsi_set_transfer(cmd, &r, SCSI_DIR_WRITE);
}

int scsi_verify_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	unsigned bytchk = (cdb[1] >> VERIFY_BYTCHK_SHIFT) & 0x03;
	struct scsi_lba_range r;

	if (cdb[1] >> RW_PROTECT_SHIFT) {
		return scsi_cmd_bad_field(cmd, 1, 7);
	}
	if (bytchk != BYTCHK_NONE && bytchk != BYTCHK_ALL && bytchk != BYTCHK_ONE) {
		return scsi_cmd_bad_field(cmd, 1, 2);
	}
	scsi_decode_range(cdb, &r);
	cmd->stage = (int)bytchk;
	if (bytchk == BYTCHK_NONE) {
		/* Nothing moves, so any length within the LU is fine. */
		cmd->lba = r.lba;
		cmd->nblocks = r.nblocks;
		return scsi_check_range(cmd, &r);
	}
	if (scsi_set_transfer(cmd, &r, SCSI_DIR_WRITE)) {
		return 1;
	}
	if (bytchk == BYTCHK_ONE && r.nblocks) {
		cmd->xfer_len = cmd->lu->block_size;
	}
	return 0;
}

/* Compare the data-out buffer with `medium` (nblocks long); on the first
 * difference, MISCOMPARE with its offset in the INFORMATION field. */
static void verify_compare(struct scsi_cmd *cmd, const uint8_t *medium)
{
	uint32_t bs = cmd->lu->block_size;
	uint32_t i, j;

	for (i = 0; i < cmd->nblocks; i++) {
		const uint8_t *want =
		    cmd->stage == BYTCHK_ONE ? cmd->data : cmd->data + (size_t)i * bs;
		const uint8_t *have = medium + (size_t)i * bs;

		if (memcmp(want, have, bs) == 0) {
			continue;
		}
		for (j = 0; want[j] == have[j]; j++) {
		}
		scsi_cmd_set_sense_info(cmd, SCSI_SENSE_MISCOMPARE,
		                        SCSI_ASC_MISCOMPARE_DURING_VERIFY,
		                        (cmd->stage == BYTCHK_ONE ? 0 : i * bs) + j);
		return;
	}
}

static void verify_io_done(struct idm_backing_io *io, int status)
{
	struct scsi_cmd *cmd = io->arg;

	if (status < 0) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_READ_ERROR);
	} else {
		verify_compare(cmd, io->buf);
	}
	free(io->buf);
	io->buf = NULL;
	scsi_cmd_complete(cmd);
}

void scsi_verify_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	uint32_t len = cmd->nblocks * lu->block_size;
	const uint8_t *medium;
	uint8_t *copy;

	if (cmd->stage == BYTCHK_NONE || cmd->nblocks == 0 || scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	medium = idm_backing_map(lu->store, cmd->lba * lu->block_size, len);
	if (medium) {
		verify_compare(cmd, medium);
		scsi_cmd_complete(cmd);
		return;
	}
	/* VERIFY with BYTCHK is rare and off the data path: a temporary
	 * buffer for the medium's copy is fine here. */
	copy = malloc(len);
	if (!copy) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_cmd_complete(cmd);
		return;
	}
	submit_io(cmd, IDM_BACKING_READ, copy, verify_io_done);
}

int scsi_sync_cache_setup(struct scsi_cmd *cmd)
{
	struct scsi_lba_range r;

	scsi_decode_range(cmd->cdb, &r);
	/* NUMBER OF LOGICAL BLOCKS 0 means "to the end of the medium". */
	return scsi_check_range(cmd, &r);
}

static void flush_done(struct idm_backing_io *io, int status)
{
	struct scsi_cmd *cmd = io->arg;

	if (status < 0) {
		scsi_cmd_set_store_error(cmd, status, SCSI_ASC_WRITE_ERROR);
	}
	scsi_cmd_complete(cmd);
}

void scsi_submit_flush(struct scsi_cmd *cmd)
{
	struct idm_backing_io *io = &cmd->io;

	io->op = IDM_BACKING_FLUSH;
	io->offset = 0;
	io->len = 0;
	io->buf = NULL;
	io->fua = false;
	io->done = flush_done;
	io->arg = cmd;
	idm_backing_submit(cmd->lu->store, io, cmd->reactor);
}

void scsi_sync_cache_exec(struct scsi_cmd *cmd)
{
	scsi_submit_flush(cmd);
}
