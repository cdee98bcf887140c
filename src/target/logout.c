/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logout (RFC 7143 sections 11.14-11.15). With one connection per session
 * and ErrorRecoveryLevel 0, closing the connection or the session is the
 * same: answer, then close; tasks still running are aborted by the
 * teardown (the initiator has stopped issuing commands by then). Removing
 * a connection for recovery needs ErrorRecoveryLevel 2 and is refused.
 */
#include <string.h>

#include "target/target_int.h"

static void logout_sent(struct idm_pdu *pdu, int status)
{
	struct idm_conn *c = pdu->conn;

	idm_conn_hold(c);
	idm_conn_event(c, IDM_CE_LOGOUT_DONE);
	idm_conn_close(c);
	idm_conn_release(c);
}

static uint8_t logout_response(struct tgt_conn *tc, const struct idm_pdu *pdu)
{
	uint8_t reason = pdu->bhs[BHS_FLAGS] & LOGOUT_REASON_MASK;
	uint16_t cid = get_be16(pdu->bhs + LOGOUT_CID);

	switch (reason) {
	case ISCSI_LOGOUT_CLOSE_SESSION:
		return ISCSI_LOGOUT_RSP_OK;
	case ISCSI_LOGOUT_CLOSE_CONNECTION:
		return cid == tc->ic->cid ? ISCSI_LOGOUT_RSP_OK : ISCSI_LOGOUT_RSP_CID_NOT_FOUND;
	default:
		return ISCSI_LOGOUT_RSP_RECOVERY_UNSUPPORTED;
	}
}

void tgt_logout_rx(struct tgt_conn *tc, struct idm_pdu *pdu)
{
	uint8_t reason = pdu->bhs[BHS_FLAGS] & LOGOUT_REASON_MASK;
	struct idm_pdu *rsp;
	uint8_t response;

	if (reason > ISCSI_LOGOUT_REMOVE_FOR_RECOVERY) {
		idm_pdu_reject(tc->ic, pdu->bhs, ISCSI_REJECT_INVALID_PDU_FIELD);
		return;
	}
	if (tgt_conn_cmdsn(tc, pdu) < 0) {
		return; /* outside the CmdSN window: dropped */
	}
	response = logout_response(tc, pdu);
	rsp = idm_pdu_alloc(tc->ic, 0);
	if (!rsp) {
		idm_conn_close(tc->ic);
		return;
	}
	idm_bhs_init(rsp->bhs, ISCSI_OP_LOGOUT_RSP, false);
	rsp->bhs[BHS_FLAGS] = ISCSI_FLAG_FINAL;
	rsp->bhs[LOGOUT_RSP_RESPONSE] = response;
	put_be32(rsp->bhs + BHS_ITT, idm_pdu_itt(pdu));
	/* ErrorRecoveryLevel 0: nothing to wait for or to retain. */
	put_be16(rsp->bhs + LOGOUT_RSP_TIME2WAIT, 0);
	put_be16(rsp->bhs + LOGOUT_RSP_TIME2RETAIN, 0);
	rsp->data_len = 0;
	if (response != ISCSI_LOGOUT_RSP_OK) {
		idm_pdu_tx(tc->ic, rsp);
		return;
	}
	tc->logged_out = true;
	rsp->done = logout_sent;
	idm_pdu_tx(tc->ic, rsp);
}
