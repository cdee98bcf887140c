/* SPDX-License-Identifier: BSD-3-Clause */
/* Fake store and test environment for the SCSI unit tests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

/* The native ops, over the fake's memory: 0 or -errno. */
static int fake_native(struct fake_store *fs, struct idm_backing_io *io)
{
	uint32_t bs = fs->b.block_size, i;

	if (!fs->mem || io->offset + io->len > fs->b.size) {
		return -EIO;
	}
	if (io->op == IDM_BACKING_WRITE_SAME) {
		for (i = 0; i < io->len; i += bs) {
			memcpy(fs->mem + io->offset + i, io->buf, bs);
		}
		return 0;
	}
	if (fs->caw_refuse) {
		return -EOPNOTSUPP;
	}
	for (i = 0; i < io->len; i++) {
		if (fs->mem[io->offset + i] != io->buf[i]) {
			io->moved = i;
			return -EILSEQ;
		}
	}
	memcpy(fs->mem + io->offset, io->buf + io->len, io->len);
	return 0;
}

static void fake_finish(struct fake_store *fs, struct idm_backing_io *io)
{
	if (io->op == IDM_BACKING_WRITE_SAME || io->op == IDM_BACKING_COMPARE_AND_WRITE) {
		io->done(io, fs->fail ? fs->fail : fake_native(fs, io));
		return;
	}

	int status = fs->fail ? fs->fail : io->op == IDM_BACKING_WRITE ? fs->fail_write : 0;

	bool zeroing = io->op == IDM_BACKING_WRITE_ZEROES || io->op == IDM_BACKING_UNMAP;

	/* Huge stores have no memory: zeroing there only counts requests. */
	if (!status && zeroing && !fs->mem && io->offset + io->len <= fs->b.size) {
		io->done(io, 0);
		return;
	}
	if (!status && io->op != IDM_BACKING_FLUSH) {
		if (!fs->mem || io->offset + io->len > fs->b.size) {
			status = -EIO;
		} else if (io->op == IDM_BACKING_READ) {
			memcpy(io->buf, fs->mem + io->offset, io->len);
		} else if (io->op == IDM_BACKING_WRITE) {
			memcpy(fs->mem + io->offset, io->buf, io->len);
		} else {
			memset(fs->mem + io->offset, 0, io->len);
		}
	}
	io->done(io, status);
}

static void fake_submit(struct idm_backing *b, struct idm_backing_io *io, struct idm_reactor *r)
{
	struct fake_store *fs = (struct fake_store *)b;

	assert_ptr_equal(io->store, b);
	switch (io->op) {
	case IDM_BACKING_READ:
		fs->reads++;
		break;
	case IDM_BACKING_WRITE:
		fs->writes++;
		fs->fua_writes += io->fua;
		break;
	case IDM_BACKING_FLUSH:
		fs->flushes++;
		break;
	case IDM_BACKING_WRITE_ZEROES:
		fs->zeroes++;
		break;
	case IDM_BACKING_UNMAP:
		fs->unmaps++;
		break;
	case IDM_BACKING_WRITE_SAME:
		assert_true(idm_backing_has_op(b, io->op));
		fs->write_sames++;
		break;
	case IDM_BACKING_COMPARE_AND_WRITE:
		assert_true(idm_backing_has_op(b, io->op));
		fs->caws++;
		break;
	}
	if (fs->deferred) {
		assert_null(fs->pending);
		fs->pending = io;
		return;
	}
	fake_finish(fs, io);
}

void fake_complete(struct fake_store *fs)
{
	struct idm_backing_io *io = fs->pending;

	assert_non_null(io);
	fs->pending = NULL;
	fake_finish(fs, io);
}

static uint8_t *fake_map(struct idm_backing *b, uint64_t off, uint32_t len)
{
	struct fake_store *fs = (struct fake_store *)b;

	if (!fs->mem || off + len > b->size) {
		return NULL;
	}
	return fs->mem + off;
}

static void fake_close(struct idm_backing *b)
{
	struct fake_store *fs = (struct fake_store *)b;

	if (fs->closed) {
		*fs->closed = true;
	}
	free(fs->mem);
	free(fs);
}

