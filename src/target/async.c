/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asynchronous Messages from the target (RFC 7143 section 11.9). Today one
 * event: asking an initiator to log out, which idmd does on shutdown so
 * that initiators end their sessions cleanly (flushing, no error recovery)
 * instead of finding the connection gone in the middle of I/O.
 */
#include "target/target_int.h"

/*
 * Ask the initiator on `tc` to log out within `within_s` seconds
 * (AsyncEvent 1; Parameter3 is the time it has). Returns 0 or -ENOMEM.
 */
int tgt_async_logout_request(struct tgt_conn *tc, uint16_t within_s)
{
	struct idm_pdu *pdu = idm_pdu_alloc(tc->ic, 0);

	if (!pdu) {
		return -ENOMEM;
	}
	idm_bhs_init(pdu->bhs, ISCSI_OP_ASYNC_MSG, false);
	pdu->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	put_be32(pdu->bhs + BHS_ITT, IDM_RESERVED_TAG);
	pdu->bhs[ASYNC_EVENT] = ISCSI_ASYNC_LOGOUT_REQUEST;
	put_be16(pdu->bhs + ASYNC_PARAM3, within_s);
	idm_pdu_tx(tc->ic, pdu); /* the core fills StatSN, ExpCmdSN, MaxCmdSN */
	return 0;
}
