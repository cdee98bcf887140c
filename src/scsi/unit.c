/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Commands about the unit rather than its data: TEST UNIT READY, START
 * STOP UNIT, READ CAPACITY 10/16, REQUEST SENSE and REPORT LUNS.
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define SSU_START 0x01
#define SSU_LOEJ 0x02
#define SSU_NO_FLUSH 0x04
#define REQ_SENSE_DESC 0x01
#define RC10_LEN 8
#define RC10_PMI 0x01
#define RC16_LEN 32
#define RC16_LBPME 0x80
#define RC16_LBPRZ 0x40
#define REPORT_LUNS_HDR 8
#define REPORT_LUNS_BUF_LEN (REPORT_LUNS_HDR + 8 * SCSI_MAX_LUNS)

int scsi_no_data_setup(struct scsi_cmd *cmd)
{
	return 0;
}

void scsi_good_exec(struct scsi_cmd *cmd)
{
	scsi_cmd_complete(cmd);
}

int scsi_start_stop_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;

	/* A power condition other than START_VALID changes nothing here:
	 * we have no power states, and START/LOEJ are then ignored. */
	if (cdb[4] >> 4) {
		cmd->stage = 0;
		return 0;
	}
	/* The medium is not removable (RMB=0): nothing to load or eject. */
	if (cdb[4] & SSU_LOEJ) {
		return scsi_cmd_bad_field(cmd, 4, 1);
	}
	cmd->stage = 1;
	return 0;
}

void scsi_start_stop_exec(struct scsi_cmd *cmd)
{
	uint8_t b4 = cmd->cdb[4];
	bool stop;

	if (cmd->stage == 0) {
		scsi_cmd_complete(cmd);
		return;
	}
	stop = !(b4 & SSU_START);
	/* Other reactors read it for their commands to this LU. */
	__atomic_store_n(&cmd->lu->stopped, stop, __ATOMIC_RELAXED);
	/* Stopping writes the cache back first unless NO_FLUSH says not to. */
	if (stop && !(b4 & SSU_NO_FLUSH)) {
		scsi_submit_flush(cmd);
		return;
	}
	scsi_cmd_complete(cmd);
}

int scsi_read_capacity10_setup(struct scsi_cmd *cmd)
{
	/* An LBA only means something with PMI set (SBC-3 5.15.1). */
	if (!(cmd->cdb[8] & RC10_PMI) && get_be32(cmd->cdb + 2) != 0) {
		return scsi_cmd_bad_field(cmd, 2, -1);
	}
	return scsi_cmd_data_in(cmd, RC10_LEN, RC10_LEN);
}

