/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logout (RFC 7143 sections 11.14-11.15). With one connection per session
 * and ErrorRecoveryLevel 0, closing the connection or the session is the
 * same: answer, then close; tasks still running are aborted by the
 * teardown (the initiator has stopped issuing commands by then). Removing
 * a connection for recovery needs ErrorRecoveryLevel 2 and is refused.
 */
#include <stdlib.h>
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

/* A Logout Response held until the nexus's SPC-2 reservations on LUs
 * the gateways share are released in the cluster (scsi_lu_nexus_leaving):
 * after the response, a RESERVE through any gateway must find them gone. */
struct logout_wait {
	struct idm_conn *ic; /* held while we wait */
	struct idm_pdu *rsp;
	unsigned pending;
};

static void logout_released(void *arg)
{
	struct logout_wait *w = arg;

	if (--w->pending == 0) {
		idm_pdu_tx(w->ic, w->rsp);
		idm_conn_release(w->ic);
		free(w);
	}
}

/* True when the response waits (it is sent by logout_released). */
static bool logout_waits(struct tgt_conn *tc, struct idm_pdu *rsp)
{
	struct tgt_session *s = tc->sess;
	struct logout_wait *w;

	if (!s || !s->target || !s->nexus.initiator_port[0] || !(w = malloc(sizeof(*w)))) {
		return false;
	}
	*w = (struct logout_wait){.ic = tc->ic, .rsp = rsp, .pending = 1};
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		struct scsi_lu *lu = s->target->luns.lu[l];

		w->pending++;
		if (!lu || !scsi_lu_nexus_leaving(lu, &s->nexus, logout_released, w)) {
			w->pending--;
		}
	}
	if (--w->pending == 0) {
		free(w);
		return false;
	}
	idm_conn_hold(tc->ic);
	return true;
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
	if (!logout_waits(tc, rsp)) {
		idm_pdu_tx(tc->ic, rsp);
	}
}
