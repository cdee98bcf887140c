/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SCSI command path: SCSI Command PDU -> CmdSN window -> scsi_cmd_setup
 * -> buffer -> (write: fetch the data) -> scsi_cmd_exec -> Data-In and/or
 * status -> task released. No malloc here: the task's client area holds
 * everything, buffers come from the reactor's cache or are the store's
 * own memory (zero copy).
 */
#include <errno.h>
#include <string.h>

#include "target/target_int.h"

/* AHS type of an extended CDB (RFC 7143 section 11.2.2.3). */
#define AHS_TYPE_EXTENDED_CDB 1
#define BHS_CDB_LEN 16

/* ---- header phase ---- */

/* CDB = 16 bytes of the BHS + an extended CDB AHS; 0 or -EINVAL. */
static int cdb_gather(struct tgt_task *tt, const struct idm_pdu *pdu)
{
	uint32_t len = BHS_CDB_LEN;
	uint32_t off = 0;

	memcpy(tt->cdb, pdu->bhs + SCSI_CMD_CDB, BHS_CDB_LEN);
	while (pdu->ahs && off + 4 <= pdu->ahs_len) {
		uint32_t ahs_len = get_be16(pdu->ahs + off);
		uint8_t type = pdu->ahs[off + 2];

		if (off + 3 + ahs_len > pdu->ahs_len) {
			return -EINVAL;
		}
		if (type == AHS_TYPE_EXTENDED_CDB) {
			/* AHSLength counts a reserved byte before the CDB. */
			if (ahs_len < 1 || len + ahs_len - 1 > SCSI_CDB_MAX) {
				return -EINVAL;
			}
			memcpy(tt->cdb + len, pdu->ahs + off + 4, ahs_len - 1);
			len += ahs_len - 1;
		}
		off += (3 + ahs_len + 3) & ~3u;
	}
	tt->cmd.cdb_len = len;
	return 0;
}

/* Bytes the initiator may send without an R2T (RFC 7143 section 4.2.5). */
static uint32_t session_unsol_limit(const struct idm_params *p)
{
	if (!p->initial_r2t) {
		return p->first_burst_length;
	}
	if (p->immediate_data) {
		return p->first_burst_length < p->max_recv_dsl ? p->first_burst_length
							       : p->max_recv_dsl;
	}
	return 0;
}

static void task_reset(struct tgt_task *tt, struct idm_task *t, const struct idm_pdu *pdu)
{
	memset(tt, 0, offsetof(struct tgt_task, bhs));
	tt->t = t;
	t->client_priv = tt;
	memcpy(tt->bhs, pdu->bhs, IDM_BHS_LEN);
}

/* The session's I_T nexus names, made once (the session belongs to
 * this reactor, so no lock): SPC-4 reservations are kept by them. */
static const struct scsi_nexus *session_nexus(struct tgt_session *s, struct tgt_conn *tc)
{
	if (!s->nexus.initiator_port[0]) {
		scsi_nexus_init(&s->nexus, s->initiator_name, s->isid, s->target->iqn,
				tc->portal->conf.tpgt, s->tsih);
	}
	return &s->nexus;
}

static void cmd_fill(struct tgt_task *tt, struct idm_conn *c, struct tgt_session *s,
		     const struct idm_pdu *pdu)
{
	struct scsi_cmd *cmd = &tt->cmd;
	uint8_t flags = pdu->bhs[BHS_FLAGS];
	uint32_t edtl = get_be32(pdu->bhs + SCSI_CMD_EDTL);

	cmd->luns = &s->target->luns;
	cmd->map = &s->map;
	cmd->lun = idm_lun_decode(pdu->bhs + BHS_LUN);
	cmd->cdb = tt->cdb;
	cmd->edtl = edtl;
	cmd->ua_seen = s->ua_seen;
	cmd->nexus = session_nexus(s, tgt_conn_of(c));
	cmd->reactor = c->reactor;
	cmd->priv = tt;
	tt->read_edtl = (flags & SCSI_CMD_FLAG_READ) ? edtl : 0;
	tt->write_edtl = (flags & SCSI_CMD_FLAG_WRITE) ? edtl : 0;
}

static void setup_fail(struct tgt_task *tt, uint8_t status)
{
	tt->setup_failed = true;
	tt->cmd.status = status;
}