/* A thin model: a 512-byte granule of zeros counts as deallocated. */
static bool granule_zero(const uint8_t *p)
{
	return p[0] == 0 && memcmp(p, p + 1, 511) == 0;
}

static int fake_lba_status(struct idm_backing *b, uint64_t off, bool *mapped, uint64_t *run)
{
	struct fake_store *fs = (struct fake_store *)b;
	uint64_t end = off;

	if (!fs->mem) {
		*mapped = true;
		*run = b->size - off;
		return 0;
	}
	*mapped = !granule_zero(fs->mem + off);
	while (end < b->size && !granule_zero(fs->mem + end) == *mapped) {
		end += 512;
	}
	*run = end - off;
	return 0;
}

static const struct idm_backing_ops fake_ops_map = {.kind = "fake-mem",
                                                    .submit = fake_submit,
                                                    .map = fake_map,
                                                    .close = fake_close,
                                                    .lba_status = fake_lba_status};
static const struct idm_backing_ops fake_ops_nomap = {
    .kind = "fake-file", .submit = fake_submit, .close = fake_close, .lba_status = fake_lba_status};

struct fake_store *fake_store_new(uint32_t block_size, uint64_t size, bool mappable)
{
	struct fake_store *fs = calloc(1, sizeof(*fs));
	size_t i;

	assert_non_null(fs);
	fs->b.ops = mappable ? &fake_ops_map : &fake_ops_nomap;
	fs->b.size = size;
	fs->b.block_size = block_size;
	if (size <= (64u << 20)) {
		fs->mem = malloc(size);
		assert_non_null(fs->mem);
		for (i = 0; i < size; i++) {
			fs->mem[i] = (uint8_t)(i * 7 + i / 512);
		}
	}
	return fs;
}

static void t_done(struct scsi_cmd *cmd)
{
	struct t_env *e = cmd->priv;

	e->done_calls++;
}

struct t_env *t_env_new_on(struct idm_backing *store)
{
	struct t_env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(scsi_lu_create(0, store, "iqn.2026-11.org.idm:disk1", &e->lu), 0);
	e->set.lu[0] = e->lu;
	e->set.count = 1;
	e->buf_cap = T_BUF_CAP;
	e->buf = calloc(1, e->buf_cap);
	assert_non_null(e->buf);
	return e;
}

struct t_env *t_env_new(uint32_t block_size, uint64_t blocks, bool mappable)
{
	struct fake_store *fs = fake_store_new(block_size, blocks * block_size, mappable);
	struct t_env *e = t_env_new_on(&fs->b);

	e->fs = fs;
	fs->closed = &e->store_closed;
	return e;
}

void t_env_free(struct t_env *e)
{
	unsigned i;

	for (i = 0; i < SCSI_MAX_LUNS; i++) {
		scsi_lu_free(e->set.lu[i]);
	}
	free(e->buf);
	free(e);
}

static int run_as(struct t_env *e, const struct scsi_nexus *n, uint32_t *ua_seen, uint64_t lun,
                  const uint8_t *cdb, unsigned len, uint8_t *data, uint32_t cap)
{
	struct scsi_cmd *cmd = &e->cmd;

	memset(cmd, 0, sizeof(*cmd));
	memset(e->cdb, 0, sizeof(e->cdb));
	memcpy(e->cdb, cdb, len);
	cmd->luns = &e->set;
	cmd->lun = lun;
	cmd->cdb = e->cdb;
	cmd->cdb_len = 16;
	cmd->nexus = n;
	cmd->ua_seen = ua_seen;
	cmd->edtl = e->edtl;
	cmd->map = e->map;
	cmd->done = t_done;
	cmd->priv = e;
	e->done_calls = 0;
	e->setup_rc = scsi_cmd_setup(cmd);
	if (e->setup_rc) {
		assert_int_equal(e->setup_rc, 1);
		assert_int_not_equal(cmd->status, SCSI_STATUS_GOOD);
		return 1;
	}
	cmd->data = data;
	cmd->data_cap = cap;
	scsi_cmd_exec(cmd);
	if (!e->fs->deferred) {
		assert_int_equal(e->done_calls, 1);
	}
	return 0;
}

