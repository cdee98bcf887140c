/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pure BHS helpers: opcode names and sets, DataSegmentLength, LUN fields.
 * Nothing here touches a connection, so all of it is unit-testable.
 */
#include <string.h>

#include "idm/pdu.h"

void idm_bhs_init(uint8_t *bhs, uint8_t opcode, bool immediate)
{
	memset(bhs, 0, IDM_BHS_LEN);
	bhs[BHS_OPCODE] =
	    (uint8_t)((opcode & ISCSI_OPCODE_MASK) | (immediate ? ISCSI_FLAG_IMMEDIATE : 0));
}

void idm_bhs_set_dlength(uint8_t *bhs, uint32_t len)
{
	put_be24(bhs + BHS_DATA_SEG_LEN, len);
}

const char *idm_opcode_name(uint8_t opcode)
{
	switch (opcode & ISCSI_OPCODE_MASK) {
	case ISCSI_OP_NOP_OUT:
		return "NOP-Out";
	case ISCSI_OP_SCSI_CMD:
		return "SCSI Command";
	case ISCSI_OP_TMF_REQ:
		return "Task Management Request";
	case ISCSI_OP_LOGIN_REQ:
		return "Login Request";
	case ISCSI_OP_TEXT_REQ:
		return "Text Request";
	case ISCSI_OP_SCSI_DATA_OUT:
		return "SCSI Data-Out";
	case ISCSI_OP_LOGOUT_REQ:
		return "Logout Request";
	case ISCSI_OP_SNACK_REQ:
		return "SNACK Request";
	case ISCSI_OP_NOP_IN:
		return "NOP-In";
	case ISCSI_OP_SCSI_RSP:
		return "SCSI Response";
	case ISCSI_OP_TMF_RSP:
		return "Task Management Response";
	case ISCSI_OP_LOGIN_RSP:
		return "Login Response";
	case ISCSI_OP_TEXT_RSP:
		return "Text Response";
	case ISCSI_OP_SCSI_DATA_IN:
		return "SCSI Data-In";
	case ISCSI_OP_LOGOUT_RSP:
		return "Logout Response";
	case ISCSI_OP_R2T:
		return "R2T";
	case ISCSI_OP_ASYNC_MSG:
		return "Asynchronous Message";
	case ISCSI_OP_REJECT:
		return "Reject";
	default:
		return "unknown";
	}
}

bool idm_opcode_is_initiator(uint8_t opcode)
{
	switch (opcode & ISCSI_OPCODE_MASK) {
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_SCSI_CMD:
	case ISCSI_OP_TMF_REQ:
	case ISCSI_OP_LOGIN_REQ:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_SCSI_DATA_OUT:
	case ISCSI_OP_LOGOUT_REQ:
	case ISCSI_OP_SNACK_REQ:
		return true;
	default:
		return false;
	}
}

bool idm_opcode_is_target(uint8_t opcode)
{
	switch (opcode & ISCSI_OPCODE_MASK) {
	case ISCSI_OP_NOP_IN:
	case ISCSI_OP_SCSI_RSP:
	case ISCSI_OP_TMF_RSP:
	case ISCSI_OP_LOGIN_RSP:
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_SCSI_DATA_IN:
	case ISCSI_OP_LOGOUT_RSP:
	case ISCSI_OP_R2T:
	case ISCSI_OP_ASYNC_MSG:
	case ISCSI_OP_REJECT:
		return true;
	default:
		return false;
	}
}

/*
 * SAM-5 single level LUN: LUNs below 256 use peripheral device addressing
 * (method 00b, bus 0), what most initiators expect; LUNs up to 16383 use
 * flat space addressing (method 01b). Larger values cannot be expressed
 * at one level and are written as-is (the caller validates ranges).
 */
void idm_lun_encode(uint8_t *field, uint64_t lun)
{
	memset(field, 0, 8);
	if (lun < 256) {
		field[1] = (uint8_t)lun;
	} else if (lun < 16384) {
		field[0] = (uint8_t)(0x40 | (lun >> 8));
		field[1] = (uint8_t)lun;
	} else {
		put_be64(field, lun);
	}
}

/*
 * The inverse of idm_lun_encode. Anything that is not a single level
 * peripheral (bus 0) or flat LUN decodes to the raw 64-bit field, which
 * is at least 2^62 or has low bytes set and so never names a small LUN:
 * the SCSI layer answers it LOGICAL UNIT NOT SUPPORTED.
 */
uint64_t idm_lun_decode(const uint8_t *field)
{
	uint8_t method = field[0] >> 6;
	uint64_t rest = get_be64(field) & 0xffffffffffffull;

	if (rest != 0) {
		return get_be64(field);
	}
	if (method == 0 && (field[0] & 0x3f) == 0) {
		return field[1];
	}
	if (method == 1) {
		return ((uint64_t)(field[0] & 0x3f) << 8) | field[1];
	}
	return get_be64(field);
}

/* Does this target PDU consume a StatSN (RFC 7143 sections 11.x)? The
 * target and the initiator both count StatSN with it. */
bool idm_bhs_advances_statsn(const uint8_t *bhs)
{
	switch (bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK) {
	case ISCSI_OP_SCSI_RSP:
	case ISCSI_OP_TMF_RSP:
	case ISCSI_OP_LOGIN_RSP:
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_LOGOUT_RSP:
	case ISCSI_OP_REJECT:
	case ISCSI_OP_ASYNC_MSG:
		return true;
	case ISCSI_OP_SCSI_DATA_IN:
		return (bhs[BHS_FLAGS] & DATA_FLAG_STATUS) != 0;
	case ISCSI_OP_NOP_IN:
		/* a NOP-In answering a NOP-Out; not a target ping */
		return get_be32(bhs + BHS_ITT) != IDM_RESERVED_TAG;
	default:
		return false; /* R2T: carries the next StatSN, no advance */
	}
}