/* Provide the buffer the plan asks for; false when there is none. */
static bool buffer_give(struct tgt_task *tt, struct idm_conn *c, const struct tgt_xfer *x)
{
	struct scsi_cmd *cmd = &tt->cmd;
	uint8_t *direct = x->direct_ok ? scsi_cmd_direct_buffer(cmd) : NULL;

	if (direct) {
		cmd->data = direct;
		cmd->data_cap = cmd->xfer_len;
	} else if (x->buf_len) {
		tt->buf = idm_buf_get(c->reactor, x->buf_len, &tt->buf_cap);
		if (!tt->buf) {
			return false;
		}
		cmd->data = tt->buf;
		cmd->data_cap = (uint32_t)tt->buf_cap;
	}
	tt->t->data = cmd->data;
	tt->t->data_cap = cmd->data_cap;
	return true;
}

/* After a successful scsi_cmd_setup: plan the transfer, get a buffer. */
static void xfer_prepare(struct tgt_task *tt, struct idm_conn *c, struct tgt_session *s)
{
	struct scsi_cmd *cmd = &tt->cmd;
	struct idm_task *t = tt->t;
	uint8_t flags = tt->bhs[BHS_FLAGS];
	struct tgt_xfer_in in = {
		.edtl = cmd->edtl,
		.r = flags & SCSI_CMD_FLAG_READ,
		.w = flags & SCSI_CMD_FLAG_WRITE,
		.dir = cmd->dir,
		.xfer_len = cmd->xfer_len,
		.block_size = cmd->lu ? cmd->lu->block_size : 0,
		.nblocks = cmd->nblocks,
		.unsol_limit = session_unsol_limit(&s->params),
	};
	struct tgt_xfer x;

	tgt_xfer_plan(&in, &x);
	tt->cdb_xfer = cmd->xfer_len;
	tt->rx_len = x.rx_len;
	tt->exec_nblocks = x.nblocks;
	tt->discard = x.discard;
	tt->skip_exec = x.skip_exec;
	if (!buffer_give(tt, c, &x)) {
		setup_fail(tt, SCSI_STATUS_BUSY);
		return;
	}
	t->edtl = cmd->edtl;
	t->is_write = in.w;
	t->is_read = in.r && cmd->dir == SCSI_DIR_READ;
	t->unsol_limit = x.unsol_limit;
	t->xfer_len = t->is_write ? x.rx_len
				  : (tt->read_edtl < cmd->xfer_len ? tt->read_edtl : cmd->xfer_len);
}

int tgt_scsi_cmd_header(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	struct tgt_conn *tc = tgt_conn_of(c);
	struct tgt_task *tt = tgt_task_of(t);
	struct tgt_session *s;

	if (!tc || !tc->sess) {
		return -EPROTO; /* a command before login: drop the connection */
	}
	s = tc->sess;
	task_reset(tt, t, pdu);
	tt->start_us = tgt_now_us();
	/* TMFs find it by its LU, whatever number its session uses. */
	tt->lu_index = (uint16_t)scsi_lun_map_lu(&s->map, idm_lun_decode(pdu->bhs + BHS_LUN));
	tc->last_rx_ms = idm_now_ms();
	if (s->type == IDM_SESSION_DISCOVERY || tc->logged_out) {
		tt->reject_reason = ISCSI_REJECT_PROTOCOL_ERROR;
		return 0;
	}
	if (tgt_window_accept(&s->win, get_be32(pdu->bhs + SCSI_CMD_CMDSN),
			      idm_pdu_immediate(pdu)) < 0) {
		tt->dropped = true; /* silently, data and all */
		return 0;
	}
	tt->counted = !idm_pdu_immediate(pdu);
	c->stats.scsi_cmds++;
	if (cdb_gather(tt, pdu) < 0) {
		tt->reject_reason = ISCSI_REJECT_INVALID_PDU_FIELD;
		return 0;
	}
	cmd_fill(tt, c, s, pdu);
	if (scsi_cmd_setup(&tt->cmd) != 0) {
		tt->setup_failed = true;
		return 0;
	}
	xfer_prepare(tt, c, s);
	return 0;
}

/* ---- completion ---- */

/* The command's CmdSN slot reopens: MaxCmdSN moves on by one. Done
 * before its response goes out, so the response announces it. */
static void task_credit(struct tgt_task *tt)
{
	struct tgt_conn *tc = tgt_conn_of(tt->t->conn);

	if (tt->counted && tc && tc->sess) {
		tgt_window_credit(&tc->sess->win);
	}
	tt->counted = false;
}

