/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixed-format sense data (SPC-4 4.5.3): response code 0x70, sense key,
 * ASC/ASCQ, and optionally the INFORMATION field or a sense-key-specific
 * field pointer telling the initiator which CDB byte/bit was wrong.
 */
#include <string.h>

#include "idm/wire.h"
#include "scsi_int.h"

#define SENSE_FIXED_LEN 18
#define SENSE_RESPONSE_CURRENT 0x70
#define SENSE_VALID 0x80   /* byte 0: INFORMATION field is valid */
#define SENSE_SKSV 0x80    /* byte 15: sense-key-specific valid */
#define SENSE_SKS_CD 0x40  /* byte 15: the error is in the CDB */
#define SENSE_SKS_BPV 0x08 /* byte 15: bit pointer valid */

/* Fixed-format sense with key and ASC/ASCQ; the other fields zero. */
void scsi_sense_fixed(uint8_t *sense, uint8_t *len, uint8_t key, uint16_t asc)
{
	memset(sense, 0, SENSE_FIXED_LEN);
	sense[0] = SENSE_RESPONSE_CURRENT;
	sense[2] = key & 0x0f;
	sense[7] = SENSE_FIXED_LEN - 8; /* additional sense length */
	sense[12] = (uint8_t)(asc >> 8);
	sense[13] = (uint8_t)asc;
	*len = SENSE_FIXED_LEN;
}

void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint16_t asc)
{
	scsi_sense_fixed(cmd->sense, &cmd->sense_len, key, asc);
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
}

/* Sense with a field pointer (SPC-4 4.5.2.4.2): `field` is the byte
 * offset in the CDB (in_cdb) or parameter list; `bit` the bit, or < 0. */
void scsi_cmd_set_sense_field(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, bool in_cdb,
                              uint16_t field, int bit)
{
	uint8_t sks = SENSE_SKSV;

	scsi_cmd_set_sense(cmd, key, asc);
	if (in_cdb) {
		sks |= SENSE_SKS_CD;
	}
	if (bit >= 0 && bit <= 7) {
		sks |= SENSE_SKS_BPV | (uint8_t)bit;
	}
	cmd->sense[15] = sks;
	put_be16(&cmd->sense[16], field);
}

void scsi_cmd_set_sense_info(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, uint32_t info)
{
	scsi_cmd_set_sense(cmd, key, asc);
	cmd->sense[0] |= SENSE_VALID;
	put_be32(&cmd->sense[3], info);
}

int scsi_cmd_bad_field(struct scsi_cmd *cmd, uint16_t byte, int bit)
{
	scsi_cmd_set_sense_field(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB,
	                         true, byte, bit);
	return 1;
}

int scsi_cmd_fail(struct scsi_cmd *cmd, uint8_t key, uint16_t asc)
{
	scsi_cmd_set_sense(cmd, key, asc);
	return 1;
}

void scsi_cmd_bad_param(struct scsi_cmd *cmd, uint16_t byte, int bit)
{
	scsi_cmd_set_sense_field(cmd, SCSI_SENSE_ILLEGAL_REQUEST,
	                         SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST, false, byte, bit);
}
