/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Read-modify-write commands: COMPARE AND WRITE (SBC-3 5.2) and
 * ORWRITE(16) (SBC-3 5.8). Each must be atomic against other writers of
 * the LU, which may run on other reactors, so each holds the LU's
 * rmw_lock from its read to its write and does its store I/O
 * synchronously inside it (a lock held across an asynchronous request
 * would deadlock the next such command on the same reactor). They move
 * at most a few hundred blocks, so the wait is short. On a store whose
 * synchronous calls wait on a network (rbd: ops->offload) that locked
 * part runs on the store's own thread, never on a reactor.
 *
 * READ and WRITE stay lock-free: a WRITE starting while rmw_active is
 * set waits for the lock once (scsi_rmw_defer in rw.c; on an offloading
 * store it queues behind the locked part on the store's thread instead,
 * so no reactor waits on a network). Not covered: WRITEs already in
 * flight in the store when the lock is taken.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define RMW_PROTECT_SHIFT 5
#define RMW_FUA 0x08
#define CAW_NBLOCKS 13

struct sync_io {
	struct idm_backing_io io;
	int status;
	bool done;
};

static void sync_done(struct idm_backing_io *io, int status)
{
	struct sync_io *s = (struct sync_io *)io;

	s->status = status;
	s->done = true;
}

int scsi_store_sync(struct scsi_lu *lu, enum idm_backing_op op, uint64_t lba, uint32_t nblocks,
                    uint8_t *buf)
{
	struct sync_io s = {
	    .io = {.op = op,
	           .offset = lba * lu->block_size,
	           .len = nblocks * lu->block_size,
	           .buf = buf,
	           .done = sync_done},
	};

	/* Without a reactor every store completes inside submit. */
	idm_backing_submit(lu->store, &s.io, NULL);
	return s.done ? s.status : -EIO;
}

static void rmw_lock(struct scsi_lu *lu)
{
	/* Set before locking: a WRITE that sees it waits for the lock. */
	__atomic_add_fetch(&lu->rmw_active, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&lu->rmw_lock);
}

static void rmw_unlock(struct scsi_lu *lu)
{
	pthread_mutex_unlock(&lu->rmw_lock);
	__atomic_sub_fetch(&lu->rmw_active, 1, __ATOMIC_RELEASE);
}

/* The medium under [cmd->lba, +nblocks): the store's memory, or a copy
 * read into *copy (which the caller frees). NULL with sense set. */
static uint8_t *rmw_read(struct scsi_cmd *cmd, uint8_t **copy)
{
	struct scsi_lu *lu = cmd->lu;
	uint32_t len = cmd->nblocks * lu->block_size;
	uint8_t *medium = idm_backing_map(lu->store, cmd->lba * lu->block_size, len);
	int rc;

	*copy = NULL;
	if (medium) {
		return medium;
	}
	*copy = malloc(len);
	if (!*copy) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_HARDWARE_ERROR,
		                   SCSI_ASC_INTERNAL_TARGET_FAILURE);
		return NULL;
	}
	rc = scsi_store_sync(lu, IDM_BACKING_READ, cmd->lba, cmd->nblocks, *copy);
	if (rc != 0) {
		scsi_cmd_set_store_error(cmd, rc, SCSI_ASC_READ_ERROR);
		return NULL;
	}
	return *copy;
}

/* Write `buf` over the range unless it is the store's memory already. */
static void rmw_write(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy, uint8_t *buf)
{
	struct scsi_lu *lu = cmd->lu;
	uint32_t len = cmd->nblocks * lu->block_size;
	int rc;

	if (!copy) {
		if (buf != medium) {
			memcpy(medium, buf, len);
		}
		return;
	}
	rc = scsi_store_sync(lu, IDM_BACKING_WRITE, cmd->lba, cmd->nblocks, buf);
	if (rc == 0 && cmd->fua) {
		rc = scsi_store_sync(lu, IDM_BACKING_FLUSH, 0, 0, NULL);
	}
	if (rc != 0) {
		scsi_cmd_set_store_error(cmd, rc, SCSI_ASC_WRITE_ERROR);
	}
}

int scsi_caw_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	/* An 8-bit count: never above SCSI_MAX_CAW_BLOCKS (255). */
	struct scsi_lba_range r = {.lba = get_be64(cdb + 2), .nblocks = cdb[CAW_NBLOCKS]};

	if (cdb[1] >> RMW_PROTECT_SHIFT) {
		return scsi_cmd_bad_field(cmd, 1, 7);
	}
	/* More than the Block Limits page announces (SBC-3 5.2). */
	if (r.nblocks > scsi_max_caw(cmd->lu)) {
		return scsi_cmd_bad_field(cmd, CAW_NBLOCKS, -1);
	}
	if (scsi_check_range(cmd, &r)) {
		return 1;
	}
	cmd->lba = r.lba;
	cmd->nblocks = r.nblocks;
	cmd->fua = cdb[1] & RMW_FUA;
	/* Data-out: the blocks to compare, then the blocks to write. */
	cmd->xfer_len = 2 * r.nblocks * cmd->lu->block_size;
	cmd->dir = r.nblocks ? SCSI_DIR_WRITE : SCSI_DIR_NONE;
	if (cmd->edtl && cmd->edtl != cmd->xfer_len) {
		return scsi_cmd_bad_field(cmd, CAW_NBLOCKS, -1);
	}
	return 0;
}

