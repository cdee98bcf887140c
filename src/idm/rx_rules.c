/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The intake's decisions as pure functions (no connection, no I/O), so
 * the unit tests can walk every opcode through every state:
 *   - which opcodes a peer may send in which connection state
 *     (RFC 7143 sections 6.1, 8.1 and 11);
 *   - whether immediate data and a Data-Out fit what the target allowed
 *     (FirstBurstLength / EDTL through unsol_limit, the R2Ts, the buffer).
 */
#include "idm/core_priv.h"

static bool opcode_from_peer(enum idm_role role, uint8_t op)
{
	return role == IDM_ROLE_TARGET ? idm_opcode_is_initiator(op) : idm_opcode_is_target(op);
}

static bool opcode_is_login(uint8_t op)
{
	return op == ISCSI_OP_LOGIN_REQ || op == ISCSI_OP_LOGIN_RSP;
}

enum idm_rx_verdict idm_rx_opcode_verdict(enum idm_role role, enum idm_conn_state state, uint8_t op)
{
	bool legal = opcode_from_peer(role, op);

	switch (state) {
	case IDM_CONN_XPT_UP:
	case IDM_CONN_IN_LOGIN:
		/* only Login PDUs until the login ends: anything else is not a
		 * peer worth answering (a Reject would only feed it) */
		return legal && opcode_is_login(op) ? IDM_RX_ACCEPT : IDM_RX_CLOSE;
	case IDM_CONN_LOGGED_IN:
	case IDM_CONN_IN_LOGOUT:
	case IDM_CONN_LOGOUT_REQ:
		if (opcode_is_login(op)) {
			return IDM_RX_CLOSE; /* a login in the full feature phase */
		}
		if (legal) {
			return IDM_RX_ACCEPT;
		}
		/* an initiator cannot Reject: it closes */
		return role == IDM_ROLE_TARGET ? IDM_RX_REJECT : IDM_RX_CLOSE;
	default:
		return IDM_RX_CLOSE; /* not connected, or closing */
	}
}

bool idm_rx_imm_fits(const struct idm_task *t, uint32_t len)
{
	return t->is_write && t->data != NULL && len <= t->data_cap && len <= t->unsol_limit;
}

/* Unsolicited Data-Out: within the first burst the target allows. */
static bool unsol_fits(const struct idm_task *t, uint32_t off, uint32_t len)
{
	uint32_t limit = t->unsol_limit;

	return !t->unsol_done && off <= limit && len <= limit - off;
}

/* Solicited Data-Out: within what the outstanding R2Ts asked for. */
static bool solicited_fits(const struct idm_task *t, uint32_t off, uint32_t len)
{
	return t->r2t_outstanding > 0 && off <= t->r2t_next && len <= t->r2t_next - off;
}

bool idm_rx_data_out_fits(const struct idm_task *t, uint32_t off, uint32_t len, uint32_t data_sn,
                          bool solicited, bool in_order)
{
	if (off > t->data_cap || len > t->data_cap - off) {
		return false;
	}
	if (solicited ? !solicited_fits(t, off, len) : !unsol_fits(t, off, len)) {
		return false;
	}
	if (in_order && off != t->received) {
		return false;
	}
	return data_sn == t->data_sn;
}
