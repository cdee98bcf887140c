/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Initiator SCSI commands: tags and CmdSN, immediate and unsolicited
 * data, Data-Out on R2T, Data-In placed at its offset in the caller's
 * buffer, status from the SCSI Response or the Data-In S bit, and basic
 * task management. No allocation per command: the caller owns the
 * command, the core's task table holds the tag.
 */
#include <errno.h>
#include <string.h>

#include "initiator/ini_priv.h"

#define ATTR_SIMPLE 1

static void cmd_reset_results(struct idm_ini_cmd *cmd)
{
	cmd->status = 0;
	cmd->response = 0;
	cmd->sense_len = 0;
	cmd->residual = 0;
	cmd->underflow = false;
	cmd->overflow = false;
	cmd->received = 0;
	cmd->next = NULL;
	cmd->task = NULL;
}

/* The command is over: free its tag, tell the caller. */
static void cmd_complete(struct idm_ini *s, struct idm_ini_cmd *cmd, int err)
{
	struct idm_task *t = cmd->task;

	cmd->task = NULL;
	if (t) {
		t->client_priv = NULL;
		idm_task_release(t);
	}
	s->inflight--;
	cmd->done(cmd, err);
}

/* ---- sending ---- */

/* Data-Out PDUs for one burst, straight from the caller's buffer. */
static int send_burst(struct idm_ini *s, struct idm_ini_cmd *cmd, struct ini_burst *b)
{
	struct ini_dataout d;
	uint32_t max = s->c->params.max_xmit_dsl;

	while (ini_burst_next(b, max, &d)) {
		struct idm_pdu *pdu = idm_pdu_alloc(s->c, 0);

		if (pdu == NULL) {
			return -ENOMEM;
		}
		idm_bhs_init(pdu->bhs, ISCSI_OP_SCSI_DATA_OUT, false);
		pdu->bhs[BHS_FLAGS] = d.final ? ISCSI_FLAG_FINAL : 0;
		idm_lun_encode(pdu->bhs + BHS_LUN, cmd->lun);
		put_be32(pdu->bhs + BHS_ITT, cmd->itt);
		put_be32(pdu->bhs + DATA_TTT, b->ttt);
		put_be32(pdu->bhs + DATA_DATASN, d.data_sn);
		put_be32(pdu->bhs + DATA_BUFFER_OFFSET, d.off);
		pdu->data = cmd->buf + d.off;
		pdu->data_len = d.len;
		pdu->flags |= IDM_PDU_F_DATA_IN_TASK;
		idm_pdu_tx(s->c, pdu);
	}
	return 0;
}

static void cmd_fill_bhs(struct idm_ini_cmd *cmd, uint8_t *bhs, const struct ini_unsol *u)
{
	uint8_t flags = ATTR_SIMPLE;

	if (cmd->dir == IDM_INI_READ) {
		flags |= SCSI_CMD_FLAG_READ;
	} else if (cmd->dir == IDM_INI_WRITE) {
		flags |= SCSI_CMD_FLAG_WRITE;
	}
	/* F: no unsolicited Data-Out follows the command */
	if (u->end == u->immediate) {
		flags |= ISCSI_FLAG_FINAL;
	}
	bhs[BHS_FLAGS] = flags;
	idm_lun_encode(bhs + BHS_LUN, cmd->lun);
	put_be32(bhs + BHS_ITT, cmd->itt);
	put_be32(bhs + SCSI_CMD_EDTL, cmd->dir == IDM_INI_NONE ? 0 : cmd->len);
	put_be32(bhs + SCSI_CMD_CMDSN, cmd->cmdsn);
	memcpy(bhs + SCSI_CMD_CDB, cmd->cdb, cmd->cdb_len);
}

/* A task (tag) for the command; -EBUSY when the table is full. */
static int cmd_take_task(struct idm_ini *s, struct idm_ini_cmd *cmd)
{
	int err = -EEXIST;

	for (int tries = 0; tries < 8 && err == -EEXIST; tries++) {
		cmd->itt = ini_itt_next(&s->itt_counter, false);
		cmd->task = idm_task_alloc(s->c, cmd->itt, &err);
	}
	if (cmd->task == NULL) {
		return err;
	}
	cmd->task->client_priv = cmd;
	cmd->task->data = cmd->buf;
	cmd->task->data_cap = cmd->dir == IDM_INI_NONE ? 0 : cmd->len;
	cmd->task->edtl = cmd->task->data_cap;
	cmd->task->is_read = cmd->dir == IDM_INI_READ;
	cmd->task->is_write = cmd->dir == IDM_INI_WRITE;
	return 0;
}

