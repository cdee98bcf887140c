/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCSI emulation (src/scsi): CDBs with their data-out buffers executed on
 * two mem: LUs (so EXTENDED COPY has a second LU to name), from three
 * I_T nexuses (persistent reservations, unit attentions), through the
 * environment of the SCSI unit tests (tests/scsi/scsi_test.c).
 *
 * Input: records, each
 *   1 byte:   bits 0-1 the nexus (3: none), bit 2 LUN 1 instead of 0,
 *             bit 3 EDTL = the data length given (else 0: not checked)
 *   16 bytes: the CDB
 *   2 bytes:  the data length (big endian), then that many bytes of data.
 * The buffer a command gets holds exactly what setup asked for (xfer_len,
 * the data at its start, zeros after), as the target gives it, so ASan
 * sees any access past it. Setup and exec must finish each command with
 * one completion and a sense length that fits; no command may make the
 * target allocate more than the largest READ or WRITE.
 */
#include <errno.h>

#include "../scsi/scsi_test.h"
#include "fuzz.h"
#include "idm/backing.h"

#define LU_SPEC "mem:1M"
#define XFER_MAX (16u << 20) /* SCSI_MAX_XFER_BYTES: what the target may have to allocate */
#define BUF_MAX (2u << 20)   /* larger (out of range for these LUs): not run here */
#define NEXUSES 3

struct run {
	struct t_env *e;
	struct scsi_nexus nexus[NEXUSES];
	uint32_t ua_seen[NEXUSES + 1][SCSI_MAX_LUNS];
	unsigned done;
};

static void on_done(struct scsi_cmd *cmd)
{
	struct run *r = cmd->priv;

	r->done++;
}

static void on_abort_nexus(void *ctx, struct scsi_cmd *by, struct scsi_lu *lu, const char *initiator_port)
{
	(void)ctx;
	FUZZ_CHECK(lu != NULL && initiator_port != NULL);
}

static struct scsi_lu *lu_open(uint64_t lun, uint32_t block_size)
{
	struct idm_backing *store;
	struct scsi_lu *lu;
	char why[200];

	FUZZ_CHECK(idm_backing_open(LU_SPEC, block_size, &store, why, sizeof(why)) == 0);
	FUZZ_CHECK(scsi_lu_create(lun, store, "iqn.2026-11.org.idm:disk1", &lu) == 0);
	return lu;
}

/* The environment stays (its buffer is large); the LUs are new each run. */
static void env_open(struct run *r)
{
	static const uint8_t isid[6] = {0x80, 0, 0, 0, 0, 1};

	if (!r->e) {
		struct idm_backing *store;
		char why[200];

		FUZZ_CHECK(idm_backing_open(LU_SPEC, 512, &store, why, sizeof(why)) == 0);
		r->e = t_env_new_on(store);
		r->e->set.abort_nexus = on_abort_nexus;
		for (unsigned i = 0; i < NEXUSES; i++) {
			char name[64];

			snprintf(name, sizeof(name), "iqn.2026-11.org.idm:ini%u", i % 2);
			scsi_nexus_init(&r->nexus[i], name, isid, "iqn.2026-11.org.idm:disk1",
			                (uint16_t)(1 + i / 2), i + 1);
		}
	} else {
		r->e->lu = r->e->set.lu[0] = lu_open(0, 512);
	}
	r->e->set.lu[1] = lu_open(1, 4096);
	r->e->set.count = 2;
	memset(r->ua_seen, 0, sizeof(r->ua_seen));
}

static void env_close(struct run *r)
{
	for (unsigned i = 0; i < 2; i++) {
		scsi_lu_free(r->e->set.lu[i]);
		r->e->set.lu[i] = NULL;
	}
	r->e->lu = NULL;
}

static void run_one(struct run *r, uint8_t flags, const uint8_t *cdb, const uint8_t *data,
                    size_t dlen)
{
	struct t_env *e = r->e;
	struct scsi_cmd *cmd = &e->cmd;
	unsigned who = flags & 3;
	uint8_t *buf;

	memset(cmd, 0, sizeof(*cmd));
	memcpy(e->cdb, cdb, 16);
	cmd->luns = &e->set;
	cmd->lun = (flags & 4) ? 1 : 0;
	cmd->cdb = e->cdb;
	cmd->cdb_len = 16;
	cmd->edtl = (flags & 8) ? (uint32_t)dlen : 0;
	cmd->ua_seen = r->ua_seen[who];
	cmd->nexus = who < NEXUSES ? &r->nexus[who] : NULL;
	cmd->done = on_done;
	cmd->priv = r;
	r->done = 0;
	if (scsi_cmd_setup(cmd) != 0) {
		FUZZ_CHECK(cmd->status != SCSI_STATUS_GOOD);
		FUZZ_CHECK(cmd->sense_len <= SCSI_SENSE_MAX);
		return;
	}
	FUZZ_CHECK(cmd->xfer_len <= XFER_MAX);
	if (cmd->xfer_len > BUF_MAX) {
		return;
	}
	buf = calloc(1, cmd->xfer_len ? cmd->xfer_len : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, dlen < cmd->xfer_len ? dlen : cmd->xfer_len);
	cmd->data = buf;
	cmd->data_cap = cmd->xfer_len;
	scsi_cmd_exec(cmd);
	FUZZ_CHECK(r->done == 1);
	FUZZ_CHECK(cmd->sense_len <= SCSI_SENSE_MAX);
	FUZZ_CHECK(cmd->dir != SCSI_DIR_READ || cmd->data_len <= cmd->xfer_len);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run run;
	struct run *r = &run;
	struct fuzz_in in = {data, size};

	env_open(r);
	while (in.n > 0) {
		uint8_t flags = fuzz_u8(&in), cdb[16] = {0};
		size_t got, dlen;
		const uint8_t *p = fuzz_take(&in, 16, &got), *d;

		memcpy(cdb, p, got);
		dlen = (size_t)fuzz_u8(&in) << 8;
		dlen |= fuzz_u8(&in);
		d = fuzz_take(&in, dlen, &dlen);
		run_one(r, flags, cdb, d, dlen);
	}
	env_close(r);
	return 0;
}