/*
 * The target is done with the task: its MaxCmdSN credit and its reference
 * go. The buffer stays until the last reference does (tgt_task_free): a
 * transport may still be reading an aborted task's bytes into it.
 */
void tgt_task_finish(struct tgt_task *tt)
{
	if (tt->phase == TGT_PH_DONE) {
		return;
	}
	tt->phase = TGT_PH_DONE;
	task_credit(tt);
	idm_task_release(tt->t);
}

void tgt_task_free(struct idm_task *t)
{
	struct tgt_task *tt = tgt_task_of(t);

	if (tt->buf) {
		idm_buf_put(t->conn->reactor, tt->buf, tt->buf_cap);
		tt->buf = NULL;
	}
	t->data = NULL;
	t->data_cap = 0;
}

static void task_tx_done(struct idm_task *t, int status)
{
	tgt_task_finish(tgt_task_of(t));
}

/* Residual of what the command moved against the initiator's EDTL. */
static void status_residual(struct tgt_task *tt)
{
	struct scsi_cmd *cmd = &tt->cmd;
	uint32_t moved = 0, expected = cmd->edtl;

	if (tt->setup_failed || tt->discard) {
		moved = 0;
	} else if (cmd->dir == SCSI_DIR_READ) {
		expected = tt->read_edtl;
		moved = cmd->data_len;
	} else if (cmd->dir == SCSI_DIR_WRITE) {
		expected = tt->write_edtl;
		moved = tt->cdb_xfer;
	}
	tgt_residual(expected, moved, &tt->st.flags, &tt->st.residual);
}

static void task_respond(struct tgt_task *tt)
{
	struct scsi_cmd *cmd = &tt->cmd;
	struct idm_task *t = tt->t;
	uint32_t tx = 0;
	int rc;

	tt->st.response = ISCSI_RESPONSE_COMPLETED;
	tt->st.status = cmd->status;
	tt->st.sense = cmd->sense_len ? cmd->sense : NULL;
	tt->st.sense_len = cmd->sense_len;
	status_residual(tt);
	if (!tt->setup_failed && !tt->discard && cmd->dir == SCSI_DIR_READ &&
	    cmd->status == SCSI_STATUS_GOOD) {
		tx = cmd->data_len < tt->read_edtl ? cmd->data_len : tt->read_edtl;
	}
	tgt_iostat_account(tt, cmd->dir == SCSI_DIR_WRITE ? tt->rx_len : tx);
	tt->phase = TGT_PH_TX;
	t->tx_done = task_tx_done;
	task_credit(tt);
	rc = tx ? idm_task_send_data(t, 0, tx, &tt->st) : idm_task_send_status(t, &tt->st);
	if (rc < 0) {
		tgt_task_finish(tt);
	}
}

/* Aborted while the store had it: now it can go, silently. */
static void task_settle_aborted(struct tgt_task *tt)
{
	struct tgt_abort_wait *w = tt->waiter;

	tt->waiter = NULL;
	tgt_task_finish(tt);
	if (w && --w->pending == 0) {
		w->settled(w);
	}
}

static void scsi_done(struct scsi_cmd *cmd)
{
	struct tgt_task *tt = cmd->priv;

	if (tt->wait.pending > 0) {
		/* PREEMPT AND ABORT: the status waits until the tasks it
		 * aborted elsewhere can no longer touch the medium */
		tt->done_held = true;
		return;
	}
	if (tt->aborted) {
		task_settle_aborted(tt);
		return;
	}
	task_respond(tt);
}

void tgt_cmd_wait_settled(struct tgt_abort_wait *w)
{
	struct tgt_task *tt = (struct tgt_task *)((char *)w - offsetof(struct tgt_task, wait));

	if (tt->done_held) {
		tt->done_held = false;
		scsi_done(&tt->cmd);
	}
}

static void task_exec(struct tgt_task *tt)
{
	struct scsi_cmd *cmd = &tt->cmd;

	if (tt->skip_exec) {
		/* EDTL covered no whole block: nothing is written. */
		cmd->status = SCSI_STATUS_GOOD;
		task_respond(tt);
		return;
	}
	if (cmd->dir == SCSI_DIR_WRITE && tt->exec_nblocks != cmd->nblocks) {
		cmd->nblocks = tt->exec_nblocks;
		cmd->xfer_len = tt->exec_nblocks * cmd->lu->block_size;
	} else if (cmd->dir == SCSI_DIR_WRITE && tt->rx_len < cmd->xfer_len) {
		/* A parameter list cut short by EDTL reads as zeros. */
		memset(cmd->data + tt->rx_len, 0, cmd->xfer_len - tt->rx_len);
	}
	tt->phase = TGT_PH_EXEC;
	cmd->done = scsi_done;
	scsi_cmd_exec(cmd);
}