void scsi_read_capacity10_exec(struct scsi_cmd *cmd)
{
	uint64_t last = cmd->lu->num_blocks - 1;
	uint8_t buf[RC10_LEN];

	if (scsi_lu_offline(cmd)) { /* no capacity to tell yet */
		scsi_cmd_complete(cmd);
		return;
	}

	/* FFFFFFFFh tells the initiator to use READ CAPACITY(16). */
	put_be32(buf, last >= 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	put_be32(buf + 4, cmd->lu->block_size);
	scsi_cmd_put_data(cmd, buf, RC10_LEN);
	scsi_cmd_complete(cmd);
}

int scsi_service_action_in_setup(struct scsi_cmd *cmd)
{
	if ((cmd->cdb[1] & 0x1f) != SCSI_SA_READ_CAPACITY16) {
		return scsi_cmd_bad_field(cmd, 1, 4);
	}
	return scsi_cmd_data_in(cmd, get_be32(cmd->cdb + 10), RC16_LEN);
}

void scsi_read_capacity16_exec(struct scsi_cmd *cmd)
{
	uint8_t buf[RC16_LEN];

	if (scsi_lu_offline(cmd)) { /* no capacity to tell yet */
		scsi_cmd_complete(cmd);
		return;
	}

	memset(buf, 0, sizeof(buf));
	put_be64(buf, cmd->lu->num_blocks - 1);
	put_be32(buf + 8, cmd->lu->block_size);
	/* Thin provisioned (LBPME): every store can UNMAP, and unmapped
	 * blocks read as zeros (LBPRZ). No protection, one logical block
	 * per physical block, lowest aligned LBA 0. */
	buf[14] = RC16_LBPME | RC16_LBPRZ;
	scsi_cmd_put_data(cmd, buf, RC16_LEN);
	scsi_cmd_complete(cmd);
}

int scsi_request_sense_setup(struct scsi_cmd *cmd)
{
	/* Only fixed-format sense data. */
	if (cmd->cdb[1] & REQ_SENSE_DESC) {
		return scsi_cmd_bad_field(cmd, 1, 0);
	}
	return scsi_cmd_data_in(cmd, cmd->cdb[4], SCSI_SENSE_MAX);
}

/*
 * The sense data is the parameter data and the status is GOOD: a
 * pending unit attention (which this reports and clears), LOGICAL UNIT
 * NOT SUPPORTED, a stopped unit, or NO SENSE.
 */
void scsi_request_sense_exec(struct scsi_cmd *cmd)
{
	uint8_t buf[SCSI_SENSE_MAX];
	uint8_t len;
	uint16_t ua = scsi_cmd_take_ua(cmd);

	if (ua) {
		scsi_sense_fixed(buf, &len, SCSI_SENSE_UNIT_ATTENTION, ua);
	} else if (!cmd->lu) {
		scsi_sense_fixed(buf, &len, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LU_NOT_SUPPORTED);
	} else if (__atomic_load_n(&cmd->lu->stopped, __ATOMIC_RELAXED)) {
		scsi_sense_fixed(buf, &len, SCSI_SENSE_NOT_READY,
		                 SCSI_ASC_LU_NOT_READY_INIT_REQUIRED);
	} else {
		scsi_sense_fixed(buf, &len, SCSI_SENSE_NO_SENSE, SCSI_ASC_NONE);
	}
	scsi_cmd_put_data(cmd, buf, len);
	scsi_cmd_complete(cmd);
}

int scsi_report_luns_setup(struct scsi_cmd *cmd)
{
	uint8_t select = cmd->cdb[2];

	/* 0: all LUs, 1: well-known LUs only (we have none), 2: all. */
	if (select > 2) {
		return scsi_cmd_bad_field(cmd, 2, -1);
	}
	return scsi_cmd_data_in(cmd, get_be32(cmd->cdb + 6), REPORT_LUNS_BUF_LEN);
}

/* SAM-5 LUN encoding: peripheral device addressing below 256, flat
 * space addressing above (up to 16383). */
static void put_lun(uint8_t *p, uint64_t lun)
{
	memset(p, 0, 8);
	if (lun < 256) {
		p[1] = (uint8_t)lun;
	} else {
		put_be16(p, (uint16_t)(0x4000 | (lun & 0x3fff)));
	}
}

void scsi_report_luns_exec(struct scsi_cmd *cmd)
{
	uint8_t buf[REPORT_LUNS_BUF_LEN];
	uint32_t n = 0;
	unsigned i;

	memset(buf, 0, REPORT_LUNS_HDR);
	if (cmd->luns && cmd->cdb[2] != 1) {
		/* The LUNs as this nexus numbers them (its LUN map). */
		for (i = 0; i < SCSI_MAX_LUNS; i++) {
			unsigned l = scsi_lun_map_lu(cmd->map, i);

			if (l < SCSI_MAX_LUNS && cmd->luns->lu[l]) {
				put_lun(buf + REPORT_LUNS_HDR + 8 * n, i);
				n++;
			}
		}
	}
	put_be32(buf, 8 * n);
	scsi_cmd_put_data(cmd, buf, REPORT_LUNS_HDR + 8 * n);
	scsi_cmd_complete(cmd);
}
