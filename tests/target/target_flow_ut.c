/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the target's PDU handling over fakes of the layers around
 * it (target_fakes.c): login stages and status codes, session rules and
 * reinstatement, SCSI commands (CmdSN window, residuals), TMF, NOP, text
 * and logout. Built from the target's sources directly, without libidm.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "target_fakes.h"

#define IQN_T "iqn.2026-11.org.idm:disk"
#define IQN_I "iqn.2026-11.org.idm:ini"

static int fake_enable_datamover(struct idm_conn *c)
{
	fk.enable_datamover++;
	return 0;
}

static const struct idm_transport_ops fake_tp_ops = {.enable_datamover = fake_enable_datamover};
static const struct idm_transport_caps fake_caps = {.data_in_status = true};
static const struct idm_transport fake_tp = {"fake", &fake_tp_ops, &fake_caps, 0};

static const uint8_t isid1[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
static const uint8_t isid2[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x02};
static const uint8_t *login_isid = isid1; /* ISID login_make uses */

static struct idm_server srv;
static struct tgt_target target;
static struct scsi_lu lu0;
static struct idm_svc svc;

static void env_setup(void)
{
	static struct idm_target_conf_all conf; /* ~2 MiB: not on the stack */

	fake_reset();
	login_isid = isid1;
	idm_target_conf_init(&conf);
	memset(&srv, 0, sizeof(srv));
	memset(&target, 0, sizeof(target));
	memset(&lu0, 0, sizeof(lu0));
	srv.magic = TGT_SERVER_MAGIC;
	srv.tun = conf.tun;
	srv.tun.queue_depth = 8;
	srv.next_tsih = 1;
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.cond, NULL);
	snprintf(target.iqn, sizeof(target.iqn), IQN_T);
	lu0.block_size = 512;
	target.luns.lu[0] = &lu0;
	target.luns.count = 1;
	target.srv = &srv;
	target.luns.abort_nexus = tgt_abort_nexus;
	target.luns.abort_ctx = &target;
	srv.targets = &target;
	srv.ntargets = 1;
	srv.portals[0].srv = &srv;
	srv.portals[0].conf.tpgt = 1;
	srv.nportals = 1;
	memset(&svc, 0, sizeof(svc));
	svc.req.client_arg = &srv.portals[0];
}

static int setup(void **state)
{
	env_setup();
	return 0;
}

static int teardown(void **state)
{
	fake_tasks_free();
	pthread_mutex_destroy(&srv.lock);
	pthread_cond_destroy(&srv.cond);
	return 0;
}

static struct idm_conn *conn_new(void)
{
	return fake_conn_new(&svc, &fake_tp);
}

static void conn_gone(struct idm_conn *c)
{
	fake_conn_gone(c);
}

/* A request PDU with `text` (NUL separated, `len` bytes) as its data. */
static void pdu_make(struct idm_pdu *p, uint8_t op, uint8_t flags, uint32_t itt, uint32_t cmd_sn,
		     const char *text, uint32_t len)
{
	memset(p, 0, sizeof(*p));
	p->bhs[0] = op;
	p->bhs[1] = flags;
	put_be32(p->bhs + BHS_ITT, itt);
	put_be32(p->bhs + BHS_CMDSN, cmd_sn);
	put_be32(p->bhs + BHS_TTT, IDM_RESERVED_TAG);
	p->data = (uint8_t *)(uintptr_t)text;
	p->data_len = len;
	put_be24(p->bhs + BHS_DATA_SEG_LEN, len);
}

static void login_make(struct idm_pdu *p, uint8_t flags, uint16_t tsih, const char *text,
		       uint32_t len)
{
	pdu_make(p, ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE, flags, 0x10, 1, text, len);
	memcpy(p->bhs + LOGIN_ISID, login_isid, 6);
	put_be16(p->bhs + LOGIN_TSIH, tsih);
	put_be32(p->bhs + LOGIN_EXPSTATSN, 500);
}

static struct fake_sent *last_sent(void)
{
	assert_true(fk.nsent > 0);
	return &fk.sent[fk.nsent - 1];
}

static uint16_t login_status(const struct fake_sent *s)
{
	return (uint16_t)(s->bhs[LOGIN_STATUS_CLASS] << 8 | s->bhs[LOGIN_STATUS_DETAIL]);
}

static bool text_has(const struct fake_sent *s, const char *kv)
{
	for (uint32_t off = 0; off < s->data_len; off += (uint32_t)strlen((char *)s->data + off) + 1) {
		if (strcmp((char *)s->data + off, kv) == 0) {
			return true;
		}
	}
	return false;
}

#define OP_TO_FFP (LOGIN_FLAG_TRANSIT | (1 << LOGIN_CSG_SHIFT) | 3)
static const char normal_keys[] = "InitiatorName=" IQN_I "\0TargetName=" IQN_T
				  "\0SessionType=Normal";

/* Log `c` straight into the full feature phase; returns the TSIH. */
static uint16_t login_ok(struct idm_conn *c, uint16_t tsih)
{
	struct idm_pdu p;

	login_make(&p, OP_TO_FFP, tsih, normal_keys, sizeof(normal_keys));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	return get_be16(last_sent()->bhs + LOGIN_TSIH);
}

/* ---- accept ---- */

/* The transmit queue bounds of a new connection are the config's tunables. */
static void accepted_conn_gets_tx_limits(void **state)
{
	struct idm_conn *c;

	srv.tun.tx_queue_max_bytes = 123456;
	srv.tun.tx_queue_max_pdus = 77;
	srv.tun.tx_stall_timeout_s = 9;
	c = conn_new();
	assert_int_equal(c->txq.lim.max_bytes, 123456);
	assert_int_equal(c->txq.lim.max_pdus, 77);
	assert_int_equal(c->txq.lim.stall_timeout_s, 9);
	conn_gone(c);
}

/* ---- login ---- */