static void task_rx_done(struct idm_task *t, int status)
{
	struct tgt_task *tt = tgt_task_of(t);

	if (tt->aborted || tt->phase == TGT_PH_DONE) {
		tgt_task_finish(tt);
		return;
	}
	if (status < 0) {
		tgt_task_finish(tt); /* the connection is going */
		return;
	}
	if (tt->discard) {
		/* The data was taken only to be dropped; a read CDB runs. */
		if (tt->cmd.dir == SCSI_DIR_READ) {
			task_exec(tt);
		} else {
			task_respond(tt);
		}
		return;
	}
	task_exec(tt);
}

void tgt_scsi_cmd(struct idm_conn *c, struct idm_pdu *pdu, struct idm_task *t)
{
	struct tgt_task *tt = tgt_task_of(t);

	if (tt->reject_reason) {
		task_credit(tt);
		idm_pdu_reject(c, tt->bhs, tt->reject_reason);
		tgt_task_finish(tt);
		return;
	}
	if (tt->dropped) {
		tgt_task_finish(tt);
		return;
	}
	if (tt->setup_failed) {
		task_respond(tt);
		return;
	}
	if (tt->rx_len) {
		tt->phase = TGT_PH_RX;
		t->rx_done = task_rx_done;
		if (tgt_conn_of(c)) {
			tgt_dataout_watch(tgt_conn_of(c), tt); /* dataout_timeout_s */
		}
		if (idm_task_recv_data(t, tt->rx_len) < 0) {
			tgt_task_finish(tt);
		}
		return;
	}
	task_exec(tt);
}

/* ---- aborts ---- */

/* The initiator answered the last R2T of an aborted write (the core drops
 * the data but counts the F bits): the multi-task abort may answer now. */
static void task_r2ts_answered(struct idm_task *t, int status)
{
	(void)status;
	task_settle_aborted(tgt_task_of(t));
}

/* Wait for the answers to a write's outstanding R2Ts? RFC 7143 4.2.3.3:
 * under the standard multi-task abort semantics the response to ABORT TASK
 * SET, CLEAR TASK SET or a reset waits until every valid target transfer
 * tag of the affected tasks has been answered. */
static bool abort_waits_for_r2ts(struct tgt_task *tt, struct tgt_abort_wait *w)
{
	if (tt->phase != TGT_PH_RX || tt->t->r2t_outstanding == 0) {
		return false;
	}
	tt->waiter = w;
	w->pending++;
	tt->t->rx_done = task_r2ts_answered;
	if (tgt_conn_of(tt->t->conn)) {
		/* an initiator that never answers is dropped: dataout.c */
		tgt_dataout_watch(tgt_conn_of(tt->t->conn), tt);
	}
	return true;
}

void tgt_task_abort_for(struct tgt_task *tt, struct tgt_abort_wait *w, bool answer_r2ts)
{
	if (tt->aborted || tt->phase == TGT_PH_DONE) {
		return;
	}
	tt->aborted = true;
	tt->t->state = IDM_TASK_ABORTING;
	switch (tt->phase) {
	case TGT_PH_EXEC:
		/* The store still writes into the buffer: wait for it. A
		 * long command (EXTENDED COPY) stops at its next step. */
		scsi_cmd_abort(&tt->cmd);
		if (w) {
			tt->waiter = w;
			w->pending++;
		}
		break;
	case TGT_PH_TX:
		/* Already answered; tx_done releases it. */
		break;
	default:
		if (!(w && answer_r2ts && abort_waits_for_r2ts(tt, w))) {
			tgt_task_finish(tt);
		}
		break;
	}
}

/* The core tears the connection down: no response will go out. */
void tgt_task_abort(struct idm_task *t)
{
	struct tgt_task *tt = tgt_task_of(t);

	if (tt->is_tmf) {
		/* A TMF waiting for aborted I/O answers nobody now; the last
		 * settled task releases it. */
		tt->aborted = true;
		if (tt->wait.pending == 0) {
			tgt_task_finish(tt);
		}
		return;
	}
	tgt_task_abort_for(tt, NULL, false);
}
