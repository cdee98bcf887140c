/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The response to a Task Management Function request (RFC 7143 sections
 * 11.5.1 and 11.6.1), decided from facts the caller gathered. Pure: unit
 * tested in tests/target.
 */
#include "target/target_int.h"

static uint8_t decide_abort_task(const struct tgt_tmf_in *in)
{
	if (in->task_found) {
		return ISCSI_TMF_RSP_COMPLETE;
	}
	/* Not here: if it could still arrive (its CmdSN is in the window and
	 * before the TMF's), it counts as received and aborted; otherwise it
	 * completed already or never existed. */
	return in->refcmdsn_in_window ? ISCSI_TMF_RSP_COMPLETE : ISCSI_TMF_RSP_NO_TASK;
}

uint8_t tgt_tmf_decide(const struct tgt_tmf_in *in)
{
	if (in->discovery) {
		return ISCSI_TMF_RSP_REJECTED;
	}
	switch (in->function) {
	case ISCSI_TMF_ABORT_TASK:
		if (!in->lun_exists) {
			return ISCSI_TMF_RSP_NO_LUN;
		}
		return decide_abort_task(in);
	case ISCSI_TMF_ABORT_TASK_SET:
	case ISCSI_TMF_CLEAR_TASK_SET:
	case ISCSI_TMF_LOGICAL_UNIT_RESET:
		return in->lun_exists ? ISCSI_TMF_RSP_COMPLETE : ISCSI_TMF_RSP_NO_LUN;
	case ISCSI_TMF_TARGET_WARM_RESET:
		return ISCSI_TMF_RSP_COMPLETE;
	case ISCSI_TMF_CLEAR_ACA:
	case ISCSI_TMF_TARGET_COLD_RESET:
		return ISCSI_TMF_RSP_NOT_SUPPORTED;
	case ISCSI_TMF_TASK_REASSIGN:
		/* Needs ErrorRecoveryLevel 2. */
		return ISCSI_TMF_RSP_NO_REASSIGN;
	default:
		return ISCSI_TMF_RSP_REJECTED;
	}
}