static void login_operational_to_ffp(void **state)
{
	struct idm_conn *c = conn_new();
	struct tgt_conn *tc = tgt_conn_of(c);
	struct fake_sent *s;
	uint16_t tsih = login_ok(c, 0);

	s = last_sent();
	assert_int_equal(s->bhs[0], ISCSI_OP_LOGIN_RSP);
	assert_int_equal(s->bhs[1], OP_TO_FFP);
	assert_int_not_equal(tsih, 0);
	assert_memory_equal(s->bhs + LOGIN_ISID, isid1, 6);
	assert_int_equal(get_be32(s->bhs + BHS_ITT), 0x10);
	assert_int_equal(get_be32(s->bhs + LOGIN_CMDSN), 500);       /* StatSN */
	assert_int_equal(get_be32(s->bhs + LOGIN_EXPSTATSN), 1);     /* ExpCmdSN */
	assert_int_equal(get_be32(s->bhs + LOGIN_MAXCMDSN), 1 + 8 - 1);
	assert_true(text_has(s, "TargetPortalGroupTag=1"));
	/* LOGGED_IN enables the data mover in the core, not here */
	assert_int_equal(fk.enable_datamover, 0);
	assert_int_equal(fake_events(IDM_CE_LOGIN_OK), 1);
	assert_int_equal(fk.login_timeout_s, srv.tun.login_timeout_s);
	assert_non_null(tc->sess);
	assert_null(tc->login);
	assert_ptr_equal(c->exp_cmd_sn, &tc->sess->win.exp_cmd_sn);
	assert_ptr_equal(srv.sessions, tc->sess);
	assert_int_equal(srv.nconns, 1);
	conn_gone(c);
	assert_null(srv.sessions);
	assert_int_equal(srv.nconns, 0);
}

/* login_timeout_s from the configuration is what the core's (only) login
 * timer runs for. */
static void login_timeout_is_the_configured_one(void **state)
{
	struct idm_conn *c;

	struct idm_pdu p;

	srv.tun.login_timeout_s = 40;
	c = conn_new();
	/* until the first Login PDU the short pre-login timeout runs */
	assert_int_equal(fk.login_timeout_s, srv.tun.prelogin_timeout_s);
	login_make(&p, LOGIN_FLAG_CONTINUE | (1 << LOGIN_CSG_SHIFT), 0, normal_keys, 20);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.login_timeout_s, 40);
	conn_gone(c);
	srv.tun.prelogin_timeout_s = 60; /* never longer than the login's own */
	c = conn_new();
	assert_int_equal(fk.login_timeout_s, 40);
	conn_gone(c);
}

static void login_security_then_operational(void **state)
{
	static const char sec[] = "InitiatorName=" IQN_I "\0TargetName=" IQN_T
				  "\0AuthMethod=CHAP,None";
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, LOGIN_FLAG_TRANSIT | (0 << LOGIN_CSG_SHIFT) | 1, 0, sec, sizeof(sec));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	assert_int_equal(last_sent()->bhs[1], LOGIN_FLAG_TRANSIT | 1);
	assert_true(text_has(last_sent(), "AuthMethod=None"));
	assert_int_equal(get_be16(last_sent()->bhs + LOGIN_TSIH), 0);
	/* a request back in the security stage is now an error */
	login_make(&p, LOGIN_FLAG_TRANSIT | 1, 0, NULL, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), ISCSI_LOGIN_INITIATOR_ERROR);
	assert_int_equal(fake_events(IDM_CE_LOGIN_FAIL), 1);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	assert_null(srv.sessions);
	conn_gone(c);
}

static void login_two_steps(void **state)
{
	static const char sec[] = "InitiatorName=" IQN_I "\0TargetName=" IQN_T
				  "\0AuthMethod=None";
	static const char op[] = "MaxRecvDataSegmentLength=65536";
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, LOGIN_FLAG_TRANSIT | 1, 0, sec, sizeof(sec));
	tgt_client_ops.rx_pdu(c, &p);
	/* stay in operational once (no T), then go */
	login_make(&p, 1 << LOGIN_CSG_SHIFT, 0, op, sizeof(op));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	assert_int_equal(last_sent()->bhs[1], 1 << LOGIN_CSG_SHIFT);
	login_make(&p, OP_TO_FFP, 0, NULL, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	assert_int_equal(last_sent()->bhs[1], OP_TO_FFP);
	assert_int_equal(tgt_conn_of(c)->sess->params.max_xmit_dsl, 65536);
	assert_int_equal(c->params.max_xmit_dsl, 65536);
	conn_gone(c);
}

static void login_refused(const char *keys, size_t len, uint16_t tsih, uint16_t want)
{
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, OP_TO_FFP, tsih, keys, (uint32_t)len);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), want);
	assert_int_equal(fake_events(IDM_CE_LOGIN_FAIL), 1);
	assert_int_equal(fake_events(IDM_CE_LOGIN_OK), 0);
	/* anything after the refusal is ignored */
	fk.nsent = 0;
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 0);
	conn_gone(c);
	fk.nevents = 0;
}

static void login_status_codes(void **state)
{
	static const char no_target[] = "InitiatorName=" IQN_I "\0TargetName=iqn.nope";
	static const char no_ini[] = "TargetName=" IQN_T;
	static const char no_tname[] = "InitiatorName=" IQN_I;
	static const char bad_type[] = "InitiatorName=" IQN_I "\0SessionType=Other";
	static const char chap_only[] = "InitiatorName=" IQN_I "\0TargetName=" IQN_T
					"\0AuthMethod=CHAP";

	login_refused(no_target, sizeof(no_target), 0, ISCSI_LOGIN_TARGET_NOT_FOUND);
	login_refused(no_ini, sizeof(no_ini), 0, ISCSI_LOGIN_MISSING_PARAMETER);
	login_refused(no_tname, sizeof(no_tname), 0, ISCSI_LOGIN_MISSING_PARAMETER);
	login_refused(bad_type, sizeof(bad_type), 0, ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED);
	login_refused(normal_keys, sizeof(normal_keys), 99, ISCSI_LOGIN_SESSION_DOES_NOT_EXIST);
	assert_null(srv.sessions);
	assert_int_equal(srv.nconns, 0);
	(void)chap_only;
}

/* A target offered over iSER only is not found at this address over TCP;
 * offered over both, the same login goes through. */
static void login_over_a_transport_not_offered(void **state)
{
	struct idm_conn *c;

	target.offered_on = IDM_OFFER_ISER;
	login_refused(normal_keys, sizeof(normal_keys), 0, ISCSI_LOGIN_TARGET_NOT_FOUND);
	assert_null(srv.sessions);
	target.offered_on = IDM_OFFER_ISER | IDM_OFFER_TCP;
	c = conn_new();
	login_ok(c, 0);
	conn_gone(c);
}

static void login_chap_only_fails(void **state)
{
	static const char chap_only[] = "InitiatorName=" IQN_I "\0TargetName=" IQN_T
					"\0AuthMethod=CHAP";
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, LOGIN_FLAG_TRANSIT | 1, 0, chap_only, sizeof(chap_only));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), ISCSI_LOGIN_AUTH_FAILED);
	conn_gone(c);
}