static int cmd_send(struct idm_ini *s, struct idm_ini_cmd *cmd)
{
	struct ini_unsol u = {0, 0};
	struct ini_burst b;
	struct idm_pdu *pdu;
	int rc = cmd_take_task(s, cmd);

	if (rc != 0) {
		return rc;
	}
	pdu = idm_pdu_alloc(s->c, 0);
	if (pdu == NULL) {
		idm_task_release(cmd->task);
		cmd->task = NULL;
		return -ENOMEM;
	}
	if (cmd->dir == IDM_INI_WRITE) {
		ini_unsol_plan(&s->c->params, cmd->len, &u);
	}
	cmd->cmdsn = s->sn.cmd_sn++;
	idm_bhs_init(pdu->bhs, ISCSI_OP_SCSI_CMD, false);
	cmd_fill_bhs(cmd, pdu->bhs, &u);
	if (u.immediate) {
		pdu->data = cmd->buf;
		pdu->data_len = u.immediate;
		pdu->flags |= IDM_PDU_F_DATA_IN_TASK;
	}
	idm_pdu_tx(s->c, pdu);
	ini_burst_init(&b, u.immediate, u.end - u.immediate, IDM_RESERVED_TAG);
	return send_burst(s, cmd, &b);
}

/* Send what waits, while the CmdSN window and the task table allow. */
void ini_scsi_pump(struct idm_ini *s)
{
	while (s->wait_head && s->c && s->phase == INI_FFP && ini_sn_can_send(&s->sn)) {
		struct idm_ini_cmd *cmd = s->wait_head;
		int rc;

		s->wait_head = cmd->next;
		if (s->wait_head == NULL) {
			s->wait_tail = NULL;
		}
		cmd->next = NULL;
		rc = cmd_send(s, cmd);
		if (rc == -EBUSY) {
			cmd->next = s->wait_head; /* no free tag: retry on the next completion */
			s->wait_head = cmd;
			if (s->wait_tail == NULL) {
				s->wait_tail = cmd;
			}
			return;
		}
		if (rc != 0) {
			/* with a task, the command left but its data could not follow */
			bool sent = cmd->task != NULL;

			cmd_complete(s, cmd, rc);
			if (sent && s->c) {
				idm_conn_close(s->c);
			}
		}
	}
}

int idm_ini_scsi_async(struct idm_ini *s, struct idm_ini_cmd *cmd)
{
	if (s->c == NULL || s->phase != INI_FFP) {
		ini_fail(s, -ENOTCONN, "not logged in");
		return -ENOTCONN;
	}
	if (cmd->cdb_len == 0 || cmd->cdb_len > 16 || cmd->done == NULL ||
	    (cmd->dir != IDM_INI_NONE && cmd->len > 0 && cmd->buf == NULL)) {
		ini_fail(s, -EINVAL, "invalid SCSI command");
		return -EINVAL;
	}
	cmd_reset_results(cmd);
	s->inflight++; /* counted from here until `done` runs */
	if (s->wait_tail) {
		s->wait_tail->next = cmd;
	} else {
		s->wait_head = cmd;
	}
	s->wait_tail = cmd;
	ini_scsi_pump(s);
	return 0;
}

/* ---- receiving ---- */

/* The command a target PDU names by ITT, or NULL (logged). */
static struct idm_ini_cmd *rx_cmd(struct idm_ini *s, const struct idm_pdu *pdu)
{
	struct idm_task *t = idm_task_find_itt(s->c, idm_pdu_itt(pdu));

	if (t == NULL || t->client_priv == NULL || t->state != IDM_TASK_ACTIVE) {
		IDM_LOG_CONN(s->c, "%s for unknown ITT %#x ignored", idm_opcode_name(pdu->bhs[0]),
		             idm_pdu_itt(pdu));
		return NULL;
	}
	return t->client_priv;
}

static void cmd_take_residual(struct idm_ini_cmd *cmd, uint8_t flags, const uint8_t *bhs)
{
	cmd->overflow = (flags & SCSI_RSP_FLAG_OVERFLOW) != 0;
	cmd->underflow = (flags & SCSI_RSP_FLAG_UNDERFLOW) != 0;
	cmd->residual = (cmd->overflow || cmd->underflow) ? get_be32(bhs + SCSI_RSP_RESIDUAL) : 0;
}

/* The read data the target says it sent: all but the reported residual. */
static uint32_t cmd_read_sent(const struct idm_ini_cmd *cmd)
{
	return cmd->len - (cmd->underflow && cmd->residual <= cmd->len ? cmd->residual : 0);
}

/* A read that ended well must have brought all it did not report as residual. */
static bool cmd_data_complete(const struct idm_ini_cmd *cmd)
{
	return cmd->dir != IDM_INI_READ || cmd->status != 0 || cmd->received >= cmd_read_sent(cmd);
}