/* Offset of the first differing byte, or -1 when equal. */
static long first_difference(const uint8_t *a, const uint8_t *b, uint32_t len)
{
	uint32_t i;

	if (memcmp(a, b, len) == 0) {
		return -1;
	}
	for (i = 0; a[i] == b[i]; i++) {
	}
	return (long)i;
}

/* The common frame of COMPARE AND WRITE and ORWRITE: under the LU's
 * read-modify-write lock, read the medium and let `apply` compare or
 * merge and write it back. */
static void rmw_locked(struct scsi_cmd *cmd,
                       void (*apply)(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy))
{
	struct scsi_lu *lu = cmd->lu;
	uint8_t *medium, *copy;

	rmw_lock(lu);
	medium = rmw_read(cmd, &copy);
	if (medium) {
		apply(cmd, medium, copy);
	}
	rmw_unlock(lu);
	free(copy);
}

static void caw_apply(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy);
static void orwrite_apply(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy);

/* On the store's thread: the locked part of the command. */
static void rmw_work(struct idm_backing_io *io)
{
	struct scsi_cmd *cmd = io->arg;

	rmw_locked(cmd, cmd->cdb[0] == SCSI_OP_ORWRITE16 ? orwrite_apply : caw_apply);
}

/* Back on the command's reactor. */
static void rmw_offload_done(struct idm_backing_io *io, int status)
{
	scsi_cmd_complete(io->arg);
}

static void rmw_exec(struct scsi_cmd *cmd,
                     void (*apply)(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy))
{
	struct idm_backing *store = cmd->lu->store;

	if (cmd->nblocks == 0 || scsi_buffer_short(cmd)) {
		scsi_cmd_complete(cmd);
		return;
	}
	if (store->ops->offload) {
		cmd->io.arg = cmd;
		cmd->io.done = rmw_offload_done;
		store->ops->offload(store, &cmd->io, rmw_work, cmd->reactor);
		return;
	}
	rmw_locked(cmd, apply);
	scsi_cmd_complete(cmd);
}

/* COMPARE AND WRITE: a miscompare reports its offset, a match writes
 * the second half of the data buffer. */
static void caw_apply(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy)
{
	uint32_t len = cmd->nblocks * cmd->lu->block_size;
	long diff = first_difference(cmd->data, medium, len);

	if (diff >= 0) {
		scsi_cmd_set_sense_info(cmd, SCSI_SENSE_MISCOMPARE,
		                        SCSI_ASC_MISCOMPARE_DURING_VERIFY, (uint32_t)diff);
	} else {
		rmw_write(cmd, medium, copy, cmd->data + len);
	}
}

/* The store's own COMPARE AND WRITE finished (or cannot take this
 * range: then the locked emulation runs). */
static void caw_native_done(struct idm_backing_io *io, int status)
{
	struct scsi_cmd *cmd = io->arg;

	if (status == -EOPNOTSUPP) {
		rmw_exec(cmd, caw_apply);
		return;
	}
	if (status == -EILSEQ) {
		scsi_cmd_set_sense_info(cmd, SCSI_SENSE_MISCOMPARE,
		                        SCSI_ASC_MISCOMPARE_DURING_VERIFY, io->moved);
	} else if (status < 0) {
		scsi_cmd_set_store_error(cmd, status, SCSI_ASC_WRITE_ERROR);
	} else if (cmd->fua) {
		scsi_submit_flush(cmd); /* completes the command */
		return;
	}
	scsi_cmd_complete(cmd);
}

/*
 * A store that compares and writes atomically itself (rbd, where the
 * cluster makes it atomic across gateways too) gets one asynchronous
 * request and no lock; the others are emulated under the LU's lock.
 */
void scsi_caw_exec(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	struct idm_backing_io *io = &cmd->io;

	if (cmd->nblocks == 0 || scsi_buffer_short(cmd) ||
	    !idm_backing_has_op(lu->store, IDM_BACKING_COMPARE_AND_WRITE)) {
		rmw_exec(cmd, caw_apply);
		return;
	}
	if (scsi_rmw_defer(cmd, scsi_caw_exec)) {
		return;
	}
	io->op = IDM_BACKING_COMPARE_AND_WRITE;
	io->offset = cmd->lba * lu->block_size;
	io->len = cmd->nblocks * lu->block_size;
	io->buf = cmd->data;
	io->fua = false;
	io->done = caw_native_done;
	io->arg = cmd;
	idm_backing_submit(lu->store, io, cmd->reactor);
}

int scsi_orwrite_setup(struct scsi_cmd *cmd)
{
	struct scsi_lba_range r;

	/* ORPROTECT: no protection information here. */
	if (cmd->cdb[1] >> RMW_PROTECT_SHIFT) {
		return scsi_cmd_bad_field(cmd, 1, 7);
	}
	cmd->fua = cmd->cdb[1] & RMW_FUA;
	scsi_decode_range(cmd->cdb, &r);
	return scsi_set_transfer(cmd, &r, SCSI_DIR_WRITE);
}

/* ORWRITE: medium |= data. The OR goes into the data buffer, which is
 * then written (or straight into the store's memory). */
static void orwrite_apply(struct scsi_cmd *cmd, uint8_t *medium, uint8_t *copy)
{
	uint32_t len = cmd->nblocks * cmd->lu->block_size;
	uint32_t i;

	for (i = 0; i < len; i++) {
		cmd->data[i] |= medium[i];
	}
	rmw_write(cmd, medium, copy, cmd->data);
}

void scsi_orwrite_exec(struct scsi_cmd *cmd)
{
	rmw_exec(cmd, orwrite_apply);
}