static void login_bad_version(void **state)
{
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, OP_TO_FFP, 0, normal_keys, sizeof(normal_keys));
	p.bhs[LOGIN_VERSION_MAX] = 3;
	p.bhs[LOGIN_VERSION_MIN] = 2;
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), ISCSI_LOGIN_UNSUPPORTED_VERSION);
	conn_gone(c);
}

static void login_discovery_without_target(void **state)
{
	static const char disc[] = "InitiatorName=" IQN_I "\0SessionType=Discovery";
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, OP_TO_FFP, 0, disc, sizeof(disc));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	assert_int_equal(tgt_conn_of(c)->sess->type, IDM_SESSION_DISCOVERY);
	assert_null(tgt_conn_of(c)->sess->target);
	conn_gone(c);
}

static void login_text_continues(void **state)
{
	struct idm_conn *c = conn_new();
	struct idm_pdu p;
	uint32_t cut = 20;

	login_make(&p, LOGIN_FLAG_CONTINUE | (1 << LOGIN_CSG_SHIFT), 0, normal_keys, cut);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(last_sent()->data_len, 0);
	assert_int_equal(last_sent()->bhs[1], 1 << LOGIN_CSG_SHIFT);
	login_make(&p, OP_TO_FFP, 0, normal_keys + cut, sizeof(normal_keys) - cut);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	assert_non_null(tgt_conn_of(c)->sess);
	conn_gone(c);
}

static void login_second_connection_and_reinstatement(void **state)
{
	struct idm_conn *a = conn_new();
	struct idm_conn *b, *d;
	uint16_t tsih_a = login_ok(a, 0), tsih_d;
	struct idm_pdu p;

	/* TSIH of a live session: MaxConnections=1 */
	b = conn_new();
	login_make(&p, OP_TO_FFP, tsih_a, normal_keys, sizeof(normal_keys));
	tgt_client_ops.rx_pdu(b, &p);
	assert_int_equal(login_status(last_sent()), ISCSI_LOGIN_TOO_MANY_CONNECTIONS);
	conn_gone(b);
	/* same ISID, TSIH 0: the old session is closed, a new one made */
	fk.nevents = 0;
	d = conn_new();
	tsih_d = login_ok(d, 0);
	assert_int_not_equal(tsih_d, tsih_a);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1); /* a's close */
	assert_ptr_equal(srv.sessions, tgt_conn_of(d)->sess);
	assert_null(srv.sessions->next);
	conn_gone(a); /* the old connection goes; the new session stays */
	assert_ptr_equal(srv.sessions, tgt_conn_of(d)->sess);
	conn_gone(d);
	assert_null(srv.sessions);
}

