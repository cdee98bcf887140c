/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Commands with little to do on a virtual disk: PRE-FETCH 10/16 (the
 * page cache decides what is cached), READ DEFECT DATA 10/12 (there are
 * no defects) and PREVENT ALLOW MEDIUM REMOVAL (the medium is not
 * removable).
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define DEFECT_LIST_BITS 0x1f /* REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT */
#define DEFECT10_HDR 4
#define DEFECT12_HDR 8

/*
 * The range must lie within the LU. We do not load the blocks into a
 * cache we could promise to keep, so the status is GOOD, not CONDITION
 * MET (SBC-3 5.9: CONDITION MET only when they will all be cached).
 */
int scsi_prefetch_setup(struct scsi_cmd *cmd)
{
	struct scsi_lba_range r;

	scsi_decode_range(cmd->cdb, &r);
	return scsi_check_range(cmd, &r);
}

int scsi_read_defect_setup(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;

	if (cdb[0] == SCSI_OP_READ_DEFECT10) {
		return scsi_cmd_data_in(cmd, get_be16(cdb + 7), DEFECT10_HDR);
	}
	return scsi_cmd_data_in(cmd, get_be32(cdb + 6), DEFECT12_HDR);
}

/* An empty list in the format asked for, each asked list "valid". */
void scsi_read_defect_exec(struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint8_t buf[DEFECT12_HDR];

	memset(buf, 0, sizeof(buf));
	if (cdb[0] == SCSI_OP_READ_DEFECT10) {
		buf[1] = cdb[2] & DEFECT_LIST_BITS;
		scsi_cmd_put_data(cmd, buf, DEFECT10_HDR);
	} else {
		buf[1] = cdb[1] & DEFECT_LIST_BITS;
		scsi_cmd_put_data(cmd, buf, DEFECT12_HDR);
	}
	scsi_cmd_complete(cmd);
}

/* Any PREVENT value is accepted: with RMB=0 nothing can be removed, and
 * there is nothing to remember either. */
int scsi_prevent_allow_setup(struct scsi_cmd *cmd)
{
	return 0;
}