static int run(struct t_env *e, uint64_t lun, const uint8_t *cdb, unsigned len, uint8_t *data,
               uint32_t cap)
{
	return run_as(e, NULL, e->ua_seen, lun, cdb, len, data, cap);
}

uint8_t t_run_nexus(struct t_env *e, const struct scsi_nexus *n, uint32_t *ua_seen,
                    const uint8_t *cdb, const uint8_t *data, uint32_t len)
{
	if (data) {
		assert_true(len <= e->buf_cap);
		memcpy(e->buf, data, len);
	}
	run_as(e, n, ua_seen, 0, cdb, 16, e->buf, e->buf_cap);
	return e->cmd.status;
}

int t_run_lun(struct t_env *e, uint64_t lun, const uint8_t *cdb, unsigned len)
{
	return run(e, lun, cdb, len, e->buf, e->buf_cap);
}

int t_run(struct t_env *e, const uint8_t *cdb, unsigned len)
{
	return run(e, 0, cdb, len, e->buf, e->buf_cap);
}

int t_run_data(struct t_env *e, const uint8_t *cdb, unsigned len, uint8_t *data, uint32_t cap)
{
	return run(e, 0, cdb, len, data, cap);
}

void t_expect_sense(struct t_env *e, uint8_t key, uint16_t asc)
{
	const struct scsi_cmd *cmd = &e->cmd;

	assert_int_equal(cmd->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd->sense_len, 18);
	assert_int_equal(cmd->sense[0] & 0x7f, 0x70);
	assert_int_equal(cmd->sense[2] & 0x0f, key);
	assert_int_equal(cmd->sense[7], 10);
	assert_int_equal(get_be16(&cmd->sense[12]), asc);
}

void t_expect_field(struct t_env *e, uint16_t byte, int bit)
{
	const uint8_t *s = e->cmd.sense;

	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_true(s[15] & 0x80); /* SKSV */
	assert_true(s[15] & 0x40); /* C/D: in the CDB */
	if (bit >= 0) {
		assert_int_equal(s[15] & 0x0f, 0x08 | bit);
	} else {
		assert_int_equal(s[15] & 0x08, 0);
	}
	assert_int_equal(get_be16(&s[16]), byte);
}

void t_expect_good(struct t_env *e)
{
	assert_int_equal(e->setup_rc, 0);
	assert_int_equal(e->cmd.status, SCSI_STATUS_GOOD);
	assert_int_equal(e->cmd.sense_len, 0);
}

void t_expect_param(struct t_env *e, uint16_t byte)
{
	const uint8_t *s = e->cmd.sense;

	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	assert_true(s[15] & 0x80);         /* SKSV */
	assert_int_equal(s[15] & 0x40, 0); /* C/D: in the parameter list */
	assert_int_equal(get_be16(&s[16]), byte);
}

void t_cdb10(uint8_t *cdb, uint8_t op, uint8_t b1, uint32_t lba, uint16_t len)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	cdb[1] = b1;
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, len);
}

void t_cdb12(uint8_t *cdb, uint8_t op, uint8_t b1, uint32_t lba, uint32_t len)
{
	memset(cdb, 0, 12);
	cdb[0] = op;
	cdb[1] = b1;
	put_be32(cdb + 2, lba);
	put_be32(cdb + 6, len);
}

void t_cdb16(uint8_t *cdb, uint8_t op, uint8_t b1, uint64_t lba, uint32_t len)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	cdb[1] = b1;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, len);
}

int t_env_setup_map(void **state)
{
	*state = t_env_new(T_ENV_BS, T_ENV_BLOCKS, true);
	return 0;
}

int t_env_setup_nomap(void **state)
{
	*state = t_env_new(T_ENV_BS, T_ENV_BLOCKS, false);
	return 0;
}

int t_env_teardown(void **state)
{
	t_env_free(*state);
	return 0;
}