static void pdu_before_login_closes(void **state)
{
	struct idm_conn *c = conn_new();
	struct idm_pdu p;
	struct idm_task *t;
	int err;

	pdu_make(&p, ISCSI_OP_NOP_OUT, ISCSI_FLAG_FINAL, 1, 1, NULL, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	pdu_make(&p, ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL, 2, 1, NULL, 0);
	t = idm_task_alloc(c, 2, &err);
	assert_int_equal(tgt_client_ops.scsi_cmd_header(c, &p, t), -EPROTO);
	idm_task_release(t);
	conn_gone(c);
}

/* ---- SCSI commands ---- */

static struct idm_conn *logged_in(void)
{
	struct idm_conn *c = conn_new();

	login_ok(c, 0);
	fk.nsent = 0;
	fk.nevents = 0;
	return c;
}

/* Send a READ(10)/WRITE(10) of `blocks` at LBA 0; returns its task. */
static struct idm_task *scsi_rw(struct idm_conn *c, uint32_t itt, uint32_t cmd_sn, bool write,
				uint8_t flags, uint32_t edtl, uint16_t blocks)
{
	struct idm_pdu p;
	struct idm_task *t;
	int err = 0;

	pdu_make(&p, ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | flags, itt, cmd_sn, NULL, 0);
	put_be32(p.bhs + SCSI_CMD_EDTL, edtl);
	p.bhs[SCSI_CMD_CDB] = write ? 0x2a : 0x28;
	put_be16(p.bhs + SCSI_CMD_CDB + 7, blocks);
	t = idm_task_alloc(c, itt, &err);
	assert_non_null(t);
	assert_int_equal(tgt_client_ops.scsi_cmd_header(c, &p, t), 0);
	tgt_client_ops.scsi_cmd(c, &p, t);
	return t;
}

static unsigned live_tasks(void)
{
	unsigned n = 0;

	for (int i = 0; i < FAKE_MAX_TASKS; i++) {
		n += fk.tasks[i] != NULL;
	}
	return n;
}

static void scsi_read_and_window(void **state)
{
	struct idm_conn *c = logged_in();
	struct tgt_session *s = tgt_conn_of(c)->sess;

	/* in the window: data + status collapsed */
	scsi_rw(c, 1, 1, false, SCSI_CMD_FLAG_READ, 1024, 2);
	assert_int_equal(fk.nsent, 1);
	assert_true(fk.sent[0].is_task);
	assert_int_equal(fk.sent[0].tx_len, 1024);
	assert_int_equal(fk.sent[0].st.status, SCSI_STATUS_GOOD);
	assert_int_equal(fk.sent[0].st.flags, 0);
	assert_int_equal(s->win.exp_cmd_sn, 2);
	assert_int_equal(s->win.max_cmd_sn, 9); /* the slot came back */
	/* too low, too high: silently dropped, task freed */
	scsi_rw(c, 2, 1, false, SCSI_CMD_FLAG_READ, 512, 1);
	scsi_rw(c, 3, 10, false, SCSI_CMD_FLAG_READ, 512, 1);
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(live_tasks(), 0);
	assert_int_equal(s->win.exp_cmd_sn, 2);
	/* an immediate command is outside the ordering */
	scsi_rw(c, 4, 77, false, SCSI_CMD_FLAG_READ, 512, 1);
	/* (the immediate flag is on the opcode byte, not set above: dropped) */
	assert_int_equal(fk.nsent, 1);
	conn_gone(c);
}

static void scsi_read_residuals(void **state)
{
	struct idm_conn *c = logged_in();

	scsi_rw(c, 1, 1, false, SCSI_CMD_FLAG_READ, 200, 1);
	assert_int_equal(fk.sent[0].tx_len, 200);
	assert_int_equal(fk.sent[0].st.flags, SCSI_RSP_FLAG_OVERFLOW);
	assert_int_equal(fk.sent[0].st.residual, 312);
	scsi_rw(c, 2, 2, false, SCSI_CMD_FLAG_READ, 10000, 1);
	assert_int_equal(fk.sent[1].tx_len, 512);
	assert_int_equal(fk.sent[1].st.flags, SCSI_RSP_FLAG_UNDERFLOW);
	assert_int_equal(fk.sent[1].st.residual, 9488);
	scsi_rw(c, 3, 3, false, SCSI_CMD_FLAG_READ, 0, 1);
	assert_int_equal(fk.sent[2].tx_len, 0);
	assert_int_equal(fk.sent[2].st.flags, SCSI_RSP_FLAG_OVERFLOW);
	assert_int_equal(fk.sent[2].st.residual, 512);
	/* READ flagged as a write: the data is taken, then GOOD */
	scsi_rw(c, 4, 4, false, SCSI_CMD_FLAG_WRITE, 512, 1);
	assert_int_equal(fk.recv_len, 512);
	fk.recv_task->rx_done(fk.recv_task, 0);
	assert_int_equal(fk.sent[3].tx_len, 0);
	assert_int_equal(fk.sent[3].st.status, SCSI_STATUS_GOOD);
	assert_int_equal(live_tasks(), 0);
	conn_gone(c);
}

static void scsi_write_residuals(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_task *t;

	/* two blocks, EDTL one block: fetch 512, write one block */
	t = scsi_rw(c, 1, 1, true, SCSI_CMD_FLAG_WRITE, 512, 2);
	assert_int_equal(fk.recv_len, 512);
	assert_int_equal(t->unsol_limit, 512);
	assert_true(t->is_write);
	t->rx_done(t, 0);
	assert_int_equal(fk.written_blocks, 1);
	assert_int_equal(fk.sent[0].st.status, SCSI_STATUS_GOOD);
	assert_int_equal(fk.sent[0].st.flags, SCSI_RSP_FLAG_OVERFLOW);
	assert_int_equal(fk.sent[0].st.residual, 512);
	/* EDTL longer than the CDB: underflow */
	fk.written_blocks = 0;
	t = scsi_rw(c, 2, 2, true, SCSI_CMD_FLAG_WRITE, 10000, 1);
	assert_int_equal(fk.recv_len, 512);
	/* InitialR2T=Yes, ImmediateData=Yes: immediate data up to our
	 * MaxRecvDataSegmentLength may come, and must fit the buffer */
	assert_int_equal(t->unsol_limit, 8192);
	assert_true(t->data_cap >= t->unsol_limit);
	t->rx_done(t, 0);
	assert_int_equal(fk.written_blocks, 1);
	assert_int_equal(fk.sent[1].st.flags, SCSI_RSP_FLAG_UNDERFLOW);
	assert_int_equal(fk.sent[1].st.residual, 9488);
	/* EDTL 0: nothing written, overflow of one block */
	fk.written_blocks = 77;
	scsi_rw(c, 3, 3, true, SCSI_CMD_FLAG_WRITE, 0, 1);
	assert_int_equal(fk.written_blocks, 77);
	assert_int_equal(fk.sent[2].st.status, SCSI_STATUS_GOOD);
	assert_int_equal(fk.sent[2].st.flags, SCSI_RSP_FLAG_OVERFLOW);
	assert_int_equal(fk.sent[2].st.residual, 512);
	assert_int_equal(live_tasks(), 0);
	conn_gone(c);
}

static void scsi_bad_lun_and_discovery(void **state)
{
	static const char disc[] = "InitiatorName=" IQN_I "\0SessionType=Discovery";
	struct idm_conn *c = logged_in();
	struct idm_pdu p;
	struct idm_task *t;
	int err;

	pdu_make(&p, ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | SCSI_CMD_FLAG_READ, 1, 1, NULL, 0);
	p.bhs[BHS_LUN + 1] = 5;
	p.bhs[SCSI_CMD_CDB] = 0x28;
	put_be32(p.bhs + SCSI_CMD_EDTL, 512);
	t = idm_task_alloc(c, 1, &err);
	tgt_client_ops.scsi_cmd_header(c, &p, t);
	tgt_client_ops.scsi_cmd(c, &p, t);
	assert_int_equal(fk.sent[0].st.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(fk.sent[0].st.sense_len, 18);
	assert_int_equal(fk.sent[0].tx_len, 0);
	conn_gone(c);
	/* SCSI commands in a discovery session are rejected */
	c = conn_new();
	login_make(&p, OP_TO_FFP, 0, disc, sizeof(disc));
	tgt_client_ops.rx_pdu(c, &p);
	scsi_rw(c, 9, 1, false, SCSI_CMD_FLAG_READ, 512, 1);
	assert_int_equal(fk.nrejects, 1);
	assert_int_equal(fk.reject_reason, ISCSI_REJECT_PROTOCOL_ERROR);
	assert_int_equal(live_tasks(), 0);
	conn_gone(c);
}

/* ---- TMF ---- */

static void tmf_make(struct idm_pdu *p, uint8_t fn, uint32_t itt, uint32_t ref_itt,
		     uint32_t cmd_sn, uint32_t ref_cmd_sn)
{
	pdu_make(p, ISCSI_OP_TMF_REQ | ISCSI_FLAG_IMMEDIATE, ISCSI_FLAG_FINAL | fn, itt, cmd_sn,
		 NULL, 0);
	put_be32(p->bhs + TMF_REFERENCED_TASK_TAG, ref_itt);
	put_be32(p->bhs + TMF_REFCMDSN, ref_cmd_sn);
}

static void tmf_abort_task_waits_for_io(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_pdu p;

	fk.exec_async = true;
	scsi_rw(c, 1, 1, false, SCSI_CMD_FLAG_READ, 512, 1);
	assert_non_null(fk.exec_pending);
	tmf_make(&p, ISCSI_TMF_ABORT_TASK, 50, 1, 2, 1);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 0); /* held until the I/O settles */
	fake_exec_finish();
	assert_int_equal(fk.nsent, 1); /* the TMF response only */
	assert_int_equal(fk.sent[0].bhs[0], ISCSI_OP_TMF_RSP);
	assert_int_equal(fk.sent[0].bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(get_be32(fk.sent[0].bhs + BHS_ITT), 50);
	assert_int_equal(live_tasks(), 0);
	/* a task whose response is on its way: too late, does not exist */
	fk.exec_async = false;
	fk.hold_tx = true;
	scsi_rw(c, 2, 2, false, SCSI_CMD_FLAG_READ, 512, 1);
	tmf_make(&p, ISCSI_TMF_ABORT_TASK, 52, 2, 3, 2);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(last_sent()->bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_NO_TASK);
	fake_tx_finish();
	assert_int_equal(live_tasks(), 0);
	fk.nsent = 1;
	/* an unknown task whose CmdSN is behind us: does not exist */
	tmf_make(&p, ISCSI_TMF_ABORT_TASK, 51, 99, 2, 1);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[1].bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_NO_TASK);
	conn_gone(c);
}

/*
 * A WRITE whose immediate data the transport is still reading (it holds a
 * task reference) is aborted by a LOGICAL UNIT RESET, then the data comes
 * in: the buffer stays the task's until the transport lets go, the store
 * never sees the write, and the TMF response does not wait for the wire.
 */
static void lu_reset_during_immediate_data_keeps_the_buffer(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_pdu p;
	struct idm_task *t;
	int err = 0;

	pdu_make(&p, ISCSI_OP_SCSI_CMD, SCSI_CMD_FLAG_WRITE, 7, 1, NULL, 0);
	put_be32(p.bhs + SCSI_CMD_EDTL, 4096);
	p.bhs[SCSI_CMD_CDB] = 0x2a;
	put_be16(p.bhs + SCSI_CMD_CDB + 7, 8);
	t = idm_task_alloc(c, 7, &err);
	assert_non_null(t);
	assert_int_equal(tgt_client_ops.scsi_cmd_header(c, &p, t), 0);
	idm_task_hold(t); /* the transport, reading the immediate data */
	assert_non_null(t->data);
	assert_int_equal(fk.bufs_out, 1);
	tmf_make(&p, ISCSI_TMF_LOGICAL_UNIT_RESET, 60, IDM_RESERVED_TAG, 2, 1);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(fk.sent[0].bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(t->state, IDM_TASK_ABORTING);
	/* the late bytes land in a buffer that is still the task's */
	assert_non_null(t->data);
	assert_int_equal(fk.bufs_out, 1);
	memset(t->data, 0x41, 4096);
	idm_task_release(t); /* the transport is done: scsi_cmd is not called */
	assert_int_equal(fk.bufs_out, 0);
	assert_int_equal(live_tasks(), 0);
	assert_int_equal(fk.written_blocks, 0);
	conn_gone(c);
}

/* The same for solicited data: an ABORT TASK while a Data-Out is read. */
static void abort_task_during_data_out_keeps_the_buffer(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_task *t;
	struct idm_pdu p;

	t = scsi_rw(c, 3, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8);
	assert_ptr_equal(fk.recv_task, t); /* fetching the data */
	idm_task_hold(t);                  /* a Data-Out being read */
	tmf_make(&p, ISCSI_TMF_ABORT_TASK, 61, 3, 2, 1);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(last_sent()->bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(fk.bufs_out, 1);
	assert_non_null(t->data);
	idm_task_release(t);
	assert_int_equal(fk.bufs_out, 0);
	assert_int_equal(live_tasks(), 0);
	assert_int_equal(fk.written_blocks, 0);
	conn_gone(c);
}

/* Sessions A and B; B's WRITE (ITT 4) has its data in and is in the store. */
static void b_writing(struct idm_conn **a, struct idm_conn **b)
{
	struct idm_task *t;

	login_isid = isid1;
	*a = logged_in();
	login_isid = isid2;
	*b = logged_in();
	fk.exec_async = true;
	t = scsi_rw(*b, 4, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8);
	t->rx_done(t, 0);
	assert_non_null(fk.exec_pending);
}

/*
 * LOGICAL UNIT RESET from session A while session B's WRITE is in the
 * store: A's response waits until B's aborted I/O has settled (B's share
 * of the aborts runs on B's reactor and reports back).
 */
static void lu_reset_waits_for_another_sessions_io(void **state)
{
	struct idm_conn *a, *b;
	struct idm_pdu p;
	unsigned sent;

	b_writing(&a, &b);
	sent = fk.nsent;
	tmf_make(&p, ISCSI_TMF_LOGICAL_UNIT_RESET, 70, IDM_RESERVED_TAG, 2, 1);
	tgt_client_ops.rx_pdu(a, &p);
	assert_int_equal(fk.nsent, sent); /* held: B's write may still land */
	fake_exec_finish();
	assert_int_equal(fk.nsent, sent + 1); /* the TMF response, no SCSI one */
	assert_int_equal(last_sent()->bhs[0], ISCSI_OP_TMF_RSP);
	assert_int_equal(last_sent()->bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(live_tasks(), 0);
	conn_gone(a);
	conn_gone(b);
}

/*
 * PREEMPT AND ABORT by A while B's WRITE is in the store: the PERSISTENT
 * RESERVE OUT's status waits until B's aborted write has settled.
 */
static void preempt_abort_status_waits_for_the_preempted_io(void **state)
{
	struct idm_conn *a, *b;
	struct idm_task *pr;
	const char *port_b;
	unsigned sent;

	b_writing(&a, &b);
	port_b = tgt_conn_of(b)->sess->nexus.initiator_port;
	pr = scsi_rw(a, 5, 1, false, SCSI_CMD_FLAG_READ, 512, 1); /* stands for the PR OUT */
	target.luns.abort_nexus(target.luns.abort_ctx, &tgt_task_of(pr)->cmd, &lu0, port_b);
	sent = fk.nsent;
	fake_exec_finish_last(); /* the PR OUT is done... */
	assert_int_equal(fk.nsent, sent); /* ...but its status waits */
	fake_exec_finish(); /* B's aborted write settles */
	assert_int_equal(fk.nsent, sent + 1);
	assert_int_equal(last_sent()->itt, 5);
	assert_int_equal(live_tasks(), 0);
	conn_gone(a);
	conn_gone(b);
}

/* PREEMPT AND ABORT: the preempted I_T nexus's task goes without a
 * response; another nexus's is untouched. */
static void preempt_abort_reaches_only_the_preempted_nexus(void **state)
{
	struct idm_conn *a, *b;
	const char *port_a, *port_b;

	login_isid = isid1;
	a = logged_in();
	login_isid = isid2;
	b = logged_in();
	fk.exec_async = true;
	scsi_rw(a, 1, 1, false, SCSI_CMD_FLAG_READ, 512, 1); /* fills a's nexus */
	fake_exec_finish();
	port_a = tgt_conn_of(a)->sess->nexus.initiator_port;
	scsi_rw(b, 1, 1, false, SCSI_CMD_FLAG_READ, 512, 1);
	port_b = tgt_conn_of(b)->sess->nexus.initiator_port;
	assert_string_not_equal(port_a, port_b);
	fk.nsent = 0;
	/* a's registration preempted: b's read still answers */
	target.luns.abort_nexus(target.luns.abort_ctx, NULL, &lu0, port_a);
	fake_exec_finish();
	assert_int_equal(fk.nsent, 1);
	/* b's preempted: its read ends without a response */
	scsi_rw(b, 2, 2, false, SCSI_CMD_FLAG_READ, 512, 1);
	target.luns.abort_nexus(target.luns.abort_ctx, NULL, &lu0, port_b);
	fake_exec_finish();
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(live_tasks(), 0);
	conn_gone(a);
	conn_gone(b);
}

static void tmf_lu_reset_and_unsupported(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_pdu p;
	struct idm_task *t;

	t = scsi_rw(c, 1, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8); /* waits for data */
	assert_non_null(t);
	tmf_make(&p, ISCSI_TMF_LOGICAL_UNIT_RESET, 60, 0, 2, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[0].bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(fk.ua_raised, 1);
	assert_int_equal(lu0.ua_asc, SCSI_ASC_BUS_DEVICE_RESET);
	assert_int_equal(live_tasks(), 0);
	tmf_make(&p, ISCSI_TMF_TARGET_COLD_RESET, 61, 0, 2, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[1].bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_NOT_SUPPORTED);
	tmf_make(&p, ISCSI_TMF_ABORT_TASK_SET, 62, 0, 2, 0);
	p.bhs[BHS_LUN + 1] = 9;
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[2].bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_NO_LUN);
	conn_gone(c);
}

static void tmf_clear_task_set_reaches_other_sessions(void **state)
{
	struct idm_conn *a = logged_in();
	struct idm_conn *b;
	struct idm_pdu p;

	login_isid = isid2;
	b = logged_in();
	assert_ptr_not_equal(tgt_conn_of(a)->sess, tgt_conn_of(b)->sess);
	scsi_rw(b, 1, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8); /* b waits for data */
	scsi_rw(a, 1, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8); /* a too */
	assert_int_equal(live_tasks(), 2);
	/* ABORT TASK SET: only a's own tasks */
	tmf_make(&p, ISCSI_TMF_ABORT_TASK_SET, 70, 0, 2, 0);
	tgt_client_ops.rx_pdu(a, &p);
	assert_int_equal(last_sent()->bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(live_tasks(), 1);
	assert_non_null(idm_task_find_itt(b, 1));
	/* CLEAR TASK SET: everybody's on that LU */
	tmf_make(&p, ISCSI_TMF_CLEAR_TASK_SET, 71, 0, 2, 0);
	tgt_client_ops.rx_pdu(a, &p);
	assert_int_equal(last_sent()->bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(live_tasks(), 0);
	assert_int_equal(fk.ua_raised, 0);
	conn_gone(a);
	conn_gone(b);
}

/* ABORT TASK SET with an R2T outstanding answers once the initiator has
 * answered it (RFC 7143 4.2.3.3); one that never answers is dropped after
 * dataout_timeout_s. */
static void tmf_abort_task_set_waits_for_r2t_answers(void **state)
{
	struct idm_conn *c = logged_in();
	struct tgt_conn *tc = tgt_conn_of(c);
	struct idm_pdu p;
	struct idm_task *t;
	unsigned nsent;

	srv.tun.dataout_timeout_s = 30;
	t = scsi_rw(c, 1, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8);
	t->r2t_outstanding = 1; /* the transport asked for the data */
	nsent = fk.nsent;
	tmf_make(&p, ISCSI_TMF_ABORT_TASK_SET, 80, 0, 2, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, nsent); /* no response yet */
	assert_int_equal(live_tasks(), 2);
	/* the intake saw the F bit of the answer: the response goes */
	t->rx_done(t, -ECANCELED);
	assert_int_equal(fk.nsent, nsent + 1);
	assert_int_equal(last_sent()->bhs[TMF_RSP_RESPONSE], ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(live_tasks(), 0);
	/* again, and this time the initiator never answers */
	t = scsi_rw(c, 2, 3, true, SCSI_CMD_FLAG_WRITE, 4096, 8);
	t->r2t_outstanding = 1;
	tmf_make(&p, ISCSI_TMF_ABORT_TASK_SET, 81, 0, 4, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, nsent + 1);
	assert_true(tc->dataout_timer.armed);
	fk.now_ms += 31000;
	tc->dataout_timer.fn(&tc->dataout_timer);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	/* the core ends the aborted task's wait as the connection goes */
	t->rx_done(t, -ECONNRESET);
	assert_int_equal(live_tasks(), 0);
	conn_gone(c);
}

static void conn_loss_with_io_in_flight(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_task *t;
	struct scsi_cmd *pending;

	fk.exec_async = true;
	t = scsi_rw(c, 1, 1, false, SCSI_CMD_FLAG_READ, 512, 1);
	tgt_client_ops.task_abort(t);
	assert_int_equal(live_tasks(), 1); /* the store still has the buffer */
	pending = fk.exec_pending;
	fake_exec_finish();
	assert_int_equal(fk.nsent, 0);     /* no response for it */
	assert_int_equal(live_tasks(), 0);
	(void)pending;
	conn_gone(c);
}

/* ---- NOP, text, logout ---- */

static void nop_ping_echoes(void **state)
{
	static const char ping[] = "ping-data";
	struct idm_conn *c = logged_in();
	struct idm_pdu p;

	pdu_make(&p, ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE, ISCSI_FLAG_FINAL, 7, 1, ping,
		 sizeof(ping));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[0].bhs[0], ISCSI_OP_NOP_IN);
	assert_int_equal(get_be32(fk.sent[0].bhs + BHS_ITT), 7);
	assert_int_equal(get_be32(fk.sent[0].bhs + NOP_TTT), IDM_RESERVED_TAG);
	assert_int_equal(fk.sent[0].data_len, sizeof(ping));
	assert_memory_equal(fk.sent[0].data, ping, sizeof(ping));
	conn_gone(c);
}

static void nop_keepalive(void **state)
{
	struct idm_conn *c = logged_in();
	struct tgt_conn *tc = tgt_conn_of(c);
	struct idm_pdu p;

	tgt_client_ops.state_change(c, IDM_CONN_IN_LOGIN, IDM_CONN_LOGGED_IN);
	assert_true(tc->nop_timer.armed);
	fk.now_ms += 30000;
	tc->nop_timer.fn(&tc->nop_timer);
	assert_int_equal(fk.sent[0].bhs[0], ISCSI_OP_NOP_IN);
	assert_int_equal(get_be32(fk.sent[0].bhs + BHS_ITT), IDM_RESERVED_TAG);
	assert_int_not_equal(get_be32(fk.sent[0].bhs + NOP_TTT), IDM_RESERVED_TAG);
	/* answered: no close */
	pdu_make(&p, ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE, ISCSI_FLAG_FINAL, IDM_RESERVED_TAG,
		 1, NULL, 0);
	put_be32(p.bhs + NOP_TTT, get_be32(fk.sent[0].bhs + NOP_TTT));
	fk.now_ms += 1;
	tgt_client_ops.rx_pdu(c, &p);
	assert_false(tc->nop_outstanding);
	/* next ping unanswered: closed after the timeout */
	fk.now_ms += 30000;
	tc->nop_timer.fn(&tc->nop_timer);
	assert_true(tc->nop_outstanding);
	fk.now_ms += 15000;
	tc->nop_timer.fn(&tc->nop_timer);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	conn_gone(c);
}

/* A discovery session in the full feature phase. */
static struct idm_conn *discovery_logged_in(void)
{
	static const char disc[] = "InitiatorName=" IQN_I "\0SessionType=Discovery";
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, OP_TO_FFP, 0, disc, sizeof(disc));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(login_status(last_sent()), 0);
	return c;
}

static void text_sendtargets(void **state)
{
	static const char st[] = "SendTargets=All";
	struct idm_conn *c = discovery_logged_in();
	struct idm_pdu p;

	fk.nsent = 0;
	pdu_make(&p, ISCSI_OP_TEXT_REQ, ISCSI_FLAG_FINAL, 3, 1, st, sizeof(st));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(fk.sent[0].bhs[0], ISCSI_OP_TEXT_RSP);
	assert_int_equal(fk.sent[0].bhs[1], ISCSI_FLAG_FINAL);
	assert_true(text_has(&fk.sent[0], "TargetName=" IQN_T));
	assert_true(text_has(&fk.sent[0], "TargetAddress=127.0.0.1:3260,1"));
	assert_int_equal(tgt_conn_of(c)->sess->win.exp_cmd_sn, 2);
	conn_gone(c);
}

/* A Text Request of declarations only: an empty Text Response (found by
 * fuzz_tcp_rx: the empty answer was copied from a NULL buffer). */
static void text_declaration_only(void **state)
{
	static const char disc[] = "InitiatorName=" IQN_I "\0SessionType=Discovery";
	static const char decl[] = "MaxRecvDataSegmentLength=65536";
	struct idm_conn *c = conn_new();
	struct idm_pdu p;

	login_make(&p, OP_TO_FFP, 0, disc, sizeof(disc));
	tgt_client_ops.rx_pdu(c, &p);
	fk.nsent = 0;
	pdu_make(&p, ISCSI_OP_TEXT_REQ, ISCSI_FLAG_FINAL, 3, 1, decl, sizeof(decl));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(fk.sent[0].bhs[0], ISCSI_OP_TEXT_RSP);
	assert_int_equal(fk.sent[0].data_len, 0);
	conn_gone(c);
}

static void text_long_answer_continues(void **state)
{
	static const char st[] = "SendTargets=All";
	static struct tgt_target many[40];
	struct idm_conn *c = conn_new();
	struct idm_pdu p;
	static const char disc[] = "InitiatorName=" IQN_I "\0SessionType=Discovery";
	uint32_t total = 0;

	for (int i = 0; i < 40; i++) {
		snprintf(many[i].iqn, sizeof(many[i].iqn), "iqn.2026-11.org.idm:target-%02d", i);
	}
	srv.targets = many;
	srv.ntargets = 40;
	login_make(&p, OP_TO_FFP, 0, disc, sizeof(disc));
	tgt_client_ops.rx_pdu(c, &p);
	c->params.max_xmit_dsl = 512;
	fk.nsent = 0;
	pdu_make(&p, ISCSI_OP_TEXT_REQ, ISCSI_FLAG_FINAL, 3, 1, st, sizeof(st));
	tgt_client_ops.rx_pdu(c, &p);
	for (int i = 0; i < 20 && fk.sent[fk.nsent - 1].bhs[1] == TEXT_FLAG_CONTINUE; i++) {
		uint32_t ttt = get_be32(fk.sent[fk.nsent - 1].bhs + TEXT_TTT);

		assert_int_not_equal(ttt, IDM_RESERVED_TAG);
		assert_int_equal(fk.sent[fk.nsent - 1].data_len, 512);
		pdu_make(&p, ISCSI_OP_TEXT_REQ, ISCSI_FLAG_FINAL, 3, 2 + i, NULL, 0);
		put_be32(p.bhs + TEXT_TTT, ttt);
		tgt_client_ops.rx_pdu(c, &p);
	}
	assert_int_equal(last_sent()->bhs[1], ISCSI_FLAG_FINAL);
	for (unsigned i = 0; i < fk.nsent; i++) {
		total += fk.sent[i].data_len;
	}
	assert_true(total > 40 * 60);
	srv.targets = &target;
	srv.ntargets = 1;
	conn_gone(c);
}

/* ---- limits ---- */

static void conn_limit_closes_at_accept(void **state)
{
	struct idm_conn *a, *b;

	srv.tun.max_connections_per_address = 1;
	a = conn_new();
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 0);
	b = conn_new(); /* from the same address, 127.0.0.1 */
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	assert_int_equal(srv.nconns, 1);
	assert_non_null(strstr(fk.log, "max_connections_per_address"));
	conn_gone(b);
	assert_int_equal(srv.nconns, 1);
	conn_gone(a);
	assert_int_equal(srv.nconns, 0);
}

static void session_limit_refuses_out_of_resources(void **state)
{
	static const uint8_t other_isid[6] = {0x80, 0, 0, 9, 9, 9};
	struct idm_conn *a, *b, *c;
	struct idm_pdu p;

	srv.tun.max_sessions_per_target = 1;
	a = logged_in();
	b = conn_new();
	login_make(&p, OP_TO_FFP, 0, normal_keys, sizeof(normal_keys));
	memcpy(p.bhs + LOGIN_ISID, other_isid, 6);
	tgt_client_ops.rx_pdu(b, &p);
	assert_int_equal(login_status(last_sent()), ISCSI_LOGIN_OUT_OF_RESOURCES);
	assert_non_null(strstr(fk.log, "max_sessions_per_target"));
	/* reinstating the one session is no new session: admitted */
	c = conn_new();
	login_ok(c, 0);
	conn_gone(a);
	conn_gone(b);
	conn_gone(c);
	assert_null(srv.sessions);
	assert_int_equal(srv.nsessions, 0);
}

/* ---- timeouts ---- */

static void stalled_write_closes_after_dataout_timeout(void **state)
{
	struct idm_conn *c = logged_in();
	struct tgt_conn *tc = tgt_conn_of(c);
	struct idm_task *t;

	srv.tun.dataout_timeout_s = 30;
	t = scsi_rw(c, 3, 1, true, SCSI_CMD_FLAG_WRITE, 4096, 8);
	assert_ptr_equal(fk.recv_task, t);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 0);
	assert_true(tc->dataout_timer.armed);
	fk.now_ms += 20000; /* quiet, but not for long enough */
	tc->dataout_timer.fn(&tc->dataout_timer);
	assert_true(tc->dataout_timer.armed);
	t->received = 1024; /* data moves: the clock starts again */
	fk.now_ms += 20000;
	tc->dataout_timer.fn(&tc->dataout_timer);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 0);
	fk.now_ms += 30000;
	tc->dataout_timer.fn(&tc->dataout_timer);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	assert_non_null(strstr(fk.log, "no Data-Out for 30 s (1024 of 4096 bytes)"));
	/* the core aborts its tasks as the connection goes: the buffer is freed */
	tgt_client_ops.task_abort(t);
	assert_int_equal(fk.bufs_out, 0);
	conn_gone(c);
	assert_int_equal(live_tasks(), 0);
}

static void stalled_text_closes_after_text_timeout(void **state)
{
	static const char st[] = "SendTargets=All";
	struct idm_conn *c = discovery_logged_in();
	struct idm_timer *timer;
	struct idm_pdu p;

	fk.nevents = 0;
	/* the first half of a request, then nothing */
	pdu_make(&p, ISCSI_OP_TEXT_REQ, TEXT_FLAG_CONTINUE, 3, 1, st, 5);
	fk.last_armed = NULL;
	tgt_client_ops.rx_pdu(c, &p);
	timer = fk.last_armed;
	assert_non_null(timer);
	assert_true(timer->armed);
	assert_int_equal(timer->deadline_ms, fk.now_ms + srv.tun.text_timeout_s * 1000ull);
	fk.now_ms += srv.tun.text_timeout_s * 1000ull;
	timer->fn(timer);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	conn_gone(c);
}

static void finished_text_disarms_its_timer(void **state)
{
	static const char st[] = "SendTargets=All";
	struct idm_conn *c = discovery_logged_in();
	struct idm_pdu p;

	pdu_make(&p, ISCSI_OP_TEXT_REQ, TEXT_FLAG_CONTINUE, 3, 1, st, 5);
	fk.last_armed = NULL;
	tgt_client_ops.rx_pdu(c, &p);
	assert_non_null(fk.last_armed);
	pdu_make(&p, ISCSI_OP_TEXT_REQ, ISCSI_FLAG_FINAL, 3, 2, st + 5, sizeof(st) - 5);
	put_be32(p.bhs + TEXT_TTT, get_be32(last_sent()->bhs + TEXT_TTT));
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(last_sent()->bhs[1], ISCSI_FLAG_FINAL);
	assert_false(fk.last_armed->armed);
	conn_gone(c);
}

static void logout_closes(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_pdu p;

	pdu_make(&p, ISCSI_OP_LOGOUT_REQ | ISCSI_FLAG_IMMEDIATE,
		 ISCSI_FLAG_FINAL | ISCSI_LOGOUT_REMOVE_FOR_RECOVERY, 8, 1, NULL, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[0].bhs[LOGOUT_RSP_RESPONSE],
			 ISCSI_LOGOUT_RSP_RECOVERY_UNSUPPORTED);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 0);
	pdu_make(&p, ISCSI_OP_LOGOUT_REQ | ISCSI_FLAG_IMMEDIATE,
		 ISCSI_FLAG_FINAL | ISCSI_LOGOUT_CLOSE_SESSION, 9, 1, NULL, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.sent[1].bhs[0], ISCSI_OP_LOGOUT_RSP);
	assert_int_equal(fk.sent[1].bhs[LOGOUT_RSP_RESPONSE], ISCSI_LOGOUT_RSP_OK);
	assert_int_equal(get_be32(fk.sent[1].bhs + BHS_ITT), 9);
	assert_int_equal(fake_events(IDM_CE_LOGOUT_DONE), 1);
	assert_int_equal(fake_events(IDM_CE_DISCONNECT), 1);
	conn_gone(c);
}

static void snack_is_rejected(void **state)
{
	struct idm_conn *c = logged_in();
	struct idm_pdu p;

	pdu_make(&p, ISCSI_OP_SNACK_REQ, ISCSI_FLAG_FINAL, 1, 1, NULL, 0);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nrejects, 1);
	assert_int_equal(fk.reject_reason, ISCSI_REJECT_CMD_NOT_SUPPORTED);
	conn_gone(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(accepted_conn_gets_tx_limits),
	    T(login_operational_to_ffp),
	    T(login_timeout_is_the_configured_one),
	    T(login_security_then_operational),
	    T(login_two_steps),
	    T(login_status_codes),
	    T(login_chap_only_fails),
	    T(login_bad_version),
	    T(login_discovery_without_target),
	    T(login_text_continues),
	    T(login_second_connection_and_reinstatement),
	    T(pdu_before_login_closes),
	    T(conn_limit_closes_at_accept),
	    T(session_limit_refuses_out_of_resources),
	    T(stalled_write_closes_after_dataout_timeout),
	    T(tmf_abort_task_set_waits_for_r2t_answers),
	    T(stalled_text_closes_after_text_timeout),
	    T(finished_text_disarms_its_timer),
	    T(scsi_read_and_window),
	    T(scsi_read_residuals),
	    T(scsi_write_residuals),
	    T(scsi_bad_lun_and_discovery),
	    T(tmf_abort_task_waits_for_io),
	    T(lu_reset_during_immediate_data_keeps_the_buffer),
	    T(abort_task_during_data_out_keeps_the_buffer),
	    T(lu_reset_waits_for_another_sessions_io),
	    T(preempt_abort_status_waits_for_the_preempted_io),
	    T(preempt_abort_reaches_only_the_preempted_nexus),
	    T(login_over_a_transport_not_offered),
	    T(tmf_lu_reset_and_unsupported),
	    T(tmf_clear_task_set_reaches_other_sessions),
	    T(conn_loss_with_io_in_flight),
	    T(nop_ping_echoes),
	    T(nop_keepalive),
	    T(text_sendtargets),
	    T(text_declaration_only),
	    T(text_long_answer_continues),
	    T(logout_closes),
	    T(snack_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
