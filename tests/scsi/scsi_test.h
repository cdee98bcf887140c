/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the SCSI unit tests: a fake backing store over a malloc'ed
 * buffer (with or without map, completing synchronously or on demand)
 * and a one-LU environment that runs a CDB through setup and exec.
 */
#ifndef IDM_SCSI_TEST_H
#define IDM_SCSI_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the headers above */

#include "idm/scsi.h"

struct fake_store {
	struct idm_backing b;
	uint8_t *mem;   /* NULL for huge stores that only answer capacity */
	bool deferred;  /* keep submitted I/O pending until fake_complete() */
	int fail;       /* -errno to fail every I/O with, or 0 */
	int fail_write; /* -errno to fail WRITEs with, or 0 */
	struct idm_backing_io *pending;
	unsigned reads, writes, flushes, fua_writes, zeroes, unmaps;
	/* Native ops (b.native_ops set by the test): WRITE SAME and
	 * COMPARE AND WRITE done by the store itself, counted here;
	 * caw_refuse makes COMPARE AND WRITE answer -EOPNOTSUPP. */
	unsigned write_sames, caws;
	bool caw_refuse;
	bool *closed; /* set when the LU closes the store */
};

struct t_env {
	struct fake_store *fs;
	struct scsi_lu *lu;
	struct scsi_lu_set set;
	uint32_t ua_seen[SCSI_MAX_LUNS];
	struct scsi_cmd cmd;
	uint8_t cdb[16];
	uint8_t *buf;
	uint32_t buf_cap;
	unsigned done_calls;
	int setup_rc;
	bool store_closed;
	uint32_t edtl; /* copied into each command (0: not checked) */
	struct scsi_lun_map *map; /* copied into each command (NULL: all) */
};

#define T_BUF_CAP (1u << 20)

struct fake_store *fake_store_new(uint32_t block_size, uint64_t size, bool mappable);
/* Complete the deferred I/O. */
void fake_complete(struct fake_store *fs);

/* An environment with LUN 0 over a fake store of `blocks` blocks. */
struct t_env *t_env_new(uint32_t block_size, uint64_t blocks, bool mappable);
/* The same over a store of the caller's (e->fs stays NULL). */
struct t_env *t_env_new_on(struct idm_backing *store);
void t_env_free(struct t_env *e);

/* cmocka fixtures for the common case: LUN 0 over 1000 blocks of 512
 * bytes, with or without map; the teardown frees any t_env state. */
#define T_ENV_BS 512
#define T_ENV_BLOCKS 1000
int t_env_setup_map(void **state);
int t_env_setup_nomap(void **state);
int t_env_teardown(void **state);

/* Set up and (when setup succeeds) execute `cdb` on LUN `lun`, with
 * e->buf (or `data`, when not NULL) as the buffer. Returns setup's rc. */
int t_run_lun(struct t_env *e, uint64_t lun, const uint8_t *cdb, unsigned len);
int t_run(struct t_env *e, const uint8_t *cdb, unsigned len);
int t_run_data(struct t_env *e, const uint8_t *cdb, unsigned len, uint8_t *data, uint32_t cap);
/* Run the 16 bytes at `cdb` on LUN 0 as I_T nexus `n` (NULL: none) that
 * has seen the LU-wide unit attentions in `ua_seen` (NULL: reports
 * none), with `len` bytes of `data` (when not NULL) copied to e->buf,
 * the command's buffer, first. Returns the status. */
uint8_t t_run_nexus(struct t_env *e, const struct scsi_nexus *n, uint32_t *ua_seen,
                    const uint8_t *cdb, const uint8_t *data, uint32_t len);

/* Check status CHECK CONDITION with this key and ASC/ASCQ. */
void t_expect_sense(struct t_env *e, uint8_t key, uint16_t asc);
/* Check INVALID FIELD IN CDB pointing at byte / bit (bit < 0: none). */
void t_expect_field(struct t_env *e, uint16_t byte, int bit);
void t_expect_good(struct t_env *e);
/* Check ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST at byte. */
void t_expect_param(struct t_env *e, uint16_t byte);

/* CDB builders: opcode, byte 1, LBA and length where each size has them. */
void t_cdb10(uint8_t *cdb, uint8_t op, uint8_t b1, uint32_t lba, uint16_t len);
void t_cdb12(uint8_t *cdb, uint8_t op, uint8_t b1, uint32_t lba, uint32_t len);
void t_cdb16(uint8_t *cdb, uint8_t op, uint8_t b1, uint64_t lba, uint32_t len);

#endif