void ini_rx_scsi_rsp(struct idm_ini *s, struct idm_pdu *pdu)
{
	struct idm_ini_cmd *cmd = rx_cmd(s, pdu);

	if (cmd == NULL) {
		return;
	}
	cmd->response = pdu->bhs[SCSI_RSP_RESPONSE];
	cmd->status = pdu->bhs[SCSI_RSP_STATUS];
	cmd_take_residual(cmd, pdu->bhs[BHS_FLAGS], pdu->bhs);
	if (s->c->transport->caps->rdma && cmd->dir == IDM_INI_READ) {
		/* the target RDMA-wrote the data before this Send (RC ordering) */
		cmd->received = cmd_read_sent(cmd);
	}
	if (pdu->data_len >= 2) {
		uint32_t sl = get_be16(pdu->data);

		if (sl > pdu->data_len - 2) {
			sl = pdu->data_len - 2;
		}
		if (sl > sizeof(cmd->sense)) {
			sl = sizeof(cmd->sense);
		}
		memcpy(cmd->sense, pdu->data + 2, sl);
		cmd->sense_len = (uint16_t)sl;
	}
	cmd_complete(
	    s, cmd, cmd->response == ISCSI_RESPONSE_COMPLETED && cmd_data_complete(cmd) ? 0 : -EIO);
}

void ini_rx_data_in(struct idm_ini *s, struct idm_pdu *pdu)
{
	struct idm_ini_cmd *cmd = rx_cmd(s, pdu);
	uint32_t off = get_be32(pdu->bhs + DATA_BUFFER_OFFSET);
	uint8_t flags = pdu->bhs[BHS_FLAGS];

	if (cmd == NULL) {
		return;
	}
	if (cmd->dir != IDM_INI_READ || off > cmd->len || pdu->data_len > cmd->len - off) {
		IDM_LOG_CONN(s->c, "Data-In outside the buffer (ITT %#x)", cmd->itt);
		idm_conn_event(s->c, IDM_CE_PROTOCOL_ERROR);
		return;
	}
	if (get_be32(pdu->bhs + DATA_DATASN) != cmd->task->data_sn++) {
		/* DataPDUInOrder is assumed (ERL 0): a gap means lost data */
		IDM_LOG_CONN(s->c, "Data-In out of sequence (ITT %#x)", cmd->itt);
		idm_conn_event(s->c, IDM_CE_PROTOCOL_ERROR);
		return;
	}
	if (!(pdu->flags & IDM_PDU_F_DATA_IN_TASK) && pdu->data_len) {
		/* the transport could not place it: copy (counted) */
		memcpy(cmd->buf + off, pdu->data, pdu->data_len);
		s->c->stats.bytes_copied += pdu->data_len;
	}
	cmd->received += pdu->data_len;
	if (flags & DATA_FLAG_STATUS) {
		cmd->status = pdu->bhs[DATA_STATUS];
		cmd_take_residual(cmd, flags, pdu->bhs);
		cmd_complete(s, cmd, cmd_data_complete(cmd) ? 0 : -EIO);
	}
}

void ini_rx_r2t(struct idm_ini *s, struct idm_pdu *pdu)
{
	struct idm_ini_cmd *cmd = rx_cmd(s, pdu);
	uint32_t off = get_be32(pdu->bhs + R2T_BUFFER_OFFSET);
	uint32_t len = get_be32(pdu->bhs + R2T_DESIRED_LEN);
	struct ini_burst b;

	if (cmd == NULL) {
		return;
	}
	if (cmd->dir != IDM_INI_WRITE || len == 0 || off > cmd->len || len > cmd->len - off) {
		IDM_LOG_CONN(s->c, "R2T outside the buffer (ITT %#x)", cmd->itt);
		idm_conn_event(s->c, IDM_CE_PROTOCOL_ERROR);
		return;
	}
	ini_burst_init(&b, off, len, get_be32(pdu->bhs + R2T_TTT));
	if (send_burst(s, cmd, &b) != 0) {
		idm_conn_close(s->c);
	}
}

/* ---- task management ---- */

struct tmf_match {
	struct idm_ini *s;
	uint64_t lun;
	struct idm_ini_cmd *only;
};

/* Commands the TMF ended: the target sends nothing more for them. */
static void tmf_end_one(struct idm_task *t, void *arg)
{
	struct tmf_match *m = arg;
	struct idm_ini_cmd *cmd = t->client_priv;

	if (cmd == NULL || t->state != IDM_TASK_ACTIVE) {
		return;
	}
	if (m->only ? cmd == m->only : cmd->lun == m->lun) {
		cmd_complete(m->s, cmd, -ECANCELED);
	}
}

void ini_rx_tmf_rsp(struct idm_ini *s, struct idm_pdu *pdu)
{
	uint8_t resp = pdu->bhs[TMF_RSP_RESPONSE];
	idm_ini_cb cb = s->tmf_cb;
	bool ok = resp == ISCSI_TMF_RSP_COMPLETE ||
	          (s->tmf_function == ISCSI_TMF_ABORT_TASK && resp == ISCSI_TMF_RSP_NO_TASK);
	struct tmf_match m = {s, s->tmf_lun, s->tmf_cmd};

	if (idm_pdu_itt(pdu) != s->tmf_itt) {
		return;
	}
	s->tmf_cb = NULL;
	s->tmf_itt = IDM_RESERVED_TAG;
	if (ok && (s->tmf_cmd || s->tmf_function == ISCSI_TMF_LOGICAL_UNIT_RESET)) {
		idm_task_foreach(s->c, tmf_end_one, &m);
	}
	s->tmf_cmd = NULL;
	if (!ok) {
		ini_fail(s, -EIO, "task management function %u refused (response %u)",
		         s->tmf_function, resp);
	}
	if (cb) {
		cb(s, ok ? 0 : -EIO, s->tmf_arg);
	}
}

int idm_ini_tmf_async(struct idm_ini *s, uint8_t function, uint64_t lun, struct idm_ini_cmd *cmd,
                      idm_ini_cb cb, void *arg)
{
	struct idm_pdu *pdu;

	if (s->c == NULL || s->phase != INI_FFP || s->tmf_cb) {
		ini_fail(s, -EBUSY, "task management: not logged in or one in progress");
		return -EBUSY;
	}
	if (function == ISCSI_TMF_ABORT_TASK && (cmd == NULL || cmd->task == NULL)) {
		ini_fail(s, -EINVAL, "abort task: the command is not in flight");
		return -EINVAL;
	}
	pdu = idm_pdu_alloc(s->c, 0);
	if (pdu == NULL) {
		return -ENOMEM;
	}
	s->tmf_itt = ini_itt_next(&s->itt_counter, true);
	s->tmf_cb = cb;
	s->tmf_arg = arg;
	s->tmf_function = function;
	s->tmf_lun = lun;
	s->tmf_cmd = function == ISCSI_TMF_ABORT_TASK ? cmd : NULL;
	idm_bhs_init(pdu->bhs, ISCSI_OP_TMF_REQ, true);
	pdu->bhs[BHS_FLAGS] = (uint8_t)(ISCSI_FLAG_FINAL | (function & TMF_FUNCTION_MASK));
	idm_lun_encode(pdu->bhs + BHS_LUN, lun);
	put_be32(pdu->bhs + BHS_ITT, s->tmf_itt);
	put_be32(pdu->bhs + TMF_REFERENCED_TASK_TAG, s->tmf_cmd ? cmd->itt : IDM_RESERVED_TAG);
	put_be32(pdu->bhs + TMF_CMDSN, s->sn.cmd_sn);
	put_be32(pdu->bhs + TMF_REFCMDSN, s->tmf_cmd ? cmd->cmdsn : 0);
	idm_pdu_tx(s->c, pdu);
	return 0;
}

/* ---- connection loss ---- */

/* Complete aborted commands once the transport has dropped its queue
 * (their buffers may still be referenced by queued Data-Out until then). */
static void flush_aborted(struct idm_deferred *d)
{
	struct idm_ini *s = (struct idm_ini *)((char *)d - offsetof(struct idm_ini, abort_flush));

	while (s->aborted) {
		struct idm_ini_cmd *cmd = s->aborted;

		s->aborted = cmd->next;
		cmd->next = NULL;
		s->inflight--;
		cmd->done(cmd, -ECONNRESET);
	}
}

void ini_task_abort(struct idm_task *t)
{
	struct idm_ini_cmd *cmd = t->client_priv;
	struct idm_ini *s = t->conn->client_priv;

	if (cmd == NULL) {
		return;
	}
	t->client_priv = NULL;
	cmd->task = NULL;
	cmd->next = s->aborted;
	s->aborted = cmd;
	s->abort_flush.fn = flush_aborted;
	idm_reactor_defer(s->r, &s->abort_flush);
	idm_task_release(t);
}

void ini_fail_waiting(struct idm_ini *s, int err)
{
	while (s->wait_head) {
		struct idm_ini_cmd *cmd = s->wait_head;

		s->wait_head = cmd->next;
		cmd->next = NULL;
		s->inflight--;
		cmd->done(cmd, err);
	}
	s->wait_tail = NULL;
}
